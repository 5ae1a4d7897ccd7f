"""Efficiency metrics of one request (book section 5.1.4): time to first token (TTFT), inter-token
latency (ITL) and tokens per second, from the time each token was produced.

``TokenClock`` is passed to ``generate(..., on_token=clock)``: it notes the time every decoding step
hands over its tokens. ``request_metrics`` turns the start time and those times into the metrics.
"""

from __future__ import annotations

import math
import time

import torch

from lmnotes import checks


class TokenClock:
    """Notes ``time.perf_counter()`` when each step's tokens arrive; ``start`` is when the request
    began (set on creation and by ``restart()``)."""

    def __init__(self):
        self.restart()

    def restart(self) -> None:
        self.start, self.times = time.perf_counter(), []

    def __call__(self, tokens: torch.Tensor) -> None:
        self.times.append(time.perf_counter())

    def metrics(self) -> dict[str, float]:
        return request_metrics(self.start, self.times)


def _quantile(values: list[float], q: float) -> float:
    return float(torch.tensor(values, dtype=torch.float64).quantile(q)) if values else math.nan


def request_metrics(start: float, times) -> dict[str, float]:
    """``ttft``: first token time - ``start``; ``itl_p50`` / ``itl_p95``: the median and 95th percentile
    of the gaps between consecutive tokens (NaN with one token); ``tokens_per_s``: tokens / (last - start).
    Times in seconds, as ``time.perf_counter()`` gives them, non-decreasing and not before ``start``."""
    start = checks.real("start", start)
    times = [checks.real("times", t) for t in times] if not isinstance(times, (str, bytes)) else None
    if not times:
        raise ValueError(f"times must be a non-empty list of token times, got {times!r}")
    if times[0] < start or any(b < a for a, b in zip(times, times[1:])):
        raise ValueError("times must be non-decreasing and not before start")
    gaps = [b - a for a, b in zip(times, times[1:])]
    total = times[-1] - start
    return dict(ttft=times[0] - start, itl_p50=_quantile(gaps, 0.5), itl_p95=_quantile(gaps, 0.95),
                tokens_per_s=len(times) / total if total > 0 else math.inf)

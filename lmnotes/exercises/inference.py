"""Exercises of the prefill-and-decode notebook (chapter 5, book section 5.1)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_number, register
from lmnotes.inference.roofline import DEVICES, step_cost
from lmnotes.models import GPTConfig


def _decode_ceiling() -> float:
    """Tokens/s of LLaMA-2 7B decoding one sequence on an H100 at the bandwidth bound (context 512)."""
    cost = step_cost(GPTConfig.preset("llama2-7b"), 1, past=512)
    return DEVICES["H100 SXM"][1] / cost.bytes


def _diagnose_decode_ceiling(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number of tokens per second, got {answer!r}"
    want = _decode_ceiling()
    if abs(value - want) <= 0.05 * want:
        return None
    peak, bandwidth = DEVICES["H100 SXM"]
    compute = peak / step_cost(GPTConfig.preset("llama2-7b"), 1, past=512).flops
    if abs(value - compute) <= 0.05 * compute:
        return "that is the compute bound (FLOPs / peak FLOP/s); at batch 1 the step is far below the ridge point: use bytes / bandwidth"
    if abs(value - want / 2) <= 0.05 * want / 2:
        return "that counts 4 bytes per weight; the question asks for bf16, 2 bytes per number"
    return f"{value:,.0f} is not it: one step reads every weight once (and the cache): bytes / bandwidth seconds per token"


register(Exercise(
    name="llama2-7b-decode-ceiling",
    prompt=("At batch size 1, what is the most tokens per second an H100 SXM (3.35 TB/s) can decode for LLaMA-2 7B "
            "in bf16 at a context of 512 tokens? Use the notebook's step_cost for the bytes one step moves."),
    diagnose=_diagnose_decode_ceiling,
    solution=("step_cost(GPTConfig.preset('llama2-7b'), 1, past=512) moves 13.48 GB (6.6 B weights x 2 bytes, plus "
              "0.27 GB of cache): 3.35e12 / 13.48e9 = about 248 tokens/s, whatever the GPU's FLOP/s. The step's "
              "14 GFLOPs would take 14 microseconds at 989 TFLOP/s; the memory traffic takes 4 ms."),
))

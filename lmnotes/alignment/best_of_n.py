"""Best-of-N sampling: inference-time alignment with a reward model (book section 4.4.5).

Draw N responses from the policy, keep the one a (proxy) reward model scores highest. No weight
changes, yet the output distribution moves away from the policy's: for a reward with no ties its
KL divergence from the policy is exactly log N - (N - 1) / N (Stiennon et al. 2020, appendix;
Beirami et al. 2024 prove it is an upper bound in general, reached only when no single response
carries noticeable probability). This formula is not in the book.

Responses are drawn with :func:`lmnotes.generation.generate` and scored with
:func:`lmnotes.generation.sequence_logprobs`; the statistics below need only the scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lmnotes import checks
from lmnotes.generation import generate, sequence_logprobs


def _n(n) -> int:
    return checks.size("n", n, high=100_000)


def kl_bound(n: int) -> float:
    """log N - (N - 1) / N: the KL(best-of-N || policy) for a reward without ties (nats)."""
    n = _n(n)
    return math.log(n) - (n - 1) / n


def _scores(name: str, values) -> torch.Tensor:
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.dim() != 1 or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence of numbers, got shape {tuple(values.shape)}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must hold finite numbers")
    return values


def _same_length(**values: torch.Tensor) -> None:
    lengths = {name: len(v) for name, v in values.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the reward arrays must have one length (one value per sample), got {lengths}")


def _subset_weights(m: int, n: int) -> torch.Tensor:
    """Weight of the sample ranked i-th from the bottom (i = 1..m) being the best of a uniformly
    drawn size-n subset of m samples: C(i-1, n-1) / C(m, n)."""
    i = torch.arange(1, m + 1, dtype=torch.float64)
    log_w = torch.where(i >= n, torch.lgamma(i) - torch.lgamma(i - n + 1), torch.full_like(i, -math.inf))
    return (log_w - torch.logsumexp(log_w, 0)).exp()


def _pool(selector, n: int, **values) -> tuple[int, torch.Tensor, dict[str, torch.Tensor]]:
    selector = _scores("selector", selector)
    values = {name: _scores(name, v) for name, v in values.items()}
    _same_length(selector=selector, **values)
    n, m = _n(n), len(selector)
    if n > m:
        raise ValueError(f"n must be at most the number of samples ({m}), got {n}")
    order = torch.argsort(selector, stable=True)
    return n, order, {name: v[order] for name, v in values.items()}


def expected_best_of_n(selector, values, n: int) -> float:
    """E[value of the best-of-N response], best by ``selector``, estimated from ``M >= N`` samples
    of the policy as the mean over every size-N subset of them (a U-statistic, unbiased): the
    sample ranked i-th from the bottom by ``selector`` counts with weight C(i-1, N-1) / C(M, N).
    ``values`` is what is averaged (the gold reward, or the selector itself); ties in ``selector``
    are broken by sample order."""
    n, _, v = _pool(selector, n, values=values)
    return float((_subset_weights(len(v["values"]), n) * v["values"]).sum())


def best_of_n_kl(selector, logps, n: int) -> float:
    """Monte-Carlo KL(best-of-N || policy) in nats from ``M`` samples of the policy.

    ``selector`` holds the reward-model scores of the samples and ``logps`` the policy's exact
    log pi(y) of each. Best-of-N gives a response y the probability (F(y) + pi(y))^N - F(y)^N,
    F(y) = P(score < score(y)) (for pi(y) -> 0 this is N pi(y) F(y)^(N-1)); F is estimated by the
    share of the samples scored lower, pi(y) is exact, and log(best-of-N(y) / pi(y)) is averaged
    over the best-of-N distribution as in :func:`expected_best_of_n`. Responses that the policy
    gives noticeable probability make it smaller than :func:`kl_bound`."""
    n, _, v = _pool(selector, n, logps=logps)
    logp = v["logps"]
    if bool((logp > 0).any()):
        raise ValueError("logps must be log-probabilities (<= 0)")
    m = len(logp)
    s = _scores("selector", selector).sort(stable=True).values
    below = torch.searchsorted(s, s, right=False).double() / m  # share of samples scored strictly lower
    below = torch.minimum(below, 1 - logp.exp())
    # log((F + p)^N - F^N) = N log F + log(expm1(N log1p(p / F))), stable when p << F (no cancellation)
    x = n * torch.log1p(logp.exp() / below.clamp_min(1e-300))
    log_expm1 = torch.where(x > 30, x, torch.log(torch.expm1(x.clamp_max(30))))
    log_bon = torch.where(below > 0, n * torch.log(below.clamp_min(1e-300)) + log_expm1, n * logp)
    return float((_subset_weights(m, n) * (log_bon - logp)).sum())


@dataclass
class Samples:
    """Responses drawn from a policy for one prompt: texts, token ids (prompt + response, right
    padded), the response mask and the policy's exact log-probability of each response."""

    prompt: str
    texts: list[str]
    input_ids: torch.Tensor
    response_mask: torch.Tensor
    logps: torch.Tensor


@torch.no_grad()
def sample_responses(model: nn.Module, tokenizer, prompt: str, n: int, *, max_new_tokens: int = 12,
                     stop: str = ".", seed: int = 0, batch_size: int = 1024) -> Samples:
    """``n`` responses to ``prompt`` sampled from ``model`` at temperature 1 (no filters), each up
    to and including its first ``stop`` (or ``max_new_tokens`` tokens), with log pi(response)."""
    prompt = checks.text("prompt", prompt)
    n = checks.size("n", n, high=1_000_000)
    max_new_tokens = checks.size("max_new_tokens", max_new_tokens, high=256)
    batch_size = checks.size("batch_size", batch_size, high=1_000_000)
    stop_id = tokenizer.convert_tokens_to_ids(checks.text("stop", stop))
    pad = tokenizer.pad_token_id or 0
    prompt_ids = torch.tensor([tokenizer.encode(prompt)])
    g = torch.Generator().manual_seed(checks.integer("seed", seed))
    rows = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        out = generate(model, prompt_ids.repeat(count, 1), max_new_tokens, do_sample=True, generator=g,
                       stop=stop_id, pad_token_id=pad)
        out = torch.nn.functional.pad(out, (0, prompt_ids.shape[1] + max_new_tokens - out.shape[1]), value=pad)
        rows.append(out)
    ids = torch.cat(rows)
    T0 = prompt_ids.shape[1]
    response = ids[:, T0:]
    is_stop = (response == stop_id).long()
    after_stop = (is_stop.cumsum(1) - is_stop) > 0  # positions after the first stop
    mask = torch.zeros_like(ids)
    mask[:, T0:] = (~after_stop).long()
    logps = torch.cat([sequence_logprobs(model, ids[i:i + batch_size], mask[i:i + batch_size])
                       for i in range(0, n, batch_size)])
    texts = [tokenizer.decode(r[m.bool()].tolist()) for r, m in zip(response, mask[:, T0:])]
    return Samples(prompt, texts, ids, mask, logps)


def score_texts(reward, prompt: str, texts: Sequence[str]) -> torch.Tensor:
    """``reward(prompt, text)`` for every text, as a float64 tensor."""
    checks.text("prompt", prompt)
    texts = checks.texts("texts", texts)
    return torch.tensor([float(reward(prompt, t)) for t in texts], dtype=torch.float64)

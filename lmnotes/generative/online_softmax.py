"""Attention computed block by block with an online softmax (book section 2.3.1).

Softmax attention needs every score of a query row before it can normalise, which seems to require
the whole (m x m) score matrix at once. It does not: keep, for each query, the running maximum ``M``
of its scores seen so far, the running sum ``l`` of ``exp(score - M)`` and the running weighted sum
``acc`` of the values; when a new block of keys raises the maximum, rescale ``l`` and ``acc`` by
``exp(M_old - M_new)``. After the last block, ``acc / l`` is exactly the softmax-weighted sum of the
values. FlashAttention (Dao et al. 2022) uses this to hold one (block x block) tile of scores at a
time instead of (m x m); ring attention (Liu et al. 2023), the sequence parallelism of section
2.3.1, uses the same merge when each device holds one block of keys and values and passes it on.

* ``online_softmax_attention``: causal (or full) attention over blocks of queries and keys, the
  running max and sum carried across key blocks; equal to the full softmax attention up to rounding.
"""

from __future__ import annotations

import math

import torch

from lmnotes import checks


def online_softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block: int = 128,
                             causal: bool = True) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + mask) v for ``q``, ``k``, ``v`` of shape (..., m, d), computed over
    (``block`` queries x ``block`` keys) tiles with a running max and sum per query, so that no
    tensor larger than one tile of scores (or the output) is ever held. ``causal`` masks keys after
    the query (queries and keys then have the same length)."""
    checks.tensor("q", q, ndim=(2, 3, 4), dtype="float")
    checks.tensor("k", k, ndim=q.ndim, dtype="float")
    checks.tensor("v", v, ndim=q.ndim, dtype="float")
    if k.shape != v.shape or q.shape[:-2] != k.shape[:-2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q (..., m, d), k and v (..., n, d) must agree on every dimension but the length, got "
                         f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    block = checks.size("block", block)
    causal = checks.boolean("causal", causal)
    m, n = q.shape[-2], k.shape[-2]
    if causal and m != n:
        raise ValueError(f"causal attention needs as many queries as keys, got q length {m} and k length {n}")
    scale = 1.0 / math.sqrt(q.shape[-1])
    out = torch.empty_like(q)
    for i in range(0, m, block):
        qi = q[..., i: i + block, :] * scale
        rows = torch.arange(i, i + qi.shape[-2])[:, None]
        running_max = torch.full(qi.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)
        running_sum = torch.zeros_like(running_max)
        acc = torch.zeros_like(qi)
        for j in range(0, (i + qi.shape[-2]) if causal else n, block):
            scores = qi @ k[..., j: j + block, :].transpose(-2, -1)  # one (block x block) tile
            if causal and j + block > i:
                scores = scores.masked_fill(torch.arange(j, j + scores.shape[-1])[None, :] > rows, float("-inf"))
            new_max = torch.maximum(running_max, scores.amax(-1, keepdim=True))
            rescale = (running_max - new_max).exp()  # exp(-inf) = 0 on the first block
            weights = (scores - new_max).exp()
            running_sum = running_sum * rescale + weights.sum(-1, keepdim=True)
            acc = acc * rescale + weights @ v[..., j: j + block, :]
            running_max = new_max
        out[..., i: i + block, :] = acc / running_sum
    return out

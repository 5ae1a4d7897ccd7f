"""A fixed-size KV cache that chooses what to keep (book section 2.3.3): heavy hitters beside a window.

A sliding window keeps the last ``budget`` keys and values and drops the oldest. H2O (Zhang et al.
2023, "heavy-hitter oracle") keeps the same number of slots but fills part of them differently: the
``recent`` newest tokens always, and in the other slots the older tokens that have drawn the most
attention so far (their attention weights summed over every query that has read them). When the
cache is full, the older token with the least accumulated attention is evicted, per layer and per
key/value head. Both hold exactly ``budget`` keys per head, so they cost the same memory.

* ``evicting_losses``: the next-token loss at every position when a RoPE ``GPT`` reads a text token
  by token through the course's ``KVCache`` holding at most ``budget`` keys per layer and head, with
  ``recent`` of them the newest (``recent == budget`` is the plain sliding window). Positions are
  counted inside the cache (as StreamingLLM does, ``longcontext.streaming_losses``), so no kept key
  sits farther back than the cache is long, however long the text.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lmnotes import checks
from lmnotes.models.gpt import GPT
from lmnotes.models.layers import KVCache, apply_rope
from lmnotes.training import evaluating


def evicting_losses(model: GPT, ids: torch.Tensor, budget: int, recent: int | None = None):
    """Read ``ids`` (B, T) token by token with a KV cache of at most ``budget`` keys per layer and head:
    the ``recent`` newest tokens (default ``budget``: a sliding window) and, in the other
    ``budget - recent`` slots, the older tokens with the largest attention accumulated so far (H2O).
    Returns the (B, T - 1) next-token losses (nats) and the cache's bytes at the end
    (``KVCache.nbytes()``: equal for equal ``budget``, whatever ``recent``)."""
    checks.instance("model", model, GPT)
    checks.tensor("ids", ids, ndim=2, dtype="int")
    if ids.shape[1] < 2:
        raise ValueError(f"ids must hold at least 2 tokens per row, got shape {tuple(ids.shape)}")
    if model.config.pos != "rope":
        raise ValueError(f"evicting_losses renumbers RoPE positions inside the cache; model has pos={model.config.pos!r}")
    budget = checks.size("budget", budget)
    recent = budget if recent is None else checks.size("recent", recent, high=budget)
    B, T = ids.shape[0], ids.shape[1] - 1
    cache, attention = KVCache(), []  # attention[layer]: (B, n_kv_head, S) accumulated per cached key
    cos, sin = model.positions.rope(torch.arange(min(budget, T))[None])
    losses = []
    with torch.no_grad(), evaluating(model):
        for t in range(T):
            x = model.wte(ids[:, t: t + 1])
            for layer, block in enumerate(model.blocks):
                attend = lambda h, attn=block.attn, layer=layer: _attend(attn, h, cache, attention, layer, budget,
                                                                          recent, cos, sin)
                x = block._sublayer(block._sublayer(x, block.norm1, attend), block.norm2, block.ffn)
            logits = model.lm_head(model.norm_f(x))[:, 0]
            losses.append(F.cross_entropy(logits, ids[:, t + 1], reduction="none"))
    return torch.stack(losses, dim=1), cache.nbytes()


def _attend(attn, h, cache, attention, layer, budget, recent, cos, sin):
    """One new token's attention in one layer: append its key and value (before rotation), evict one
    older key if the cache is over ``budget``, then attend with positions counted inside the cache."""
    q, k, v = attn.heads(h)  # q (B, H, 1, d); k, v (B, H_kv, 1, d)
    keys, values = cache.update(layer, k, v)
    new = torch.zeros(k.shape[:2] + (1,))
    attention.append(new) if layer == len(attention) else attention.__setitem__(
        layer, torch.cat([attention[layer], new], dim=-1))
    S = keys.shape[2]
    if S > budget:  # evict the older key (outside the `recent` newest) with the least accumulated attention
        older = attention[layer][..., : S - recent]
        drop = older.argmin(-1, keepdim=True)  # (B, H_kv, 1)
        slots = torch.arange(S).expand(*older.shape[:2], S)
        keep = slots[slots != drop].view(*older.shape[:2], S - 1)  # cache order (text order) preserved
        cache.keys[layer] = keys = keys.gather(2, keep[..., None].expand(-1, -1, -1, keys.shape[-1]))
        cache.values[layer] = values = values.gather(2, keep[..., None].expand(-1, -1, -1, values.shape[-1]))
        attention[layer] = attention[layer].gather(-1, keep)
        S -= 1
    k_all, v_all = attn.shared_kv(apply_rope(keys, cos[..., :S, :], sin[..., :S, :]), values)
    query = apply_rope(q, cos[..., S - 1: S, :], sin[..., S - 1: S, :])  # the query sits in the last slot
    weights = (query @ k_all.transpose(-2, -1) / math.sqrt(attn.d_head)).softmax(-1)  # (B, H, 1, S)
    group = attn.n_head // attn.n_kv_head
    attention[layer] = attention[layer] + weights[:, :, 0].view(weights.shape[0], -1, group, S).sum(2)
    y = (weights @ v_all).transpose(1, 2).reshape(h.shape)
    return attn.proj(y)

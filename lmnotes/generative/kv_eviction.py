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
  sits farther back than the cache is long, however long the text; ``renumber=False`` keeps every
  key at its position in the text instead, as published H2O does (only sound inside the context).
* ``evicted_slot``: the rule itself, the slot with the least accumulated attention outside the
  ``recent`` newest.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lmnotes import checks
from lmnotes.models.gpt import GPT
from lmnotes.models.layers import KVCache, apply_rope
from lmnotes.training import evaluating


def evicting_losses(model: GPT, ids: torch.Tensor, budget: int, recent: int | None = None, renumber: bool = True):
    """Read ``ids`` (B, T) token by token with a KV cache of at most ``budget`` keys per layer and head:
    the ``recent`` newest tokens (default ``budget``: a sliding window) and, in the other
    ``budget - recent`` slots, the older tokens with the largest attention accumulated so far (H2O).
    ``renumber``: positions counted inside the cache (StreamingLLM's scheme; the query in the last slot)
    or, if False, each kept key at its position in the text and the query at its own (H2O's; past the
    model's context this meets distances it never trained on).
    Returns the (B, T - 1) next-token losses (nats) and the cache's bytes at the end
    (``KVCache.nbytes()``: equal for equal ``budget``, whatever ``recent``)."""
    checks.instance("model", model, GPT)
    ids = checks.token_ids("ids", ids, vocab_size=model.config.vocab_size, ndim=2, min_length=2)
    if model.config.pos != "rope":
        raise ValueError(f"evicting_losses needs a RoPE model (it rotates the cached keys), got pos={model.config.pos!r}")
    budget = checks.size("budget", budget)
    recent = budget if recent is None else checks.size("recent", recent, high=budget)
    renumber = checks.boolean("renumber", renumber)
    B, T = ids.shape[0], ids.shape[1] - 1
    cache, attention = KVCache(), []  # attention[layer]: (B, n_kv_head, S) accumulated per cached key
    where = []  # where[layer]: (B, n_kv_head, S) the text position of each cached key
    cos, sin = model.positions.rope(torch.arange(min(budget, T) if renumber else T)[None])  # (1, 1, positions, d)
    losses = []
    with torch.no_grad(), evaluating(model):
        for t in range(T):
            x = model.wte(ids[:, t: t + 1])
            for layer, block in enumerate(model.blocks):
                attend = lambda h, attn=block.attn, layer=layer: _attend(attn, h, cache, attention, where, layer, t,
                                                                          budget, recent, renumber, cos, sin)
                x = block._sublayer(block._sublayer(x, block.norm1, attend), block.norm2, block.ffn)
            logits = model.lm_head(model.norm_f(x))[:, 0]
            losses.append(F.cross_entropy(logits, ids[:, t + 1], reduction="none"))
    return torch.stack(losses, dim=1), cache.nbytes()


def evicted_slot(accumulated: torch.Tensor, recent: int) -> torch.Tensor:
    """H2O's choice: for accumulated attention (..., S) over the cached keys in text order, the index
    (..., 1) of the key to evict, the one with the least attention among all but the ``recent`` newest."""
    checks.tensor("accumulated", accumulated, dtype="float")
    recent = checks.integer("recent", recent, low=0, high=accumulated.shape[-1] - 1)
    return accumulated[..., : accumulated.shape[-1] - recent].argmin(-1, keepdim=True)


def _attend(attn, h, cache, attention, where, layer, t, budget, recent, renumber, cos, sin):
    """One new token's attention in one layer: append its key and value (before rotation), evict one
    older key if the cache is over ``budget``, then attend, positions counted inside the cache
    (``renumber``) or at the keys' places in the text."""
    q, k, v = attn.heads(h)  # q (B, H, 1, d); k, v (B, H_kv, 1, d)
    keys, values = cache.update(layer, k, v)
    new, here = torch.zeros(k.shape[:2] + (1,)), torch.full(k.shape[:2] + (1,), t)
    if layer == len(attention):
        attention.append(new)
        where.append(here)
    else:
        attention[layer] = torch.cat([attention[layer], new], dim=-1)
        where[layer] = torch.cat([where[layer], here], dim=-1)
    S = keys.shape[2]
    if S > budget:  # evict the older key (outside the `recent` newest) with the least accumulated attention
        drop = evicted_slot(attention[layer], recent)  # (B, H_kv, 1)
        keep = torch.arange(S) != drop  # (B, H_kv, S): every slot but the dropped one, in cache (text) order
        S -= 1
        cache.keys[layer] = keys = keys[keep].view(*keep.shape[:2], S, keys.shape[-1])
        cache.values[layer] = values = values[keep].view(*keep.shape[:2], S, values.shape[-1])
        attention[layer], where[layer] = (attention[layer][keep].view(*keep.shape[:2], S),
                                          where[layer][keep].view(*keep.shape[:2], S))
    if renumber:  # slots 0..S-1; the query sits in the last slot
        rotated = apply_rope(keys, cos[..., :S, :], sin[..., :S, :])
        query = apply_rope(q, cos[..., S - 1: S, :], sin[..., S - 1: S, :])
    else:  # each key at its text position (B, H_kv, S), the query at t
        rotated = apply_rope(keys, cos[0, 0][where[layer]], sin[0, 0][where[layer]])
        query = apply_rope(q, cos[..., t: t + 1, :], sin[..., t: t + 1, :])
    k_all, v_all = attn.shared_kv(rotated, values)
    weights = (query @ k_all.transpose(-2, -1) / math.sqrt(attn.d_head)).softmax(-1)  # (B, H, 1, S)
    group = attn.n_head // attn.n_kv_head
    attention[layer] = attention[layer] + weights[:, :, 0].view(weights.shape[0], -1, group, S).sum(2)
    y = (weights @ v_all).transpose(1, 2).reshape(h.shape)
    return attn.proj(y)

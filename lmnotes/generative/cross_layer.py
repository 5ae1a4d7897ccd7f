"""Sharing one KV cache across adjacent layers (book section 2.3.4, Fig. 2.8 (e)).

GQA and MQA share keys and values across the heads of one layer; cross-layer attention (Brandon
et al. 2024) shares them across layers: in each group of ``every`` adjacent layers only the first
computes keys and values, and the others' queries attend to those. The KV cache then holds one
layer's keys and values per group, ``every`` times fewer bytes per token, and the other layers lose
their key and value projections.

* ``share_kv_across_layers``: turn a course ``GPT`` into such a model in place (its attention
  modules replaced; training, the ``KVCache`` and generation work unchanged).
"""

from __future__ import annotations

import torch
from torch import nn

from lmnotes import checks
from lmnotes.models.gpt import GPT
from lmnotes.models.layers import Attention


class _Shared:
    """The keys and values the group's first layer computed in this forward pass (after RoPE and,
    when decoding, with the cache's earlier tokens)."""

    def __init__(self):
        self.kv = None


class _Recorder:
    """Stands for the ``KVCache`` in the group's first layer: stores its keys and values in the cache
    under the group's index (one entry per group) and hands them to the group's other layers."""

    def __init__(self, cache, group: int, shared: _Shared):
        self.cache, self.group, self.shared = cache, group, shared

    def update(self, layer, k, v):
        self.shared.kv = (k, v) if self.cache is None else self.cache.update(self.group, k, v)
        return self.shared.kv


class _Reader:
    """Stands for the ``KVCache`` in a group's later layer: returns the first layer's keys and values."""

    def __init__(self, shared: _Shared):
        self.shared = shared

    def update(self, layer, k, v):
        return self.shared.kv


class _LeaderAttention(Attention):
    def forward(self, x, mask=None, is_causal=False, rope=None, cache=None, layer=0, context=None):
        return super().forward(x, mask, is_causal, rope, _Recorder(cache, self.group, self.shared), layer, context)


class _FollowerAttention(Attention):
    """Queries of its own; keys and values from the group's first layer (no K/V projection)."""

    def heads(self, x, context=None):
        B, T, C = x.shape
        q = self.qkv(x).view(B, T, self.n_head, self.d_head).transpose(1, 2)
        placeholder = q.new_zeros(B, self.n_kv_head, T, self.d_head)  # replaced by the shared keys and values
        return q, placeholder, placeholder

    def forward(self, x, mask=None, is_causal=False, rope=None, cache=None, layer=0, context=None):
        return super().forward(x, mask, is_causal, rope, _Reader(self.shared), layer, context)


def share_kv_across_layers(model: GPT, every: int = 2) -> GPT:
    """Make each group of ``every`` adjacent layers of ``model`` share the keys and values of its first
    layer (cross-layer attention), in place; returns ``model``. ``n_layer`` must be a multiple of
    ``every``. The later layers' key and value projections are dropped (their query projections and
    everything else keep their weights), so call it before training."""
    checks.instance("model", model, GPT)
    c = model.config
    every = checks.size("every", every, high=c.n_layer)
    if c.n_layer % every:
        raise ValueError(f"every must divide the model's {c.n_layer} layers, got every={every}")
    for i, block in enumerate(model.blocks):
        old = block.attn
        if i % every == 0:  # the group's first layer: computes keys and values as before
            attn = _LeaderAttention(c.n_embd, c.n_head, c.n_kv_head, c.bias, c.dropout)
            attn.load_state_dict(old.state_dict())
            attn.group, shared = i // every, _Shared()
        else:  # a later layer: its query projection only
            attn = _FollowerAttention(c.n_embd, c.n_head, c.n_kv_head, c.bias, c.dropout)
            attn.qkv = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
            with torch.no_grad():
                attn.qkv.weight.copy_(old.qkv.weight[: c.n_embd])
                if c.bias:
                    attn.qkv.bias.copy_(old.qkv.bias[: c.n_embd])
            attn.proj.load_state_dict(old.proj.state_dict())
        attn.shared = shared
        block.attn = attn
    return model

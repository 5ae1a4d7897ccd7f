"""Tools for long sequences beside the models (book section 2.3).

* ``kv_bytes_per_token``: what the KV cache costs per token of context (MHA vs GQA vs MQA, 2.3.4).
* ``linear_attention`` / ``LinearAttentionState``: causal linear attention (Katharopoulos et al.
  2020, section 2.3.2) in its parallel form (all positions at once) and its recurrent form (one
  token at a time with a fixed-size state), which compute the same outputs.
* ``position_config``: one small decoder-only configuration per position scheme (2.3.5).
* ``rope_scaled``: RoPE stretched to a longer context by position interpolation (Chen et al. 2023)
  or NTK-aware scaling of the base (bloc97 2023).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from lmnotes import checks
from lmnotes.models.gpt import GPTConfig
from lmnotes.models.layers import POSITIONS

ROPE_SCALINGS = ("interpolation", "ntk")


def kv_bytes_per_token(config: GPTConfig, bytes_per_value: int = 4) -> int:
    """Bytes the KV cache holds per token: keys and values of ``n_kv_head`` heads in every layer."""
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    bytes_per_value = checks.size("bytes_per_value", bytes_per_value, high=16)
    return 2 * config.n_layer * config.n_kv_head * (config.n_embd // config.n_head) * bytes_per_value


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1 > 0, the kernel feature map of Katharopoulos et al. (2020)."""
    return F.elu(x) + 1.0


def _check_qkv(q, k, v) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        checks.tensor(name, t)
        if not t.is_floating_point() or t.dim() < 2:
            raise ValueError(f"{name} must be a floating-point tensor of shape (..., T, d), got {tuple(t.shape)}")
    if q.shape != k.shape or q.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"q and k must share one shape and v its (..., T) part; got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal linear attention, parallel form: out_i = phi(q_i) S_i / (phi(q_i) . z_i) with
    S_i = sum_{j<=i} phi(k_j) v_j^T and z_i = sum_{j<=i} phi(k_j). Shapes (..., T, d) -> (..., T, d_v).

    Written as a masked T x T product, the way softmax attention is, to show that only the
    exponential is gone; ``LinearAttentionState`` computes the same thing in O(1) per token."""
    _check_qkv(q, k, v)
    fq, fk = feature_map(q), feature_map(k)
    T = q.shape[-2]
    weights = (fq @ fk.transpose(-2, -1)).tril()  # phi(q_i) . phi(k_j) for j <= i
    weights = weights.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=q.device).tril(), 0.0)
    return (weights @ v) / weights.sum(-1, keepdim=True)


class LinearAttentionState:
    """Recurrent form of ``linear_attention``: a (d, d_v) state S and a d-vector z, updated per token.

    ``step(q, k, v)`` with shapes (..., d) and (..., d_v) adds one token and returns its output; the
    cost of a step does not depend on how many tokens came before (unlike a softmax KV cache)."""

    def __init__(self):
        self.S: torch.Tensor | None = None
        self.z: torch.Tensor | None = None

    def step(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        _check_qkv(q[..., None, :], k[..., None, :], v[..., None, :])
        fq, fk = feature_map(q), feature_map(k)
        update = fk[..., :, None] * v[..., None, :]
        self.S = update if self.S is None else self.S + update
        self.z = fk if self.z is None else self.z + fk
        return (fq[..., None, :] @ self.S)[..., 0, :] / (fq * self.z).sum(-1, keepdim=True)

    def nbytes(self) -> int:
        """Memory held by the state in bytes (constant in the number of tokens)."""
        return sum(t.numel() * t.element_size() for t in (self.S, self.z) if t is not None)


def position_config(pos: str, block_size: int, vocab_size: int, **overrides) -> GPTConfig:
    """A small pre-norm decoder (2 layers, 4 heads, width 64) with position scheme ``pos``:
    the one model shape the extrapolation comparison trains once per scheme."""
    pos = checks.choice("pos", pos, POSITIONS)
    block_size = checks.size("block_size", block_size)
    vocab_size = checks.size("vocab_size", vocab_size)
    base = dict(n_layer=2, n_head=4, n_embd=64, block_size=block_size, vocab_size=vocab_size, pos=pos,
                norm="rmsnorm", ffn="gelu", bias=False)
    return GPTConfig(**{**base, **overrides})


def rope_scaled(config: GPTConfig, method: str, factor: float) -> GPTConfig:
    """A copy of a RoPE ``config`` that covers ``factor`` times its context.

    * "interpolation" (PI): positions are divided by ``factor``, so every angle stays in the range
      seen in training (``rope_scale *= factor``);
    * "ntk": the base is raised, theta' = theta * factor^(d/(d-2)), which leaves the fastest-
      rotating pairs (local order) almost unchanged and stretches the slowest by ``factor``.
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    if config.pos != "rope":
        raise ValueError(f"rope_scaled needs a config with pos='rope', got pos={config.pos!r}")
    method = checks.choice("method", method, ROPE_SCALINGS)
    factor = checks.positive("factor", factor)
    block_size = max(1, round(config.block_size * factor))
    if method == "interpolation":
        return replace(config, rope_scale=config.rope_scale * factor, block_size=block_size)
    d = config.n_embd // config.n_head
    if d <= 2:
        raise ValueError(f"NTK scaling needs a head size above 2, got {d}")
    return replace(config, rope_theta=config.rope_theta * factor ** (d / (d - 2)), block_size=block_size)

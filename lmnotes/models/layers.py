"""The pieces every model in the course is built from (book sections 1.3, 2.1.1, 2.2.3 and 2.3).

* ``Attention``: multi-head attention, softmax(Q K^T / sqrt(d_head) + bias) V, with grouped-query
  attention (``n_kv_head`` < ``n_head`` shares each key/value head among ``n_head // n_kv_head``
  query heads; ``n_kv_head = 1`` is multi-query attention), optional cross-attention and a KV cache.
* ``FeedForward``: ReLU / GELU / SwiGLU.
* ``Block``: the one Transformer block (self-attention, optional cross-attention, FFN, norms, pre- or
  post-norm) shared by the decoder-only GPT, the BERT-style encoder and the encoder-decoder.
* ``Positions``: every position scheme the book compares: learned and sinusoidal absolute
  embeddings, RoPE, ALiBi, T5 relative buckets, or none.
* ``build_mask``: causal / sliding-window / padding masks plus the position bias, built once per
  forward pass and shared by all layers.
* ``KVCache``: the keys and values of the tokens seen so far, so that generating one more token
  costs one token's worth of computation (section 2.3.1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from lmnotes import checks

NORMS = ("layernorm", "rmsnorm")
FFNS = ("relu", "gelu", "gelu_tanh", "swiglu")
POSITIONS = ("learned", "sinusoidal", "rope", "alibi", "t5", "none")
#: In bfloat16 on a CPU, attention as three plain ops (two matmuls and a softmax) trains 1.3-3.4x
#: faster than the fused kernel up to 256 keys (forward + backward); by 512 keys the fused kernel,
#: which never stores the T x S scores, is 1.8x faster (measured on 2 cores with AMX).
PLAIN_BF16_CPU_MAX_KEYS = 256


#: upper bounds of a model's sizes: far above any real model (GPT-3 has 96 layers of width 12288),
#: far below sizes whose weights could not be allocated
MAX_LAYERS, MAX_HEADS, MAX_WIDTH = 1000, 1024, 100_000


def make_norm(kind: str, dim: int, eps: float, bias: bool) -> nn.Module:
    """LayerNorm (mean and variance, section 2.2.3) or RMSNorm (root mean square only, no bias)."""
    checks.choice("norm", kind, NORMS)
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=eps, bias=bias)
    return nn.RMSNorm(dim, eps=eps)


class KVCache:
    """Keys and values of every layer for the tokens processed so far (section 2.3.1).

    Each layer's entry has shape (B, n_kv_head, S, d_head): grouped-query attention stores only the
    ``n_kv_head`` shared heads, which is exactly its memory saving. ``update`` appends the new
    tokens' keys and values and returns everything seen so far.
    """

    def __init__(self):
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    def __len__(self) -> int:
        """Number of tokens cached (0 when empty)."""
        return self.keys[0].shape[2] if self.keys else 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k], dim=2)
            self.values[layer] = torch.cat([self.values[layer], v], dim=2)
        return self.keys[layer], self.values[layer]

    def crop(self, length: int) -> None:
        """Keep the first ``length`` tokens, forget the rest (speculative decoding's rejected drafts)."""
        length = checks.integer("length", length, low=0)
        self.keys = [k[:, :, :length] for k in self.keys]
        self.values = [v[:, :, :length] for v in self.values]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (beam search continues some beams and drops others)."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]

    def nbytes(self) -> int:
        """Memory held by the cache in bytes."""
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension (LLaMA's RoPE layout)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair of dimensions of ``x`` by its position's angle (section 2.3.5, RoPE).

    In ``x``'s dtype, as transformers' LLaMA does: under bf16 autocast the queries and keys stay bf16."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    """Multi-head (or grouped-query / multi-query) attention, section 2.1.1 and 2.3.3.

    Self-attention projects the input to queries, keys and values with one fused matrix; cross-
    attention takes queries from ``x`` and keys/values from ``context`` (the encoder's output).
    Then, per head,   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head) + bias) V,
    with ``bias`` holding -inf where a query may not look (future tokens, padding) and ALiBi/T5
    position terms. PyTorch's fused ``scaled_dot_product_attention`` computes it, except in bf16 on
    a CPU over at most ``PLAIN_BF16_CPU_MAX_KEYS`` keys, where the explicit ops are faster; set
    ``save_attention = True`` to compute it explicitly and keep the weights in ``.attention``.
    """

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int, bias: bool, dropout: float,
                 cross: bool = False):
        super().__init__()
        self.n_head, self.n_kv_head, self.d_head = n_head, n_kv_head, n_embd // n_head
        kv_dim = n_kv_head * self.d_head
        self.cross = cross
        if cross:
            self.q = nn.Linear(n_embd, n_embd, bias=bias)
            self.kv = nn.Linear(n_embd, 2 * kv_dim, bias=bias)
        else:
            self.qkv = nn.Linear(n_embd, n_embd + 2 * kv_dim, bias=bias)
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)
        self.save_attention = False
        self.attention: torch.Tensor | None = None

    def heads(self, x, context=None):
        """``x`` (and, for cross-attention, ``context``) projected and split into heads: queries
        (B, H, T, d_head), keys and values (B, H_kv, S, d_head)."""
        B, T, C = x.shape
        kv_dim = self.n_kv_head * self.d_head
        if self.cross:
            checks.tensor("context", context, ndim=3)
            if context.shape[0] != B or context.shape[2] != C:
                raise ValueError(f"context (the encoder output) must be (batch={B}, source length, {C}) "
                                 f"to match x {tuple(x.shape)}, got {tuple(context.shape)}")
            q = self.q(x)
            k, v = self.kv(context).split([kv_dim, kv_dim], dim=-1)
        else:
            q, k, v = self.qkv(x).split([C, kv_dim, kv_dim], dim=-1)
        q = q.view(B, T, self.n_head, self.d_head).transpose(1, 2)  # (B, H, T, d_head)
        k = k.view(B, -1, self.n_kv_head, self.d_head).transpose(1, 2)  # (B, H_kv, S, d_head)
        v = v.view(B, -1, self.n_kv_head, self.d_head).transpose(1, 2)
        return q, k, v

    def shared_kv(self, k, v):
        """Keys and values with each key/value head repeated for the n_head // n_kv_head query heads
        it serves (GQA, MQA); unchanged when every query head has its own."""
        if self.n_kv_head != self.n_head:
            k = k.repeat_interleave(self.n_head // self.n_kv_head, dim=1)
            v = v.repeat_interleave(self.n_head // self.n_kv_head, dim=1)
        return k, v

    def forward(self, x, mask=None, is_causal=False, rope=None, cache=None, layer=0, context=None):
        B, T, C = x.shape
        q, k, v = self.heads(x, context)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        k, v = self.shared_kv(k, v)
        if mask is not None and mask.dtype != torch.bool:
            mask = mask.to(q.dtype)
        dropout = self.dropout if self.training else 0.0
        plain = q.dtype == torch.bfloat16 and q.device.type == "cpu" and k.shape[2] <= PLAIN_BF16_CPU_MAX_KEYS
        if self.save_attention or plain:
            scores = (q * (1.0 / math.sqrt(self.d_head))) @ k.transpose(-2, -1)
            if is_causal:
                mask = torch.ones(T, k.shape[2], dtype=torch.bool, device=x.device).tril()
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
            weights = scores.softmax(dim=-1)
            if self.save_attention:
                self.attention = weights.detach()
            y = F.dropout(weights, dropout, self.training) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
        y = y.transpose(1, 2).reshape(B, T, C)  # concatenate the heads
        return self.resid_dropout(self.proj(y))


class FeedForward(nn.Module):
    """Position-wise FFN: W2 act(W1 x), or SwiGLU's W2 (silu(W_gate x) * W_up x) (section 2.2.3)."""

    def __init__(self, n_embd: int, d_ff: int, kind: str, bias: bool, dropout: float):
        super().__init__()
        checks.choice("ffn", kind, FFNS)
        self.kind = kind
        self.up = nn.Linear(n_embd, 2 * d_ff if kind == "swiglu" else d_ff, bias=bias)
        self.down = nn.Linear(d_ff, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        h = self.up(x)
        if self.kind == "swiglu":
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        elif self.kind == "relu":
            h = F.relu(h)
        else:
            h = F.gelu(h, approximate="tanh" if self.kind == "gelu_tanh" else "none")
        return self.dropout(self.down(h))


class Block(nn.Module):
    """One Transformer block, shared by every model in the course (sections 1.3 and 2.1.1).

    Pre-norm (GPT-2, LLaMA):   x = x + Attn(Norm(x));  x = x + FFN(Norm(x))
    Post-norm (original Transformer, BERT):   x = Norm(x + Attn(x));  x = Norm(x + FFN(x))
    With ``cross=True`` a cross-attention sub-layer over the encoder's output sits in between.
    ``config`` is any model config with the fields n_embd, n_head, n_kv_head, d_ff, ffn, norm,
    norm_eps, prenorm, bias and dropout.
    """

    def __init__(self, config, cross: bool = False):
        super().__init__()
        c = config
        self.prenorm = c.prenorm
        self.attn = Attention(c.n_embd, c.n_head, c.n_kv_head, c.bias, c.dropout)
        self.norm1 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        if cross:
            self.cross_attn = Attention(c.n_embd, c.n_head, c.n_kv_head, c.bias, c.dropout, cross=True)
            self.norm_cross = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        else:
            self.cross_attn = None
        self.ffn = FeedForward(c.n_embd, c.d_ff, c.ffn, c.bias, c.dropout)
        self.norm2 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)

    def _sublayer(self, x, norm, fn):
        if self.prenorm:
            return x + fn(norm(x))
        return norm(x + fn(x))

    def forward(self, x, mask=None, is_causal=False, rope=None, cache=None, layer=0,
                context=None, context_mask=None):
        x = self._sublayer(x, self.norm1, lambda h: self.attn(h, mask, is_causal, rope, cache, layer))
        if self.cross_attn is not None:
            x = self._sublayer(x, self.norm_cross, lambda h: self.cross_attn(h, context_mask, context=context))
        return self._sublayer(x, self.norm2, self.ffn)


def sinusoidal_table(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(...) (Vaswani et al., section 2.3.5)."""
    checks.tensor("positions", positions)
    dim = checks.size("dim", dim, high=MAX_WIDTH)
    inv_freq = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim)
    angles = positions.float()[..., None] * inv_freq  # (..., dim/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)[..., :dim]


def alibi_slopes(n_head: int) -> torch.Tensor:
    """ALiBi's per-head slopes m_k = 2^(-8k/n_head), k = 1..n_head (Press et al. 2022)."""
    n_head = checks.size("n_head", n_head, high=MAX_HEADS)
    return torch.tensor([2.0 ** (-8.0 * k / n_head) for k in range(1, n_head + 1)])


def t5_bucket(relative: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int) -> torch.Tensor:
    """Map relative positions (key - query) to T5's buckets: exact for small distances, log-spaced
    up to ``max_distance`` and one bucket beyond it (Raffel et al. 2020; section 2.3.5)."""
    bucket = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (relative > 0).long() * num_buckets
        distance = relative.abs()
    else:
        distance = (-relative).clamp(min=0)  # a causal model only looks back
    exact = num_buckets // 2
    log_bucket = exact + (
        torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact) * (num_buckets - exact)
    ).long()
    log_bucket = log_bucket.clamp(max=num_buckets - 1)
    return bucket + torch.where(distance < exact, distance, log_bucket)


class Positions(nn.Module):
    """Every position scheme of section 2.3.5 behind one interface.

    * learned / sinusoidal: a vector per absolute position added to the token embeddings (``embed``);
    * rope: queries and keys rotated by position-dependent angles (``rope`` returns cos and sin);
    * alibi / t5: a bias on the attention scores that depends on the distance key - query (``bias``);
    * none: no position information at all (a causal mask still leaks some).
    Positions are (B, T) tensors so that left-padded prompts count from their first real token.
    """

    def __init__(self, kind: str, n_embd: int, n_head: int, block_size: int, rope_theta: float = 10000.0,
                 rope_scale: float = 1.0, t5_buckets: int = 32, t5_max_distance: int = 128):
        super().__init__()
        checks.choice("pos", kind, POSITIONS)
        self.kind, self.block_size, self.n_embd = kind, block_size, n_embd
        self.t5_buckets, self.t5_max_distance = t5_buckets, t5_max_distance
        if kind == "learned":
            self.wpe = nn.Embedding(block_size, n_embd)
        elif kind == "sinusoidal":
            self.register_buffer("table", sinusoidal_table(torch.arange(block_size), n_embd), persistent=False)
        elif kind == "rope":
            checks.positive("rope_scale", rope_scale)
            d_head = n_embd // n_head
            self.rope_scale = rope_scale
            inv_freq = rope_theta ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)
            self.register_buffer("inv_freq", inv_freq, persistent=False)
            cos, sin = self._rope_table(torch.arange(block_size))
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)
        elif kind == "alibi":
            self.register_buffer("slopes", alibi_slopes(n_head), persistent=False)
        elif kind == "t5":
            self.rel_bias = nn.Embedding(t5_buckets, n_head)

    def _rope_table(self, positions):
        # position interpolation (Chen et al. 2023) divides positions by rope_scale
        angles = (positions.float() / self.rope_scale)[..., None] * self.inv_freq.to(positions.device)
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()

    def embed(self, pos: torch.Tensor) -> torch.Tensor | None:
        """Absolute position vectors (B, T, C) to add to the token embeddings, or None."""
        if self.kind == "learned":
            if int(pos.max()) >= self.block_size:
                raise ValueError(
                    f"sequence position {int(pos.max())} is beyond the context of {self.block_size} "
                    "tokens (block_size) that learned position embeddings cover; shorten the input"
                )
            return self.wpe(pos)
        if self.kind == "sinusoidal":
            return self.table[pos] if int(pos.max()) < self.block_size else sinusoidal_table(pos, self.n_embd)
        return None

    def rope(self, pos: torch.Tensor):
        """(cos, sin) of shape (B, 1, T, d_head) for RoPE, or None."""
        if self.kind != "rope":
            return None
        if int(pos.max()) < self.block_size:
            cos, sin = self.cos[pos], self.sin[pos]
        else:
            cos, sin = self._rope_table(pos)
        return cos[:, None], sin[:, None]

    def bias(self, pos_q: torch.Tensor, pos_k: torch.Tensor, bidirectional: bool) -> torch.Tensor | None:
        """Additive attention bias (B, H, T, S) from distances key - query, or None."""
        if self.kind not in ("alibi", "t5"):
            return None
        relative = pos_k[:, None, :] - pos_q[:, :, None]  # (B, T, S)
        if self.kind == "alibi":  # -m_h * |i - j|: farther keys are penalised linearly
            return -self.slopes[:, None, None] * relative.abs()[:, None].float()
        buckets = t5_bucket(relative, bidirectional, self.t5_buckets, self.t5_max_distance)
        return self.rel_bias(buckets).permute(0, 3, 1, 2)


def build_mask(
    T: int,
    past: int = 0,
    causal: bool = True,
    window: int | None = None,
    padding: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    device: torch.device | None = None,
    visible: torch.Tensor | None = None,
):
    """Build the mask shared by all layers and return ``(mask, is_causal)`` for ``Attention``.

    Queries are the last ``T`` of ``past + T`` keys. A query may look at key j when j is not in its
    future (``causal``), within the last ``window`` keys (sliding-window attention), not padding
    (``padding`` is (B, past + T), 1 = token) and, when given, where the custom bool mask
    ``visible`` ((T, past + T) or (B, T, past + T), True = may look) allows it, e.g. a window
    plus attention-sink tokens. Every query may always see itself, so that rows of
    padding never become all -inf (NaN after softmax). With nothing but plain causality the fused
    kernel's ``is_causal`` flag is returned instead of a tensor (fastest); with a position ``bias``
    the mask is the bias plus -inf where looking is not allowed.
    """
    T = checks.size("T", T, high=checks.MAX_LENGTH)
    past = checks.integer("past", past, low=0, high=checks.MAX_LENGTH)
    causal = checks.boolean("causal", causal)
    if window is not None:
        window = checks.size("window", window)
    S = past + T
    if bias is None and padding is None and window is None and visible is None:
        if not causal or T == 1:
            return None, False
        if past == 0:
            return None, True
    q = torch.arange(past, S, device=device)[:, None]
    k = torch.arange(S, device=device)[None, :]
    allowed = torch.ones(T, S, dtype=torch.bool, device=device)
    if causal:
        allowed &= k <= q
    if window is not None:
        allowed &= k > q - window
    allowed = allowed[None, None]  # (1, 1, T, S)
    if padding is not None:
        allowed = allowed & padding[:, None, None, :]
    if visible is not None:
        allowed = allowed & (visible[:, None] if visible.dim() == 3 else visible[None, None])
    allowed = allowed | (k == q)
    if bias is None:
        return allowed, False
    return bias.masked_fill(~allowed, float("-inf")), False


@dataclass
class BlockConfig:
    """The fields every model config shares: the Transformer block's shape and switches.

    ``d_ff`` defaults to 4 * n_embd, or for SwiGLU (three matrices instead of two) to about
    8/3 * n_embd rounded up to a multiple of 32, so both FFNs have about the same parameter count.
    Subclasses list their named presets in ``PRESETS``; ``Config.preset(name, **overrides)``.
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_kv_head: int | None = None
    d_ff: int | None = None
    ffn: str = "gelu"
    norm: str = "layernorm"
    prenorm: bool = True
    bias: bool = True
    dropout: float = 0.0
    norm_eps: float = 1e-5

    PRESETS: ClassVar[dict[str, dict]] = {}

    def __post_init__(self):
        highs = dict(vocab_size=checks.MAX_SIZE, block_size=checks.MAX_LENGTH, n_layer=MAX_LAYERS,
                     n_head=MAX_HEADS, n_embd=MAX_WIDTH)
        for name, high in highs.items():
            setattr(self, name, checks.size(name, getattr(self, name), high=high))
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}: each head gets n_embd // n_head dims"
            )
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if not isinstance(self.n_kv_head, int) or self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ValueError(
                f"n_head={self.n_head} must be a multiple of n_kv_head={self.n_kv_head} "
                "(each key/value head serves n_head // n_kv_head query heads)"
            )
        checks.choice("ffn", self.ffn, FFNS)
        checks.choice("norm", self.norm, NORMS)
        if self.d_ff is None:
            self.d_ff = 32 * math.ceil(8 * self.n_embd / 3 / 32) if self.ffn == "swiglu" else 4 * self.n_embd
        if not isinstance(self.d_ff, int) or self.d_ff < 1:
            raise ValueError(f"d_ff must be a positive int, got {self.d_ff!r}")
        for name in ("prenorm", "bias"):  # a string such as 'False' would be taken by its truthiness
            checks.boolean(name, getattr(self, name))
        checks.real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        checks.positive("norm_eps", self.norm_eps)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}; allowed: {sorted(known)}")
        return cls(**d)

    @classmethod
    def preset(cls, name: str, **overrides):
        """A named configuration, optionally with some fields changed (e.g. ``vocab_size=65``)."""
        checks.choice("preset", name, cls.PRESETS)
        return cls.from_dict({**cls.PRESETS[name], **overrides})

    def _block_params(self, cross: bool = False) -> int:
        """Parameters of one ``Block`` (must mirror its modules exactly)."""
        C, kv, F, b = self.n_embd, self.n_kv_head * (self.n_embd // self.n_head), self.d_ff, int(self.bias)
        norm = C * (2 if self.norm == "layernorm" and self.bias else 1)
        attn = C * (C + 2 * kv) + b * (C + 2 * kv) + C * C + b * C
        ffn = C * F * (2 if self.ffn == "swiglu" else 1) + b * F * (2 if self.ffn == "swiglu" else 1) + F * C + b * C
        return attn + ffn + 2 * norm + ((attn + norm) if cross else 0)

    def _norm_params(self) -> int:
        return self.n_embd * (2 if self.norm == "layernorm" and self.bias else 1)

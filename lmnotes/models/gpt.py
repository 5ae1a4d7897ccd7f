"""A decoder-only Transformer language model, GPT-2 or LLaMA style (book section 2.1.1).

Token ids -> embeddings (+ absolute positions) -> n_layer causal Transformer blocks -> final norm
-> logits over the vocabulary. The switches of chapter 2 are config fields: position scheme, norm
type and placement, FFN, bias, grouped-query attention, sliding-window attention, weight tying.
``forward`` returns logits only; the loss lives in ``lmnotes.training``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from lmnotes import checks
from lmnotes.models.layers import (
    POSITIONS,
    Block,
    BlockConfig,
    KVCache,
    Positions,
    build_mask,
    make_norm,
)

_GPT2 = dict(pos="learned", norm="layernorm", ffn="gelu_tanh", bias=True, tie_weights=True, vocab_size=50257)
_LLAMA = dict(pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False, vocab_size=32000)


@dataclass
class GPTConfig(BlockConfig):
    """Configuration of ``GPT``. Presets: tiny models for the course and the book's table of LLMs.

    ``pos``: "learned" | "sinusoidal" | "rope" | "alibi" | "t5" | "none";  ``window``: sliding-window
    attention span (None = full causal attention);  ``rope_theta``: RoPE's base (raise it for NTK-
    style scaling);  ``rope_scale``: position interpolation factor (positions are divided by it).
    """

    pos: str = "learned"
    window: int | None = None
    tie_weights: bool = True
    rope_theta: float = 10000.0
    rope_scale: float = 1.0
    t5_buckets: int = 32
    t5_max_distance: int = 128

    PRESETS: ClassVar[dict[str, dict]] = {
        "gpt2-tiny": dict(_GPT2, n_layer=4, n_head=4, n_embd=128, block_size=256),
        "gpt2-small": dict(_GPT2, n_layer=12, n_head=12, n_embd=768, block_size=1024),  # 124M
        "gpt2-medium": dict(_GPT2, n_layer=24, n_head=16, n_embd=1024, block_size=1024),  # 355M
        "gpt2-large": dict(_GPT2, n_layer=36, n_head=20, n_embd=1280, block_size=1024),  # 774M
        "gpt2-xl": dict(_GPT2, n_layer=48, n_head=25, n_embd=1600, block_size=1024),  # 1.56B
        "gpt3-175b": dict(_GPT2, n_layer=96, n_head=96, n_embd=12288, block_size=2048),
        "llama-tiny": dict(_LLAMA, n_layer=4, n_head=4, n_kv_head=2, n_embd=128, block_size=256),
        "llama2-7b": dict(_LLAMA, n_layer=32, n_head=32, n_embd=4096, d_ff=11008, block_size=4096),
        "llama2-13b": dict(_LLAMA, n_layer=40, n_head=40, n_embd=5120, d_ff=13824, block_size=4096),
        "llama2-70b": dict(_LLAMA, n_layer=80, n_head=64, n_kv_head=8, n_embd=8192, d_ff=28672, block_size=4096),
        "llama3-8b": dict(_LLAMA, n_layer=32, n_head=32, n_kv_head=8, n_embd=4096, d_ff=14336, block_size=8192,
                          vocab_size=128256, rope_theta=500000.0),
        "mistral-7b": dict(_LLAMA, n_layer=32, n_head=32, n_kv_head=8, n_embd=4096, d_ff=14336, block_size=32768,
                           window=4096),
    }

    def __post_init__(self):
        super().__post_init__()
        checks.choice("pos", self.pos, POSITIONS)
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"pos='rope' needs an even head size, got n_embd // n_head = {self.n_embd // self.n_head}")
        if self.window is not None and (not isinstance(self.window, int) or self.window < 1):
            raise ValueError(f"window must be None (full attention) or a positive int, got {self.window!r}")
        checks.boolean("tie_weights", self.tie_weights)
        checks.positive("rope_theta", self.rope_theta)
        checks.positive("rope_scale", self.rope_scale)  # 0 would divide every position by zero
        checks.size("t5_buckets", self.t5_buckets, high=100_000)
        checks.size("t5_max_distance", self.t5_max_distance, high=checks.MAX_SIZE)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count computed from the config alone (no model is built).

        ``non_embedding=True`` leaves out the token and learned position embeddings, the N of
        Kaplan et al.'s scaling laws (section 2.2.4). An untied output matrix is still counted.
        """
        C, V = self.n_embd, self.vocab_size
        embeddings = V * C + (self.block_size * C if self.pos == "learned" else 0)
        n = self.n_layer * self._block_params()
        n += self.t5_buckets * self.n_head if self.pos == "t5" else 0
        n += self._norm_params() if self.prenorm else 0
        n += 0 if self.tie_weights else V * C
        return n if non_embedding else n + embeddings



def kv_bytes_per_token(config: GPTConfig, bytes_per_value: int = 4) -> int:
    """Bytes the KV cache holds per token: keys and values of ``n_kv_head`` heads in every layer."""
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    bytes_per_value = checks.size("bytes_per_value", bytes_per_value, high=16)
    return 2 * config.n_layer * config.n_kv_head * (config.n_embd // config.n_head) * bytes_per_value

class GPT(nn.Module):
    """Decoder-only language model: ``forward(idx) -> logits`` of shape (B, T, vocab_size)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        c = self.config = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.positions = Positions(c.pos, c.n_embd, c.n_head, c.block_size, c.rope_theta, c.rope_scale,
                                   c.t5_buckets, c.t5_max_distance)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        # pre-norm needs a final norm (GPT-2's ln_f); post-norm blocks already end with one
        self.norm_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias) if c.prenorm else nn.Identity()
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight  # one matrix embeds and un-embeds tokens
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by 1/sqrt(2 n_layer)
            if name.endswith(("attn.proj.weight", "ffn.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        """Number of parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: KVCache | None = None, visible: torch.Tensor | None = None,
                causal: bool = True) -> torch.Tensor:
        """Logits (B, T, V) for token ids ``idx`` (B, T).

        ``attention_mask`` (B, past + T), 1 for tokens and 0 for padding, lets a batch hold left-
        padded prompts: positions then count from each row's first real token. ``cache`` (a
        ``KVCache``) holds the keys and values of earlier tokens; it is updated in place.
        ``visible``, a bool (T, past + T) or (B, T, past + T), is a custom attention pattern on top
        of the causal mask (True = query may look at key), in every layer; e.g.
        ``lmnotes.generative.longcontext.window_mask`` for a sliding window with attention sinks.
        ``causal=False`` drops the causal mask, so that ``visible`` alone decides what each query sees:
        with ``lmnotes.pretraining.objectives.prefix_lm_mask`` the model is a prefix LM (§1.2.3.1),
        its prefix read in both directions (T5 buckets then tell keys before and after apart).
        """
        c = self.config
        checks.token_ids("idx", idx, ndim=2, vocab_size=c.vocab_size)
        causal = checks.boolean("causal", causal)
        B, T = idx.shape
        past = len(cache) if cache is not None else 0
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache must be an lmnotes KVCache, got {type(cache).__name__}")
        padding = None
        if attention_mask is not None:
            padding = checks.mask("attention_mask", attention_mask, (B, past + T)).to(idx.device)
            pos_k = (padding.long().cumsum(-1) - 1).clamp(min=0)
        else:
            pos_k = torch.arange(past + T, device=idx.device)[None]
        pos_q = pos_k[:, past:]
        if visible is not None:
            checks.tensor("visible", visible, ndim=(2, 3), dtype="bool")
            if tuple(visible.shape[-2:]) != (T, past + T):
                raise ValueError(f"visible must have shape ({T}, {past + T}) or (batch, {T}, {past + T}) "
                                 f"(queries x keys), got {tuple(visible.shape)}")
            visible = visible.to(idx.device)

        x = self.wte(idx)
        absolute = self.positions.embed(pos_q)
        if absolute is not None:
            x = x + absolute
        x = self.drop(x)
        rope = self.positions.rope(pos_q)
        bias = self.positions.bias(pos_q, pos_k, bidirectional=not causal)
        mask, is_causal = build_mask(T, past, causal=causal, window=c.window, padding=padding, bias=bias,
                                     device=idx.device, visible=visible)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, is_causal, rope, cache, layer=i)
        return self.lm_head(self.norm_f(x))

"""An encoder-decoder Transformer for denoising and text-to-text tasks, T5/BART-like (section 1.2.3).

The encoder reads the (corrupted) source in both directions; the decoder predicts the target left
to right, attending to its own past (causal self-attention) and to the encoder's output (cross-
attention). Token embeddings are shared by encoder, decoder and output layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from lmnotes.models.gpt import GPT
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


@dataclass
class EncoderDecoderConfig(BlockConfig):
    """Configuration of ``EncoderDecoder``: ``n_layer`` encoder and ``n_layer`` decoder blocks."""

    pos: str = "learned"
    t5_buckets: int = 32
    t5_max_distance: int = 128

    PRESETS: ClassVar[dict[str, dict]] = {
        "t5-tiny": dict(vocab_size=512, block_size=256, n_layer=2, n_head=4, n_embd=128, d_ff=512, pos="t5",
                        norm="rmsnorm", ffn="relu", bias=False, norm_eps=1e-6),
        "bart-tiny": dict(vocab_size=512, block_size=256, n_layer=2, n_head=4, n_embd=128, pos="learned",
                          norm="layernorm", ffn="gelu"),
        "t5-small": dict(vocab_size=32128, block_size=512, n_layer=6, n_head=8, n_embd=512, d_ff=2048, pos="t5",
                         norm="rmsnorm", ffn="relu", bias=False, norm_eps=1e-6),  # 60M
    }

    def __post_init__(self):
        super().__post_init__()
        checks.choice("pos", self.pos, POSITIONS)
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"pos='rope' needs an even head size, got n_embd // n_head = {self.n_embd // self.n_head}")

    def num_params(self) -> int:
        """Parameter count from the config alone (shared, tied token embeddings)."""
        C = self.n_embd
        pos = {"learned": self.block_size * C, "t5": self.t5_buckets * self.n_head}.get(self.pos, 0)
        final_norms = 2 * self._norm_params() if self.prenorm else 0
        blocks = self.n_layer * (self._block_params() + self._block_params(cross=True))
        return self.vocab_size * C + 2 * pos + blocks + final_norms


class EncoderDecoder(nn.Module):
    """``forward(src, tgt) -> logits`` (B, T_tgt, V) of the next target token at each position."""

    def __init__(self, config: EncoderDecoderConfig):
        super().__init__()
        if not isinstance(config, EncoderDecoderConfig):
            raise TypeError(f"config must be an EncoderDecoderConfig, got {type(config).__name__}")
        c = self.config = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.enc_positions, self.dec_positions = (
            Positions(c.pos, c.n_embd, c.n_head, c.block_size, t5_buckets=c.t5_buckets,
                      t5_max_distance=c.t5_max_distance) for _ in range(2)
        )
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.decoder = nn.ModuleList(Block(c, cross=True) for _ in range(c.n_layer))
        self.enc_norm = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias) if c.prenorm else nn.Identity()
        self.dec_norm = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias) if c.prenorm else nn.Identity()
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        self.apply(GPT._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "ffn.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    def _embed(self, idx, positions: Positions, pos):
        x = self.wte(idx)
        absolute = positions.embed(pos)
        return self.drop(x if absolute is None else x + absolute)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder output (B, S, C); ``src_mask`` (B, S) marks real tokens with 1, padding with 0."""
        checks.token_ids("src", src, ndim=2, vocab_size=self.config.vocab_size)
        B, S = src.shape
        padding = None if src_mask is None else checks.mask("src_mask", src_mask, (B, S)).to(src.device)
        pos = torch.arange(S, device=src.device)[None]
        x = self._embed(src, self.enc_positions, pos)
        bias = self.enc_positions.bias(pos, pos, bidirectional=True)
        mask, _ = build_mask(S, causal=False, padding=padding, bias=bias, device=src.device)
        rope = self.enc_positions.rope(pos)
        for block in self.encoder:
            x = block(x, mask, rope=rope)
        return self.enc_norm(x)

    def decode(self, tgt, memory, src_mask=None, attention_mask=None, cache: KVCache | None = None):
        """Logits (B, T, V) for target ids ``tgt`` given the encoder output ``memory``.

        ``attention_mask`` (B, past + T) pads the target (left padding), ``cache`` holds the
        decoder's self-attention keys and values for generation.
        """
        checks.token_ids("tgt", tgt, ndim=2, vocab_size=self.config.vocab_size)
        B, T = tgt.shape
        past = len(cache) if cache is not None else 0
        padding = None
        if attention_mask is not None:
            padding = checks.mask("attention_mask", attention_mask, (B, past + T)).to(tgt.device)
            pos_k = (padding.long().cumsum(-1) - 1).clamp(min=0)
        else:
            pos_k = torch.arange(past + T, device=tgt.device)[None]
        pos_q = pos_k[:, past:]
        context_mask = None
        if src_mask is not None:
            context_mask = checks.mask("src_mask", src_mask, tuple(memory.shape[:2])).to(tgt.device)[:, None, None, :]
        x = self._embed(tgt, self.dec_positions, pos_q)
        bias = self.dec_positions.bias(pos_q, pos_k, bidirectional=False)
        mask, is_causal = build_mask(T, past, causal=True, padding=padding, bias=bias, device=tgt.device)
        rope = self.dec_positions.rope(pos_q)
        for i, block in enumerate(self.decoder):
            x = block(x, mask, is_causal, rope, cache, layer=i, context=memory, context_mask=context_mask)
        return self.lm_head(self.dec_norm(x))

    def forward(self, src, tgt, src_mask=None, tgt_mask=None) -> torch.Tensor:
        """Teacher-forced logits (B, T_tgt, V): the whole target is fed in at once."""
        return self.decode(tgt, self.encode(src, src_mask), src_mask, tgt_mask)

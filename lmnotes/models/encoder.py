"""A BERT-style bidirectional encoder with its pre-training and task heads (book sections 1.3-1.4).

Embeddings are token + position + segment vectors followed by LayerNorm; the blocks are post-norm
as in BERT and attend in both directions (only padding is masked). Heads:
  * masked-LM head (``forward``): dense + GELU + LayerNorm, then the tied token-embedding matrix;
  * [CLS] classification (``classify``): pooler (dense + tanh) then a linear layer; with
    ``num_labels=2`` on sentence pairs this is next-sentence prediction;
  * token classification (``tag``) for sequence labelling;
  * span extraction (``span``): start and end logits per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from lmnotes.models.gpt import GPT
from lmnotes import checks
from lmnotes.models.layers import Block, BlockConfig, Positions, build_mask

_BERT = dict(vocab_size=30522, block_size=512, ffn="gelu", norm="layernorm", prenorm=False, bias=True,
             norm_eps=1e-12, type_vocab_size=2)


@dataclass
class EncoderConfig(BlockConfig):
    """Configuration of ``Encoder``; BERT-base is the default. ``type_vocab_size``: number of
    segments (A/B); ``num_labels``: classes of the [CLS] head; ``num_token_labels``: tag classes."""

    vocab_size: int = 30522
    block_size: int = 512
    prenorm: bool = False
    norm_eps: float = 1e-12
    type_vocab_size: int = 2
    num_labels: int = 2
    num_token_labels: int = 2

    PRESETS: ClassVar[dict[str, dict]] = {
        "bert-tiny": dict(_BERT, n_layer=2, n_head=2, n_embd=128),
        "bert-mini": dict(_BERT, n_layer=4, n_head=4, n_embd=256),
        "bert-base": dict(_BERT, n_layer=12, n_head=12, n_embd=768),  # 110M
        "bert-large": dict(_BERT, n_layer=24, n_head=16, n_embd=1024),  # 340M
    }

    def __post_init__(self):
        super().__post_init__()
        for name in ("type_vocab_size", "num_labels", "num_token_labels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")

    def num_params(self) -> int:
        """Parameter count from the config alone: embeddings, blocks and all four heads."""
        C = self.n_embd
        embeddings = (self.vocab_size + self.block_size + self.type_vocab_size) * C + self._norm_params()
        mlm = C * C + C + self._norm_params() + self.vocab_size  # transform + output bias (matrix tied)
        heads = (C * C + C) + (C + 1) * self.num_labels + (C + 1) * self.num_token_labels + (C + 1) * 2
        return embeddings + self.n_layer * self._block_params() + mlm + heads


class Encoder(nn.Module):
    """BERT-style encoder. ``forward`` gives masked-LM logits (B, T, V); ``encode`` the hidden states."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if not isinstance(config, EncoderConfig):
            raise TypeError(f"config must be an EncoderConfig, got {type(config).__name__}")
        c = self.config = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.positions = Positions("learned", c.n_embd, c.n_head, c.block_size)
        self.segments = nn.Embedding(c.type_vocab_size, c.n_embd)
        self.norm_emb = nn.LayerNorm(c.n_embd, eps=c.norm_eps)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.mlm_dense = nn.Linear(c.n_embd, c.n_embd)
        self.mlm_norm = nn.LayerNorm(c.n_embd, eps=c.norm_eps)
        self.mlm_head = nn.Linear(c.n_embd, c.vocab_size)
        self.mlm_head.weight = self.wte.weight
        self.pooler = nn.Linear(c.n_embd, c.n_embd)
        self.cls_head = nn.Linear(c.n_embd, c.num_labels)
        self.token_head = nn.Linear(c.n_embd, c.num_token_labels)
        self.span_head = nn.Linear(c.n_embd, 2)
        self.apply(GPT._init_weights)

    def encode(self, idx, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        """Contextual vectors (B, T, C): every token attends to every non-padding token."""
        c = self.config
        checks.token_ids("idx", idx, ndim=2, vocab_size=c.vocab_size)
        B, T = idx.shape
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(idx)
        else:
            checks.token_ids("token_type_ids", token_type_ids, ndim=2, vocab_size=c.type_vocab_size)
            if token_type_ids.shape != idx.shape:
                raise ValueError(f"token_type_ids must have shape {tuple(idx.shape)}, got {tuple(token_type_ids.shape)}")
        padding = None if attention_mask is None else checks.mask("attention_mask", attention_mask, (B, T)).to(idx.device)
        pos = torch.arange(T, device=idx.device)[None]
        x = self.wte(idx) + self.positions.embed(pos) + self.segments(token_type_ids)
        x = self.drop(self.norm_emb(x))
        mask, _ = build_mask(T, causal=False, padding=padding, device=idx.device)
        for block in self.blocks:
            x = block(x, mask)
        return x

    def forward(self, idx, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        """Masked-LM logits (B, T, V) (section 1.3.1)."""
        return self.mlm_logits(self.encode(idx, token_type_ids, attention_mask))

    def mlm_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The masked-LM head on hidden states ``h`` (B, T, C) from :meth:`encode`."""
        return self.mlm_head(self.mlm_norm(F.gelu(self.mlm_dense(h))))

    def classify(self, idx, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        """Logits (B, num_labels) from the [CLS] (first) token: sentence(-pair) classification, NSP."""
        return self.cls_logits(self.encode(idx, token_type_ids, attention_mask))

    def cls_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The [CLS] head on hidden states ``h`` (B, T, C) from :meth:`encode`: reads ``h[:, 0]``."""
        return self.cls_head(torch.tanh(self.pooler(h[:, 0])))

    def tag(self, idx, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        """Per-token logits (B, T, num_token_labels) for sequence labelling."""
        return self.token_head(self.encode(idx, token_type_ids, attention_mask))

    def span(self, idx, token_type_ids=None, attention_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end logits (B, T) each, for extracting an answer span (section 1.4)."""
        start, end = self.span_head(self.encode(idx, token_type_ids, attention_mask)).unbind(-1)
        return start, end

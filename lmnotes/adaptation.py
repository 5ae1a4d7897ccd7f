"""What a task head reads from a pre-trained backbone: the shared core of adaptation.

Fine-tuning (chapter 1), reward models and value heads (chapter 4) and process verifiers all put a
small head on top of a GPT or an encoder. They share two steps, kept here so that no chapter imports
another: :func:`hidden_states` (the backbone's last hidden states, the input of its language-model
head) and :func:`pool_states` (one vector per sequence: mean, first or last token).
"""

from __future__ import annotations

import torch
from torch import nn

from lmnotes.models import GPT, Encoder

POOLS = ("mean", "first", "last")


def hidden_states(backbone: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                  token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The backbone's last hidden states (B, T, C): what a task head reads.

    For the ``Encoder`` this is ``encode``; for a ``GPT`` it is the input of the language-model head
    (after the final norm), caught with a forward pre-hook so ``GPT`` itself needs no change. A GPT has
    no segments: ``token_type_ids`` must be None for it.
    """
    if isinstance(backbone, Encoder):
        return backbone.encode(input_ids, token_type_ids, attention_mask)
    if not isinstance(backbone, GPT):
        raise TypeError(f"backbone must be an lmnotes Encoder or GPT, got {type(backbone).__name__}")
    if token_type_ids is not None:
        raise ValueError("token_type_ids must be None for a GPT backbone (it has no segment embeddings)")
    caught = []
    handle = backbone.lm_head.register_forward_pre_hook(lambda module, args: caught.append(args[0]))
    try:
        backbone(input_ids, attention_mask=attention_mask)
    finally:
        handle.remove()
    return caught[0]


def pool_states(h: torch.Tensor, attention_mask: torch.Tensor, pool: str) -> torch.Tensor:
    """One vector (B, C) per sequence from the hidden states (B, T, C) of right-padded rows."""
    mask = attention_mask.to(h.dtype)
    if pool == "mean":
        return (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    if pool == "first":
        return h[:, 0]
    if pool == "last":
        last = attention_mask.long().sum(1) - 1
        return h[torch.arange(h.shape[0]), last]
    raise ValueError(f"pool must be one of {list(POOLS)}, got {pool!r}")

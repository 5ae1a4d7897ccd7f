"""Soft prompts: prompt tuning and prefix tuning of a frozen causal model (book section 3.3.2).

A hard prompt is a sequence of vocabulary tokens; a *soft* prompt is a sequence of free vectors
learned by gradient descent while every weight of the model stays frozen.

* **Prompt tuning** (Lester et al. 2021): ``n_virtual`` trainable embeddings are put in front of the
  input's token embeddings; only they train (``n_virtual * n_embd`` parameters).
* **Prefix tuning** (Li and Liang 2021): trainable keys and values are put in front of every
  layer's attention, as if the model had already read ``n_virtual`` tokens; only they train
  (``n_virtual * n_layer * 2 * n_kv_head * d_head`` parameters). Here the prefix is stored directly,
  as peft's ``PrefixTuningConfig`` does without its re-parameterising MLP.

Both wrap an lmnotes ``GPT`` and keep its contract: ``forward(idx, attention_mask=None)`` returns
logits (B, T, V) for the real tokens only, so the losses of ``lmnotes.training`` and the scoring of
``lmnotes.prompting`` apply unchanged. The virtual tokens take positions 0..n_virtual - 1 and the
input starts at position n_virtual, as in peft (``tests/test_oracle_peft.py`` checks both wrappers
against peft on the same weights).
"""

from __future__ import annotations

import torch
from torch import nn

from lmnotes import checks
from lmnotes.models.gpt import GPT
from lmnotes.models.layers import KVCache


def _frozen_gpt(model) -> GPT:
    if not isinstance(model, GPT):
        raise TypeError(f"model must be an lmnotes GPT (a causal model), got {type(model).__name__}")
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _extended_mask(attention_mask, n_virtual: int, shape) -> torch.Tensor | None:
    """The input's padding mask with ones in front for the virtual tokens (which are never padding)."""
    if attention_mask is None:
        return None
    checks.tensor("attention_mask", attention_mask, ndim=2)
    if tuple(attention_mask.shape) != tuple(shape):
        raise ValueError(f"attention_mask must have the shape of idx {tuple(shape)}, got {tuple(attention_mask.shape)}")
    ones = torch.ones(shape[0], n_virtual, dtype=attention_mask.dtype, device=attention_mask.device)
    return torch.cat([ones, attention_mask], dim=1)


class PromptTuning(nn.Module):
    """A frozen GPT reading ``n_virtual`` trainable embeddings before every input (prompt tuning).

    ``init_ids`` (optional, ``n_virtual`` token ids) starts the soft prompt from those tokens'
    embeddings, as Lester et al. recommend; otherwise it starts from randomly chosen vocabulary
    embeddings drawn with ``seed``.
    """

    def __init__(self, model: GPT, n_virtual: int, init_ids: list[int] | None = None, seed: int = 0):
        super().__init__()
        self.model = _frozen_gpt(model)
        c = model.config
        self.n_virtual = checks.integer("n_virtual", n_virtual, low=1, high=c.block_size - 1)
        if init_ids is None:
            generator = torch.Generator().manual_seed(checks.integer("seed", seed))
            init_ids = torch.randint(c.vocab_size, (self.n_virtual,), generator=generator).tolist()
        if len(init_ids) != self.n_virtual or any(not 0 <= int(i) < c.vocab_size for i in init_ids):
            raise ValueError(f"init_ids must be {self.n_virtual} token ids in [0, {c.vocab_size}), got {init_ids!r}")
        weight = model.wte.weight
        self.prompt = nn.Parameter(weight[torch.tensor(init_ids, device=weight.device)].detach().clone())

    @property
    def config(self):
        """The wrapped model's config (so that scoring helpers read its block size)."""
        return self.model.config

    def forward(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.tensor("idx", idx, ndim=2, dtype="int")
        B, P = idx.shape[0], self.n_virtual
        padded = torch.cat([idx.new_zeros(B, P), idx], dim=1)  # placeholders whose embeddings we replace

        def soft_embeddings(module, inputs, output):
            return torch.cat([self.prompt.to(output.dtype).expand(B, -1, -1), output[:, P:]], dim=1)

        handle = self.model.wte.register_forward_hook(soft_embeddings)
        try:
            logits = self.model(padded, attention_mask=_extended_mask(attention_mask, P, idx.shape))
        finally:
            handle.remove()
        return logits[:, P:]


class PrefixTuning(nn.Module):
    """A frozen GPT whose every attention layer first sees ``n_virtual`` trainable keys and values.

    The prefix is one tensor of shape (n_virtual, n_layer, 2, n_kv_head, d_head) (peft's layout),
    drawn from N(0, ``init_std``^2) with ``seed``.
    """

    def __init__(self, model: GPT, n_virtual: int, init_std: float = 1.0, seed: int = 0):
        super().__init__()
        self.model = _frozen_gpt(model)
        c = model.config
        self.n_virtual = checks.integer("n_virtual", n_virtual, low=1, high=c.block_size - 1)
        generator = torch.Generator().manual_seed(checks.integer("seed", seed))
        shape = (self.n_virtual, c.n_layer, 2, c.n_kv_head, c.n_embd // c.n_head)
        prefix = torch.randn(shape, generator=generator) * checks.positive("init_std", init_std)
        self.prefix = nn.Parameter(prefix.to(model.wte.weight.device))

    @property
    def config(self):
        return self.model.config

    def cache(self, batch: int) -> KVCache:
        """A fresh ``KVCache`` holding the prefix's keys and values for ``batch`` rows."""
        cache = KVCache()
        kv = self.prefix.permute(1, 2, 3, 0, 4)  # (n_layer, 2, n_kv_head, n_virtual, d_head)
        for layer in range(kv.shape[0]):
            cache.update(layer, kv[layer, 0].expand(batch, -1, -1, -1), kv[layer, 1].expand(batch, -1, -1, -1))
        return cache

    def forward(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        checks.tensor("idx", idx, ndim=2, dtype="int")
        mask = _extended_mask(attention_mask, self.n_virtual, idx.shape)
        return self.model(idx, attention_mask=mask, cache=self.cache(idx.shape[0]))

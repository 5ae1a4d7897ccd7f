"""LoRA: low-rank adaptation of a frozen model (book section 3.3.2; Hu et al. 2022).

Fine-tuning changes a weight matrix W (out x in) by some dW. LoRA bets that the change a task needs
has low rank and writes it as a product of two thin matrices,

    h = W x + (alpha / r) * B A x,      A: r x in,   B: out x r,   r << min(in, out),

training only A and B while W stays frozen. A starts random and B at zero, so training starts from
the pre-trained model exactly; ``merge_lora`` folds B A into W afterwards, so inference costs
nothing extra. ``add_lora(model, r)`` wraps the chosen linear layers of an lmnotes model in
place and freezes everything else. The test
``tests/test_oracle_peft.py`` checks the outputs against ``peft``'s ``LoraConfig`` on the same
weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from lmnotes import checks

#: the linear layers of a Transformer block that ``add_lora`` adapts by default (fused q/k/v, output)
DEFAULT_TARGETS = ("attn.qkv", "attn.proj")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update (alpha / r) * B A."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        self.rank = checks.integer("rank", rank, low=1, high=min(base.in_features, base.out_features))
        self.alpha = float(self.rank) if alpha is None else checks.positive("alpha", alpha)
        self.scaling = self.alpha / self.rank
        self.base = base
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(self.rank, base.in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear (and peft) initialise A
        self.dropout = nn.Dropout(checks.probability("dropout", dropout, open_high=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merged(self) -> nn.Linear:
        """The plain linear layer with W + (alpha / r) B A: the same function, no extra cost."""
        linear = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device)
        with torch.no_grad():
            linear.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                linear.bias.copy_(self.base.bias)
        return linear


def _linear_layers(model: nn.Module, targets: Sequence[str]) -> list[str]:
    names = [name for name, module in model.named_modules()
             if isinstance(module, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)]
    if not names:
        linear = sorted({n.split(".", 2)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"targets {list(targets)} match no linear layer of the model; its linear layers "
                         f"are named (inside each block) {linear}")
    return names


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def add_lora(model: nn.Module, rank: int, alpha: float | None = None, targets: Sequence[str] = DEFAULT_TARGETS,
             dropout: float = 0.0) -> nn.Module:
    """Freeze ``model`` and wrap each linear layer named by ``targets`` in a ``LoRALinear``, in place.

    ``targets`` are module-name suffixes such as ``"attn.qkv"`` (the fused query/key/value matrix),
    ``"attn.proj"`` or ``"ffn.down"``. ``alpha`` defaults to ``rank`` (scaling 1). Returns the model.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    checks.integer("rank", rank, low=1)
    targets = checks.texts("targets", targets)
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("model already has LoRA layers: merge them (merge_lora) or start from a fresh copy")
    names = _linear_layers(model, targets)
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        _replace(model, name, LoRALinear(model.get_submodule(name), rank, alpha, dropout))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every ``LoRALinear`` by its merged linear layer, in place; returns the model."""
    layers = [name for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    if not layers:
        raise ValueError("model has no LoRA layers to merge (add them with add_lora)")
    for name in layers:
        _replace(model, name, model.get_submodule(name).merged())
    return model

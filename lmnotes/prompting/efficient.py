"""Parameter-efficient adaptation of a frozen model (book section 3.3.2): the methods side by side.

- :mod:`lmnotes.prompting.lora`: LoRA, a trainable low-rank update B A beside frozen linear layers.
- Soft prompts (prompt tuning, prefix tuning) live with the other prompts, in
  :mod:`lmnotes.prompting.soft_prompts`.

This module compares them with full fine-tuning on one task posed as text to continue: ``adapter``
builds each method on a fresh copy of a frozen model, ``trainable_share`` counts what trains,
``label_batches`` and ``label_accuracy`` train and score a label-word task (a prompt, then the
label's word), and ``adapt`` runs one method at one learning rate through ``lmnotes.training.train``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from lmnotes import checks
from lmnotes.data.datasets import pad_collate
from lmnotes.prompting.icl import classify_by_label_words
from lmnotes.prompting.lora import add_lora
from lmnotes.prompting.soft_prompts import PrefixTuning, PromptTuning
from lmnotes.training import train

#: the methods ``adapter`` builds, fewest trainable parameters first
METHODS = ("prompt tuning", "prefix tuning", "lora", "full")

__all__ = ["METHODS", "adapt", "adapter", "label_accuracy", "label_batches", "trainable_share"]


def trainable_share(model: nn.Module) -> dict[str, float]:
    """``{"trainable", "total", "share"}``: parameters with ``requires_grad``, all parameters (a tied
    matrix once), and their ratio, as peft's ``print_trainable_parameters`` reports it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    if total == 0:
        raise ValueError("model has no parameters")
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return {"trainable": trainable, "total": total, "share": trainable / total}


def adapter(model: nn.Module, method: str, size: int = 8, seed: int = 0) -> nn.Module:
    """A fresh copy of ``model`` (an lmnotes GPT) set up for ``method``; ``model`` is left untouched.

    ``size`` is the number of virtual tokens for prompt and prefix tuning and the rank for LoRA
    (on the fused query/key/value and output projections); ``full`` trains every weight.
    """
    checks.choice("method", method, METHODS)
    size = checks.integer("size", size, low=1)
    copied = copy.deepcopy(model)
    if method == "prompt tuning":
        return PromptTuning(copied, size, seed=seed)
    if method == "prefix tuning":
        return PrefixTuning(copied, size, init_std=0.5, seed=seed)
    if method == "lora":
        torch.manual_seed(checks.integer("seed", seed))  # A's random start
        try:
            return add_lora(copied, size)
        except ValueError as error:  # name the argument the caller gave: size is LoRA's rank here
            raise ValueError(f"size (LoRA's rank): {error}") from None
    for p in copied.parameters():
        p.requires_grad_(True)
    return copied


def _items(items) -> list[tuple[str, str]]:
    if isinstance(items, (str, Mapping)) or not isinstance(items, Sequence) or not items:
        raise ValueError(f"items must be a non-empty list of (text, label) pairs, got {items!r:.80}")
    bad = [i for i, it in enumerate(items) if not (isinstance(it, (tuple, list)) and len(it) == 2
                                                  and isinstance(it[0], str))]
    if bad:
        raise ValueError(f"items[{bad[0]}] must be a (text, label) pair, got {items[bad[0]]!r:.80}")
    return [tuple(it) for it in items]


def _template(template: str) -> str:
    if not isinstance(template, str) or "{input}" not in template:
        raise ValueError(f"template must be a str holding '{{input}}', e.g. '{{input}} ->', got {template!r}")
    return template


def label_batches(tokenizer, items, template: str, label_words: Mapping, batch_size: int = 32,
                  seed: int = 0) -> Callable[[int], dict]:
    """A ``step -> batch`` function for ``train``: ``batch_size`` items drawn with ``seed`` and the step,
    each ``template.format(input=text)`` followed by its label's word, with the loss on that word only."""
    items, template = _items(items), _template(template)
    if not isinstance(label_words, Mapping) or not label_words:
        raise ValueError(f"label_words must be a non-empty {{label: word}} dict, got {label_words!r:.60}")
    missing = sorted({str(y) for _, y in items} - {str(k) for k in label_words})
    if missing:
        raise ValueError(f"label_words has no word for labels {missing}")
    batch_size = checks.size("batch_size", batch_size, high=len(items))
    seed = checks.integer("seed", seed)
    encoded = []
    for x, y in items:
        prompt = template.format(input=x)
        ids, full = tokenizer.encode(prompt), tokenizer.encode(f"{prompt} {label_words[y]}")
        encoded.append((ids, full[len(ids):]))

    def batch(step: int) -> dict:
        rng = random.Random(seed * 1_000_003 + step)
        return pad_collate([encoded[rng.randrange(len(encoded))] for _ in range(batch_size)], pad_id=0)

    return batch


def label_accuracy(model: nn.Module, tokenizer, items, template: str, label_words: Mapping) -> float:
    """Share of ``(text, label)`` items whose label word is the likeliest of ``label_words`` after
    ``template.format(input=text)`` (``prompting.classify_by_label_words``)."""
    items, template = _items(items), _template(template)
    predicted = classify_by_label_words(model, tokenizer, [template.format(input=x) for x, _ in items], label_words)
    return sum(p == y for p, (_, y) in zip(predicted, items)) / len(items)


def adapt(model: nn.Module, method: str, tokenizer, train_items, eval_sets: Mapping[str, Sequence], template: str,
          label_words: Mapping, *, size: int = 8, lr: float, steps: int = 300, batch_size: int = 32, seed: int = 0,
          progress: bool = False) -> dict:
    """Train ``method`` on a copy of ``model`` at learning rate ``lr`` and measure it.

    Returns ``{"method", "size", "lr", "seed", "steps", "trainable", "total", "share", "first_loss",
    "final_loss" (training losses of the first and last batch),
    "<name>_accuracy" for each of eval_sets, "model"}`` (the adapted model last, for further use).
    The schedule is ``train``'s (10% warm-up, cosine to lr/10, no weight decay: a soft prompt has
    no reason to shrink towards zero).
    """
    checks.positive("lr", lr)
    steps = checks.size("steps", steps, high=100_000)
    adapted = adapter(model, method, size, seed)
    batches = label_batches(tokenizer, train_items, template, label_words, batch_size, seed)
    history = train(adapted, batches, steps=steps, lr=lr, warmup=max(1, steps // 10), weight_decay=0.0,
                    seed=seed, progress=progress)
    adapted.eval()
    out = dict(method=method, size=size, lr=lr, seed=seed, steps=steps, **trainable_share(adapted),
               first_loss=round(history.train_loss[0], 4), final_loss=round(history.train_loss[-1], 4))
    for name, items in eval_sets.items():
        out[f"{name}_accuracy"] = label_accuracy(adapted, tokenizer, items, template, label_words)
    out["model"] = adapted
    return out

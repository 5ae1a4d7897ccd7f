"""Context distillation (book section 3.3.2.1): move what a long prompt does into the weights.

A *teacher* is the frozen model reading a long context (an instruction, demonstrations) before each
query; a *student* is a copy of the model reading only a short prompt. The student is trained so
that its next-token distribution after the short prompt matches the teacher's after the long one,

    min over the student   E_x [ KL( p_teacher( . | long context, x) || p_student( . | short prompt, x) ) ],

on queries x that need no labels: the teacher's outputs are the targets. Afterwards every query is
served with the short prompt, saving the long context's tokens each time. The KL term is
``lmnotes.training.distillation_loss`` (temperature 1, soft term only); training goes through
``lmnotes.training.train``.

* ``last_token_logits``: what a model predicts next after each prompt (the teacher's targets);
* ``distill_context``: train a student on (short prompt, teacher logits) pairs;
* ``kl_to_teacher``: the mean KL left after training; ``tokens_saved``: the context's cost.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from lmnotes import checks
from lmnotes.prompting.icl import _check_model, _left_pad
from lmnotes.training import distillation_loss, evaluating, train


def _prompts(prompts) -> list[str]:
    prompts = checks.texts("prompts", prompts)
    if any(not p for p in prompts):
        raise ValueError("prompts must be non-empty strings")
    return prompts


def _padded(tokenizer, prompts: Sequence[str]):
    return _left_pad([tokenizer.encode(p) for p in prompts], getattr(tokenizer, "pad_token_id", None) or 0)


@torch.no_grad()
def last_token_logits(model, tokenizer, prompts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """The logits (N, V) of the token after each prompt (prompts left-padded, padding masked)."""
    _check_model(model)
    prompts = _prompts(prompts)
    batch_size = checks.size("batch_size", batch_size)
    with evaluating(model):
        out = []
        for i in range(0, len(prompts), batch_size):
            ids, mask = _padded(tokenizer, prompts[i:i + batch_size])
            out.append(model(ids, attention_mask=mask)[:, -1].float())
        return torch.cat(out)


def _teacher(teacher_logits, n: int) -> torch.Tensor:
    checks.tensor("teacher_logits", teacher_logits, ndim=2, dtype="float")
    if teacher_logits.shape[0] != n:
        raise ValueError(f"teacher_logits must have one row per prompt ({n}), got {teacher_logits.shape[0]}")
    return teacher_logits


def distill_context(student, tokenizer, student_prompts: Sequence[str], teacher_logits: torch.Tensor, *,
                    steps: int = 200, lr: float = 1e-2, batch_size: int = 32, seed: int = 0,
                    progress: bool = True):
    """Train ``student`` in place so that after each short prompt it predicts the teacher's
    distribution (``teacher_logits``, one row per prompt); returns ``train``'s History."""
    prompts = _prompts(student_prompts)
    targets = _teacher(teacher_logits, len(prompts)).detach()
    batch_size = checks.size("batch_size", batch_size, high=len(prompts))
    seed = checks.integer("seed", seed)

    def batch(step: int) -> dict:
        rows = random.Random(seed * 1_000_003 + step).sample(range(len(prompts)), batch_size)
        ids, mask = _padded(tokenizer, [prompts[r] for r in rows])
        return {"input_ids": ids, "attention_mask": mask, "teacher": targets[rows]}

    def loss_fn(model, b):
        logits = model(b["input_ids"], attention_mask=b["attention_mask"])[:, -1]
        return distillation_loss(logits, b["teacher"], temperature=1.0, alpha=1.0)

    return train(student, batch, steps=checks.size("steps", steps, high=100_000), lr=lr,
                 warmup=max(1, steps // 10), weight_decay=0.0, loss_fn=loss_fn, seed=seed, progress=progress)


def kl_to_teacher(student, tokenizer, student_prompts: Sequence[str], teacher_logits: torch.Tensor) -> float:
    """Mean KL(teacher || student) in nats over the prompts, on the next token's full distribution."""
    prompts = _prompts(student_prompts)
    teacher = _teacher(teacher_logits, len(prompts)).log_softmax(-1)
    student_logp = last_token_logits(student, tokenizer, prompts).log_softmax(-1)
    return float((teacher.exp() * (teacher - student_logp)).sum(-1).mean())


def tokens_saved(tokenizer, long_prompts: Sequence[str], short_prompts: Sequence[str]) -> float:
    """Mean number of tokens per query that the short prompt saves over the long one."""
    long_prompts, short_prompts = _prompts(long_prompts), _prompts(short_prompts)
    if len(long_prompts) != len(short_prompts):
        raise ValueError(f"long_prompts and short_prompts must pair up, got {len(long_prompts)} and {len(short_prompts)}")
    return sum(len(tokenizer.encode(a)) - len(tokenizer.encode(b))
               for a, b in zip(long_prompts, short_prompts)) / len(long_prompts)

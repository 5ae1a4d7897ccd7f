"""Supervised fine-tuning on instructions (book section 4.2.1): the loss on the response only.

SFT trains a pre-trained language model on (instruction x, response y) pairs. It keeps the
next-token cross-entropy of pre-training but counts only the response's tokens (Eq. 4.1-4.4):

    loss = - (1 / |y|) sum_i log Pr(y_i | x, y_<i)

so the model learns to answer, not to write instructions. Averaged over a batch this is the mean
over every counted token of every sequence (what ``lmnotes.training.lm_loss`` computes with a loss
mask, and what ``trl``'s ``SFTTrainer`` computes on prompt/completion data). A conversation of
several turns (Eq. 4.5-4.7) is one sequence whose mask is 1 on every assistant turn and 0 on every
user turn: one forward pass trains every answer, each conditioned on all that came before it.

The batches come from :func:`lmnotes.data.pad_collate` (which builds the masks) and the training
from :func:`lmnotes.training.train`; answers are decoded greedily with :mod:`lmnotes.generation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from lmnotes import checks
from lmnotes.data import pad_collate, toyworld
from lmnotes.generation import generate
from lmnotes.training import History, train

#: what a conversation's turns look like: ``user : TEMPLATE : WORDS .`` then `` assistant : ANSWER .``
USER, ASSISTANT = "user :", "assistant :"


def encode_pair(tokenizer, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """``(prompt_ids, response_ids)`` of one instruction/response pair, ready for ``pad_collate``."""
    prompt, response = checks.text("prompt", prompt), checks.text("response", response)
    return list(tokenizer.encode(prompt.strip())), list(tokenizer.encode(response.strip()))


def conversation(n_turns: int, seed: int, templates: str = "seen") -> list[str]:
    """One toy conversation of ``n_turns`` instruction turns, as alternating segments
    ``[user_1, assistant_1, user_2, assistant_2, ...]`` (each a string; ``user_k`` starts with
    ``"user :"`` and ends with ``"assistant :"``, so joining them gives the dialogue's text)."""
    n_turns = checks.size("n_turns", n_turns, high=16)
    records = toyworld.instructions(n_turns, seed=checks.integer("seed", seed), templates=templates)
    segments = []
    for record in records:
        segments += [record.prompt, record.response]
    return segments


def conversation_mask(tokenizer, segments: Sequence[str]) -> tuple[list[str], list[int]]:
    """The tokens of a conversation and, for each, whether SFT predicts it (1) or not (0).

    Token t counts when it is in an assistant segment (odd index): the mask that Eq. 4.5-4.7 sum
    over. (``pad_collate`` shifts the same mask by one to align it with next-token targets.)
    """
    segments = checks.texts("segments", list(segments) if isinstance(segments, tuple) else segments)
    if len(segments) < 2:
        raise ValueError(f"segments must alternate user and assistant turns (at least 2), got {len(segments)}")
    tokens, mask = [], []
    for k, segment in enumerate(segments):
        ids = tokenizer.encode(segment.strip())
        tokens += [tokenizer.decode([i]) for i in ids]
        mask += [k % 2] * len(ids)
    return tokens, mask


def sft_batches(examples: Sequence[Sequence[Sequence[int]]], batch_size: int, *, seed: int = 0,
                response_only: bool = True, pad_id: int = 0) -> Callable[[int], dict]:
    """A function ``step -> batch`` drawing ``batch_size`` examples (with replacement, from a seeded
    generator) and padding them with ``pad_collate``: the batches :func:`sft` trains on.

    ``examples`` are ``(prompt_ids, response_ids)`` or longer alternating segment lists;
    ``response_only=False`` counts every token (the full-sequence loss of pre-training).
    """
    if not isinstance(examples, (list, tuple)) or not examples:
        raise ValueError(f"examples must be a non-empty list of (prompt_ids, response_ids), got {type(examples).__name__}")
    batch_size = checks.size("batch_size", batch_size, high=100_000)
    response_only = checks.boolean("response_only", response_only)
    order = torch.Generator().manual_seed(checks.integer("seed", seed))

    def batches(step: int) -> dict:
        pick = torch.randint(len(examples), (batch_size,), generator=order).tolist()
        return pad_collate([examples[i] for i in pick], pad_id, response_only=response_only)

    return batches


def sft(model: nn.Module, records: Sequence, tokenizer, *, steps: int, lr: float = 1e-3, batch_size: int = 32,
        response_only: bool = True, warmup: int | None = None, seed: int = 0, weight_decay: float = 0.0,
        eval_fn: Callable | None = None, eval_every: int | None = None, progress: bool = True) -> History:
    """Fine-tune ``model`` in place on instruction ``records`` (``.prompt``/``.response``) for
    ``steps`` AdamW updates of ``batch_size`` pairs, the loss on responses only (Eq. 4.4) unless
    ``response_only=False``; returns the run's ``History`` (through :func:`lmnotes.training.train`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    records = list(records)
    if not records or not all(hasattr(r, "prompt") and hasattr(r, "response") for r in records):
        raise ValueError("records must be a non-empty list of records with .prompt and .response")
    steps = checks.size("steps", steps, high=1_000_000)
    warmup = min(steps // 10, 100) if warmup is None else checks.integer("warmup", warmup, 0, steps - 1)
    examples = [encode_pair(tokenizer, r.prompt, r.response) for r in records]
    batches = sft_batches(examples, batch_size, seed=seed, response_only=response_only)
    return train(model, batches, steps=steps, lr=lr, warmup=warmup, weight_decay=weight_decay, seed=seed,
                 eval_fn=eval_fn, eval_every=eval_every, progress=progress)


@torch.no_grad()
def respond(model: nn.Module, prompts: Sequence[str], tokenizer, *, max_new_tokens: int = 16,
            batch_size: int = 256) -> list[str]:
    """The greedy response to each prompt, up to and including its first ``"."``.

    Prompts are decoded in batches (right-padded, with an attention mask: ``generate`` left-aligns
    them, and the model counts positions from each row's first real token).
    """
    prompts = checks.texts("prompts", list(prompts) if isinstance(prompts, tuple) else prompts)
    max_new_tokens = checks.size("max_new_tokens", max_new_tokens, high=1000)
    batch_size = checks.size("batch_size", batch_size, high=100_000)
    stop = tokenizer.encode(".")[-1]
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        ids = [tokenizer.encode(p.strip()) for p in prompts[start:start + batch_size]]
        width = max(len(i) for i in ids)
        idx = torch.zeros(len(ids), width, dtype=torch.long)
        mask = torch.zeros(len(ids), width, dtype=torch.long)
        for row, seq in enumerate(ids):
            idx[row, :len(seq)], mask[row, :len(seq)] = torch.tensor(seq), 1
        new = generate(model, idx, max_new_tokens, stop=stop, attention_mask=mask)[:, width:]
        for row in new.tolist():
            words = tokenizer.decode(row).split()
            out.append(" ".join(words[:words.index(".") + 1] if "." in words else words))
    return out


def instruction_scores(model: nn.Module, records: Sequence, tokenizer, **kwargs) -> dict:
    """Greedy responses to ``records`` scored two ways: ``accuracy`` (the share equal to the right
    response) and ``gold_reward`` (the mean of ``toyworld.hidden_reward``, at most 2.5 for a polite
    right answer; 2.0 for the bare right answer). ``n`` is the number of records."""
    records = list(records)
    if not records:
        raise ValueError("records must hold at least one instruction record")
    answers = respond(model, [r.prompt for r in records], tokenizer, **kwargs)
    right = [a.split() == r.response.split() for a, r in zip(answers, records)]
    rewards = [toyworld.hidden_reward(r.prompt, a) for a, r in zip(answers, records)]
    return {"accuracy": sum(right) / len(records), "gold_reward": sum(rewards) / len(records), "n": len(records)}


def held_out_instructions(n: int, seed: int, *, model: str = "toyworld-gpt", exclude: Sequence[str] = (),
                          **kwargs) -> list:
    """``n`` instruction records (``toyworld.instructions(..., **kwargs)``) whose prompt occurs
    neither in bundled ``model``'s training data (``data.overlap``) nor in ``exclude`` (e.g. the
    prompts of a fine-tuning set): an evaluation set no model saw. Draws 3n candidates; raises if
    fewer than ``n`` survive."""
    from lmnotes.data import overlap

    n = checks.size("n", n, high=checks.MAX_EXAMPLES)
    excluded = set(checks.texts("exclude", list(exclude), allow_empty_list=True))
    pool = [r for r in toyworld.instructions(3 * n, seed=checks.integer("seed", seed), **kwargs)
            if r.prompt not in excluded]
    kept = overlap.unseen(model, pool, text="prompt") if pool else []
    if len(kept) < n:
        raise ValueError(f"only {len(kept)} of {3 * n} drawn instructions are unseen; ask for fewer than n={n}")
    return kept[:n]

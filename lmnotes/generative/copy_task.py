"""A copy task beside perplexity (book section 2.3.6): does a model use a passage it has already read?

Each document holds a passage, some filler text, and the same passage again. A model that uses its
context predicts the repeated passage far better than its first reading (large LLMs copy almost
perfectly: induction); a model that only uses local statistics predicts both equally well, whatever
its perplexity.

* ``copy_documents``: documents passage + filler + passage cut from one text, and where the repeat starts.
* ``copy_accuracy``: per document, the share of the repeated passage's characters (after its first)
  that are the model's top choice, and the same on the first reading; the model's loss on both.
  ``skip`` leaves out the first predictions of each reading: the repeat is glued to the filler with no
  transition, so its first characters are hard for a reason that has nothing to do with copying.
* ``induction_accuracy``: the same score for a rule with no model at all, which predicts the token that
  followed the latest earlier occurrence of the last ``context`` tokens (a ceiling for copying).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmnotes import checks
from lmnotes.models.gpt import GPT
from lmnotes.training import evaluating


def copy_documents(ids: torch.Tensor, n: int, length: int, gap: int, lead: int = 16) -> tuple[torch.Tensor, int, int]:
    """``n`` documents cut one after another from the token ids ``ids`` (1-D): ``lead`` tokens, a passage
    of ``length`` tokens, ``gap`` tokens of the text that follows it, and the passage again. Returns the
    (n, lead + 2 * length + gap) ids, where the first reading starts (``lead``) and where the repeat starts."""
    ids = checks.token_ids("ids", ids, ndim=1)
    n, length = checks.size("n", n), checks.size("length", length, low=2)
    gap, lead = checks.integer("gap", gap, low=0), checks.integer("lead", lead, low=0)
    span = lead + length + gap
    if n * span > len(ids):
        raise ValueError(f"ids hold {len(ids)} tokens, fewer than n * (lead + length + gap) = {n * span}")
    docs = [torch.cat([ids[i * span: (i + 1) * span], ids[i * span + lead: i * span + lead + length]]) for i in range(n)]
    return torch.stack(docs), lead, lead + length + gap


def _scores(pred: torch.Tensor, ids: torch.Tensor, first: int, repeat: int, length: int, skip: int = 0):
    """Per-document accuracy of ``pred`` (pred[:, t] guesses ids[:, t + 1]) on both readings, leaving
    out the first ``skip`` predictions of each."""
    on = lambda start: (pred[:, start + skip: start + length - 1] == ids[:, start + 1 + skip: start + length]
                        ).float().mean(-1)
    return on(repeat), on(first)


def _check_readings(ids, first: int, repeat: int, skip: int):
    checks.tensor("ids", ids, ndim=2, dtype="int")
    length = ids.shape[1] - checks.integer("repeat", repeat, low=1, high=ids.shape[1] - 2)
    first = checks.integer("first", first, low=0, high=repeat - length)
    skip = checks.integer("skip", skip, low=0, high=length - 2)  # at least one prediction left
    return length, first, skip


def copy_accuracy(model: GPT, ids: torch.Tensor, first: int, repeat: int, visible: torch.Tensor | None = None,
                  skip: int = 0) -> dict:
    """Per document (rows of ``ids``, from ``copy_documents``): ``repeat`` and ``first``, the share of the
    passage's characters 2..length that are the model's top choice on the repeat and on the first
    reading, and ``repeat_loss`` and ``first_loss``, its mean next-token loss (nats) on the same
    characters; ``visible`` as in ``GPT.forward`` (e.g. a sliding window); ``skip``: score only the
    characters past the first ``skip`` + 1 of each reading. Each value is an (n,) tensor."""
    checks.instance("model", model, GPT)
    checks.token_ids("ids", ids, vocab_size=model.config.vocab_size, ndim=2)
    length, first, skip = _check_readings(ids, first, repeat, skip)
    with torch.no_grad(), evaluating(model):
        logits = model(ids[:, :-1], visible=visible)
    losses = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    on = lambda start: losses[:, start + skip: start + length - 1].mean(-1)
    accuracy = _scores(logits.argmax(-1), ids, first, repeat, length, skip)
    return dict(repeat=accuracy[0], first=accuracy[1], repeat_loss=on(repeat), first_loss=on(first))


def induction_accuracy(ids: torch.Tensor, first: int, repeat: int, context: int = 8, skip: int = 0):
    """``copy_accuracy`` for a rule without a model: at each position, find the latest earlier place where
    the last ``context`` tokens occurred and predict the token that followed them there (no match: no
    prediction, counted wrong)."""
    length, first, skip = _check_readings(ids, first, repeat, skip)
    context = checks.size("context", context)
    pred = torch.full_like(ids[:, :-1], -1)
    for row in range(len(ids)):
        seq = ids[row].tolist()
        for t in range(context - 1, len(seq) - 1):
            key = seq[t - context + 1: t + 1]
            for s in range(t - 1, context - 2, -1):
                if seq[s - context + 1: s + 1] == key:
                    pred[row, t] = seq[s + 1]
                    break
    return _scores(pred, ids, first, repeat, length, skip)

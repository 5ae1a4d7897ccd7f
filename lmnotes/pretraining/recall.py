"""Recall baselines: what looking the answer up in the training text scores (sections 1.2.2-1.2.3).

A tiny model trained on a small toy world reads every statement of that world many times. A test
document that occurs nowhere in its training text can still be a new *order* of statements it has
read, and then filling a blank in it is recall, not inference. These functions measure how much of a
test set is made of training statements, and score the rules a model could have learned by heart:
look the blanked statement up (:func:`lookup_fill`), pick the candidate that most often precedes the
blank's right neighbour (:func:`bigram_fill`), or flag a token whose bigram never occurs in the
training rows (:func:`bigram_flags`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch

from lmnotes import checks
from lmnotes.data import toyworld

__all__ = ["statements", "statement_overlap", "lookup_fill", "bigram_fill", "bigram_flags"]


def statements(tokens: Sequence, end="."):
    """A toy-world text's statements: its ``tokens`` (words, or token ids with ``end`` an id) cut after
    each ``end``, each statement a tuple ending with it (a trailing part without one is kept too)."""
    if isinstance(tokens, torch.Tensor):
        raise TypeError("tokens must be a list of words or token ids, got a tensor: use .tolist()")
    return toyworld.split_after(tokens, (end,))


def _statement_counts(training: Sequence[str]) -> Counter:
    return Counter(s for d in checks.texts("training", training) for s in statements(d.split()))


def statement_overlap(training: Sequence[str], documents: Sequence[str]) -> dict[str, float]:
    """How far ``documents`` are made of ``training``'s statements.

    Returns ``statements`` (how many the documents hold), ``distinct`` (how many distinct ones),
    ``in_training`` (the share that occur as a statement of a training document), ``times_read``
    (how often, on average, each was read in training) and ``same_set`` (the share of documents
    whose set of statements is that of some training document: only their order is new).
    """
    counts = _statement_counts(training)
    sets = {frozenset(statements(d.split())) for d in training}
    split = [statements(d.split()) for d in checks.texts("documents", documents)]
    flat = [s for doc in split for s in doc]
    if not flat:
        raise ValueError("documents must hold at least one word")
    return {"statements": len(flat), "distinct": len(set(flat)),
            "in_training": sum(s in counts for s in flat) / len(flat),
            "times_read": sum(counts[s] for s in flat) / len(flat),
            "same_set": sum(frozenset(doc) in sets for doc in split) / len(split)}


def lookup_fill(training: Sequence[str], items: Sequence, *, left_only: bool = False) -> list[str | None]:
    """Fill each cloze item's blank by looking its statement up in ``training``.

    The statement holding the blank (from the "." before it to the next "." after it) is matched
    against every training statement of the same length that agrees on all its other words; the
    answer is the word those statements have at the blank, the most often read first. When several
    fit, one that also occurs elsewhere in the item wins (a name repeated later in the document).
    If none fits, the blank is taken to end its statement. With ``left_only`` only the words on the
    blank's left within its statement are matched (what a left-to-right reader has). Only the
    item's candidates are answered; ``None`` where no training statement fits.
    """
    counts = _statement_counts(training)
    out = []
    for item in items:
        words, i = tuple(item.words), item.blank
        if not 0 <= i < len(words):
            raise ValueError(f"items: blank {i} is outside its {len(words)} words")
        start = max([j + 1 for j in range(i) if words[j] == "."], default=0)
        end = next((j for j in range(i + 1, len(words)) if words[j] == "."), len(words) - 1)
        pattern, k = words[start:end + 1], i - start
        allowed = set(item.candidates)
        found = Counter()
        for s, n in counts.items():
            if left_only:
                fits = len(s) > k and s[:k] == pattern[:k]
            else:
                fits = len(s) == len(pattern) and all(a == b for j, (a, b) in enumerate(zip(s, pattern)) if j != k)
            if fits and s[k] in allowed:
                found[s[k]] += n
        if not found and not left_only:  # the blank may be the "." that ends its statement
            found.update({s[k]: n for s, n in counts.items() if len(s) == k + 1 and s[:k] == pattern[:k]
                          and s[k] in allowed})
        ranked = [w for w, _ in found.most_common()]
        if not left_only:
            rest = set(words[:i] + words[i + 1:])
            ranked = [w for w in ranked if w in rest] + [w for w in ranked if w not in rest]
        out.append(ranked[0] if ranked else None)
    return out


def bigram_fill(training: Sequence[str], items: Sequence) -> list[str | None]:
    """Fill each cloze item's blank with the candidate that most often comes just before the blank's right
    neighbour in ``training``: the count of the bigram (candidate, next word), a one-word rule that reads the
    right side and nothing else. The first candidate wins a tie; ``None`` where no candidate ever precedes
    that word (or the blank ends the item)."""
    training = checks.texts("training", training)
    counts = Counter(pair for text in training for pair in zip(text.split(), text.split()[1:]))
    out = []
    for item in items:
        words, i = tuple(item.words), item.blank
        if not 0 <= i < len(words):
            raise ValueError(f"items: blank {i} is outside its {len(words)} words")
        scores = [counts[(c, words[i + 1])] if i + 1 < len(words) else 0 for c in item.candidates]
        out.append(item.candidates[scores.index(max(scores))] if scores and max(scores) else None)
    return out


def bigram_flags(training_rows: torch.Tensor, input_ids: torch.Tensor, *, pad_id: int) -> torch.Tensor:
    """Replaced-token detection by lookup: flag a token when a bigram it forms with its left or right
    neighbour never occurs in ``training_rows`` (both (N, T) token ids, padded with ``pad_id``).
    Returns a bool tensor shaped like ``input_ids``; padding is never flagged."""
    training_rows, input_ids = checks.token_ids("training_rows", training_rows, ndim=2), checks.token_ids("input_ids", input_ids, ndim=2)
    seen = set()
    for row in training_rows.tolist():
        row = [t for t in row if t != pad_id]
        seen.update(zip(row, row[1:]))
    flags = torch.zeros(input_ids.shape, dtype=torch.bool)
    for r, row in enumerate(input_ids.tolist()):
        n = next((j for j, t in enumerate(row) if t == pad_id), len(row))
        for j in range(n):
            left = j > 0 and (row[j - 1], row[j]) not in seen
            right = j + 1 < n and (row[j], row[j + 1]) not in seen
            flags[r, j] = left or right
    return flags

"""Stopping criteria (book section 5.1.3.6) applied to a continuation that was already generated.

Greedy decoding is deterministic, so stopping it after t tokens gives exactly the first t tokens of
a longer greedy run: one long continuation per prompt shows where each criterion would have stopped
it. ``stopping_point`` returns that length for any mix of the criteria ``generate`` runs (a maximum
length, end-of-sequence and other stop tokens, stop strings) and one it does not, repetition
detection: stop once the last ``repeat_ngram`` tokens already occurred, in that order, earlier in
the continuation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmnotes import checks


def stopping_point(tokens, *, max_length: int | None = None, stop_ids: Sequence[int] = (),
                   stop_strings: Sequence[str] = (), tokenizer=None, repeat_ngram: int | None = None) -> int:
    """How many of the continuation ``tokens`` (a 1-d tensor or list of ids) decoding keeps before the
    first criterion fires: ``max_length`` tokens; the first of ``stop_ids`` (kept, as ``generate``
    keeps it); the first prefix whose text (``tokenizer.decode``) contains one of ``stop_strings``;
    the first repeat of an n-gram of ``repeat_ngram`` tokens. ``len(tokens)`` when none fires."""
    ids = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
    if isinstance(tokens, torch.Tensor) and tokens.ndim != 1:
        raise ValueError(f"tokens must be one continuation (1-d), got shape {tuple(tokens.shape)}")
    if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids):
        raise ValueError(f"tokens must be token ids (non-negative ints), got {ids[:6]!r}")
    end = len(ids)
    if max_length is not None:
        end = min(end, checks.integer("max_length", max_length, low=0))
    stop_ids = {checks.integer("stop_ids", t, low=0) for t in stop_ids}
    stop_strings = checks.texts("stop_strings", stop_strings, allow_empty_list=True, allow_empty_texts=False)
    if stop_strings and tokenizer is None:
        raise ValueError("stop_strings need a tokenizer (anything with .decode(list_of_ids))")
    if repeat_ngram is not None:
        repeat_ngram = checks.size("repeat_ngram", repeat_ngram, high=1000)
    seen: set[tuple[int, ...]] = set()
    for t in range(1, end + 1):
        if ids[t - 1] in stop_ids:
            return t
        if stop_strings and any(s in tokenizer.decode(ids[:t]) for s in stop_strings):
            return t
        if repeat_ngram is not None and t >= repeat_ngram:
            gram = tuple(ids[t - repeat_ngram:t])
            if gram in seen:
                return t
            seen.add(gram)
    return end

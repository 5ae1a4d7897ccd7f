"""Which evaluation records a bundled model saw in pre-training (book section 1.4, "Rigour").

A held-out accuracy means something only if the held-out items were not in the training text.
:func:`training_stream` rebuilds, token for token, the document stream a bundled toy-world model was
pre-trained on (its recipe's ``toyworld_stream`` with the ``train_tokens`` and ``seed`` recorded in
the bundle's ``lmnotes.json``); :func:`seen_in_training` says which records occur in it and
:func:`unseen` keeps only the others.

What "occurs" means: the record's token sequence (its text, encoded by the model's tokenizer) appears
verbatim, as one contiguous run of tokens, somewhere in that stream — inside a document, as a whole
document, or as the start of a longer one (a review that then goes on "overall it is great ."). The
check is exact: the stream is held as one string with one character per token, and Python's
substring search compares whole token runs, never parts of words.

Not covered: ``toyworld-gpt`` also trained on bursty in-context-learning documents drawn afresh per
step. Those are random ``word -> label .`` lines over a few dozen words, so every short ICL prompt
occurs in them by chance; what an ICL evaluation tests is a label mapping drawn for that prompt alone,
not a memorisable record. Apply this check to records (reviews, questions, instructions), not to ICL
prompts.

:data:`EVALUATION_SETS` names every evaluation set a notebook uses with a bundled model;
:func:`evaluation_set` builds one (already filtered), and ``tests/test_overlap.py`` asserts zero
overlap for each. A notebook adding an evaluation set adds one entry there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lmnotes import checks

#: the bundled models whose training stream this module can rebuild
TOYWORLD_MODELS = ("toyworld-gpt", "toyworld-bert")
_BASE = 0x100  # token id i is character chr(_BASE + i): clear of "\n" and friends


def _record_text(record) -> str:
    """A record's text: a string itself, or the ``.text`` of a toy-world example."""
    return record if isinstance(record, str) else getattr(record, "text", None)


def _records(name: str, records) -> list[str]:
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
        raise TypeError(f"{name} must be a list of texts or of toy-world records, got {type(records).__name__}")
    return [checks.text(f"{name}[{i}]", _record_text(r)) for i, r in enumerate(records)]


@functools.lru_cache(maxsize=len(TOYWORLD_MODELS))
def _stream(model: str) -> tuple[str, object]:
    from lmnotes import checkpoints, recipes  # recipes imports lmnotes.data: import on first use

    hp = checkpoints.info(model)["hparams"]
    tok = recipes.toyworld_tokenizer()
    ids = recipes.toyworld_stream(tok, hp["train_tokens"], seed=hp["seed"])
    return "".join(chr(_BASE + i) for i in ids.tolist()), tok


def training_stream(model: str) -> list[int]:
    """The token ids of the pre-training stream of bundled ``model``, rebuilt from its recipe and seed.

    Cached per process: the first call for a model takes a few seconds, later ones none.
    """
    model = checks.choice("model", model, TOYWORLD_MODELS)
    return [ord(c) - _BASE for c in _stream(model)[0]]


def seen_in_training(records, model: str) -> list[bool]:
    """For each record (a text or a toy-world example with ``.text``): does its token sequence occur
    verbatim in the pre-training stream of bundled ``model``? See the module docstring."""
    model = checks.choice("model", model, TOYWORLD_MODELS)
    texts = _records("records", records)
    stream, tok = _stream(model)
    return ["".join(chr(_BASE + i) for i in tok.encode(t)) in stream for t in texts]


def unseen(records, model: str) -> list:
    """The records (same objects, same order) whose text does not occur in ``model``'s pre-training stream."""
    flags = seen_in_training(records, model)
    return [r for r, seen in zip(records, flags) if not seen]


@dataclass(frozen=True)
class EvaluationSet:
    """A named evaluation set used with a bundled model: which notebook, which model, how it is built."""

    name: str
    model: str
    notebook: str
    build: Callable[[], list]


def _unseen_reviews(n: int, seed: int, model: str) -> list:
    """``n`` toy-world reviews the model never saw: drawn from ``seed``, seen ones skipped, drawing on."""
    from lmnotes.data import toyworld

    drawn = toyworld.reviews(3 * n, seed=seed)
    kept = unseen(drawn, model)
    if len(kept) < n:
        raise RuntimeError(f"only {len(kept)} of {len(drawn)} reviews (seed {seed}) are unseen by {model}")
    return kept[:n]


#: every evaluation set a notebook uses with a bundled model, by name; each builds an unseen set
EVALUATION_SETS: dict[str, EvaluationSet] = {}


def _register(name: str, model: str, notebook: str, build: Callable[[], list]) -> None:
    EVALUATION_SETS[name] = EvaluationSet(name, model, notebook, build)


_register("02-test-reviews", "toyworld-gpt", "02_pretraining_and_adaptation",
          lambda: _unseen_reviews(300, seed=1, model="toyworld-gpt"))


def evaluation_set(name: str) -> list:
    """Build the registered evaluation set ``name`` (see :data:`EVALUATION_SETS`)."""
    name = checks.choice("name", name, tuple(EVALUATION_SETS))
    return EVALUATION_SETS[name].build()

"""Which evaluation records a bundled model saw in pre-training.

The toy world is small, so short records (a review, a question, an ICL prompt) repeat across seeds:
an "unseen" test set drawn with another seed can still hold records that the model read verbatim
in pre-training, sometimes with their answer. That inflates every accuracy measured on them. This
module rebuilds the exact pre-training documents of a bundled model from the recipe and seed
recorded in its ``lmnotes.json`` and says which records occur in them, so every evaluation set used
with a bundled model can be filtered (``unseen``) and tested for zero overlap.

*Occurs* means: the record's text, as a sequence of whole words (tokens of the toy world's word
tokenizer), appears contiguously inside one training document. A record that is only a prefix of a
document (a review without its verdict) counts, because the model read those words.

For ``toyworld-gpt`` the documents are the mixture stream *and* the bursty in-context-learning
documents its batches drew at every step; for ``toyworld-bert`` the mixture stream; for the
Shakespeare models the training split (the last 10% of the plays is held out); for ``toyworld-sft``
those of ``toyworld-gpt`` plus its fine-tuning instructions; for ``toyworld-reasoner`` its pool of
tagged training examples (``data.reasoning.training_examples``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Sequence

from lmnotes import checks

#: bundled models whose pre-training text this module can rebuild
MODELS = ("toyworld-gpt", "toyworld-bert", "shakespeare-char", "shakespeare-bpe", "toyworld-sft",
          "toyworld-reasoner")


def _hparams(name: str) -> dict:
    from lmnotes import checkpoints

    return dict(checkpoints.info(name)["hparams"])


@functools.lru_cache(maxsize=2)
def training_documents(name: str) -> tuple[str, ...]:
    """The exact pre-training documents of bundled model ``name``, rebuilt from its recipe's seed."""
    checks.choice("name", name, MODELS)
    if name.startswith("shakespeare"):
        from lmnotes.data.shakespeare import shakespeare_text

        return (shakespeare_text("train"),)
    from lmnotes.data import toyworld

    hp = _hparams(name)
    if name == "toyworld-reasoner":
        from lmnotes.data import reasoning

        return tuple(e.text for e in reasoning.training_examples(hp["train_examples"], seed=hp["seed"]))
    if name == "toyworld-sft":  # recipes.toyworld_sft: toyworld-gpt, then SFT on these instructions
        sft = toyworld.instructions(hp["n_train"], seed=hp["seed"], templates=hp["templates"])
        return training_documents("toyworld-gpt") + tuple(r.text for r in sft)
    documents = list(toyworld.corpus(hp["train_tokens"], seed=hp["seed"]))
    if name == "toyworld-gpt":
        # recipes.toyworld_gpt: every step, round(batch * icl_share) ICL documents of
        # block_size // 4 + 1 lines, seeded by seed * 100_003 + step
        n_icl = round(hp["batch_size"] * hp["icl_share"])
        lines = hp["block_size"] // 4 + 1
        for step in range(hp["steps"]):
            documents += [d.text for d in toyworld.icl_documents(
                n_icl, seed=hp["seed"] * 100_003 + step, n_lines=lines)]
    return tuple(documents)


def _join(documents: Iterable[str]) -> str:
    # one string, every document padded with spaces and cut off from the next by a newline, so that a
    # search for " words " matches whole words inside a single document only
    return "\n".join(f" {' '.join(d.split())} " for d in documents)


@functools.lru_cache(maxsize=2)
def _haystack(name: str) -> str:
    return _join(training_documents(name))


def _occurs(haystack: str, texts: list[str]) -> list[bool]:
    return [f" {' '.join(t.split())} " in haystack for t in texts]


def seen_in_training(name: str, texts: Sequence[str]) -> list[bool]:
    """For each text, whether it occurs (as whole words, inside one document) in ``name``'s
    pre-training data."""
    texts = checks.texts("texts", texts)
    return _occurs(_haystack(checks.choice("name", name, MODELS)), texts)


def seen_in(documents: Sequence[str], texts: Sequence[str]) -> list[bool]:
    """For each text, whether it occurs (as whole words, inside one document) in ``documents``: the
    check of :func:`seen_in_training` against text a notebook trains on itself."""
    documents = checks.texts("documents", documents)
    return _occurs(_join(documents), checks.texts("texts", texts))


def _text_of(record: Any, text: Callable[[Any], str] | str | None) -> str:
    if text is None:
        if isinstance(record, str):
            return record
        if not hasattr(record, "text"):
            raise TypeError(f"records must be strings or have a .text; pass text= to say which field, "
                            f"got {type(record).__name__}")
        return record.text
    if isinstance(text, str):
        if not hasattr(record, text):
            raise ValueError(f"text={text!r} names no field of {type(record).__name__}")
        return getattr(record, text)
    return text(record)


def overlap_report(name: str, records: Iterable, text: Callable[[Any], str] | str | None = None) -> dict:
    """How many of ``records`` occur in ``name``'s pre-training data.

    ``text`` says what to look for in each record: ``None`` for the record itself (a string) or its
    ``.text``, a field name such as ``"prompt"``, or a function. Returns ``{"records", "seen",
    "unseen", "seen_share"}``.
    """
    records = list(records)
    if not records:
        raise ValueError("records must hold at least one record")
    seen = seen_in_training(name, [_text_of(r, text) for r in records])
    n_seen = sum(seen)
    return {"records": len(records), "seen": n_seen, "unseen": len(records) - n_seen,
            "seen_share": n_seen / len(records)}


def unseen(name: str, records: Iterable, text: Callable[[Any], str] | str | None = None) -> list:
    """The records that do not occur in ``name``'s pre-training data, in their order.

    Use it on every evaluation set given to a bundled model; ``text`` as in :func:`overlap_report`.
    """
    records = list(records)
    if not records:
        raise ValueError("records must hold at least one record")
    seen = seen_in_training(name, [_text_of(r, text) for r in records])
    return [r for r, s in zip(records, seen) if not s]


def unseen_corpus(name: str, n_tokens: int, seed: int, *, besides: Sequence[str] = ()) -> list[str]:
    """Held-out toy-world text for ``name``: the documents of ``toyworld.corpus(n_tokens, seed)``
    that occur neither in its pre-training data nor (as whole words) in ``besides``, the documents a
    notebook trains on itself. Short documents (a review, a fact) repeat across seeds, so this keeps
    roughly half."""
    from lmnotes.data import toyworld

    name = checks.choice("name", name, MODELS)
    docs = unseen(name, toyworld.corpus(checks.size("n_tokens", n_tokens), seed=checks.integer("seed", seed)))
    besides = checks.texts("besides", besides, allow_empty_list=True)
    if besides:
        docs = [d for d, seen in zip(docs, seen_in(besides, docs)) if not seen]
    return docs

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

import numpy as np

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


class _Index:
    """Every whole-word span of a set of documents, answerable in microseconds.

    The documents become one array of word ids with a separator after each document, and every
    K-word window that holds no separator is sorted by its key, so a text's rarest K-word window
    finds its few candidate places by binary search; each is then compared word by word. Texts
    shorter than K words are looked up among the distinct 1- and 2-word windows. (A substring
    search of the joined text did the same job at about 12 ms a text over toyworld-gpt's 55 MB.)
    """

    K = 3

    def __init__(self, documents: Iterable[str]):
        # distinct documents, one after another, each closed by a separator (NUL is no word's text);
        # encoded a chunk at a time, so that only one chunk's word strings live at once
        documents = list(dict.fromkeys(documents))
        lookup: dict[str, int] = {"\0": -1}
        chunks = []
        for start in range(0, len(documents), 20_000):
            words = " \0 ".join(documents[start:start + 20_000]).split()
            words.append("\0")
            for w in set(words).difference(lookup):
                lookup[w] = len(lookup) - 1
            chunks.append(np.fromiter(map(lookup.__getitem__, words), dtype=np.int32, count=len(words)))
        del lookup["\0"]
        self.vocab = lookup
        self.base = len(lookup) + 1
        tokens = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
        tokens[tokens < 0] = len(lookup)  # the separator: an id no word has
        self.tokens = tokens
        # keys of K words fit in int32 for a vocabulary of up to 1,290 words (int64 beyond)
        self.dtype = np.int32 if self.base ** self.K < 2**31 else np.int64
        self.bigrams = np.unique(self._keys(tokens, 2, drop_separators=True))
        # sort every window's key, those that hold a separator last (a key above any real one), and
        # keep the real ones: fewer large temporaries than selecting them first
        keys = self._keys(tokens, self.K, drop_separators=False)
        crossing = ~self._no_separator(tokens, self.K)
        keys[crossing] = np.iinfo(self.dtype).max
        n_real = len(keys) - int(crossing.sum())
        del crossing
        self.starts = np.argsort(keys)[:n_real].astype(np.int32)
        self.sorted_keys = keys[self.starts]

    def _keys(self, tokens: np.ndarray, k: int, *, drop_separators: bool) -> np.ndarray:
        n = len(tokens) - k + 1
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        keys = np.zeros(n, dtype=self.dtype)
        for j in range(k):
            keys *= self.base
            keys += tokens[j:j + n]
        return keys[self._no_separator(tokens, k)] if drop_separators else keys

    def _no_separator(self, tokens: np.ndarray, k: int) -> np.ndarray:
        n = max(len(tokens) - k + 1, 0)
        sep = tokens == len(self.vocab)
        bad = np.zeros(n, dtype=bool)
        for j in range(k):
            bad |= sep[j:j + n]
        return ~bad

    def __contains__(self, text: str) -> bool:
        words = text.split()
        if any(w not in self.vocab for w in words):
            return False
        q = np.array([self.vocab[w] for w in words], dtype=self.dtype)
        if len(q) <= 1:
            return True  # every word of the vocabulary occurs in some document
        if len(q) < self.K:
            key = q[0] * self.base + q[1]
            i = np.searchsorted(self.bigrams, key)
            return bool(i < len(self.bigrams) and self.bigrams[i] == key)
        keys = self._keys(q, self.K, drop_separators=False)
        lo = np.searchsorted(self.sorted_keys, keys, side="left")
        hi = np.searchsorted(self.sorted_keys, keys, side="right")
        j = int(np.argmin(hi - lo))  # the rarest window anchors the search
        if hi[j] == lo[j]:
            return False
        cand = self.starts[lo[j]:hi[j]].astype(np.int64) - j
        cand = cand[(cand >= 0) & (cand + len(q) <= len(self.tokens))]
        for m in range(len(q)):
            if len(cand) == 0:
                return False
            cand = cand[self.tokens[cand + m] == q[m]]
        return len(cand) > 0

    def occurs(self, texts: Iterable[str]) -> list[bool]:
        return [t in self for t in texts]


@functools.lru_cache(maxsize=2)
def _index(name: str) -> _Index:
    # from freshly rebuilt documents, not training_documents' cached ones, so that they are freed
    # once the index holds them (a third of their memory)
    return _Index(training_documents.__wrapped__(name))


def seen_in_training(name: str, texts: Sequence[str]) -> list[bool]:
    """For each text, whether it occurs (as whole words, inside one document) in ``name``'s
    pre-training data."""
    texts = checks.texts("texts", texts)
    return _index(checks.choice("name", name, MODELS)).occurs(texts)


def seen_in(documents: Sequence[str], texts: Sequence[str]) -> list[bool]:
    """For each text, whether it occurs (as whole words, inside one document) in ``documents``: the
    check of :func:`seen_in_training` against text a notebook trains on itself."""
    documents = checks.texts("documents", documents)
    return _Index(documents).occurs(checks.texts("texts", texts))


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

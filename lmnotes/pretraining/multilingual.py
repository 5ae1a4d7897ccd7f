"""A second language for the toy world, for cross-lingual transfer (book §1.3.4, multilingual models).

Language B is the toy world said in other words: every token of ``toyworld.vocabulary()`` gets its
own made-up word of B (two or three consonant-vowel syllables, "kimo", "tazupe"), except a few
``shared`` tokens that both languages write alike (by default the digits, the punctuation and the
people's names, as numbers and names often are across real languages). The mapping is a
bijection, so a B text says exactly what its A original says; ``order="reversed"`` also reverses
the words of every sentence (the sentence-final ".", "?" stays last), so that B differs from A in
word order too. A model pre-trained on A and B text (never a sentence with its translation) can
only relate the two through the shared tokens and the same structure, as multilingual BERT does;
``parallel_documents`` writes documents with each sentence beside its translation, the bilingual
data of translation language modelling.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from lmnotes import checks
from lmnotes.data import toyworld

#: word orders of language B
ORDERS = ("same", "reversed")
#: tokens both languages write alike by default: digits, punctuation and the people's names
SHARED = tuple(sorted(set(toyworld.DIGITS + toyworld.PUNCTUATION + toyworld.FEMALE_NAMES + toyworld.MALE_NAMES)))
_ENDS = (".", "?")
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


@dataclass(frozen=True)
class Language:
    """Language B: ``words`` maps every A token to its B word (shared tokens to themselves)."""

    words: dict
    order: str
    shared: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "_back", {b: a for a, b in self.words.items()})

    def vocabulary(self) -> list[str]:
        """B's tokens, sorted (the shared ones included)."""
        return sorted(self.words.values())

    def translate(self, text: str) -> str:
        """``text`` (toy-world tokens of language A) said in language B."""
        return self._convert(text, self.words, "language A")

    def back(self, text: str) -> str:
        """A language-B ``text`` said in language A again (``back(translate(t)) == t``)."""
        return self._convert(text, self._back, "language B")

    def _convert(self, text: str, table: dict, what: str) -> str:
        words = checks.text("text", text).split(" ")
        unknown = sorted({w for w in words if w not in table})
        if unknown:
            raise ValueError(f"text must be tokens of {what}; unknown: {unknown[:5]!r} in {text[:60]!r}")
        out = [table[w] for w in words]
        return " ".join(_reverse_sentences(out) if self.order == "reversed" else out)


def _reverse_sentences(words: list[str]) -> list[str]:
    out, sentence = [], []
    for w in words:
        if w in _ENDS:
            out += sentence[::-1] + [w]
            sentence = []
        else:
            sentence.append(w)
    return out + sentence[::-1]


def second_language(seed: int = 0, order: str = "same", shared: Sequence[str] = SHARED) -> Language:
    """Language B for the toy world: a made-up word for every token of ``toyworld.vocabulary()``
    but the ``shared`` ones, drawn with ``seed`` (none equal to any A token), and the word ``order``
    (one of ``ORDERS``)."""
    rng = random.Random(checks.integer("seed", seed))
    order = checks.choice("order", order, ORDERS)
    vocabulary = toyworld.vocabulary()
    shared = checks.texts("shared", shared, allow_empty_list=True)
    unknown = sorted(set(shared) - set(vocabulary))
    if unknown:
        raise ValueError(f"shared must be toy-world tokens, got {unknown[:5]!r}")
    taken, words = set(vocabulary), {}
    for token in vocabulary:
        if token in shared:
            words[token] = token
            continue
        while True:
            word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.choice((2, 3))))
            if word not in taken:
                break
        taken.add(word)
        words[token] = word
    return Language(words, order, tuple(sorted(set(shared))))


def bilingual_vocabulary(language: Language) -> list[str]:
    """The tokens of both languages, sorted: a word tokenizer's vocabulary for A and B text."""
    checks.instance("language", language, Language)
    return sorted(set(toyworld.vocabulary()) | set(language.words.values()))


#: the pre-training mixture of the transfer study: reviews (the task's domain) and stories
TRANSFER_MIXTURE = {"reviews": 0.7, "stories": 0.3}


def transfer_data(language: Language, n_tokens: int = 150_000, seed: int = 101, n_train: int = 400,
                  n_test: int = 600, n_dev: int = 200) -> dict:
    """The data of a cross-lingual transfer study with ``language`` as B.

    ``documents_a`` are ``toyworld.corpus(n_tokens, seed)`` (mixture ``TRANSFER_MIXTURE``);
    ``documents_b`` the documents of another draw (``seed + 1``) said in B, leaving out any whose A
    original is also an A document, so that no B text has its translation among the A texts;
    ``sources_b`` are those originals, in A (a monolingual model reads them instead of B). Plain
    reviews (``seed + 2``) as ``(text, label)``: ``train_a`` to fine-tune on, and ``test_a`` /
    ``test_b`` the same test reviews in A and in B, each of them in neither the fine-tuning set
    nor (as whole words) any pre-training document of either language (``overlap.seen_in``).
    ``dev_a`` / ``dev_b``: up to ``n_dev`` other plain reviews (``seed + 4``, none a training or test
    review), in A and in B, on which baselines choose their settings.
    ``dropped`` counts what each filter removed."""
    from lmnotes.data import overlap

    checks.instance("language", language, Language)
    n_tokens, seed = checks.size("n_tokens", n_tokens), checks.integer("seed", seed)
    n_train, n_test, n_dev = (checks.size(name, v) for name, v in (("n_train", n_train), ("n_test", n_test),
                                                                    ("n_dev", n_dev)))
    documents_a = toyworld.corpus(n_tokens, seed=seed, mixture=TRANSFER_MIXTURE)
    drawn = toyworld.corpus(n_tokens, seed=seed + 1, mixture=TRANSFER_MIXTURE)
    in_a = set(documents_a)
    sources_b = [d for d in drawn if d not in in_a]
    documents_b = [language.translate(d) for d in sources_b]
    plain = dict(p_negation=0.0, p_contrast=0.0)
    train = [(r.text, r.label) for r in toyworld.reviews(n_train, seed=seed + 2, **plain)]
    test = [(r.text, r.label) for r in toyworld.reviews(n_test, seed=seed + 3, **plain)]
    known = {x for x, _ in train}
    fresh = [(x, y) for x, y in test if x not in known]
    seen_a = overlap.seen_in(documents_a + sources_b, [x for x, _ in fresh])
    kept = [it for it, s in zip(fresh, seen_a) if not s]
    test_b = [(language.translate(x), y) for x, y in kept]
    seen_b = overlap.seen_in(documents_b, [x for x, _ in test_b])
    keep = [not s for s in seen_b]
    test_a = [it for it, k in zip(kept, keep) if k]
    test_b = [it for it, k in zip(test_b, keep) if k]
    used = known | {x for x, _ in test}
    dev = [(r.text, r.label) for r in toyworld.reviews(n_dev, seed=seed + 4, **plain) if r.text not in used]
    if not test_a:
        raise ValueError(f"every one of the {n_test} test reviews occurs in the pre-training text; raise n_test")
    return dict(documents_a=documents_a, documents_b=documents_b, sources_b=sources_b, train_a=train,
                train_b=[(language.translate(x), y) for x, y in train], test_a=test_a, test_b=test_b,
                dev_a=dev, dev_b=[(language.translate(x), y) for x, y in dev],
                dropped=dict(parallel_documents=len(drawn) - len(sources_b), test_in_finetuning=len(test) - len(fresh),
                             test_in_pretraining=len(fresh) - len(test_a)))


def parallel_documents(language: Language, documents: Sequence[str]) -> list[str]:
    """Bilingual text for translation language modelling (book §1.3.4, Lample and Conneau's TLM): each
    document with every sentence followed by its translation in ``language`` ("s1 t1 s2 t2 ..."), so
    that a masked word of one language can be read off its translation nearby."""
    checks.instance("language", language, Language)
    out = []
    for text in checks.texts("documents", documents, allow_empty_texts=False):
        sentences = [" ".join(s) for s in toyworld.split_after(text.split(" "), _ENDS)]
        out.append(" ".join(f"{s} {language.translate(s)}" for s in sentences))
    return out


def word_count_baseline(data: dict, trained_on: str, tested_on: str) -> dict:
    """The transfer study's bag of words: a logistic regression on the word counts of ``transfer_data``'s
    ``train_{trained_on}`` reviews, its L2 penalty chosen on ``dev_{trained_on}``
    (``lmnotes.baselines.fit_linear``), scored on ``test_{tested_on}`` ("a" or "b" each). Returns the
    ``accuracy``, the chosen ``penalty`` and whether it sits at the grid's edge (``at_edge``)."""
    import torch

    from lmnotes import baselines

    trained_on, tested_on = checks.choice("trained_on", trained_on, ("a", "b")), checks.choice("tested_on", tested_on, ("a", "b"))
    if not isinstance(data, dict) or any(f"{k}_{s}" not in data for k, s in (("train", trained_on), ("dev", trained_on),
                                                                            ("test", tested_on))):
        raise ValueError("data must be transfer_data's result (with train_, dev_ and test_ reviews)")
    rows = {"train": data[f"train_{trained_on}"], "dev": data[f"dev_{trained_on}"], "test": data[f"test_{tested_on}"]}
    labels = toyworld.REVIEW_LABELS
    vocabulary = baselines.ngram_vocabulary([x for x, _ in rows["train"]])
    x = {name: baselines.ngram_counts([t for t, _ in r], vocabulary) for name, r in rows.items()}
    y = {name: torch.tensor([labels.index(v) for _, v in r]) for name, r in rows.items()}
    fit = baselines.fit_linear("logistic", x["train"], y["train"], x["dev"], y["dev"])
    return dict(accuracy=(fit.predict(x["test"]) == y["test"]).double().mean().item(), penalty=fit.penalty,
                at_edge=fit.at_edge)


def frequency_translation(language: Language, documents_a: Sequence[str], documents_b: Sequence[str],
                          words: Sequence[str]) -> float:
    """A baseline for word translation that reads no model: each of ``words`` (A words) said in B is
    matched to the A word of ``words`` whose log relative frequency in ``documents_a`` is closest to
    the B word's in ``documents_b`` (counts + 0.5; the first on a tie). Returns the share matched to
    its own translation: chance is 1 / len(words). A word and its translation are used about equally
    often when the two languages say the same kind of text, so frequency alone finds some of them."""
    import math
    from collections import Counter

    checks.instance("language", language, Language)
    words = list(words)
    if not words or any(w not in language.words for w in words):
        raise ValueError("words must be a non-empty list of A tokens of language, got "
                         + (repr([w for w in words if w not in language.words][:3]) if words else "none"))
    counts = {}
    for name, docs in (("documents_a", documents_a), ("documents_b", documents_b)):
        if isinstance(docs, str) or not docs:
            raise ValueError(f"{name} must be a non-empty list of texts")
        counts[name] = Counter(w for d in docs for w in checks.text(name, d).split())
    na, nb = sum(counts["documents_a"].values()), sum(counts["documents_b"].values())
    log_a = [math.log((counts["documents_a"][w] + 0.5) / na) for w in words]
    hits = 0
    for w in words:
        log_b = math.log((counts["documents_b"][language.words[w]] + 0.5) / nb)
        best = min(range(len(words)), key=lambda j: abs(log_a[j] - log_b))
        hits += words[best] == w
    return hits / len(words)

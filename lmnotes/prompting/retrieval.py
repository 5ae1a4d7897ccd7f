"""Retrieval for retrieval-augmented generation (book section 3.2.5): BM25 over short documents.

BM25 (Robertson et al.) scores a document ``d`` for a query ``q`` by the terms they share:

    score(q, d) = sum over query terms t of  idf(t) * f(t, d) (k1 + 1) / (f(t, d) + k1 (1 - b + b |d| / avgdl))

with ``f(t, d)`` the count of ``t`` in ``d``, ``|d|`` its length in words and ``avgdl`` the mean
length. ``idf(t) = log((N - n_t + 0.5) / (n_t + 0.5))`` for ``n_t`` of the ``N`` documents holding
``t``; a term in more than half of them would get a negative idf, which (as in the ``rank_bm25``
package, the reference our test compares with) is floored at ``epsilon`` times the mean idf.
Documents and queries are split on whitespace.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from lmnotes import checks


class BM25:
    """A BM25 index over ``documents`` (strings)."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
        self.documents = checks.texts("documents", documents)
        self.k1 = checks.real("k1", k1, 0.0)
        self.b = checks.probability("b", b)
        self.epsilon = checks.real("epsilon", epsilon, 0.0)
        self.counts = [Counter(d.split()) for d in self.documents]
        self.lengths = [len(d.split()) for d in self.documents]
        self.avgdl = sum(self.lengths) / len(self.lengths)
        holding = Counter(t for c in self.counts for t in c)
        n = len(self.documents)
        self.idf = {t: math.log(n - m + 0.5) - math.log(m + 0.5) for t, m in holding.items()}
        floor = self.epsilon * sum(self.idf.values()) / len(self.idf)
        self.idf = {t: (v if v >= 0 else floor) for t, v in self.idf.items()}

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for ``query`` (a repeated query word counts each time)."""
        terms = checks.text("query", query).split()
        out = []
        for counts, length in zip(self.counts, self.lengths):
            norm = self.k1 * (1 - self.b + self.b * length / self.avgdl)
            out.append(sum(self.idf.get(t, 0.0) * counts[t] * (self.k1 + 1) / (counts[t] + norm)
                           for t in terms))
        return out

    def top_k(self, query: str, k: int) -> list[int]:
        """Indices of the ``k`` best-scoring documents, best first (ties: the earlier document)."""
        k = checks.size("k", k)
        scores = self.scores(query)
        return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]

    def retrieve(self, query: str, k: int, exclude: Sequence[str] = ()) -> list[str]:
        """The ``k`` best documents for ``query`` (best first), leaving out any in ``exclude``."""
        k = checks.size("k", k)
        banned = set(checks.texts("exclude", list(exclude), allow_empty_list=True))
        ranked = self.top_k(query, len(self.documents))
        return [self.documents[i] for i in ranked if self.documents[i] not in banned][:k]


def recall_at_k(retrieved: Sequence[Sequence[str]], relevant: Sequence[str]) -> float:
    """The share of queries whose ``relevant`` document is among their ``retrieved`` ones."""
    relevant = checks.texts("relevant", relevant)
    if not isinstance(retrieved, (list, tuple)):
        raise TypeError(f"retrieved must be a list of lists of documents, got {type(retrieved).__name__}")
    retrieved = [checks.texts("retrieved", docs, allow_empty_list=True) for docs in retrieved]
    if not retrieved or len(retrieved) != len(relevant):
        raise ValueError(f"retrieved and relevant must be non-empty and of equal length, got "
                         f"{len(retrieved)} and {len(relevant)}")
    return sum(r in docs for docs, r in zip(retrieved, relevant)) / len(relevant)

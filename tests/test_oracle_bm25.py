"""lmnotes.prompting.retrieval's BM25 against the rank_bm25 package (a test-only dependency of the
main environment; the Colab-versions step skips test_oracle_* files)."""

import pytest
import rank_bm25

from lmnotes.data import toyworld
from lmnotes.prompting import retrieval


def test_bm25_matches_rank_bm25():
    docs = [f.text for f in toyworld.facts(3).facts]
    ours = retrieval.BM25(docs)
    theirs = rank_bm25.BM25Okapi([d.split() for d in docs])
    for q in ["where does anna live ?", "what is the favourite colour of ben ?", "zebra", "the the is"]:
        assert ours.scores(q) == pytest.approx(list(theirs.get_scores(q.split())), abs=1e-9)

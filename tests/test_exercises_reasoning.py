"""Notebook 09's exercises accept the right answer (computed here independently) and explain the
common wrong ones."""

import math

from lmnotes import exercises
from lmnotes.data import reasoning as data
from lmnotes.prompting import reasoning, retrieval


def test_vote_of_three(capsys):
    # by enumeration of the 8 outcomes of 3 samples, each right with probability 0.6
    want = sum(0.6 ** sum(o) * 0.4 ** (3 - sum(o)) for o in
               [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)] if sum(o) >= 2)
    assert exercises.check("vote-of-three", want)
    for wrong, says in [(0.6, "one sample"), (0.216, "all 3"), (0.936, "at least one"), (0.432, "exactly 2")]:
        assert not exercises.check("vote-of-three", wrong)
        assert says in capsys.readouterr().out
    assert not exercises.check("vote-of-three", "0.648")


def test_bm25_idf_matches_the_retriever(capsys):
    docs = ["anna x", "anna y"] + [f"w{i}" for i in range(8)]
    idf = retrieval.BM25(docs).idf["anna"]
    assert exercises.check("bm25-idf", idf)
    assert not exercises.check("bm25-idf", math.log(5)) and "log(N / n)" in capsys.readouterr().out
    assert not exercises.check("bm25-idf", idf / math.log(10)) and "base 10" in capsys.readouterr().out


def test_decomposition_calls_matches_chunks(capsys):
    assert exercises.check("decomposition-calls", len(reasoning.chunks(tuple(range(10, 20)), 3)) + 1)
    assert not exercises.check("decomposition-calls", 3) and "final step" in capsys.readouterr().out
    assert not exercises.check("decomposition-calls", 5) and "lone operand" in capsys.readouterr().out
    assert not exercises.check("decomposition-calls", 9)
    assert not exercises.check("decomposition-calls", 4.0)
    assert data.render((10, 11), "steps").answer == 21

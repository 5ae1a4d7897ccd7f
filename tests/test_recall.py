"""lmnotes.pretraining.recall: the lookup baselines of notebook 03."""

import pytest
import torch

from lmnotes.pretraining import experiments, recall
from lmnotes.pretraining.experiments import ClozeItem

TRAINING = ["anna lives in oslo . anna has a cat .", "bob lives in rome . bob has a dog .",
            "anna lives in oslo . anna works as a baker ."]


def test_statements_cut_after_each_full_stop():
    assert recall.statements("a b . c . d".split()) == [("a", "b", "."), ("c", "."), ("d",)]


def test_statement_overlap_counts_reuse_and_reordering():
    out = recall.statement_overlap(TRAINING, ["anna has a cat . anna lives in oslo .", "bob lives in paris ."])
    assert out["statements"] == 3 and out["distinct"] == 3
    assert out["in_training"] == pytest.approx(2 / 3)
    assert out["times_read"] == pytest.approx((1 + 2 + 0) / 3)  # "anna lives in oslo ." was read twice
    assert out["same_set"] == pytest.approx(1 / 2)  # the first is a training document reordered
    with pytest.raises(TypeError):
        recall.statement_overlap(TRAINING, "not a list")


def test_lookup_fill_recalls_the_statement_and_left_only_guesses_from_the_prefix():
    words = tuple("bob has a dog . bob lives in rome .".split())
    city = ClozeItem("random word", words, 8, ("oslo", "rome", "paris"))
    verb = ClozeItem("relation", tuple("anna lives in oslo .".split()), 1, ("lives", "has", "works"))
    stop = ClozeItem("random word", tuple("anna has a cat .".split()), 4, (".", "cat"))
    name = ClozeItem("name", ("anna",) + tuple("lives in oslo .".split()), 0, ("anna", "bob"))
    assert recall.lookup_fill(TRAINING, [city, verb, name, stop]) == ["rome", "lives", "anna", "."]
    # from the left only, "bob lives in" -> rome; "anna" -> lives (read twice) over has / works
    assert recall.lookup_fill(TRAINING, [city, verb], left_only=True) == ["rome", "lives"]
    unknown = ClozeItem("random word", tuple("carl flies to mars .".split()), 2, ("to", "from"))
    assert recall.lookup_fill(TRAINING, [unknown]) == [None]
    with pytest.raises(ValueError, match="blank"):
        recall.lookup_fill(TRAINING, [ClozeItem("relation", ("a", "."), 5, ("a",))])


def test_bigram_fill_picks_the_candidate_most_often_before_the_next_word():
    verb = ClozeItem("relation", tuple("anna ___ in oslo .".split()), 1, ("has", "works", "lives"))
    pet = ClozeItem("relation", tuple("bob ___ a dog .".split()), 1, ("lives", "has", "works"))  # has a 2, works as 1
    unseen = ClozeItem("name", tuple("___ flies .".split()), 0, ("anna", "bob"))
    last = ClozeItem("random word", tuple("anna has a cat".split()), 3, ("cat", "dog"))
    assert recall.bigram_fill(TRAINING, [verb, pet, unseen, last]) == ["lives", "has", None, None]
    with pytest.raises(ValueError, match="blank"):
        recall.bigram_fill(TRAINING, [ClozeItem("relation", ("a", "."), 5, ("a",))])
    with pytest.raises(TypeError):
        recall.bigram_fill("one text", [verb])


def test_bigram_flags_mark_tokens_next_to_an_unseen_bigram_and_match_flag_scores():
    pad = 0
    training = torch.tensor([[1, 2, 3, 4, pad]])
    ids = torch.tensor([[1, 2, 9, 4, pad]])  # 9 replaced 3: (2, 9) and (9, 4) are new
    flags = recall.bigram_flags(training, ids, pad_id=pad)
    assert flags.tolist() == [[False, True, True, True, False]]
    labels = torch.tensor([[0, 0, 1, 0, -100]])
    scores = experiments.flag_scores(flags, {"labels": labels})
    assert scores["recall"] == 1.0 and scores["precision"] == pytest.approx(1 / 3)
    assert scores["balanced accuracy"] == pytest.approx((1 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="flags"):
        experiments.flag_scores(flags[:, :3], {"labels": labels})
    with pytest.raises(ValueError):
        recall.bigram_flags(training[0], ids, pad_id=pad)

"""Exercises of the instruction-alignment notebook: right answers pass, typical mistakes get a specific hint."""

from lmnotes import exercises
from lmnotes.alignment import sft_studies
from lmnotes.data import pad_collate, toyworld


def test_counted_targets_matches_pad_collate(capsys):
    segments = [list(range(7)), [7, 8, 9], list(range(10, 16)), [16, 17]]
    assert int(pad_collate([segments], 0)["loss_mask"].sum()) == 5
    assert exercises.check("counted-targets", 5)
    for wrong, hint in [(18, "full-sequence"), (17, "masked out"), (3, "every assistant turn"), (9, "not it"),
                        (5.0, "int")]:
        assert not exercises.check("counted-targets", wrong)
        assert hint in capsys.readouterr().out


def test_pgr_matches_the_function(capsys):
    want = sft_studies.performance_gap_recovered(0.5, 0.8, 0.9)
    assert exercises.check("pgr", want)
    for wrong, hint in [(0.8 / 0.9, "subtract"), (0.3, "whole gap"), (0.25, "NOT"), (0.5, "Eq. 4.11"), ("x", "number")]:
        assert not exercises.check("pgr", wrong)
        assert hint in capsys.readouterr().out


def test_polite_reward_matches_hidden_reward(capsys):
    want = toyworld.hidden_reward("user : reverse the words : owl fig . assistant :", "sure , fig owl .")
    assert exercises.check("polite-reward", want)
    for wrong, hint in [(2.5, "-0.1 each"), (2.0, "+0.5"), (2.4, "two tokens"), (1.0, "not it"), (None, "number")]:
        assert not exercises.check("polite-reward", wrong)
        assert hint in capsys.readouterr().out

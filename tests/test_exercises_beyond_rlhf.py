"""Exercises of notebook 13: right answers pass (checked against lmnotes' own functions), typical
mistakes get a specific hint."""

import math

import torch

from lmnotes import exercises
from lmnotes.alignment import best_of_n, dpo


def test_dpo_optimal_policy_matches_the_function(capsys):
    want = dpo.optimal_policy(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), 1.0)[0, 0].item()
    assert exercises.check("dpo-optimal-policy", want)
    for wrong, hint in [(0.5, "pi_ref itself"), (math.e / 2, "divide by Z"), (0.622, "beta = 2"), (0.3, "not it"),
                        ("0.73", "probability")]:
        assert not exercises.check("dpo-optimal-policy", wrong)
        assert hint in capsys.readouterr().out


def test_dpo_loss_at_start_matches_the_loss(capsys):
    x = torch.tensor([-2.0])
    assert exercises.check("dpo-loss-at-start", dpo.dpo_loss(x, x - 1, x, x - 1, 0.3).item())
    for wrong, hint in [(0.0, "sigmoid(0) = 1/2"), (0.5, "negative log"), (1.0, "not it")]:
        assert not exercises.check("dpo-loss-at-start", wrong)
        assert hint in capsys.readouterr().out


def test_best_of_n_kl_matches_the_bound(capsys):
    assert exercises.check("best-of-n-kl", best_of_n.kl_bound(16))
    for wrong, hint in [(math.log(16), "ceiling"), (4 - 15 / 16, "natural logarithm"), (1.0, "not it")]:
        assert not exercises.check("best-of-n-kl", wrong)
        assert hint in capsys.readouterr().out

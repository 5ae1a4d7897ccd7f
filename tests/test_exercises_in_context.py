"""Exercises of the in-context learning notebook: right answers pass, typical mistakes get a specific hint."""

import torch

from lmnotes import exercises
from lmnotes.prompting import function_icl


def test_query_class_seen_matches_a_simulation(capsys):
    classes = torch.randint(0, 2, (20_000, 4), generator=torch.Generator().manual_seed(0))
    seen = (classes[:, :3] == classes[:, 3:]).any(1).float().mean().item()
    assert abs(seen - 0.875) < 0.01
    assert exercises.check("query-class-seen", 0.875)
    for wrong, hint in [(0.125, "never"), (0.5, "one demonstration"), (0.75, "1 - P(all 3 miss)"), (0.3, "not it"),
                        ("0.875", "number")]:
        assert not exercises.check("query-class-seen", wrong)
        assert hint in capsys.readouterr().out


def test_examples_for_exact_fit_is_where_least_squares_reaches_zero(capsys):
    xs, ys, _ = function_icl.linear_tasks(50, 8, 5, seed=0)
    err = function_icl.squared_error(function_icl.predictions("least squares", xs, ys), ys)
    assert err[4] > 0.01 and err[5] < 1e-8
    assert exercises.check("examples-for-exact-fit", 5)
    for wrong, hint in [(6, "one fewer"), (4, "1 direction"), (9, "more than needed"), (5.0, "int")]:
        assert not exercises.check("examples-for-exact-fit", wrong)
        assert hint in capsys.readouterr().out


def test_averaging_step_matches_the_estimator(capsys):
    xs = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
    ys = torch.tensor([[3.0, 4.0, 0.0]])
    want = function_icl.predictions("averaging", xs, ys)[0, 2].item()
    assert exercises.check("averaging-step", want)
    for wrong, hint in [(3.5, "mean of the outputs"), (11.0, "divides"), (5.0, "least squares"), (1.0, "not it"),
                        (None, "number")]:
        assert not exercises.check("averaging-step", wrong)
        assert hint in capsys.readouterr().out

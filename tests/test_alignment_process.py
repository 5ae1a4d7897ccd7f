"""Outcome vs process reward models on arithmetic traces (lmnotes.alignment.process)."""

import pytest
import torch

from lmnotes import checkpoints
from lmnotes.alignment import process
from lmnotes.data import reasoning


def test_an_error_free_trace_is_the_reasoners_worked_solution():
    t = process.trace((23, 45, 17))
    assert t.prompt + " " + t.response == reasoning.render((23, 45, 17), "steps").text
    assert t.step_correct == [True, True] and t.final_correct and t.fully_correct


def test_a_copy_error_keeps_the_answer_and_a_slip_loses_it():
    copy = process.trace((23, 45, 17), {0: "copy"}, seed=3)
    assert copy.results[0] != 68 and copy.lefts[1] == 68 and copy.answer == 85
    assert copy.step_correct == [False, True] and copy.final_correct and not copy.fully_correct
    slip = process.trace((23, 45, 17), {0: "slip"}, seed=3)
    assert slip.lefts[1] == slip.results[0] != 68 and slip.answer != 85
    assert slip.step_correct == [False, False] and not slip.final_correct  # step 2 starts from a wrong total
    last = process.trace((23, 45, 17), {1: "copy"}, seed=3)
    assert last.results[1] != 85 and last.answer == 85 and last.step_correct == [True, False]


def test_traces_inject_errors_at_the_asked_rate():
    probs = [(10 + i, 20 + i, 30 + i, 40 + i) for i in range(50)]
    assert all(t.fully_correct for row in process.traces(probs, 4, p_error=0.0) for t in row)
    rows = process.traces(probs, 8, p_error=0.2, p_copy=0.5, seed=1)
    assert len(rows) == 50 and all(len(r) == 8 for r in rows)
    steps = [c for r in rows for t in r for c in t.step_correct]
    wrong_right = [t for r in rows for t in r if t.final_correct and not t.fully_correct]
    assert 0.15 < 1 - sum(steps) / len(steps) < 0.4  # slips also make later steps wrong
    assert len(wrong_right) > 20  # copy errors: a wrong trace with the right answer


@pytest.mark.parametrize("call, error", [
    (lambda: process.trace((23,)), "operands"),
    (lambda: process.trace((23, 45), {0: "typo"}), "kinds"),
    (lambda: process.trace((23, 45), {1: "copy"}), "steps"),
    (lambda: process.traces([], 4), "problems"),
    (lambda: process.traces([(1, 2)], 0), "n"),
    (lambda: process.traces([(1, 2)], 2, p_error=1.5), "p_error"),
    (lambda: process.train_head(torch.zeros(3, 2), [1, 0]), "labels"),
    (lambda: process.train_head(torch.zeros(3, 2), [1, 1, 1]), "labels"),
    (lambda: process.train_head(torch.zeros(3), [1, 0, 1]), "x"),
    (lambda: process.selection([[process.trace((1, 2))]], {"orm": torch.zeros(2)}), "orm"),
    (lambda: process.features(torch.nn.Linear(2, 2), None, [process.trace((1, 2))]), "model"),
    (lambda: process.scores({}, None, None, []), "traces"),
])
def test_bad_input_is_refused_with_the_arguments_name(call, error):
    with pytest.raises((ValueError, TypeError), match=error):
        call()


def test_train_head_lowers_the_loss_and_separates_the_labels():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).float()
    head, loss = process.train_head(x, y, steps=200)
    assert loss[-1] < 0.5 * loss[0]
    assert ((head(x) > 0).float() == y).float().mean() > 0.95


def test_selection_counts_random_scored_and_oracle_picks():
    good, copy = process.trace((23, 45, 17)), process.trace((23, 45, 17), {0: "copy"})
    slip = process.trace((23, 45, 17), {0: "slip"})
    rows = [[copy, good], [slip, copy]]
    out = process.selection(rows, {"first": torch.tensor([1.0, 0.0, 1.0, 0.0])})
    assert out["random"] == {"final": 0.75, "trace": 0.25, "trace_error": pytest.approx(2 / 3)}
    assert out["first"] == {"final": 0.5, "trace": 0.0, "trace_error": 1.0}
    assert out["oracle"] == {"final": 1.0, "trace": 0.5, "trace_error": 0.5}


def test_training_problems_are_never_held_out():
    probs = process.training_problems(300, seed=0, n_operands=4)
    assert len(set(probs)) == 300 and not any(reasoning.held_out(p) for p in probs)


def test_reward_models_on_the_reasoner_learn_and_rank_correct_traces_first():
    bundled = checkpoints.load("toyworld-reasoner")
    train = process.traces([(10 + i, 30 + 2 * i % 60, 55, 12 + i) for i in range(40)], 4, p_error=0.2, seed=0)
    heads = process.train_reward_models(bundled.model, bundled.tokenizer, train, steps=150)
    assert heads["orm_loss"][-1] < 0.8 * heads["orm_loss"][0] and heads["prm_loss"][-1] < 0.8 * heads["prm_loss"][0]
    test = process.traces(reasoning.problems(20, seed=5, n_operands=4), 8, p_error=0.2, seed=1)
    s = process.scores(heads, bundled.model, bundled.tokenizer, test)
    flat = [t for row in test for t in row]
    right = torch.tensor([t.fully_correct for t in flat])
    assert s["prm"][right].mean() > s["prm"][~right].mean()
    final = torch.tensor([t.final_correct for t in flat])
    assert s["orm"][final].mean() > s["orm"][~final].mean()
    assert bundled.model.training is False  # features() restores the mode

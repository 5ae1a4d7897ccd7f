"""In-context regression: the tasks, the reference estimators and the RegressionGPT model."""

import pytest
import torch

from lmnotes.models.regression import RegressionGPT, RegressionGPTConfig
from lmnotes.prompting import function_icl


def tiny(dim=3, max_points=7):
    torch.manual_seed(0)
    return RegressionGPT(RegressionGPTConfig(dim=dim, max_points=max_points, n_layer=1, n_head=2, n_embd=16))


def test_tasks_are_linear_and_seeded():
    xs, ys, ws = function_icl.linear_tasks(4, 6, 3, seed=1)
    assert xs.shape == (4, 6, 3) and ys.shape == (4, 6) and ws.shape == (4, 3)
    torch.testing.assert_close(ys, (xs @ ws[..., None])[..., 0])
    torch.testing.assert_close(function_icl.linear_tasks(4, 6, 3, seed=1)[0], xs)
    assert not torch.equal(function_icl.linear_tasks(4, 6, 3, seed=2)[0], xs)


def test_least_squares_is_exact_from_d_examples_and_the_others_are_not():
    xs, ys, _ = function_icl.linear_tasks(50, 8, 3, seed=0)
    err = {e: function_icl.squared_error(function_icl.predictions(e, xs, ys), ys) for e in function_icl.ESTIMATORS}
    assert err["least squares"][3:].max() < 1e-8  # 3 noiseless examples determine w in 3 dimensions
    assert err["least squares"][1] < err["zero"][1]  # fewer than d: the minimum-norm solution still helps
    assert err["averaging"][7] < err["zero"][7] and err["averaging"][7] > 0.05
    torch.testing.assert_close(err["zero"][0], err["least squares"][0])  # with 0 examples all predict 0


def test_averaging_is_one_gradient_step_from_zero():
    xs, ys, _ = function_icl.linear_tasks(2, 5, 4, seed=3)
    k = 4
    w = torch.zeros(2, 4, requires_grad=True)
    loss = 0.5 * ((torch.einsum("bkd,bd->bk", xs[:, :k], w) - ys[:, :k]) ** 2).mean(1).sum()
    loss.backward()
    step = -w.grad  # learning rate 1 on the mean squared error / 2
    want = torch.einsum("bd,bd->b", step, xs[:, k])
    torch.testing.assert_close(function_icl.predictions("averaging", xs, ys)[:, k], want)


def test_model_predicts_each_y_without_seeing_it():
    model = tiny().eval()
    xs, ys, _ = function_icl.linear_tasks(2, 7, 3, seed=0)
    pred = model(xs, ys)
    assert pred.shape == (2, 7)
    changed = ys.clone()
    changed[:, 4] += 10.0
    again = model(xs, changed)
    torch.testing.assert_close(again[:, :5], pred[:, :5])  # y_4 is not visible to predictions 0..4
    assert not torch.allclose(again[:, 5:], pred[:, 5:])  # ... but it is to the later ones


def test_error_curves_cover_the_model_and_every_estimator():
    curves = function_icl.error_curves(tiny(), n_tasks=20, seed=5)
    assert set(curves) == {"transformer", *function_icl.ESTIMATORS}
    assert all(len(c) == 7 for c in curves.values())
    assert curves["least squares"][-1] < 1e-6 and curves["zero"][0] == pytest.approx(curves["least squares"][0])


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="n_tasks"):
        function_icl.linear_tasks(0, 5, 3, seed=0)
    with pytest.raises(ValueError, match="estimator"):
        function_icl.predictions("ridge", *function_icl.linear_tasks(1, 3, 2, seed=0)[:2])
    xs, ys, _ = function_icl.linear_tasks(1, 3, 2, seed=0)
    with pytest.raises(ValueError, match="ys"):
        function_icl.predictions("zero", xs, ys[:, :2])
    with pytest.raises(ValueError, match="xs"):
        tiny()(xs, ys)  # dim 2, the model reads dim 3
    with pytest.raises(ValueError, match="max_points"):
        tiny()(*function_icl.linear_tasks(1, 8, 3, seed=0)[:2])
    with pytest.raises(TypeError, match="RegressionGPT"):
        function_icl.error_curves(torch.nn.Linear(2, 2))


def test_error_samples_are_per_task_and_average_to_the_curves():
    model = tiny()
    samples = function_icl.error_samples(model, n_tasks=30, seed=5)
    curves = function_icl.error_curves(model, n_tasks=30, seed=5)
    assert set(samples) == set(curves) and all(s.shape == (30, 7) for s in samples.values())
    for name in samples:
        assert samples[name].mean(0).tolist() == pytest.approx(curves[name])
    xs, ys, _ = function_icl.linear_tasks(30, 7, 3, seed=5)
    by_hand = (function_icl.predictions("averaging", xs, ys) - ys) ** 2 / 3
    torch.testing.assert_close(samples["averaging"], by_hand)
    with pytest.raises(TypeError, match="RegressionGPT"):
        function_icl.error_samples(torch.nn.Linear(2, 2))


def test_the_bundled_checkpoints_training_seeds_miss_the_evaluation_seeds():
    # notebook 08 evaluates on REGRESSION_EVAL_SEED + 1 and tunes a step size on + 2; the recipe trained on
    # seeds seed * 10**6 + step, which lie above 10**9 (not below it) and contain none of these
    from lmnotes import checkpoints, recipes

    hp = checkpoints.load("linear-regression-icl").meta["hparams"]
    train_seeds = range(hp["seed"] * 10**6, hp["seed"] * 10**6 + hp["steps"])
    eval_seed = recipes.linear_regression_icl.REGRESSION_EVAL_SEED
    assert hp["eval_seed"] == eval_seed and train_seeds.start > eval_seed
    assert not any(eval_seed + i in train_seeds for i in (-1, 0, 1, 2))

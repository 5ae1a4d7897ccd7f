"""In-context learning of a function class (book section 3.1; Garg et al. 2022): random linear
regression tasks, the estimators a learner could use on a prompt's examples, and the error curve.

Each task draws ``w ~ N(0, I_d)`` and examples ``x_i ~ N(0, I_d)``, ``y_i = w . x_i`` (no noise).
After k examples the best possible prediction of the next y is least squares (with fewer than d
examples its minimum-norm solution, which is the posterior mean under the task's Gaussian prior, so
no estimator does better on average). Weaker references: predicting 0 (the prior mean), the mean of
the examples' outputs, and *averaging* ``w_hat = mean(y_i x_i)`` (one step of gradient descent on the
squared error from w = 0, Garg et al.'s "averaging" estimator). Errors are squared and divided by d,
so predicting 0 scores about 1 at every k.

Tasks are drawn fresh from a seed, so an evaluation task is never one the model was trained on
(the chance that two draws of continuous Gaussians coincide is zero); the recipe
``linear-regression-icl`` says which seeds it trained on.
"""

from __future__ import annotations

import torch

from lmnotes import checks
from lmnotes.models.regression import RegressionGPT
from lmnotes.training import evaluating

#: the estimators ``predictions`` knows, in the order the notebook shows them
ESTIMATORS = ("zero", "mean of outputs", "averaging", "least squares")


def linear_tasks(n_tasks: int, n_points: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(xs, ys, ws)``: ``n_tasks`` random linear functions of ``dim`` inputs, ``n_points`` examples
    each: xs (n_tasks, n_points, dim), ys (n_tasks, n_points), ws (n_tasks, dim)."""
    n_tasks = checks.size("n_tasks", n_tasks, high=1_000_000)
    n_points = checks.size("n_points", n_points, high=10_000)
    dim = checks.size("dim", dim, high=4096)
    gen = torch.Generator().manual_seed(checks.integer("seed", seed, low=0))
    ws = torch.randn(n_tasks, dim, generator=gen)
    xs = torch.randn(n_tasks, n_points, dim, generator=gen)
    return xs, torch.einsum("bnd,bd->bn", xs, ws), ws


def _xs_and_ys(xs, ys) -> None:
    checks.finite_tensor("xs", checks.tensor("xs", xs, ndim=3, dtype="float"))
    checks.finite_tensor("ys", checks.tensor("ys", ys, ndim=2, dtype="float"))
    if ys.shape != xs.shape[:2]:
        raise ValueError(f"ys must have shape {tuple(xs.shape[:2])} (one y per x), got {tuple(ys.shape)}")


@torch.no_grad()
def predictions(estimator: str, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Prediction of every y_i from examples 0..i-1 and x_i, by ``estimator`` (one of ``ESTIMATORS``):
    a (B, n) tensor whose column k is the prediction after k in-context examples."""
    checks.choice("estimator", estimator, ESTIMATORS)
    _xs_and_ys(xs, ys)
    xs, ys = xs.double(), ys.double()
    B, n, d = xs.shape
    out = torch.zeros(B, n, dtype=torch.float64)
    for k in range(1, n):
        X, y, q = xs[:, :k], ys[:, :k], xs[:, k]
        if estimator == "mean of outputs":
            out[:, k] = y.mean(1)
        elif estimator == "averaging":
            out[:, k] = torch.einsum("bd,bd->b", (y[..., None] * X).mean(1), q)
        elif estimator == "least squares":  # minimum-norm solution when k < d
            w = torch.linalg.pinv(X) @ y[..., None]
            out[:, k] = (q[:, None] @ w)[:, 0, 0]
    return out.float()


def squared_error(pred: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Mean squared error per number of in-context examples, averaged over tasks: a (n,) tensor
    (entry k: after k examples). ``pred`` and ``ys``: (B, n)."""
    checks.tensor("pred", pred, ndim=2, dtype="float")
    checks.tensor("ys", ys, ndim=2, dtype="float")
    if pred.shape != ys.shape:
        raise ValueError(f"pred must have the shape of ys {tuple(ys.shape)}, got {tuple(pred.shape)}")
    return ((pred.float() - ys.float()) ** 2).mean(0)


@torch.no_grad()
def error_samples(model, n_tasks: int = 2000, seed: int = 1_000_003) -> dict[str, torch.Tensor]:
    """Squared error per dimension of every task's prediction after 0..n-1 in-context examples: a
    (n_tasks, n) tensor for ``model`` (a ``RegressionGPT``) and for every estimator of ``ESTIMATORS``,
    on the same ``n_tasks`` fresh random tasks, so that differences can be paired task by task."""
    if not isinstance(model, RegressionGPT):
        raise TypeError(f"model must be a RegressionGPT, got {type(model).__name__}")
    c = model.config
    xs, ys, _ = linear_tasks(n_tasks, c.max_points, c.dim, seed)
    with evaluating(model):
        preds = {"transformer": model(xs, ys)}
    preds.update({name: predictions(name, xs, ys) for name in ESTIMATORS})
    return {name: (pred.float() - ys.float()) ** 2 / c.dim for name, pred in preds.items()}


def error_curves(model, n_tasks: int = 2000, seed: int = 1_000_003) -> dict[str, list[float]]:
    """Squared error (per dimension) after 0..n-1 in-context examples, averaged over ``n_tasks`` fresh
    random tasks, for ``model`` (a ``RegressionGPT``) and every estimator of ``ESTIMATORS``: the mean
    of :func:`error_samples` over tasks."""
    return {name: errors.mean(0).tolist() for name, errors in error_samples(model, n_tasks, seed).items()}

"""``linear-regression-icl``: a ``RegressionGPT`` meta-trained on random linear maps, for in-context
learning of a function class (notebook 08).
"""

from __future__ import annotations

from lmnotes.models.regression import RegressionGPT, RegressionGPTConfig
from lmnotes.prompting import function_icl
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.training import train

#: numbers of in-context examples at which linear-regression-icl's error is recorded
REGRESSION_SHOTS = (0, 1, 2, 3, 4, 5, 10, 20)


#: seed of linear-regression-icl's evaluation tasks (notebook 08 evaluates on this seed + 1 and tunes on + 2); the
#: training batches use seeds 1337 * 10**6 + step, 0 <= step < 10**4, a range that contains none of these
REGRESSION_EVAL_SEED = 10**9


@recipe("linear-regression-icl", "RegressionGPT meta-trained on random linear regressions (d=5, up to 20 "
                                 "in-context examples), Garg et al. 2022 style")
def linear_regression_icl(smoke: bool = False) -> Result:
    hp = dict(dim=5, max_points=21, n_layer=3, n_head=4, n_embd=64, batch_size=64, steps=10000, lr=1e-3,
              warmup=200, min_lr=1e-4, weight_decay=0.0, seed=1337, eval_tasks=2000, eval_seed=REGRESSION_EVAL_SEED)
    if smoke:
        hp.update(n_layer=1, n_embd=16, n_head=2, batch_size=4, steps=3, warmup=1, eval_tasks=20)
    config = RegressionGPTConfig(dim=hp["dim"], max_points=hp["max_points"], n_layer=hp["n_layer"],
                                 n_head=hp["n_head"], n_embd=hp["n_embd"], ffn="gelu", norm="layernorm")
    seed_everything(hp["seed"])
    model = RegressionGPT(config)
    B, n, d = hp["batch_size"], hp["max_points"], hp["dim"]

    def batches(step):  # task seeds seed * 10**6 + step: none of eval_seed - 1 ... eval_seed + 2
        xs, ys, _ = function_icl.linear_tasks(B, n, d, seed=hp["seed"] * 10**6 + step)
        return xs, ys

    def loss_fn(m, batch):
        xs, ys = batch
        return ((m(xs, ys) - ys) ** 2).mean() / d

    def eval_fn(m):
        xs, ys, _ = function_icl.linear_tasks(200 if not smoke else 8, n, d, seed=hp["eval_seed"] - 1)
        err = function_icl.squared_error(m(xs, ys), ys) / d
        return {f"val_error_{k}": round(err[k].item(), 4) for k in (1, 3, 5, 10, 20)}

    history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"],
                    weight_decay=hp["weight_decay"], loss_fn=loss_fn, seed=hp["seed"], progress=not smoke,
                    eval_fn=eval_fn, eval_every=max(hp["steps"] // 10, 1))
    curves = function_icl.error_curves(model, n_tasks=hp["eval_tasks"], seed=hp["eval_seed"])
    figures = dict(steps=history.step, train_minutes=round(history.train_seconds[-1] / 60, 2))
    for k in REGRESSION_SHOTS:
        figures[f"error_{k}_examples"] = round(curves["transformer"][k], 4)
        figures[f"least_squares_error_{k}_examples"] = round(curves["least squares"][k], 4)
    return Result(model, None, history, figures, hp)

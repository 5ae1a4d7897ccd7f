"""``sft-loss`` (results only): notebook 05's fine-tuning preview over 5 seeds and 3 learning rates, so
that the notebook re-runs one seed live. ``toyworld-gpt`` is fine-tuned on 100 instructions in the
phrasing it never read, with the response-only loss (Eq. 2.18) and with the full-sequence loss, the
same seeds (batch orders) for both, and scored by exact match of its greedy response on 300 held-out
instructions in that phrasing (none in its pre-training data or in the fine-tuning set).
"""

from __future__ import annotations

import copy
import time

from lmnotes import checkpoints
from lmnotes.alignment import sft
from lmnotes.data import toyworld
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: notebook 05's fine-tuning set and test set (their seeds and sizes) and the budget of every run
SFT_LOSS = dict(base="toyworld-gpt", n_tune=100, tune_seed=5_500_001, n_test=300, test_seed=5_500_002,
                templates="held_out", steps=100, batch_size=16)
LOSSES = ("response only", "full sequence")


def sft_loss_data(hp: dict | None = None) -> dict:
    """Notebook 05's ``tune`` records (fine-tuning) and ``test`` records (held out from them and from
    toyworld-gpt's pre-training data, ``sft.held_out_instructions``)."""
    hp = dict(SFT_LOSS, **(hp or {}))
    tune = toyworld.instructions(hp["n_tune"], seed=hp["tune_seed"], templates=hp["templates"])
    test = sft.held_out_instructions(hp["n_test"], seed=hp["test_seed"], exclude=[r.prompt for r in tune],
                                     templates=hp["templates"], model=hp["base"])
    return dict(tune=tune, test=test)


def sft_loss_run(pretrained, data: dict, tokenizer, *, loss: str, lr: float, seed: int, steps: int,
                 batch_size: int) -> list[int]:
    """Fine-tune a copy of ``pretrained`` with ``loss`` (one of ``LOSSES``); 1 or 0 per test item (exact match)."""
    model = copy.deepcopy(pretrained)
    sft.sft(model, data["tune"], tokenizer, steps=steps, lr=lr, batch_size=batch_size,
            response_only=loss == "response only", seed=seed, progress=False)
    answers = sft.respond(model, [r.prompt for r in data["test"]], tokenizer)
    return [int(a.split() == r.response.split()) for a, r in zip(answers, data["test"])]


@recipe("sft-loss", "notebook 05's fine-tuning preview over 5 seeds: toyworld-gpt fine-tuned on 100 instructions "
                    "with the response-only and the full-sequence loss at 3 learning rates, exact match on 300 "
                    "held-out instructions per run; results only", results=True)
def sft_loss(smoke: bool = False) -> Result:
    hp = dict(SFT_LOSS, lrs=[1e-4, 3e-4, 1e-3], seeds=list(range(5)))
    if smoke:
        hp.update(n_tune=8, n_test=6, steps=2, lrs=[3e-4], seeds=[0, 1])
    start = time.perf_counter()
    base = checkpoints.load(hp["base"])
    data = sft_loss_data(hp)
    runs = [dict(lr=lr, seed=seed, loss=loss,
                 correct="".join(map(str, sft_loss_run(base.model, data, base.tokenizer, loss=loss, lr=lr, seed=seed,
                                                       steps=hp["steps"], batch_size=hp["batch_size"]))))
            for lr in hp["lrs"] for seed in hp["seeds"] for loss in LOSSES]
    for run in runs:
        run["exact_match"] = round(run["correct"].count("1") / len(run["correct"]), 5)
    figures = dict(steps=hp["steps"], seeds=len(hp["seeds"]), test_items=len(data["test"]),
                   train_minutes=round((time.perf_counter() - start) / 60, 2),
                   mean_exact_match={f"{loss}, lr {lr:g}": round(sum(r["exact_match"] for r in runs if r["lr"] == lr and
                                                                     r["loss"] == loss) / len(hp["seeds"]), 5)
                                     for lr in hp["lrs"] for loss in LOSSES})
    results = dict(runs=runs, test_prompts=[r.prompt for r in data["test"]])
    return Result(None, None, History(), figures, dict(hp, results=results))

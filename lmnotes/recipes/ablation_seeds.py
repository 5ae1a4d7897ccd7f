"""``ablation-seeds`` (results only): notebook 06's runs of book sections 2.2.1-2.2.2 over 10 seeds, so
that the notebook re-runs seed 0 live and reads the spread from here.

- Learning rate: chosen for the clean arm at seed 0 on a dev slice of the training text (its last
  20,000 characters; ``ablations.tune_lr``); every data and variant run uses it.
- Data preparation: the tiny GPT (2 layers, 150 updates) on each of ``ablations.DATA_KINDS``: clean,
  noisy, a fifth of the text repeated five times and that fifth alone, and a partly duplicated text
  beside its de-duplicated version.
- Block variants: the same model on clean text with one switch of ``ablations.VARIANTS`` changed (its
  baseline is the clean run of the same seed).
- Norm placement: post- and pre-norm (4 layers, 100 updates) under each of ``ablations.SCHEDULES``
  (lr 3e-3, and lr 0.03 without and with warm-up), and pre-norm without biases at lr 3e-3 and 0.03.

``ablation-budgets`` (results only): the data and variant runs over 5 seeds at more than one budget, each
trained for 1,500 updates and scored after 150, 500 and 1,500 of them, at a learning rate chosen the same
way for 1,500 updates.
"""

from __future__ import annotations

import math
import time

import torch

from lmnotes.generative import ablations
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: the schedules of the pre-norm runs without biases (Chowdhery et al.'s stability claim, book §2.2.2.3)
NO_BIAS_SCHEDULES = ("lr 3e-3, no warm-up", "lr 0.03, no warm-up")


@recipe("ablation-seeds", "notebook 06's runs over 10 seeds at a learning rate chosen on a dev slice of the "
                          "training text: clean / noisy / less distinct / partly duplicated training text (each "
                          "duplicated text beside its de-duplicated version) and the block "
                          "variants RMSNorm / ReLU / SwiGLU / no biases (2 layers, 150 updates), and post- vs "
                          "pre-norm (4 layers, 100 updates) at lr 3e-3, at lr 0.03 without and with warm-up, plus pre-norm without "
                          "biases; held-out losses, not weights", results=True)
def ablation_seeds(smoke: bool = False) -> Result:
    hp = dict(seeds=list(range(10)), n_train=200_000, n_val=20_000, data_steps=150, noise_rate=0.2,
              stability_steps=ablations.STABILITY_RUN["steps"], n_layer=ablations.STABILITY_RUN["n_layer"],
              schedules=ablations.SCHEDULES, no_bias_schedules=list(NO_BIAS_SCHEDULES), variants=ablations.VARIANTS)
    if smoke:
        hp.update(seeds=[0, 1], n_train=4000, n_val=2000, data_steps=16, stability_steps=3,  # data runs warm up 15
                  dev_chars=1000)
    hp.setdefault("dev_chars", 20_000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as notebook 06 runs, so that its live seed lands on the stored digits
    try:
        return _runs(hp, time.perf_counter())
    finally:
        torch.set_num_threads(threads)


def _runs(hp: dict, start: float) -> Result:
    tok, train_text, val_text = ablations.char_data(hp["n_train"], hp["n_val"])
    sweep = ablations.tune_lr(tok, train_text, dev_chars=hp["dev_chars"], steps=hp["data_steps"], seed=hp["seeds"][0])
    hp["lr"] = sweep["lr"]
    data_runs = [dict(kind=kind, seed=seed, **ablations.run_char_model(
        tok, ablations.prepare(train_text, kind, rate=hp["noise_rate"]), val_text, steps=hp["data_steps"], seed=seed,
        lr=hp["lr"])) for kind in ablations.DATA_KINDS for seed in hp["seeds"]]
    variant_runs = [dict(variant=name, seed=seed, **ablations.run_char_model(
        tok, train_text, val_text, steps=hp["data_steps"], seed=seed, lr=hp["lr"], **switches))
        for name, switches in hp["variants"].items() for seed in hp["seeds"]]
    arms = [(prenorm, schedule, True) for prenorm in (False, True) for schedule in ablations.SCHEDULES]
    arms += [(True, schedule, False) for schedule in NO_BIAS_SCHEDULES]
    norm_runs = [ablations.stability_run(tok, train_text, val_text, schedule, prenorm=prenorm, bias=bias, seed=seed,
                                         steps=hp["stability_steps"])
                 for prenorm, schedule, bias in arms for seed in hp["seeds"]]
    figures = dict(train_minutes=round((time.perf_counter() - start) / 60, 2),
                   unigram=ablations.unigram_loss(train_text, val_text),
                   data_val_loss={kind: [round(r["val_loss"], 5) for r in data_runs if r["kind"] == kind]
                                  for kind in ablations.DATA_KINDS},
                   variant_val_loss={name: [round(r["val_loss"], 5) for r in variant_runs if r["variant"] == name]
                                     for name in hp["variants"]},
                   failed={f"{'pre' if p else 'post'}-norm{'' if b else ' no bias'}, {s}":
                           sum(r["diverged"] for r in norm_runs if (r["prenorm"], r["schedule"], r["bias"]) == (p, s, b))
                           for p, s, b in arms})
    return Result(None, None, History(), figures, dict(hp, results=dict(
        lr_sweep=_sweep(sweep), data_runs=data_runs, variant_runs=variant_runs, norm_runs=norm_runs)))


def _sweep(sweep: dict) -> dict:
    """``ablations.tune_lr``'s result for JSON: the rates as text, a failed run's loss as None."""
    return dict(sweep, dev_loss={f"{lr:g}": loss if math.isfinite(loss) else None for lr, loss in sweep["dev_loss"].items()})


#: the arms whose verdicts notebook 06 re-reads at several budgets: the duplicated texts and their de-duplicated
#: versions against clean text, and the variants
BUDGET_ARMS = ("clean", "fifth x5", "fifth", "part dup", "part dedup", *ablations.VARIANTS)


@recipe("ablation-budgets", "notebook 06's data and variant runs (2 layers) over 5 seeds, each trained for 1,500 "
                            "updates and scored held out and on its own training text after 150, 500 and 1,500: "
                            "clean, less distinct and partly duplicated text (each beside its de-duplicated version), "
                            "and the block variants RMSNorm / ReLU / SwiGLU / no biases, at a learning rate chosen "
                            "on a dev slice of the training text; held-out losses, not weights", results=True)
def ablation_budgets(smoke: bool = False) -> Result:
    hp = dict(seeds=list(range(5)), n_train=200_000, n_val=20_000, steps=1500, budgets=[150, 500, 1500],
              noise_rate=0.2, arms=list(BUDGET_ARMS), variants=ablations.VARIANTS)
    if smoke:
        hp.update(seeds=[0, 1], n_train=4000, n_val=2000, steps=20, budgets=[16, 20], dev_chars=1000)  # warm-up 15
    hp.setdefault("dev_chars", 20_000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        tok, train_text, val_text = ablations.char_data(hp["n_train"], hp["n_val"])
        sweep = ablations.tune_lr(tok, train_text, dev_chars=hp["dev_chars"], steps=hp["steps"], seed=hp["seeds"][0])
        hp["lr"] = sweep["lr"]
        runs = []
        for arm in hp["arms"]:
            text = ablations.prepare(train_text, arm, rate=hp["noise_rate"]) if arm in ablations.DATA_KINDS else train_text
            switches = hp["variants"].get(arm, {})
            runs += [dict(arm=arm, seed=seed, **ablations.run_char_model(tok, text, val_text, steps=hp["steps"], seed=seed,
                                                                        lr=hp["lr"], budgets=hp["budgets"], **switches))
                     for seed in hp["seeds"]]
    finally:
        torch.set_num_threads(threads)
    figures = dict(train_minutes=round((time.perf_counter() - start) / 60, 2),
                   val_loss={arm: {str(b): round(sum(r["curve"]["val_loss"][i] for r in runs if r["arm"] == arm)
                                                 / len(hp["seeds"]), 4) for i, b in enumerate(hp["budgets"])}
                             for arm in hp["arms"]})
    return Result(None, None, History(), figures, dict(hp, results=dict(lr_sweep=_sweep(sweep), runs=runs)))

"""``pretraining-adaptation`` (results only): kinds of pre-training on a tiny GPT, and ``toyworld-gpt``
fine-tuned vs trained from scratch, over seeds (notebook 02).
"""

from __future__ import annotations

import time

from lmnotes import checkpoints
from lmnotes.data import tasks, toyworld
from lmnotes.pretraining import experiments, finetuning
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: notebook 02's settings: what is fixed, and the grids from which lr and steps are chosen on dev
ADAPTATION = dict(seeds=[0, 1, 2, 3, 4], labelled=100, source_n=2000, source_seed=7, ssl_steps=150,
                  source_steps=300, probe=dict(lr=1e-2, steps=150), tiny_grid=dict(lr=[1e-3, 3e-3, 1e-2], steps=[100, 300]),
                  gpt_seeds=[0, 1, 2], label_counts=[25, 100, 200, 400], tune_at=200, gpt_probe=dict(lr=1e-2, steps=100),
                  gpt_grid=dict(lr=[3e-4, 1e-3, 3e-3], steps=[100, 300]))


def adaptation_data(tok, hp: dict | None = None) -> dict:
    """Notebook 02's data: ``tasks.adaptation_reviews()`` as (text, label) lists (``pool``, ``dev``,
    ``test``) and the related source task's ``source`` (``tasks.sentence_strength``, leaving out every
    dev and test text)."""
    hp = dict(ADAPTATION, **(hp or {}))
    sets = {k: [(r.text, r.label) for r in v] for k, v in tasks.adaptation_reviews().items()}
    sets["source"] = tasks.sentence_strength(hp["source_n"], seed=hp["source_seed"],
                                             besides=[x for x, _ in sets["dev"] + sets["test"]])
    return sets


def _grid(grid: dict) -> list[dict]:
    return [dict(lr=lr, steps=steps) for lr in grid["lr"] for steps in grid["steps"]]


@recipe("pretraining-adaptation", "notebook 02's runs: kinds of pre-training on a tiny GPT (5 seeds) and fine-tuning "
                                  "toyworld-gpt vs from scratch (3 seeds, 25-400 labels), lr and steps chosen on dev; "
                                  "results only", results=True)
def pretraining_adaptation(smoke: bool = False) -> Result:
    gpt = checkpoints.load("toyworld-gpt")
    tok, labels = gpt.tokenizer, toyworld.REVIEW_LABELS
    hp = dict(ADAPTATION)
    if smoke:
        hp.update(seeds=[0, 1], labelled=12, source_n=40, ssl_steps=2, source_steps=2, probe=dict(lr=1e-2, steps=2),
                  tiny_grid=dict(lr=[1e-3, 1e-2], steps=[2]), gpt_seeds=[0], label_counts=[8, 12], tune_at=12,
                  gpt_probe=dict(lr=1e-2, steps=2), gpt_grid=dict(lr=[1e-3, 3e-3], steps=[2]))
    start = time.perf_counter()
    data = adaptation_data(tok, hp)
    dev, test = (data["dev"][:16], data["test"][:16]) if smoke else (data["dev"], data["test"])
    labelled, texts = data["pool"][:hp["labelled"]], [x for x, _ in data["pool"]]
    kw = dict(task="classify", labels=labels)

    # kinds of pre-training (tiny GPT): lr and steps of every fine-tuned adaptation chosen on dev at seed 0
    def starts(seed):
        return experiments.pretrained_starts(tok, texts, data["source"], tasks.STRENGTHS, seed=seed,
                                             ssl_steps=hp["ssl_steps"], source_steps=hp["source_steps"])

    first = starts(hp["seeds"][0])
    settings, tiny_sweep = {}, {}
    for name, (begin, mode) in experiments.ADAPTATIONS.items():
        if mode == "probe":
            settings[name] = dict(hp["probe"])
        else:
            settings[name], tiny_sweep[name] = finetuning.tune(first[begin], tok, labelled, dev, grid=_grid(hp["tiny_grid"]),
                                                               mode=mode, seed=hp["seeds"][0], **kw)
    kinds = {}
    for seed in hp["seeds"]:
        begin = first if seed == hp["seeds"][0] else starts(seed)
        kinds[seed] = experiments.compare_pretraining(begin, tok, labelled, test, labels=labels, settings=settings, seed=seed)
        kinds[seed]["source accuracy"] = finetuning.evaluate(begin["source_model"], tasks.sentence_strength(
            300, seed=hp["source_seed"] + 1))["accuracy"]

    # toyworld-gpt fine-tuned vs the same network from scratch: each tunes lr and steps on dev
    gpt_settings, gpt_sweep = {"probe": dict(hp["gpt_probe"])}, {}
    for mode in ("scratch", "full"):
        gpt_settings[mode], gpt_sweep[mode] = finetuning.tune(gpt.model, tok, data["pool"][:hp["tune_at"]], dev,
                                                              grid=_grid(hp["gpt_grid"]), mode=mode, seed=0, **kw)
    curve = {mode: {n: [] for n in hp["label_counts"]} for mode in ("scratch", "full")}
    curve["probe"] = {hp["tune_at"]: []}
    for mode, by_n in curve.items():
        for n in by_n:
            for seed in hp["gpt_seeds"]:
                tuned = finetuning.finetune(gpt.model, tok, data["pool"][:n], mode=mode, seed=seed, **gpt_settings[mode], **kw)
                by_n[n].append(finetuning.evaluate(tuned, test)["accuracy"])
    mean = lambda v: round(sum(v) / len(v), 4)  # noqa: E731
    figures = dict(train_minutes=round((time.perf_counter() - start) / 60, 2),
                   kinds_mean={name: mean([kinds[s][name] for s in hp["seeds"]]) for name in kinds[hp["seeds"][0]]},
                   tiny_settings=settings, gpt_settings=gpt_settings,
                   curve_mean={mode: {str(n): mean(v) for n, v in by_n.items()} for mode, by_n in curve.items()})
    results = dict(kinds={str(s): v for s, v in kinds.items()}, tiny_settings=settings, tiny_sweep=tiny_sweep,
                   gpt_settings=gpt_settings, gpt_sweep=gpt_sweep,
                   curve={mode: {str(n): v for n, v in by_n.items()} for mode, by_n in curve.items()},
                   n=dict(dev=len(dev), test=len(test), source=len(data["source"])))
    return Result(None, None, History(), figures, dict(hp, results=results))

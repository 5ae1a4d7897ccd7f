"""``learning-to-prompt`` (results only): prompt tuning, prefix tuning, LoRA and full fine-tuning of
the frozen ``toyworld-gpt`` over learning rates and seeds (notebook 10).
"""

from __future__ import annotations

from lmnotes import checkpoints
from lmnotes.data import tasks, toyworld
from lmnotes.prompting import efficient
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: notebook 10's label-word task: a review, then "->", then the word of its label
ADAPT_TEMPLATE = "{input} ->"


@recipe("learning-to-prompt", "prompt tuning, prefix tuning, LoRA and full fine-tuning of the frozen toyworld-gpt "
                              "on review polarity: LR sweeps, 3 seeds of LoRA and full, LoRA rank 2; stores "
                              "accuracies, not weights", results=True)
def learning_to_prompt(smoke: bool = False) -> Result:
    base = checkpoints.load("toyworld-gpt").model.eval()
    tok = toyworld.tokenizer()
    hp = dict(steps=300, batch_size=32, n_train=3000, n_dev=200, n_test=300, split_seed=31, seeds=[0, 1, 2],
              sizes={"prompt tuning": 16, "prefix tuning": 16, "lora": 8, "full": 8}, lora_ranks=[2],
              lrs={"prompt tuning": [1e-3, 1e-2, 1e-1, 3e-1], "prefix tuning": [1e-2, 3e-2, 1e-1],
                   "lora": [3e-3, 1e-2, 3e-2], "full": [3e-4, 1e-3]}, seeded=["lora", "full"])
    if smoke:
        hp.update(steps=3, batch_size=4, n_train=40, n_dev=10, n_test=10, seeds=[0, 1],
                  lrs={m: lrs[:2] for m, lrs in hp["lrs"].items()})
    split = tasks.review_split(hp["n_train"], hp["n_dev"], hp["n_test"], seed=hp["split_seed"])
    evals = {"dev": split["dev"], "test": split["test"]}

    def run(method, lr, seed, size):
        out = efficient.adapt(base, method, tok, split["train"], evals, ADAPT_TEMPLATE, toyworld.LABEL_WORDS,
                              size=size, lr=lr, steps=hp["steps"], batch_size=hp["batch_size"], seed=seed)
        out.pop("model")
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}, flush=True)
        return out

    sweep = [run(m, lr, hp["seeds"][0], hp["sizes"][m]) for m in efficient.METHODS for lr in hp["lrs"][m]]
    best = {m: max((r for r in sweep if r["method"] == m), key=lambda r: r["dev_accuracy"])["lr"]
            for m in efficient.METHODS}
    seeds = [r for r in sweep if r["lr"] == best[r["method"]]] + [
        run(m, best[m], s, hp["sizes"][m]) for m in hp["seeded"] for s in hp["seeds"][1:]]
    ranks = [run("lora", best["lora"], hp["seeds"][0], r) for r in hp["lora_ranks"]]
    frozen = {name: efficient.label_accuracy(base, tok, items, ADAPT_TEMPLATE, toyworld.LABEL_WORDS)
              for name, items in evals.items()}
    figures = {f"{m}_test_accuracy": [round(r["test_accuracy"], 4) for r in seeds if r["method"] == m]
               for m in efficient.METHODS}
    figures.update(steps=hp["steps"], best_lr=best, frozen_test_accuracy=round(frozen["test"], 4))
    results = dict(sweep=sweep, seeds=seeds, lora_ranks=ranks, best_lr=best, frozen=frozen,
                   template=ADAPT_TEMPLATE, label_words=toyworld.LABEL_WORDS)
    return Result(None, None, History(), figures, dict(hp, results=results))

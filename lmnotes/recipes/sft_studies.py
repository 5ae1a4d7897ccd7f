"""``sft-studies`` (results only): notebook 11's SFT experiments: data efficiency vs scratch, noisy vs
clean data, forgetting, weak-to-strong generalisation.
"""

from __future__ import annotations

from dataclasses import replace

from lmnotes import checkpoints
from lmnotes.alignment import sft
from lmnotes.alignment import sft_studies as st
from lmnotes.alignment.sft import held_out_instructions
from lmnotes.data import toyworld
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: seeds of the sft-studies recipe's data: training sets, weak-to-strong sets, evaluation sets
SFT_STUDY_SEEDS = dict(train=5_000_001, noisy=5_000_002, weak_train=5_000_003, weak_unlabelled=5_000_004,
                       tasks=5_000_005, eval_new=5_000_011, eval_seen=5_000_012)


def sft_study_data(hp: dict) -> dict:
    """The sft-studies recipe's training sets and its evaluation sets (instructions that neither
    toyworld-gpt's pre-training nor any of the training sets holds). Notebook 11 rebuilds them here."""
    seeds, n = SFT_STUDY_SEEDS, hp["n_max"]
    data = dict(train=toyworld.instructions(n, seed=seeds["train"], templates="held_out"),
                noisy=toyworld.instructions(n, seed=seeds["noisy"], templates="held_out"),
                weak_train=toyworld.instructions(hp["weak_examples"], seed=seeds["weak_train"], templates="held_out"),
                weak_unlabelled=toyworld.instructions(n, seed=seeds["weak_unlabelled"], templates="held_out"),
                tasks=toyworld.instructions(n, seed=seeds["tasks"], templates="held_out",
                                            tasks=toyworld.TASKS[:-1]))
    used = [r.prompt for records in data.values() for r in records]
    data["eval_new"] = held_out_instructions(hp["n_eval"], seeds["eval_new"], exclude=used, templates="held_out")
    data["eval_seen"] = held_out_instructions(hp["n_eval"], seeds["eval_seen"], exclude=used, templates="seen")
    data["eval_task_new"] = [r for r in data["eval_new"] if r.task == hp["held_out_task"]]
    data["eval_task_seen"] = [r for r in data["eval_seen"] if r.task == hp["held_out_task"]]
    return data


@recipe("sft-studies", "notebook 11's SFT experiments on toyworld-gpt: data efficiency vs scratch, noisy vs "
                       "clean data, K tasks, forgetting vs LR, weak-to-strong and a cascade; stores results", results=True)
def sft_studies_recipe(smoke: bool = False) -> Result:
    tok = toyworld.tokenizer()
    hp = dict(sizes=[10, 30, 100, 300, 1000], n_max=1000, n_eval=300, steps=300, batch_size=16,
              lrs={"pretrained": [1e-4, 1e-3], "scratch": [1e-3, 3e-3]}, noise_share=0.5, noisy_n=1000,
              clean_n=100, quality_lr=3e-4, seeds=[0, 1, 2], task_counts=[1, 2, 4, 6], held_out_task="last",
              task_lr=1e-4, forgetting_lrs=[1e-4, 1e-3, 3e-3], forgetting_n=1000, weak_examples=4000,
              weak_steps=700, weak_lr=3e-3, weak_batch_size=32, strong_lr=1e-4,
              cascade_shares=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0], seed=0)
    if smoke:
        hp.update(sizes=[10, 30], n_max=30, n_eval=100, steps=3, seeds=[0], task_counts=[1], forgetting_lrs=[1e-4],
                  noisy_n=30, clean_n=10, weak_examples=30, weak_steps=3, lrs={"pretrained": [1e-4], "scratch": [1e-3]})
    data = sft_study_data(hp)
    evals = {"new": data["eval_new"], "seen": data["eval_seen"]}
    val_ids = toyworld.stream(tok, 20_000 if not smoke else 2000, seed=checkpoints.info("toyworld-gpt")["hparams"]["seed"] + 1)
    common = dict(steps=hp["steps"], batch_size=hp["batch_size"])

    def score(init, records, lr, seed=0, eval_sets=evals, **kwargs):
        out = st.run(init, records, eval_sets, tok, lr=lr, seed=seed, **{**common, **kwargs})
        out.pop("model")
        return out

    efficiency = {init: {str(lr): [score(init, data["train"][:n], lr) for n in hp["sizes"]] for lr in lrs}
                  for init, lrs in hp["lrs"].items()}
    quality = {"noisy": [score("pretrained", st.noisy(data["noisy"][:hp["noisy_n"]], hp["noise_share"], s), hp["quality_lr"], s)
                         for s in hp["seeds"]],
               "clean": [score("pretrained", data["train"][:hp["clean_n"]], hp["quality_lr"], s) for s in hp["seeds"]]}
    task_sets = dict(evals, held_out_task_new=data["eval_task_new"], held_out_task_seen=data["eval_task_seen"])
    tasks = []
    for k in hp["task_counts"]:
        chosen = toyworld.TASKS[:k]
        records = [r for r in data["tasks"] if r.task in chosen]
        tuned = {"tuned_new": [r for r in data["eval_new"] if r.task in chosen]}
        tasks.append(dict(k=k, tasks=list(chosen), n_train=len(records),
                          **score("pretrained", records, hp["task_lr"], eval_sets={**task_sets, **tuned})))
    forgetting = [dict(lr=lr, **score("pretrained", data["train"][:hp["forgetting_n"]], lr, pretraining_ids=val_ids))
                  for lr in hp["forgetting_lrs"]]

    weak_to_strong = []
    new = data["eval_new"]
    for s in hp["seeds"]:
        weak = st.run(st.small_model(s, tok.vocab_size), data["weak_train"], {"new": new}, tok, steps=hp["weak_steps"],
                      lr=hp["weak_lr"], batch_size=hp["weak_batch_size"], seed=s)
        labels = sft.respond(weak["model"], [r.prompt for r in data["weak_unlabelled"]], tok)
        weak_labelled = [replace(r, response=a) for r, a in zip(data["weak_unlabelled"], labels)]
        label_accuracy = sum(a.split() == r.response.split() for a, r in zip(labels, data["weak_unlabelled"])) / len(labels)
        strong = st.run("pretrained", weak_labelled, {"new": new}, tok, lr=hp["strong_lr"], seed=s, **common)
        ceiling = st.run("pretrained", data["weak_unlabelled"], {"new": new}, tok, lr=hp["strong_lr"], seed=s, **common)
        p = (weak["new"]["accuracy"], strong["new"]["accuracy"], ceiling["new"]["accuracy"])
        row = dict(seed=s, weak=p[0], weak_to_strong=p[1], ceiling=p[2], weak_label_accuracy=round(label_accuracy, 4),
                   pgr=round(st.performance_gap_recovered(*p), 4) if p[2] > p[0] else None)
        if s == hp["seeds"][0]:  # the cascade: weak answers first, the least confident go to the strong model
            answers = {m: sft.respond(run_["model"], [r.prompt for r in new], tok)
                       for m, run_ in (("weak", weak), ("strong", ceiling))}
            right = {m: [a.split() == r.response.split() for a, r in zip(answers[m], new)] for m in answers}
            confidence = st.answer_confidence(weak["model"], new, answers["weak"], tok)
            row["cascade"] = dict(shares=hp["cascade_shares"],
                                  accuracy=[round(a, 4) for a in st.cascade(right["weak"], right["strong"], confidence,
                                                                            hp["cascade_shares"])])
        weak_to_strong.append(row)

    pgrs = [r["pgr"] for r in weak_to_strong if r["pgr"] is not None]
    best = {init: [max(runs[n_i]["new"]["accuracy"] for runs in by_lr.values()) for n_i in range(len(hp["sizes"]))]
            for init, by_lr in efficiency.items()}
    figures = dict(steps=hp["steps"], sizes=hp["sizes"], best_accuracy_new=best,
                   noisy_accuracy_new=[r["new"]["accuracy"] for r in quality["noisy"]],
                   clean_accuracy_new=[r["new"]["accuracy"] for r in quality["clean"]],
                   pgr=pgrs, pgr_mean=round(sum(pgrs) / len(pgrs), 4) if pgrs else None)
    results = dict(efficiency=efficiency, quality=quality, tasks=tasks, forgetting=forgetting,
                   weak_to_strong=weak_to_strong, n_eval={k: len(v) for k, v in data.items() if k.startswith("eval")})
    return Result(None, None, History(), figures, dict(hp, results=results))

"""``toyworld-bert-seeds`` (results only): notebook 04's runs on ``toyworld-bert`` over 3 seeds
(cross-layer sharing, distillation, fine-tuning, forgetting and replay, and the fine-tuning budget of regression,
tagging and spans), so that the notebook re-runs one seed live.
"""

from __future__ import annotations

import time

from lmnotes import checkpoints
from lmnotes.data import overlap, tasks, toyworld
from lmnotes.data.datasets import documents_stream
from lmnotes.pretraining import compression, experiments, finetuning
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: notebook 04, section 2: the stream its students train on, and its held-out masked batches
BERT_EFFICIENCY = dict(block_size=64, train_tokens=150_000, train_seed=1, val_tokens=40_000, val_seed=2,
                       val_blocks=64, val_mask_seed=123, rank_mask_seed=321)


def bert_efficiency_data(tok, hp: dict | None = None) -> dict:
    """What notebook 04's section 2 measures on, for ``tok`` the tokenizer of bundled ``toyworld-bert``: ``train_ids`` (a toy-world stream the small models
    train on), ``val_batch`` (every measurement) and ``rank_batch`` (only for ranking heads), both
    masked blocks of held-out text that occurs neither in ``toyworld-bert``'s pre-training data nor in
    ``train_ids`` (``lmnotes.data.overlap.unseen_corpus``); ``val_documents`` are those documents."""
    hp = dict(BERT_EFFICIENCY, **(hp or {}))
    T, n = hp["block_size"], hp["val_blocks"]
    train_docs = toyworld.corpus(hp["train_tokens"], seed=hp["train_seed"])
    val_docs = overlap.unseen_corpus("toyworld-bert", hp["val_tokens"], seed=hp["val_seed"], besides=train_docs)
    val_ids = documents_stream(tok, val_docs)
    if len(val_ids) < 2 * n * T:
        raise ValueError(f"val_tokens = {hp['val_tokens']} leave {len(val_ids)} unseen tokens, fewer than the "
                         f"{2 * n * T} two batches of val_blocks = {n} need")
    sp, V = experiments.toy_specials(tok), len(tok)
    return dict(train_ids=documents_stream(tok, train_docs), val_documents=val_docs,
                val_batch=experiments.masked_blocks(val_ids[: n * T], block_size=T, vocab_size=V, specials=sp,
                                                    seed=hp["val_mask_seed"]),
                rank_batch=experiments.masked_blocks(val_ids[n * T: 2 * n * T], block_size=T, vocab_size=V,
                                                     specials=sp, seed=hp["rank_mask_seed"]))


@recipe("toyworld-bert-seeds", "notebook 04's runs over 3 seeds on toyworld-bert: cross-layer sharing (3 settings, "
                               "3 batch orders), distillation (hard vs soft labels, 3 batch orders), fine-tuning on sentiment and "
                               "agree/contradict pairs, forgetting and replay, and regression, tagging and spans at "
                               "80/160/320 updates; results only", results=True)
def toyworld_bert_seeds(smoke: bool = False) -> Result:
    bert = checkpoints.load("toyworld-bert")
    model, tok = bert.model, bert.tokenizer
    hp = dict(BERT_EFFICIENCY, seeds=[0, 1, 2], share_steps=60, distill_steps=60, share_batch_size=16, share_eval_every=15,
              finetune_steps={"classify": 160, "pair": 160, "regress": 80, "tag": 80, "span": 80}, finetune_lr=1e-3,
              budget_steps=[80, 160, 320])
    if smoke:
        hp.update(seeds=[0], share_steps=3, distill_steps=3, share_eval_every=3, val_blocks=4, val_tokens=3000,
                  finetune_steps={"classify": 2, "pair": 2, "regress": 2, "tag": 2, "span": 2}, budget_steps=[1, 2])
    start = time.perf_counter()
    data = bert_efficiency_data(tok, hp)
    score = lambda m: experiments.mlm_scores(m, data["val_batch"])["MLM loss"]  # noqa: E731
    sharing = []
    for seed in hp["seeds"]:
        batches = experiments.stream_mlm_batches(data["train_ids"], steps=hp["share_steps"],
                                                 batch_size=hp["share_batch_size"], block_size=hp["block_size"],
                                                 vocab_size=len(tok), specials=experiments.toy_specials(tok),
                                                 seed=1 + seed)
        sharing.append(compression.sharing_curves(model, batches, score, steps=hp["share_steps"],
                                                  eval_every=hp["share_eval_every"]))
    distillation = []
    for seed in hp["seeds"]:  # batch order `seed`, the two students on the same batches
        batches = experiments.stream_mlm_batches(data["train_ids"], steps=hp["distill_steps"],
                                                 batch_size=hp["share_batch_size"], block_size=hp["block_size"],
                                                 vocab_size=len(tok), specials=experiments.toy_specials(tok), seed=seed)
        distillation.append(compression.distillation_runs(model, batches,
                                                          lambda m: experiments.mlm_scores(m, data["val_batch"]),
                                                          steps=hp["distill_steps"], eval_every=hp["share_eval_every"]))
    sets, _ = tasks.application_sets()
    if smoke:
        sets = {task: (train_set[:8], test_set[:8], options) for task, (train_set, test_set, options) in sets.items()}

    def tuned(task, steps, seed):
        train_set, _, options = sets[task]
        return finetuning.finetune(model, tok, train_set, task=task, mode="full", steps=steps, lr=hp["finetune_lr"],
                                   seed=seed, **options)

    fine, sentiment = {}, []
    for task in ("classify", "pair"):
        models = [tuned(task, hp["finetune_steps"][task], seed) for seed in hp["seeds"]]
        fine[task] = [finetuning.evaluate(m, sets[task][1])["accuracy"] for m in models]
        sentiment = models if task == "classify" else sentiment
    # forgetting and replay: each seed's sentiment model fine-tuned again on the pair task as one text
    joined = {part: [(f"{a} {b}", label) for (a, b), label in sets["pair"][k]] for k, part in ((0, "train"), (1, "test"))}
    forgetting = [finetuning.forgetting_runs(first, joined["train"], replay_from=sets["classify"][0],
                                             first_test=sets["classify"][1], second_test=joined["test"],
                                             labels=toyworld.REVIEW_LABELS + tasks.AGREEMENT,
                                             steps=hp["finetune_steps"]["pair"], lr=hp["finetune_lr"], seed=seed)
                  for first, seed in zip(sentiment, hp["seeds"])]
    # the tasks notebook 04 fine-tunes for 80 updates, at each budget of budget_steps
    budget = {task: {str(steps): [finetuning.evaluate(tuned(task, steps, seed), sets[task][1]) for seed in hp["seeds"]]
                     for steps in hp["budget_steps"]} for task in ("regress", "tag", "span")}
    figures = dict(steps=hp["share_steps"], train_minutes=round((time.perf_counter() - start) / 60, 2),
                   sharing_final_loss={name: [round(run[name]["eval_loss"][-1], 5) for run in sharing]
                                       for name in compression.SHARING_SETTINGS},
                   distillation_final_loss={name: [round(run[name]["MLM loss"], 5) for run in distillation]
                                            for name in compression.DISTILLATION_ALPHAS},
                   finetune_accuracy={task: [round(v, 5) for v in values] for task, values in fine.items()},
                   forgetting_no_replay_task1_head=[round(run["no replay, task-1 head"], 5) for run in forgetting])
    results = dict(sharing=[{name: dict(c, eval_loss=[round(v, 5) for v in c["eval_loss"]]) for name, c in run.items()}
                            for run in sharing],
                   distillation=[{name: {k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()
                                          if k != "eval_loss"} | {"eval_loss": [round(v, 5) for v in r["eval_loss"]]}
                                   for name, r in run.items()} for run in distillation],
                   finetune_accuracy=fine, forgetting=forgetting, budget=budget, val_documents=len(data["val_documents"]))
    return Result(None, None, History(), figures, dict(hp, results=results))

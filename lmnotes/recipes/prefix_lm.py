"""``prefix-lm`` (results only): notebook 03's prefix-LM comparison over 10 seeds, so that the notebook
re-runs one seed live. One small GPT trained three ways for the same steps on the same batches
(``experiments.PREFIX_LM_ARMS``: causal LM; prefix LM, its prefix read in both directions and the loss
on the continuation; causal LM with the loss on the continuation only), each scored every 100 steps
on the continuation of held-out facts documents given a prefix. The learning rate is constant after
warm-up, so step 300 of these runs is the notebook's 300-step run.
"""

from __future__ import annotations

import time

from lmnotes.data import overlap, toyworld
from lmnotes.models import GPTConfig
from lmnotes.pretraining import experiments
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: notebook 03's live models: their training text, its held-out documents, the block and the budget
PREFIX_LM = dict(train_tokens=18_000, train_seed=0, pool_tokens=40_000, pool_seed=1, block_size=32,
                 model=dict(n_layer=2, n_head=4, n_embd=64, prenorm=False, norm="layernorm", ffn="gelu", bias=True,
                            pos="learned", tie_weights=True),
                 batch_size=32, steps=600, lr=3e-3, warmup=20, min_lr=3e-3, eval_every=100, split_seed=0)


def prefix_lm_data(tok, hp: dict | None = None) -> dict:
    """Notebook 03's facts documents for ``tok`` (the toy world's tokenizer): ``train_docs`` (every live
    model's training text), ``test_docs`` (distinct facts documents of another seed that occur nowhere in
    it, ``lmnotes.data.overlap.seen_in``) and their rows (one document per row, ``block_size`` tokens)."""
    hp = dict(PREFIX_LM, **(hp or {}))
    facts = {"facts": 1}
    train_docs = toyworld.corpus(hp["train_tokens"], seed=hp["train_seed"], mixture=facts)
    pool = list(dict.fromkeys(toyworld.corpus(hp["pool_tokens"], seed=hp["pool_seed"], mixture=facts)))
    test_docs = [d for d, seen in zip(pool, overlap.seen_in(train_docs, pool)) if not seen]
    return dict(train_docs=train_docs, test_docs=test_docs,
                train_rows=experiments.document_rows(tok, train_docs, block_size=hp["block_size"]),
                test_rows=experiments.document_rows(tok, test_docs, block_size=hp["block_size"]))


@recipe("prefix-lm", "notebook 03's prefix-LM comparison over 10 seeds: one small GPT trained as a causal LM, a prefix "
                     "LM and a causal LM with the continuation's loss only, 600 steps each on the same batches, scored "
                     "every 100 steps on the continuation of held-out facts documents; results only", results=True)
def prefix_lm(smoke: bool = False) -> Result:
    tok = toyworld.tokenizer()
    hp = dict(PREFIX_LM, seeds=list(range(10)))
    if smoke:
        hp.update(seeds=[0, 1], steps=4, warmup=1, eval_every=2)
    start = time.perf_counter()
    data = prefix_lm_data(tok, hp)
    pad = experiments.toy_specials(tok).pad
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], **hp["model"])
    budget = dict(steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"], progress=False)
    scored = {bidirectional: experiments.prefix_lm_batch(data["test_rows"], pad_id=pad, seed=hp["split_seed"],
                                                         bidirectional=bidirectional) for bidirectional in (False, True)}
    runs = []
    for seed in hp["seeds"]:
        run = {}
        for arm in experiments.PREFIX_LM_ARMS:
            batch = scored[arm == "prefix LM"]
            model, history = experiments.prefix_lm_arm(
                arm, data["train_rows"], config=config, batch_size=hp["batch_size"], pad_id=pad, seed=seed,
                eval_fn=lambda m, batch=batch: experiments.row_losses(m, batch).mean().item(),
                eval_every=hp["eval_every"], **budget)
            nats = experiments.row_losses(model, batch)
            run[arm] = dict(eval_steps=history.eval_steps, continuation_loss=[round(v, 5) for v in history.eval_loss],
                            final_train_loss=round(history.train_loss[-1], 5), document_losses=[round(v, 5) for v in nats.tolist()])
        runs.append(run)
    figures = dict(steps=hp["steps"], seeds=len(hp["seeds"]), test_documents=len(data["test_docs"]),
                   train_minutes=round((time.perf_counter() - start) / 60, 2),
                   final_continuation_loss={arm: [run[arm]["continuation_loss"][-1] for run in runs]
                                            for arm in experiments.PREFIX_LM_ARMS})
    results = dict(runs=runs, test_documents=len(data["test_docs"]), train_documents=len(data["train_docs"]),
                   test_in_training=sum(overlap.seen_in(data["train_docs"], data["test_docs"])),
                   prefix_lengths=scored[True]["prefix"].tolist())
    return Result(None, None, History(), figures, dict(hp, results=results))

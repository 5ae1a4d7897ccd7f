"""``nsp-ablation`` (results only): small BERTs pre-trained on the same sentence pairs with and
without next sentence prediction, RoBERTa's question (notebook 04, section 1.3.2).
"""

from __future__ import annotations

import time

from lmnotes.data import tasks, toyworld
from lmnotes.models import Encoder, EncoderConfig
from lmnotes.pretraining import experiments, finetuning
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.training import History, train

#: the NSP ablation's settings: two pre-trainings per seed on the same sentence pairs, with and
#: without the NSP term, then the same fine-tunings of each
NSP_ABLATION = dict(n_tokens=300_000, data_seed=201, heldout_tokens=40_000, heldout_seed=202, heldout_mask_seed=7,
                    n_layer=2, n_head=2, n_embd=64, block_size=64, batch_size=32, steps=1500, lr=3e-3, warmup=50,
                    finetune_steps=160, finetune_lr=1e-3, pools=["first", "mean"], seeds=[0, 1, 2, 3, 4])


def nsp_ablation_data(tok, hp: dict) -> dict:
    """What the NSP ablation trains and tests on: sentence pairs of a toy-world corpus
    (``experiments.sentence_pair_rows``), held-out pairs from documents it does not hold (masked
    once), and two of notebook 04's fine-tuning tasks (``tasks.application_sets``), agree/contradict
    pairs about people not trained on and reviews, whose test items occur neither in their training
    set nor in these pre-training documents."""
    documents = toyworld.corpus(hp["n_tokens"], seed=hp["data_seed"])
    known = set(documents)
    heldout_documents = [d for d in toyworld.corpus(hp["heldout_tokens"], seed=hp["heldout_seed"]) if d not in known]
    rows = {name: experiments.sentence_pair_rows(tok, docs, block_size=hp["block_size"], seed=hp["data_seed"])
            for name, docs in (("train", documents), ("heldout", heldout_documents))}
    sets, _ = tasks.application_sets(documents=documents)
    return dict(documents=documents, train=rows["train"], finetuning={task: sets[task] for task in ("pair", "classify")},
                heldout=experiments.masked_pairs(rows["heldout"], vocab_size=tok.vocab_size,
                                                 specials=experiments.toy_specials(tok), seed=hp["heldout_mask_seed"]))


@recipe("nsp-ablation", "notebook 04's NSP ablation (§1.3.2): small BERTs pre-trained on the same sentence pairs with "
                        "MLM + NSP or MLM alone, 5 seeds, then fine-tuned on a pair task and on reviews; results only", results=True)
def nsp_ablation(smoke: bool = False) -> Result:
    hp = dict(NSP_ABLATION)
    if smoke:
        hp.update(n_tokens=4000, heldout_tokens=3000, steps=3, warmup=1, finetune_steps=2, seeds=[0], pools=["first"])
    start = time.perf_counter()
    tok = toyworld.tokenizer()
    hf, sp = tok.to_hf(), experiments.toy_specials(tok)
    data = nsp_ablation_data(tok, hp)
    if smoke:
        data["finetuning"] = {task: (tr[:8], te[:8], options) for task, (tr, te, options) in data["finetuning"].items()}
    runs = []
    for seed in hp["seeds"]:
        for nsp in (True, False):
            batches = experiments.bert_batches(data["train"], batch_size=hp["batch_size"], vocab_size=tok.vocab_size,
                                               specials=sp, seed=seed)
            seed_everything(seed)
            model = Encoder(EncoderConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                                          n_head=hp["n_head"], n_embd=hp["n_embd"], type_vocab_size=2))
            history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], weight_decay=0.01,
                            seed=seed, progress=False, loss_fn=lambda m, b, nsp=nsp: experiments.bert_loss(m, b, nsp=nsp))
            row = dict(nsp=nsp, seed=seed, train_seconds=round(history.train_seconds[-1], 1),
                       **{k.lower().replace(" ", "_"): round(v, 5)
                          for k, v in experiments.bert_scores(model, data["heldout"]).items()})
            for task, (train_set, test_set, options) in data["finetuning"].items():
                for pool in hp["pools"]:
                    tuned = finetuning.finetune(model, hf, train_set, task=task, mode="full", steps=hp["finetune_steps"],
                                                lr=hp["finetune_lr"], pool=pool, seed=seed, **options)
                    row[f"{task}_{pool}"] = round(finetuning.evaluate(tuned, test_set)["accuracy"], 5)
            runs.append(row)
    majority = {task: max(sum(y == c for _, y in te) for c in options["labels"]) / len(te)
                for task, (_, te, options) in data["finetuning"].items()}
    majority["nsp"] = max(data["heldout"]["next_sentence"].float().mean().item(),
                          1 - data["heldout"]["next_sentence"].float().mean().item())
    keys = [f"{task}_{pool}" for task in data["finetuning"] for pool in hp["pools"]]
    figures = {f"{key}_{'with' if nsp else 'without'}_nsp": [r[key] for r in runs if r["nsp"] == nsp]
               for key in keys for nsp in (True, False)}
    figures.update(train_minutes=round((time.perf_counter() - start) / 60, 2))
    results = dict(runs=runs, majority={k: round(v, 5) for k, v in majority.items()},
                   n_test={task: len(te) for task, (_, te, _) in data["finetuning"].items()},
                   n_pairs=dict(train=len(data["train"]["input_ids"]), heldout=len(data["heldout"]["input_ids"])),
                   is_next_share=round(1 - data["train"]["next_sentence"].float().mean().item(), 5))
    return Result(None, None, History(), figures, dict(hp, results=results))

"""``masked-ed-lm`` (results only): notebook 03's limit case of §1.2.3.1 over 5 seeds and 4 budgets, so
that the notebook re-runs one seed live. An encoder-decoder trained with every source token masked
(the source keeps only the document's length) and a causal LM of the pair's form, each for the same
steps on the same documents, both scored every 100 steps on the words of the held-out facts documents.
The learning rate is constant after warm-up, so step 100 of these runs is the notebook's 100-step run.
"""

from __future__ import annotations

import time

import torch

from lmnotes.data import toyworld
from lmnotes.models import GPT, EncoderDecoder, EncoderDecoderConfig, GPTConfig
from lmnotes.pretraining import experiments
from lmnotes.recipes.prefix_lm import PREFIX_LM, prefix_lm_data
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.training import History, train

#: the notebook's encoder-decoder (its vocabulary has 8 sentinel ids after the toy world's) and budget
MASKED_ED_LM = dict(sentinels=8, encdec=dict(block_size=64, n_layer=2, n_head=4, n_embd=64), batch_size=16,
                    steps=400, eval_every=100, lr=3e-3, warmup=20, min_lr=3e-3, test_seed=10**6)


def masked_ed_lm_batches(tok, data: dict, hp: dict | None = None) -> dict:
    """What notebook 03 scores the two models on, from :func:`prefix_lm_data`'s documents: ``pairs`` (every
    training document as an all-``<mask>`` source and its text), ``ed_test`` (the test documents the
    same way, the closing ``<eos>`` left out of the labels) and ``lm_test`` (their rows, next-word labels)."""
    hp = dict(MASKED_ED_LM, **(hp or {}))
    sp = experiments.toy_specials(tok)
    vv = tok.vocab_size + hp["sentinels"]
    train_seqs = [torch.tensor(tok.encode(d)) for d in data["train_docs"]]
    test_seqs = [torch.tensor(tok.encode(d)) for d in data["test_docs"]]
    ids = dict(bos_id=sp.bos, eos_id=sp.eos, pad_id=sp.pad)
    ed_test = experiments.seq2seq_batch(experiments.denoising_pairs(test_seqs, "token_masking", seed=hp["test_seed"],
                                                                    mask_id=sp.mask, vocab_size=vv, rate=1.0), **ids)
    ed_test["labels"] = ed_test["labels"].masked_fill(ed_test["labels"] == sp.eos, -100)
    rows = data["test_rows"]
    following = torch.cat([rows[:, 1:], torch.full((len(rows), 1), sp.pad)], dim=1)
    return dict(pairs=experiments.denoising_pairs(train_seqs, "token_masking", seed=0, mask_id=sp.mask, vocab_size=vv,
                                                  rate=1.0),
                ed_test=ed_test, lm_test={"input_ids": rows, "labels": following.masked_fill(following == sp.pad, -100)})


@recipe("masked-ed-lm", "notebook 03's 100%-masked encoder-decoder against a causal LM, 5 seeds, scored every 100 steps "
                        "to 400 on held-out facts documents; results only", results=True)
def masked_ed_lm(smoke: bool = False) -> Result:
    tok = toyworld.tokenizer()
    hp = dict(MASKED_ED_LM, seeds=list(range(5)))
    if smoke:
        hp.update(seeds=[0, 1], steps=4, eval_every=2, warmup=1)
    start = time.perf_counter()
    data = prefix_lm_data(tok)
    sets = masked_ed_lm_batches(tok, data, hp)
    sp = experiments.toy_specials(tok)
    ids = dict(bos_id=sp.bos, eos_id=sp.eos, pad_id=sp.pad)
    budget = dict(steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"], eval_every=hp["eval_every"],
                  progress=False)
    gpt_config = GPTConfig(vocab_size=tok.vocab_size, block_size=PREFIX_LM["block_size"], **PREFIX_LM["model"])
    ed_config = EncoderDecoderConfig(vocab_size=tok.vocab_size + hp["sentinels"], **hp["encdec"])
    runs = []
    for seed in hp["seeds"]:  # weights from seed; the encoder-decoder's batches from seed, the causal LM's from seed + 1
        seed_everything(seed)
        ed = EncoderDecoder(ed_config)
        ed_run = train(ed, experiments.seq2seq_batches(sets["pairs"], batch_size=hp["batch_size"], seed=seed, **ids),
                       loss_fn=experiments.seq2seq_loss, seed=seed,
                       eval_fn=lambda m: experiments.row_losses(m, sets["ed_test"]).mean().item(), **budget)
        seed_everything(seed)
        gpt = GPT(gpt_config)
        gpt_run = train(gpt, experiments.causal_lm_batches(data["train_rows"], batch_size=hp["batch_size"], pad_id=sp.pad,
                                                           seed=seed + 1), seed=seed,
                        eval_fn=lambda m: experiments.row_losses(m, sets["lm_test"]).mean().item(), **budget)
        runs.append({"encoder-decoder": dict(eval_steps=ed_run.eval_steps, nats=[round(v, 5) for v in ed_run.eval_loss]),
                     "causal LM": dict(eval_steps=gpt_run.eval_steps, nats=[round(v, 5) for v in gpt_run.eval_loss])})
    figures = dict(steps=hp["steps"], seeds=len(hp["seeds"]), test_documents=len(data["test_docs"]),
                   train_minutes=round((time.perf_counter() - start) / 60, 2),
                   final_nats={name: [run[name]["nats"][-1] for run in runs] for name in ("encoder-decoder", "causal LM")})
    return Result(None, None, History(), figures, dict(hp, results=dict(runs=runs, test_documents=len(data["test_docs"]))))

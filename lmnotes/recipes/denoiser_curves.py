"""``denoiser-curves`` (results only): notebook 03's denoiser (one small encoder-decoder trained on an equal
mix of six corruptions, §1.2.3) over 5 seeds and 1,000 steps, each corruption's exact restoration of the
held-out facts documents scored every 100 steps, so that the notebook reads its verdicts at 1,000 steps
(the reordering curves are flat by then; the others still climb) and re-runs one seed live. The learning rate is constant after warm-up, so step
300 of these runs is the notebook's 300-step run.
"""

from __future__ import annotations

import time

import torch

from lmnotes.data import toyworld
from lmnotes.models import EncoderDecoder, EncoderDecoderConfig
from lmnotes.pretraining import experiments
from lmnotes.recipes.prefix_lm import prefix_lm_data
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.training import History, train

#: notebook 03's denoiser and budget (its vocabulary has 8 sentinel ids after the toy world's)
DENOISER = dict(sentinels=8, encdec=dict(block_size=64, n_layer=2, n_head=4, n_embd=64), batch_size=32, steps=1000,
                eval_every=100, lr=3e-3, warmup=20, min_lr=3e-3, pair_seed=0, test_seed=10**6)


def denoiser_corruptions(tok, sentinels: int = 8) -> dict[str, dict]:
    """Notebook 03's six corruptions and their options for ``tok``: masking, deletion and infilling hide 15%."""
    V, sp = tok.vocab_size, experiments.toy_specials(tok)
    ids, vv = list(range(V, V + sentinels)), V + sentinels
    return {"span_corruption": dict(sentinel_ids=ids, vocab_size=vv), "token_masking": dict(mask_id=sp.mask, vocab_size=vv),
            "token_deletion": dict(vocab_size=vv), "text_infilling": dict(mask_id=sp.mask, vocab_size=vv, rate=0.15),
            "sentence_permutation": dict(separator_id=tok.encode(".")[0], vocab_size=vv),
            "document_rotation": dict(vocab_size=vv)}


@recipe("denoiser-curves", "notebook 03's denoiser (six corruptions, one encoder-decoder) over 5 seeds and 1,000 steps, "
                           "exact restoration of held-out facts documents every 100 steps; results only", results=True)
def denoiser_curves(smoke: bool = False) -> Result:
    tok = toyworld.tokenizer()
    hp = dict(DENOISER, seeds=list(range(5)))
    if smoke:
        hp.update(seeds=[0, 1], steps=4, eval_every=2, warmup=1)
    start = time.perf_counter()
    data = prefix_lm_data(tok)
    sp = experiments.toy_specials(tok)
    ids = dict(bos_id=sp.bos, eos_id=sp.eos, pad_id=sp.pad)
    corruptions = denoiser_corruptions(tok, hp["sentinels"])
    train_seqs = [torch.tensor(tok.encode(d)) for d in data["train_docs"]]
    test_seqs = [torch.tensor(tok.encode(d)) for d in data["test_docs"]]
    pairs = [p for kind, options in corruptions.items()
             for p in experiments.denoising_pairs(train_seqs, kind, seed=hp["pair_seed"], **options)]
    tests = {kind: experiments.seq2seq_batch(experiments.denoising_pairs(test_seqs, kind, seed=hp["test_seed"], **options), **ids)
             for kind, options in corruptions.items()}
    config = EncoderDecoderConfig(vocab_size=tok.vocab_size + hp["sentinels"], **hp["encdec"])
    runs = []
    for seed in hp["seeds"]:  # weights and batch order from seed; the training pairs are the same for every seed
        seed_everything(seed)
        model = EncoderDecoder(config)
        history = train(model, experiments.seq2seq_batches(pairs, batch_size=hp["batch_size"], seed=seed, **ids),
                        loss_fn=experiments.seq2seq_loss, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"],
                        min_lr=hp["min_lr"], eval_every=hp["eval_every"], seed=seed, progress=False,
                        eval_fn=lambda m: {k: experiments.seq2seq_accuracy(m, batch)["exact"] for k, batch in tests.items()})
        final = {k: experiments.seq2seq_accuracy(model, batch, per_item=True) for k, batch in tests.items()}
        runs.append(dict(eval_steps=history.eval_steps,
                         exact={k: [round(v, 5) for v in history.eval_metrics[k]] for k in corruptions},
                         token_accuracy={k: round(final[k]["token_accuracy"], 5) for k in corruptions},
                         exact_items={k: final[k]["exact_items"].int().tolist() for k in corruptions}))
    figures = dict(steps=hp["steps"], seeds=len(hp["seeds"]), test_documents=len(test_seqs),
                   train_minutes=round((time.perf_counter() - start) / 60, 2),
                   final_exact={k: [run["exact"][k][-1] for run in runs] for k in corruptions})
    return Result(None, None, History(), figures, dict(hp, results=dict(runs=runs, test_documents=len(test_seqs))))

"""The toy-world base models: ``toyworld-gpt`` (a LLaMA-form GPT whose bursty ICL documents make
in-context learning emerge) and ``toyworld-bert`` (a BERT-form encoder pre-trained by masked LM).
"""

from __future__ import annotations

import torch

from lmnotes.data import lm_batch, lm_eval_batches, toyworld
from lmnotes.models import GPT, Encoder, EncoderConfig, GPTConfig
from lmnotes.pretraining.objectives import bert_mask
from lmnotes.prompting.icl import ICL_SHOTS, icl_accuracy
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.training import lm_loss, stream_eval, train


@recipe("toyworld-gpt", "LLaMA-form GPT on the toy world: stories, facts, reviews, arithmetic, instructions, "
                        "and bursty ICL documents, so in-context learning emerges")
def toyworld_gpt(smoke: bool = False) -> Result:
    tok = toyworld.tokenizer()
    hp = dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, block_size=128, batch_size=32, icl_share=0.5,
              icl_label_weight=4.0, steps=5000, lr=2e-3, warmup=200, min_lr=1e-4, weight_decay=0.1, autocast="bf16",
              train_tokens=3_000_000, seed=1337)
    if smoke:
        hp.update(n_layer=1, n_embd=32, n_head=2, n_kv_head=1, batch_size=4, steps=3, warmup=1, train_tokens=3000)
    T, B = hp["block_size"], hp["batch_size"]
    train_ids = toyworld.stream(tok, hp["train_tokens"], seed=hp["seed"])
    val_ids = toyworld.stream(tok, 20_000 if not smoke else 2000, seed=hp["seed"] + 1)
    n_icl = round(B * hp["icl_share"])
    lines = T // 4  # an ICL line is 4 tokens: "input -> label ."
    gen = torch.Generator().manual_seed(hp["seed"])

    def batches(step):
        """Half the rows: one bursty ICL document from position 0, label tokens weighted;
        the rest: random blocks of the mixture stream."""
        x, y = lm_batch(train_ids, B - n_icl, T, gen)
        weights = torch.ones(B, T)
        docs = toyworld.icl_documents(n_icl, seed=hp["seed"] * 100_003 + step, n_lines=lines + 1)
        rows = torch.tensor([tok.encode(d.text)[: T + 1] for d in docs])
        for r, d in enumerate(docs):
            for p in d.label_positions:
                if 1 <= p <= T:
                    weights[B - n_icl + r, p - 1] = hp["icl_label_weight"]
        return {"input_ids": torch.cat([x, rows[:, :-1]]), "labels": torch.cat([y, rows[:, 1:]]),
                "loss_mask": weights}

    config = GPTConfig(vocab_size=tok.vocab_size, block_size=T, n_layer=hp["n_layer"], n_head=hp["n_head"],
                       n_kv_head=hp["n_kv_head"], n_embd=hp["n_embd"], pos="rope", norm="rmsnorm",
                       ffn="swiglu", bias=False, tie_weights=False)
    model = GPT(config)
    seed_everything(hp["seed"])

    def eval_fn(m):
        return {"val_loss": stream_eval(m, val_ids, T, max_blocks=4 if smoke else 100),
                "icl_acc_4shot": icl_accuracy(m, tok, 4, n=20 if smoke else 200)}

    history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"],
                    weight_decay=hp["weight_decay"], autocast=hp["autocast"], seed=hp["seed"], progress=not smoke, eval_fn=eval_fn,
                    eval_every=max(hp["steps"] // 10, 1))
    figures = dict(val_loss=round(stream_eval(model, val_ids, T, max_blocks=None), 4),
                   steps=history.step, train_minutes=round(history.train_seconds[-1] / 60, 2))
    for k in ICL_SHOTS:
        figures[f"icl_accuracy_{k}shot"] = round(icl_accuracy(model, tok, k, n=30 if smoke else 500), 3)
    return Result(model, tok, history, figures, hp)


@recipe("toyworld-bert", "BERT-form encoder pre-trained with masked language modelling on the toy world")
def toyworld_bert(smoke: bool = False) -> Result:
    tok = toyworld.tokenizer()
    hp = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=32, mask_rate=0.15,
              steps=3000, lr=1e-3, warmup=200, min_lr=5e-5, weight_decay=0.01, train_tokens=2_000_000,
              autocast="bf16", seed=1337)
    if smoke:
        hp.update(n_layer=1, n_embd=32, n_head=2, batch_size=4, steps=3, warmup=1, train_tokens=3000)
    T, B = hp["block_size"], hp["batch_size"]
    train_ids = toyworld.stream(tok, hp["train_tokens"], seed=hp["seed"])
    val_ids = toyworld.stream(tok, 20_000 if not smoke else 2000, seed=hp["seed"] + 1)
    special = [tok.vocab[s] for s in tok.special_tokens]
    gen = torch.Generator().manual_seed(hp["seed"])

    def masked(ids):
        m = bert_mask(ids, mask_id=tok.vocab["<mask>"], vocab_size=tok.vocab_size, special_ids=special,
                      mask_rate=hp["mask_rate"], generator=gen)
        return {"input_ids": m.inputs, "labels": m.labels}

    def batches(step):
        return masked(lm_batch(train_ids, B, T, gen)[0])

    val_gen_seed = hp["seed"] + 2
    n_val = 8 if smoke else 200

    def eval_fn(m):
        g = torch.Generator().manual_seed(val_gen_seed)
        blocks = next(lm_eval_batches(val_ids, n_val, T))[0]
        mk = bert_mask(blocks, mask_id=tok.vocab["<mask>"], vocab_size=tok.vocab_size, special_ids=special,
                       mask_rate=hp["mask_rate"], generator=g)
        logits = m(mk.inputs)
        chosen = mk.labels != -100
        acc = (logits.argmax(-1)[chosen] == mk.labels[chosen]).float().mean().item()
        return {"val_mlm_loss": lm_loss(logits, mk.labels).item(), "val_mlm_accuracy": acc}

    config = EncoderConfig(vocab_size=tok.vocab_size, block_size=T, n_layer=hp["n_layer"], n_head=hp["n_head"],
                           n_embd=hp["n_embd"], type_vocab_size=2)
    model = Encoder(config)
    seed_everything(hp["seed"])
    history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"],
                    weight_decay=hp["weight_decay"], autocast=hp["autocast"], seed=hp["seed"], progress=not smoke, eval_fn=eval_fn,
                    eval_every=max(hp["steps"] // 10, 1))
    model.eval()
    with torch.no_grad():
        final = eval_fn(model)
    figures = dict(val_mlm_loss=round(final["val_mlm_loss"], 4), val_mlm_accuracy=round(final["val_mlm_accuracy"], 4),
                   steps=history.step, train_minutes=round(history.train_seconds[-1] / 60, 2))
    return Result(model, tok, history, figures, hp)

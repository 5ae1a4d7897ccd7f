"""The Shakespeare models: ``shakespeare-char`` (characters, LLaMA form) and ``shakespeare-bpe``
(a 2,048-token byte-level BPE, GPT-2 form, the offline stand-in for distilgpt2).
"""

from __future__ import annotations

import torch

from lmnotes.data import lm_batch, shakespeare_char_ids, shakespeare_text
from lmnotes.models import GPT, GPTConfig
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.tokenization import BPETokenizer
from lmnotes.training import stream_eval, train


@recipe("shakespeare-char", "LLaMA-form GPT on Shakespeare characters; target <= 1.40 nats/char held out")
def shakespeare_char(smoke: bool = False) -> Result:
    tok, train_ids, val_ids = shakespeare_char_ids()
    # A 512-character context (16 x 512 = the same 8,192 characters per step as 32 x 256): the
    # held-out loss is scored in consecutive blocks of the context, and the first characters of a
    # block, seen with little or no history, cost the most (2.56 nats at position 0, 1.39 after
    # position 128, for a 256-context model), so a longer context lowers the held-out loss itself.
    hp = dict(n_layer=6, n_head=6, n_kv_head=6, n_embd=192, block_size=512, batch_size=16,
              steps=3000, lr=2e-3, warmup=100, min_lr=1e-4, weight_decay=0.1, autocast="bf16", seed=1337)
    if smoke:
        hp.update(n_layer=1, n_embd=48, n_head=2, n_kv_head=2, block_size=32, batch_size=4, steps=3, warmup=1)
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                       n_head=hp["n_head"], n_kv_head=hp["n_kv_head"], n_embd=hp["n_embd"],
                       pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)
    return _train_stream(GPT(config), tok, train_ids, val_ids, hp, smoke)


@recipe("shakespeare-bpe", "GPT-2-form GPT on Shakespeare with a 2,048-token byte-level BPE")
def shakespeare_bpe(smoke: bool = False) -> Result:
    text_train, text_val = shakespeare_text("train"), shakespeare_text("val")
    hp = dict(vocab_size=2048, n_layer=4, n_head=4, n_embd=192, block_size=128, batch_size=32,
              steps=2000, lr=2e-3, warmup=100, min_lr=1e-4, weight_decay=0.1, autocast="bf16", seed=1337)
    if smoke:
        hp.update(vocab_size=300, n_layer=1, n_embd=32, n_head=2, block_size=16, batch_size=4, steps=3, warmup=1)
        text_train, text_val = text_train[:20_000], text_val[:5_000]
    tok = BPETokenizer.train_fast(text_train, vocab_size=hp["vocab_size"], special_tokens=["<|endoftext|>"])
    train_ids = torch.tensor(tok.encode(text_train))
    val_ids = torch.tensor(tok.encode(text_val))
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                       n_head=hp["n_head"], n_embd=hp["n_embd"], pos="learned", norm="layernorm",
                       ffn="gelu_tanh", bias=True, tie_weights=True)
    result = _train_stream(GPT(config), tok, train_ids, val_ids, hp, smoke)
    chars_per_token = len(text_val) / len(val_ids)
    result.figures["val_loss_per_char"] = round(result.figures["val_loss"] / chars_per_token, 4)
    result.figures["chars_per_token"] = round(chars_per_token, 3)
    return result


def _train_stream(model, tok, train_ids, val_ids, hp, smoke: bool) -> Result:
    """Next-token training on random blocks of one token stream; held-out loss on the whole val split."""
    seed_everything(hp["seed"])
    gen = torch.Generator().manual_seed(hp["seed"])
    B, T = hp["batch_size"], hp["block_size"]

    def batches(step):
        return lm_batch(train_ids, B, T, gen)

    history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"],
                    weight_decay=hp["weight_decay"], autocast=hp["autocast"], seed=hp["seed"], progress=not smoke,
                    eval_fn=lambda m: stream_eval(m, val_ids, T, max_blocks=2 if smoke else 200),
                    eval_every=max(hp["steps"] // 10, 1))
    val_loss = stream_eval(model, val_ids, T, max_blocks=2 if smoke else None)
    figures = dict(val_loss=round(val_loss, 4), train_loss_last=round(history.train_loss[-1], 4),
                   steps=history.step, tokens_seen=history.tokens[-1] if history.tokens else 0,
                   train_minutes=round(history.train_seconds[-1] / 60, 2) if history.train_seconds else 0.0)
    return Result(model, tok, history, figures, hp)


@recipe("shakespeare-char-draft", "a 1-layer, 128-wide LLaMA-form GPT on shakespeare-char's characters: "
        "the draft model of speculative decoding (notebook 14)")
def shakespeare_char_draft(smoke: bool = False) -> Result:
    # The same tokenizer and text as shakespeare-char, so it can draft for it; one layer keeps a
    # decoding step a fraction of the target's (speculative decoding pays only if drafting is cheap).
    # No bf16 autocast: on a CPU without native bf16 it is much slower than fp32.
    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = dict(n_layer=1, n_head=4, n_kv_head=4, n_embd=128, block_size=256, batch_size=16,
              steps=1200, lr=3e-3, warmup=100, min_lr=1e-4, weight_decay=0.1, autocast=None, seed=1337)
    if smoke:
        hp.update(n_embd=32, n_head=2, n_kv_head=2, block_size=32, batch_size=4, steps=3, warmup=1)
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                       n_head=hp["n_head"], n_kv_head=hp["n_kv_head"], n_embd=hp["n_embd"],
                       pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)
    return _train_stream(GPT(config), tok, train_ids, val_ids, hp, smoke)

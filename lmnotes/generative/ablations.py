"""Small controlled experiments of book section 2.2 (data preparation, model modifications).

One tiny character-level GPT on Shakespeare, trained by ``lmnotes.training.train``, with one thing
changed at a time: the training data (clean, noisy, less distinct text, partly duplicated, each
duplicated version beside its de-duplicated one) or a block switch (norm placement, norm type, FFN,
biases). Every run scores the same held-out characters; :func:`tune_lr` picks the learning rate on a
dev slice of the training text.
"""

from __future__ import annotations

import math
import random

import torch

from lmnotes import checks
from lmnotes.baselines import CharNgram
from lmnotes.data import lm_batch, shakespeare_text
from lmnotes.models import GPT, GPTConfig
from lmnotes.repro import seed_everything
from lmnotes.tokenization import CharTokenizer
from lmnotes.training import stream_eval, train

#: "fifth x5" is the first fifth of the text repeated five times, "fifth" that fifth alone (its de-duplicated
#: version); "part dup" keeps the first 80% and fills the rest with copies of a chunk of 2%, "part dedup" is
#: the same 80% plus one copy of the chunk (the same distinct text, shorter); see :func:`prepare`
DATA_KINDS = ("clean", "noisy", "fifth x5", "fifth", "part dup", "part dedup")
#: how many copies of its chunk "part dup" holds
CHUNK_COPIES = 10
#: the learning rates :func:`tune_lr` tries
LEARNING_RATES = (3e-3, 1e-2, 3e-2)
#: section 2.2.2.1's runs: a 4-layer model for 100 updates, each norm placement under three schedules (a
#: normal learning rate, 0.03 without warm-up, 0.03 with the 15-update warm-up of every other run here)
STABILITY_RUN = dict(steps=100, n_layer=4)
SCHEDULES = {"lr 3e-3, no warm-up": dict(lr=3e-3, warmup=0), "lr 0.03, no warm-up": dict(lr=3e-2, warmup=0),
             "lr 0.03, warm-up 15": dict(lr=3e-2, warmup=15)}
#: section 2.2.2's block variants, each one switch away from the pre-norm baseline (LayerNorm, GeLU, biases);
#: SwiGLU's hidden width 85 matches the baseline's parameters within 0.1% (30,356 against 30,336)
VARIANTS = {"RMSNorm": dict(norm="rmsnorm"), "ReLU": dict(ffn="relu"), "SwiGLU": dict(ffn="swiglu", d_ff=85),
            "no biases": dict(bias=False)}
#: the interpolation weights tried for the n-gram baselines (chosen on a dev slice of the training text)
NGRAM_LAMBDAS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def char_data(n_train: int = 200_000, n_val: int = 20_000):
    """The tokenizer and the first ``n_train`` / ``n_val`` characters of Shakespeare's train / val splits."""
    n_train, n_val = checks.size("n_train", n_train, low=1000), checks.size("n_val", n_val, low=1000)
    text_train, text_val = shakespeare_text("train"), shakespeare_text("val")
    tok = CharTokenizer.from_text(text_train + text_val)
    return tok, text_train[:n_train], text_val[:n_val]


def prepare(text: str, kind: str, *, rate: float = 0.2, seed: int = 0) -> str:
    """The training text as ``kind`` data (``rate`` = 0.2 gives the sizes in brackets):

    - "clean": unchanged;
    - "noisy": a share ``rate`` of the characters replaced by random characters of the text;
    - "fifth x5": only the first ``rate`` of the text, repeated to the same length (the same number of
      characters, a fifth of the distinct ones); "fifth": that first ``rate`` alone, its de-duplicated
      version (random training windows see the same distribution in both, up to the seams);
    - "part dup": the first ``1 - rate`` of the text, then a chunk of the next ``rate / CHUNK_COPIES``
      characters repeated ``CHUNK_COPIES`` times to the same length (a share ``rate`` of the characters,
      and of the training windows, come from one small chunk); "part dedup": the same text with the
      chunk once (the same distinct characters, shorter).
    """
    checks.text("text", text)
    checks.choice("kind", kind, DATA_KINDS)
    rate = checks.probability("rate", rate, open_low=True, open_high=True)
    if kind == "clean":
        return text
    if kind in ("fifth x5", "fifth"):
        unique = text[: max(1, int(len(text) * rate))]
        return unique if kind == "fifth" else (unique * math.ceil(len(text) / len(unique)))[: len(text)]
    if kind in ("part dup", "part dedup"):
        keep = len(text) - max(1, int(len(text) * rate))
        chunk = text[keep: keep + max(1, int(len(text) * rate / CHUNK_COPIES))]
        if kind == "part dedup":
            return text[:keep] + chunk
        return text[:keep] + (chunk * math.ceil((len(text) - keep) / len(chunk)))[: len(text) - keep]
    rng = random.Random(checks.integer("seed", seed))
    alphabet = sorted(set(text))
    chars = list(text)
    for i in rng.sample(range(len(chars)), int(len(chars) * rate)):
        chars[i] = rng.choice(alphabet)
    return "".join(chars)


def run_char_model(tok, train_text: str, val_text: str, *, steps: int = 150, lr: float = 3e-3, warmup: int = 15,
                   seed: int = 0, n_layer: int = 2, n_embd: int = 32, n_head: int = 2, block_size: int = 64,
                   batch_size: int = 16, budgets=None, autocast: str | None = None, keep_model: bool = False,
                   stop_at: int | None = None, **switches) -> dict:
    """Train the tiny GPT (``switches``: norm, ffn, prenorm, bias, ...) and score it.

    Returns the parameter count, the train loss (mean of the last 10 updates), the held-out loss on
    ``val_text`` and on as many characters of its own training text, and whether the run failed (a
    non-finite loss stopped it, or its held-out loss is no better than the unigram baseline: it
    learned nothing beyond character frequencies). ``budgets``, update counts up to ``steps``, adds
    ``curve``: both losses after each of them along this one run (its schedule spans ``steps``).
    ``autocast="bf16"`` runs the forward passes in bfloat16 (``lmnotes.training.train``); ``keep_model``
    adds the trained ``model`` to the result. ``stop_at`` stops after that many updates (the schedule
    still spans ``steps``), so the start of a long run can be checked without training all of it.
    """
    keep_model = checks.boolean("keep_model", keep_model)
    steps = checks.size("steps", steps)
    stop_at = steps if stop_at is None else checks.size("stop_at", stop_at, high=steps)
    seed = checks.integer("seed", seed, low=0)
    budgets = [] if budgets is None else sorted({checks.size("budgets", b, high=steps) for b in budgets})
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                       n_embd=n_embd, pos="rope", tie_weights=False, **switches)
    seed_everything(seed)
    model = GPT(config)
    train_ids, val_ids = torch.tensor(tok.encode(train_text)), torch.tensor(tok.encode(val_text))
    gen = torch.Generator().manual_seed(seed)
    scores = lambda: (stream_eval(model, val_ids, block_size, max_blocks=None),
                      stream_eval(model, train_ids[: len(val_ids)], block_size, max_blocks=None))
    curve = dict(steps=[], val_loss=[], train_eval_loss=[])

    def at_budget(history, final):
        if not final and history.step in budgets:
            val_now, train_now = scores()
            curve["steps"].append(history.step)
            curve["val_loss"].append(val_now)
            curve["train_eval_loss"].append(train_now)

    history = train(model, lambda step: lm_batch(train_ids, batch_size, block_size, gen), steps=steps, lr=lr,
                    warmup=warmup, seed=seed, progress=False, callback=at_budget if budgets else None,
                    autocast=autocast, stop_at=stop_at)
    val, train_eval = (curve["val_loss"][-1], curve["train_eval_loss"][-1]) if stop_at in curve["steps"] else scores()
    finished = history.step == stop_at
    last = history.train_loss[-10:]
    diverged = not finished or not math.isfinite(val) or val >= unigram_loss(train_text, val_text)
    return dict(params=sum(p.numel() for p in model.parameters()), train_loss=sum(last) / len(last),
                val_loss=val, train_eval_loss=train_eval, gap=val - train_eval, diverged=diverged,
                steps=history.step, **(dict(curve=curve) if budgets else {}), **(dict(model=model) if keep_model else {}))


def stability_run(tok, train_text: str, val_text: str, schedule: str, *, prenorm: bool, seed: int = 0,
                  steps: int = STABILITY_RUN["steps"], **switches) -> dict:
    """One run of section 2.2.2.1's stability study: :func:`run_char_model` with ``STABILITY_RUN``'s depth,
    the learning rate and warm-up of ``SCHEDULES[schedule]``, and the norm placement ``prenorm``; the
    result names its schedule, placement, seed and biases."""
    checks.choice("schedule", schedule, tuple(SCHEDULES))
    prenorm = checks.boolean("prenorm", prenorm)
    bias = checks.boolean("bias", switches.pop("bias", True))
    sched = dict(SCHEDULES[schedule])
    sched["warmup"] = min(sched["warmup"], checks.size("steps", steps) - 1)  # a short (smoke) run keeps a warm-up
    run = run_char_model(tok, train_text, val_text, steps=steps, seed=seed, n_layer=STABILITY_RUN["n_layer"],
                         prenorm=prenorm, bias=bias, **sched, **switches)
    return dict(schedule=schedule, prenorm=prenorm, bias=bias, seed=seed, **run)


def tune_lr(tok, train_text: str, *, lrs=LEARNING_RATES, dev_chars: int = 20_000, seed: int = 0, **run) -> dict:
    """Choose the learning rate as :func:`ngram_loss` chooses its weight, never on held-out text: train
    :func:`run_char_model` (``seed``, ``run``: steps, switches) at each rate of ``lrs`` on all but the last
    ``dev_chars`` characters of ``train_text`` and score it on those. Returns the chosen ``lr``, the
    ``dev_loss`` of every rate ({lr: loss}; a run that failed counts as infinite) and whether the choice
    sits at an edge of ``lrs``."""
    checks.text("train_text", train_text)
    dev_chars = checks.size("dev_chars", dev_chars, high=len(train_text) - 1000)
    lrs = [checks.positive("lrs", lr) for lr in lrs]
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate, got none")
    fit, dev = train_text[:-dev_chars], train_text[-dev_chars:]
    dev_loss = {}
    for lr in lrs:
        r = run_char_model(tok, fit, dev, lr=lr, seed=seed, **run)
        dev_loss[lr] = math.inf if r["diverged"] else r["val_loss"]
    lr = min(dev_loss, key=dev_loss.get)
    return dict(lr=lr, dev_loss=dev_loss, at_edge=len(lrs) > 1 and lr in (min(lrs), max(lrs)))


def unigram_loss(train_text: str, val_text: str) -> float:
    """Held-out loss (nats/char) of the character frequencies of ``train_text`` (add-one smoothed)."""
    counts: dict[str, int] = {}
    for ch in train_text:
        counts[ch] = counts.get(ch, 0) + 1
    alphabet = set(train_text) | set(val_text)
    total = len(train_text) + len(alphabet)
    return -sum(math.log((counts.get(ch, 0) + 1) / total) for ch in val_text) / len(val_text)


def ngram_loss(train_text: str, val_text: str, order: int, *, vocab_size: int, dev_chars: int = 20_000,
               lambdas=NGRAM_LAMBDAS) -> dict:
    """Held-out loss (nats/char) of a character ``order``-gram (``lmnotes.baselines.CharNgram``), tuned
    like the networks: its interpolation weight is chosen on the last ``dev_chars`` characters of
    ``train_text`` with counts from the rest, then it is counted on all of ``train_text`` and scored
    once on ``val_text``. Returns the chosen ``lam``, its ``dev_loss``, ``val_loss`` and whether the
    choice sits at an edge of ``lambdas``."""
    checks.text("train_text", train_text)
    order = checks.integer("order", order, 1, 10)
    dev_chars = checks.size("dev_chars", dev_chars, high=len(train_text) - 2)
    if not lambdas:
        raise ValueError("lambdas must hold at least one interpolation weight, got none")
    fit, dev = train_text[:-dev_chars], train_text[-dev_chars:]
    on_dev = CharNgram(fit, order, vocab_size)
    grid = {lam: on_dev.nll(dev, lam) for lam in lambdas}
    lam = min(grid, key=grid.get)
    val = CharNgram(train_text, order, vocab_size).nll(val_text, lam)
    return dict(order=order, lam=lam, dev_loss=grid[lam], val_loss=val, at_edge=lam in (min(lambdas), max(lambdas)))


def over_seeds(runs: list[dict]) -> dict:
    """Mean and standard deviation of the held-out loss over runs (seeds) that did not diverge."""
    ok = [r["val_loss"] for r in runs if not r["diverged"]]
    mean = sum(ok) / len(ok) if ok else float("nan")
    std = (sum((v - mean) ** 2 for v in ok) / (len(ok) - 1)) ** 0.5 if len(ok) > 1 else float("nan")
    return dict(mean=mean, std=std, diverged=sum(r["diverged"] for r in runs), runs=len(runs))

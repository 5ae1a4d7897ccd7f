"""Scaling laws (book section 2.2.4): the power-law fits, the compute-optimal calculator, and the
course's own model family.

* :func:`fit_power_law` fits L(x) = a x^-alpha + E (Eq. 2.37 with x = N, or the data law with x = D)
  and reports alpha, E and R^2;
* :func:`chinchilla_loss` and :func:`compute_optimal` use the book's Chinchilla fit (Eq. 2.39),
  L(N, D) = A / N^alpha + B / D^beta + E, to split a compute budget C = 6 N D into N_opt and D_opt;
* :data:`FAMILY` is the family of tiny character-level models that the ``scaling-char`` recipe
  trains on the same tokens, one :func:`scaling_run` each; ``lmnotes.checkpoints.results("scaling-char")``
  loads what that recipe stored (loss curves, not weights), after checking its sha256.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lmnotes import checks
from lmnotes.data import lm_batch
from lmnotes.models import GPT, GPTConfig
from lmnotes.repro import seed_everything
from lmnotes.training import stream_eval, train

#: Kaplan et al. (2020)'s exponent for L(N), and a nanoGPT reproduction's (up to 6.3 M parameters)
KAPLAN_ALPHA_N = 0.076
NANOGPT_ALPHA_N = 0.082

#: the Chinchilla fit quoted by the book (Eq. 2.39): L(N, D) = A / N^alpha + B / D^beta + E
CHINCHILLA = dict(A=406.4, B=410.7, E=1.69, alpha=0.34, beta=0.28)

#: the family of the ``scaling-char`` recipe: (n_layer, n_embd, n_head), smallest first
FAMILY = ((1, 16, 1), (1, 24, 2), (2, 32, 2), (2, 48, 3), (2, 64, 4), (3, 96, 6), (4, 128, 8))


@dataclass(frozen=True)
class PowerLaw:
    """L(x) = a * x^-alpha + E, fitted to ``n_points`` points; ``r2`` in loss space."""

    a: float
    alpha: float
    E: float
    r2: float
    n_points: int

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        return self.a * x ** -self.alpha + self.E

    def __repr__(self) -> str:
        return f"PowerLaw(a={self.a:.3g}, alpha={self.alpha:.3g}, E={self.E:.3g}, R^2={self.r2:.3f}, points={self.n_points})"


def _positive_array(name: str, values) -> np.ndarray:
    return np.asarray([checks.positive(f"{name}[{i}]", v) for i, v in enumerate(values)], dtype=float)


def fit_power_law(x, loss, *, fit_offset: bool = True) -> PowerLaw:
    """Least-squares fit of L(x) = a x^-alpha + E to points ``(x, loss)`` (x = N or D, both > 0).

    For each E on a fine grid below min(loss), log(L - E) = log a - alpha log x is a straight line
    (closed-form least squares); the E with the smallest squared error in loss space wins. With
    ``fit_offset=False``, E = 0 (a pure power law). Needs at least 3 points.
    """
    x, y = _positive_array("x", x), _positive_array("loss", loss)
    if len(x) != len(y):
        raise ValueError(f"x and loss must have the same length, got {len(x)} and {len(y)}")
    if len(x) < 3:
        raise ValueError(f"a power-law fit needs at least 3 points, got {len(x)}")
    if len(set(x.tolist())) < 2:
        raise ValueError("x must hold at least two different values")
    checks.boolean("fit_offset", fit_offset)
    lx = np.log(x)
    grid = np.linspace(0.0, y.min() * (1 - 1e-4), 4001) if fit_offset else np.array([0.0])
    best = None
    for E in grid:
        ly = np.log(y - E)
        slope, intercept = np.polyfit(lx, ly, 1)
        pred = np.exp(intercept + slope * lx) + E
        sse = float(((pred - y) ** 2).sum())
        if best is None or sse < best[0]:
            best = (sse, math.exp(intercept), -slope, E)
    sse, a, alpha, E = best
    sst = float(((y - y.mean()) ** 2).sum())
    return PowerLaw(a=a, alpha=float(alpha), E=float(E), r2=1 - sse / sst if sst > 0 else 1.0, n_points=len(x))


def chinchilla_loss(n_params, n_tokens, constants: dict | None = None) -> float:
    """The Chinchilla fit's predicted loss (nats/token) for N parameters trained on D tokens (Eq. 2.39)."""
    c = CHINCHILLA if constants is None else constants
    n, d = checks.positive("n_params", n_params), checks.positive("n_tokens", n_tokens)
    return c["A"] / n ** c["alpha"] + c["B"] / d ** c["beta"] + c["E"]


def compute_optimal(compute, constants: dict | None = None) -> dict:
    """N_opt, D_opt (with C = 6 N D) and the predicted loss for a compute budget of ``compute`` FLOPs.

    Minimising A/N^alpha + B/D^beta with D = C / (6N) gives N_opt = G (C/6)^(beta/(alpha+beta)),
    D_opt = (C/6)^(alpha/(alpha+beta)) / G, G = (alpha A / (beta B))^(1/(alpha+beta)).
    """
    c = CHINCHILLA if constants is None else constants
    C = checks.positive("compute", compute)
    s = c["alpha"] + c["beta"]
    G = (c["alpha"] * c["A"] / (c["beta"] * c["B"])) ** (1 / s)
    n_opt = G * (C / 6) ** (c["beta"] / s)
    d_opt = (C / 6) / n_opt
    return dict(compute=C, n_opt=n_opt, d_opt=d_opt, tokens_per_param=d_opt / n_opt,
                loss=chinchilla_loss(n_opt, d_opt, c))


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

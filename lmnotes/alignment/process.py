"""Outcome vs process reward models for step-by-step reasoning (book section 4.4.4).

A worked solution in the reasoner's ``<steps>`` format (:mod:`lmnotes.data.reasoning`) is a chain of
steps, ``2 3 + 4 5 = 6 8 . 6 8 + 1 7 = 8 5 .``, then ``the answer is 8 5 .``. A reward model can
learn from two kinds of labels:

- an **outcome** reward model (ORM) gets one label per trace: is the final answer right?
- a **process** reward model (PRM) gets one label per step: is this step right? A step is right when
  its sum is right and it starts from the problem's true running total. Its score of a trace is the
  log-probability that every step is right, ``sum_k log sigmoid(s_k)``.

A trace can reach the right answer through a wrong step: here a *copy* error writes a wrong sum but
carries on with the right total (:data:`ERROR_KINDS`), so the ORM's label calls it right and the
PRM's labels call it wrong. A *slip* writes a wrong sum and carries it on, so the answer is wrong too.
:func:`traces` injects both into otherwise correct traces at a given rate.

Both reward models are logistic heads (:class:`Head`) on features of the frozen ``toyworld-reasoner``
(:func:`features`): at the last token of a segment, its hidden state plus the mean and the minimum
log-probability the reasoner gives the segment's tokens. The ORM's segment is the whole response, the
PRM's segments are the steps. Heads train through :func:`lmnotes.training.train`.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmnotes import checks
from lmnotes.adaptation import hidden_states
from lmnotes.data import reasoning
from lmnotes.models import GPT
from lmnotes.training import evaluating, train

#: a slip carries its wrong sum on (wrong answer); a copy error carries the right total on (right answer)
ERROR_KINDS = ("slip", "copy")
#: how far a wrong sum is from the right one: a digit off by one or two, a carry dropped or added
OFFSETS = (-10, -2, -1, 1, 2, 10)


@dataclass(frozen=True)
class Trace:
    """A worked solution of ``sum(operands)``: step ``k`` writes ``lefts[k] + operands[k + 1] = results[k]``,
    then the trace gives ``answer``."""

    operands: tuple[int, ...]
    lefts: tuple[int, ...]
    results: tuple[int, ...]
    answer: int

    @property
    def prompt(self) -> str:
        return reasoning.render(self.operands, "steps").prompt

    @property
    def steps(self) -> list[str]:
        d = reasoning.digits
        return [f"{d(a)} + {d(b)} = {d(c)} ." for a, b, c in zip(self.lefts, self.operands[1:], self.results)]

    @property
    def response(self) -> str:
        return " ".join([*self.steps, f"the answer is {reasoning.digits(self.answer)} ."])

    @property
    def step_correct(self) -> list[bool]:
        """Per step: its sum is right and it starts from the true running total."""
        out, total = [], self.operands[0]
        for a, b, c in zip(self.lefts, self.operands[1:], self.results):
            out.append(a == total and c == a + b)
            total += b
        return out

    @property
    def final_correct(self) -> bool:
        return self.answer == sum(self.operands)

    @property
    def fully_correct(self) -> bool:
        """Every step right and the right answer."""
        return self.final_correct and all(self.step_correct)


def trace(operands: Sequence[int], errors: Mapping[int, str] | None = None, seed: int = 0) -> Trace:
    """The worked solution of ``operands`` with an error of kind ``errors[k]`` (:data:`ERROR_KINDS`) in
    step ``k``: its sum off by one of :data:`OFFSETS` (drawn with ``seed``)."""
    operands = tuple(checks.integer("operands", v, 0) for v in operands)
    if len(operands) < 2:
        raise ValueError(f"operands must hold at least 2 numbers, got {operands!r}")
    errors = dict(errors or {})
    for k, kind in errors.items():
        checks.integer("errors' steps", k, 0, len(operands) - 2)
        checks.choice("errors' kinds", kind, ERROR_KINDS)
    rng = random.Random(checks.integer("seed", seed))
    lefts, results, carried = [], [], operands[0]
    for k, v in enumerate(operands[1:]):
        right = carried + v
        written = max(0, right + rng.choice(OFFSETS)) if k in errors else right
        lefts.append(carried)
        results.append(written)
        carried = right if errors.get(k) == "copy" else written
    return Trace(operands, tuple(lefts), tuple(results), carried)


def traces(problems: Sequence[Sequence[int]], n: int, *, p_error: float = 0.15, p_copy: float = 0.5,
           seed: int = 0) -> list[list[Trace]]:
    """``n`` traces for each problem: each step goes wrong with probability ``p_error``, as a copy
    error with probability ``p_copy`` and a slip otherwise."""
    problems = [tuple(p) for p in problems]
    if not problems:
        raise ValueError("problems must hold at least one problem")
    n = checks.size("n", n, high=10_000)
    p_error, p_copy = checks.probability("p_error", p_error), checks.probability("p_copy", p_copy)
    rng = random.Random(checks.integer("seed", seed))
    out = []
    for ops in problems:
        row = []
        for _ in range(n):
            errors = {k: ("copy" if rng.random() < p_copy else "slip") for k in range(len(ops) - 1)
                      if rng.random() < p_error}
            row.append(trace(ops, errors, seed=rng.randrange(10**9)))
        out.append(row)
    return out


def training_problems(n: int, seed: int, n_operands: int) -> list[tuple[int, ...]]:
    """``n`` distinct problems of ``n_operands`` numbers in [10, 99] that are not
    :func:`lmnotes.data.reasoning.held_out`, so that no reward model trains on an evaluation problem."""
    n = checks.size("n", n, high=100_000)
    n_operands = checks.integer("n_operands", n_operands, 2, 12)
    rng = random.Random(checks.integer("seed", seed))
    out: dict[tuple[int, ...], None] = {}
    while len(out) < n:
        ops = tuple(rng.randint(reasoning.LOW, reasoning.HIGH) for _ in range(n_operands))
        if not reasoning.held_out(ops):
            out[ops] = None
    return list(out)


def _flat(traces_) -> list[Trace]:
    flat = [t for row in traces_ for t in row] if traces_ and isinstance(traces_[0], (list, tuple)) else list(traces_)
    if not flat or not all(isinstance(t, Trace) for t in flat):
        raise TypeError("traces must be a non-empty list of Trace (or a list of such lists)")
    return flat


@torch.no_grad()
def features(model: GPT, tokenizer, traces_, batch_size: int = 512) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(outcome, process)`` features of each trace under the frozen ``model``: ``outcome[i]`` (width + 2)
    reads the whole response, ``process[i]`` (n_steps, width + 2) each step. Each row is the hidden
    state at the segment's last token, then the mean and the minimum of the model's log-probabilities
    of the segment's tokens."""
    checks.instance("model", model, GPT)
    flat = _flat(traces_)
    unique = list(dict.fromkeys(flat))  # sampled traces repeat: each distinct one is read once
    outcome, process = [], []
    with evaluating(model):
        for i in range(0, len(unique), checks.size("batch_size", batch_size)):
            chunk = unique[i:i + batch_size]
            rows, spans = [], []
            for t in chunk:
                ids = tokenizer.encode(t.prompt)
                start, cuts = len(ids), []
                for segment in t.steps:
                    ids = ids + tokenizer.encode(segment)
                    cuts.append(len(ids))
                ids = ids + tokenizer.encode(t.response.split(" . ")[-1])
                rows.append(ids)
                spans.append((start, cuts, len(ids)))
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
            h = hidden_states(model, ids, mask)
            logp = model.lm_head(h).float().log_softmax(-1)[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]

            def segment(b: int, lo: int, hi: int) -> torch.Tensor:  # tokens lo..hi-1; logp[t - 1] predicts token t
                lp = logp[b, lo - 1:hi - 1]
                return torch.cat([h[b, hi - 1], lp.mean()[None], lp.min()[None]])

            for b, (start, cuts, end) in enumerate(spans):
                outcome.append(segment(b, start, end))
                process.append(torch.stack([segment(b, lo, hi) for lo, hi in zip([start, *cuts[:-1]], cuts)]))
    where = {t: i for i, t in enumerate(unique)}
    index = [where[t] for t in flat]
    return torch.stack(outcome)[index], [process[i] for i in index]


class Head(nn.Module):
    """A logistic head on standardised features: ``forward(x) -> (n,)`` logits."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(len(mean), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std)[:, 0]


def train_head(x: torch.Tensor, labels, *, steps: int = 300, lr: float = 0.05, weight_decay: float = 0.01,
               seed: int = 0) -> tuple[Head, list[float]]:
    """A :class:`Head` fitted to ``labels`` (1 = correct) by full-batch logistic regression (binary
    cross-entropy, AdamW through :func:`lmnotes.training.train`); returns it and its loss per step."""
    checks.tensor("x", x, ndim=2, dtype="float")
    y = torch.as_tensor([float(v) for v in labels])
    if len(y) != len(x):
        raise ValueError(f"labels must hold one label per row of x ({len(x)}), got {len(y)}")
    if not bool(((y == 0) | (y == 1)).all()) or len(set(y.tolist())) < 2:
        raise ValueError("labels must be 0/1 (or booleans) with both values present")
    torch.manual_seed(checks.integer("seed", seed))
    head = Head(x.mean(0), x.std(0).clamp_min(1e-6))
    history = train(head, [(x, y)], steps=checks.size("steps", steps), lr=checks.positive("lr", lr),
                    weight_decay=weight_decay, loss_fn=lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1]),
                    progress=False, seed=seed)
    return head.eval(), list(history.train_loss)


def train_reward_models(model: GPT, tokenizer, traces_, **kwargs) -> dict:
    """The ORM (labels: final answer right) and the PRM (labels: each step right) on ``traces_``:
    ``{"orm": Head, "prm": Head, "orm_loss": [...], "prm_loss": [...]}``; ``kwargs`` go to :func:`train_head`."""
    flat = _flat(traces_)
    outcome, process = features(model, tokenizer, flat)
    orm, orm_loss = train_head(outcome, [t.final_correct for t in flat], **kwargs)
    prm, prm_loss = train_head(torch.cat(process), [c for t in flat for c in t.step_correct], **kwargs)
    return {"orm": orm, "prm": prm, "orm_loss": orm_loss, "prm_loss": prm_loss}


@torch.no_grad()
def scores(heads: Mapping, model: GPT, tokenizer, traces_) -> dict[str, torch.Tensor]:
    """Each trace's ORM score (its logit) and PRM score (``sum_k log sigmoid(s_k)`` over its steps)."""
    flat = _flat(traces_)
    outcome, process = features(model, tokenizer, flat)
    sizes = [len(p) for p in process]
    step_logp = F.logsigmoid(heads["prm"](torch.cat(process)))
    return {"orm": heads["orm"](outcome),
            "prm": torch.stack([part.sum() for part in step_logp.split(sizes)])}


def _rates(kept: Sequence[Trace]) -> dict[str, float]:
    right = [t for t in kept if t.final_correct]
    return {"final": statistics.mean(t.final_correct for t in kept), "trace": statistics.mean(t.fully_correct for t in kept),
            "trace_error": statistics.mean(not t.fully_correct for t in right) if right else float("nan")}


def selection(traces_: Sequence[Sequence[Trace]], scores_: Mapping[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """What one kept trace per problem gets right: ``final`` (final-answer accuracy), ``trace`` (share
    of fully correct traces) and ``trace_error`` (Uesato et al.'s: the share of kept traces with the right
    answer that hold a wrong step). Rows: ``random`` (a uniform pick, in expectation), one per score in
    ``scores_`` (its highest-scored trace; ``scores_`` flat, problem by problem) and ``oracle`` (a fully
    correct trace when there is one, else one with the right answer, else any)."""
    rows = [list(r) for r in traces_]
    if not rows or any(len(r) != len(rows[0]) or not r for r in rows):
        raise ValueError("traces must be a non-empty list of equally long lists of Trace")
    n = len(rows[0])
    out = {"random": _rates([t for r in rows for t in r])}
    for name, s in scores_.items():
        s = torch.as_tensor(s)
        if s.shape != (len(rows) * n,):
            raise ValueError(f"scores_[{name!r}] must hold one score per trace ({len(rows) * n}), got shape "
                             f"{tuple(s.shape)}")
        out[name] = _rates([r[int(i)] for r, i in zip(rows, s.view(len(rows), n).argmax(1))])
    out["oracle"] = _rates([max(r, key=lambda t: (t.fully_correct, t.final_correct)) for r in rows])
    return out

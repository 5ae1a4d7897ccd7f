"""Adapting a pre-trained backbone to a task: the course's one home for fine-tuning (book sections 1.1.2, 1.4).

Pre-training gives a network whose hidden states already encode a lot about text. To use it for
a task we put a small *head* on top and train on labelled examples; the three ``mode`` s differ in
what is trained and where the weights start:

* ``"scratch"``: the same architecture, randomly initialised, everything trained (the baseline that
  shows what pre-training bought);
* ``"probe"``: the pre-trained backbone frozen, only the linear head trained (what the features
  already say, read off linearly);
* ``"full"``: the pre-trained backbone and the head trained together (fine-tuning proper).

The five ``task`` s of section 1.4, each a head on the backbone's hidden states ``h`` (B, T, C):

| task | example | head | loss |
| --- | --- | --- | --- |
| ``"classify"`` | ``(text, label)`` | linear on a pooled vector | cross-entropy |
| ``"pair"`` | ``((text_a, text_b), label)`` | linear on a pooled vector | cross-entropy |
| ``"regress"`` | ``(text or (a, b), value)`` | linear to one number | mean squared error |
| ``"tag"`` | ``(text, tags)``, one tag per token | linear per token | cross-entropy per token |
| ``"span"`` | ``(text or (question, context), (start, end))`` | start and end logits per token | cross-entropy of start + end |

Labels may be names (given in ``labels``) or their indices. Tags are one per token of
``tokenizer.encode(text)``; span positions count tokens of the *last* text (the context), end
inclusive. The pooled vector is the mean of the hidden states (``pool="mean"``), the first token
(``"first"``, BERT's [CLS]) or the last real token (``"last"``, natural for a left-to-right GPT,
which has read the whole text only there).

Typical use::

    tuned = finetune(bundled.model, bundled.tokenizer, train_examples, task="classify",
                     labels=("negative", "neutral", "positive"), mode="full", steps=200, lr=1e-3)
    evaluate(tuned, test_examples)   # {"accuracy": ...}

``tune`` picks ``finetune``'s settings (learning rate, steps) on a dev set, for a model and for the
baseline it is compared with alike.
"""

from __future__ import annotations

import copy
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lmnotes import checks
from lmnotes.adaptation import POOLS, hidden_states, pool_states
from lmnotes.models import GPT, Encoder
from lmnotes.training import IGNORE_INDEX, History, evaluating, train

TASKS = ("classify", "pair", "regress", "tag", "span")
MODES = ("scratch", "probe", "full")
_DEFAULT_POOL = {Encoder: "mean", GPT: "last"}


# --------------------------------------------------------------------------------------------------
# The model: a backbone and a task head
# --------------------------------------------------------------------------------------------------


class TaskModel(nn.Module):
    """A backbone plus one linear head. ``forward(batch)`` gives the head's outputs:

    (B, num_labels) logits for classify/pair, (B,) values for regress, (B, T, num_tags) logits for
    tag, and (B, T, 2) start/end logits for span. With ``frozen=True`` the backbone's parameters
    have ``requires_grad=False``, it runs without building a graph and stays in eval mode (no
    dropout) even while the head trains.
    """

    def __init__(self, backbone: nn.Module, task: str, n_out: int, pool: str, frozen: bool):
        super().__init__()
        self.backbone, self.task, self.pool, self.frozen = backbone, task, pool, frozen
        self.head = nn.Linear(backbone.config.n_embd, n_out)
        backbone.requires_grad_(not frozen)

    def train(self, mode: bool = True) -> TaskModel:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            h = hidden_states(self.backbone, batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        if self.task in ("tag", "span"):
            return self.head(h)
        out = self.head(pool_states(h, batch["attention_mask"], self.pool))
        return out.squeeze(-1) if self.task == "regress" else out


def task_loss(model: TaskModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The loss of one batch for ``model.task`` (the ``loss_fn`` given to ``lmnotes.training.train``)."""
    out = model(batch)
    if model.task in ("classify", "pair"):
        return F.cross_entropy(out, batch["labels"])
    if model.task == "regress":
        return F.mse_loss(out, batch["labels"])
    if model.task == "tag":
        return F.cross_entropy(out.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX)
    # span: where does the answer start, where does it end -- a classification over the allowed positions
    allowed = batch["answer_mask"].bool()
    start, end = out.masked_fill(~allowed[..., None], -1e4).unbind(-1)
    return (F.cross_entropy(start, batch["labels"][:, 0]) + F.cross_entropy(end, batch["labels"][:, 1])) / 2


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, max_length: int = 30,
              allowed: torch.Tensor | None = None) -> torch.Tensor:
    """The answer span (B, 2) maximising start_logits[i] + end_logits[j] with i <= j < i + max_length.

    Taking the two argmaxes separately can give an end before the start; the constrained argmax
    scores every (start, end) pair in a band above the diagonal and picks the best valid one.
    ``allowed`` (B, T) marks the positions an answer may use (the context, not the question).
    """
    for name, logits in (("start_logits", start_logits), ("end_logits", end_logits)):
        checks.finite_tensor(name, checks.tensor(name, logits, ndim=2, dtype="float"), allow_inf=True)
    if start_logits.shape != end_logits.shape:
        raise ValueError(f"start_logits and end_logits must both have shape (B, T), got "
                         f"{tuple(start_logits.shape)} and {tuple(end_logits.shape)}")
    B, T = start_logits.shape
    max_length = checks.size("max_length", max_length, high=checks.MAX_LENGTH)
    i = torch.arange(T)
    band = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + max_length)  # [start, end]
    valid = band[None].expand(B, T, T)
    if allowed is not None:
        allowed = checks.mask("allowed", allowed, (B, T))
        valid = valid & allowed[:, :, None] & allowed[:, None, :]
    scores = (start_logits[:, :, None] + end_logits[:, None, :]).float().masked_fill(~valid, -math.inf)
    flat = scores.flatten(1).argmax(1)
    return torch.stack([flat // T, flat % T], dim=1)


# --------------------------------------------------------------------------------------------------
# Turning examples into padded batches
# --------------------------------------------------------------------------------------------------


@dataclass
class _Encoded:
    input_ids: list[int]
    token_type_ids: list[int]
    answer_start: int  # where the last text's tokens begin (tags and spans count from here)
    answer_end: int  # one past them
    target: Any


def _special(tokenizer, *names: str) -> int | None:
    for name in names:
        value = getattr(tokenizer, f"{name}_token_id", None)
        if value is not None:
            return value
    return None


def _encode_text(tokenizer, text: Any, what: str) -> list[int]:
    if not isinstance(text, str) or not text:
        raise TypeError(f"{what} must be a non-empty str, got {type(text).__name__} {text!r:.60}")
    return list(tokenizer.encode(text))


def _encode_input(backbone: nn.Module, tokenizer, x: Any, task: str, index: int) -> tuple[list[int], list[int], int, int]:
    """Token ids and segment ids of one input, in the layout of section 1.4.

    Encoder: ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]`` with segment ids 0 for a and 1 for b (the
    toy tokenizers have no [CLS]; their ``<bos>`` plays its part). GPT: ``a`` or ``a <sep> b``, no
    segment ids; its last token is the one that has read the whole input.
    """
    pair = isinstance(x, (tuple, list))
    if task == "pair" and not pair:
        raise TypeError(f"task 'pair' needs inputs (text_a, text_b); example {index} has {type(x).__name__} {x!r:.60}")
    if task == "tag" and pair:
        raise TypeError(f"task 'tag' needs a single text per example; example {index} has a {type(x).__name__}")
    if pair and len(x) != 2:
        raise ValueError(f"example {index}: a text pair must hold 2 texts, got {len(x)}")
    texts = [_encode_text(tokenizer, t, f"example {index}'s text") for t in (x if pair else [x])]
    sep = _special(tokenizer, "sep", "eos")
    if isinstance(backbone, Encoder):
        cls = _special(tokenizer, "cls", "bos")
        if cls is None or sep is None:
            raise ValueError("tokenizer needs a [CLS] (or bos) and a [SEP] (or eos) token for an Encoder backbone")
        ids, types, start = [cls], [0], 0
        for segment, t in enumerate(texts):
            start = len(ids)
            ids += t + [sep]
            types += [segment] * (len(t) + 1)
        return ids, types, start, start + len(texts[-1])
    ids = []
    if len(texts) == 2:
        if sep is None:
            raise ValueError("tokenizer needs a separator token (sep or eos) for text pairs")
        ids = texts[0] + [sep]
    return ids + texts[-1], [], len(ids), len(ids) + len(texts[-1])


def _label_index(label: Any, labels: Sequence | None, n: int, index: int) -> int:
    if labels is not None and label in labels:
        return list(labels).index(label)
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < n:
        return label
    allowed = f"one of {list(labels)} or an index in [0, {n - 1}]" if labels is not None else f"an int in [0, {n - 1}]"
    raise ValueError(f"example {index}: label must be {allowed}, got {label!r}")


def _encode(backbone, tokenizer, examples, task: str, labels: Sequence | None, n_out: int) -> list[_Encoded]:
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence) or not examples:
        raise ValueError(f"examples must be a non-empty list of (input, target) pairs, got {examples!r:.80}")
    block_size = backbone.config.block_size
    encoded = []
    for index, example in enumerate(examples):
        if not isinstance(example, (tuple, list)) or len(example) != 2:
            raise ValueError(f"example {index} must be an (input, target) pair, got {example!r:.80}")
        x, y = example
        ids, types, start, end = _encode_input(backbone, tokenizer, x, task, index)
        if len(ids) > block_size:
            raise ValueError(f"example {index} is {len(ids)} tokens long; the backbone reads at most "
                             f"block_size={block_size}")
        if task in ("classify", "pair"):
            target = _label_index(y, labels, n_out, index)
        elif task == "regress":
            if isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
                raise ValueError(f"example {index}: a regression target must be a finite number, got {y!r}")
            target = float(y)
        elif task == "tag":
            if not isinstance(y, (tuple, list)) or len(y) != end - start:
                raise ValueError(f"example {index}: needs one tag per token ({end - start} tokens), got {y!r:.80}")
            target = [_label_index(t, labels, n_out, index) for t in y]
        else:
            ok = isinstance(y, (tuple, list)) and len(y) == 2 and all(isinstance(p, int) for p in y)
            if not ok or not 0 <= y[0] <= y[1] < end - start:
                raise ValueError(f"example {index}: span must be (start, end) token positions with "
                                 f"0 <= start <= end < {end - start} (the last text's length), got {y!r}")
            target = (y[0] + start, y[1] + start)
        encoded.append(_Encoded(ids, types, start, end, target))
    return encoded


def _collate(rows: list[_Encoded], task: str, pad_id: int, with_targets: bool = True) -> dict[str, torch.Tensor]:
    """Right-pad a list of encoded examples to the longest one; the batch dict the TaskModel reads."""
    T = max(len(r.input_ids) for r in rows)
    pad = [T - len(r.input_ids) for r in rows]
    batch = {
        "input_ids": torch.tensor([r.input_ids + [pad_id] * p for r, p in zip(rows, pad)]),
        "attention_mask": torch.tensor([[1] * len(r.input_ids) + [0] * p for r, p in zip(rows, pad)]),
    }
    if rows[0].token_type_ids:
        batch["token_type_ids"] = torch.tensor([r.token_type_ids + [0] * p for r, p in zip(rows, pad)])
    if task == "span":
        batch["answer_mask"] = torch.tensor([[int(r.answer_start <= t < r.answer_end) for t in range(T)] for r in rows])
    if not with_targets:
        return batch
    if task in ("classify", "pair"):
        batch["labels"] = torch.tensor([r.target for r in rows])
    elif task == "regress":
        batch["labels"] = torch.tensor([r.target for r in rows], dtype=torch.float32)
    elif task == "tag":
        batch["labels"] = torch.tensor([[IGNORE_INDEX] * r.answer_start + r.target
                                        + [IGNORE_INDEX] * (T - r.answer_end) for r in rows])
    else:
        batch["labels"] = torch.tensor([list(r.target) for r in rows])
    return batch


# --------------------------------------------------------------------------------------------------
# Fine-tuning, prediction, evaluation
# --------------------------------------------------------------------------------------------------


@dataclass
class FineTuned:
    """A trained ``TaskModel`` and what ``predict``/``evaluate`` need to read new examples."""

    model: TaskModel
    tokenizer: Any
    task: str
    mode: str
    labels: tuple | None
    history: History = field(repr=False)
    max_span_length: int = 30

    @property
    def trainable_parameters(self) -> int:
        """Parameters the fine-tuning updated (the head alone for a probe)."""
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    @torch.no_grad()
    def predict(self, inputs: Sequence, batch_size: int = 64) -> list:
        """Predictions for raw inputs (texts or text pairs): a label (name if ``labels`` were
        names), a number, a list of tags, or a (start, end) span in the last text's tokens."""
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
            raise TypeError(f"inputs must be a list of texts or text pairs, got {type(inputs).__name__}")
        dummy = {"classify": 0, "pair": 0, "regress": 0.0, "tag": None, "span": None}[self.task]
        rows = []
        for index, x in enumerate(inputs):
            ids, types, start, end = _encode_input(self.model.backbone, self.tokenizer, x, self.task, index)
            rows.append(_Encoded(ids, types, start, end, dummy))
        pad_id = _special(self.tokenizer, "pad", "eos") or 0
        out = []
        with evaluating(self.model):
            for i in range(0, len(rows), batch_size):
                chunk = rows[i:i + batch_size]
                batch = _collate(chunk, self.task, pad_id, with_targets=False)
                y = self.model(batch)
                if self.task in ("classify", "pair"):
                    out += [self._name(k) for k in y.argmax(-1).tolist()]
                elif self.task == "regress":
                    out += y.tolist()
                elif self.task == "tag":
                    tags = y.argmax(-1).tolist()
                    out += [[self._name(k) for k in t[r.answer_start:r.answer_end]] for t, r in zip(tags, chunk)]
                else:
                    spans = best_span(y[..., 0], y[..., 1], self.max_span_length, batch["answer_mask"])
                    out += [(s - r.answer_start, e - r.answer_start) for (s, e), r in zip(spans.tolist(), chunk)]
        return out

    def _name(self, k: int):
        return self.labels[k] if self.labels is not None else k


def finetune(
    backbone: nn.Module,
    tokenizer: Any,
    examples: Sequence,
    *,
    task: str,
    mode: str,
    steps: int,
    lr: float = 1e-3,
    labels: Sequence | None = None,
    num_labels: int | None = None,
    pool: str | None = None,
    batch_size: int = 16,
    weight_decay: float = 0.01,
    warmup: int | None = None,
    max_span_length: int = 30,
    seed: int = 0,
    progress: bool = False,
) -> FineTuned:
    """Fine-tune a *copy* of ``backbone`` (an lmnotes ``Encoder`` or ``GPT``) on labelled ``examples``.

    ``task``: one of ``TASKS`` (example formats in the module docstring); ``mode``: ``"scratch"``
    (same architecture re-initialised with ``seed``), ``"probe"`` (backbone frozen, linear head only)
    or ``"full"``. ``labels``: class or tag names (or give ``num_labels`` when targets are indices);
    not used for regress and span. ``pool``: how classify/pair/regress read one vector ("mean" for
    an Encoder, "last" for a GPT by default). Training is ``lmnotes.training.train`` with
    ``task_loss`` on random mini-batches of ``batch_size`` examples for ``steps`` AdamW updates,
    ``warmup`` defaulting to a tenth of them. The caller's ``backbone`` is never modified.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if not isinstance(backbone, (Encoder, GPT)):
        raise TypeError(f"backbone must be an lmnotes Encoder or GPT, got {type(backbone).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    n_out = _n_out(task, labels, num_labels)
    pool = _DEFAULT_POOL[type(backbone)] if pool is None else pool
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {list(POOLS)}, got {pool!r}")
    encoded = _encode(backbone, tokenizer, examples, task, labels, n_out)

    torch.manual_seed(seed)
    if mode == "scratch":
        backbone = type(backbone)(backbone.config)
    else:
        backbone = copy.deepcopy(backbone)
    model = TaskModel(backbone, task, n_out, pool, frozen=mode == "probe")
    pad_id = _special(tokenizer, "pad", "eos") or 0
    gen = torch.Generator().manual_seed(seed)

    def batches(step: int) -> dict[str, torch.Tensor]:
        pick = torch.randint(len(encoded), (min(batch_size, len(encoded)),), generator=gen).tolist()
        return _collate([encoded[i] for i in pick], task, pad_id)

    history = train(model, batches, steps=steps, lr=lr, warmup=steps // 10 if warmup is None else warmup,
                    weight_decay=weight_decay, loss_fn=task_loss, seed=seed, progress=progress)
    model.eval()
    return FineTuned(model, tokenizer, task, mode, None if labels is None else tuple(labels), history,
                     max_span_length)


@torch.no_grad()
def features(backbone: nn.Module, tokenizer: Any, inputs: Sequence, *, pool: str | None = None,
             batch_size: int = 64) -> torch.Tensor:
    """The pooled hidden state (N, n_embd) a classifier head reads for each input (a text, or a
    ``(text_a, text_b)`` pair), from the frozen ``backbone`` in eval mode: exactly what a
    ``"probe"`` head sees. A probe fitted to convergence on these features, its penalty chosen on
    dev (``lmnotes.baselines.fit_linear("logistic", ...)``), is the frozen-feature baseline at its
    best, where ``finetune(mode="probe")`` trains the same head by a fixed number of AdamW steps."""
    if not isinstance(backbone, (Encoder, GPT)):
        raise TypeError(f"backbone must be an lmnotes Encoder or GPT, got {type(backbone).__name__}")
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence) or not inputs:
        raise ValueError(f"inputs must be a non-empty list of texts or text pairs, got {inputs!r:.80}")
    batch_size = checks.size("batch_size", batch_size)
    pool = _DEFAULT_POOL[type(backbone)] if pool is None else checks.choice("pool", pool, POOLS)
    task = "pair" if isinstance(inputs[0], (tuple, list)) else "classify"
    rows = []
    for index, x in enumerate(inputs):
        ids, types, start, end = _encode_input(backbone, tokenizer, x, task, index)
        if len(ids) > backbone.config.block_size:
            raise ValueError(f"inputs[{index}] is {len(ids)} tokens long; the backbone reads at most "
                             f"block_size={backbone.config.block_size}")
        rows.append(_Encoded(ids, types, start, end, 0))
    pad_id = _special(tokenizer, "pad", "eos") or 0
    out = []
    with evaluating(backbone):
        for i in range(0, len(rows), batch_size):
            batch = _collate(rows[i:i + batch_size], task, pad_id, with_targets=False)
            h = hidden_states(backbone, batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
            out.append(pool_states(h, batch["attention_mask"], pool))
    return torch.cat(out)


def _n_out(task: str, labels, num_labels) -> int:
    if task == "regress":
        return 1
    if task == "span":
        return 2
    if labels is not None:
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence) or len(labels) < 2 \
                or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be a sequence of at least 2 distinct names, got {labels!r}")
        if num_labels is not None and num_labels != len(labels):
            raise ValueError(f"num_labels ({num_labels}) must equal len(labels) ({len(labels)})")
        return len(labels)
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
        raise ValueError(f"task {task!r} needs labels (names) or num_labels (an int >= 2), got "
                         f"labels=None, num_labels={num_labels!r}")
    return num_labels


def accuracy(predictions: Sequence, targets: Sequence) -> float:
    """Share of predictions equal to their targets (exact match for spans and tag sequences)."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError(f"predictions and targets must be non-empty and of equal length, got "
                         f"{len(predictions)} and {len(targets)}")
    return sum(_same(p, t) for p, t in zip(predictions, targets)) / len(targets)


def _same(p, t) -> bool:
    return list(p) == list(t) if isinstance(p, (tuple, list)) else p == t


def evaluate(tuned: FineTuned, examples: Sequence) -> dict[str, float]:
    """Held-out metrics of a fine-tuned model on ``(input, target)`` examples.

    classify/pair: ``accuracy``; regress: ``mse`` and Pearson ``correlation``; tag: ``token_accuracy``
    and ``exact_match`` (whole sequence right); span: ``exact_match`` and token-overlap ``f1``.
    """
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence) or not examples:
        raise ValueError(f"examples must be a non-empty list of (input, target) pairs, got {examples!r:.80}")
    inputs = [x for x, _ in examples]
    targets = [y for _, y in examples]
    predictions = tuned.predict(inputs)
    if tuned.task in ("classify", "pair"):
        if tuned.labels is not None:
            targets = [tuned.labels[_label_index(y, tuned.labels, len(tuned.labels), i)] for i, y in enumerate(targets)]
        return {"accuracy": accuracy(predictions, targets)}
    if tuned.task == "regress":
        p, t = torch.tensor(predictions), torch.tensor(targets, dtype=torch.float32)
        correlation = torch.corrcoef(torch.stack([p, t]))[0, 1].item() if len(t) > 1 else float("nan")
        return {"mse": F.mse_loss(p, t).item(), "correlation": correlation}
    if tuned.task == "tag":
        if tuned.labels is not None:
            targets = [[tuned.labels[_label_index(t, tuned.labels, len(tuned.labels), i)] for t in y]
                       for i, y in enumerate(targets)]
        pairs = [(a, b) for p, t in zip(predictions, targets) for a, b in zip(p, t)]
        return {"token_accuracy": sum(a == b for a, b in pairs) / len(pairs), "exact_match": accuracy(predictions, targets)}
    return {"exact_match": accuracy(predictions, targets),
            "f1": sum(_span_f1(p, t) for p, t in zip(predictions, targets)) / len(targets)}


#: the metrics of ``evaluate`` for which higher is better, per task (what ``tune`` may maximise)
_HIGHER_IS_BETTER = {"classify": ("accuracy",), "pair": ("accuracy",), "regress": ("correlation",),
                     "tag": ("token_accuracy", "exact_match"), "span": ("exact_match", "f1")}


def tune(backbone: nn.Module, tokenizer: Any, examples: Sequence, dev: Sequence, *, grid: Sequence[dict],
         metric: str = "accuracy", **options) -> tuple[dict, list[dict]]:
    """Choose fine-tuning settings on a dev set: ``finetune(backbone, tokenizer, examples, **setting,
    **options)`` for every ``setting`` of ``grid`` (dicts of ``finetune`` arguments, e.g.
    ``{"lr": 1e-3, "steps": 100}``), each scored by ``evaluate(..., dev)[metric]``, a metric for
    which higher is better (regress: ``"correlation"``; tag and span: either of their two).

    Returns ``(best, rows)``: the setting with the highest dev score (the first one on ties) and one
    row per setting, the setting with ``"dev_" + metric`` added. The test set plays no part, so the
    chosen setting can be scored on it honestly; a baseline tuned this way gets the same care as
    the model it is compared with."""
    if isinstance(grid, (str, bytes, dict)) or not isinstance(grid, Sequence) or not grid \
            or not all(isinstance(g, dict) and g for g in grid):
        raise ValueError(f"grid must be a non-empty list of non-empty dicts of finetune arguments, got {grid!r:.80}")
    clash = sorted({k for g in grid for k in g} & set(options))
    if clash:
        raise ValueError(f"grid and options must not both set {clash}")
    if isinstance(dev, (str, bytes)) or not isinstance(dev, Sequence) or not dev:
        raise ValueError(f"dev must be a non-empty list of (input, target) pairs, got {dev!r:.80}")
    task = options.get("task")
    checks.choice("metric", metric, _HIGHER_IS_BETTER.get(task, ("accuracy",)))
    rows = []
    for setting in grid:
        scores = evaluate(finetune(backbone, tokenizer, examples, **setting, **options), dev)
        rows.append(dict(setting, **{f"dev_{metric}": scores[metric]}))
    best = max(range(len(rows)), key=lambda i: (rows[i][f"dev_{metric}"], -i))
    return dict(grid[best]), rows


def forgetting_runs(first: FineTuned, second_examples: Sequence, *, replay_from: Sequence, first_test: Sequence,
                    second_test: Sequence, labels: Sequence, steps: int, shares: Sequence[float] = (0.0, 0.25),
                    lr: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Forgetting, and replay (book §1.4): fine-tune the backbone of ``first`` (a classifier already
    fine-tuned on task 1) again, on task 2's ``second_examples`` with a new classify head over
    ``labels`` (both tasks' label names), for each share in ``shares`` mixing that share of
    ``len(second_examples)`` task-1 examples, drawn from ``replay_from`` with ``random.Random(0)``, into
    the training set. Returns task 1's accuracy on ``first_test`` ``"after task 1"`` and, per run
    (``"no replay"`` for share 0, else e.g. ``"25% replay"``), ``"<run>, task-1 head"`` (task 1's own
    head reading the changed backbone), ``"<run>, new head"`` and ``"<run>, task 2"`` (the new head on
    ``second_test``)."""
    if not isinstance(first, FineTuned) or first.task != "classify":
        raise TypeError(f"first must be a classify model from finetune, got {type(first).__name__}")
    second_examples, replay_from = list(second_examples), list(replay_from)
    if not second_examples:
        raise ValueError("second_examples must hold at least one example, got none")
    for share in shares:
        if not isinstance(share, (int, float)) or not 0 <= share <= 1 or int(share * len(second_examples)) > len(replay_from):
            raise ValueError(f"shares must lie in [0, 1] and ask for at most len(replay_from) = {len(replay_from)} "
                             f"examples, got {share!r}")

    def first_head(backbone: nn.Module) -> float:
        reader = copy.deepcopy(first)
        reader.model.backbone = backbone
        return evaluate(reader, first_test)["accuracy"]

    out = {"after task 1": first_head(first.model.backbone)}
    for share in shares:
        name = "no replay" if share == 0 else f"{share:.0%} replay"
        mixed = second_examples + random.Random(0).sample(replay_from, int(share * len(second_examples)))
        second = finetune(first.model.backbone, first.tokenizer, mixed, task="classify", labels=labels, mode="full",
                          steps=steps, lr=lr, seed=seed)
        out[f"{name}, task-1 head"] = first_head(second.model.backbone)
        out[f"{name}, new head"] = evaluate(second, first_test)["accuracy"]
        out[f"{name}, task 2"] = evaluate(second, second_test)["accuracy"]
    return out


def _span_f1(predicted: Sequence[int], target: Sequence[int]) -> float:
    """Token-overlap F1 of two inclusive spans (SQuAD's partial credit)."""
    overlap = max(0, min(predicted[1], target[1]) - max(predicted[0], target[0]) + 1)
    if overlap == 0:
        return 0.0
    precision = overlap / (predicted[1] - predicted[0] + 1)
    recall = overlap / (target[1] - target[0] + 1)
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------------------------------
# Baselines without a Transformer: naive Bayes on word counts, a per-word tagger, a span heuristic
# (the dev-tuned linear models on word counts live in lmnotes.baselines)
# --------------------------------------------------------------------------------------------------


#: more classes than any classifier here needs; a label past it is a mistake (and a huge one-hot)
MAX_CLASSES = 10_000


def naive_bayes(train_counts: torch.Tensor, train_labels: torch.Tensor, test_counts: torch.Tensor,
                smoothing: float = 1.0) -> torch.Tensor:
    """Multinomial naive Bayes: predicted class indices for ``test_counts``.

    Each class is a distribution over words, estimated by counting (with add-``smoothing``); a text
    goes to the class under which its words are most likely, times the class prior.
    """
    for name, counts in (("train_counts", train_counts), ("test_counts", test_counts)):
        checks.finite_tensor(name, checks.tensor(name, counts, ndim=2, dtype="float"))
        if bool((counts < 0).any()):
            raise ValueError(f"{name} must hold word counts (>= 0), got a minimum of {float(counts.min())}")
    if test_counts.shape[1] != train_counts.shape[1]:
        raise ValueError(f"test_counts must have train_counts' {train_counts.shape[1]} columns (one per word), "
                         f"got {test_counts.shape[1]}")
    train_labels = checks.token_ids("train_labels", train_labels, ndim=1)
    if int(train_labels.min()) < 0 or int(train_labels.max()) >= MAX_CLASSES:
        raise ValueError(f"train_labels must be class indices in [0, {MAX_CLASSES}), got values from "
                         f"{int(train_labels.min())} to {int(train_labels.max())}")
    if len(train_labels) != len(train_counts):
        raise ValueError(f"train_labels must hold one label per row of train_counts ({len(train_counts)}), "
                         f"got {len(train_labels)}")
    smoothing = checks.positive("smoothing", smoothing)
    n_classes = int(train_labels.max()) + 1
    one_hot = F.one_hot(train_labels, n_classes).float()
    word_counts = one_hot.T @ train_counts + smoothing
    log_likelihood = (word_counts / word_counts.sum(1, keepdim=True)).log()
    log_prior = (one_hot.mean(0) + 1e-9).log()
    return (test_counts @ log_likelihood.T + log_prior).argmax(1)


def word_lookup_tagger(train_examples: Sequence, previous: bool = False) -> Callable[[str], list]:
    """The lookup baseline of sequence labelling: each word gets the tag it carried most often in
    ``train_examples`` (``(text, tags)`` pairs), an unseen word the most frequent tag overall. With
    ``previous=True`` the key is (previous word, word), the first word's previous word being ``None``,
    falling back to the word alone for a pair never seen in training. Returns ``text -> tags``. Where
    tags are (almost) a function of the word and its left neighbour, this is the bar a fine-tuned
    tagger must clear."""
    train_examples = list(train_examples)
    if not train_examples:
        raise ValueError("train_examples must hold at least one (text, tags) pair, got none")
    if not isinstance(previous, bool):
        raise TypeError(f"previous must be True or False, got {previous!r}")
    counts: dict[Any, Counter] = {}
    overall: Counter = Counter()
    for row, (text, tags) in enumerate(train_examples):
        words = checks.text(f"train_examples[{row}] text", text).split()
        if len(words) != len(tags):
            raise ValueError(f"train_examples[{row}] has {len(words)} words but {len(tags)} tags")
        for i, (word, tag) in enumerate(zip(words, tags)):
            counts.setdefault(word, Counter())[tag] += 1
            if previous:
                counts.setdefault((words[i - 1] if i else None, word), Counter())[tag] += 1
            overall[tag] += 1
    table = {key: c.most_common(1)[0][0] for key, c in counts.items()}
    default = overall.most_common(1)[0][0]

    def tag(text: str) -> list:
        words = checks.text("text", text).split()
        return [table.get((words[i - 1] if i else None, w), table.get(w, default)) if previous
                else table.get(w, default) for i, w in enumerate(words)]

    return tag


def overlap_span(question: str, context: str) -> tuple[int, int]:
    """A span-extraction heuristic without a model: take the context sentence (split at " .") that
    shares the most words with ``question`` (the first on a tie) and answer with its last word.
    Returns inclusive (start, end) word positions in ``context``."""
    asked = set(checks.text("question", question).split())
    words = checks.text("context", context).split()
    best, best_overlap, start = None, -1, 0
    for end, word in enumerate(words):
        if word == "." and end > start:
            overlap = len(asked & set(words[start:end]))
            if overlap > best_overlap:
                best, best_overlap = end - 1, overlap
            start = end + 1
    if best is None:
        raise ValueError(f"context must hold at least one sentence ending in ' .', got {context!r}")
    return best, best


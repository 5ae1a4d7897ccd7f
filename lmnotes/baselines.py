"""The cheap baselines a measured claim is compared with, fitted as carefully as the method.

A Transformer's score means little until it is set beside what a linear model on word counts, or
always answering the most frequent class, reaches on the same split. Such a baseline is only fair
when it is tuned like the method: here every linear model is fitted to convergence (L-BFGS for
logistic regression, the closed form for ridge regression) and its L2 penalty is chosen on a dev
split, never on the test set.

- :func:`ngram_vocabulary` and :func:`ngram_counts`: bag-of-n-grams features (word counts when
  ``n=1``; unigrams and bigrams when ``n=2``);
- :func:`logistic_regression` and :func:`ridge_regression`: one fit at a given penalty;
- :func:`fit_linear`: the penalty chosen on dev from a grid, with the whole grid kept so that a
  best value at the grid's edge can be seen (``at_edge``);
- :func:`majority_class`: the input-blind baseline of a classification task;
- :class:`CharNgram`: a count language model over characters (interpolated n-gram), the baseline a
  small neural language model is compared with; its order and smoothing are tuned on dev like the
  network's settings.

``tests/test_oracle_sklearn.py`` checks the fits against scikit-learn's.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from lmnotes import checks

KINDS = ("logistic", "ridge")
#: the default grid of L2 penalties (a factor of 10 apart); ``fit_linear`` says when the best is at an edge
PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3)
_EPS = 1e-8


def ngram_vocabulary(texts: Sequence[str], n: int = 1, min_count: int = 1) -> list[str]:
    """Every 1- to ``n``-gram of the space-separated ``texts`` seen at least ``min_count`` times,
    sorted. Build it from the training texts only."""
    texts = checks.texts("texts", texts)
    n = checks.integer("n", n, 1, 5)
    min_count = checks.integer("min_count", min_count, 1)
    counts: Counter = Counter()
    for text in texts:
        counts.update(_ngrams(text.split(), n))
    return sorted(g for g, c in counts.items() if c >= min_count)


def ngram_counts(texts: Sequence[str], vocabulary: Sequence[str]) -> torch.Tensor:
    """Counts (len(texts), len(vocabulary)) of each vocabulary n-gram in each text. N-grams outside the
    vocabulary (unseen in training) are ignored, as in any fitted bag-of-words model."""
    texts = checks.texts("texts", texts)
    vocabulary = checks.texts("vocabulary", vocabulary, allow_empty_texts=False)
    index = {g: i for i, g in enumerate(vocabulary)}
    if len(index) != len(vocabulary):
        raise ValueError("vocabulary must not repeat an n-gram")
    n = max(len(g.split()) for g in vocabulary)
    rows, columns = [], []
    for row, text in enumerate(texts):
        for gram in _ngrams(text.split(), n):
            if gram in index:
                rows.append(row)
                columns.append(index[gram])
    counts = torch.zeros(len(texts), len(index))
    # one scatter-add for all texts: indexing the tensor once per n-gram is far slower
    counts.index_put_((torch.tensor(rows, dtype=torch.long), torch.tensor(columns, dtype=torch.long)),
                      torch.ones(len(rows)), accumulate=True)
    return counts


def _ngrams(words: list[str], n: int):
    for size in range(1, n + 1):
        for start in range(len(words) - size + 1):
            yield " ".join(words[start:start + size])


def majority_class(train_labels) -> int:
    """The most frequent class index of ``train_labels`` (the smallest on a tie): the score of always
    answering it is the input-blind floor of a classification task, which is not 1 / classes when the
    classes are unbalanced."""
    labels = _as_tensor("train_labels", train_labels)
    if labels.numel() == 0:
        raise ValueError("train_labels must hold at least one label, got none")
    labels = checks.token_ids("train_labels", labels, ndim=1)
    return int(torch.bincount(labels).argmax())


class CharNgram:
    """A character n-gram language model with Jelinek-Mercer interpolation, counted once from
    ``text`` up to ``max_order``. The probability of character ``c`` after the history ``h`` at order
    ``n`` is ``lam * count(h c) / count(h) + (1 - lam) * p_{n-1}(c | h without its first character)``,
    starting from the uniform ``1 / vocab_size``; a history never seen in ``text`` passes the lower
    order's probability through unchanged. ``lam`` and ``order`` are chosen on dev (:meth:`nll`)."""

    def __init__(self, text: str, max_order: int, vocab_size: int):
        self.text = checks.text("text", text)
        self.max_order = checks.integer("max_order", max_order, 1, 10)
        self.vocab_size = checks.size("vocab_size", vocab_size)
        if len(set(text)) > self.vocab_size:
            raise ValueError(f"vocab_size must cover the {len(set(text))} distinct characters of text, got {vocab_size}")
        # grams[n][g]: count of the n-gram g; histories[n][h]: count of the (n-1)-gram h followed by a character
        self.grams = [Counter() for _ in range(self.max_order + 1)]
        self.histories = [Counter() for _ in range(self.max_order + 1)]
        for n in range(1, self.max_order + 1):
            self.grams[n] = Counter(text[i:i + n] for i in range(len(text) - n + 1))
            self.histories[n] = Counter(text[i:i + n - 1] for i in range(len(text) - n + 1))

    def prob(self, history: str, char: str, lam: float, order: int | None = None) -> float:
        """P(``char`` | the last ``order - 1`` characters of ``history``)."""
        order = self.max_order if order is None else order
        p = 1.0 / self.vocab_size
        for n in range(1, min(order, len(history) + 1) + 1):
            h = history[len(history) - n + 1:] if n > 1 else ""
            seen = self.histories[n][h]
            if seen:
                p = lam * self.grams[n][h + char] / seen + (1 - lam) * p
        return p

    def nll(self, text: str, lam: float, order: int | None = None) -> float:
        """Mean negative log-likelihood (nats/char) of ``text[1:]``, each character scored after up to
        ``order - 1`` characters of ``text`` before it (``order`` defaults to ``max_order``)."""
        text = checks.text("text", text)
        if len(text) < 2:
            raise ValueError(f"text must hold at least 2 characters (one to score after one of history), got {len(text)}")
        lam = checks.probability("lam", lam, open_low=True, open_high=True)  # below 1: no zero probability
        order = self.max_order if order is None else checks.integer("order", order, 1, self.max_order)
        return -sum(math.log(self.prob(text[max(0, i - order + 1):i], text[i], lam, order))
                    for i in range(1, len(text))) / (len(text) - 1)


@dataclass
class LinearFit:
    """A fitted linear model on standardised features. ``predict`` gives class indices (logistic) or
    values (ridge); ``grid`` holds ``(penalty, dev score)`` for every penalty tried (dev accuracy, or
    dev mean squared error for ridge)."""

    kind: str
    weight: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    penalty: float
    dev_score: float | None = None
    grid: list = field(default_factory=list)

    @property
    def at_edge(self) -> bool:
        """True when the chosen penalty is the smallest or largest of the grid tried (widen it)."""
        return len(self.grid) > 1 and self.penalty in (self.grid[0][0], self.grid[-1][0])

    def decision(self, features) -> torch.Tensor:
        x = _features("features", features, self.weight.shape[1])
        return ((x - self.mean) / self.std) @ self.weight.T + self.bias

    def predict(self, features) -> torch.Tensor:
        out = self.decision(features)
        return out.argmax(1) if self.kind == "logistic" else out[:, 0]


def _features(name: str, value, columns: int | None = None) -> torch.Tensor:
    x = checks.finite_tensor(name, checks.tensor(name, value, ndim=2, dtype="float")).double()
    if columns is not None and x.shape[1] != columns:
        raise ValueError(f"{name} must have {columns} columns (as the training features), got {x.shape[1]}")
    if len(x) == 0:
        raise ValueError(f"{name} must hold at least one row, got none")
    return x


def _standardise(x: torch.Tensor):
    mean, std = x.mean(0), x.std(0, unbiased=False)
    std = torch.where(std > _EPS, std, torch.ones_like(std))
    return mean, std, (x - mean) / std


def _as_tensor(name: str, value) -> torch.Tensor:
    """``value`` as a tensor (a list of numbers is accepted), or an error naming ``name``."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a tensor or a list of numbers, got {type(value).__name__}")
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be a tensor or a list of numbers: {error}") from None


def _class_targets(name: str, y, rows: int) -> torch.Tensor:
    y = checks.token_ids(name, _as_tensor(name, y), ndim=1)
    if len(y) != rows:
        raise ValueError(f"{name} must hold one label per row of the features ({rows}), got {len(y)}")
    return y


def _value_targets(name: str, y, rows: int) -> torch.Tensor:
    y = checks.finite_tensor(name, checks.tensor(name, _as_tensor(name, y), ndim=1, dtype="float")).double()
    if len(y) != rows:
        raise ValueError(f"{name} must hold one value per row of the features ({rows}), got {len(y)}")
    return y


def logistic_regression(features, labels, *, l2: float = 1.0, n_classes: int | None = None) -> LinearFit:
    """Multinomial logistic regression on standardised ``features``, fitted to convergence by L-BFGS.

    Minimises the summed cross-entropy plus ``l2 / 2`` times the squared weights (the bias is not
    penalised): scikit-learn's ``LogisticRegression(C=1 / l2)`` on the same standardised features."""
    x = _features("features", features)
    y = _class_targets("labels", labels, len(x))
    l2 = checks.positive("l2", l2)
    k = int(y.max()) + 1 if n_classes is None else checks.integer("n_classes", n_classes, int(y.max()) + 1)
    mean, std, z = _standardise(x)
    weight = torch.zeros(k, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=1000, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight.T + bias, y, reduction="sum") + l2 / 2 * (weight ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    return LinearFit("logistic", weight.detach(), bias.detach(), mean, std, l2)


def ridge_regression(features, targets, *, l2: float = 1.0) -> LinearFit:
    """Least squares on standardised ``features`` plus ``l2`` times the squared weights (the intercept
    is not penalised), solved in closed form: scikit-learn's ``Ridge(alpha=l2)`` on the same
    standardised features."""
    x = _features("features", features)
    y = _value_targets("targets", targets, len(x))
    l2 = checks.positive("l2", l2)
    mean, std, z = _standardise(x)
    y_mean = y.mean()
    gram = z.T @ z + l2 * torch.eye(z.shape[1], dtype=z.dtype)
    weight = torch.linalg.solve(gram, z.T @ (y - y_mean))
    return LinearFit("ridge", weight[None], y_mean[None], mean, std, l2)


def fit_linear(kind: str, features, targets, dev_features, dev_targets, *,
               penalties: Sequence[float] = PENALTIES) -> LinearFit:
    """A ``kind`` (``"logistic"`` or ``"ridge"``) model whose L2 penalty is the one of ``penalties``
    with the best dev score (accuracy; mean squared error for ridge), refitted on the training rows.
    The returned fit keeps the whole ``grid`` and says whether the choice sits at its edge."""
    kind = checks.choice("kind", kind, KINDS)
    penalties = sorted(checks.positive("penalties", p) for p in penalties)
    if not penalties:
        raise ValueError("penalties must hold at least one L2 penalty, got none")
    x = _features("features", features)
    x_dev = _features("dev_features", dev_features, x.shape[1])
    if kind == "logistic":
        y = _class_targets("targets", targets, len(x))
        y_dev = _class_targets("dev_targets", dev_targets, len(x_dev))
        n_classes = int(max(y.max(), y_dev.max())) + 1
        fits = [logistic_regression(x, y, l2=p, n_classes=n_classes) for p in penalties]
        scores = [(f.predict(x_dev) == y_dev).double().mean().item() for f in fits]
        best = max(range(len(fits)), key=lambda i: (scores[i], -i))
    else:
        y = _value_targets("targets", targets, len(x))
        y_dev = _value_targets("dev_targets", dev_targets, len(x_dev))
        fits = [ridge_regression(x, y, l2=p) for p in penalties]
        scores = [((f.predict(x_dev) - y_dev) ** 2).mean().item() for f in fits]
        best = min(range(len(fits)), key=lambda i: (scores[i], i))
    chosen = fits[best]
    chosen.dev_score, chosen.grid = scores[best], list(zip(penalties, scores))
    return chosen

"""lmnotes.baselines: dev-tuned linear baselines and the majority class (scikit-learn agreement is in
test_oracle_sklearn.py)."""

from __future__ import annotations

import pytest
import torch

from lmnotes import baselines


def test_majority_class_is_the_most_frequent_label():
    assert baselines.majority_class([2, 0, 2, 1, 2, 0]) == 2
    assert baselines.majority_class(torch.tensor([1, 0])) == 0  # smallest on a tie
    with pytest.raises(ValueError, match="train_labels"):
        baselines.majority_class([])


def test_ngram_vocabulary_and_counts():
    vocab = baselines.ngram_vocabulary(["a b a", "b c"], n=2)
    assert vocab == ["a", "a b", "b", "b a", "b c", "c"]
    counts = baselines.ngram_counts(["a b a", "c d"], vocab)
    assert counts[0].tolist() == [2, 1, 1, 1, 0, 0]
    assert counts[1].tolist() == [0, 0, 0, 0, 0, 1]  # "d" and "c d" were never seen: ignored
    assert baselines.ngram_vocabulary(["a b a", "b c"], n=1, min_count=2) == ["a", "b"]
    with pytest.raises(TypeError, match="texts"):
        baselines.ngram_counts("a b", vocab)


def test_fit_linear_picks_the_penalty_on_dev():
    # 300 features, 40 training rows, one informative feature: the dev split decides the penalty
    torch.manual_seed(0)
    x = torch.randn(240, 300)
    y = (x[:, 0] + 0.5 * torch.randn(240) > 0).long()
    grid = (1e-3, 10.0, 1e3)
    fit = baselines.fit_linear("logistic", x[:40], y[:40], x[40:140], y[40:140], penalties=grid)
    dev = [(baselines.logistic_regression(x[:40], y[:40], l2=p).predict(x[40:140]) == y[40:140]).double().mean().item()
           for p in grid]
    assert fit.grid == list(zip(grid, dev))
    assert fit.penalty == grid[dev.index(max(dev))] and fit.dev_score == max(dev)
    assert fit.at_edge == (fit.penalty != 10.0)


def test_ridge_solves_a_sum_of_word_scores_exactly():
    # a score that is a sum of per-word scores is linear in word counts: ridge recovers it
    vocab = ["good", "bad", "fine", "the"]
    scores = torch.tensor([2.0, -2.0, 0.5, 0.0])
    torch.manual_seed(1)
    counts = torch.randint(0, 3, (200, 4)).float()
    fit = baselines.fit_linear("ridge", counts[:100], counts[:100] @ scores, counts[100:], counts[100:] @ scores,
                               penalties=(1e-6, 1.0))
    assert fit.penalty == 1e-6 and fit.at_edge
    assert torch.allclose(fit.predict(counts[100:]), (counts[100:] @ scores).double(), atol=1e-4)
    assert len(vocab) == counts.shape[1]


def test_bad_inputs_name_the_argument():
    x, y = torch.randn(10, 3), torch.tensor([0, 1] * 5)
    with pytest.raises(ValueError, match="kind"):
        baselines.fit_linear("svm", x, y, x, y)
    with pytest.raises(ValueError, match="dev_features"):
        baselines.fit_linear("logistic", x, y, torch.randn(10, 4), y)
    with pytest.raises(ValueError, match="labels"):
        baselines.logistic_regression(x, y[:9])
    with pytest.raises(ValueError, match="l2"):
        baselines.ridge_regression(x, y.float(), l2=0)
    with pytest.raises(ValueError, match="features"):
        baselines.logistic_regression(torch.full((10, 3), float("nan")), y)
    fit = baselines.logistic_regression(x, y)
    with pytest.raises(ValueError, match="features"):
        fit.predict(torch.randn(2, 5))

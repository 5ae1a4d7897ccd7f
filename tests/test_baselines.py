"""lmnotes.baselines: dev-tuned linear baselines and the majority class (scikit-learn agreement is in
test_oracle_sklearn.py)."""

from __future__ import annotations

import math

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


def test_char_ngram_interpolates_counts_down_to_uniform():
    lm = baselines.CharNgram("abab", max_order=2, vocab_size=4)
    # order 1: lam * count(c) / 4 + (1 - lam) / 4; order 2 after "a": lam * count("ab") / count("a" then any) + ...
    unigram_b = 0.5 * 2 / 4 + 0.5 / 4
    assert lm.prob("a", "b", 0.5) == pytest.approx(0.5 * 2 / 2 + 0.5 * unigram_b)
    assert lm.prob("a", "b", 0.5, order=1) == pytest.approx(unigram_b)
    assert lm.prob("", "c", 0.5) == pytest.approx(0.5 / 4)  # never seen: only the uniform share
    # a distribution over the vocabulary after any history, and the nll is its mean -log over text[1:]
    for history in ("", "a", "b", "zz"):
        assert sum(lm.prob(history, c, 0.3) for c in "abcd") == pytest.approx(1.0)
    expected = -(math.log(lm.prob("a", "b", 0.5)) + math.log(lm.prob("b", "a", 0.5))) / 2
    assert lm.nll("aba", 0.5) == pytest.approx(expected)
    # more context helps on the text it was counted on
    text = "the cat sat on the mat; the cat sat on the hat. " * 5
    lm = baselines.CharNgram(text, max_order=4, vocab_size=30)
    assert lm.nll(text, 0.7, order=4) < lm.nll(text, 0.7, order=2) < lm.nll(text, 0.7, order=1)


def test_char_ngram_names_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        baselines.CharNgram("abc", max_order=2, vocab_size=2)
    with pytest.raises(TypeError, match="text"):
        baselines.CharNgram(["a", "b"], max_order=2, vocab_size=2)
    with pytest.raises(ValueError, match="max_order"):
        baselines.CharNgram("abc", max_order=0, vocab_size=3)
    lm = baselines.CharNgram("abc", max_order=2, vocab_size=3)
    with pytest.raises(ValueError, match="lam"):
        lm.nll("abc", 1.0)  # lam = 1 would give an unseen character probability 0
    with pytest.raises(ValueError, match="order"):
        lm.nll("abc", 0.5, order=3)
    with pytest.raises(ValueError, match="text"):
        lm.nll("a", 0.5)

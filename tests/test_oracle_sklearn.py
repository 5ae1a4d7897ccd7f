"""lmnotes.baselines against scikit-learn, the library the field fits these baselines with.

scikit-learn is a test-only oracle (requirements.txt), like peft and trl: the course never imports it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmnotes import baselines

sklearn = pytest.importorskip("sklearn")
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _data(seed=0, n=120, d=6, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + rng.normal(size=d)
    w = rng.normal(size=(d, classes))
    y = (x @ w + rng.gumbel(size=(n, classes))).argmax(1)
    return x, y


@pytest.mark.parametrize("l2", [0.1, 1.0, 10.0])
def test_logistic_regression_matches_sklearn(l2):
    x, y = _data()
    ours = baselines.logistic_regression(torch.tensor(x), torch.tensor(y), l2=l2)
    z = StandardScaler().fit_transform(x)
    theirs = LogisticRegression(C=1 / l2, tol=1e-10, max_iter=10_000).fit(z, y)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.coef_, atol=2e-4)
    np.testing.assert_allclose(ours.bias.numpy(), theirs.intercept_, atol=2e-4)
    assert (ours.predict(torch.tensor(x)).numpy() == theirs.predict(z)).all()


@pytest.mark.parametrize("l2", [0.01, 1.0, 100.0])
def test_ridge_regression_matches_sklearn(l2):
    x, _ = _data(seed=1)
    t = x @ np.arange(1.0, 7.0) + np.random.default_rng(2).normal(size=len(x))
    ours = baselines.ridge_regression(torch.tensor(x), torch.tensor(t), l2=l2)
    z = StandardScaler().fit_transform(x)
    theirs = Ridge(alpha=l2).fit(z, t)
    np.testing.assert_allclose(ours.weight[0].numpy(), theirs.coef_, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(ours.predict(torch.tensor(x)).numpy(), theirs.predict(z), atol=1e-8)


def test_ngram_counts_match_count_vectorizer():
    train = ["the food is great", "the food is not great at all", "great great food"]
    test = ["not great", "the service is great", "food food"]
    vocabulary = baselines.ngram_vocabulary(train, n=2)
    vectorizer = CountVectorizer(ngram_range=(1, 2), token_pattern=r"\S+", lowercase=False).fit(train)
    assert vocabulary == sorted(vectorizer.vocabulary_)
    matrix = vectorizer.transform(test).toarray()[:, [vectorizer.vocabulary_[g] for g in vocabulary]]
    np.testing.assert_array_equal(baselines.ngram_counts(test, vocabulary).numpy(), matrix)

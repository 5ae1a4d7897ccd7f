"""Exercises of the chain-of-thought notebook (chapter 3, book section 3.2)."""

from __future__ import annotations

import math
from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, register


def _diagnose_vote_of_three(answer: Any) -> str | None:
    p = 0.6
    want = 3 * p**2 * (1 - p) + p**3
    x = as_number(answer)
    if x is None:
        return f"expected a number between 0 and 1, got {type(answer).__name__} {answer!r}"
    if abs(x - want) < 1e-3:
        return None
    if abs(x - p) < 1e-3:
        return "that is one sample's accuracy; the vote is right when at least 2 of the 3 samples are"
    if abs(x - p**3) < 1e-3:
        return "that is the chance that all 3 are right; 2 right out of 3 already win the vote"
    if abs(x - (1 - (1 - p) ** 3)) < 1e-3:
        return "that is the chance that at least one is right; one right sample loses 1 to 2 against the wrong ones"
    if abs(x - 3 * p**2 * (1 - p)) < 1e-3:
        return "you counted exactly 2 right; add the case where all 3 are right"
    return f"{x:.3g} is not it: add P(exactly 2 right) = 3 p^2 (1 - p) and P(3 right) = p^3 with p = {p}"


register(Exercise(
    name="vote-of-three",
    prompt=("Each sampled solution is right with probability 0.6, independently, and every wrong sample gives "
            "the same wrong answer. What is the accuracy of a majority vote over 3 samples?"),
    diagnose=_diagnose_vote_of_three,
    solution=("The vote is right when at least 2 of 3 are right: 3 (0.6^2)(0.4) + 0.6^3 = 0.432 + 0.216 = 0.648, "
              "above one sample's 0.6. With p below 0.5 the same sum falls below p: voting only helps a model "
              "that is right more often than it repeats one mistake."),
))


def _diagnose_idf(answer: Any) -> str | None:
    n_docs, holding = 10, 2
    want = math.log((n_docs - holding + 0.5) / (holding + 0.5))
    x = as_number(answer)
    if x is None:
        return f"expected a number, got {type(answer).__name__} {answer!r}"
    if abs(x - want) < 1e-3:
        return None
    if abs(x - math.log(n_docs / holding)) < 1e-3:
        return "that is the classic log(N / n); BM25's idf is log((N - n + 0.5) / (n + 0.5))"
    if abs(x - want / math.log(10)) < 1e-3:
        return "you used log base 10; BM25 (and lmnotes.prompting.retrieval) use the natural log"
    return f"{x:.3g} is not it: idf = log((N - n + 0.5) / (n + 0.5)) with N = {n_docs}, n = {holding}"


register(Exercise(
    name="bm25-idf",
    prompt="In an index of 10 statements, the word 'anna' occurs in 2 of them. What is its BM25 idf?",
    diagnose=_diagnose_idf,
    solution="log((10 - 2 + 0.5) / (2 + 0.5)) = log(3.4) = 1.224: rarer words weigh more in the score.",
))


def _diagnose_decomposition_calls(answer: Any) -> str | None:
    n, size = 10, 3
    groups = n // size  # a lone operand at the end joins the group before it
    want = groups + 1
    x = as_integer(answer)
    if x is None:
        return f"expected an int (a number of model calls), got {type(answer).__name__} {answer!r}"
    if x == want:
        return None
    if x == groups:
        return "that counts the sub-problems; Eq. 3.4 adds one more call, the final step that combines their answers"
    if x == math.ceil(n / size) + 1:
        return "chunks does not leave a lone operand as a sub-problem of its own: it joins the group before it"
    if x == n - 1:
        return "that is one call per addition; here each sub-problem adds up to 4 numbers in one call"
    return f"{x} is not it: count the groups chunks(ops, 3) makes, then the final step"


register(Exercise(
    name="decomposition-calls",
    prompt=("Least-to-most on a sum of 10 operands with lmnotes.prompting.reasoning.chunks(ops, 3): the sub-problems "
            "are groups of 3 operands (a lone operand at the end joins the group before it), each solved by one model "
            "call (Eq. 3.3), then one call combines their answers (Eq. 3.4). How many model calls does one problem "
            "take?"),
    diagnose=_diagnose_decomposition_calls,
    solution="chunks gives (3, 3, 4) operands: 3 sub-problem calls, then the final step (Eq. 3.4): 4 calls in all.",
))

"""Exercises of the in-context learning notebook (chapter 3, book section 3.1)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, register


def _diagnose_query_class_seen(answer: Any) -> str | None:
    k = 3
    want = 1 - 0.5 ** k
    if as_number(answer) is None:
        return f"expected a number between 0 and 1, got {type(answer).__name__} {answer!r}"
    answer = as_number(answer)
    if abs(answer - want) < 1e-3:
        return None
    if abs(answer - 0.5 ** k) < 1e-3:
        return "that is the chance that the query's class was *never* shown; the question asks for the opposite"
    if abs(answer - 0.5) < 1e-3:
        return "0.5 is the chance for one demonstration; with 3 independent ones, the class is missed only if all 3 miss it"
    if abs(answer - k / (k + 1)) < 1e-3 or abs(answer - 1) < 1e-3:
        return "each demonstration shows the query's class with probability 1/2, independently: compute 1 - P(all 3 miss)"
    return f"{answer:.3g} is not it: each of the 3 demonstrations misses the query's class with probability 1/2"


register(Exercise(
    name="query-class-seen",
    prompt=("A prompt holds 3 demonstrations of a binary task, each of a class drawn uniformly at random, and "
            "then a query. With random label words, the model can name the query's label word only if its "
            "class was shown. In what share of prompts was it shown?"),
    diagnose=_diagnose_query_class_seen,
    solution=("Each demonstration misses the query's class with probability 1/2, so all three miss it with "
              "probability 1/8: the class was shown in 1 - 1/8 = 0.875 of prompts."),
))


def _diagnose_examples_for_exact_fit(answer: Any) -> str | None:
    d = 5
    if as_integer(answer) is None:
        return f"expected an int (a number of examples), got {type(answer).__name__} {answer!r}"
    answer = as_integer(answer)
    if answer == d:
        return None
    if answer == d + 1:
        return "one fewer is enough: there is no noise and no intercept, so w has exactly 5 unknowns"
    if answer < d:
        return (f"with {answer} examples the equations y_i = w . x_i leave {d - answer} direction(s) of w free: "
                "least squares then picks the shortest w, which is right only by luck")
    return f"{answer} is more than needed: count the unknowns of w in d = {d} dimensions"


register(Exercise(
    name="examples-for-exact-fit",
    prompt=("The tasks are y = w . x with x and w in 5 dimensions and no noise. From how many in-context "
            "examples does least squares predict the next y exactly (almost surely)?"),
    diagnose=_diagnose_examples_for_exact_fit,
    solution=("5: five random x's span the 5-dimensional space, so the five equations y_i = w . x_i fix w; "
              "the least-squares error drops to 0 at 5 examples, as the curve shows."),
))


def _diagnose_averaging_step(answer: Any) -> str | None:
    xs, ys, q = [(1.0, 0.0), (0.0, 2.0)], [3.0, 4.0], (1.0, 1.0)
    w = [sum(y * x[j] for x, y in zip(xs, ys)) / len(xs) for j in range(2)]
    want = w[0] * q[0] + w[1] * q[1]
    if as_number(answer) is None:
        return f"expected a number, got {type(answer).__name__} {answer!r}"
    answer = as_number(answer)
    if abs(answer - want) < 1e-6:
        return None
    if abs(answer - sum(ys) / len(ys)) < 1e-6:
        return "that is the mean of the outputs; averaging weights each y_i by its x_i: w_hat = mean(y_i x_i)"
    if abs(answer - 2 * want) < 1e-6:
        return "you summed y_i x_i; averaging divides by the number of examples (2)"
    if abs(answer - 5.0) < 1e-6:
        return "that is least squares (w = (3, 2)); the question asks for the averaging estimator"
    return f"{answer:.3g} is not it: w_hat = (y_1 x_1 + y_2 x_2) / 2, then w_hat . x_query"


register(Exercise(
    name="averaging-step",
    prompt=("Examples x_1 = (1, 0), y_1 = 3 and x_2 = (0, 2), y_2 = 4; query x = (1, 1). What does the "
            "averaging estimator (w_hat = mean of y_i x_i) predict?"),
    diagnose=_diagnose_averaging_step,
    solution=("y_1 x_1 = (3, 0), y_2 x_2 = (0, 8); their mean is w_hat = (1.5, 4), and w_hat . (1, 1) = 5.5. "
              "This is one gradient step from w = 0 with learning rate 1 on half the mean squared error."),
))

"""Exercises of the training-at-scale notebook (chapter 2, book section 2.2)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, register


def _bubble(answer: Any) -> str | None:
    m = as_integer(answer)
    if m is None:
        return f"give one whole number of micro-batches, got {answer!r}"
    if m == 64:
        return None
    if m == 63:
        return "at m = 63 the share is 7 / 70 = 0.100 exactly, not under 10%"
    if m == 71:
        return "that solves 7 / m < 0.1; the schedule lasts m + p - 1 ticks, so solve 7 / (m + 7) < 0.1"
    if m == 73:
        return "p - 1 = 7 stages wait at the start, not p = 8: solve (p - 1) / (m + p - 1) < 0.1"
    if m > 0:
        return f"with m = {m} the idle share is 7 / {m + 7} = {7 / (m + 7):.3f}; find the smallest m that puts it under 0.1"
    return f"the number of micro-batches must be positive, got {m}"


register(Exercise(
    name="pipeline-bubble",
    prompt="With p = 8 equal pipeline stages, what is the smallest number of micro-batches m that keeps the idle "
           "share under 10%?",
    diagnose=_bubble,
    solution="(p - 1) / (m + p - 1) < 0.1 means 7 / (m + 7) < 0.1, so m + 7 > 70: m = 64 (idle share 7 / 71 = "
             "0.0986; m = 63 gives exactly 0.100).",
))


def _chinchilla_n(answer: Any) -> str | None:
    from lmnotes.generative.scaling import compute_optimal

    value = as_number(answer)
    if value is None:
        return f"give N_opt as one number of parameters, got {answer!r}"
    want = compute_optimal(3e21)["n_opt"]
    if abs(value / want - 1) < 0.05:
        return None
    if abs(value / (want / 1e6) - 1) < 0.05:
        return "that looks like millions: give the count of parameters itself (e.g. 1.5e9)"
    if abs(value / compute_optimal(1e21)["n_opt"] - 1) < 0.05:
        return "that is N_opt for 1e21 FLOPs (printed above); the budget here is three times larger"
    if abs(value - (3e21 / 6 / 20) ** 0.5) / value < 0.05:
        return "that is the 20-tokens-per-parameter rule of thumb; use scaling.compute_optimal (Eq. 2.39's constants)"
    return f"{value:.3g} is off by a factor {value / want:.3g}; N_opt grows as C^(beta/(alpha+beta))"


register(Exercise(
    name="chinchilla-n-opt",
    prompt="With the book's Chinchilla fit, what is N_opt for C = 3e21 FLOPs?",
    diagnose=_chinchilla_n,
    solution="scaling.compute_optimal(3e21)['n_opt']: G (C/6)^(0.28/0.62) with G = (0.34 A / (0.28 B))^(1/0.62), "
             "about 3.0e9 parameters (1.82e9 at 1e21 times 3^0.452 = 1.64).",
))

"""Exercises of the training-at-scale notebook (chapter 2, book section 2.2)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_number, register


def _bubble(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"give one number (a share between 0 and 1), got {answer!r}"
    if abs(value - 7 / 39) < 1e-3:
        return None
    if abs(value - 7 / 32) < 1e-3:
        return "that divides by m = 32; the schedule lasts m + p - 1 = 39 ticks"
    if abs(value - 8 / 40) < 1e-3:
        return "p - 1 stages wait at the start (7), not p"
    return f"{value:.3g} is not (p - 1) / (m + p - 1) for p = 8 stages and m = 32 micro-batches"


register(Exercise(
    name="pipeline-bubble",
    prompt="What share of stage-time is idle with p = 8 pipeline stages and m = 32 micro-batches?",
    diagnose=_bubble,
    solution="(p - 1) / (m + p - 1) = 7 / 39 = 0.179: the schedule lasts 39 ticks, and each stage idles 7 of them.",
))


def _chinchilla_n(answer: Any) -> str | None:
    from lmnotes.generative.scaling import compute_optimal

    value = as_number(answer)
    if value is None:
        return f"give N_opt as one number of parameters, got {answer!r}"
    want = compute_optimal(1e21)["n_opt"]
    if abs(value / want - 1) < 0.05:
        return None
    if abs(value / (want / 1e6) - 1) < 0.05:
        return "that looks like millions: give the count of parameters itself (e.g. 1.5e9)"
    if abs(value - (1e21 / 6 / 20) ** 0.5) / value < 0.05:
        return "that is the 20-tokens-per-parameter rule of thumb; use scaling.compute_optimal (Eq. 2.39's constants)"
    return f"{value:.3g} is off by a factor {value / want:.3g}; N_opt grows as C^(beta/(alpha+beta))"


register(Exercise(
    name="chinchilla-n-opt",
    prompt="With the book's Chinchilla fit, what is N_opt for C = 1e21 FLOPs?",
    diagnose=_chinchilla_n,
    solution="scaling.compute_optimal(1e21)['n_opt']: G (C/6)^(0.28/0.62) with G = (0.34 A / (0.28 B))^(1/0.62), "
             "about 1.82e9 parameters.",
))

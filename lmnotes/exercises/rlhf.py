"""Exercises of the RLHF notebook (chapter 4, book section 4.3)."""

from __future__ import annotations

import math
from typing import Any

from lmnotes.exercises import Exercise, as_number, register


def _diagnose_bt(answer: Any) -> str | None:
    want = 1 / (1 + math.exp(-1.5))
    x = as_number(answer)
    if x is None:
        return f"expected a probability (a number between 0 and 1), got {answer!r}"
    if abs(x - want) < 1e-3:
        return None
    if abs(x - (1 - want)) < 1e-3:
        return "that is the probability that the *rejected* response wins: sigmoid(r_b - r_a)"
    if abs(x - 2.0 / (2.0 + 0.5)) < 1e-3 or abs(x - 0.8) < 1e-3:
        return "Bradley-Terry compares exp(r), not r: P = exp(r_a) / (exp(r_a) + exp(r_b)) = sigmoid(r_a - r_b)"
    return f"{x:.3g} is not it: compute sigmoid(r_a - r_b) with r_a = 2.0 and r_b = 0.5"


register(Exercise(
    name="bradley-terry-probability",
    prompt=("A reward model gives r(x, y_a) = 2.0 and r(x, y_b) = 0.5. Under Bradley-Terry (Eq. 4.35), with "
            "what probability does an annotator prefer y_a?"),
    diagnose=_diagnose_bt,
    solution="P(y_a > y_b) = sigmoid(2.0 - 0.5) = 1 / (1 + exp(-1.5)) = 0.818. Adding a constant to both rewards changes nothing.",
))


def _diagnose_clip(answer: Any) -> str | None:
    x = as_number(answer)
    if x is None:
        return f"expected a number, got {answer!r}"
    if abs(x - 2.4) < 1e-6:
        return None
    if abs(x - 3.0) < 1e-6:
        return "3.0 is the unclipped term r A; the objective takes the smaller of r A and clip(r, 0.8, 1.2) A"
    if abs(x - 1.6) < 1e-6:
        return "1.6 clips at the lower end (0.8); r = 1.5 is above the range, so it is clipped to 1.2"
    return f"{x:.3g} is not it: compute min(r A, clip(r, 1 - eps, 1 + eps) A) with r = 1.5, A = 2, eps = 0.2"


register(Exercise(
    name="ppo-clipped-term",
    prompt=("A token's probability ratio is r = pi / pi_old = 1.5, its advantage A = 2 and eps = 0.2. What is "
            "its term of PPO's clipped objective, min(r A, clip(r, 1 - eps, 1 + eps) A)?"),
    diagnose=_diagnose_clip,
    solution=("clip(1.5, 0.8, 1.2) = 1.2, so the term is min(1.5 * 2, 1.2 * 2) = 2.4. It no longer grows with r: "
              "the gradient through this token is zero, so one rollout cannot push the policy far."),
))


def _diagnose_pl(answer: Any) -> str | None:
    want = math.e / (math.e + 2) * 0.5
    x = as_number(answer)
    if x is None:
        return f"expected a probability, got {answer!r}"
    if abs(x - want) < 1e-3:
        return None
    if abs(x - math.e / (math.e + 2)) < 1e-3:
        return "that is only the first choice; after removing a, b must still beat c (probability 1/2 here)"
    if abs(x - 1 / 6) < 1e-3:
        return "1/6 would hold if all rewards were equal; a's reward is higher"
    return f"{x:.3g} is not it: multiply exp(r_a) / (exp(r_a) + exp(r_b) + exp(r_c)) by exp(r_b) / (exp(r_b) + exp(r_c))"


register(Exercise(
    name="plackett-luce-ranking",
    prompt=("Three responses have rewards r_a = 1, r_b = 0, r_c = 0. Under Plackett-Luce (Eq. 4.58-4.61), what "
            "is the probability of the ranking a > b > c?"),
    diagnose=_diagnose_pl,
    solution=("First a is picked among all three: e / (e + 2) = 0.576; then b among b and c: 1 / 2. The ranking's "
              "probability is 0.576 * 0.5 = 0.288."),
))

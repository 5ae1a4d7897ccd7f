"""Exercises of the DPO-and-beyond notebook (chapter 4, book section 4.4)."""

from __future__ import annotations

import math
from typing import Any

from lmnotes.exercises import Exercise, as_number, register


def _diagnose_optimal_policy(answer: Any) -> str | None:
    value = as_number(answer)
    want = math.e / (1 + math.e)  # pi_ref = (1/2, 1/2), r = (1, 0), beta = 1
    if value is not None and (abs(value - math.e / 2) < 1e-3 or abs(value - math.e) < 1e-3):
        return "divide by Z: the tilted weights 0.5 e and 0.5 must add up to 1"
    if value is None or not 0 <= value <= 1:
        return f"expected a probability between 0 and 1, got {type(answer).__name__} {answer!r}"
    if abs(value - want) < 1e-3:
        return None
    if abs(value - 0.5) < 1e-3:
        return "0.5 is pi_ref itself: the reward tilts it by exp(r / beta) before normalising"
    if abs(value - math.exp(0.5) / (1 + math.exp(0.5))) < 1e-3:
        return "that is beta = 2; here beta = 1, so the tilt is exp(r / 1)"
    return f"{value:.3g} is not it: pi*(y) is proportional to pi_ref(y) exp(r(y) / beta)"


register(Exercise(
    name="dpo-optimal-policy",
    prompt=("A prompt has two responses, pi_ref = (0.5, 0.5) and rewards r = (1, 0). With beta = 1, what "
            "probability does the optimal policy pi* give the first response?"),
    diagnose=_diagnose_optimal_policy,
    solution=("pi* = pi_ref exp(r / beta) / Z: the weights are 0.5 e and 0.5, so pi*(y1) = e / (1 + e) = 0.731. "
              "A smaller beta tilts harder (beta = 0.5 gives 0.881); a larger one stays nearer pi_ref."),
))


def _diagnose_dpo_loss_at_start(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number (the loss in nats), got {type(answer).__name__} {answer!r}"
    if abs(value - math.log(2)) < 1e-3:
        return None
    if abs(value) < 1e-3:
        return "the margin is 0, but -log sigmoid(0) is not 0: sigmoid(0) = 1/2"
    if abs(value - 0.5) < 1e-3:
        return "0.5 is sigmoid(0), the probability; the loss is its negative log"
    return f"{value:.3g} is not it: at the start pi = pi_ref, so both log-ratios are 0 and the margin is 0"


register(Exercise(
    name="dpo-loss-at-start",
    prompt=("DPO starts with the policy equal to the reference. What is its loss on any pair at that moment "
            "(in nats), whatever beta is?"),
    diagnose=_diagnose_dpo_loss_at_start,
    solution=("Both log-ratios log pi / pi_ref are 0, so the margin is 0 and the loss is -log sigmoid(0) = log 2 "
              "= 0.693 for every pair and every beta. Training starts from there (the DPO curves above do)."),
))


def _diagnose_best_of_n_kl(answer: Any) -> str | None:
    value = as_number(answer)
    want = math.log(16) - 15 / 16
    if value is None:
        return f"expected a number (nats), got {type(answer).__name__} {answer!r}"
    if abs(value - want) < 2e-3:
        return None
    if abs(value - math.log(16)) < 2e-3:
        return "log N alone is the KL's ceiling; subtract (N - 1) / N"
    if abs(value - (math.log2(16) - 15 / 16)) < 2e-3:
        return "use the natural logarithm (nats), not log base 2"
    return f"{value:.3g} is not it: compute log N - (N - 1) / N for N = 16"


register(Exercise(
    name="best-of-n-kl",
    prompt="What is the KL divergence (nats) of best-of-16 from its policy, for a reward without ties?",
    diagnose=_diagnose_best_of_n_kl,
    solution=("log 16 - 15/16 = 2.773 - 0.938 = 1.835 nats. It grows only like log N: best-of-256 costs 4.55 nats. "
              "With ties (a policy that often repeats one response) the true KL is smaller (section 3)."),
))

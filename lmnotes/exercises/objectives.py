"""Exercises of the self-supervised objectives notebook (chapter 1, book §1.2)."""

from __future__ import annotations

import math
from typing import Any

from lmnotes.exercises import Exercise, as_number, register

# --------------------------------------------------------------------------------------------
# Perplexity from token probabilities

TOKEN_PROBS = (0.5, 0.25, 0.125, 0.5)


def _perplexity() -> float:
    return math.exp(-sum(math.log(p) for p in TOKEN_PROBS) / len(TOKEN_PROBS))


def _diagnose_perplexity(answer: Any) -> str | None:
    if as_number(answer) is None:
        return f"expected a finite number, got {type(answer).__name__} {answer!r}"
    answer = as_number(answer)
    want = _perplexity()
    if math.isclose(answer, want, rel_tol=1e-3):
        return None
    n = len(TOKEN_PROBS)
    nats = -sum(math.log(p) for p in TOKEN_PROBS) / n
    mistakes = [
        (nats, "that is the loss (mean negative log-probability in nats): perplexity is exp(loss)"),
        (nats / math.log(2), "that is the loss in bits per token: perplexity is 2 ** bits"),
        (n * nats, "that is -log Pr(sentence), summed over tokens: average over the tokens first"),
        (1 / math.prod(TOKEN_PROBS), "that is 1 / Pr(sentence): take the n-th root, one factor per token"),
        (sum(1 / p for p in TOKEN_PROBS) / n,
         "that averages 1/p arithmetically: perplexity is the geometric mean of 1/p"),
    ]
    for value, message in mistakes:
        if math.isclose(answer, value, rel_tol=1e-3):
            return message
    return (f"{answer:.4g} is not it: average -ln p over the {n} tokens (the loss), then exponentiate")


register(Exercise(
    name="perplexity",
    prompt=(f"A language model gives the {len(TOKEN_PROBS)} tokens of a sentence the probabilities "
            f"{', '.join(map(str, TOKEN_PROBS))}. What is its perplexity on the sentence?"),
    diagnose=_diagnose_perplexity,
    solution=("loss = -(ln 0.5 + ln 0.25 + ln 0.125 + ln 0.5) / 4 = 1.75 ln 2 = 1.213 nats per token "
              "(1.75 bits); perplexity = exp(1.213) = 2 ** 1.75 = 3.364: the model is as unsure as a "
              "uniform choice among about 3.4 tokens. In code: lmnotes.training.perplexity(loss)."),
))


# --------------------------------------------------------------------------------------------
# Permuted language modelling: the content-stream mask of a factorisation order

ORDER = (2, 0, 3, 1)


def _rows_seen(mask) -> list[list[int]]:
    return [[j for j, allowed in enumerate(row) if allowed] for row in mask]


def _diagnose_permutation_mask(answer: Any) -> str | None:
    import torch

    from lmnotes.pretraining.objectives import check_permutation_masks, permutation_masks

    T = len(ORDER)
    try:
        mask = torch.as_tensor(answer).bool()
    except (TypeError, ValueError, RuntimeError):
        return f"expected a {T}x{T} tensor or list of lists of True/False, got {type(answer).__name__}"
    if mask.shape != (T, T):
        return f"expected shape ({T}, {T}): one row per attending position, got {tuple(mask.shape)}"
    content, query = permutation_masks(list(ORDER))
    if torch.equal(mask, content):
        return None
    if torch.equal(mask, query):
        return ("that is the query stream (no token sees itself); the content stream also lets each "
                "position see its own token")
    if torch.equal(mask, content.T):
        return "rows and columns are swapped: row i must list the positions that position i may attend to"
    if torch.equal(mask, torch.ones(T, T, dtype=torch.bool).tril()):
        return (f"that is the causal mask of the natural order 0, 1, 2, 3; the order here is {list(ORDER)}: "
                f"position {ORDER[0]} comes first and sees only itself")
    problems = check_permutation_masks(list(ORDER), mask, query)
    return problems[0] if problems else "compare each row with the positions that come before it in the order"


register(Exercise(
    name="permutation-mask",
    prompt=(f"Permuted LM with factorisation order {list(ORDER)} over 4 positions: build the content-stream "
            "mask, a 4x4 bool matrix whose row i is True at the positions that position i may attend to."),
    diagnose=_diagnose_permutation_mask,
    solution=(f"Position {ORDER[0]} is predicted first, then {ORDER[1]}, {ORDER[2]}, {ORDER[3]}; each sees "
              "itself and everything earlier in the order:\n"
              "row 0: positions 0, 2\nrow 1: positions 0, 1, 2, 3\nrow 2: position 2\nrow 3: positions 0, 2, 3\n"
              f"In code: lmnotes.pretraining.objectives.permutation_masks({list(ORDER)})[0]."),
))


# --------------------------------------------------------------------------------------------
# T5 span corruption: the decoder target

SPAN_TEXT = "thank you for inviting me to your party last week"
SPAN_NOISE = ("for", "inviting", "last", "week")  # the two noise spans: "for inviting", "last week"


def _span_target() -> str:
    return "<s0> for inviting <s1> last week"


def _diagnose_span_target(answer: Any) -> str | None:
    if not isinstance(answer, str):
        return f"expected a string of words and sentinels such as '<s0> ...', got {type(answer).__name__}"
    words = answer.split()
    if words == _span_target().split():
        return None
    if words == "thank you <s0> me to your party <s1>".split():
        return "that is the encoder input (the text with each span replaced); the target lists the spans"
    sentinels = [w for w in words if w.startswith("<s")]
    if sentinels != ["<s0>", "<s1>"]:
        return f"the target needs one sentinel per dropped span, <s0> then <s1>; yours has {sentinels}"
    kept = [w for w in words if not w.startswith("<s") and w not in SPAN_NOISE]
    if kept:
        return f"the target holds only the dropped words; {kept} stayed in the input"
    return "each sentinel is followed by the words of its own span, in the order of the text"


register(Exercise(
    name="span-target",
    prompt=(f"T5 drops the spans 'for inviting' and 'last week' from '{SPAN_TEXT}'. The encoder reads "
            "'thank you <s0> me to your party <s1>'. Write the decoder's target."),
    diagnose=_diagnose_span_target,
    solution=("'<s0> for inviting <s1> last week': each sentinel, then the words it replaced "
              "(lmnotes.pretraining.objectives.span_corrupt builds it; span_restore puts the spans back)."),
))

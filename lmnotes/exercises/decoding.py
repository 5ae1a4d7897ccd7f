"""Exercises of the decoder-only notebook (chapter 2, book section 2.1): decoding and counting."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, register

#: the next-token probabilities of the nucleus exercise, most likely first
NUCLEUS_PROBS = {"the": 0.5, "a": 0.2, "my": 0.15, "thy": 0.1, "his": 0.05}


def _diagnose_distinct_2(answer: Any) -> str | None:
    want = 2 / 3  # "abab": bigrams ab, ba, ab -> 2 unique of 3
    if as_number(answer) is None:
        return f"expected a number between 0 and 1, got {type(answer).__name__} {answer!r}"
    answer = as_number(answer)
    if abs(answer - want) < 1e-3:
        return None
    if abs(answer - 0.5) < 1e-3:
        return "2 unique bigrams is right, but 'abab' has 3 bigrams (ab, ba, ab), not 4"
    if abs(answer - 1.0) < 1e-3:
        return "'ab' occurs twice: count every bigram, then the unique ones"
    return f"{answer:.3g} is not it: list the character bigrams of 'abab' and divide unique by all"


register(Exercise(
    name="distinct-2",
    prompt="What is distinct-2 of the character sequence 'abab' (unique bigrams / all bigrams)?",
    diagnose=_diagnose_distinct_2,
    solution="The bigrams are ab, ba, ab: 3 in all, 2 unique, so distinct-2 = 2/3 = 0.667.",
))


def _diagnose_nucleus(answer: Any) -> str | None:
    want = {"the", "a", "my"}  # 0.5 + 0.2 = 0.7 < 0.8; adding "my" reaches 0.85 >= 0.8
    if isinstance(answer, str) or not hasattr(answer, "__iter__"):
        return f"expected a set of tokens such as {{'the', 'a'}}, got {type(answer).__name__}"
    got = set(answer)
    if got == want:
        return None
    unknown = got - set(NUCLEUS_PROBS)
    if unknown:
        return f"{sorted(unknown)} are not candidates; choose from {list(NUCLEUS_PROBS)}"
    mass = sum(NUCLEUS_PROBS[t] for t in got)
    if mass < 0.8:
        return f"those tokens hold {mass:.2f} of the probability, less than p = 0.8: keep adding the next most likely"
    return (f"those tokens hold {mass:.2f}: top-p keeps the *smallest* set of most likely tokens reaching 0.8, "
            "so stop as soon as the sum reaches it")


register(Exercise(
    name="nucleus-set",
    prompt=(f"The next-token probabilities are {NUCLEUS_PROBS}. Which tokens does top-p sampling with "
            "p = 0.8 keep? Answer a set of tokens."),
    diagnose=_diagnose_nucleus,
    solution=("Sort by probability and add until the sum reaches 0.8: the (0.5), a (0.7), my (0.85). "
              "So {'the', 'a', 'my'}; thy and his are never sampled."),
))


def _diagnose_gpt2_small(answer: Any) -> str | None:
    C, L, V, T = 768, 12, 50257, 1024
    block = 12 * C * C + 13 * C  # attention 4C^2+4C, FFN 8C^2+5C, two LayerNorms 4C
    want = V * C + T * C + L * block + 2 * C
    if as_integer(answer) is None:
        return f"expected an int (a number of parameters), got {type(answer).__name__}"
    answer = as_integer(answer)
    if answer == want:
        return None
    if answer == want + V * C:
        return "GPT-2 ties its output matrix to the token embedding: count that matrix once"
    if answer == want - 2 * C:
        return "almost: a pre-norm model has a final LayerNorm (weight and bias) after the last block"
    if answer == want - T * C:
        return "GPT-2 learns its position embeddings: 1,024 positions x 768 numbers belong in the count"
    return f"{answer:,} is off by {answer - want:+,}; per block: 12 C^2 + 13 C, plus embeddings and a final norm"


register(Exercise(
    name="gpt2-small-params",
    prompt=("GPT-2 small: width C = 768, 12 blocks, vocabulary 50,257, 1,024 learned positions, tied "
            "output matrix, biases everywhere, a final LayerNorm. Count its parameters (an int)."),
    diagnose=_diagnose_gpt2_small,
    solution=("Per block: attention 4C^2 + 4C, FFN (C -> 4C -> C) 8C^2 + 5C, two LayerNorms 4C: "
              "12 C^2 + 13 C = 7,087,872. Twelve blocks 85,054,464; token embedding 38,597,376; positions "
              "786,432; final norm 1,536: 124,439,808."),
))

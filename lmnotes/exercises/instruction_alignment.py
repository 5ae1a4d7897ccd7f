"""Exercises of the instruction-alignment notebook (chapter 4, book sections 4.1-4.2)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, register


def _diagnose_counted_targets(answer: Any) -> str | None:
    # user 7 tokens, assistant 3, user 6, assistant 2 (segments as in alignment.sft.conversation)
    value = as_integer(answer)
    if value is None:
        return f"expected an int (a number of positions), got {type(answer).__name__} {answer!r}"
    if value == 5:
        return None
    if value == 18:
        return "18 counts every token: the full-sequence loss. SFT counts only the assistant turns' tokens"
    if value == 17:
        return "17 is every next-token target of the sequence; the user turns' targets are masked out"
    if value in (3, 2):
        return "that is one assistant turn; Eq. 4.5-4.7 sum over every assistant turn of the conversation"
    return f"{value} is not it: add up the tokens of the assistant turns (the user turns' tokens are not predicted)"


register(Exercise(
    name="counted-targets",
    prompt=("A two-turn conversation: a user turn of 7 tokens, an assistant answer of 3, a user turn of 6 and an "
            "answer of 2. How many target positions count in SFT's loss?"),
    diagnose=_diagnose_counted_targets,
    solution=("Only the assistant turns' tokens are predicted (Eq. 4.5-4.7): 3 + 2 = 5 positions. The user turns "
              "are read as context but not scored; the full-sequence loss would count 17 targets."),
))


def _diagnose_pgr(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number, got {type(answer).__name__} {answer!r}"
    if abs(value - 0.75) < 1e-3:
        return None
    if abs(value - 0.8 / 0.9) < 1e-3:
        return "that divides the two accuracies; PGR measures the gap above the weak model: subtract P_weak first"
    if abs(value - 0.3) < 1e-3:
        return "0.3 is the gain over the weak model; divide it by the whole gap, P_ceiling - P_weak"
    if abs(value - 0.25) < 1e-3:
        return "that is the share of the gap that is NOT recovered"
    return f"{value:.3g} is not it: PGR = (P_weak->strong - P_weak) / (P_ceiling - P_weak) (Eq. 4.11)"


register(Exercise(
    name="pgr",
    prompt=("A weak model scores 0.5, the strong model trained on its labels 0.8 and the strong model trained on "
            "true labels 0.9. What is the performance gap recovered?"),
    diagnose=_diagnose_pgr,
    solution="PGR = (0.8 - 0.5) / (0.9 - 0.5) = 0.3 / 0.4 = 0.75: three quarters of the gap is recovered.",
))


def _diagnose_polite_reward(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number, got {type(answer).__name__} {answer!r}"
    if abs(value - 2.3) < 1e-6:
        return None
    if abs(value - 2.5) < 1e-6:
        return "right answer and polite opener, but the two opener tokens are extra: -0.1 each"
    if abs(value - 2.0) < 1e-6:
        return "the polite opener earns +0.5; only then subtract the length penalty"
    if abs(value - 2.4) < 1e-6:
        return "the opener 'sure ,' is two tokens: 'sure' and ','"
    return f"{value:.3g} is not it: +2 for the right answer, +0.5 for 'sure ,', -0.1 per token beyond 'fig owl .'"


register(Exercise(
    name="polite-reward",
    prompt=("The hidden reward of the response 'sure , fig owl .' to 'user : reverse the words : owl fig . "
            "assistant :'?"),
    diagnose=_diagnose_polite_reward,
    solution=("+2 (the right answer 'fig owl .') + 0.5 (the polite opener) - 0.1 x 2 (the two tokens 'sure' and "
              "',' beyond the bare answer) = 2.3. Check: toyworld.hidden_reward(prompt, 'sure , fig owl .')."),
))

"""Exercises of the learning-to-prompt notebook (chapter 3, book section 3.3)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, register


def _diagnose_prompt_tuning_params(answer: Any) -> str | None:
    value = as_integer(answer)
    if value is None:
        return f"expected an int (a number of parameters), got {type(answer).__name__} {answer!r}"
    if value == 16 * 128:
        return None
    if value == 16 * 128 * 4:
        return "that counts one vector per layer: prompt tuning adds vectors at the input only (prefix tuning is per layer)"
    if value == 16:
        return "each virtual token is a whole embedding vector of n_embd = 128 numbers, not one number"
    return f"{value} is not it: count n_virtual vectors of n_embd numbers each"


register(Exercise(
    name="prompt-tuning-parameters",
    prompt="How many parameters does prompt tuning train with 16 virtual tokens on a model of width n_embd = 128?",
    diagnose=_diagnose_prompt_tuning_params,
    solution="One trainable vector of n_embd numbers per virtual token: 16 * 128 = 2048 parameters.",
))


def _diagnose_lora_params(answer: Any) -> str | None:
    value = as_integer(answer)
    if value is None:
        return f"expected an int (a number of parameters), got {type(answer).__name__} {answer!r}"
    if value == 8 * (128 + 256):
        return None
    if value == 128 * 256:
        return "that is the full matrix W; LoRA trains only A (r x in) and B (out x r)"
    if value in (8 * 128, 8 * 256):
        return "count both factors: A has r x in entries and B has out x r"
    return f"{value} is not it: A is r x in, B is out x r, with r = 8, in = 128, out = 256"


register(Exercise(
    name="lora-parameters",
    prompt="LoRA with rank r = 8 on one linear layer from 128 inputs to 256 outputs: how many parameters train?",
    diagnose=_diagnose_lora_params,
    solution="A is 8 x 128 = 1024 and B is 256 x 8 = 2048: 3072 trainable, against 32768 in W itself (9.4%).",
))

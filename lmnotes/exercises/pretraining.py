"""Exercises of the pre-training and adaptation notebook (chapter 1, book section 1.1)."""

from __future__ import annotations

import math
from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, as_sequence, register

#: the probe of exercise 1: the width of the frozen backbone's vector and the number of labels
PROBE_WIDTH, PROBE_LABELS = 256, 5
#: the log-probabilities of the three label words after one review's prompt, used by an exercise
LABEL_WORD_LOGPROBS = {"great": -2.1, "terrible": -0.9, "okay": -1.6}


def _diagnose_probe_parameters(answer: Any) -> str | None:
    width, labels = PROBE_WIDTH, PROBE_LABELS
    want = width * labels + labels
    if as_integer(answer) is None:
        return f"expected an int (a number of parameters), got {type(answer).__name__}"
    answer = as_integer(answer)
    if answer == want:
        return None
    if answer == width * labels:
        return "you counted the weight matrix; the linear head also has one bias per label"
    if answer == width + 1 or answer == width:
        return f"that is one label's share: the head has a row of weights (and a bias) for each of the {labels} labels"
    if answer > 10_000:
        return ("that counts the backbone too; in a probe the backbone is frozen, only the linear head "
                "on top of it is trained")
    return f"{answer} is not it: the head maps a {width}-number vector to {labels} scores (weights and biases)"


register(Exercise(
    name="probe-parameters",
    prompt=(f"A linear probe reads a {PROBE_WIDTH}-number vector from a frozen backbone and outputs scores "
            f"for {PROBE_LABELS} labels. How many parameters does the probe train?"),
    diagnose=_diagnose_probe_parameters,
    solution=(f"A linear layer from {PROBE_WIDTH} to {PROBE_LABELS} numbers: a {PROBE_LABELS} x {PROBE_WIDTH} weight "
              f"matrix and {PROBE_LABELS} biases, {PROBE_LABELS} * {PROBE_WIDTH} + {PROBE_LABELS} = "
              f"{PROBE_LABELS * PROBE_WIDTH + PROBE_LABELS} parameters. The backbone's parameters stay frozen "
              "(full fine-tuning would train them all as well)."),
))


def _diagnose_label_word_probability(answer: Any) -> str | None:
    scores = LABEL_WORD_LOGPROBS
    total = sum(math.exp(s) for s in scores.values())
    want = math.exp(scores["great"]) / total
    if as_number(answer) is None:
        return f"expected a number between 0 and 1, got {type(answer).__name__} {answer!r}"
    answer = as_number(answer)
    if abs(answer - want) < 5e-3:
        return None
    if abs(answer - math.exp(scores["great"])) < 5e-3:
        return ("that is P('great') over the whole vocabulary; renormalise over the three label words: "
                "divide by the sum of their three probabilities")
    if abs(answer - scores["great"]) < 1e-6:
        return "that is the log-probability itself; exponentiate first"
    if abs(answer - math.exp(scores["terrible"]) / total) < 5e-3:
        return "that is the probability of 'terrible', the predicted label; the question asks for 'great'"
    return f"{answer:.3g} is not it: exponentiate each log-probability, then divide 'great''s by their sum"


register(Exercise(
    name="label-word-probability",
    prompt=("After a review's prompt the model gives the label words these log-probabilities: "
            f"{LABEL_WORD_LOGPROBS}. Among the three label words only, what probability does 'great' get?"),
    diagnose=_diagnose_label_word_probability,
    solution=("p = {w: math.exp(s) for w, s in LABEL_WORD_LOGPROBS.items()}; p['great'] / sum(p.values()) "
              f"= {math.exp(-2.1) / sum(math.exp(s) for s in LABEL_WORD_LOGPROBS.values()):.3f}. The "
              "prediction is still the argmax, 'terrible' (negative)."),
))

ONE_SHOT = dict(demonstration=("the price is good .", "positive"), query="the size is bad .",
                template="{input} overall it is {output} .", separator=" <eos> ")


def _diagnose_one_shot_prompt(answer: Any) -> str | None:
    from lmnotes.data.toyworld import LABEL_WORDS
    from lmnotes.prompting import build_prompt

    demo, query, template = [ONE_SHOT["demonstration"]], ONE_SHOT["query"], ONE_SHOT["template"]
    want = build_prompt(demo, query, LABEL_WORDS, template, separator=ONE_SHOT["separator"])
    if not isinstance(answer, str):
        return f"expected a str (the prompt), got {type(answer).__name__}"
    if answer == want:
        return None
    if answer.strip() != answer or "  " in answer:
        return "mind the spaces: single spaces between words, none at the start or the end"
    if answer.endswith(("great .", "terrible .", "okay .", "great", "terrible", "okay")):
        return "the prompt must stop where the query's label word would go: the model writes that word"
    if "great" not in answer.split():
        return "the demonstration must show its answer: 'positive' is written as its label word 'great'"
    if not answer.startswith("the price is good"):
        return "the demonstration comes first, then the query"
    if answer == build_prompt(demo, query, LABEL_WORDS, template):
        return ("that is the joined-text format; the exercise asks for the layout of the pre-training text, where "
                "each review is its own document: end the demonstration's document with the end-of-document "
                "token <eos> (spaces around it) before the query")
    if "<eos>" not in answer.split():
        return "separate the demonstration from the query with the end-of-document token <eos>"
    return (f"close, but not the layout: {template!r} applied to each part, the two joined by "
            f"{ONE_SHOT['separator']!r}")


register(Exercise(
    name="one-shot-prompt",
    prompt=(f"Write the 1-shot prompt for demonstration {ONE_SHOT['demonstration']} and query "
            f"{ONE_SHOT['query']!r} with template {ONE_SHOT['template']!r} (label words great / terrible / okay), "
            "the demonstration as its own document: separator SEPARATE = ' <eos> '."),
    diagnose=_diagnose_one_shot_prompt,
    solution=("'the price is good . overall it is great . <eos> the size is bad . overall it is' -- the "
              "demonstration in full as its own document, the end-of-document token, then the query cut just "
              "before its label word; build_prompt(..., separator=SEPARATE) does this. Joined without <eos> "
              "the model reads one long review; in this notebook the two formats were not separated (a "
              "difference within two paired standard errors), so the layout is a convention, not a proven gain."),
))

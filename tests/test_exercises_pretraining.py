"""Exercises of the pre-training notebook: right answers pass, typical mistakes get a specific hint."""

import math

import torch

from lmnotes import exercises
from lmnotes.exercises.pretraining import LABEL_WORD_LOGPROBS


def test_probe_parameters_matches_a_real_linear_head(capsys):
    head = torch.nn.Linear(256, 5)
    assert exercises.check("probe-parameters", sum(p.numel() for p in head.parameters()))
    for wrong, hint in [(1280, "bias"), (257, "each of the 5 labels"), (800_000, "frozen"), ("1285", "int"),
                        (387, "not it")]:
        assert not exercises.check("probe-parameters", wrong)
        assert hint in capsys.readouterr().out


def test_label_word_probability_is_the_renormalised_softmax(capsys):
    scores = torch.tensor(list(LABEL_WORD_LOGPROBS.values()))
    want = scores.softmax(0)[list(LABEL_WORD_LOGPROBS).index("great")].item()
    assert exercises.check("label-word-probability", want)
    for wrong, hint in [(math.exp(-2.1), "renormalise"), (-2.1, "exponentiate first"),
                        (scores.softmax(0)[1].item(), "'terrible'"), (0.9, "not it"), (None, "number")]:
        assert not exercises.check("label-word-probability", wrong)
        assert hint in capsys.readouterr().out


def test_one_shot_prompt_is_the_separate_documents_format(capsys):
    from lmnotes import checkpoints, prompting
    from lmnotes.data import toyworld

    eos = checkpoints.load("toyworld-gpt").tokenizer.eos_token  # the separator notebook 02 uses
    right = f"the price is good . overall it is great . {eos} the size is bad . overall it is"
    assert right == prompting.build_prompt([("the price is good .", "positive")], "the size is bad .",
                                           toyworld.LABEL_WORDS, "{input} overall it is {output} .",
                                           separator=f" {eos} ")
    assert exercises.check("one-shot-prompt", right)
    joined = "the price is good . overall it is great . the size is bad . overall it is"
    for wrong, hint in [(joined, "joined-text format"), (right + " ", "spaces"), (right + " terrible", "must stop"),
                        (right.replace("great", "positive"), "'great'"),
                        (f"the size is bad . overall it is great . {eos} the price is good . overall it is", "first"),
                        (joined.replace("great .", "great . |"), "<eos>"), (3, "str")]:
        assert not exercises.check("one-shot-prompt", wrong)
        assert hint in capsys.readouterr().out


def test_solutions_print(capsys):
    for name in ("probe-parameters", "label-word-probability", "one-shot-prompt"):
        exercises.solution(name)
    out = capsys.readouterr().out
    assert "1285" in out and "overall it is great . <eos>" in out

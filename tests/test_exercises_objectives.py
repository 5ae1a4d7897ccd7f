import torch

from lmnotes import exercises
from lmnotes.pretraining.objectives import permutation_masks


def test_perplexity_accepts_the_geometric_mean_and_names_each_mistake(capsys):
    assert exercises.check("perplexity", 2 ** 1.75)
    for wrong, hint in ((1.2130, "exp(loss)"), (1.75, "2 ** bits"), (4.852, "average over the tokens"),
                        (128, "n-th root"), (4.0, "geometric mean"), (3.0, "then exponentiate"), ("3.36", "number")):
        assert not exercises.check("perplexity", wrong)
        assert hint in capsys.readouterr().out


def test_permutation_mask_accepts_tensors_and_lists_and_names_the_usual_mistakes(capsys):
    content, query = permutation_masks([2, 0, 3, 1])
    assert exercises.check("permutation-mask", content)
    assert exercises.check("permutation-mask", content.tolist())
    for wrong, hint in ((query, "query stream"), (content.T, "swapped"),
                        (torch.ones(4, 4, dtype=torch.bool).tril(), "natural order"),
                        (torch.ones(3, 3, dtype=torch.bool), "shape"), (None, "4x4")):
        assert not exercises.check("permutation-mask", wrong)
        assert hint in capsys.readouterr().out
    almost = content.clone()
    almost[3, 1] = True  # position 3 (step 2) must not see position 1 (step 3)
    assert not exercises.check("permutation-mask", almost)
    assert "row 3" in capsys.readouterr().out


def test_span_target_accepts_the_sentinel_layout_and_explains_errors(capsys):
    assert exercises.check("span-target", "<s0> for inviting <s1> last week")
    for wrong, hint in (("thank you <s0> me to your party <s1>", "encoder input"),
                        ("for inviting last week", "one sentinel per dropped span"),
                        ("<s0> for inviting me <s1> last week", "stayed in the input"),
                        ("<s0> last week <s1> for inviting", "its own span"), (3, "string")):
        assert not exercises.check("span-target", wrong)
        assert hint in capsys.readouterr().out


def test_solutions_print(capsys):
    for name in ("perplexity", "permutation-mask", "span-target"):
        exercises.solution(name)
    out = capsys.readouterr().out
    assert "3.364" in out and "row 3: positions 0, 2, 3" in out and "<s0> for inviting <s1> last week" in out

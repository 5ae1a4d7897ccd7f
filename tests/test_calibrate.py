"""tools/calibrate.py: the rules it derives from a re-run are exactly those that let the re-run pass in
tolerant mode, and it never writes a rule for a changed integer or a far-moved figure."""

from __future__ import annotations

import nbformat
import pytest

from tools import calibrate, nbval_modes as modes


def test_a_line_that_did_not_move_needs_no_rule():
    assert calibrate.line_rules("accuracy 0.812 after 300 steps", "accuracy 0.813 after 300 steps") == ({}, None)


def test_each_moved_figure_gets_the_narrowest_band_that_holds_it():
    rules, problem = calibrate.line_rules("dev 0.500  test   0.400  kl 0.300", "dev 0.501  test   0.450  kl 0.550")
    assert problem is None
    assert rules == {"wide": "dev # test (#)", "loose": "dev # test # kl (#)"}
    # and those rules are exactly what tolerant mode needs: without them the line fails, with them it passes
    stored, now = "dev 0.500  test   0.400  kl 0.300", "dev 0.501  test   0.450  kl 0.550"
    assert modes.line_difference(stored, now, {}) is not None
    assert modes.line_difference(stored, now, {k: [v] for k, v in rules.items()}) is None


def test_changed_words_get_a_model_text_rule_only_with_an_anchor():
    assert calibrate.line_rules("sample 3: the cat sat", "sample 3: a dog ran") == ({"model_text": "sample 3:"}, None)
    rules, problem = calibrate.line_rules("the verdict is shown", "the verdict is not shown")
    assert rules == {} and "no colon" in problem


def test_integers_and_far_moves_are_never_covered():
    assert calibrate.line_rules("313 of 332 documents", "312 of 332 documents")[1] is not None
    assert calibrate.line_rules("loss 0.100", "loss 0.900")[1] is not None
    assert calibrate.line_rules("gain 0.100", "gain -0.100")[1] is not None


def test_cell_rules_collect_every_field_and_report_line_count_changes():
    pytest.importorskip("nbval")  # cell outputs are flattened as nbval does; Colab's versions have no nbval
    out = nbformat.v4.new_output
    stored = [out("stream", name="stdout", text="acc 0.500\nsteps 300\n"),
              out("execute_result", data={"text/plain": "ppl 10.0"}, execution_count=1)]
    now = [out("stream", name="stdout", text="acc 0.560\nsteps 300\n"),
           out("execute_result", data={"text/plain": "ppl 10.1"}, execution_count=1)]
    rules, problems = calibrate.cell_rules(stored, now)
    assert rules == {"wide": ["acc (#)"]} and problems == []
    longer = [out("stream", name="stdout", text="acc 0.500\nsteps 300\nextra\n"), now[1]]
    assert "lines stored" in calibrate.cell_rules(stored, longer)[1][0]

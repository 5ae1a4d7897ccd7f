"""The two ways notebook outputs are compared (tools/nbval_modes.py): exact where the stored outputs
were made, within a tolerance elsewhere; and in both, a changed verdict or a number moved past the
tolerance fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import calibrate, nbval_modes as modes

ROOT = Path(__file__).resolve().parents[1]


# --- the comparison -----------------------------------------------------------------------------

def test_numbers_are_split_from_the_text_around_them():
    text, numbers = modes.skeleton("GPT-2 seed0: loss  -0.512 (x1, 1,209 of 2e-3)")
    assert text == "GPT-\x00 seed0: loss \x00 (x1, \x00,\x00 of \x00)"
    assert numbers == ["2", "-0.512", "1", "209", "2e-3"]


@pytest.mark.parametrize("stored, now", [
    ("loss 2.4722", "loss 2.4724"),  # last-digit kernel noise
    ("sd 0.0078", "sd 0.008"),  # the same value printed to other digits
    ("losses 2.67, 2.81", "losses 2.7, 2.81"),
    ("KL    -0.000   0.000", "KL     0.000  -0.000"),  # a table padded to its numbers' widths
    ("largest difference 1.2e-07", "largest difference 3.5e-07"),  # still tiny
])
def test_tolerant_mode_accepts_kernel_noise(stored, now):
    assert modes.tolerant_difference(stored, now) is None


@pytest.mark.parametrize("stored, now, why", [
    ("accuracy 0.618 (shown)", "accuracy 0.618 (not shown)", "text differs"),  # a verdict flips
    ("accuracy 0.618", "accuracy 0.574", "number out of tolerance"),
    ("loss 2.62", "loss 2.70", "number out of tolerance"),
    ("ratio 0.00213", "ratio 0.00313", "number out of tolerance"),  # small numbers are not swamped
    ("313 of 332 documents", "314 of 332 documents", "number out of tolerance"),  # integers are exact
    ("largest difference 1.2e-07", "largest difference 0.01", "number out of tolerance"),
    ("largest difference 1.2e-07", "largest difference 2.0e-05", "number out of tolerance"),  # magnitude
    ("TD error minus advantage 0.0e+00", "TD error minus advantage 1.0e-09", "number out of tolerance"),
    ("relation 1 name 0", "relation 0.5 name 0", "number out of tolerance"),  # %g prints 1.0 as 1
    ("relation 1 name 0", "relation 1 name 0.9", "number out of tolerance"),  # a stored zero stays zero
    ("mask rate 0.5", "mask rate 0.7", "number out of tolerance"),  # %g prints 0.500 as 0.5
    ("name 0.05", "name 0.07", "number out of tolerance"),
    ("largest probability 3.82e-03", "largest probability 3.0e-02", "number out of tolerance"),
    ("Pr(x) = 3.2e-05", "Pr(x) = 3.1e-04", "number out of tolerance"),  # tiny, but not 10x
    ("exact 0.629", "exact 1", "number out of tolerance"),  # %g printing the new figure cannot widen it
    ("accuracy 0.633", "accuracy 0.6", "number out of tolerance"),
    ("a b c", "a b c d", "text differs"),
    ("one\ntwo", "one two", "2 lines stored, 1 now"),  # lines are lines
])
def test_tolerant_mode_rejects_what_is_not_noise(stored, now, why):
    assert modes.tolerant_difference(stored, now).startswith(why)


def test_rules_read_like_the_line_and_widen_only_the_numbers_they_cover():
    rules = {"wide": ["classify seed # re-run here: accuracy (#)"]}
    stored = "classify  seed 0 re-run here: accuracy 0.947 (stored 0.947), majority 0.51"
    assert modes.tolerant_difference(stored, stored.replace("0.947 (", "0.904 ("), rules) is None
    # the uncovered figures of the same line stay tight, and so do other lines
    assert "stored 0.51, now 0.55" in modes.tolerant_difference(stored, stored.replace("0.51", "0.55"), rules)
    assert modes.tolerant_difference("pair accuracy 0.677", "pair accuracy 0.65", rules).startswith("number")
    # wide is wide, not anything: a different result, a flipped word or a moved count still fails
    assert "(wide)" in modes.tolerant_difference(stored, stored.replace("0.947 (", "0.60 ("), rules)
    assert modes.tolerant_difference(stored, stored.replace("seed 0", "seed 1"), rules).startswith("number")
    assert modes.tolerant_difference(stored, stored.replace("majority", "minority"), rules).startswith("text")


def test_table_rules_combine_and_loose_figures_keep_a_factor_of_two():
    rules = {"wide": ["# # (#)", "# # # (#)"], "loose": ["gold live end (#)"]}
    assert modes.tolerant_difference("   64   1.814   1.505   0.740   3.175",
                                     "   64   1.808   1.481   0.777   3.175", rules) is None
    assert modes.tolerant_difference("   64   1.814   1.505   0.740   3.175",
                                     "   64   1.808   1.481   0.777   3.300", rules).startswith("number")
    assert modes.tolerant_difference("gold live end 0.653, stored end 0.828", "gold live end 0.547, stored end 0.828",
                                     rules) is None
    assert modes.tolerant_difference("gold live end 0.653, stored end 0.828", "gold live end 0.547, stored end 0.95",
                                     rules).startswith("number")
    assert "(loose)" in modes.tolerant_difference("gold live end 0.653", "gold live end 0.2", rules)
    # wide is not a flat band that swallows small figures: a KL of 0.007 may not become 0.057
    assert "(wide)" in modes.tolerant_difference("    2   1.755   1.967   0.007   0.193",
                                                 "    2   1.749   1.966   0.057   0.193", rules)


def test_model_text_lines_are_compared_by_their_presence():
    rules = {"model_text": ["restored:"]}
    stored = "restored: nick has a dog .\nexact: False"
    assert modes.tolerant_difference(stored, "restored: the dog is pink .\nexact: False", rules) is None
    assert modes.tolerant_difference(stored, "restored: the dog is pink .\nexact: True", rules).startswith("text")
    assert modes.tolerant_difference(stored, "restored: x", rules) == "2 lines stored, 1 now"
    assert modes.tolerant_difference(stored, "exact: True\nexact: False", rules).startswith("text")


def test_a_cells_rules_are_checked():
    cell = nbformat.v4.new_code_cell("", metadata={modes.METADATA_KEY: {"lenient": ["x (#)"]}})
    with pytest.raises(ValueError, match="must be among wide, loose, model_text, got lenient"):
        modes.cell_rules(cell)
    cell.metadata[modes.METADATA_KEY] = {"wide": ["accuracy #"]}
    with pytest.raises(ValueError, match="covers no number"):
        modes.cell_rules(cell)


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_rule_in_the_notebooks_covers_a_stored_line_of_its_cell(path):
    # a rule that matches nothing is stale (its line was reworded): it would widen nothing, silently
    pytest.importorskip("nbval")  # the lines as nbval compares them; Colab's versions have no nbval
    for number, cell in enumerate(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"):
        compared = modes.flattened(calibrate.Comparison(), cell.get("outputs", []))  # as nbval sees them
        lines = [line for texts in compared.values() for text in texts if isinstance(text, str)
                 for line in text.split("\n")]
        for kind, rules in modes.cell_rules(cell).items():
            for rule in rules:
                assert any(modes.rule_pattern(rule).match(line) for line in lines), \
                    f"cell {number}: {kind} rule {rule!r} matches no stored line"


def test_a_forced_mode_must_be_one_the_plugin_knows(monkeypatch, tmp_path):
    monkeypatch.setenv(modes.MODE_VARIABLE, "lenient")
    with pytest.raises(ValueError, match="LMNOTES_NBVAL_MODE must be one of auto, exact, tolerant"):
        modes.notebook_mode(tmp_path / "any.ipynb")


def test_auto_mode_is_exact_only_where_this_machine_made_the_outputs(monkeypatch, tmp_path):
    from tools import notebooks

    monkeypatch.delenv(modes.MODE_VARIABLE, raising=False)
    nb = nbformat.v4.new_notebook()
    nb.metadata["lmnotes"] = {"outputs_made_with": notebooks.this_machine()}
    nbformat.write(nb, tmp_path / "here.ipynb")
    nb.metadata["lmnotes"] = {"outputs_made_with": {"torch": "2.13.0", "cpu": "NEON kernels on an Apple M3"}}
    nbformat.write(nb, tmp_path / "there.ipynb")
    assert modes.notebook_mode(tmp_path / "here.ipynb")[0] == "exact"
    mode, why = modes.notebook_mode(tmp_path / "there.ipynb")
    assert mode == "tolerant" and "NEON kernels on an Apple M3" in why


# --- the plugin under nbval, on notebooks whose stored outputs were tampered with -----------------

CELL = 'print("accuracy", round(0.6180, 3), "(shown)")'
TAMPERED = {
    "same": "accuracy 0.618 (shown)\n",
    "noise": "accuracy 0.619 (shown)\n",  # within the tolerance: passes in tolerant mode only
    "moved": "accuracy 0.700 (shown)\n",  # past it
    "verdict": "accuracy 0.618 (not shown)\n",
    "ruled": "accuracy 0.680 (shown)\n",  # past the tolerance, within the wide one its rule gives
}
RULES = {"ruled": {"wide": ["accuracy (#)"]}}


def _run_nbval(folder: Path, mode: str) -> dict[str, str]:
    pytest.importorskip("nbval", reason="nbval is a test tool of the course environment, not of Colab's")
    for name, stored in TAMPERED.items():
        cell = nbformat.v4.new_code_cell(CELL, execution_count=1,
                                         outputs=[nbformat.v4.new_output("stream", name="stdout", text=stored)])
        if name in RULES:
            cell.metadata[modes.METADATA_KEY] = RULES[name]
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), folder / f"{name}.ipynb")
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -p tools.nbval_modes -p no:cacheprovider\n")
    env = {**os.environ, modes.MODE_VARIABLE: mode, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-rA", "-q",
                           *sorted(p.name for p in folder.glob("*.ipynb"))],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    outcome = {}
    for line in done.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED") and ".ipynb" in rest:
            outcome[rest.split(".ipynb")[0]] = word
    assert len(outcome) == len(TAMPERED), done.stdout[-3000:]
    return outcome | {"summary": done.stdout}


def test_exact_mode_fails_any_change(tmp_path):
    run = _run_nbval(tmp_path, "exact")
    assert [run[name] for name in TAMPERED] == ["PASSED", "FAILED", "FAILED", "FAILED", "FAILED"]
    assert "5 notebook(s) in exact mode: LMNOTES_NBVAL_MODE=exact" in run["summary"]


def test_tolerant_mode_fails_a_moved_number_or_a_flipped_verdict(tmp_path):
    run = _run_nbval(tmp_path, "tolerant")
    assert [run[name] for name in TAMPERED] == ["PASSED", "PASSED", "FAILED", "FAILED", "PASSED"]
    assert "5 notebook(s) in tolerant mode: LMNOTES_NBVAL_MODE=tolerant" in run["summary"]
    assert "1 exact, 2 within tolerance" in run["summary"]
    assert "number out of tolerance: stored 0.700, now 0.618" in run["summary"]
    assert "text differs" in run["summary"]

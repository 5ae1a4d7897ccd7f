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

from tools import nbval_modes as modes

ROOT = Path(__file__).resolve().parents[1]


# --- the comparison -----------------------------------------------------------------------------

def test_numbers_are_split_from_the_text_around_them():
    text, numbers = modes.skeleton("GPT-2 seed0: loss  -0.512 (x1, 1,209 of 2e-3)\n")
    assert text == "GPT-# seed0: loss # (x1, #,# of #)"
    assert numbers == ["2", "-0.512", "1", "209", "2e-3"]


@pytest.mark.parametrize("stored, now", [
    ("loss 2.4722", "loss 2.4724"),  # last-digit kernel noise
    ("sd 0.0078", "sd 0.008"),  # the same value printed to other digits
    ("losses 2.67, 2.81", "losses 2.7, 2.81"),
    ("KL    -0.000   0.000", "KL     0.000  -0.000"),  # a table padded to its numbers' widths
])
def test_tolerant_mode_accepts_kernel_noise(stored, now):
    assert modes.tolerant_difference(stored, now, modes.TOLERANCE) is None


@pytest.mark.parametrize("stored, now, why", [
    ("accuracy 0.618 (shown)", "accuracy 0.618 (not shown)", "text differs"),  # a verdict flips
    ("accuracy 0.618", "accuracy 0.574", "number out of tolerance"),
    ("loss 2.62", "loss 2.70", "number out of tolerance"),
    ("313 of 332 documents", "314 of 332 documents", "number out of tolerance"),  # integers are exact
    ("a b c", "a b c d", "text differs"),
])
def test_tolerant_mode_rejects_what_is_not_noise(stored, now, why):
    assert modes.tolerant_difference(stored, now, modes.TOLERANCE).startswith(why)


def test_the_wide_tolerance_takes_a_chaotic_run_but_not_a_different_result():
    assert modes.tolerant_difference("accuracy 0.904 (30 of 80)", "accuracy 0.947 (33 of 80)", modes.WIDE) is None
    assert modes.tolerant_difference("accuracy 0.904", "accuracy 0.60", modes.WIDE).startswith("number")
    assert modes.tolerant_difference("gold 0.55: shown", "gold 0.65: not shown", modes.WIDE).startswith("text")


def test_model_text_is_compared_by_its_shape():
    assert modes.shape_difference("a dog .\nthe cat .\n", "a cat .\npink .\n") is None
    assert modes.shape_difference("a dog .\nthe cat .\n", "a cat .\n") == "2 lines stored, 1 now"


def test_a_forced_mode_must_be_one_the_plugin_knows(monkeypatch, tmp_path):
    monkeypatch.setenv(modes.MODE_VARIABLE, "lenient")
    with pytest.raises(ValueError, match="LMNOTES_NBVAL_MODE must be one of auto, exact, tolerant"):
        modes.notebook_mode(tmp_path / "any.ipynb")


# --- the plugin under nbval, on notebooks whose stored outputs were tampered with -----------------

CELL = 'print("accuracy", round(0.6180, 3), "(shown)")'
TAMPERED = {
    "same": "accuracy 0.618 (shown)\n",
    "noise": "accuracy 0.619 (shown)\n",  # within the tolerance: passes in tolerant mode only
    "moved": "accuracy 0.700 (shown)\n",  # past it
    "verdict": "accuracy 0.618 (not shown)\n",
}


def _run_nbval(folder: Path, mode: str) -> dict[str, str]:
    for name, stored in TAMPERED.items():
        cell = nbformat.v4.new_code_cell(CELL, execution_count=1,
                                         outputs=[nbformat.v4.new_output("stream", name="stdout", text=stored)])
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
    assert (run["same"], run["noise"], run["moved"], run["verdict"]) == ("PASSED", "FAILED", "FAILED", "FAILED")
    assert "4 notebook(s) in exact mode: LMNOTES_NBVAL_MODE=exact" in run["summary"]


def test_tolerant_mode_fails_a_moved_number_or_a_flipped_verdict(tmp_path):
    run = _run_nbval(tmp_path, "tolerant")
    assert (run["same"], run["noise"], run["moved"], run["verdict"]) == ("PASSED", "PASSED", "FAILED", "FAILED")
    assert "4 notebook(s) in tolerant mode: LMNOTES_NBVAL_MODE=tolerant" in run["summary"]
    assert "1 exact, 1 within tolerance" in run["summary"]
    assert "number out of tolerance: stored 0.700, now 0.618" in run["summary"]
    assert "text differs" in run["summary"]

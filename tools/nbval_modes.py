"""nbval in two modes: exact where the stored outputs were made, within a tolerance elsewhere.

A pytest plugin (``conftest.py`` loads it) on top of nbval's own comparison. A notebook's stored
outputs record the torch version and CPU kernels that made them (``tools/notebooks.py``). Training
digits are exact only under those kernels, so:

- **exact mode**, where this machine made them (CI, and any machine of that kind): nbval compares
  every output exactly, after the sanitizer (``tests/nbval_sanitize.cfg``), as it always has.
- **tolerant mode**, anywhere else (another CPU family, a Mac, another torch): an output that is not
  exactly equal is compared again, token by token. Everything that is not a decimal number must be
  equal (text, words such as a verdict, integers such as counts, token ids and shapes; runs of
  spaces count as one, because a table pads to its numbers' widths). Each decimal number must lie
  within :data:`TOLERANCE` of the stored one. A cell whose training is chaotic at our scale (one
  short run whose single-seed figures move by several points with the kernels) carries the tag
  ``nbval-tolerance-wide`` and gets :data:`WIDE` instead, integers included. A cell that prints text
  a model trained in the notebook generated carries ``nbval-model-text``: in tolerant mode only the
  shape of its output (the same output fields, the same number of lines) is compared, because other
  weights write other words.

``LMNOTES_NBVAL_MODE=exact`` or ``tolerant`` forces a mode (``auto``, the default, chooses per
notebook). The run's summary says which mode each notebook ran in and why, and how many cells passed
exactly, within the tolerance, or by shape only.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MODE_VARIABLE = "LMNOTES_NBVAL_MODE"
MODES = ("auto", "exact", "tolerant")
WIDE_TAG = "nbval-tolerance-wide"
MODEL_TEXT_TAG = "nbval-model-text"
#: A number, not part of a word ("x1", "GPT-2"'s 2 is a number, "seed0"'s 0 is not); a leading sign
#: belongs to it, so that "-0.000" and "0.000" compare as numbers.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")
SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Tolerance:
    """How far a decimal number may move: ``abs_`` plus ``rel`` of the stored value, plus half a unit
    of the coarser printed digit (0.0078 stored, 0.008 printed now: rounding, not a change)."""

    abs_: float
    rel: float
    integers_exact: bool = True

    def allows(self, stored: str, now: str) -> bool:
        a, b = float(stored), float(now)
        if _is_integer(stored) and _is_integer(now) and self.integers_exact:
            return a == b
        slack = self.abs_ + self.rel * abs(a) + max(_half_unit(stored), _half_unit(now))
        return abs(a - b) <= slack or (math.isnan(a) and math.isnan(b))


#: Every cell in tolerant mode: last-digit kernel noise in losses, accuracies and timings' neighbours.
TOLERANCE = Tolerance(abs_=0.01, rel=0.02)
#: Cells tagged nbval-tolerance-wide: one short training run whose figures move by points.
WIDE = Tolerance(abs_=0.08, rel=0.1, integers_exact=False)


def _is_integer(token: str) -> bool:
    return not any(c in token for c in ".eE")


def _half_unit(token: str) -> float:
    """Half of one unit in the last printed digit of a decimal token (0 for an integer)."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2]) if "." in mantissa else 0
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0)) if not _is_integer(token) else 0.0


def skeleton(text: str) -> tuple[str, list[str]]:
    """``text`` with every number replaced by ``#`` and runs of white space made one space, and the
    numbers in order."""
    numbers = NUMBER.findall(text)
    return SPACES.sub(" ", NUMBER.sub("#", text)).strip(), numbers


def tolerant_difference(stored: str, now: str, tolerance: Tolerance) -> str | None:
    """Why ``now`` differs from ``stored`` beyond ``tolerance`` (None when it is within it)."""
    stored_text, stored_numbers = skeleton(stored)
    now_text, now_numbers = skeleton(now)
    if stored_text != now_text:
        for stored_line, now_line in zip(stored_text.split("#"), now_text.split("#")):
            if stored_line != now_line:
                return f"text differs: stored {stored_line.strip()!r}, now {now_line.strip()!r}"
        return "text differs (one output is longer)"
    for stored_number, now_number in zip(stored_numbers, now_numbers):
        if not tolerance.allows(stored_number, now_number):
            return f"number out of tolerance: stored {stored_number}, now {now_number}"
    return None


def shape_difference(stored: str, now: str) -> str | None:
    """For model text: the same number of lines (None when so)."""
    stored_lines, now_lines = stored.rstrip("\n").count("\n"), now.rstrip("\n").count("\n")
    return None if stored_lines == now_lines else f"{stored_lines + 1} lines stored, {now_lines + 1} now"


def flattened(item, outputs) -> dict[str, list]:
    """nbval's view of a cell's outputs: each compared field (stream name, MIME type) to its values in
    order, sanitized, with the fields nbval skips left out (the same flattening as its comparison)."""
    from nbval.plugin import coalesce_streams, transform_streams_for_comparison

    skip = item.parent.skip_compare
    fields: dict[str, list] = {}
    for output in transform_streams_for_comparison(coalesce_streams(list(outputs))):
        for key, value in output.items():
            if key in skip:
                continue
            values = value.items() if key == "data" else [(key, value)]
            for field, text in values:
                if field not in skip:
                    fields.setdefault(field, []).append(item.sanitize(text))
    return fields


def notebook_mode(path: Path) -> tuple[str, str]:
    """The mode for the notebook at ``path`` and why."""
    import nbformat

    from tools import notebooks

    forced = os.environ.get(MODE_VARIABLE, "auto")
    if forced not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, got {forced!r}")
    if forced != "auto":
        return forced, f"{MODE_VARIABLE}={forced}"
    made, here = notebooks.made_with(nbformat.read(path, as_version=4)), notebooks.this_machine()
    if made == here:
        return "exact", f"stored outputs made with this machine's kernels ({notebooks.described(here)})"
    return "tolerant", (f"stored outputs made with {notebooks.described(made) if made else 'unrecorded kernels'}, "
                        f"this machine has {notebooks.described(here)}")


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("nbval") or not config.getoption("nbval", False):
        return
    from nbval.plugin import IPyNbCell

    if getattr(IPyNbCell, "_lmnotes_modes", False):
        return
    exact_compare = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        if exact_compare(self, test, ref, skip_compare):
            self.user_properties.append(("nbval_comparison", "exact"))
            return True
        mode, _ = _mode_of(self)
        if mode != "tolerant":
            return False
        tags = set(self.cell.metadata.get("tags", []))
        stored, now = flattened(self, ref), flattened(self, test)
        if set(stored) != set(now) or any(len(stored[f]) != len(now[f]) for f in stored):
            return False  # nbval's own traceback (from the exact comparison) says which field
        how = "model text: shape" if MODEL_TEXT_TAG in tags else "within tolerance"
        for field in stored:
            for stored_text, now_text in zip(stored[field], now[field]):
                if not isinstance(stored_text, str) or not isinstance(now_text, str):
                    problem = None if stored_text == now_text else "a non-text value differs"
                elif MODEL_TEXT_TAG in tags:
                    problem = shape_difference(stored_text, now_text)
                else:
                    problem = tolerant_difference(stored_text, now_text, WIDE if WIDE_TAG in tags else TOLERANCE)
                if problem:
                    self.comparison_traceback.append(f"tolerant mode ({field}): {problem}")
                    return False
        self.user_properties.append(("nbval_comparison", how))
        return True

    IPyNbCell.compare_outputs = compare_outputs
    IPyNbCell._lmnotes_modes = True


_MODES: dict[Path, tuple[str, str]] = {}


def _mode_of(item) -> tuple[str, str]:
    path = Path(str(item.fspath))
    if path not in _MODES:
        _MODES[path] = notebook_mode(path)
    return _MODES[path]


def pytest_runtest_setup(item):
    """The first cell of each notebook run here records the notebook's mode (workers report it)."""
    if str(item.fspath).endswith(".ipynb") and Path(str(item.fspath)) not in _MODES:
        mode, why = _mode_of(item)
        item.user_properties.append(("nbval_mode", f"{mode} mode: {why}"))


def pytest_terminal_summary(terminalreporter):
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
               if str(getattr(r, "fspath", "")).endswith(".ipynb")]
    if not reports:
        return
    modes, comparisons = {}, Counter()
    for report in reports:
        for name, value in report.user_properties:
            if name == "nbval_mode":
                modes[Path(report.fspath).stem] = value
            elif name == "nbval_comparison":
                comparisons[value] += 1
    terminalreporter.write_sep("=", "notebook outputs: how they were compared")
    by_mode: dict[str, list[str]] = {}
    for stem, value in sorted(modes.items()):
        by_mode.setdefault(value, []).append(stem)
    for value, stems in by_mode.items():
        terminalreporter.write_line(f"{len(stems)} notebook(s) in {value}")
    terminalreporter.write_line(
        "cells with outputs that passed: " + ", ".join(f"{count} {how}" for how, count in
                                                    sorted(comparisons.items())) if comparisons else
        "no cell output compared")

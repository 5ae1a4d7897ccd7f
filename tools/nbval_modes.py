"""nbval in two modes: exact where the stored outputs were made, within a tolerance elsewhere.

A pytest plugin (``conftest.py`` loads it) on top of nbval's own comparison. A notebook's stored
outputs record the torch version and CPU kernels that made them (``tools/notebooks.py``). Training
digits are exact only under those kernels, so:

- **exact mode**, where this machine made them (CI, and any machine of that kind): nbval compares
  every output exactly, after the sanitizer (``tests/nbval_sanitize.cfg``), as it always has.
- **tolerant mode**, anywhere else (another CPU family, another torch): an output that is not exactly
  equal is compared again, line by line and token by token. The lines must match one to one, and in
  each line everything that is not a decimal number must be equal (text, words such as a verdict,
  integers such as counts, token ids and shapes; runs of spaces and tabs count as one, because a
  table pads to its numbers' widths). Each decimal number must lie within :data:`TOLERANCE` of the
  stored one (2% plus 2 units of its last printed digit); a stored zero must stay zero, and a
  figure below 1e-4 (an identity check's "1.2e-07") must keep its sign and stay within a factor of 3.

Some figures move by more than that under other kernels: those of one short training run, whose
path the kernels change. A cell lists them in its metadata, under ``nbval_tolerant`` (see
:data:`RULES`), as rules that read like the line they cover: the start of the stored line, with
``#`` for a number, ``(#)`` for each number the rule covers, and one space for any run of blanks
(``"student after distillation test accuracy (#)"``). A rule covers the lines it starts:

- ``"wide"``: the numbers in ``(#)`` are compared within :data:`WIDE`;
- ``"loose"``: the numbers in ``(#)`` must keep their sign and lie within a factor of 2 (a live
  RL run, whose figures moved by a third); the rest of the line is compared as usual;
- ``"model_text"``: the line prints text a model trained in the notebook wrote, so only its start
  (the rule) is compared: the new line must start the same way (other weights write other words).

Every other figure of the cell, and every line no rule matches, is compared as above. The rules were
found by running the whole suite under ``ATEN_CPU_CAPABILITY=default`` (torch's portable kernels) on
CI's machine: each covers exactly the figures that moved past :data:`TOLERANCE` there.
``LMNOTES_NBVAL_MODE=exact`` or ``tolerant`` forces a mode (``auto``, the default, chooses per
notebook). The run's summary says which mode each notebook ran in and why, and how many cells passed
exactly and how many within the tolerance.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MODE_VARIABLE = "LMNOTES_NBVAL_MODE"
MODES = ("auto", "exact", "tolerant")
#: the cell-metadata key of a cell's rules, and the kinds of rule
METADATA_KEY = "nbval_tolerant"
RULES = ("wide", "loose", "model_text")
#: A number, not part of a word ("GPT-2"'s 2 is a number, "seed0"'s 0 and "x1"'s 1 are not); a
#: leading sign belongs to it, so that "-0.000" and "0.000" compare as numbers.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")
BLANKS = re.compile(r"[ \t]+")
PLACEHOLDER = "\x00"


@dataclass(frozen=True)
class Tolerance:
    """How far a decimal number may move: ``rel`` of the stored value, plus ``units`` units of its
    last printed digit (never coarser than its third significant digit, since ``%g`` prints 0.5 for
    0.500), plus half a unit of the new one's (0.0078 stored and 0.008 now is rounding; never more
    than one unit of the stored one's, so 0.629 cannot become 1), plus ``abs_``. Integers never
    move, and neither does a stored zero. Below 1e-4 (an identity check's "1.2e-07", a tiny
    probability) the sign must hold and the value stay within a factor of 3."""

    rel: float
    units: float
    abs_: float = 0.0

    def allows(self, stored: str, now: str) -> bool:
        a, b = float(stored), float(now)
        if _is_integer(stored) and _is_integer(now):
            return a == b  # a count, an id, a shape
        if a == 0 or b == 0:
            return a == b
        if abs(a) < 1e-4:
            return (a > 0) == (b > 0) and 1 / 3 <= abs(b / a) <= 3
        slack = self.abs_ + self.rel * abs(a) + self.units * _unit(stored, a) \
            + min(_printed_unit(now) / 2, _printed_unit(stored))
        return abs(a - b) <= slack


#: Every figure in tolerant mode: last-digit kernel noise in losses, accuracies, rates.
TOLERANCE = Tolerance(rel=0.02, units=2)
#: Figures a cell's "wide" rules cover: one short training run whose figures move by points.
WIDE = Tolerance(rel=0.2, units=2, abs_=0.02)
#: Figures a cell's "loose" rules cover (a live RL run's): within a factor of 2, with their sign.
LOOSE_FACTOR = 2.0


def _is_integer(token: str) -> bool:
    return not any(c in token for c in ".eE")


def _printed_unit(token: str) -> float:
    """One unit of the last printed digit of a number token."""
    mantissa, _, exponent = token.lower().partition("e")
    return 10.0 ** (-len(mantissa.partition(".")[2]) + (int(exponent) if exponent else 0))


def _unit(token: str, value: float) -> float:
    """One unit of the last printed digit of a number token, at most its third significant digit."""
    return min(_printed_unit(token), 10.0 ** (math.floor(math.log10(abs(value))) - 2))


def _loosely(stored: str, now: str) -> bool:
    a, b = float(stored), float(now)
    if _is_integer(stored) and _is_integer(now):
        return a == b
    if a == 0 or b == 0:
        return a == b
    return (a > 0) == (b > 0) and 1 / LOOSE_FACTOR <= b / a <= LOOSE_FACTOR


def skeleton(text: str) -> tuple[str, list[str]]:
    """One line of ``text`` with every number replaced by a placeholder and runs of blanks made one,
    and the numbers in order."""
    return BLANKS.sub(" ", NUMBER.sub(PLACEHOLDER, text)).strip(), NUMBER.findall(text)


def rule_pattern(rule: str) -> re.Pattern:
    """The regular expression of a rule (see the module's docstring): ``#`` a number, ``(#)`` a
    covered number, a space any run of blanks, everything else itself, matched at the line's start."""
    parts = re.split(r"(\(#\)|#| )", rule.strip())
    number = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
    table = {"(#)": f"({number})", "#": number, " ": r"[ \t]+"}
    return re.compile(r"[ \t]*" + "".join(table.get(part, re.escape(part)) for part in parts))


def _covered(rules: list[str], line: str) -> list[tuple[int, int]]:
    """The spans of the numbers that the rules starting ``line`` cover (every matching rule counts)."""
    spans = []
    for rule in rules:
        match = rule_pattern(rule).match(line)
        if match:
            spans += [match.span(i) for i in range(1, match.re.groups + 1)]
    return spans


def line_difference(stored: str, now: str, rules: dict[str, list[str]]) -> str | None:
    """Why the line ``now`` differs from the stored line beyond the tolerance its cell's ``rules``
    give it (None when it does not)."""
    differs = f"text differs: stored {stored.strip()!r}, now {now.strip()!r}"
    for rule in rules.get("model_text", []):
        if rule_pattern(rule).match(stored):
            return None if rule_pattern(rule).match(now) else differs
    stored_text, stored_numbers = skeleton(stored)
    now_text, now_numbers = skeleton(now)
    if stored_text != now_text or len(stored_numbers) != len(now_numbers):
        return differs
    starts = [m.start() for m in NUMBER.finditer(stored)]
    wide, loose = _covered(rules.get("wide", []), stored), _covered(rules.get("loose", []), stored)
    for start, stored_number, now_number in zip(starts, stored_numbers, now_numbers):
        if any(a <= start < b for a, b in loose):
            if not _loosely(stored_number, now_number):
                return (f"number out of tolerance: stored {stored_number}, now {now_number}"
                        f" (loose) in {stored.strip()!r}")
            continue
        tolerance = WIDE if any(a <= start < b for a, b in wide) else TOLERANCE
        if not tolerance.allows(stored_number, now_number):
            return (f"number out of tolerance: stored {stored_number}, now {now_number}"
                    f"{' (wide)' if tolerance is WIDE else ''} in {stored.strip()!r}")
    return None


def tolerant_difference(stored: str, now: str, rules: dict[str, list[str]] | None = None) -> str | None:
    """Why ``now`` differs from ``stored`` beyond the tolerance (None when it is within it)."""
    stored_lines, now_lines = stored.rstrip("\n").split("\n"), now.rstrip("\n").split("\n")
    if len(stored_lines) != len(now_lines):
        return f"{len(stored_lines)} lines stored, {len(now_lines)} now"
    for stored_line, now_line in zip(stored_lines, now_lines):
        problem = line_difference(stored_line, now_line, rules or {})
        if problem:
            return problem
    return None


def cell_rules(cell) -> dict[str, list[str]]:
    """A cell's tolerant-mode rules (see :data:`RULES`), checked: an unknown kind, or a wide or
    loose rule that covers no number, is refused."""
    rules = cell.metadata.get(METADATA_KEY, {})
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ValueError(f"{METADATA_KEY} rules must be among {', '.join(RULES)}, got {', '.join(sorted(unknown))}")
    for kind, patterns in rules.items():
        for pattern in patterns:
            if kind != "model_text" and "(#)" not in pattern:
                raise ValueError(f"{METADATA_KEY} {kind} rule {pattern!r} covers no number: mark them with (#)")
    return rules


def flattened(item, outputs) -> dict[str, list]:
    """nbval's view of a cell's outputs: each compared field (stream name, MIME type) to its values in
    order, sanitized, with the fields nbval skips left out (the same flattening as its comparison)."""
    from nbval.plugin import coalesce_streams, transform_streams_for_comparison

    skip = item.parent.skip_compare
    fields: dict[str, list] = {}
    for output in transform_streams_for_comparison(coalesce_streams(copy.deepcopy(list(outputs)))):
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
        rules = cell_rules(self.cell)
        stored, now = flattened(self, ref), flattened(self, test)
        if set(stored) != set(now) or any(len(stored[f]) != len(now[f]) for f in stored):
            return False  # nbval's own traceback (from the exact comparison) says which field
        for field in stored:
            for stored_text, now_text in zip(stored[field], now[field]):
                if not isinstance(stored_text, str) or not isinstance(now_text, str):
                    problem = None if stored_text == now_text else "a non-text value differs"
                else:
                    problem = tolerant_difference(stored_text, now_text, rules)
                if problem:
                    self.comparison_traceback.append(f"tolerant mode ({field}): {problem}")
                    return False
        self.user_properties.append(("nbval_comparison", "within tolerance"))
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
    """Each notebook's mode and why, how the passing cells matched, and a word on the failures."""
    reports = [r for key in ("passed", "failed", "skipped") for r in terminalreporter.stats.get(key, [])
               if str(getattr(r, "fspath", "")).endswith(".ipynb")]
    if not reports:
        return
    modes, comparisons = {}, Counter()
    for report in reports:
        for name, value in report.user_properties:
            if name == "nbval_mode":
                modes[Path(report.fspath).stem] = value
            elif name == "nbval_comparison" and report.passed:
                comparisons[value] += 1
    terminalreporter.write_sep("=", "notebook outputs: how they were compared")
    by_mode: dict[str, list[str]] = {}
    for stem, value in sorted(modes.items()):
        by_mode.setdefault(value, []).append(stem)
    for value, stems in by_mode.items():
        terminalreporter.write_line(f"{len(stems)} notebook(s) in {value}")
    terminalreporter.write_line("compared cells that passed: " + (", ".join(
        f"{count} {how}" for how, count in sorted(comparisons.items())) or "none"))
    failed = sorted({Path(r.fspath) for r in terminalreporter.stats.get("failed", [])
                     if str(getattr(r, "fspath", "")).endswith(".ipynb")})
    if not failed:
        return
    from tools.notebooks import machine_note

    exact = [path for path in failed if notebook_mode(path)[0] == "exact"]
    note = machine_note(exact) if exact else None
    if note:  # exact mode forced on a machine of other kernels: the difference may be theirs
        terminalreporter.write_line(note)
    if len(exact) < len(failed):
        terminalreporter.write_line(
            "In tolerant mode a failure is an output that moved past the tolerance or whose text changed: "
            "a regression, or a figure of a training run that these kernels move further than the ones "
            "the rules were measured on (then give it a rule: tools/nbval_modes.py).")

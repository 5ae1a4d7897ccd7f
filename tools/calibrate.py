"""Find the figures that move under other CPU kernels, and write them as tolerant-mode rules.

    python tools/calibrate.py [NB ...]           re-run under portable kernels, print each cell's rules
    python tools/calibrate.py --apply [NB ...]   ... and write them into the notebooks' cell metadata

(``./course calibrate`` runs it in the environment the tests use.) Each notebook is re-run, in a copy,
under ``ATEN_CPU_CAPABILITY=default`` (torch's portable kernels: other reduction orders, as on another
CPU family) and compared with its stored outputs line by line, as tolerant mode compares them
(``tools/nbval_modes.py``). Every figure that moves past the tight tolerance gets a rule: ``wide``
when it stays within the wide band, ``loose`` when only within a factor of 2; a line whose words
change (a model's sampled text) gets a ``model_text`` rule, the line's start up to its first colon.
A number that moves past even the loose band, or a line whose words change with no colon to anchor
a rule, is reported, never given a rule: a verdict must not flip between kernels. Run it after
``./course execute`` on CI's machine kind, then check with
``ATEN_CPU_CAPABILITY=default ./course test notebooks/NN_x.ipynb``.
"""

from __future__ import annotations

import argparse
import configparser
import copy
import os
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import nbval_modes as modes  # noqa: E402

SANITIZER = ROOT / "tests" / "nbval_sanitize.cfg"
#: the output fields nbval does not compare (its own list, plus the images conftest.py leaves out)
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")
IGNORED_TAGS = ("nbval-ignore-output", "nbval-skip")


class Comparison:
    """What :func:`tools.nbval_modes.flattened` needs of an nbval item: the skipped fields and the sanitizer."""

    class parent:  # noqa: N801 - mirrors nbval's item.parent
        skip_compare = SKIP_COMPARE

    def __init__(self, sanitizer: Path = SANITIZER):
        config = configparser.ConfigParser()
        config.read(sanitizer)
        self.patterns = [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]

    def sanitize(self, text):
        if not isinstance(text, str):
            return text
        for regex, replace in self.patterns:
            text = regex.sub(replace, text)
        return text


def line_rules(stored: str, now: str) -> tuple[dict[str, str], str | None]:
    """The rules (kind -> rule) that let the line ``now`` stand for the stored line, and a problem that
    no rule may cover (None when there is none)."""
    if modes.line_difference(stored, now, {}) is None:
        return {}, None
    stored_text, stored_numbers = modes.skeleton(stored)
    now_text, now_numbers = modes.skeleton(now)
    if stored_text != now_text or len(stored_numbers) != len(now_numbers):
        head, colon, _ = stored.strip().partition(":")
        if not colon:
            return {}, f"words change and there is no colon to anchor a model_text rule: {stored.strip()!r}"
        return {"model_text": head + ":"}, None
    kinds = []
    for stored_number, now_number in zip(stored_numbers, now_numbers):
        if modes.TOLERANCE.allows(stored_number, now_number):
            kinds.append(None)
        elif modes.WIDE.allows(stored_number, now_number):
            kinds.append("wide")
        elif modes._loosely(stored_number, now_number):
            kinds.append("loose")
        else:
            return {}, f"{stored_number} became {now_number}, past even the loose band: {stored.strip()!r}"
    rules = {}
    for kind in ("wide", "loose"):
        if kind not in kinds:
            continue
        last = max(i for i, k in enumerate(kinds) if k == kind)
        parts, position = [], 0
        for i, match in enumerate(modes.NUMBER.finditer(stored)):
            if i > last:
                break
            parts.append(modes.BLANKS.sub(" ", stored[position:match.start()]))
            parts.append("(#)" if kinds[i] == kind else "#")
            position = match.end()
        rules[kind] = "".join(parts).strip()
    return rules, None


def cell_rules(stored_outputs, new_outputs, comparison: Comparison | None = None) -> tuple[dict, list[str]]:
    """Rules for a cell whose stored outputs are ``stored_outputs`` and whose re-run gave
    ``new_outputs``, and the problems no rule may cover."""
    comparison = comparison or Comparison()
    stored, new = modes.flattened(comparison, stored_outputs), modes.flattened(comparison, new_outputs)
    rules: dict[str, list[str]] = {}
    problems = []
    if sorted(stored) != sorted(new):
        problems.append(f"output fields differ: stored {sorted(stored)}, now {sorted(new)}")
    for field in stored:
        for a, b in zip(stored[field], new.get(field, [])):
            if not isinstance(a, str) or not isinstance(b, str):
                continue
            a_lines, b_lines = a.rstrip("\n").split("\n"), b.rstrip("\n").split("\n")
            if len(a_lines) != len(b_lines):
                problems.append(f"{len(a_lines)} lines stored, {len(b_lines)} now in {field}")
                continue
            for a_line, b_line in zip(a_lines, b_lines):
                found, problem = line_rules(a_line, b_line)
                if problem:
                    problems.append(problem)
                for kind, rule in found.items():
                    if rule not in rules.setdefault(kind, []):
                        rules[kind].append(rule)
    return {k: v for k, v in rules.items() if v}, problems


def _ignored(cell) -> bool:
    tags = cell.metadata.get("tags", [])
    return any(t in tags for t in IGNORED_TAGS) or "# NBVAL_IGNORE_OUTPUT" in cell.source.splitlines()[:1]


def calibrate(path: Path, apply: bool = False) -> list[str]:
    """Re-run the notebook at ``path`` under portable kernels and derive its rules; with ``apply`` write
    them into its cells (replacing the old ones). Returns the problems no rule may cover."""
    from tools import notebooks

    stored = nbformat.read(path, as_version=4)
    rerun = copy.deepcopy(stored)
    os.environ["ATEN_CPU_CAPABILITY"] = "default"  # the kernel the client starts inherits it
    notebooks.notebook_client(rerun, store_widget_state=False).execute()
    problems = []
    comparison = Comparison()
    for index, (cell, new) in enumerate(zip(stored.cells, rerun.cells)):
        if cell.cell_type != "code" or _ignored(cell):
            continue
        rules, found = cell_rules(cell.outputs, new.outputs, comparison)
        problems += [f"{path.name} cell {index}: {p}" for p in found]
        if rules != cell.metadata.get(modes.METADATA_KEY, {}):
            print(f"{path.name} cell {index}: {rules or 'no rules'}")
        if rules:
            cell.metadata[modes.METADATA_KEY] = rules
        else:
            cell.metadata.pop(modes.METADATA_KEY, None)
    if apply:
        nbformat.write(stored, path)
    return problems


def main(argv: list[str] | None = None) -> int:
    from tools import notebooks

    parser = argparse.ArgumentParser(prog="tools/calibrate.py", description=__doc__.splitlines()[0])
    parser.add_argument("--apply", action="store_true", help="write the rules into the notebooks")
    parser.add_argument("notebooks", nargs="*", metavar="NB", help="notebook paths, names or numbers (default: all)")
    args = parser.parse_args(argv)
    try:
        paths = notebooks.notebook_paths(args.notebooks)
    except ValueError as error:
        parser.error(str(error))
    problems = []
    for path in paths:
        problems += calibrate(path, apply=args.apply)
    for problem in problems:
        print(f"NOT COVERED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

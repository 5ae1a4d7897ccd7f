"""The course's claims ledger: what each notebook measured against what, with the verdict computed.

A notebook that measures one of the book's claims records it here instead of writing its verdict by
hand. A claim holds the book's section, the claim in one line, the measured figure with its
uncertainty (a standard error over seeds or items, or the reason there is none), what it is compared
with (a baseline, a ceiling or a target, itself with an uncertainty where it was measured) and a rule.
The verdict follows from the numbers:

| rule | reads | shown | otherwise |
| --- | --- | --- | --- |
| ``"higher"`` / ``"lower"`` | the figure beats the reference | by more than ``margin`` and 2 standard errors of the difference | ``"not separated"`` within 2 standard errors, ``"opposite"`` beyond them the wrong way, else ``"not shown"`` |
| ``"at least"`` / ``"at most"`` | the figure reaches a target or ceiling | on the right side of it | ``"not separated"`` within 2 standard errors of it, else ``"not shown"`` |
| ``"within"`` | the figure equals a reference (an exact check, a formula) | ``abs(figure - reference) <= margin`` | ``"not shown"`` |

A claim with no comparison is refused, and so is one with neither a standard error nor a reason for
its absence. :class:`Ledger` collects a notebook's claims: ``ledger.record(...)`` prints one line per
claim where it is measured, ``ledger.table()`` is the notebook's closing table; the table also
carries the claims as data (``MIME_TYPE``), from which ``./course claims`` and the website list the
course's claims and their totals.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from lmnotes import checks

RULES = ("higher", "lower", "at least", "at most", "within")
VERDICTS = ("shown", "not shown", "not separated", "opposite")
#: how many standard errors of the difference separate two figures
Z = 2.0
#: the closing table carries the claims as JSON under this MIME type (not compared by nbval)
MIME_TYPE = "application/vnd.lmnotes.claims+json"
_SECTION = re.compile(r"^\d+(\.\d+)*$")


@dataclass(frozen=True)
class Claim:
    """One claim of the book as a notebook measured it; ``verdict`` is computed, never given."""

    section: str
    claim: str
    rule: str
    value: float
    reference: float
    compared_with: str
    se: float | None = None
    reference_se: float | None = None
    no_se: str | None = None
    margin: float = 0.0
    unit: str = ""
    headline: bool = False

    def __post_init__(self):
        if not isinstance(self.section, str) or not _SECTION.match(self.section):
            raise ValueError(f"section must be the book's section number such as '2.3.2', got {self.section!r}")
        checks.text("claim", self.claim)
        checks.choice("rule", self.rule, RULES)
        if self.reference is None:
            raise ValueError(f"reference must be the figure the claim is compared with (a baseline, a ceiling "
                             f"or a target); a claim with no comparison cannot fail: {self.claim!r}")
        object.__setattr__(self, "value", checks.real("value", self.value))
        object.__setattr__(self, "reference", checks.real("reference", self.reference))
        checks.text("compared_with", self.compared_with)
        for name in ("se", "reference_se"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, checks.real(name, getattr(self, name), low=0.0))
        if self.rule != "within" and self.se is None and self.reference_se is None and not self.no_se:
            raise ValueError(f"give se (the figure's standard error over seeds or items) or no_se (why there is "
                             f"none, e.g. 'exact computation' or 'one timed run'): {self.claim!r}")
        if self.no_se is not None:
            checks.text("no_se", self.no_se)
        object.__setattr__(self, "margin", checks.real("margin", self.margin, low=0.0))
        checks.text("unit", self.unit, allow_empty=True)
        checks.boolean("headline", self.headline)

    @property
    def difference_se(self) -> float:
        """The standard error of ``value - reference`` (0 when neither has one)."""
        return math.sqrt((self.se or 0.0) ** 2 + (self.reference_se or 0.0) ** 2)

    @property
    def verdict(self) -> str:
        d = self.value - self.reference
        if self.rule == "within":
            return "shown" if abs(d) <= self.margin else "not shown"
        if self.rule in ("lower", "at most"):
            d = -d
        noise = Z * self.difference_se
        if noise > 0 and abs(d) <= noise:
            return "not separated"
        if self.rule in ("at least", "at most"):
            return "shown" if d >= 0 else "not shown"
        if d > self.margin:
            return "shown"
        return "opposite" if d < 0 else "not shown"

    def figure(self) -> str:
        """The measured figure as printed: ``0.812 ± 0.011`` (3 significant digits) with its unit."""
        return _number(self.value, self.se, self.unit)

    def comparison(self) -> str:
        """What the figure is compared with, and how: ``> 0.75 ± 0.02 (bag of words)``."""
        sign = {"higher": ">", "lower": "<", "at least": ">=", "at most": "<=", "within": "="}[self.rule]
        tolerance = f" within {self.margin:.3g}" if self.rule == "within" and self.margin else ""
        return f"{sign} {_number(self.reference, self.reference_se, self.unit)}{tolerance} ({self.compared_with})"

    def line(self) -> str:
        """One readable line: verdict, section, claim, figure, comparison."""
        why = f"; no SE: {self.no_se}" if self.no_se and self.se is None else ""
        star = " [headline]" if self.headline else ""
        return f"[{self.verdict}] §{self.section} {self.claim}{star}: {self.figure()} {self.comparison()}{why}"

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def _number(value: float, se: float | None, unit: str) -> str:
    text = f"{value:.3g}" + (f" ± {se:.2g}" if se is not None else "")
    return f"{text} {unit}" if unit else text


class Ledger:
    """A notebook's claims, in the order it measured them."""

    def __init__(self, notebook: str):
        self.notebook = checks.text("notebook", notebook)
        self.claims: list[Claim] = []

    def record(self, section: str, claim: str, value, reference, *, rule: str, compared_with: str,
               se=None, reference_se=None, no_se: str | None = None, margin: float = 0.0, unit: str = "",
               headline: bool = False, quiet: bool = False) -> Claim:
        """Record one claim (see :class:`Claim` for the arguments), print its line (unless ``quiet``)
        and return it. Recording a claim of the same section and text again replaces it, so a cell
        re-run in a notebook leaves one entry."""
        entry = Claim(section, claim, rule, value, reference, compared_with, se, reference_se, no_se, margin,
                      unit, headline)
        self.claims = [c for c in self.claims if (c.section, c.claim) != (section, claim)] + [entry]
        if not checks.boolean("quiet", quiet):
            print(entry.line())
        return entry

    def totals(self) -> dict[str, int]:
        return totals(self.claims)

    def table(self) -> "ClaimsTable":
        """The closing table: every recorded claim with its figure, comparison and verdict."""
        if not self.claims:
            raise ValueError(f"notebook {self.notebook}'s ledger holds no claims: record them with ledger.record(...)")
        return ClaimsTable(self.notebook, list(self.claims))


def totals(claims) -> dict[str, int]:
    """How many claims have each verdict, in the order of :data:`VERDICTS`."""
    counts = {v: 0 for v in VERDICTS}
    for c in claims:
        counts[c.verdict if isinstance(c, Claim) else c["verdict"]] += 1
    return counts


def markdown_table(rows: list[dict], with_notebook: bool = False) -> str:
    """Claims (as :meth:`Claim.to_dict` rows) as a markdown table."""
    head = ["notebook"] * with_notebook + ["§", "claim", "measured", "compared with", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        c = Claim(**{k: v for k, v in r.items() if k not in ("verdict", "notebook")})
        cells = [r["notebook"]] if with_notebook else []
        cells += [c.section, c.claim + (" (headline)" if c.headline else ""),
                  c.figure(), c.comparison(), f"**{c.verdict}**"]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


class ClaimsTable:
    """What ``Ledger.table()`` displays: a markdown table, a plain-text version, and the claims as data."""

    def __init__(self, notebook: str, claims: list[Claim]):
        self.notebook, self.claims = notebook, claims

    def _repr_mimebundle_(self, include=None, exclude=None):
        rows = [c.to_dict() for c in self.claims]
        counts = totals(self.claims)
        summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n)
        text = "\n".join(c.line() for c in self.claims) + f"\n{len(rows)} claims: {summary}"
        markdown = markdown_table(rows) + f"\n\n{len(rows)} claims: {summary}."
        return {"text/plain": text, "text/markdown": markdown,
                MIME_TYPE: {"notebook": self.notebook, "claims": rows}}


# --------------------------------------------------------------------------------------------------
# The course's claims, read back from the notebooks' stored closing tables


def collect(folder) -> dict[str, list[dict]]:
    """``{notebook file: [claim rows]}`` for every notebook in ``folder`` (e.g. the repository's
    ``notebooks/``), read from the closing table each stored when it was executed; a notebook
    without a ledger maps to ``[]``."""
    import json
    from pathlib import Path

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder must be a folder of notebooks, got {str(folder)!r}")
    found = {}
    for path in sorted(folder.glob("*.ipynb")):
        rows = []
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {}).get(MIME_TYPE)
                if data is not None:
                    rows = [dict(row, notebook=path.stem[:2]) for row in data["claims"]]
        found[path.name] = rows
    return found


def report(found: dict[str, list[dict]]) -> str:
    """The course's claims, notebook by notebook, then the totals and the notebooks with no ledger yet."""
    rows = [row for notebook_rows in found.values() for row in notebook_rows]
    counts = totals(rows)
    lines = [c.line() for c in (Claim(**{k: v for k, v in r.items() if k not in ("verdict", "notebook")})
                                for r in rows)]
    lines = [f"{row['notebook']} {line}" for row, line in zip(rows, lines)]
    missing = [name for name, notebook_rows in found.items() if not notebook_rows]
    lines.append(f"{len(rows)} claims: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
                 + f" ({sum(r['headline'] for r in rows)} of the book's headline claims)")
    if missing:
        lines.append(f"notebooks without a claims ledger yet: {', '.join(missing)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lmnotes.claims",
                                     description="List the course's measured claims and their verdicts.")
    parser.add_argument("folder", nargs="?", default="notebooks", help="the folder of executed notebooks")
    args = parser.parse_args(argv)
    print(report(collect(args.folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

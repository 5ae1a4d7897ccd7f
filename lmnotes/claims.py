"""The course's claims ledger: what each notebook measured against what, with the verdict computed.

A notebook that measures one of the book's claims records it here instead of writing its verdict by
hand. A claim holds the book's section, the claim in one line, the measured figure with its
uncertainty, what it is compared with (a baseline, a ceiling or a target, itself with an uncertainty
where it was measured) and a rule. The uncertainty is one of:

- ``se``: the standard error of the figure over ``over`` (e.g. ``"5 seeds"``, ``"500 items"``);
  ``difference_se`` gives the standard error of the *difference* directly when the two were
  measured on the same seeds or items (paired), which is smaller than the independent formula;
- ``exact=True``: an exact computation (an identity, a count, a formula), with no noise;
- ``no_se="why"``: a single noisy measurement (one timed run, one seed) with the reason stated; a
  ``higher`` / ``lower`` claim then needs a ``margin`` the difference must clear, since noise cannot
  be told apart otherwise.

With ``s`` = 2 standard errors of the difference (0 when exact or unknown) and ``d`` the difference
in the claimed direction, the verdict is as below. When ``over`` starts with a count of seeds
(``"3 seeds"``, ``"5 seeds, paired"``), the standard error was estimated from that few values, so
``s`` uses Student's t instead of 2: the 97.5% quantile with seeds - 1 degrees of freedom (4.30 for
3 seeds, 2.78 for 5, 2.26 for 10), never less than 2; a figure over seeds compared with one over
items (``"3 seeds; probe: 300 reviews"``) takes Welch-Satterthwaite's degrees of freedom. A figure
pooled over seeds and items (``"3 seeds x 300 items"``) keeps 2 (see :func:`multiplier`).

| rule | shown | not shown | opposite | not separated |
| --- | --- | --- | --- | --- |
| ``"higher"`` / ``"lower"`` | ``d - s > margin`` | ``d + s <= margin`` | ``d + s < 0`` | otherwise |
| ``"at least"`` / ``"at most"`` (a target or ceiling) | ``d - s >= 0`` | ``d + s < 0`` | | otherwise |
| ``"within"`` (equal to a reference, exact checks only) | ``abs(d) <= margin`` | otherwise | | |

A claim with no comparison is refused, and so is one with neither a standard error, nor
``exact=True``, nor a reason for their absence. :class:`Ledger` collects a notebook's claims:
``ledger.record(...)`` prints one line per claim where it is measured and ``ledger.table()`` is the
notebook's closing table. A figure that changes from run to run whatever the seed (a timing) is
recorded with ``varies=True`` and printed between ``⟨ ⟩``, which the tests' output sanitizer masks:
its verdict is still compared exactly. The closing table carries the claims as data in the output's
metadata (``MIME_TYPE``), which ``./course claims`` reads back to list the course's claims.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from lmnotes import checks

RULES = ("higher", "lower", "at least", "at most", "within")
VERDICTS = ("shown", "not shown", "not separated", "opposite")
#: how many standard errors of the difference separate two figures (the least; see :func:`multiplier`)
Z = 2.0
#: Student's t, 97.5% quantile, for 1-30 degrees of freedom (tests/test_claims.py checks it against scipy)
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788,
         2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
         2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
_SEEDS = re.compile(r"(\d+) seeds\b(?!\s*(?:x\b|×|and\b))")
#: the closing table's output carries the claims under this key of its metadata (nbval compares
#: output data, never metadata, so the full-precision figures there cannot fail a test)
MIME_TYPE = "application/vnd.lmnotes.claims+json"
SCHEMA = 1
_SECTION = re.compile(r"\d+(\.\d+)*")
_SIGNS = {"higher": ">", "lower": "<", "at least": ">=", "at most": "<=", "within": "="}


def t975(df: int) -> float:
    """Student's t 97.5% quantile with ``df`` degrees of freedom (a table to 30, then the Cornish-Fisher
    expansion, within 1e-7 of the exact value there)."""
    df = checks.integer("df", df, low=1)
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    terms = ((z ** 3 + z) / 4, (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96,
             (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384,
             (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160)
    return z + sum(term / df ** (i + 1) for i, term in enumerate(terms))


def _degrees(part: str) -> float:
    """Degrees of freedom of a standard error taken over ``part`` of ``over``: seeds - 1 for a count of
    seeds alone, else infinite (items, or seeds pooled with items)."""
    match = _SEEDS.search(part)
    if match is None:
        return math.inf
    seeds = int(match.group(1))
    if seeds < 2:
        raise ValueError(f"over must count at least 2 seeds for a standard error over seeds, got {part.strip()!r}")
    return seeds - 1


def multiplier(over: str | None, se: float | None = None, reference_se: float | None = None) -> float:
    """How many standard errors separate two figures whose SEs are taken ``over`` this: Student's t at the
    97.5% quantile, never less than :data:`Z`. ``over`` counts seeds (``"3 seeds"``, ``"5 seeds,
    paired"``: seeds - 1 degrees of freedom) or items (``"300 reviews"``, ``"3 seeds x 300 items"``:
    many); a second part after ``;`` (``"3 seeds; baseline: 300 reviews"``) is the reference's. With
    both ``se`` and ``reference_se`` the degrees of freedom of the difference are Welch-Satterthwaite's."""
    parts = (over or "").split(";")
    df_value = _degrees(parts[0])
    df_reference = _degrees(parts[1]) if len(parts) > 1 else df_value
    if se is not None and reference_se is not None:
        spread = se ** 2 / df_value + reference_se ** 2 / df_reference
        df = math.inf if spread == 0 else (se ** 2 + reference_se ** 2) ** 2 / (
            se ** 4 / df_value + reference_se ** 4 / df_reference)
    else:
        df = df_value if se is not None or reference_se is None else df_reference
    return Z if math.isinf(df) else max(Z, t975(max(1, math.floor(df))))


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
    difference_se: float | None = None
    over: str | None = None
    exact: bool = False
    no_se: str | None = None
    margin: float = 0.0
    unit: str = ""
    varies: bool = False
    headline: bool = False

    def __post_init__(self):
        if not isinstance(self.section, str):
            raise TypeError(f"section must be the book's section number as a string such as '2.3.2', "
                            f"got {type(self.section).__name__} {self.section!r}")
        if not _SECTION.fullmatch(self.section):
            raise ValueError(f"section must be the book's section number such as '2.3.2', got {self.section!r}")
        for name in ("claim", "compared_with"):
            text = checks.text(name, getattr(self, name))
            if not text.strip() or "\n" in text:
                raise ValueError(f"{name} must be one non-blank line, got {text!r}")
        checks.choice("rule", self.rule, RULES)
        if self.reference is None:
            raise ValueError(f"reference must be the figure the claim is compared with (a baseline, a ceiling "
                             f"or a target); a claim with no comparison cannot fail: {self.claim!r}")
        object.__setattr__(self, "value", checks.real("value", self.value))
        object.__setattr__(self, "reference", checks.real("reference", self.reference))
        for name in ("se", "reference_se", "difference_se"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, checks.real(name, getattr(self, name), low=0.0, low_open=True))
        for name in ("exact", "varies", "headline"):
            checks.boolean(name, getattr(self, name))
        for name in ("over", "no_se"):
            if getattr(self, name) is not None:
                checks.text(name, getattr(self, name))
        object.__setattr__(self, "margin", checks.real("margin", self.margin, low=0.0))
        checks.text("unit", self.unit, allow_empty=True)
        measured = self.se is not None or self.difference_se is not None
        if sum((measured, self.exact, self.no_se is not None)) != 1:
            raise ValueError(f"give exactly one of se (the figure's standard error, or difference_se), exact=True "
                             f"(an exact computation) or no_se (why there is no standard error): {self.claim!r}")
        if self.se is not None and self.over is None:
            raise ValueError(f"over must say what se is taken over, e.g. '5 seeds' or '500 items': {self.claim!r}")
        if self.rule == "within" and (measured or self.reference_se is not None):
            raise ValueError(f"rule 'within' is for exact checks (exact=True or no_se), not a figure with se: "
                             f"{self.claim!r}")
        if self.rule in ("at least", "at most") and self.margin:
            raise ValueError(f"margin means nothing with rule {self.rule!r} (move the target instead): {self.claim!r}")
        if self.rule in ("higher", "lower") and self.no_se is not None and self.reference_se is None and not self.margin:
            raise ValueError(f"a single noisy measurement (no_se) needs a margin the difference must clear, "
                             f"or the verdict is noise: {self.claim!r}")

    @property
    def difference_noise(self) -> float:
        """Two standard errors of ``value - reference`` (0 for exact figures); t(seeds - 1) standard
        errors when they were taken over a few seeds (see :func:`multiplier`)."""
        if self.difference_se is not None:
            return multiplier(self.over) * self.difference_se
        return multiplier(self.over, self.se, self.reference_se) * math.sqrt((self.se or 0.0) ** 2 + (self.reference_se or 0.0) ** 2)

    @property
    def verdict(self) -> str:
        d = self.value - self.reference
        if self.rule == "within":
            return "shown" if abs(d) <= self.margin else "not shown"
        if self.rule in ("lower", "at most"):
            d = -d
        s = self.difference_noise
        if self.rule in ("at least", "at most"):
            return "shown" if d - s >= 0 else "not shown" if d + s < 0 else "not separated"
        if d - s > self.margin:
            return "shown"
        if d + s < 0:
            return "opposite"
        return "not shown" if d + s <= self.margin else "not separated"

    def _texts(self) -> tuple[str, str]:
        """The value and the reference, rounded alike, with enough digits to tell them apart."""
        for digits in range(3, 8):
            a, b = f"{self.value:.{digits}g}", f"{self.reference:.{digits}g}"
            if a != b or self.value == self.reference:
                return a, b
        return a, b

    def figure(self) -> str:
        """The measured figure as printed, e.g. ``0.812 ± 0.011 (5 seeds)``; ``⟨ ⟩`` around one that varies."""
        text = self._texts()[0] + (f" {self.unit}" if self.unit else "")
        if self.se is not None:
            text += f" ± {self.se:.2g} ({self.over})"
        return f"⟨{text}⟩" if self.varies else text

    def comparison(self) -> str:
        """What the figure is compared with, and how, e.g. ``> 0.75 ± 0.02 + 0.05 (bag of words)``."""
        text = self._texts()[1] + (f" {self.unit}" if self.unit else "")
        if self.reference_se is not None:
            text += f" ± {self.reference_se:.2g}"
        if self.margin and self.rule != "within":
            text += f" {'+' if self.rule == 'higher' else '-'} {self.margin:.3g}"
        tolerance = f" within {self.margin:.3g}" if self.rule == "within" and self.margin else ""
        paired = f", paired SE of the difference {self.difference_se:.2g}" if self.difference_se is not None else ""
        return f"{_SIGNS[self.rule]} {text}{tolerance} ({self.compared_with}{paired})"

    def line(self) -> str:
        """One readable line: verdict, section, claim, figure, comparison, and why there is no SE."""
        why = "; exact" if self.exact else f"; no SE: {self.no_se}" if self.no_se else ""
        star = " [headline]" if self.headline else ""
        return f"[{self.verdict}] §{self.section} {self.claim}{star}: {self.figure()} {self.comparison()}{why}"

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def _from_row(row: dict) -> Claim:
    return Claim(**{k: v for k, v in row.items() if k not in ("verdict", "notebook")})


class Ledger:
    """A notebook's claims, in the order it measured them."""

    def __init__(self, notebook: str):
        self.notebook = checks.text("notebook", notebook)
        self.claims: list[Claim] = []

    def record(self, section: str, claim: str, value, reference, *, rule: str, compared_with: str, se=None,
               reference_se=None, difference_se=None, over: str | None = None, exact: bool = False,
               no_se: str | None = None, margin: float = 0.0, unit: str = "", varies: bool = False,
               headline: bool = False, quiet: bool = False) -> Claim:
        """Record one claim (see :class:`Claim` for the arguments), print its line (unless ``quiet``)
        and return it. Recording a claim of the same section and text again replaces it in place, so
        a cell re-run in a notebook leaves one entry where it was."""
        quiet = checks.boolean("quiet", quiet)
        entry = Claim(section, claim, rule, value, reference, compared_with, se, reference_se, difference_se, over,
                      exact, no_se, margin, unit, varies, headline)
        keys = [(c.section, c.claim) for c in self.claims]
        if (section, claim) in keys:
            self.claims[keys.index((section, claim))] = entry
        else:
            self.claims.append(entry)
        if not quiet:
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
        counts[c.verdict] += 1
    return counts


def totals_text(claims) -> str:
    """``"12 claims: 8 shown, 1 not shown, 3 not separated, 0 opposite (2 headline)"``."""
    counts = totals(claims)
    headline = sum(c.headline for c in claims)
    return (f"{len(claims)} claims: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
            + f" ({headline} of the book's headline claims)")


def markdown_table(claims, notebooks: list[str] | None = None) -> str:
    """Claims as a markdown table (with a notebook column when ``notebooks`` names each claim's)."""
    head = ["notebook"] * (notebooks is not None) + ["§", "claim", "measured", "compared with", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for i, c in enumerate(claims):
        cells = [notebooks[i]] if notebooks is not None else []
        cells += [c.section, c.claim + (" (headline)" if c.headline else ""), c.figure(),
                  c.comparison() + ("; exact" if c.exact else f"; no SE: {c.no_se}" if c.no_se else ""),
                  f"**{c.verdict}**"]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


class ClaimsTable:
    """What ``Ledger.table()`` displays: a markdown table and a plain-text version; the claims
    themselves travel as data in the output's metadata."""

    def __init__(self, notebook: str, claims: list[Claim]):
        self.notebook, self.claims = notebook, claims

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = "\n".join(c.line() for c in self.claims) + "\n" + totals_text(self.claims)
        markdown = markdown_table(self.claims) + "\n\n" + totals_text(self.claims) + "."
        metadata = {MIME_TYPE: {"schema": SCHEMA, "notebook": self.notebook,
                                "claims": [c.to_dict() for c in self.claims]}}
        return {"text/plain": text, "text/markdown": markdown}, metadata


# --------------------------------------------------------------------------------------------------
# The course's claims, read back from the notebooks' stored closing tables


#: notebooks that measure no claim of the book, and why; every other notebook closes with a ledger
MEASURES_NOTHING = {"00_start_here.ipynb": "the course's front door: set-up, an environment check and the map"}


def collect(folder) -> dict[str, list[dict]]:
    """``{notebook file: [claim rows]}`` for every notebook in ``folder`` (e.g. the repository's
    ``notebooks/``), read from the closing table each stored when it was executed; a notebook
    without a ledger maps to ``[]``, and those of :data:`MEASURES_NOTHING` are left out. A notebook
    holding two tables is refused."""
    import json
    from pathlib import Path

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder must be a folder of notebooks, got {str(folder)!r}")
    found = {}
    for path in sorted(folder.glob("*.ipynb")):
        if path.name in MEASURES_NOTHING:
            continue
        tables = [output["metadata"][MIME_TYPE] for cell in json.loads(path.read_text())["cells"]
                  for output in cell.get("outputs", []) if MIME_TYPE in output.get("metadata", {})]
        if len(tables) > 1:
            raise ValueError(f"{path.name} holds {len(tables)} claims tables; a notebook closes with one")
        found[path.name] = [dict(row, notebook=path.name) for row in tables[0]["claims"]] if tables else []
    return found


def report(found: dict[str, list[dict]]) -> tuple[str, list[str]]:
    """The course's claims chapter by chapter (the first number of each claim's section), with each
    chapter's totals and the course's, the notebooks with no ledger yet, and ``stale``: the claims whose
    stored verdict differs from the one their stored figures give now (re-execute those notebooks)."""
    rows = [row for notebook_rows in found.values() for row in notebook_rows]
    claims = [_from_row(row) for row in rows]
    stale = [f"{row['notebook']}: §{row['section']} {row['claim']} (stored {row['verdict']!r}, now {c.verdict!r})"
             for row, c in zip(rows, claims) if row["verdict"] != c.verdict]
    lines = []
    for chapter in sorted({c.section.split(".")[0] for c in claims}, key=int):
        mine = [(row, c) for row, c in zip(rows, claims) if c.section.split(".")[0] == chapter]
        lines.append(f"Chapter {chapter}: {totals_text([c for _, c in mine])}")
        lines += [f"  {row['notebook'][:2]} {c.line()}" for row, c in mine]
    lines.append(f"The course: {totals_text(claims)}")
    missing = [name for name, notebook_rows in found.items() if not notebook_rows]
    if missing:
        lines.append(f"notebooks without a claims ledger yet: {', '.join(missing)}")
    if stale:
        lines.append("stale verdicts (re-execute the notebook): " + "; ".join(stale))
    return "\n".join(lines), stale


def markdown_report(found: dict[str, list[dict]]) -> str:
    """The course's claims as a web page (the website's "Claims" page): the course's totals, then per
    chapter its totals and its table, then the notebooks with no ledger yet."""
    rows = [row for notebook_rows in found.values() for row in notebook_rows]
    claims = [_from_row(row) for row in rows]
    parts = ["# The course's claims, measured", "",
             "Every claim a notebook measures is recorded in its ledger (`lmnotes.claims`) with the book's "
             "section, the measured figure and its uncertainty, what it is compared with and a rule; the "
             "verdict is computed from the numbers. This page is built from the committed notebooks, as "
             "`./course claims` prints it.", "", f"**The course: {totals_text(claims)}.**", ""]
    for chapter in sorted({c.section.split(".")[0] for c in claims}, key=int):
        mine = [(row, c) for row, c in zip(rows, claims) if c.section.split(".")[0] == chapter]
        parts += [f"## Chapter {chapter}", "", f"{totals_text([c for _, c in mine])}.", "",
                  markdown_table([c for _, c in mine], [row["notebook"].removesuffix(".ipynb") for row, _ in mine]),
                  ""]
    missing = [name.removesuffix(".ipynb") for name, notebook_rows in found.items() if not notebook_rows]
    if missing:
        parts += ["## Not yet on the ledger", "",
                  "These notebooks still close with a hand-written summary: " + ", ".join(f"`{m}`" for m in missing)
                  + ".", ""]
    return "\n".join(parts)


#: the README's totals sit between these two lines; ``./course claims --readme README.md`` rewrites them
README_MARKERS = ("<!-- claims totals: written by ./course claims --readme -->", "<!-- end of claims totals -->")


def readme_totals(found: dict[str, list[dict]]) -> str:
    """The README's summary of the course's claims: the course's totals, then each chapter's."""
    claims = [_from_row(row) for notebook_rows in found.values() for row in notebook_rows]
    lines = [f"**The course: {totals_text(claims)}.**", ""]
    for chapter in sorted({c.section.split(".")[0] for c in claims}, key=int):
        lines.append(f"- Chapter {chapter}: {totals_text([c for c in claims if c.section.split('.')[0] == chapter])}")
    missing = [name.removesuffix(".ipynb") for name, notebook_rows in found.items() if not notebook_rows]
    if missing:
        lines.append(f"- Not yet on the ledger: {', '.join(missing)}")
    return "\n".join(lines)


def with_readme_totals(readme: str, found: dict[str, list[dict]]) -> str:
    """``readme`` with the text between :data:`README_MARKERS` replaced by :func:`readme_totals`."""
    start, end = README_MARKERS
    if readme.count(start) != 1 or readme.count(end) != 1 or readme.index(start) > readme.index(end):
        raise ValueError(f"readme must hold the two marker lines {start!r} and {end!r} once each, in that order")
    head, rest = readme.split(start)
    return head + start + "\n" + readme_totals(found) + "\n" + end + rest.split(end, 1)[1]


def main(argv=None) -> int:
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m lmnotes.claims",
                                     description="List the course's measured claims and their verdicts.")
    parser.add_argument("folder", nargs="?", default="notebooks", help="the folder of executed notebooks")
    parser.add_argument("--readme", metavar="PATH", help="also rewrite the totals in this README")
    args = parser.parse_args(argv)
    found = collect(args.folder)
    text, stale = report(found)
    print(text)
    if args.readme:
        path = Path(args.readme)
        path.write_text(with_readme_totals(path.read_text(), found))
        print(f"totals written to {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

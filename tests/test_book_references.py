"""The notebooks point learners at the book's own equation numbers (Xiao & Zhu, *Foundations of
Large Language Models*, the June 2025 edition).

Chapter 1 has 25 numbered equations; its notebooks (00-04) cite every one that they show working,
and no number that chapter 1 does not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_1 = sorted((ROOT / "notebooks").glob("0[0-4]_*.ipynb"))
#: numbered equations in the book's chapter 1
CHAPTER_1_EQUATIONS = 25
#: what chapter 1's notebooks implement or measure: the encoder and classifier of fine-tuning
#: (1.2-1.4), the language-model loss (1.5-1.7), masked LM (1.10-1.12), permuted LM (1.13-1.14),
#: denoising (1.15-1.16), BERT's losses and input (1.17-1.20), applying BERT (1.21-1.25)
SHOWN = {2, 3, 4, 5, 6, 7, *range(10, 26)}
CITATION = re.compile(r"Eqs?\.\s*(\d+)\.(\d+)(?:\s*-\s*(?:(\d+)\.)?(\d+))?")


def cited(text: str) -> set[tuple[int, int]]:
    """The (chapter, number) pairs that ``text`` cites as "Eq. 1.5" or as a range "Eq. 4.5-4.7"."""
    out = set()
    for chapter, first, last_chapter, last in CITATION.findall(text):
        if last_chapter and last_chapter != chapter:
            raise ValueError(f"a range across chapters: Eq. {chapter}.{first}-{last_chapter}.{last}")
        out.update((int(chapter), n) for n in range(int(first), int(last or first) + 1))
    return out


def markdown(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def test_citations_are_read_singly_and_as_ranges():
    assert cited("the loss (Eq. 1.5) and Eq.\n4.5-4.7, then Eqs. 2.4-5") == {
        (1, 5), (4, 5), (4, 6), (4, 7), (2, 4), (2, 5)}
    assert cited("no equation here, only §1.2") == set()


def test_chapter_one_cites_the_books_numbers_for_every_equation_it_shows():
    numbers = set().union(*(cited(markdown(p)) for p in CHAPTER_1))
    chapter_1 = {n for c, n in numbers if c == 1}
    assert not SHOWN - chapter_1, f"chapter 1's notebooks do not cite Eq. 1.{sorted(SHOWN - chapter_1)}"
    assert max(chapter_1) <= CHAPTER_1_EQUATIONS and min(chapter_1) >= 1

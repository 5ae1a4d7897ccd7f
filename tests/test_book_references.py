"""The notebooks point learners at the book's own equation numbers (Xiao & Zhu, *Foundations of
Large Language Models*, the June 2025 edition).

Chapter 1 has 25 numbered equations; its notebooks (00-04) cite every one that they show working,
and no number that chapter 1 does not have. Chapter 2 has 104; notebook 05 (section 2.1 and the block's
modifications of section 2.2.2; its decoding rules are chapter 5's §5.1.3), notebook 06 (section 2.2) and notebook 07 (section 2.3) cite every one that they show working.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_1 = sorted((ROOT / "notebooks").glob("0[0-4]_*.ipynb"))
#: numbered equations in the book's chapter 1
CHAPTER_1_EQUATIONS = 25
#: what chapter 1's notebooks implement or measure: the encoder and classifier of fine-tuning
#: (1.2-1.4), the language-model loss (1.5-1.7), masked LM (1.10-1.12), permuted LM (1.13-1.14),
#: denoising (1.15-1.16), BERT's losses and input (1.17-1.20), applying BERT (1.21-1.25)
SHOWN = {2, 3, 4, 5, 6, 7, *range(10, 26)}
#: numbered equations in the book's chapter 2
CHAPTER_2_EQUATIONS = 104
#: what notebook 05 shows: the chain rule and greedy prediction (2.1-2.3), the block's norms, attention and
#: output layer (2.4-2.12), maximum-likelihood training (2.13-2.14), decoding a whole continuation (2.15),
#: instruction fine-tuning (2.16-2.18), layer and RMS normalisation (2.23-2.24) and the FFNs (2.25-2.31)
SHOWN_05 = {*range(1, 19), *range(23, 32)}
#: the decoding rules notebook 05 runs, from chapter 5's §5.1.3: greedy (5.19-5.21), top-k (5.26-5.30),
#: top-p (5.31), temperature (5.32) and the repetition penalty (5.33)
SHOWN_05_DECODING = {19, 20, 21, *range(26, 34)}
#: what notebook 07 shows: the attention it times (2.6, in 2.3.2's notation 2.45-2.47), sparse attention
#: (2.48), linear attention's running state (2.49-2.51), a fixed-size memory (2.53), the kNN-LM (2.67-2.68),
#: MHA / MQA / GQA (2.70-2.73), absolute positions (2.74), T5's bias (2.78-2.81), ALiBi (2.82-2.84), RoPE
#: (2.85-2.94), position interpolation (2.99-2.100) and NTK-aware scaling (2.101-2.104)
SHOWN_07 = {6, *range(45, 52), 53, 67, 68, *range(70, 75), *range(78, 95), *range(99, 105)}
#: what notebook 06 shows: post- and pre-norm (2.4-2.5), the norms, FFNs and activations it trains (2.23-2.27,
#: 2.30-2.31), gradient descent split over workers (2.32-2.33), the column-split matmul (2.34-2.35), the power
#: laws it fits (2.36-2.37) and the Chinchilla fit it evaluates (2.39)
SHOWN_06 = {4, 5, 23, 24, 25, 26, 27, 30, 31, 32, 33, 34, 35, 36, 37, 39}
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


def test_notebook_05_cites_the_books_numbers_for_every_equation_it_shows():
    numbers = cited(markdown(ROOT / "notebooks" / "05_decoder_only.ipynb"))
    chapter_2 = {n for c, n in numbers if c == 2}
    assert not SHOWN_05 - chapter_2, f"notebook 05 does not cite Eq. 2.{sorted(SHOWN_05 - chapter_2)}"
    assert max(chapter_2) <= CHAPTER_2_EQUATIONS and min(chapter_2) >= 1
    chapter_5 = {n for c, n in numbers if c == 5}
    assert chapter_5 <= SHOWN_05_DECODING and not {19, 26, 31, 33} - chapter_5, f"notebook 05 cites Eq. 5.{sorted(chapter_5)}"
    assert {c for c, _ in numbers} <= {2, 5}, "notebook 05 cites an equation outside chapters 2 and 5"


@pytest.mark.parametrize("name, shown", [("07_long_sequences", SHOWN_07), ("06_training_at_scale", SHOWN_06)])
def test_chapter_2_notebook_cites_the_books_numbers_for_every_equation_it_shows(name, shown):
    numbers = cited(markdown(ROOT / "notebooks" / f"{name}.ipynb"))
    chapter_2 = {n for c, n in numbers if c == 2}
    assert not shown - chapter_2, f"notebook {name[:2]} does not cite Eq. 2.{sorted(shown - chapter_2)}"
    assert max(chapter_2) <= CHAPTER_2_EQUATIONS and min(chapter_2) >= 1
    assert {c for c, _ in numbers} <= {2}, f"notebook {name[:2]} cites another chapter's equation"


#: what notebook 14 shows: the KV cache's append (5.8-5.9), prefilling (5.10-5.13), the search problem and its
#: tree (5.14-5.18), greedy (5.19-5.21) and beam search (5.22-5.25), speculative decoding (5.34-5.36)
SHOWN_14 = {*range(8, 26), 34, 35, 36}
CHAPTER_5_EQUATIONS = 40


def test_notebook_14_cites_the_books_numbers_for_every_equation_it_shows():
    numbers = cited(markdown(ROOT / "notebooks" / "14_prefill_and_decode.ipynb"))
    chapter_5 = {n for c, n in numbers if c == 5}
    assert not SHOWN_14 - chapter_5, f"notebook 14 does not cite Eq. 5.{sorted(SHOWN_14 - chapter_5)}"
    assert max(chapter_5) <= CHAPTER_5_EQUATIONS and min(chapter_5) >= 1
    assert {c for c, _ in numbers} <= {5}, "notebook 14 cites another chapter's equation"

"""Widget logic, exercised without a kernel: constructing widgets and setting values fires observers."""

import pytest

from lmnotes import course, widgets


def test_course_map_shows_the_chosen_chapter_and_follows_the_picker():
    box = widgets.course_map(start=1)
    picker, card = box.children
    assert "Chapter 1: Pre-training" in card.value
    assert "01_tokenization.ipynb" in card.value
    picker.value = 4
    assert "Chapter 4: Alignment" in card.value
    assert "12_rlhf.ipynb" in card.value
    assert len(picker.options) == len(course.CHAPTERS)


def test_chapter_html_rejects_unknown_chapter():
    with pytest.raises(ValueError, match="no chapter 9"):
        widgets.chapter_html(9)


def test_tokens_html_escapes_and_shows_ids_and_visible_whitespace():
    out = widgets.tokens_html(["<b>", " is", "\n"], [1, 2, 3])
    assert "&lt;b&gt;" in out and "<b>" not in out.replace("<br>", "")
    assert "␣is" in out and "↵" in out
    assert out.count("<small>") == 3
    with pytest.raises(ValueError, match="2 tokens but 1 ids"):
        widgets.tokens_html(["a", "b"], [1])


def test_tokenizer_playground_follows_text_and_tokenizer_choice():
    from lmnotes.tokenization import CharTokenizer, gpt2_bpe

    toks = {"GPT-2": gpt2_bpe(), "characters": CharTokenizer.from_text("abc weathr")}
    pick, box, view = widgets.tokenizer_playground(toks, text="The weather is").children
    assert "3 tokens" in view.value and "Ġweather" in view.value and ">6193<" in view.value
    box.value = "The weather is nice"
    assert "4 tokens" in view.value
    pick.value = "characters"  # 'T' is outside this alphabet: the error is shown, not raised
    assert "color:#b00" in view.value
    box.value = "abc"
    assert "3 tokens" in view.value and "1.00 tokens per character" in view.value
    box.value = "a"
    assert "<b>1 token</b>" in view.value


def test_tokenizer_playground_needs_a_tokenizer():
    with pytest.raises(ValueError, match="at least one"):
        widgets.tokenizer_playground({})

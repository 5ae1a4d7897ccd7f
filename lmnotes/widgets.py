"""ipywidgets controls for exploring the course's ideas.

Written against what ipywidgets 7.7 (Colab) and 8 (JupyterLab 4) share: plain Dropdown / Text /
HTML / VBox widgets wired with ``observe``, no Output-widget tricks, no third-party widgets.
Each builder returns the widget (display it by leaving it last in a cell) and keeps the logic in
plain functions that unit tests call without a kernel.
"""

from __future__ import annotations

import html

import ipywidgets as W

from lmnotes import course

# A colour-blind-friendly cycle (Okabe-Ito, lightened) for token backgrounds.
TOKEN_COLOURS = ["#f5c98b", "#a6d9f5", "#a8e0c8", "#f7f0a0", "#b3c8e8", "#f2b89a", "#e3bcd6"]


def chapter_html(number: int) -> str:
    """HTML card for one chapter of the course map: its notebooks, whether shipped, what they measure."""
    chapters = {ch["number"]: ch for ch in course.CHAPTERS}
    if number not in chapters:
        raise ValueError(f"no chapter {number!r}; the course has chapters {sorted(chapters)}")
    ch = chapters[number]
    rows = []
    for nb in ch["notebooks"]:
        status = "ready" if nb["available"] else "coming"
        rows.append(
            f"<li><b>{html.escape(nb['title'])}</b> <code>{html.escape(nb['file'])}</code> "
            f"<i>({status})</i><br>measures: {html.escape(nb['measures'])}</li>"
        )
    sections = f" ({html.escape(ch['sections'])})" if ch["sections"] else ""
    return f"<h4>Chapter {ch['number']}: {html.escape(ch['title'])}{sections}</h4><ul>{''.join(rows)}</ul>"


def course_map(start: int = 1) -> W.VBox:
    """A chapter picker showing each chapter's notebooks and the claims they measure."""
    options = [(f"{ch['number']}. {ch['title']}", ch["number"]) for ch in course.CHAPTERS]
    picker = W.Dropdown(options=options, value=start, description="Chapter")
    card = W.HTML(chapter_html(start))

    def show(change):
        card.value = chapter_html(change["new"])

    picker.observe(show, names="value")
    return W.VBox([picker, card])


def tokens_html(tokens: list[str], ids: list[int]) -> str:
    """Tokens as coloured chips with their ids underneath (whitespace made visible)."""
    if len(tokens) != len(ids):
        raise ValueError(f"got {len(tokens)} tokens but {len(ids)} ids; they must pair up")
    chips = []
    for i, (tok, tid) in enumerate(zip(tokens, ids)):
        shown = html.escape(tok.replace(" ", "␣").replace("\n", "↵")) or "&nbsp;"
        chips.append(
            f'<span style="display:inline-block;margin:2px;padding:2px 4px;border-radius:4px;'
            f'background:{TOKEN_COLOURS[i % len(TOKEN_COLOURS)]};font-family:monospace;color:#000">'
            f'{shown}<br><small>{tid}</small></span>'
        )
    return "".join(chips)


def tokenize_html(tokenizer, text: str) -> str:
    """One line of coloured tokens for ``text`` under an lmnotes tokenizer, with a count."""
    ids = tokenizer.encode(text)
    tokens = [tokenizer.id_to_token(i) for i in ids]
    ratio = f"{len(ids) / len(text):.2f} tokens per character" if text else "empty text"
    count = f"{len(ids)} token" + ("" if len(ids) == 1 else "s")
    return f"<div><b>{count}</b> ({ratio})</div><div>{tokens_html(tokens, ids)}</div>"


def tokenizer_playground(tokenizers: dict, text: str = "The weather is lovely today!") -> W.VBox:
    """Type text, pick a tokenizer, see its tokens and ids coloured.

    ``tokenizers`` maps a display name to an lmnotes tokenizer (anything with ``encode`` and
    ``id_to_token``).
    """
    if not tokenizers:
        raise ValueError("tokenizer_playground needs at least one tokenizer, got an empty dict")
    box = W.Text(value=text, description="Text", continuous_update=True,
                 layout=W.Layout(width="95%"))
    pick = W.Dropdown(options=list(tokenizers), description="Tokenizer")
    view = W.HTML()

    def show(_=None):
        try:
            view.value = tokenize_html(tokenizers[pick.value], box.value)
        except ValueError as err:  # e.g. a character outside a char tokenizer's alphabet
            view.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"

    box.observe(show, names="value")
    pick.observe(show, names="value")
    show()
    return W.VBox([pick, box, view])

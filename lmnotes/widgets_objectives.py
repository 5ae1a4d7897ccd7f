"""ipywidgets controls for the self-supervised objectives notebook (book §1.2).

Same rules as ``lmnotes.widgets``: Dropdown / IntSlider / HTML / VBox wired with ``observe``, so
they work on ipywidgets 7.7 (Colab) and 8; the HTML is built by plain functions that tests call
without a kernel.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as W

from lmnotes.objectives import bert_mask
from lmnotes.pretraining import toy_specials

#: chip colour per BERT rule: replaced by [MASK], by a random token, kept (but predicted), untouched
RULE_COLOURS = {"masked": "#f5c98b", "random": "#f2b89a", "kept": "#a8e0c8", "none": "#eeeeee"}


def bert_masking(tokenizer, text: str, *, mask_rate: float = 0.15, seed: int = 0) -> dict:
    """BERT's masking (``objectives.bert_mask``) of one toy-world sentence, described word by word.

    Returns ``{"words": [(original, shown, rule)], "counts": {...}}`` where ``rule`` is "masked",
    "random", "kept" or "none" and ``counts`` holds the number of tokens and of each rule.
    """
    import torch

    sp = toy_specials(tokenizer)
    ids = torch.tensor(tokenizer.encode(text))
    if ids.numel() == 0:
        raise ValueError("text must hold at least one word, got an empty text")
    result = bert_mask(ids, mask_id=sp.mask, vocab_size=tokenizer.vocab_size, special_ids=sp.all,
                       mask_rate=mask_rate, generator=seed)
    words = []
    for i, (original, shown) in enumerate(zip(ids.tolist(), result.inputs.tolist())):
        rule = ("masked" if result.masked[i] else "random" if result.randomised[i]
                else "kept" if result.kept[i] else "none")
        words.append((tokenizer.decode([original]), tokenizer.decode([shown]), rule))
    counts = {"tokens": len(words)} | {rule: sum(w[2] == rule for w in words) for rule in ("masked", "random", "kept")}
    return {"words": words, "counts": counts}


def bert_masking_html(tokenizer, text: str, *, mask_rate: float = 0.15, seed: int = 0) -> str:
    """The masked sentence as coloured chips: what the model reads, and above it the original word."""
    view = bert_masking(tokenizer, text, mask_rate=mask_rate, seed=seed)
    chips = []
    for original, shown, rule in view["words"]:
        above = "&nbsp;" if rule == "none" else html.escape(original)
        chips.append(
            f'<span style="display:inline-block;margin:2px;padding:2px 4px;border-radius:4px;'
            f'background:{RULE_COLOURS[rule]};font-family:monospace;color:#000;text-align:center">'
            f'<small>{above}</small><br>{html.escape(shown)}</span>'
        )
    c = view["counts"]
    legend = " ".join(f'<span style="background:{RULE_COLOURS[r]};padding:0 4px;color:#000">{r}</span>'
                      for r in ("masked", "random", "kept"))
    summary = (f"<div><b>{c['masked'] + c['random'] + c['kept']} of {c['tokens']} tokens to predict</b>: "
               f"{c['masked']} masked, {c['random']} random, {c['kept']} kept &nbsp; {legend}</div>")
    return summary + f"<div>{''.join(chips)}</div>"


def masking_explorer(tokenizer, sentences: Sequence[str], *, mask_rate: int = 15, seed: int = 0) -> W.VBox:
    """Pick a sentence, a mask rate (in %) and a seed; see which tokens BERT's recipe corrupts and how.

    Each chip shows what the model reads (bottom) and, for the tokens it must predict, the original
    word (top): orange = replaced by <mask> (80% of the chosen), red = a random word (10%), green =
    left unchanged but still predicted (10%).
    """
    if not sentences:
        raise ValueError("masking_explorer needs at least one sentence, got none")
    pick = W.Dropdown(options=list(sentences), value=sentences[0], description="Sentence",
                      layout=W.Layout(width="95%"))
    rate = W.IntSlider(value=mask_rate, min=5, max=80, step=5, description="Mask rate %")
    seed_box = W.IntSlider(value=seed, min=0, max=99, description="Seed")
    view = W.HTML()

    def show(_=None):
        view.value = bert_masking_html(tokenizer, pick.value, mask_rate=rate.value / 100, seed=seed_box.value)

    for control in (pick, rate, seed_box):
        control.observe(show, names="value")
    show()
    return W.VBox([pick, rate, seed_box, view])

"""ipywidgets controls for exploring the course's ideas: the one home of every widget the notebooks use.

* ``course_map``: the chapters, their notebooks and what each measures (00);
* ``tokenizer_playground``: text as tokens and ids under several tokenizers (01);
* ``next_token_explorer``: a causal LM's next-token distribution as the prompt changes (02);
* ``masking_explorer``: BERT's 15% / 80-10-10 corruption of a sentence (03);
* ``pruning_explorer``: remove attention heads and watch the held-out metrics (04);
* ``decoding_explorer``: greedy, beam, temperature, top-k and top-p continuations of a prompt (05);
* ``compute_optimal_explorer``: the compute-optimal split of a FLOP budget (06);
* ``extrapolation_explorer``: a position scheme's held-out loss past its training length (07);
* ``prompt_builder``: a k-shot prompt from a template, label words and demonstrations (08);
* ``kl_tradeoff_explorer``: PPO's proxy reward, gold reward and KL for a chosen KL coefficient (12);
* ``voting_explorer``: sampled worked solutions, their majority vote and its accuracy vs k (09);
* ``best_of_n_explorer``: best-of-N's gold and proxy reward and its KL against N (13).

Written against what ipywidgets 7.7 (Colab) and 8 (JupyterLab 4) share: plain Dropdown / Text /
HTML / VBox widgets wired with ``observe``, no Output-widget tricks, no third-party widgets.
Each builder returns the widget (display it by leaving it last in a cell) and keeps the logic in
plain functions that unit tests call without a kernel.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as W
import torch
from torch import nn

from lmnotes import checks, course, prompting
from lmnotes.pretraining import compression, experiments, objectives

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
    tokens, ids = checks.texts("tokens", tokens), checks.id_list("ids", ids)
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


# ----------------------------------------------------------------------------------------------
# Language models (notebook 02)


def next_token_html(model, tokenizer, text: str, k: int = 10) -> str:
    """The next-token distribution as an HTML table with a bar per token."""
    rows = []
    for token, p in prompting.next_token_distribution(model, tokenizer, text, k):
        shown = html.escape(token.replace(" ", "␣").replace("\n", "↵"))
        bar = f'<div style="background:#4c72b0;height:10px;width:{max(1, round(200 * p))}px"></div>'
        rows.append(f"<tr><td><code>{shown}</code></td><td>{p:.3f}</td><td>{bar}</td></tr>")
    return ("<table><tr><th>next token</th><th>probability</th><th></th></tr>" + "".join(rows) + "</table>")


def next_token_explorer(model, tokenizer, text: str = "The weather is", k: int = 10):
    """A widget: type a prompt, see the model's top-``k`` next tokens and their probabilities update."""
    box = W.Text(value=text, description="Prompt", continuous_update=False, layout=W.Layout(width="95%"))
    view = W.HTML()

    def show(_=None):
        try:
            view.value = next_token_html(model, tokenizer, box.value, k)
        except (ValueError, TypeError) as err:  # an empty prompt, or a word outside a toy vocabulary
            view.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"

    box.observe(show, names="value")
    show()
    return W.VBox([box, view])


# ----------------------------------------------------------------------------------------------
# BERT masking (notebook 03)

#: chip colour per BERT rule: replaced by [MASK], by a random token, kept (but predicted), untouched
RULE_COLOURS = {"masked": "#f5c98b", "random": "#f2b89a", "kept": "#a8e0c8", "none": "#eeeeee"}


def bert_masking(tokenizer, text: str, *, mask_rate: float = 0.15, seed: int = 0) -> dict:
    """BERT's masking (``objectives.bert_mask``) of one toy-world sentence, described word by word.

    Returns ``{"words": [(original, shown, rule)], "counts": {...}}`` where ``rule`` is "masked",
    "random", "kept" or "none" and ``counts`` holds the number of tokens and of each rule.
    """
    sp = experiments.toy_specials(tokenizer)
    ids = torch.tensor(tokenizer.encode(text))
    if ids.numel() == 0:
        raise ValueError("text must hold at least one word, got an empty text")
    result = objectives.bert_mask(ids, mask_id=sp.mask, vocab_size=tokenizer.vocab_size, special_ids=sp.all,
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


# ----------------------------------------------------------------------------------------------
# Head pruning (notebook 04)


def _grid_html(n_layer: int, n_head: int, removed: set) -> str:
    cells = []
    for layer in range(n_layer):
        row = "".join(
            f'<td style="width:28px;height:22px;text-align:center;color:#000;background:'
            f'{"#e0e0e0" if (layer, h) in removed else "#a6d9f5"}">{"✕" if (layer, h) in removed else h}</td>'
            for h in range(n_head))
        cells.append(f"<tr><td style='padding-right:6px'>layer {layer}</td>{row}</tr>")
    return f"<table style='border-collapse:separate;border-spacing:2px'>{''.join(cells)}</table>"


def pruning_explorer(model: nn.Module, importance: torch.Tensor,
                     metrics: Callable[[nn.Module], Mapping[str, float]]):
    """A widget: choose how many heads to remove and in which order; see which heads are gone and
    what ``metrics(model)`` (a dict of name -> number, e.g. MLM loss and accuracy) becomes.

    The model is only changed inside ``heads_removed``, so it is intact between interactions.
    """
    n_layer, n_head = importance.shape
    count = W.IntSlider(value=n_layer * n_head // 2, min=0, max=n_layer * n_head, description="heads removed")
    order = W.Dropdown(options=list(compression.PRUNING_ORDERS), description="order")
    view = W.HTML()

    def show(_=None):
        removed = compression.pruning_order(importance, order.value)[:count.value]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), compression.heads_removed(model, removed):
                values = metrics(model)
        finally:
            model.train(was_training)
        numbers = ", ".join(f"{html.escape(k)} <b>{float(v):.3g}</b>" for k, v in values.items())
        view.value = (f"<div>{count.value} of {n_layer * n_head} heads removed ({html.escape(order.value)}): "
                      f"{numbers}</div>{_grid_html(n_layer, n_head, set(removed))}")

    count.observe(show, names="value")
    order.observe(show, names="value")
    show()
    return W.VBox([order, count, view])


def extrapolation_html(table: Mapping[str, Mapping[int, float]], scheme: str, length: int) -> str:
    """One scheme's held-out loss at one evaluation length, beside its loss at the training length
    (the smallest length in ``table[scheme]``); ``nan`` marks a length the scheme cannot run at."""
    scheme = checks.choice("scheme", scheme, list(table))
    row = table[scheme]
    length = checks.choice("length", length, list(row))
    base = row[min(row)]
    loss = row[length]
    if loss != loss:  # nan
        return f"<b>{html.escape(scheme)}</b> at {length} tokens: cannot run (no position beyond {min(row)})"
    return (f"<b>{html.escape(scheme)}</b> at {length} tokens ({length // min(row)}x the training length): "
            f"loss {loss:.3f} nats/char, perplexity {math.exp(loss):.2f}, "
            f"{100 * (loss / base - 1):+.1f}% loss vs {base:.3f} at {min(row)}")


def extrapolation_explorer(table: Mapping[str, Mapping[int, float]]) -> W.VBox:
    """Pick a position scheme and an evaluation length; see its held-out loss against in-length (07)."""
    schemes = list(table)
    lengths = sorted(table[schemes[0]])
    scheme = W.Dropdown(options=schemes, value=schemes[0], description="scheme")
    length = W.SelectionSlider(options=lengths, value=lengths[-1], description="eval length")
    out = W.HTML(extrapolation_html(table, scheme.value, length.value))

    def show(_=None):
        out.value = extrapolation_html(table, scheme.value, length.value)

    scheme.observe(show, names="value")
    length.observe(show, names="value")
    return W.VBox([W.HBox([scheme, length]), out])
# ----------------------------------------------------------------------------------------------
# Prompt builder (notebook 08)


def prompt_builder_html(model, tokenizer, demonstrations: Sequence[tuple[str, object]], query: str,
                        label_words, template: str, k: int, separator: str = " ") -> str:
    """The k-shot prompt ``build_prompt`` writes from the first ``k`` demonstrations, the query and
    ``template``, and the model's probability for each label word after it (best first)."""
    k = checks.integer("k", k, low=0, high=len(demonstrations))
    prompt = prompting.build_prompt(list(demonstrations[:k]), query, label_words, template, separator)
    labels, words = prompting.icl._label_words(label_words)  # the same parsing build_prompt uses
    probs = prompting.continuation_logprobs(model, tokenizer, [prompt], words)[0].softmax(-1)
    rows = []
    for i in probs.argsort(descending=True).tolist():
        bar = f'<div style="background:#4c72b0;height:10px;width:{max(1, round(200 * probs[i].item()))}px"></div>'
        rows.append(f"<tr><td>{html.escape(str(labels[i]))}</td><td><code>{html.escape(words[i])}</code></td>"
                    f"<td>{probs[i].item():.3f}</td><td>{bar}</td></tr>")
    return (f"<p><b>{k}-shot prompt</b> ({len(tokenizer.encode(prompt))} tokens):</p>"
            f"<pre style='white-space:pre-wrap'>{html.escape(prompt)}</pre>"
            "<table><tr><th>label</th><th>word</th><th>probability (among the label words)</th><th></th></tr>"
            + "".join(rows) + "</table>")


def prompt_builder(model, tokenizer, demonstrations: Sequence[tuple[str, object]], query: str,
                   templates: Sequence[str], verbalizers: Mapping[str, object], k: int = 2) -> W.VBox:
    """A widget: choose a template, a verbalizer (label words) and the number of demonstrations; see
    the prompt and the model's label-word probabilities after it."""
    if not templates or not verbalizers:
        raise ValueError("templates and verbalizers must each hold at least one choice")
    pick_template = W.Dropdown(options=list(templates), value=templates[0], description="Template")
    pick_words = W.Dropdown(options=list(verbalizers), value=next(iter(verbalizers)), description="Label words")
    shots = W.IntSlider(value=k, min=0, max=len(demonstrations), description="Shots")
    view = W.HTML()

    def show(_=None):
        try:
            view.value = prompt_builder_html(model, tokenizer, demonstrations, query,
                                             verbalizers[pick_words.value], pick_template.value, shots.value)
        except (ValueError, TypeError) as err:  # e.g. a template word outside a toy vocabulary
            view.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"

    for control in (pick_template, pick_words, shots):
        control.observe(show, names="value")
    show()
    return W.VBox([W.HBox([pick_template, pick_words, shots]), view])
# ----------------------------------------------------------------------------------------------
# Compute-optimal training (notebook 06)


def compute_optimal_html(log10_compute: float) -> str:
    """N_opt, D_opt and the predicted loss for a budget of 10^log10_compute FLOPs (Chinchilla fit)."""
    from lmnotes.generative.scaling import compute_optimal

    r = compute_optimal(10 ** checks.real("log10_compute", log10_compute, low=10, high=30))
    return (f"<b>C = {r['compute']:.3g} FLOPs</b>: N_opt = {r['n_opt'] / 1e6:.3g} M parameters, "
            f"D_opt = {r['d_opt'] / 1e9:.3g} B tokens ({r['tokens_per_param']:.3g} tokens per parameter), "
            f"predicted loss {r['loss']:.3g} nats/token")


def compute_optimal_explorer(log10_compute: float = 19.0) -> W.VBox:
    """A slider over log10 of the compute budget (1e18..1e24 FLOPs) showing the compute-optimal split."""
    slider = W.FloatSlider(value=log10_compute, min=18.0, max=24.0, step=0.1, description="log10 C")
    view = W.HTML()

    def show(_=None):
        view.value = compute_optimal_html(slider.value)

    slider.observe(show, names="value")
    show()
    return W.VBox([slider, view])
# ----------------------------------------------------------------------------------------------
# Decoding (notebook 05)

#: the decoding methods of ``decoding_explorer``
DECODING_METHODS = ("greedy", "beam search", "temperature", "top-k", "top-p")


def decode_text(model, tokenizer, prompt: str, method: str, *, temperature: float = 1.0, top_k: int = 10,
                top_p: float = 0.9, num_beams: int = 4, max_new_tokens: int = 80, seed: int = 0) -> str:
    """The continuation of ``prompt`` that ``method`` produces with ``lmnotes.generation.generate``."""
    from lmnotes.checks import choice, text
    from lmnotes.generation import generate

    choice("method", method, DECODING_METHODS)
    ids = torch.tensor([tokenizer.encode(text("prompt", prompt))])
    kwargs = {"greedy": {}, "beam search": dict(num_beams=num_beams),
              "temperature": dict(do_sample=True, temperature=temperature),
              "top-k": dict(do_sample=True, temperature=temperature, top_k=top_k),
              "top-p": dict(do_sample=True, temperature=temperature, top_p=top_p)}[method]
    out = generate(model, ids, max_new_tokens, generator=torch.Generator().manual_seed(seed), **kwargs)
    return tokenizer.decode(out[0, ids.shape[1]:].tolist())


def decoding_explorer(model, tokenizer, prompt: str = "ROMEO:\n", max_new_tokens: int = 80) -> W.VBox:
    """A widget: pick a decoding method and its knobs, see the continuation of ``prompt``."""
    method = W.Dropdown(options=list(DECODING_METHODS), value="top-p", description="Method")
    temperature = W.FloatSlider(value=1.0, min=0.1, max=2.0, step=0.1, description="Temperature",
                                continuous_update=False)
    top_k = W.IntSlider(value=10, min=1, max=60, description="top-k", continuous_update=False)
    top_p = W.FloatSlider(value=0.9, min=0.05, max=1.0, step=0.05, description="top-p", continuous_update=False)
    seed = W.IntSlider(value=0, min=0, max=20, description="Seed", continuous_update=False)
    view = W.HTML()

    def show(_=None):
        out = decode_text(model, tokenizer, prompt, method.value, temperature=temperature.value,
                          top_k=top_k.value, top_p=top_p.value, max_new_tokens=max_new_tokens, seed=seed.value)
        view.value = f"<pre class='lmnotes-decoded'>{html.escape(prompt + out)}</pre>"

    for w in (method, temperature, top_k, top_p, seed):
        w.observe(show, names="value")
    show()
    return W.VBox([method, temperature, top_k, top_p, seed, view])


# ----------------------------------------------------------------------------------------------
# RLHF (notebook 12)


def kl_tradeoff_html(runs: Sequence[Mapping], beta: float) -> str:
    """What the PPO run with KL coefficient ``beta`` (one of ``runs``, each a ``PPORun.to_dict()``) ended at."""
    beta = checks.real("beta", beta, low=0)
    run = next((r for r in runs if r["beta"] == beta), None)
    if run is None:
        raise ValueError(f"beta must be one of the runs' {[r['beta'] for r in runs]}, got {beta!r}")
    peak = max(range(len(run["gold"])), key=run["gold"].__getitem__)
    return (f"<b>beta = {beta:g}</b> after {len(run['gold'])} PPO iterations: proxy reward "
            f"{run['proxy'][0]:.3g} -> {run['proxy'][-1]:.3g}, gold reward {run['gold'][0]:.3g} -> "
            f"{run['gold'][-1]:.3g} (best {run['gold'][peak]:.3g} at iteration {peak}), KL to the reference "
            f"{run['kl'][-1]:.3g} nats, distinct-2 {run['distinct2'][0]:.3g} -> {run['distinct2'][-1]:.3g}")


def kl_tradeoff_explorer(runs: Sequence[Mapping]) -> W.VBox:
    """A dropdown over the stored runs' KL coefficients showing where each PPO run ended."""
    betas = [r["beta"] for r in runs]
    if not betas:
        raise ValueError("runs must hold at least one PPO run")
    pick = W.Dropdown(options=[(f"beta = {b:g}", b) for b in betas], value=betas[-1], description="KL coef.")
    view = W.HTML()

    def show(_=None):
        view.value = kl_tradeoff_html(runs, pick.value)

    pick.observe(show, names="value")
    show()
    return W.VBox([pick, view])


# ----------------------------------------------------------------------------------------------
# A weak-strong cascade (notebook 11)


def cascade_html(shares: Sequence[float], accuracy: Sequence[float], share: float) -> str:
    """The cascade's accuracy when the weak model's least confident ``share`` of prompts go to the
    strong model (``shares``/``accuracy``: the measured curve, from share 0 = weak alone to 1 = strong)."""
    shares, accuracy = list(shares), list(accuracy)
    if not shares or len(shares) != len(accuracy):
        raise ValueError(f"shares and accuracy must have one equal, non-zero length; got {len(shares)}, {len(accuracy)}")
    share = checks.choice("share", share, shares)
    i = shares.index(share)
    return (f"<span class='lmnotes-cascade'><b>{share:.0%} sent to the strong model</b>: accuracy "
            f"{accuracy[i]:.3f} (weak alone {accuracy[0]:.3f}, strong alone {accuracy[-1]:.3f})</span>")


def cascade_explorer(shares: Sequence[float], accuracy: Sequence[float], share: float | None = None) -> W.VBox:
    """A slider over the share of prompts the weak model hands to the strong one, showing the accuracy."""
    shares = [float(s) for s in shares]
    slider = W.SelectionSlider(options=shares, value=shares[0] if share is None else share,
                               description="to strong")
    view = W.HTML()

    def show(_=None):
        view.value = cascade_html(shares, accuracy, slider.value)

    slider.observe(show, names="value")
    show()
    return W.VBox([slider, view])


# ----------------------------------------------------------------------------------------------
# Self-consistency (notebook 09)


def voting_html(samples: Mapping[float, Sequence[Sequence]], truths: Sequence, greedy_accuracy: float,
                temperature: float, k: int, problem: int, questions: Sequence[str] | None = None) -> str:
    """One problem's first ``k`` sampled answers at ``temperature`` (right ones in green), their
    majority vote, and the vote's accuracy at this k over all problems beside greedy decoding."""
    from lmnotes.prompting import reasoning

    checks.choice("temperature", temperature, list(samples))
    runs = samples[temperature]
    k = checks.integer("k", k, low=1, high=min(len(s) for s in runs))
    problem = checks.integer("problem", problem, low=0, high=len(runs) - 1)
    truth = truths[problem]
    chips = " ".join(f"<span style='background:{'#a8e0c8' if a == truth else '#f2b89a'};padding:1px 4px'>"
                     f"{html.escape(str(a))}</span>" for a in runs[problem][:k])
    vote = reasoning.majority_vote(runs[problem][:k])
    accuracy = reasoning.vote_accuracy(runs, truths, k)
    question = f"<p><code>{html.escape(questions[problem])}</code></p>" if questions else ""
    return (f"{question}<p>right answer <b>{html.escape(str(truth))}</b>; {k} samples at temperature "
            f"{temperature:g}: {chips}</p><p>majority vote: <b>{html.escape(str(vote))}</b> "
            f"({'right' if vote == truth else 'wrong'})</p><p>vote accuracy over all {len(runs)} problems at "
            f"k = {k}: <b>{accuracy:.3f}</b> (greedy: {greedy_accuracy:.3f})</p>")


def voting_explorer(samples: Mapping[float, Sequence[Sequence]], truths: Sequence, greedy_accuracy: float,
                    questions: Sequence[str] | None = None) -> W.VBox:
    """A widget over answers sampled beforehand (``{temperature: per-problem answer lists}``): pick
    the temperature, the number of votes k and a problem."""
    if not samples:
        raise ValueError("samples must map at least one temperature to sampled answers")
    temps = sorted(samples)
    temperature = W.Dropdown(options=temps, value=temps[-1], description="Temperature")
    k = W.IntSlider(value=1, min=1, max=min(len(s) for s in samples[temps[-1]]), description="Votes k")
    problem = W.IntSlider(value=0, min=0, max=len(truths) - 1, description="Problem")
    view = W.HTML()

    def show(_=None):
        view.value = voting_html(samples, truths, greedy_accuracy, temperature.value, k.value, problem.value,
                                 questions)

    for control in (temperature, k, problem):
        control.observe(show, names="value")
    show()
    return W.VBox([W.HBox([temperature, k, problem]), view])


# ----------------------------------------------------------------------------------------------
# Trainable-share explorer (notebook 10)


def trainable_share_html(model, method: str, size: int, measured: Mapping[tuple[str, int], float] | None = None) -> str:
    """How many parameters ``method`` (``lmnotes.prompting.efficient.METHODS``) trains at ``size`` (virtual
    tokens or LoRA rank) on a copy of ``model``, their share, and the test accuracy measured for
    that setting when ``measured`` holds it."""
    from lmnotes.prompting import efficient

    share = efficient.trainable_share(efficient.adapter(model, method, size))
    accuracy = (measured or {}).get((method, size))
    measured_text = f"{accuracy:.3f}" if accuracy is not None else "not measured at this size"
    return (f"<p><b>{html.escape(method)}</b>, size {size}: <b>{share['trainable']:,}</b> trainable of "
            f"{share['total']:,} parameters = <b>{100 * share['share']:.3g}%</b>; test accuracy: {measured_text}</p>")


def trainable_share_explorer(model, measured: Mapping[tuple[str, int], float] | None = None,
                             method: str = "lora", size: int = 8) -> W.VBox:
    """A widget: pick a method and its size (virtual tokens or rank); see the trainable parameters."""
    from lmnotes.prompting import efficient

    pick = W.Dropdown(options=list(efficient.METHODS), value=method, description="Method")
    slider = W.IntSlider(value=size, min=1, max=32, description="Size")
    view = W.HTML()

    def show(_=None):
        view.value = trainable_share_html(model, pick.value, slider.value, measured)

    for control in (pick, slider):
        control.observe(show, names="value")
    show()
    return W.VBox([W.HBox([pick, slider]), view])


# ----------------------------------------------------------------------------------------------
# Best-of-N (notebook 13)


def best_of_n_html(table: Mapping[int, Mapping[str, float]], n: int) -> str:
    """One row of a best-of-N table ``{N: {"gold", "proxy", "kl", "bound"}}``: the rewards of the
    response best-of-N keeps and its KL from the policy, beside N = 1 and the formula."""
    n = checks.choice("n", n, list(table))
    row, first = table[n], table[min(table)]
    return (f"<div class='lmnotes-best-of-n'><b>best of {n}</b>: proxy reward {row['proxy']:.3f} "
            f"({row['proxy'] - first['proxy']:+.3f} vs N = {min(table)}), gold reward {row['gold']:.3f} "
            f"({row['gold'] - first['gold']:+.3f}); KL from the policy {row['kl']:.3f} nats "
            f"(log N - (N-1)/N = {row['bound']:.3f})</div>")


def best_of_n_explorer(table: Mapping[int, Mapping[str, float]]) -> W.VBox:
    """Pick N; see what best-of-N buys in proxy and gold reward and what it costs in KL (13)."""
    ns = sorted(table)
    n = W.Dropdown(options=ns, value=ns[0], description="N")
    out = W.HTML(best_of_n_html(table, n.value))

    def show(_=None):
        out.value = best_of_n_html(table, n.value)

    n.observe(show, names="value")
    return W.VBox([n, out])

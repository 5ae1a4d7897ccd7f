"""Prompting a causal language model: next-token distributions, label-word scoring, k-shot prompts
(book sections 1.1.2 and 3.1).

A pre-trained language model can do a task with no new weights if the task is written as text to
continue. Sentiment becomes "... overall it is ___", and the model's choice among the *label words*
("great" / "terrible" / "okay") is the class: the label whose word has the highest log-probability
after the prompt wins. Putting a few solved examples (*demonstrations*) before the query makes a
*k-shot* prompt; how much they help, and how much the answer depends on their order, are measured
with ``few_shot_accuracy`` and ``order_accuracies``.

Every function takes an lmnotes causal model (``logits = model(idx, attention_mask=...)``) and a
tokenizer whose ``encode(text)`` adds no special tokens (``transformers`` fast tokenizers of the
bundled models, GPT-2's, or lmnotes' own).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lmnotes import checks
from lmnotes.data import toyworld
from lmnotes.data.toyworld import ICL_LABEL_POOL, ICL_TASKS, ICLDocument
from lmnotes.training import evaluating

DEFAULT_TEMPLATE = "{input} {output}"


def _check_model(model) -> int:
    config = getattr(model, "config", None)
    if not isinstance(model, torch.nn.Module) or not hasattr(config, "block_size"):
        raise TypeError(f"model must be an lmnotes causal model (a GPT), got {type(model).__name__}")
    if checks._model_kind(model) == "masked":  # an encoder's last position does not predict a next token
        checks.model_kind("model", model, "causal")
    return config.block_size


def _unk_id(tokenizer) -> int | None:
    """The id unknown words become (transformers' ``unk_token_id`` or the ``<unk>`` of our word
    tokenizers), None for byte-level tokenizers that have none."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        name = getattr(tokenizer, "hf_options", {}).get("unk_token")
        vocab = getattr(tokenizer, "vocab", None)
        unk = vocab.get(name) if name is not None and isinstance(vocab, Mapping) else None
    return unk


@torch.no_grad()
def next_token_distribution(model, tokenizer, text: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` most likely next tokens after ``text`` and their probabilities, most likely first.

    This is what a language model computes at every step (section 1.1.2): a softmax over the
    vocabulary for the next token given the tokens so far.
    """
    block_size = _check_model(model)
    k = checks.size("k", k)
    ids = checks.tokenizer("tokenizer", tokenizer).encode(checks.text("text", text))
    if not ids:
        raise ValueError(f"text must hold at least one token, got {text!r}")
    ids = ids[-block_size:]  # the model reads at most block_size tokens: keep the latest
    with evaluating(model):
        probs = model(torch.tensor([ids]))[0, -1].float().softmax(-1)
    top = probs.topk(min(k, probs.numel()))
    return [(tokenizer.decode([i]), p) for i, p in zip(top.indices.tolist(), top.values.tolist())]


# --------------------------------------------------------------------------------------------------
# Scoring continuations
# --------------------------------------------------------------------------------------------------


def _continuation_ids(tokenizer, prompt: str, continuation: str, separator: str) -> tuple[list[int], list[int]]:
    """Token ids of the prompt and of what ``separator + continuation`` adds after it."""
    prompt_ids = tokenizer.encode(prompt)
    full = tokenizer.encode(prompt + separator + continuation)
    if full[:len(prompt_ids)] != prompt_ids or len(full) == len(prompt_ids):
        raise ValueError(f"continuation {continuation!r} does not tokenize as new tokens after the prompt "
                         f"(separator {separator!r}); the prompt's last token merges with it")
    unk = _unk_id(tokenizer)
    if unk is not None and unk in full[len(prompt_ids):]:
        raise ValueError(f"continuation {continuation!r} is not in the tokenizer's vocabulary: it would be "
                         "scored as the unknown token, the same for every such word")
    return prompt_ids, full[len(prompt_ids):]


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (T - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompts: Sequence[str], continuations: Sequence[str],
                          separator: str = " ", batch_size: int = 64) -> torch.Tensor:
    """log P(continuation | prompt) for every prompt and candidate: a (len(prompts), len(continuations)) tensor.

    A continuation of several tokens scores the sum of its tokens' log-probabilities (the chain
    rule). When every candidate is one token, one forward pass per prompt reads them all at the
    last position; otherwise each (prompt, candidate) pair is run. Prompts are left-padded in
    batches, with the attention mask keeping padding out.
    """
    block_size = _check_model(model)
    checks.tokenizer("tokenizer", tokenizer)
    prompts = checks.texts("prompts", prompts, allow_empty_texts=False)
    continuations = checks.texts("continuations", continuations, allow_empty_texts=False)
    pad_id = getattr(tokenizer, "pad_token_id", None) or 0
    encoded = [[_continuation_ids(tokenizer, p, c, separator) for c in continuations] for p in prompts]
    longest = max(len(p) + len(c) for row in encoded for p, c in row)
    if longest > block_size:
        raise ValueError(f"a prompt with its continuation is {longest} tokens long; the model reads at most "
                         f"block_size={block_size}: use fewer or shorter demonstrations")
    with evaluating(model):
        if all(len(c) == 1 for row in encoded for _, c in row):
            rows = [row[0][0] for row in encoded]
            candidates = [[c[0] for _, c in row] for row in encoded]
            out = []
            for i in range(0, len(rows), batch_size):
                ids, mask = _left_pad(rows[i:i + batch_size], pad_id)
                logp = model(ids, attention_mask=mask)[:, -1].float().log_softmax(-1)
                out.append(logp.gather(1, torch.tensor(candidates[i:i + batch_size])))
            return torch.cat(out)
        pairs = [(p, c) for row in encoded for p, c in row]
        scores = []
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i:i + batch_size]
            ids, mask = _left_pad([p + c for p, c in chunk], pad_id)
            logp = model(ids, attention_mask=mask)[:, :-1].float().log_softmax(-1)
            token_logp = logp.gather(2, ids[:, 1:, None])[..., 0]  # log P(token t | tokens < t)
            n = torch.tensor([len(c) for _, c in chunk])
            is_cont = torch.arange(ids.shape[1] - 1)[None] >= ids.shape[1] - 1 - n[:, None]
            scores.append((token_logp * is_cont).sum(1))
        return torch.cat(scores).view(len(prompts), len(continuations))


def _label_words(label_words) -> tuple[list, list[str]]:
    """(labels, words) from a {label: word} mapping or a list of words (labels 0..n-1)."""
    if isinstance(label_words, Mapping):
        labels, words = list(label_words), list(label_words.values())
    elif isinstance(label_words, Sequence) and not isinstance(label_words, str):
        labels, words = list(range(len(label_words))), list(label_words)
    else:
        raise TypeError(f"label_words must be a {{label: word}} dict or a list of words, got {label_words!r:.60}")
    if len(words) < 2 or len(set(words)) != len(words):
        raise ValueError(f"label_words must hold at least 2 distinct words, got {words!r}")
    return labels, checks.texts("label_words", words, allow_empty_texts=False)


def classify_by_label_words(model, tokenizer, prompts: Sequence[str], label_words, separator: str = " ") -> list:
    """The label whose word is the most likely continuation of each prompt.

    ``label_words``: a ``{label: word}`` dict (predictions are its keys) or a list of words
    (predictions are their indices).
    """
    labels, words = _label_words(label_words)
    unk = _unk_id(tokenizer)
    unknown = [w for w in words if unk is not None and unk in tokenizer.encode(w)]
    if unknown:
        raise ValueError(f"label_words {unknown!r} are not in the tokenizer's vocabulary (they would all be "
                         "the unknown token, so every prediction the same label); check their spelling and case")
    scores = continuation_logprobs(model, tokenizer, prompts, words, separator)
    return [labels[i] for i in scores.argmax(1).tolist()]


# --------------------------------------------------------------------------------------------------
# k-shot prompts
# --------------------------------------------------------------------------------------------------


def _check_template(template: str) -> str:
    if not isinstance(template, str) or "{input}" not in template or "{output}" not in template:
        raise ValueError(f"template must be a str holding '{{input}}' and '{{output}}', got {template!r}")
    if template.index("{input}") > template.index("{output}"):
        raise ValueError(f"template must put '{{input}}' before '{{output}}', got {template!r}")
    return template


def build_prompt(demonstrations: Sequence[tuple[str, Any]], query: str, label_words,
                 template: str = DEFAULT_TEMPLATE, separator: str = " ") -> str:
    """A k-shot prompt: each demonstration written with ``template``, then the query, cut where its
    output would go.

    ``demonstrations`` are ``(input, label)`` pairs whose output is the label's word. With
    ``template="{input} overall it is {output} ."`` and one demonstration this gives
    ``"the price is good . overall it is great . the size is bad . overall it is"``.
    """
    _check_template(template)
    labels, words = _label_words(label_words)
    lines = []
    for i, demo in enumerate(demonstrations):
        if not isinstance(demo, (tuple, list)) or len(demo) != 2:
            raise ValueError(f"demonstration {i} must be an (input, label) pair, got {demo!r:.60}")
        x, y = demo
        if y not in labels:
            raise ValueError(f"demonstration {i}'s label must be one of {labels}, got {y!r}")
        lines.append(template.format(input=x, output=words[labels.index(y)]))
    lines.append(template[:template.index("{output}")].format(input=checks.text("query", query)).rstrip())
    return separator.join(lines)


def few_shot_accuracy(model, tokenizer, demonstrations: Sequence[tuple[str, Any]],
                      queries: Sequence[tuple[str, Any]], label_words, template: str = DEFAULT_TEMPLATE,
                      separator: str = " ") -> float:
    """Accuracy on ``(input, label)`` ``queries``, each prompted with the same demonstrations before it.

    ``separator`` goes between the demonstrations and the query; the label word always follows the
    prompt after one space.
    """
    if isinstance(queries, str) or not isinstance(queries, Sequence) or not queries:
        raise ValueError(f"queries must be a non-empty list of (input, label) pairs, got {queries!r:.80}")
    prompts = [build_prompt(demonstrations, x, label_words, template, separator) for x, _ in queries]
    predicted = classify_by_label_words(model, tokenizer, prompts, label_words)
    return sum(p == y for p, (_, y) in zip(predicted, queries)) / len(queries)


def order_accuracies(model, tokenizer, demonstrations: Sequence[tuple[str, Any]],
                     queries: Sequence[tuple[str, Any]], label_words, template: str = DEFAULT_TEMPLATE,
                     n_orders: int = 5, seed: int = 0, separator: str = " ") -> list[float]:
    """``few_shot_accuracy`` for ``n_orders`` different orders of the same demonstrations.

    The book notes that reordering a prompt's sentences can change the output (section 3.1.3) and
    lists reordering the demonstrations as a way to make varied prompts (section 3.2.4); the spread
    of these accuracies measures how much. Orders are distinct permutations drawn with ``seed`` (all
    of them when there are fewer than ``n_orders``).
    """
    if isinstance(n_orders, bool) or not isinstance(n_orders, int) or n_orders < 1:
        raise ValueError(f"n_orders must be a positive int, got {n_orders!r}")
    k = len(demonstrations)
    if math.factorial(k) <= n_orders:
        orders = list(itertools.permutations(range(k)))
    else:
        rng, seen, orders = random.Random(seed), set(), []
        while len(orders) < n_orders:
            order = tuple(rng.sample(range(k), k))
            if order not in seen:
                seen.add(order)
                orders.append(order)
    return [few_shot_accuracy(model, tokenizer, [demonstrations[i] for i in order], queries, label_words,
                              template, separator) for order in orders]


# ----------------------------------------------------------------------------------------------
# In-context learning with random label words: the best possible accuracy and simple baselines


def icl_ceiling(shots, pool_size: int | None = None) -> float:
    """The best possible exact label-word accuracy with ``shots`` demonstrations and random label words.

    Every document draws two distinct label words from a pool of ``pool_size`` (default: the toy
    world's :data:`~lmnotes.data.toyworld.ICL_LABEL_POOL`) and each line's class is a fair coin. The
    query's word is known exactly once its class has appeared among the demonstrations (probability
    1 - 0.5^k); otherwise only the other class's word is known (for k >= 1), so the best guess is one
    of the remaining pool_size - 1 words. Hence 1/pool_size at k = 0 and
    1 - 0.5^k + 0.5^k / (pool_size - 1) after that; :func:`icl_baselines` checks it by simulation.
    """
    k = checks.size("shots", shots, low=0)
    pool = len(ICL_LABEL_POOL) if pool_size is None else checks.integer("pool_size", pool_size, low=2)
    if k == 0:
        return 1 / pool
    unseen = 0.5 ** k
    return 1 - unseen + unseen / (pool - 1)


def icl_baselines(documents) -> dict[str, float]:
    """Baselines for ICL documents (``toyworld.icl_documents(..., n_lines=k + 1, p_fixed=0)``).

    Returns the accuracy of predicting the label word of the demonstrations' majority (ties: the
    later one), of the most recent demonstration, and ``ceiling``: the mean of
    :func:`document_ceiling` over exactly these documents (the *realised* ceiling), which equals
    :func:`icl_ceiling` in expectation over the generator's draws.
    """
    from collections import Counter

    documents = _icl_docs(documents)
    majority = recent = 0.0
    for d in documents:
        demos, answer = d.targets[:-1], d.targets[-1]
        if demos:
            counts = Counter(demos)
            top = max(counts.values())
            majority += [w for w in reversed(demos) if counts[w] == top][0] == answer
            recent += demos[-1] == answer
    n = len(documents)
    return {"majority": majority / n, "most_recent": recent / n,
            "ceiling": sum(map(document_ceiling, documents)) / n}


def _icl_docs(documents) -> list[ICLDocument]:
    documents = list(documents) if isinstance(documents, (list, tuple)) else documents
    if not isinstance(documents, list) or not documents or not all(isinstance(d, ICLDocument) for d in documents):
        raise TypeError("documents must be a non-empty list of toyworld ICLDocument")
    return documents


def document_ceiling(document) -> float:
    """The best possible predictor's expected exact accuracy on one ICL document with a random
    mapping: 1 when the query's class occurred among the demonstrations, else one guess among the
    pool words the demonstrations did not rule out (1/12 with none, 1/11 once the other class's word
    is shown)."""
    if not isinstance(document, ICLDocument):
        raise TypeError(f"document must be a toyworld ICLDocument, got {type(document).__name__}")
    demos = document.inputs[:-1]
    if any(x in _same_class(document, document.inputs[-1]) for x in demos):
        return 1.0
    return 1 / (len(ICL_LABEL_POOL) - (1 if demos else 0))


def _same_class(document, word: str) -> tuple[str, ...]:
    classes, _ = ICL_TASKS[document.task]
    return next(tuple(c) for c in classes if word in c)


def reorder_demonstrations(document, order: Sequence[int]) -> ICLDocument:
    """``document`` with its demonstrations in ``order`` (a permutation of 0..k-1; the query stays
    last), the same label words: one of the orders whose effect section 3.1.3 warns about."""
    if not isinstance(document, ICLDocument):
        raise TypeError(f"document must be a toyworld ICLDocument, got {type(document).__name__}")
    k = len(document.inputs) - 1
    if isinstance(order, (str, bytes)) or not isinstance(order, Sequence) or sorted(order) != list(range(k)):
        raise ValueError(f"order must be a permutation of 0..{k - 1} (the document's {k} demonstrations), got {order!r}")
    inputs = [document.inputs[i] for i in order] + [document.inputs[-1]]
    return toyworld.icl_document(document.task, document.label_words, inputs, fixed=document.fixed)


@torch.no_grad()
def nearest_demonstrations(model, tok, query: str, pool: Sequence[str], k: int) -> list[str]:
    """The ``k`` words of ``pool`` nearest to ``query`` by the cosine similarity of ``model``'s input
    embeddings (every word one token), least similar first so that the nearest sits next to the query:
    demonstrations chosen by similarity rather than at random (one simple selector; book section 3.3.1
    points to work on selecting demonstrations but names none). ``query`` itself is
    never chosen."""
    _check_model(model)
    checks.tokenizer("tok", tok)
    query = checks.text("query", query)
    pool = [w for w in dict.fromkeys(checks.texts("pool", pool)) if w != query]
    k = checks.integer("k", k, low=1)
    if k > len(pool):
        raise ValueError(f"k must be at most the {len(pool)} pool words other than the query, got {k}")
    ids = []
    for word in [query, *pool]:
        token = tok.encode(word)
        if len(token) != 1:
            raise ValueError(f"pool and query must be single tokens; {word!r} is {len(token)} tokens")
        ids.append(token[0])
    table = getattr(model, "wte", None)
    if not isinstance(table, torch.nn.Embedding):
        raise TypeError(f"model must have a token embedding table wte, got {type(model).__name__}")
    vectors = torch.nn.functional.normalize(table.weight[ids].float(), dim=-1)
    similarity = vectors[1:] @ vectors[0]
    nearest = similarity.topk(k).indices.tolist()
    return [pool[i] for i in reversed(nearest)]


#: demonstrations counts at which toyworld-gpt's in-context learning is measured
ICL_SHOTS = (0, 1, 2, 4, 8)


@torch.no_grad()
def icl_accuracy(model, tok, shots: int, n: int = 300, seed: int = 12345, documents=None) -> float:
    """Exact label-word accuracy on ICL documents with *random* label mappings (p_fixed=0).

    The prompt holds ``shots`` demonstrations then a query; the model is right when its most
    likely next token is that document's label word. With a random mapping only the
    demonstrations say which word means which class, so 0 shots cannot beat chance (1/12), and
    the best possible accuracy with k shots is ``prompting.icl_ceiling(k)`` = 1 - (10/11) 0.5^k (the
    query's class may not have appeared yet). ``documents`` replaces the drawn ones (e.g. only
    those ``data.overlap.unseen`` keeps).
    """
    checks.model("model", model)
    checks.tokenizer("tok", tok)
    shots = checks.integer("shots", shots, low=0)
    docs = toyworld.icl_documents(n, seed, n_lines=shots + 1, p_fixed=0.0) if documents is None else list(documents)
    if not docs or any(not isinstance(d, ICLDocument) or len(d.inputs) != shots + 1 for d in docs):
        raise ValueError(f"documents must be a non-empty list of ICL documents with {shots} demonstrations each")
    predicted = icl_predictions(model, tok, docs)
    return sum(p == d.response for p, d in zip(predicted, docs)) / len(docs)


@torch.no_grad()
def icl_predictions(model, tok, documents, batch_size: int = 256) -> list[str]:
    """The model's most likely next token (over its whole vocabulary) after each ICL document's
    prompt: the word :func:`icl_accuracy` compares with the document's label word."""
    checks.model("model", model)
    checks.tokenizer("tok", tok)
    docs = _icl_docs(documents)
    batch_size = checks.integer("batch_size", batch_size, low=1)
    rows = [tok.encode(d.prompt) for d in docs]
    if len({len(r) for r in rows}) != 1:
        raise ValueError("documents must all hold the same number of demonstrations (one prompt length)")
    out = []
    with evaluating(model):
        for i in range(0, len(rows), batch_size):
            out += model(torch.tensor(rows[i:i + batch_size]))[:, -1].argmax(-1).tolist()
    return [tok.decode([i]).strip() for i in out]

"""Exercises of the BERT notebook (chapter 1, book sections 1.3-1.4)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, as_sequence, register

# ---------------------------------------------------------------------------------------------
# Counting BERT-base's parameters by hand


def bert_parameter_terms(vocab_size: int = 30522, block_size: int = 512, type_vocab_size: int = 2,
                         n_layer: int = 12, n_embd: int = 768, d_ff: int = 3072) -> dict[str, int]:
    """The parameters of a BERT encoder with its pooler (no pre-training heads), term by term."""
    C, F = n_embd, d_ff
    return {
        "token embeddings": vocab_size * C,
        "position embeddings": block_size * C,
        "segment embeddings": type_vocab_size * C,
        "embedding LayerNorm": 2 * C,
        "attention weights": n_layer * 4 * C * C,  # W_q, W_k, W_v, W_o
        "attention biases": n_layer * 4 * C,
        "feed-forward weights": n_layer * 2 * C * F,
        "feed-forward biases": n_layer * (F + C),
        "block LayerNorms": n_layer * 2 * 2 * C,  # two per block, each a gain and a bias
        "pooler": C * C + C,
    }


def _diagnose_bert_params(answer: Any) -> str | None:
    answer = as_number(answer)
    if answer is None:
        return "expected a number of parameters (an int)"
    terms = bert_parameter_terms()
    want = sum(terms.values())
    if answer == want:
        return None
    missing = {k: v for k, v in terms.items() if answer == want - v}
    if missing:
        return (f"you are {want - answer:,} short: exactly the {next(iter(missing))} "
                "(every piece of the encoder counts)")
    if answer == want - terms["attention biases"] - terms["feed-forward biases"]:
        return "you left out the biases of the linear layers (4 per attention, 2 per feed-forward layer)"
    mlm_head = 768 * 768 + 768 + 2 * 768 + 30522  # transform, its LayerNorm, the output bias (matrix tied)
    if answer == want + mlm_head:
        return "that includes the masked-LM head; count the encoder and pooler only"
    if answer == want - terms["embedding LayerNorm"] - terms["block LayerNorms"]:
        return "you left out the LayerNorms (a gain and a bias of size 768 each, 2 per block + 1 after the embeddings)"
    error = (answer - want) / want
    biggest = sorted(terms.items(), key=lambda kv: -kv[1])[:3]
    hint = ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in biggest)
    return (f"{answer:,.0f} is {100 * error:+.1f}% off. The big terms: {hint}; "
            "then add the biases, LayerNorms and the pooler")


register(Exercise(
    name="bert-base-params",
    prompt=("BERT-base: vocabulary 30,522, 512 positions, 2 segments, 12 layers, width 768, FFN width "
            "3,072. How many parameters do its embeddings, 12 blocks and pooler hold (no MLM/NSP heads)?"),
    diagnose=_diagnose_bert_params,
    solution="\n".join(
        [f"{k:<22} {v:>12,}" for k, v in bert_parameter_terms().items()]
        + [f"{'total':<22} {sum(bert_parameter_terms().values()):>12,}  (about 110 M, the paper's figure)"]),
))


# ---------------------------------------------------------------------------------------------
# Picking the best valid span

SPAN_START = (0.5, 3.2, 0.1, 2.0, -1.0, 0.2)
SPAN_END = (2.5, 0.3, 1.0, -0.5, 0.8, 1.8)
SPAN_MAX_LENGTH = 3


def _spans(max_length: int = SPAN_MAX_LENGTH) -> dict[tuple[int, int], float]:
    """Every valid (start, end) with start <= end < start + max_length, and its score."""
    T = len(SPAN_START)
    return {(i, j): SPAN_START[i] + SPAN_END[j] for i in range(T) for j in range(i, min(T, i + max_length))}


def _diagnose_best_span(answer: Any) -> str | None:
    pair = as_sequence(answer, 2)
    pair = None if pair is None else [as_integer(i) for i in pair]
    if pair is None or None in pair:
        return "expected a pair of token positions (start, end), e.g. (1, 2)"
    start, end = answer = tuple(pair)
    T = len(SPAN_START)
    spans = _spans()
    best = max(spans, key=spans.get)
    if tuple(answer) == best:
        return None
    if not (0 <= start < T and 0 <= end < T):
        return f"positions must lie in 0..{T - 1}"
    if end < start:
        return (f"({start}, {end}) ends before it starts: the separate argmaxes can do that, "
                "which is why the search is constrained to start <= end")
    if end - start + 1 > SPAN_MAX_LENGTH:
        return f"({start}, {end}) is {end - start + 1} tokens long; answers may be at most {SPAN_MAX_LENGTH}"
    return (f"({start}, {end}) is valid and scores {spans[start, end]:.2f}, but another valid span "
            "scores more: try every start i and every end j with i <= j < i + 3")


register(Exercise(
    name="best-span",
    prompt=(f"Start logits {list(SPAN_START)}, end logits {list(SPAN_END)}, answers at most "
            f"{SPAN_MAX_LENGTH} tokens long. Which (start, end) maximises start[i] + end[j] among valid spans?"),
    diagnose=_diagnose_best_span,
    solution=("Separately, argmax start = 1 and argmax end = 0: an end before the start. Without the "
              "length limit (1, 5) = 3.2 + 1.8 = 5.0 would win, but it is 5 tokens long. Scoring every "
              "valid pair: (1, 2) = 3.2 + 1.0 = 4.2 is the best (next: (3, 5) = 3.8, (1, 1) = 3.5)."),
))


# ---------------------------------------------------------------------------------------------
# BERT's masking arithmetic


def _diagnose_mask_counts(answer: Any) -> str | None:
    values = as_sequence(answer, 4)
    values = None if values is None else [as_number(v) for v in values]
    if values is None or None in values:
        return "expected four finite numbers: (selected, [MASK], random, unchanged)"
    answer = values
    selected, masked, randomised, kept = answer
    if abs(selected - 60) > 1e-9:
        if abs(selected - 48) < 1e-9:
            return "48 is the number of [MASK] tokens; first select 15% of all 400 tokens"
        return f"{selected} selected: BERT selects 15% of the 400 tokens"
    want = (48, 6, 6)
    if all(abs(a - b) < 1e-9 for a, b in zip((masked, randomised, kept), want)):
        return None
    if abs(masked + randomised + kept - selected) > 1e-9:
        return "the three rules split the selected tokens: [MASK] + random + unchanged must equal the selected count"
    return "the split of the selected tokens is 80% [MASK], 10% random, 10% unchanged"


register(Exercise(
    name="mask-counts",
    prompt=("A batch holds 400 ordinary tokens. With BERT's recipe, how many are selected for "
            "prediction, and how many of those become [MASK], a random token, or stay unchanged? "
            "Answer (selected, masked, random, unchanged)."),
    diagnose=_diagnose_mask_counts,
    solution="15% of 400 = 60 selected; 80% of 60 = 48 [MASK], 10% = 6 random, 10% = 6 unchanged.",
))

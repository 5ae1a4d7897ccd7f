"""Train small models with a self-supervised objective and measure what they learned (book §1.2).

``lmnotes.pretraining.objectives`` turns text into (input, target) pairs; this module feeds those pairs to the
models of ``lmnotes.models`` through the one training loop (``lmnotes.training.train``) and scores
the results:

* training rows that each hold one document (:func:`document_rows`) and batches for each
  objective: :func:`causal_lm_batches`, :func:`prefix_lm_batches` (one stack with a prefix mask, scored
  by :func:`prefix_lm_loss`; :func:`prefix_lm_arm` trains each arm of notebook 03's comparison), :func:`masked_lm_batches`, :func:`replaced_token_batches`
  (ELECTRA, scored by :func:`detection_loss` / :func:`detection_scores`, with :func:`mlm_sampler`
  as generator) and :func:`seq2seq_batch` / :func:`seq2seq_batches` (encoder-decoder denoising on :func:`denoising_pairs`,
  scored by :func:`seq2seq_loss` / :func:`seq2seq_accuracy`, with :func:`restoration_ceiling` the
  best possible exact score after an order-changing corruption; :func:`row_losses` gives per-row
  losses for paired comparisons);
* BERT's inputs and losses (§1.3.1): sentence pairs with segment ids and IsNext / NotNext labels
  (:func:`sentence_pair_rows`, batched and masked by :func:`bert_batches`), and
  ``Loss_MLM + Loss_NSP`` (:func:`bert_loss`; held-out scores by :func:`bert_scores` on
  :func:`masked_pairs`);
* :func:`sequence_log_prob`: ``log Pr(x)`` of whole sequences under a causal LM, by the chain rule;
* fill-in-the-blank (cloze) items whose answer only the *right* context decides
  (:func:`cloze_items`; :func:`random_blanks` for any word), and three ways to answer them
  (:func:`fill_in_blank`): a bidirectional masked LM reads both sides; a causal LM either predicts
  the blank from its left context, or rescores the whole text once per candidate.

Notebook 02 compares kinds of pre-training (§1.1.1) on one tiny GPT (:func:`tiny_gpt`): from random
weights, after next-word prediction on unlabelled reviews, or after learning the labels of a
*related* task (:func:`pretrained_starts`), each then adapted to review sentiment with the same few
labels (:func:`compare_pretraining`).

Token ids follow the toy world's word tokenizer (``lmnotes.data.toyworld.tokenizer`` and the
bundled ``toyworld-*`` models share it); functions take the ``tokenizer`` or the ids they need.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lmnotes import checks
from lmnotes.data import lm_batch, toyworld
from lmnotes.data.tasks import sentences
from lmnotes.generation import sequence_logprobs
from lmnotes.models import GPT, GPTConfig
from lmnotes.pretraining import finetuning, recall
from lmnotes.pretraining.objectives import IGNORE_INDEX, bert_mask, corrupt, replace_tokens
from lmnotes.repro import seed_everything
from lmnotes.training import History, evaluating, lm_loss, train

# --------------------------------------------------------------------------------------------
# Special ids, one document per row, and batches: one maker per objective


def _token_id(tokenizer, token: str) -> int:
    """The id of a single special token such as "<mask>" under ``tokenizer`` (lmnotes or transformers)."""
    ids = tokenizer.encode(token)
    if len(ids) != 1:
        raise ValueError(f"tokenizer must encode {token!r} as one token, got ids {ids}")
    return ids[0]


@dataclass(frozen=True)
class Specials:
    """The special token ids of the toy world's word tokenizer (see ``lmnotes.tokenization.word``)."""

    pad: int
    unk: int
    bos: int
    eos: int
    mask: int
    sep: int

    @property
    def all(self) -> list[int]:
        """Every special id: never corrupted, never a prediction."""
        return [self.pad, self.unk, self.bos, self.eos, self.mask, self.sep]


def toy_specials(tokenizer) -> Specials:
    """The special ids of a toy-world tokenizer (lmnotes ``WordTokenizer`` or a bundled model's)."""
    checks.tokenizer("tokenizer", tokenizer)
    return Specials(*(_token_id(tokenizer, f"<{name}>") for name in ("pad", "unk", "bos", "eos", "mask", "sep")))


def _generator(seed) -> torch.Generator:
    return torch.Generator().manual_seed(checks.integer("seed", seed))


def document_rows(tokenizer, documents: Sequence[str], block_size: int) -> torch.Tensor:
    """One row per document: ``<eos> document`` right-padded with <pad> to ``block_size`` (N, block_size).

    Each training context then starts at the start of a document (<eos> is the separator the
    bundled toy-world models saw between documents), so a tiny model meets every document whole.
    """
    block_size = checks.size("block_size", block_size, low=2, high=checks.MAX_LENGTH)
    documents = _documents(documents)
    sp = toy_specials(tokenizer)
    rows = torch.full((len(documents), block_size), sp.pad, dtype=torch.long)
    for r, document in enumerate(documents):
        ids = [sp.eos] + tokenizer.encode(document)
        if len(ids) > block_size:
            raise ValueError(f"documents[{r}] has {len(ids) - 1} tokens, more than block_size - 1 = "
                             f"{block_size - 1}: raise block_size or drop long documents")
        rows[r, :len(ids)] = torch.tensor(ids)
    return rows


def _documents(documents) -> list[str]:
    documents = checks.texts("documents", documents)
    if not all(documents):
        raise ValueError("documents must be a non-empty list of non-empty strings")
    return documents


def _check_rows(rows, batch_size, vocab_size: int | None = None) -> int:
    """``rows`` (N, T) token ids (within ``vocab_size`` if given) and ``batch_size``; returns the latter."""
    if vocab_size is not None:
        vocab_size = checks.size("vocab_size", vocab_size, low=2)
    checks.token_ids("rows", rows, ndim=2, vocab_size=vocab_size)
    return checks.size("batch_size", batch_size, high=checks.MAX_EXAMPLES)


def _sample_rows(rows: torch.Tensor, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    return rows[torch.randint(len(rows), (batch_size,), generator=generator)]


def causal_lm_batches(rows: torch.Tensor, *, batch_size: int, pad_id: int,
                      seed: int) -> Callable[[int], dict[str, torch.Tensor]]:
    """``step -> {"input_ids", "labels"}``: random document rows and their next tokens (§1.2.1).

    ``labels[t]`` is ``input_ids[t + 1]``, -100 where that is padding (nothing left to predict).
    """
    batch_size = _check_rows(rows, batch_size)
    pad_id = checks.integer("pad_id", pad_id, low=0)
    generator = _generator(seed)

    def batch(step: int) -> dict[str, torch.Tensor]:
        x = _sample_rows(rows, batch_size, generator)
        y = torch.cat([x[:, 1:], torch.full((len(x), 1), pad_id)], dim=1)
        return {"input_ids": x, "labels": y.masked_fill(y == pad_id, IGNORE_INDEX)}

    return batch


#: the three ways notebook 03 trains one GPT for the prefix-LM comparison (§1.2.3.1): every next token
#: under the causal mask; the continuation only, its prefix read in both directions; the continuation
#: only under the causal mask (the control that changes the loss but not the attention)
PREFIX_LM_ARMS = ("causal LM", "prefix LM", "causal LM, continuation loss")
_SPLIT_SEED_OFFSET = 7919  # the split points' generator is seeded apart from the rows' generator


def _prefix_lm_rows(x: torch.Tensor, prefix: torch.Tensor, pad_id: int, bidirectional: bool) -> dict[str, torch.Tensor]:
    """A batch of rows ``x`` split after ``prefix[r]`` tokens: labels on the continuation only."""
    T = x.shape[1]
    y = torch.cat([x[:, 1:], torch.full((len(x), 1), pad_id)], dim=1)
    before = torch.arange(T)[None] < (prefix[:, None] - 1)  # positions whose next token is in the prefix
    batch = {"input_ids": x, "labels": y.masked_fill((y == pad_id) | before, IGNORE_INDEX), "prefix": prefix}
    if bidirectional:  # query i sees key j when j < prefix or j <= i (objectives.prefix_lm_mask, one per row)
        keys, queries = torch.arange(T)[None, None, :], torch.arange(T)[None, :, None]
        batch["visible"] = (keys < prefix[:, None, None]) | (keys <= queries)
    return batch


def _split_points(rows: torch.Tensor, pad_id: int, generator: torch.Generator) -> torch.Tensor:
    """A prefix length per row, uniform over 1 .. n - 1 for a row of n tokens (at least one to continue)."""
    n = (rows != pad_id).sum(-1)
    if (n < 2).any():
        raise ValueError("every row of rows must hold at least 2 tokens besides padding (a prefix and a continuation)")
    return 1 + (torch.rand(len(rows), generator=generator) * (n - 1)).long()


def prefix_lm_batch(rows: torch.Tensor, *, pad_id: int, seed: int, bidirectional: bool = True) -> dict[str, torch.Tensor]:
    """Every row of ``rows`` (N, T) split at a random point into a prefix and its continuation (§1.2.3.1):
    ``{"input_ids", "labels", "prefix"}``, ``labels`` the next tokens of the continuation only (-100 on
    the prefix and on padding), ``prefix`` the prefix lengths (uniform over 1 .. n - 1 for a row of n
    tokens, drawn from ``seed``). With ``bidirectional`` also ``"visible"`` (N, T, T), the prefix-LM
    attention pattern of each row (the prefix in both directions, the rest causally; pass it to
    ``GPT(..., visible=..., causal=False)``, as :func:`prefix_lm_loss` does); without it the batch
    scores the same continuations under the plain causal mask."""
    _check_rows(rows, 1)
    pad_id = checks.integer("pad_id", pad_id, low=0)
    bidirectional = checks.boolean("bidirectional", bidirectional)
    generator = _generator(checks.integer("seed", seed) + _SPLIT_SEED_OFFSET)
    return _prefix_lm_rows(rows, _split_points(rows, pad_id, generator), pad_id, bidirectional)


def prefix_lm_batches(rows: torch.Tensor, *, batch_size: int, pad_id: int, seed: int,
                      bidirectional: bool = True) -> Callable[[int], dict[str, torch.Tensor]]:
    """``step -> batch`` of :func:`prefix_lm_batch` form: the rows :func:`causal_lm_batches` draws with the
    same ``seed`` (arms compared at one seed read the same documents at every step), each split at a
    random point (T5's prefix LM, as UniLM trains one stack with a prefix mask)."""
    batch_size = _check_rows(rows, batch_size)
    pad_id = checks.integer("pad_id", pad_id, low=0)
    bidirectional = checks.boolean("bidirectional", bidirectional)
    generator = _generator(seed)
    splits = _generator(seed + _SPLIT_SEED_OFFSET)

    def batch(step: int) -> dict[str, torch.Tensor]:
        x = _sample_rows(rows, batch_size, generator)
        return _prefix_lm_rows(x, _split_points(x, pad_id, splits), pad_id, bidirectional)

    return batch


def _lm_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A causal LM's logits on ``batch["input_ids"]``, under the batch's own ``visible`` pattern if it has one."""
    if "visible" in batch:
        return model(batch["input_ids"], visible=batch["visible"], causal=False)
    return model(batch["input_ids"])


def prefix_lm_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of the labelled tokens (the ``loss_fn`` for ``train`` on :func:`prefix_lm_batches`
    or :func:`causal_lm_batches`): a batch with ``"visible"`` is read with that attention pattern."""
    return lm_loss(_lm_logits(model, batch), batch["labels"])


def prefix_lm_arm(arm: str, rows: torch.Tensor, *, config: GPTConfig, batch_size: int, pad_id: int, seed: int,
                  **train_options) -> tuple[GPT, History]:
    """Train a fresh ``GPT(config)`` as one of :data:`PREFIX_LM_ARMS` on document ``rows``: weights from
    ``seed`` (``seed_everything``), batches from ``seed + 1`` (the same documents for every arm);
    ``train_options`` go to ``lmnotes.training.train`` (``steps``, ``lr``, ...). Returns the model and
    its history."""
    arm = checks.choice("arm", arm, PREFIX_LM_ARMS)
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    seed = checks.integer("seed", seed, low=0)
    if arm == "causal LM":
        batches = causal_lm_batches(rows, batch_size=batch_size, pad_id=pad_id, seed=seed + 1)
    else:
        batches = prefix_lm_batches(rows, batch_size=batch_size, pad_id=pad_id, seed=seed + 1,
                                    bidirectional=arm == "prefix LM")
    seed_everything(seed)
    model = GPT(config)
    history = train(model, batches, loss_fn=prefix_lm_loss, seed=seed, **train_options)
    return model, history


def masked_lm_batches(rows: torch.Tensor, *, batch_size: int, vocab_size: int, specials: Specials,
                      mask_rate: float = 0.15, mask_fraction: float = 0.8, random_fraction: float = 0.1,
                      seed: int) -> Callable[[int], dict[str, torch.Tensor]]:
    """``step -> {"input_ids", "labels", "attention_mask"}``: document rows under BERT's masking (§1.2.2).

    ``labels`` hold the original token at the ``mask_rate`` selected positions and -100 elsewhere,
    so ``lmnotes.training.batch_loss`` scores the selected positions only. Of the selected positions
    ``mask_fraction`` become the mask token and ``random_fraction`` a random word (BERT's 80/10/10 by
    default; 1.0 / 0.0 is the all-[MASK] ablation of §1.3.1).
    """
    batch_size = _check_rows(rows, batch_size, vocab_size)
    generator = _generator(seed)

    def batch(step: int) -> dict[str, torch.Tensor]:
        x = _sample_rows(rows, batch_size, generator)
        masked = bert_mask(x, mask_id=specials.mask, vocab_size=vocab_size, special_ids=specials.all,
                           mask_rate=mask_rate, mask_fraction=mask_fraction, random_fraction=random_fraction,
                           generator=generator)
        return {"input_ids": masked.inputs, "labels": masked.labels, "attention_mask": (x != specials.pad).long()}

    return batch


def stream_mlm_batches(ids: torch.Tensor, *, steps: int, batch_size: int, block_size: int, vocab_size: int,
                       specials: Specials, seed: int) -> list[dict[str, torch.Tensor]]:
    """``steps`` masked-LM batches ``{"input_ids", "labels"}`` of random ``block_size`` windows of one
    token stream (``lmnotes.data.lm_batch``) under BERT's 15% / 80-10-10 masking, as ``toyworld-bert``
    was pre-trained; the windows and the masking draw from one generator seeded with ``seed``."""
    steps = checks.size("steps", steps)
    generator = _generator(seed)
    out = []
    for _ in range(steps):
        mk = bert_mask(lm_batch(ids, batch_size, block_size, generator)[0], mask_id=specials.mask,
                       vocab_size=vocab_size, special_ids=specials.all, generator=generator)
        out.append({"input_ids": mk.inputs, "labels": mk.labels})
    return out


def masked_blocks(ids: torch.Tensor, *, block_size: int, vocab_size: int, specials: Specials,
                  seed: int) -> dict[str, torch.Tensor]:
    """One fixed masked-LM batch: ``ids`` cut into consecutive ``block_size`` blocks (a trailing part
    block is dropped), masked once with BERT's recipe (``seed``). For held-out measurements."""
    ids = checks.tensor("ids", ids, ndim=1)
    block_size = checks.size("block_size", block_size, low=2)
    n = len(ids) // block_size
    if n < 1:
        raise ValueError(f"ids must hold at least block_size = {block_size} tokens, got {len(ids)}")
    mk = bert_mask(ids[: n * block_size].view(n, block_size), mask_id=specials.mask, vocab_size=vocab_size,
                   special_ids=specials.all, generator=checks.integer("seed", seed))
    return {"input_ids": mk.inputs, "labels": mk.labels}


@torch.no_grad()
def mlm_scores(model, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """A masked LM on one batch: ``"MLM loss"``, the mean cross-entropy over the selected positions
    (nats per blank), and ``"accuracy"``, the share of those whose top prediction is the original."""
    if not isinstance(batch, dict) or not {"input_ids", "labels"} <= set(batch):
        raise TypeError("batch must be a dict with input_ids and labels (see masked_blocks)")
    logits = model(batch["input_ids"])
    chosen = batch["labels"] != IGNORE_INDEX
    accuracy = (logits.argmax(-1)[chosen] == batch["labels"][chosen]).float().mean().item()
    return {"MLM loss": lm_loss(logits, batch["labels"]).item(), "accuracy": accuracy}


@torch.no_grad()
def corrupted_token_accuracy(model, rows: torch.Tensor, *, vocab_size: int, specials: Specials,
                             mask_fraction: float, random_fraction: float, mask_rate: float = 0.15,
                             seed: int) -> float:
    """How often a masked LM recovers the original token at BERT-selected positions of ``rows``, when
    those positions are corrupted by one rule: ``mask_fraction=1`` all the mask token,
    ``random_fraction=1`` all a random word, both 0 left unchanged (the model then sees the answer,
    as every token of a fine-tuning input is seen). The probe of the pre-train / fine-tune mismatch
    of §1.3.1."""
    m = bert_mask(rows, mask_id=specials.mask, vocab_size=vocab_size, special_ids=specials.all,
                  mask_rate=mask_rate, mask_fraction=mask_fraction, random_fraction=random_fraction,
                  generator=checks.integer("seed", seed))
    chosen = m.labels != IGNORE_INDEX
    attention = (rows != specials.pad).long()
    checks.model_kind("model", checks.model("model", model), "masked", unknown_ok=True)
    with evaluating(model):
        predicted = model(m.inputs, attention_mask=attention).argmax(-1)
    return (predicted[chosen] == m.labels[chosen]).float().mean().item()


# --------------------------------------------------------------------------------------------
# BERT's two losses: masked LM + next sentence prediction (§1.2.2.3, §1.3.1)

#: what :func:`sentence_pair_rows` returns and :func:`bert_batches` reads
PAIR_KEYS = ("input_ids", "token_type_ids", "attention_mask", "next_sentence")


def sentence_pair_rows(tokenizer, documents: Sequence[str], *, block_size: int, seed: int) -> dict[str, torch.Tensor]:
    """BERT's pre-training inputs: one row ``<bos> A <sep> B <sep>`` for each document of two or
    more sentences, right-padded with <pad> to ``block_size``.

    A is the document's first ``k`` sentences (``k`` at random); B is, with probability 1/2, the
    rest of the same document (``next_sentence`` 0, IsNext) and otherwise the sentences of another
    document, never a copy of this one, from a random one on (1, NotNext). A pair too long for
    ``block_size`` loses tokens from the start of A and the end of B, so that an IsNext pair stays
    adjacent. Returns ``input_ids``,
    ``token_type_ids`` (0 on ``<bos> A <sep>``, 1 on ``B <sep>``) and ``attention_mask``, each
    (N, block_size), ``next_sentence`` (N,), and ``sources`` (N, 3): the index in ``documents`` of
    A's document and of B's, and the sentence of B's document that B starts with (0: B starts a
    document), for rules that read where the two segments come from.
    """
    block_size = checks.size("block_size", block_size, low=8, high=checks.MAX_LENGTH)
    documents, rng, sp = _documents(documents), random.Random(checks.integer("seed", seed)), toy_specials(tokenizer)
    split = [[tokenizer.encode(s) for s in sentences(d)] for d in documents]
    usable = [i for i, parts in enumerate(split) if len(parts) >= 2]
    if len({documents[i] for i in usable}) < 2:
        raise ValueError("documents must hold at least two different documents of two or more sentences, got "
                         f"{len({documents[i] for i in usable})}")
    budget = block_size - 3  # room left by <bos> and the two <sep>
    rows = torch.full((len(usable), block_size), sp.pad, dtype=torch.long)
    types, labels = torch.zeros_like(rows), torch.zeros(len(usable), dtype=torch.long)
    sources = torch.zeros(len(usable), 3, dtype=torch.long)
    for r, i in enumerate(usable):
        parts = split[i]
        k = rng.randrange(1, len(parts))
        a = [t for s in parts[:k] for t in s]
        if rng.random() < 0.5:
            j, first = i, k
        else:
            while documents[j := rng.choice(usable)] == documents[i]:  # never a copy of the same text
                pass
            first = rng.randrange(len(split[j]))
            labels[r] = 1
        b = [t for s in split[j][first:] for t in s]
        sources[r] = torch.tensor([i, j, first])
        while len(a) + len(b) > budget:
            if len(a) > len(b):
                a.pop(0)
            else:
                b.pop()
        ids = [sp.bos, *a, sp.sep, *b, sp.sep]
        rows[r, :len(ids)] = torch.tensor(ids)
        types[r, len(a) + 2:len(ids)] = 1
    return {"input_ids": rows, "token_type_ids": types, "attention_mask": (rows != sp.pad).long(),
            "next_sentence": labels, "sources": sources}


def _check_pairs(pairs) -> dict[str, torch.Tensor]:
    if not isinstance(pairs, dict) or not set(PAIR_KEYS) <= set(pairs):
        raise TypeError(f"pairs must be a dict with keys {list(PAIR_KEYS)} (see sentence_pair_rows)")
    checks.token_ids("pairs['input_ids']", pairs["input_ids"], ndim=2)
    return pairs


def _mask_pairs(pairs, vocab_size: int, specials: Specials, generator) -> dict[str, torch.Tensor]:
    masked = bert_mask(pairs["input_ids"], mask_id=specials.mask, vocab_size=vocab_size, special_ids=specials.all,
                       generator=generator)
    return dict({key: pairs[key] for key in PAIR_KEYS}, input_ids=masked.inputs, labels=masked.labels)


def bert_batches(pairs: dict[str, torch.Tensor], *, batch_size: int, vocab_size: int, specials: Specials,
                 seed: int) -> Callable[[int], dict[str, torch.Tensor]]:
    """``step -> {"input_ids", "labels", "token_type_ids", "attention_mask", "next_sentence"}``:
    random rows of :func:`sentence_pair_rows` under BERT's 15% / 80-10-10 masking, for :func:`bert_loss`."""
    pairs = _check_pairs(pairs)
    batch_size = _check_rows(pairs["input_ids"], batch_size, vocab_size)
    generator = _generator(seed)

    def batch(step: int) -> dict[str, torch.Tensor]:
        pick = torch.randint(len(pairs["input_ids"]), (batch_size,), generator=generator)
        return _mask_pairs({key: pairs[key][pick] for key in PAIR_KEYS}, vocab_size, specials, generator)

    return batch


def masked_pairs(pairs: dict[str, torch.Tensor], *, vocab_size: int, specials: Specials,
                 seed: int) -> dict[str, torch.Tensor]:
    """Every row of :func:`sentence_pair_rows` masked once (``seed``): one fixed batch for held-out scores."""
    return _mask_pairs(_check_pairs(pairs), checks.size("vocab_size", vocab_size, low=2), specials,
                       checks.integer("seed", seed))


def _bert_heads(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    h = model.encode(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    return model.mlm_logits(h), model.cls_logits(h)


def bert_loss(model, batch: dict[str, torch.Tensor], nsp: bool = True) -> torch.Tensor:
    """``Loss_BERT = Loss_MLM + Loss_NSP`` (Eq. 1.17) on a :func:`bert_batches` batch.

    ``Loss_MLM`` is the cross-entropy of the original tokens at the selected positions, as the mean
    over them (the book's sum, Eq. 1.18, divided by their number); ``Loss_NSP`` is the cross-entropy
    of IsNext / NotNext read from the ``[CLS]`` vector (Eq. 1.19). ``nsp=False`` keeps the masked-LM
    term alone, on the same inputs: RoBERTa's ablation (§1.3.2).
    """
    mlm, cls = _bert_heads(model, batch)
    loss = lm_loss(mlm, batch["labels"])
    if checks.boolean("nsp", nsp):
        loss = loss + torch.nn.functional.cross_entropy(cls, batch["next_sentence"])
    return loss


@torch.no_grad()
def bert_scores(model, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """A BERT on one :func:`masked_pairs` batch: ``"MLM loss"`` (mean nats per selected token),
    ``"MLM accuracy"`` (the share of selected tokens predicted right) and ``"NSP accuracy"`` (the
    share of rows whose IsNext / NotNext the ``[CLS]`` head gets right)."""
    if not isinstance(batch, dict) or "labels" not in batch:
        raise TypeError("batch must be a masked batch with labels (see masked_pairs)")
    _check_pairs(batch)
    with evaluating(checks.model("model", model)):
        mlm, cls = _bert_heads(model, batch)
    chosen = batch["labels"] != IGNORE_INDEX
    return {"MLM loss": lm_loss(mlm, batch["labels"]).item(),
            "MLM accuracy": (mlm.argmax(-1)[chosen] == batch["labels"][chosen]).float().mean().item(),
            "NSP accuracy": (cls.argmax(-1) == batch["next_sentence"]).float().mean().item()}


def replaced_token_batches(rows: torch.Tensor, *, batch_size: int, vocab_size: int, specials: Specials,
                           sampler=None, rate: float = 0.15, seed: int) -> Callable[[int], dict[str, torch.Tensor]]:
    """``step -> {"input_ids", "labels", "attention_mask"}`` for ELECTRA's discriminator (§1.2.2).

    ``rate`` of each row's tokens are replaced by ``sampler``'s proposals (see
    ``objectives.replace_tokens``); ``labels`` is 1 where a token was replaced and 0 where it is
    original, at *every* real position (-100 on padding): see :func:`detection_loss`.
    """
    batch_size = _check_rows(rows, batch_size, vocab_size)
    generator = _generator(seed)

    def batch(step: int) -> dict[str, torch.Tensor]:
        x = _sample_rows(rows, batch_size, generator)
        corrupted, replaced = replace_tokens(x, vocab_size=vocab_size, sampler=sampler, rate=rate,
                                             special_ids=specials.all, generator=generator)
        real = x != specials.pad
        return {"input_ids": corrupted, "labels": replaced.long().masked_fill(~real, IGNORE_INDEX),
                "attention_mask": real.long()}

    return batch


def detection_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """ELECTRA's discriminator loss: cross-entropy of "replaced or original" at every position, read
    from an ``Encoder``'s token-classification head (``model.tag``, ``num_token_labels=2``)."""
    return lm_loss(model.tag(batch["input_ids"], attention_mask=batch["attention_mask"]), batch["labels"])


@torch.no_grad()
def detection_scores(model, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """How well a discriminator spots replaced tokens in a :func:`replaced_token_batches` batch.

    ``accuracy`` over every real token, ``baseline`` = the accuracy of answering "original" always
    (the share of original tokens), ``recall`` = share of replaced tokens caught, ``precision`` =
    share of tokens flagged as replaced that were, ``F1`` their harmonic mean, and ``balanced
    accuracy`` = the mean of the recall on replaced and on original tokens. When few tokens are
    replaced, accuracy rewards answering "original" everywhere; balanced accuracy does not (0.5 for
    any constant answer), and F1 is 0 for the all-original answer.
    """
    with evaluating(checks.model("model", model)):
        predicted = model.tag(batch["input_ids"], attention_mask=batch["attention_mask"]).argmax(-1)
    return flag_scores(predicted == 1, batch)


def flag_scores(flags: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """The scores of :func:`detection_scores` for any rule's bool ``flags`` (True: "replaced"),
    shaped like ``batch["labels"]`` (a lookup such as ``recall.bigram_flags``, say)."""
    flags = checks.tensor("flags", flags, dtype="bool")
    if flags.shape != batch["labels"].shape:
        raise ValueError(f"flags must be shaped like batch['labels'] {tuple(batch['labels'].shape)}, "
                         f"got {tuple(flags.shape)}")
    real = batch["labels"] != IGNORE_INDEX
    truth, guess = batch["labels"][real] == 1, flags[real]
    caught = (guess & truth).sum().item()
    recall, precision = caught / max(truth.sum().item(), 1), caught / max(guess.sum().item(), 1)
    kept = (~guess & ~truth).sum().item() / max((~truth).sum().item(), 1)
    return {"accuracy": (truth == guess).float().mean().item(), "baseline": (~truth).float().mean().item(),
            "recall": recall, "precision": precision,
            "F1": 2 * recall * precision / (recall + precision) if recall + precision else 0.0,
            "balanced accuracy": (recall + kept) / 2}


def mlm_sampler(model, *, specials: Specials,
                temperature: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]:
    """A masked LM as ELECTRA's generator: a ``sampler`` for ``objectives.replace_tokens`` (§1.2.2).

    The selected positions are replaced by <mask>, the model reads the whole sequence, and a token
    is sampled at each selected position from its prediction (never a special token). Its samples
    fit the context, so they are harder to detect than uniform or unigram ones; a sample that
    equals the original token counts as original, as in ELECTRA.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    never = torch.tensor(specials.all, dtype=torch.long)

    @torch.no_grad()
    def sample(ids: torch.Tensor, selected: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rows, chosen = ids.view(-1, ids.shape[-1]), selected.view(-1, ids.shape[-1])
        logits = model(rows.masked_fill(chosen, specials.mask),
                       attention_mask=(rows != specials.pad).long()).float() / temperature
        logits[..., never] = float("-inf")
        samples = torch.multinomial(logits.softmax(-1).view(-1, logits.shape[-1]), 1, generator=generator)
        return samples.view(ids.shape)

    return sample


def show(tokenizer, ids: torch.Tensor | Sequence[int], sentinel_ids: Sequence[int] = ()) -> str:
    """Token ids as text; ids in ``sentinel_ids`` (beyond the tokenizer's vocabulary) print as <s0>, <s1> ..."""
    checks.tokenizer("tokenizer", tokenizer)
    if isinstance(ids, torch.Tensor):
        ids = checks.tensor("ids", ids, ndim=1, dtype="int").tolist()
    elif isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise TypeError(f"ids must be a 1-d tensor or a list of token ids, got {type(ids).__name__}")
    ids = [checks.integer("ids", i) for i in ids]
    names = {s: f"<s{i}>" for i, s in enumerate(sentinel_ids)}
    return " ".join(names[i] if i in names else tokenizer.decode([i]) for i in ids)


# --------------------------------------------------------------------------------------------
# §1.2.1: the probability of a whole sequence under a causal LM


@torch.no_grad()
def sequence_log_prob(model, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``log Pr(x_1 .. x_T | x_0)`` of each row of ``ids`` (B, T) under causal LM ``model``: shape (B,).

    By the chain rule, ``log Pr(x) = sum_t log Pr(x_t | x_0 .. x_{t-1})``, and one forward pass gives
    every factor at once (the causal mask hides the future). The first token is the given context,
    not predicted. ``attention_mask`` (B, T), 1 on tokens and 0 on right padding, leaves the padding
    out of the sum. The sum is :func:`lmnotes.generation.sequence_logprobs` with every token after the
    first as the "response".
    """
    checks.model_kind("model", checks.model("model", model), "causal", unknown_ok=True)
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"ids must be a (B, T) LongTensor of token ids, got {type(ids).__name__}")
    if ids.dim() != 2 or ids.shape[1] < 2:
        raise ValueError(f"ids must be a (B, T) tensor with T >= 2, got shape {tuple(ids.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones_like(ids)
    elif attention_mask.shape != ids.shape:
        raise ValueError(f"attention_mask must have the shape of ids {tuple(ids.shape)}, "
                         f"got {tuple(attention_mask.shape)}")
    predicted = attention_mask.clone()
    predicted[:, 0] = 0  # x_0 is the context: every later token is scored, as a response after a prompt
    return sequence_logprobs(model, ids, predicted, unknown_ok=True)


# --------------------------------------------------------------------------------------------
# §1.2.2: fill in the blank when only the right context knows the answer

#: blanks that the next word or two decide (local right context)
LOCAL_KINDS = ("relation", "action")
#: blanks that a later repetition of the same word decides (the model must copy it from the right)
COPY_KINDS = ("name", "operand", "list word")
CLOZE_KINDS = LOCAL_KINDS + COPY_KINDS

RELATION_VERBS = ("lives", "works", "has")
#: every word that follows "she"/"he" at the start of a clause in toy-world stories
ACTION_VERBS = ("went", "bought", "met", "gave", "painted", "and", "felt", "was", "slept")


@dataclass(frozen=True)
class ClozeItem:
    """A toy-world text with one word to fill in, and the words to choose it from.

    In every kind the words on the left of the blank leave the answer open and the words on its
    right decide it:

    * ``relation``: "grace ___ in oslo ." (lives / works / has: "in" decides);
    * ``action``: "then she ___ home ." (went, bought, met, ...: "home" decides);
    * ``name``: "___ lives in oslo . grace works as a doctor ." (the later statements name her);
    * ``operand``: "what is ___ + 7 ? 4 + 7 = 1 1 ..." (the worked step repeats the operand);
    * ``list word``: "user : reverse the words : owl ___ . assistant : fig owl ." (the answer lists it).
    """

    kind: str
    words: tuple[str, ...]
    blank: int  # index in ``words`` of the word to fill in
    candidates: tuple[str, ...]

    @property
    def answer(self) -> str:
        return self.words[self.blank]

    def text(self, blank: str = "___") -> str:
        return " ".join(blank if i == self.blank else w for i, w in enumerate(self.words))


def _facts_words(rng: random.Random, world: toyworld.World) -> tuple[toyworld.Person, list[str]]:
    """A facts document like the pre-training corpus's: 2-4 statements about one person, any order."""
    person = rng.choice(world.people)
    statements = [f.text for f in world.facts if f.person == person.name]
    return person, " ".join(rng.sample(statements, rng.randint(2, len(statements)))).split()


def _relation_item(rng: random.Random, world: toyworld.World) -> ClozeItem:
    while True:
        person, words = _facts_words(rng, world)
        verbs = [i for i, w in enumerate(words) if w in RELATION_VERBS and words[i - 1] == person.name]
        if verbs:
            return ClozeItem("relation", tuple(words), rng.choice(verbs), RELATION_VERBS)


def _action_item(rng: random.Random, world: toyworld.World) -> ClozeItem:
    while True:
        words = toyworld.stories(1, rng.randrange(2**31), world)[0].text.split()
        verbs = [i for i in range(1, len(words)) if words[i - 1] in ("she", "he") and words[i] in ACTION_VERBS]
        if verbs:
            return ClozeItem("action", tuple(words), rng.choice(verbs), ACTION_VERBS)


def _name_item(rng: random.Random, world: toyworld.World) -> ClozeItem:
    person, words = _facts_words(rng, world)
    return ClozeItem("name", tuple(words), words.index(person.name), tuple(p.name for p in world.people))


def _operand_item(rng: random.Random, world: toyworld.World) -> ClozeItem:
    problem = toyworld.arithmetic(1, rng.randrange(2**31), n_operands=rng.randint(2, 4), operators="+-")[0]
    return ClozeItem("operand", tuple(problem.text.split()), 2, toyworld.DIGITS)  # "what is [3] + ..."


def _list_word_item(rng: random.Random, world: toyworld.World) -> ClozeItem:
    task = rng.choice(("copy", "reverse", "sort", "uppercase"))
    example = toyworld.instructions(1, rng.randrange(2**31), tasks=task)[0]
    first = 2 + len(example.template.split()) + 1  # "user : TEMPLATE : w1 w2 ..."
    blank = first + rng.randrange(len(example.words))
    return ClozeItem("list word", tuple(example.text.split()), blank, toyworld.INSTRUCTION_WORDS)


_CLOZE_MAKERS = {"relation": _relation_item, "action": _action_item, "name": _name_item,
                 "operand": _operand_item, "list word": _list_word_item}


def cloze_items(n: int, seed: int, kinds: Sequence[str] | str = CLOZE_KINDS,
                world: toyworld.World | None = None) -> list[ClozeItem]:
    """``n`` fill-in-the-blank items, cycling through ``kinds`` (see :class:`ClozeItem`).

    Facts and stories come from ``world`` (default ``toyworld.facts(0)``, the world of the
    pre-training corpus), so the texts agree with what the bundled models read.
    """
    n = checks.size("n", n, high=checks.MAX_EXAMPLES)
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds or any(k not in CLOZE_KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty selection of {CLOZE_KINDS}, got {kinds!r}")
    rng = random.Random(checks.integer("seed", seed))
    world = toyworld.facts(0) if world is None else world
    return [_CLOZE_MAKERS[kinds[i % len(kinds)]](rng, world) for i in range(n)]


def random_blanks(documents: Sequence[str], n: int, seed: int) -> list[ClozeItem]:
    """``n`` items that blank one uniformly chosen word of a uniformly chosen document; the candidates are
    the whole toy-world vocabulary. Unlike :func:`cloze_items`, either side may decide the answer."""
    n = checks.size("n", n, high=checks.MAX_EXAMPLES)
    documents = _documents(documents)
    rng, vocabulary = random.Random(checks.integer("seed", seed)), tuple(toyworld.vocabulary())
    items = []
    for _ in range(n):
        words = tuple(rng.choice(documents).split())
        items.append(ClozeItem("random word", words, rng.randrange(len(words)), vocabulary))
    return items


FILL_METHODS = ("masked", "left", "rescore")


def _encode_items(tokenizer, items: Sequence[ClozeItem]):
    """Right-padded ids (N, L) of "<eos> text" (the document separator starts each item), their
    attention mask and the blanks' positions in them."""
    sp = toy_specials(tokenizer)
    rows = [[sp.eos] + tokenizer.encode(" ".join(item.words)) for item in items]
    for item, row in zip(items, rows):
        if len(row) != len(item.words) + 1:
            raise ValueError(f"tokenizer must give one token per word (a toy-world word tokenizer), "
                             f"got {len(row) - 1} tokens for {len(item.words)} words")
    length = max(map(len, rows))
    ids = torch.full((len(rows), length), sp.pad, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, :len(row)], mask[r, :len(row)] = torch.tensor(row), 1
    blanks = torch.tensor([item.blank + 1 for item in items])
    return ids, mask, blanks


@torch.no_grad()
def fill_in_blank(model, tokenizer, items: Sequence[ClozeItem], method: str) -> list[str]:
    """The word ``model`` picks for each item's blank, among the item's candidates.

    ``method``:

    * ``"masked"``: a bidirectional masked LM reads "<eos> text" with the blank as <mask> and
      picks the most likely candidate there: one pass, both contexts;
    * ``"left"``: a causal LM predicts the blank as the next token after the words on its left,
      the only context a left-to-right model has when it reaches the blank: one pass;
    * ``"rescore"``: a causal LM puts each candidate in the blank and keeps the one whose whole
      text is most likely (:func:`sequence_log_prob`): the right context counts too, at the price
      of one pass per candidate.
    """
    checks.choice("method", method, FILL_METHODS)
    checks.model_kind("model", checks.model("model", model), "masked" if method == "masked" else "causal",
                      unknown_ok=True)
    checks.tokenizer("tokenizer", tokenizer)
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items \
            or not all(isinstance(item, ClozeItem) for item in items):
        raise ValueError("items must be a non-empty list of ClozeItem (see cloze_items)")
    with evaluating(model):
        return _fill_in_blank(model, tokenizer, items, method)


def _fill_in_blank(model, tokenizer, items: Sequence[ClozeItem], method: str) -> list[str]:
    ids, mask, blanks = _encode_items(tokenizer, items)
    rows = torch.arange(len(items))
    if method == "masked":
        masked = ids.index_put((rows, blanks), torch.tensor(toy_specials(tokenizer).mask))
        logits = model(masked, attention_mask=mask)[rows, blanks]
    elif method == "left":
        logits = model(ids)[rows, blanks - 1]
    encoded: dict[tuple[str, ...], torch.Tensor] = {}
    choices = []
    for r, item in enumerate(items):
        if item.candidates not in encoded:
            encoded[item.candidates] = torch.tensor(tokenizer.encode(" ".join(item.candidates)))
        candidates = encoded[item.candidates]
        if method == "rescore":
            filled = ids[r].repeat(len(candidates), 1)
            filled[:, blanks[r]] = candidates
            scores = sequence_log_prob(model, filled, mask[r].repeat(len(candidates), 1))
        else:
            scores = logits[r, candidates]
        choices.append(int(candidates[scores.argmax()]))
    return [tokenizer.decode([c]) for c in choices]


def fill_in_blank_accuracy(model, tokenizer, items: Sequence[ClozeItem], method: str) -> dict[str, float]:
    """Share of items :func:`fill_in_blank` gets right, per kind and over all (key ``"all"``)."""
    picked = fill_in_blank(model, tokenizer, items, method)
    right: dict[str, list[bool]] = {}
    for item, word in zip(items, picked):
        right.setdefault(item.kind, []).append(word == item.answer)
    right["all"] = [ok for oks in right.values() for ok in oks]
    return {kind: sum(oks) / len(oks) for kind, oks in right.items()}


# --------------------------------------------------------------------------------------------
# §1.2.3: encoder-decoder denoising


def denoising_pairs(sequences: Sequence[torch.Tensor], kind: str, *, seed: int,
                    **options) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(corrupted source, target)`` for each sequence under corruption ``kind`` (``objectives.corrupt``).

    ``options`` go to the corruption (``vocab_size``, ``mask_id``, ``sentinel_ids`` ...); sequence i
    is corrupted with generator seed ``seed + i``, so the same seed gives the same pairs.
    """
    seed = checks.integer("seed", seed)
    if isinstance(sequences, (str, bytes, torch.Tensor)) or not isinstance(sequences, Sequence) or not sequences:
        raise TypeError(f"sequences must be a non-empty list of 1-d id tensors, got {type(sequences).__name__}"
                        f"{' (empty)' if isinstance(sequences, Sequence) and not sequences else ''}")
    return [corrupt(ids, kind, generator=seed + i, **options) for i, ids in enumerate(sequences)]


def seq2seq_batch(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], *, bos_id: int, eos_id: int,
                  pad_id: int) -> dict[str, torch.Tensor]:
    """Pad ``(source, target)`` pairs into a teacher-forcing batch for ``EncoderDecoder``.

    Keys as in ``transformers``' encoder-decoders: the encoder reads ``input_ids`` (B, S) with
    ``attention_mask`` (1 on tokens, 0 on padding); the decoder reads ``decoder_input_ids`` =
    ``<bos> target`` and must predict ``labels`` = ``target <eos>`` (-100 on padding). Both sides
    are right-padded, so the causal decoder never sees its padding.
    """
    bos_id, eos_id = checks.integer("bos_id", bos_id, low=0), checks.integer("eos_id", eos_id, low=0)
    pad_id = checks.integer("pad_id", pad_id, low=0)
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence) or not pairs \
            or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
        raise ValueError("pairs must be a non-empty list of (source, target) id tensors")
    B = len(pairs)
    S = max(len(src) for src, _ in pairs)
    T = max(len(tgt) for _, tgt in pairs) + 1
    batch = {"input_ids": torch.full((B, S), pad_id, dtype=torch.long),
             "attention_mask": torch.zeros(B, S, dtype=torch.long),
             "decoder_input_ids": torch.full((B, T), pad_id, dtype=torch.long),
             "labels": torch.full((B, T), IGNORE_INDEX, dtype=torch.long)}
    for b, (src, tgt) in enumerate(pairs):
        batch["input_ids"][b, :len(src)], batch["attention_mask"][b, :len(src)] = src, 1
        batch["decoder_input_ids"][b, :len(tgt) + 1] = torch.cat([torch.tensor([bos_id]), tgt])
        batch["labels"][b, :len(tgt) + 1] = torch.cat([tgt, torch.tensor([eos_id])])
    return batch


def seq2seq_batches(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], *, batch_size: int, bos_id: int, eos_id: int,
                    pad_id: int, seed: int) -> Callable[[int], dict[str, torch.Tensor]]:
    """``step ->`` a :func:`seq2seq_batch` of ``batch_size`` pairs drawn at random (with replacement)
    from ``pairs``: the batches ``train`` takes for an encoder-decoder."""
    batch_size = checks.size("batch_size", batch_size, high=checks.MAX_EXAMPLES)
    seq2seq_batch(pairs[:1], bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)  # the pairs' and ids' checks
    generator = _generator(seed)

    def batch(step: int) -> dict[str, torch.Tensor]:
        chosen = torch.randint(len(pairs), (batch_size,), generator=generator).tolist()
        return seq2seq_batch([pairs[i] for i in chosen], bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)

    return batch


def _seq2seq_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(batch["input_ids"], batch["decoder_input_ids"], batch["attention_mask"])


def seq2seq_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Teacher-forced cross-entropy of the target (the ``loss_fn`` for ``train`` on :func:`seq2seq_batch`)."""
    return lm_loss(_seq2seq_logits(model, batch), batch["labels"])


@torch.no_grad()
def seq2seq_accuracy(model, batch: dict[str, torch.Tensor], per_item: bool = False) -> dict:
    """Teacher-forced reconstruction of a :func:`seq2seq_batch`: ``token_accuracy`` over target tokens
    and ``exact``, the share of sequences with every target token right (with ``per_item=True``
    also ``exact_items``, a bool tensor with one entry per sequence, for standard errors over items).

    When every token is right under teacher forcing, greedy decoding reproduces the target exactly,
    so ``exact`` is the share of texts the model would restore word for word.
    """
    with evaluating(checks.model("model", model)):
        predicted = _seq2seq_logits(model, batch).argmax(-1)
    counts = batch["labels"] != IGNORE_INDEX
    right = (predicted == batch["labels"]) & counts
    exact = right.sum(-1) == counts.sum(-1)
    out = {"token_accuracy": right.sum().item() / counts.sum().item(), "exact": exact.float().mean().item()}
    if checks.boolean("per_item", per_item):
        out["exact_items"] = exact
    return out


@torch.no_grad()
def row_losses(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each row's mean cross-entropy (nats per labelled token) under teacher forcing, shape (B,): for
    a causal LM on a :func:`causal_lm_batches` or :func:`prefix_lm_batch` batch (with its ``visible``
    pattern when it has one), or an encoder-decoder on a :func:`seq2seq_batch` (it has ``decoder_input_ids``). Per-row losses let two models scored on the same rows be compared
    with a paired standard error."""
    if not isinstance(batch, dict) or not {"input_ids", "labels"} <= set(batch):
        raise TypeError("batch must be a dict with input_ids and labels (causal_lm_batches or seq2seq_batch)")
    with evaluating(checks.model("model", model)):
        logits = _seq2seq_logits(model, batch) if "decoder_input_ids" in batch else _lm_logits(model, batch)
    labels = batch["labels"]
    counted = labels != IGNORE_INDEX
    if not counted.any(-1).all():
        raise ValueError("batch['labels'] must label at least one token in every row")
    nats = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=IGNORE_INDEX,
                                             reduction="none")
    return nats.sum(-1) / counted.sum(-1)


def restoration_ceiling(sequences: Sequence[torch.Tensor], kind: str, *, separator_id: int) -> float:
    """The best possible share of ``sequences`` restored exactly after an order-changing corruption,
    for texts whose sentences come in a uniformly random order (the toy world's facts documents).

    ``"sentence_permutation"`` keeps every sentence (each ending at ``separator_id``) but shuffles
    them: any distinct ordering of the same sentences is as likely to be the original, so the best a
    model can do on a text is one over their number (k! for k different sentences).
    ``"document_rotation"`` keeps the cyclic order but starts at a random token: the original
    starts at one of the sentence starts, so the best is one over the number of distinct rotations
    that start a sentence. Returns the mean over ``sequences`` of that best chance: a score above it
    on unseen texts can only come from having read them."""
    kind = checks.choice("kind", kind, ("sentence_permutation", "document_rotation"))
    separator_id = checks.integer("separator_id", separator_id, low=0)
    if isinstance(sequences, (str, bytes, torch.Tensor)) or not isinstance(sequences, Sequence) or not sequences:
        raise TypeError("sequences must be a non-empty list of 1-d id tensors")
    chances = []
    for ids in sequences:
        sentences = recall.statements(checks.token_ids("sequences", ids, ndim=1).tolist(), end=separator_id)
        if kind == "sentence_permutation":
            count = math.factorial(len(sentences))
            for n in Counter(sentences).values():
                count //= math.factorial(n)
        else:
            count = len({tuple(sentences[i:] + sentences[:i]) for i in range(len(sentences))})
        chances.append(1 / count)
    return sum(chances) / len(chances)


# --------------------------------------------------------------------------------------------
# Kinds of pre-training compared on one tiny GPT (notebook 02, book §1.1.1)

#: the tiny GPT of notebook 02's section 2: LLaMA form, 2 layers, width 64, context 64
TINY_GPT = dict(n_layer=2, n_embd=64, block_size=64)
#: how each starting point is adapted: (start, finetune mode), compared at the same labelled set
ADAPTATIONS = {"no pre-training": ("random", "full"),
               "self-supervised, probe": ("self-supervised", "probe"),
               "self-supervised, fine-tuned": ("self-supervised", "full"),
               "supervised (related task), probe": ("supervised", "probe"),
               "supervised (related task), fine-tuned": ("supervised", "full")}


def tiny_gpt(tokenizer, seed: int):
    """A freshly initialised ``TINY_GPT`` (seeded) for ``tokenizer``'s vocabulary."""
    checks.tokenizer("tokenizer", tokenizer)
    torch.manual_seed(checks.integer("seed", seed))
    return GPT(GPTConfig.preset("llama-tiny", vocab_size=len(tokenizer), **TINY_GPT))


def pretrained_starts(tokenizer, texts: Sequence[str], source: Sequence[tuple[str, str]], source_labels: Sequence[str],
                      *, seed: int, ssl_steps: int = 150, source_steps: int = 300) -> dict:
    """The three starting points of notebook 02's comparison, each a ``tiny_gpt(tokenizer, seed)``:

    * ``"random"``: as initialised, no pre-training;
    * ``"self-supervised"``: after ``ssl_steps`` of next-word prediction on ``texts`` (each followed
      by <eos>; batches of 32 blocks of 64 tokens, lr 3e-3, 10 warmup steps), no label seen;
    * ``"supervised"``: after ``source_steps`` of classification (``finetuning.finetune``, batch 32,
      lr 3e-3) on the labelled ``source`` examples of a related task, its head then dropped.

    Also returns ``"history"`` (the next-word run) and ``"source_model"`` (the source-task classifier,
    to score on its own task)."""
    texts = checks.texts("texts", texts)
    ssl_steps, source_steps = checks.size("ssl_steps", ssl_steps), checks.size("source_steps", source_steps)
    eos = _token_id(tokenizer, "<eos>")
    stream = torch.tensor([i for t in texts for i in tokenizer.encode(t) + [eos]])
    ssl = tiny_gpt(tokenizer, seed)
    gen = _generator(seed)
    history = train(ssl, lambda step: lm_batch(stream, 32, TINY_GPT["block_size"], gen), steps=ssl_steps, lr=3e-3,
                    warmup=min(10, ssl_steps // 2), seed=seed, progress=False)
    ssl.eval()
    source_model = finetuning.finetune(tiny_gpt(tokenizer, seed), tokenizer, source, task="classify",
                                       labels=source_labels, mode="full", steps=source_steps, lr=3e-3,
                                       batch_size=32, seed=seed)
    return {"random": tiny_gpt(tokenizer, seed), "self-supervised": ssl, "supervised": source_model.model.backbone,
            "history": history, "source_model": source_model}


def compare_pretraining(starts: dict, tokenizer, labelled: Sequence, evaluation: Sequence, *, labels: Sequence[str],
                        settings: dict[str, dict], seed: int, adaptations: Sequence[str] | None = None) -> dict[str, float]:
    """Accuracy on ``evaluation`` of each of ``ADAPTATIONS`` (all by default, or those named in
    ``adaptations``): its start from ``pretrained_starts`` adapted to the ``labelled`` examples by
    ``finetuning.finetune`` in its mode with ``settings[name]`` (``lr``, ``steps``), seed ``seed``."""
    names = list(ADAPTATIONS) if adaptations is None else [checks.choice("adaptations", a, ADAPTATIONS)
                                                           for a in adaptations]
    out = {}
    for name in names:
        start, mode = ADAPTATIONS[name]
        if name not in settings:
            raise ValueError(f"settings must give {name!r} its lr and steps, got keys {sorted(settings)}")
        tuned = finetuning.finetune(starts[start], tokenizer, labelled, task="classify", labels=labels, mode=mode,
                                    seed=seed, **settings[name])
        out[name] = finetuning.evaluate(tuned, evaluation)["accuracy"]
    return out

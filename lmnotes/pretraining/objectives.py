"""Self-supervised pre-training objectives as pure data transforms (book §1.2 and §1.3).

Every objective of the book's §1.2 "Self-supervised Pre-training Tasks" turns unlabeled text into
(input, target) pairs by *corrupting* part of the text and asking a model to predict what was there.
The functions here build those pairs from token ids; the models in ``lmnotes.models`` consume them.

==========================  =================================  =========================================
objective                   functions                          book
==========================  =================================  =========================================
decoder-only (causal) LM    ``causal_lm_targets``,             §1.2.1 Decoder-only Pre-training
                            ``causal_mask``
masked LM (BERT)            ``bert_mask``                      §1.2.2 masked language modeling, §1.3.1
permuted LM (XLNet)         ``random_order``,                  §1.2.2 permuted language modeling
                            ``permutation_masks``,
                            ``check_permutation_masks``
replaced-token detection    ``replace_tokens``,                §1.2.2 pre-training encoders as
(ELECTRA)                   ``unigram_probs``                  classifiers
span corruption (T5)        ``span_corrupt``, ``span_restore``  §1.2.3 Encoder-Decoder Pre-training
BART corruptions            ``token_masking``,                 §1.2.3 denoising training
                            ``token_deletion``,
                            ``text_infilling``,
                            ``sentence_permutation``,
                            ``document_rotation``,
                            ``corrupt`` (by name)
==========================  =================================  =========================================

Conventions, shared by every function:

* Token ids are ``torch.long`` tensors. The element-wise objectives (causal LM, BERT masking,
  ELECTRA) take a 1-D sequence ``(T,)`` or a batch ``(B, T)``; the encoder-decoder corruptions change
  the length of a sequence, so they take one 1-D sequence and return 1-D tensors.
* Randomness comes only from ``generator``: a ``torch.Generator`` or an ``int`` seed. The same
  generator state gives the same output, always.
* Vocabulary facts are passed explicitly: ``vocab_size``, ``mask_id``, ``sentinel_ids``,
  ``separator_id`` and ``special_ids`` (the ids that must never be corrupted: [CLS], [SEP], padding,
  BOS/EOS ...).
* "Choose 15% of the tokens" means exactly ``max(1, round(n * rate))`` of the ``n`` corruptible
  tokens of each sequence, as Google's BERT data pipeline does (a Bernoulli draw per token, as in
  ``transformers``' collator, gives the same rate on average but a varying count).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from lmnotes import checks

IGNORE_INDEX = -100  # the label that cross-entropy losses skip (``lm_loss`` in lmnotes.training)

Sampler = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


# --------------------------------------------------------------------------------------------
# Input checks shared by every objective


def _check_special_ids(special_ids: Iterable[int], vocab_size: int, name: str = "special_ids") -> list[int]:
    return [checks.token_id(f"every entry of {name}", value, vocab_size) for value in special_ids]


def _generator(generator) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    try:
        return torch.Generator().manual_seed(checks.integer("generator", generator))
    except TypeError:
        raise TypeError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}") from None


def _reject_present(ids: torch.Tensor, token_id: int, name: str) -> None:
    if (ids == token_id).any():
        raise ValueError(f"ids already contain {name}={token_id}: corrupted text would be ambiguous; "
                         "corrupt the original text instead")


# --------------------------------------------------------------------------------------------
# §1.2.1 Decoder-only pre-training: predict every token from the tokens on its left


def causal_lm_targets(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``ids`` (``(T,)`` or ``(B, T)``) into ``(inputs, targets)`` for next-token prediction.

    ``inputs = ids[..., :-1]`` and ``targets = ids[..., 1:]``: the model reading ``inputs[..., :t+1]``
    must predict ``targets[..., t]``, the token that came next (§1.2.1). Both have length ``T - 1``.
    """
    ids = checks.token_ids("ids", ids, min_length=2)
    return ids[..., :-1], ids[..., 1:]


def causal_mask(T: int) -> torch.Tensor:
    """The ``(T, T)`` causal attention mask: ``mask[i, j]`` is True when position i may attend to j.

    Lower triangular: each position sees itself and everything on its left, nothing on its right
    (§1.2.1). The permuted-LM content mask of the identity order equals this mask.
    """
    T = checks.size("T", T)
    return torch.ones(T, T, dtype=torch.bool).tril()


def prefix_lm_mask(T: int, prefix: int) -> torch.Tensor:
    """The ``(T, T)`` attention mask of a prefix language model (§1.2.3): the first ``prefix``
    positions see one another in both directions (like an encoder), the rest see the whole prefix
    and, causally, everything up to themselves (like a decoder). ``prefix=0`` gives the causal
    mask, ``prefix=T`` full attention."""
    T = checks.size("T", T)
    prefix = checks.integer("prefix", prefix, low=0, high=T)
    mask = causal_mask(T)
    mask[:, :prefix] = True
    return mask


# --------------------------------------------------------------------------------------------
# Choosing which positions to corrupt (shared by BERT, ELECTRA and the BART corruptions)


def _num_to_corrupt(n: torch.Tensor, rate: float) -> torch.Tensor:
    """How many of ``n`` corruptible tokens to corrupt: ``round(n * rate)``, at least 1, at most ``n``.

    ``round`` halves to even, like Python's and T5's; "at least 1" gives every sequence a target.
    """
    return (n.double() * rate).round().long().clamp(min=1).minimum(n)


def _choose_positions(ids: torch.Tensor, rate: float, special_ids: list[int],
                      generator: torch.Generator) -> torch.Tensor:
    """Bool mask of exactly ``_num_to_corrupt(n, rate)`` uniformly chosen non-special positions per row.

    Each row gets random scores; special positions score above every other; the k lowest-ranked
    positions of a row are chosen.
    """
    candidates = ~torch.isin(ids, torch.tensor(special_ids, dtype=torch.long))
    if not candidates.any():
        raise ValueError("ids hold only special tokens (special_ids): nothing can be corrupted")
    scores = torch.rand(ids.shape, generator=generator).masked_fill(~candidates, 2.0)
    ranks = scores.argsort(dim=-1).argsort(dim=-1)  # rank of each position within its row
    return ranks < _num_to_corrupt(candidates.sum(dim=-1, keepdim=True), rate)


def _allowed_tokens(vocab_size: int, excluded: list[int]) -> torch.Tensor:
    """The ids a random replacement may take: the whole vocabulary minus ``excluded``."""
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[torch.tensor(excluded, dtype=torch.long)] = False
    if not allowed.any():
        raise ValueError(f"every id of the vocabulary (vocab_size={vocab_size}) is special: "
                         "no token is left to draw replacements from")
    return allowed.nonzero().squeeze(1)


# --------------------------------------------------------------------------------------------
# §1.2.2 / §1.3.1 Masked language modeling, BERT's recipe


@dataclass(frozen=True)
class MaskedLM:
    """The result of :func:`bert_mask`: model inputs, labels, and which rule hit each position.

    All tensors have the shape of the ``ids`` given. ``labels`` holds the original token at the
    selected positions and ``-100`` (ignored by the loss) elsewhere. Exactly one of ``masked``,
    ``randomised`` and ``kept`` is True at each selected position.
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    masked: torch.Tensor  # replaced by [MASK] (80% of the selected positions)
    randomised: torch.Tensor  # replaced by a random non-special token (10%)
    kept: torch.Tensor  # left unchanged, but still predicted (10%)

    @property
    def selected(self) -> torch.Tensor:
        """Positions the model must predict (where ``labels != -100``)."""
        return self.masked | self.randomised | self.kept


def bert_mask(ids: torch.Tensor, *, mask_id: int, vocab_size: int, special_ids: Iterable[int] = (),
              mask_rate: float = 0.15, mask_fraction: float = 0.8, random_fraction: float = 0.1,
              generator: torch.Generator | int) -> MaskedLM:
    """BERT's masked-LM corruption (§1.2.2, §1.3.1) of ``ids``, a sequence ``(T,)`` or a batch ``(B, T)``.

    1. Select ``mask_rate`` (15%) of the non-special positions of each sequence.
    2. Of the selected positions, ``mask_fraction`` (80%) become ``mask_id``, ``random_fraction`` (10%)
       become a random token (uniform over the vocabulary minus ``special_ids`` and ``mask_id``), and
       the rest (10%) stay unchanged.
    3. The model predicts the original token at every selected position, including unchanged ones:
       since any token might be a target, it must build a good representation of every token, and
       it does not learn that [MASK] (absent at fine-tuning time) is the only thing worth predicting.
    """
    vocab_size = checks.size("vocab_size", vocab_size, low=2)
    ids = checks.token_ids("ids", ids, vocab_size=vocab_size)
    mask_id = checks.token_id("mask_id", mask_id, vocab_size)
    special = _check_special_ids(special_ids, vocab_size)
    mask_rate = checks.probability("mask_rate", mask_rate, open_low=True, open_high=True)
    mask_fraction = checks.probability("mask_fraction", mask_fraction)
    random_fraction = checks.probability("random_fraction", random_fraction)
    if mask_fraction + random_fraction > 1:
        raise ValueError(f"mask_fraction + random_fraction must be at most 1, "
                         f"got {mask_fraction} + {random_fraction}")
    _reject_present(ids, mask_id, "mask_id")
    generator = _generator(generator)

    selected = _choose_positions(ids, mask_rate, special, generator)
    rule = torch.rand(ids.shape, generator=generator)  # one uniform draw decides each position's rule
    masked = selected & (rule < mask_fraction)
    randomised = selected & (rule >= mask_fraction) & (rule < mask_fraction + random_fraction)
    kept = selected & ~masked & ~randomised

    replacements = _allowed_tokens(vocab_size, special + [mask_id])
    random_tokens = replacements[torch.randint(len(replacements), ids.shape, generator=generator)]
    inputs = ids.masked_fill(masked, mask_id)
    inputs = torch.where(randomised, random_tokens, inputs)
    labels = ids.masked_fill(~selected, IGNORE_INDEX)
    return MaskedLM(inputs=inputs, labels=labels, masked=masked, randomised=randomised, kept=kept)


# --------------------------------------------------------------------------------------------
# §1.2.2 Permuted language modeling (XLNet): autoregression in a random factorisation order


def random_order(T: int, generator: torch.Generator | int) -> torch.Tensor:
    """A uniformly random factorisation order: a permutation of ``0 .. T-1`` (LongTensor ``(T,)``)."""
    T = checks.size("T", T)
    return torch.randperm(T, generator=_generator(generator))


def _check_order(order) -> torch.Tensor:
    order = torch.as_tensor(order)
    if order.dtype != torch.long or order.dim() != 1 or order.numel() == 0:
        raise ValueError(f"order must be a non-empty 1-D sequence of ints (a permutation of 0..T-1), "
                         f"got {order.dtype} tensor of shape {tuple(order.shape)}")
    T = order.numel()
    if not torch.equal(order.sort().values, torch.arange(T)):
        raise ValueError(f"order must be a permutation of 0..{T - 1} (each position exactly once), "
                         f"got {order.tolist()}")
    return order


def permutation_masks(order) -> tuple[torch.Tensor, torch.Tensor]:
    """The two ``(T, T)`` attention masks of permuted LM for a factorisation ``order`` (§1.2.2).

    The text stays in its natural order; only the order of *prediction* is permuted. With
    ``order = [o_0, o_1, ...]``, position ``o_k`` is predicted from the tokens at ``o_0 .. o_{k-1}``.
    Rows are the attending position, columns the attended one, True = may attend:

    * the **query stream** predicts the token at ``o_k``: it knows the position ``o_k`` but may not
      see its content, so it attends to exactly ``o_0 .. o_{k-1}`` (the first position of the order
      attends to nothing: its row is all False and it is predicted from its position alone);
    * the **content stream** carries each token's representation for later steps, so it also sees
      itself: ``o_0 .. o_k``.

    For the identity order the content mask is :func:`causal_mask` and the query mask is the causal
    mask without its diagonal.
    """
    order = _check_order(order)
    step = torch.empty_like(order)
    step[order] = torch.arange(len(order))  # step[p] = when position p is predicted
    content = step[None, :] <= step[:, None]
    query = step[None, :] < step[:, None]
    return content, query


def check_permutation_masks(order, content_mask: torch.Tensor, query_mask: torch.Tensor) -> list[str]:
    """Problems with a pair of permuted-LM masks for ``order``, as sentences; ``[]`` when they are right.

    Checks the definition row by row: position ``order[k]`` must see exactly the positions in
    ``order[:k]`` in the query stream, and those plus itself in the content stream.
    """
    order = _check_order(order).tolist()
    T = len(order)
    problems = []
    for name, mask, sees_itself in (("content", content_mask, True), ("query", query_mask, False)):
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (T, T):
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            problems.append(f"{name} mask must be a ({T}, {T}) bool tensor, got {shape}")
            continue
        for k, position in enumerate(order):
            want = set(order[:k + 1] if sees_itself else order[:k])
            got = set(mask[position].nonzero().flatten().tolist())
            if got != want:
                problems.append(f"{name} mask row {position} (step {k} of the order) sees {sorted(got)}, "
                                f"should see exactly {sorted(want)}")
    return problems


# --------------------------------------------------------------------------------------------
# §1.2.2 Pre-training encoders as classifiers: ELECTRA's replaced-token detection


def unigram_probs(corpus_ids: torch.Tensor, *, vocab_size: int,
                  special_ids: Iterable[int] = ()) -> torch.Tensor:
    """Unigram distribution ``(vocab_size,)`` of ``corpus_ids``, special tokens excluded.

    A cheap stand-in for ELECTRA's generator network: replacements drawn from it are plausible
    words, not plausible *in context*, so they are easier to detect than a real generator's.
    """
    vocab_size = checks.size("vocab_size", vocab_size, low=2)
    corpus_ids = checks.token_ids("corpus_ids", corpus_ids, vocab_size=vocab_size)
    special = _check_special_ids(special_ids, vocab_size)
    counts = torch.bincount(corpus_ids.flatten(), minlength=vocab_size).double()
    counts[torch.tensor(special, dtype=torch.long)] = 0
    if counts.sum() == 0:
        raise ValueError("corpus_ids holds only special tokens: the unigram distribution is empty")
    return counts / counts.sum()


def replace_tokens(ids: torch.Tensor, *, vocab_size: int, sampler: torch.Tensor | Sampler | None = None,
                   rate: float = 0.15, special_ids: Iterable[int] = (),
                   generator: torch.Generator | int) -> tuple[torch.Tensor, torch.Tensor]:
    """ELECTRA's corruption (§1.2.2): replace ``rate`` of the tokens with sampled ones.

    Returns ``(corrupted, is_replaced)``, both shaped like ``ids`` (``(T,)`` or ``(B, T)``). The
    discriminator is a classifier trained to predict ``is_replaced`` at *every* position, so every
    token gives a training signal (BERT learns only from the 15% it masked).

    ``sampler`` proposes the replacements at the selected positions:

    * ``None``: uniform over the vocabulary minus ``special_ids``;
    * a probability tensor ``(vocab_size,)``, e.g. :func:`unigram_probs` (special ids get probability 0);
    * a callable ``sampler(ids, selected, generator) -> LongTensor shaped like ids``, e.g. a small
      masked-LM generator that samples at the ``selected`` positions, as in ELECTRA.

    A sampled token that happens to equal the original counts as *original* (``is_replaced`` False),
    as in ELECTRA: ``is_replaced == (corrupted != ids)`` always.
    """
    vocab_size = checks.size("vocab_size", vocab_size, low=2)
    ids = checks.token_ids("ids", ids, vocab_size=vocab_size)
    special = _check_special_ids(special_ids, vocab_size)
    rate = checks.probability("rate", rate, open_low=True, open_high=True)
    generator = _generator(generator)

    selected = _choose_positions(ids, rate, special, generator)
    if sampler is None:
        allowed = _allowed_tokens(vocab_size, special)
        proposals = allowed[torch.randint(len(allowed), ids.shape, generator=generator)]
    elif isinstance(sampler, torch.Tensor):
        if sampler.shape != (vocab_size,) or not sampler.is_floating_point() or (sampler < 0).any():
            raise ValueError(f"sampler as a tensor must hold non-negative probabilities of shape "
                             f"({vocab_size},), got {sampler.dtype} of shape {tuple(sampler.shape)}")
        probs = sampler.clone()
        probs[torch.tensor(special, dtype=torch.long)] = 0
        if probs.sum() <= 0:
            raise ValueError("sampler gives no probability to any non-special token")
        proposals = torch.multinomial(probs, ids.numel(), replacement=True, generator=generator)
        proposals = proposals.view(ids.shape)
    elif callable(sampler):
        proposals = sampler(ids, selected, generator)
        if not isinstance(proposals, torch.Tensor) or proposals.dtype != torch.long \
                or proposals.shape != ids.shape:
            raise ValueError(f"sampler must return a LongTensor of shape {tuple(ids.shape)}, got "
                             f"{getattr(proposals, 'dtype', type(proposals).__name__)} "
                             f"of shape {tuple(getattr(proposals, 'shape', ()))}")
        checks.token_ids("the sampler's output", proposals, vocab_size=vocab_size)
    else:
        raise TypeError(f"sampler must be None, a probability tensor or a callable, "
                        f"got {type(sampler).__name__}")

    corrupted = torch.where(selected, proposals, ids)
    return corrupted, corrupted != ids


# --------------------------------------------------------------------------------------------
# §1.2.3 Encoder-decoder pre-training: T5's span corruption


def _random_segmentation(num_items: int, num_segments: int, generator: torch.Generator) -> torch.Tensor:
    """Split ``num_items`` into ``num_segments`` non-empty parts, every split equally likely (T5)."""
    is_first = torch.zeros(num_items, dtype=torch.bool)
    cuts = torch.randperm(num_items - 1, generator=generator)[:num_segments - 1] + 1
    is_first[0] = True
    is_first[cuts] = True
    segment = is_first.cumsum(0) - 1
    return torch.bincount(segment, minlength=num_segments)


def span_noise_mask(length: int, *, noise_density: float = 0.15, mean_span_length: float = 3.0,
                    generator: torch.Generator | int) -> torch.Tensor:
    """T5's ``random_spans_noise_mask``: a bool ``(length,)`` mask of the tokens to drop.

    Deterministic counts, random layout, as in the T5 code (Raffel et al. 2020):

    * noise tokens ``= round(length * noise_density)``, clamped to ``[1, length - 1]``;
    * noise spans ``= max(1, round(noise tokens / mean_span_length))`` (capped, here, at the number of
      kept tokens so that every kept run between two spans is non-empty);
    * noise and kept tokens are each cut into that many non-empty runs by a uniformly random
      segmentation, and the runs alternate kept, noise, kept, noise ... so the sequence always
      starts with kept text and, as in T5, always ends with a noise span.
    """
    length = checks.size("length", length, low=2)  # span corruption needs a kept and a noise token
    noise_density = checks.probability("noise_density", noise_density, open_low=True, open_high=True)
    mean_span_length = checks.real("mean_span_length", mean_span_length, low=1)
    generator = _generator(generator)

    num_noise = min(max(round(length * noise_density), 1), length - 1)
    num_kept = length - num_noise
    num_spans = min(max(round(num_noise / mean_span_length), 1), num_kept)
    noise_lengths = _random_segmentation(num_noise, num_spans, generator)
    kept_lengths = _random_segmentation(num_kept, num_spans, generator)
    run_lengths = torch.stack([kept_lengths, noise_lengths], dim=1).flatten()  # kept, noise, kept ...
    is_noise_run = torch.arange(2 * num_spans) % 2 == 1
    return is_noise_run.repeat_interleave(run_lengths)


def span_corrupt(ids: torch.Tensor, *, sentinel_ids: Iterable[int], vocab_size: int,
                 noise_density: float = 0.15, mean_span_length: float = 3.0,
                 generator: torch.Generator | int) -> tuple[torch.Tensor, torch.Tensor]:
    """T5's span corruption (§1.2.3) of one sequence ``ids`` ``(T,)``: ``(encoder_input, decoder_target)``.

    Each noise span (see :func:`span_noise_mask`) is replaced in the encoder input by one sentinel,
    the i-th span by ``sentinel_ids[i]``; the decoder target lists the spans, each after its sentinel:

        original        Thank you for inviting me to your party last week
        encoder input   Thank you <s0> me to your party <s1>
        decoder target  <s0> for inviting <s1> last week

    (T5 itself then appends EOS to both; append it yourself if your model needs one. T5's own
    sentinels are ``<extra_id_0> = vocab_size - 1``, ``<extra_id_1> = vocab_size - 2``, ...)
    :func:`span_restore` rebuilds the original from the two.
    """
    vocab_size = checks.size("vocab_size", vocab_size, low=2)
    ids = checks.token_ids("ids", ids, vocab_size=vocab_size, ndim=1, min_length=2)
    sentinels = _check_special_ids(sentinel_ids, vocab_size, name="sentinel_ids")
    if len(set(sentinels)) != len(sentinels):
        raise ValueError(f"sentinel_ids must be distinct, got {sentinels}")
    present = torch.isin(ids, torch.tensor(sentinels, dtype=torch.long))
    if present.any():
        _reject_present(ids, int(ids[present][0]), "a sentinel id")
    noise = span_noise_mask(len(ids), noise_density=noise_density, mean_span_length=mean_span_length,
                            generator=generator)
    span_starts = noise & ~torch.cat([torch.tensor([False]), noise[:-1]])
    num_spans = int(span_starts.sum())
    if num_spans > len(sentinels):
        raise ValueError(f"this corruption has {num_spans} noise spans but sentinel_ids holds only "
                         f"{len(sentinels)} ids: pass at least {num_spans}")

    encoder_input, decoder_target = [], []
    span = -1
    for token, is_noise, starts in zip(ids.tolist(), noise.tolist(), span_starts.tolist()):
        if starts:
            span += 1
            encoder_input.append(sentinels[span])
            decoder_target.append(sentinels[span])
        (decoder_target if is_noise else encoder_input).append(token)
    return torch.tensor(encoder_input), torch.tensor(decoder_target)


def span_restore(encoder_input: torch.Tensor, decoder_target: torch.Tensor, *,
                 sentinel_ids: Iterable[int]) -> torch.Tensor:
    """Undo :func:`span_corrupt`: put each span of ``decoder_target`` back in place of its sentinel.

    Also useful to read a model's predicted target: the reconstruction is exact when the target is.
    """
    encoder_input = checks.token_ids("encoder_input", encoder_input, ndim=1)
    decoder_target = checks.token_ids("decoder_target", decoder_target, ndim=1)
    sentinels = list(sentinel_ids)
    spans, current = {}, None
    for token in decoder_target.tolist():
        if token in sentinels:
            current = spans.setdefault(token, [])
        elif current is None:
            raise ValueError(f"decoder_target must start with a sentinel, "
                             f"got {decoder_target.tolist()[:5]} ...")
        else:
            current.append(token)
    restored = []
    for token in encoder_input.tolist():
        if token in sentinels:
            if token not in spans:
                raise ValueError(f"sentinel {token} appears in encoder_input but not in decoder_target")
            restored.extend(spans[token])
        else:
            restored.append(token)
    return torch.tensor(restored, dtype=torch.long)


# --------------------------------------------------------------------------------------------
# §1.2.3 Denoising training: BART's corruptions. Each returns (corrupted input, target = original).


def _bart_checks(ids, vocab_size, special_ids) -> tuple[torch.Tensor, list[int]]:
    vocab_size = checks.size("vocab_size", vocab_size, low=2)
    ids = checks.token_ids("ids", ids, vocab_size=vocab_size, ndim=1)
    return ids, _check_special_ids(special_ids, vocab_size)


def token_masking(ids: torch.Tensor, *, mask_id: int, vocab_size: int, rate: float = 0.15,
                  special_ids: Iterable[int] = (),
                  generator: torch.Generator | int) -> tuple[torch.Tensor, torch.Tensor]:
    """BART token masking: ``rate`` of the non-special tokens become ``mask_id`` (no 80/10/10 here).

    ``rate=1`` masks every token: the encoder then sees only the length, and a model trained to
    restore the text is trained as a language model (book §1.2.3.1)."""
    ids, special = _bart_checks(ids, vocab_size, special_ids)
    mask_id = checks.token_id("mask_id", mask_id, vocab_size)
    rate = checks.probability("rate", rate, open_low=True)
    _reject_present(ids, mask_id, "mask_id")
    chosen = _choose_positions(ids, rate, special, _generator(generator))
    return ids.masked_fill(chosen, mask_id), ids.clone()


def token_deletion(ids: torch.Tensor, *, vocab_size: int, rate: float = 0.15, special_ids: Iterable[int] = (),
                   generator: torch.Generator | int) -> tuple[torch.Tensor, torch.Tensor]:
    """BART token deletion: ``rate`` of the non-special tokens are removed.

    Unlike masking, the model must also work out *where* input is missing.
    """
    ids, special = _bart_checks(ids, vocab_size, special_ids)
    rate = checks.probability("rate", rate, open_low=True, open_high=True)
    chosen = _choose_positions(ids, rate, special, _generator(generator))
    return ids[~chosen], ids.clone()


def text_infilling(ids: torch.Tensor, *, mask_id: int, vocab_size: int, rate: float = 0.3,
                   poisson_lambda: float = 3.0, special_ids: Iterable[int] = (),
                   generator: torch.Generator | int) -> tuple[torch.Tensor, torch.Tensor]:
    """BART text infilling: spans with Poisson(``poisson_lambda``) lengths each become one ``mask_id``.

    Exactly ``round(n * rate)`` of the ``n`` non-special tokens are hidden (BART used 30%, lambda 3).
    Span lengths are drawn until they cover that budget (the last one is cut to fit); each span
    starts at a random not-yet-hidden token and stops early at a special or already hidden token.
    A zero-length span inserts a [MASK] that hides nothing, and a span that touches an earlier one
    merges with it under one [MASK]: the model must learn how many tokens each [MASK] stands for.
    """
    ids, special = _bart_checks(ids, vocab_size, special_ids)
    mask_id = checks.token_id("mask_id", mask_id, vocab_size)
    rate = checks.probability("rate", rate, open_low=True, open_high=True)
    # bounded above: an infinite mean would draw spans forever; at 1000 every span already covers
    # the whole budget of any sequence a notebook uses
    poisson_lambda = checks.real("poisson_lambda", poisson_lambda, low=0, high=1000, low_open=True)
    _reject_present(ids, mask_id, "mask_id")
    generator = _generator(generator)

    candidates = ~torch.isin(ids, torch.tensor(special, dtype=torch.long))
    budget = int(_num_to_corrupt(candidates.sum(), rate))
    if budget == 0:
        raise ValueError("ids hold only special tokens (special_ids): nothing can be corrupted")
    T = len(ids)
    hidden = torch.zeros(T, dtype=torch.bool)
    insert_mask_before = torch.zeros(T, dtype=torch.bool)
    while budget > 0:
        length = int(torch.poisson(torch.tensor(float(poisson_lambda)), generator=generator))
        free = (candidates & ~hidden).nonzero().flatten()
        start = int(free[torch.randint(len(free), (1,), generator=generator)])
        if length == 0:
            insert_mask_before[start] = True
            continue
        end = start
        while end < T and end - start < min(length, budget) and candidates[end] and not hidden[end]:
            end += 1
        hidden[start:end] = True
        budget -= end - start

    corrupted = []
    for i, token in enumerate(ids.tolist()):
        if insert_mask_before[i]:
            corrupted.append(mask_id)
        if not hidden[i]:
            corrupted.append(token)
        elif i == 0 or not hidden[i - 1]:  # one [MASK] per run of hidden tokens
            corrupted.append(mask_id)
    return torch.tensor(corrupted, dtype=torch.long), ids.clone()


def _split_ends(ids: torch.Tensor, special: list[int]) -> tuple[int, int]:
    """``(start, stop)`` of the text between the special tokens that open and close ``ids``.

    Those (BOS/[CLS] ... EOS, padding) stay in place while the text between them is rearranged.
    """
    is_special = torch.isin(ids, torch.tensor(special, dtype=torch.long)).tolist()
    lead = next((i for i, s in enumerate(is_special) if not s), len(ids))
    trail = next((i for i, s in enumerate(reversed(is_special)) if not s), 0)
    return lead, len(ids) - trail


def sentence_permutation(ids: torch.Tensor, *, separator_id: int, vocab_size: int,
                         special_ids: Iterable[int] = (),
                         generator: torch.Generator | int) -> tuple[torch.Tensor, torch.Tensor]:
    """BART sentence permutation: the sentences (each ending at ``separator_id``) are shuffled.

    Special tokens opening or closing the sequence (from ``special_ids``, other than the separator)
    stay in place; a last sentence without a separator is a sentence too.
    """
    ids, special = _bart_checks(ids, vocab_size, special_ids)
    separator_id = checks.token_id("separator_id", separator_id, vocab_size)
    generator = _generator(generator)
    start, stop = _split_ends(ids, [s for s in special if s != separator_id])
    body = ids[start:stop]
    if len(body) == 0:
        raise ValueError("ids hold only special tokens (special_ids): nothing can be permuted")
    ends = (body == separator_id).nonzero().flatten() + 1
    sizes = torch.diff(torch.cat([torch.tensor([0]), ends, torch.tensor([len(body)])]))
    sentences = [s for s in body.split(sizes.tolist()) if len(s)]
    shuffled = [sentences[i] for i in torch.randperm(len(sentences), generator=generator).tolist()]
    return torch.cat([ids[:start], *shuffled, ids[stop:]]), ids.clone()


def document_rotation(ids: torch.Tensor, *, vocab_size: int, special_ids: Iterable[int] = (),
                      generator: torch.Generator | int) -> tuple[torch.Tensor, torch.Tensor]:
    """BART document rotation: the text is rotated to begin at a uniformly chosen token.

    The model must find the true start of the document. Special tokens opening or closing the
    sequence (BOS/EOS) stay in place, as in BART's implementation.
    """
    ids, special = _bart_checks(ids, vocab_size, special_ids)
    start, stop = _split_ends(ids, special)
    body = ids[start:stop]
    if len(body) == 0:
        raise ValueError("ids hold only special tokens (special_ids): nothing can be rotated")
    first = int(torch.randint(len(body), (1,), generator=_generator(generator)))
    return torch.cat([ids[:start], body.roll(-first), ids[stop:]]), ids.clone()


CORRUPTIONS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
    "span_corruption": span_corrupt,
    "token_masking": token_masking,
    "token_deletion": token_deletion,
    "text_infilling": text_infilling,
    "sentence_permutation": sentence_permutation,
    "document_rotation": document_rotation,
}


def corrupt(ids: torch.Tensor, kind: str, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the encoder-decoder corruption named ``kind`` (a key of ``CORRUPTIONS``) to ``ids``.

    ``options`` go to that function (``vocab_size``, ``generator``, ``mask_id`` ...). Returns its
    ``(encoder input, decoder target)``; the target is the original text except for
    ``"span_corruption"``, whose target is the sentinel-delimited spans.
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"kind must be one of {sorted(CORRUPTIONS)}, got {kind!r}")
    return CORRUPTIONS[kind](ids, **options)

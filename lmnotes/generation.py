"""Decoding: greedy, sampling (temperature, top-k, top-p), repetition penalty, beam search, stop
tokens/strings and the KV cache (book sections 2.1, 2.3.1 and 5).

Each step turns the model's logits for the last position into the next token. The pieces are small
functions a notebook can show: ``apply_repetition_penalty`` -> divide by ``temperature`` ->
``top_k_filter`` -> ``top_p_filter`` (together ``sampling_distribution``) -> sample (or argmax).
``generate`` and ``beam_search`` work with the course's ``GPT`` and ``EncoderDecoder`` and with any
``transformers`` causal LM.

With ``use_cache=True`` only the newest token is fed to the model at each step, its keys and values
joining the cache; without it the whole sequence is recomputed. Both give the same tokens. The cache
can be rolled back (speculative decoding, ``lmnotes.inference.speculative``, drops rejected drafts).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lmnotes import checks
from lmnotes.models.encdec import EncoderDecoder
from lmnotes.models.gpt import GPT
from lmnotes.models.layers import KVCache
from lmnotes.training import evaluating


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row, set the rest to -inf (Fan et al. 2018)."""
    logits = checks.finite_tensor("logits", checks.tensor("logits", logits, dtype="float"), allow_inf=True)
    k = min(checks.size("top_k", k), logits.shape[-1])
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter (Holtzman et al. 2020): keep the smallest set of most likely tokens whose
    probabilities add up to at least ``p``; the most likely token is always kept."""
    p = checks.probability("top_p", p, open_low=True)
    logits = checks.finite_tensor("logits", checks.tensor("logits", logits, dtype="float"), allow_inf=True)
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative - sorted_logits.softmax(dim=-1) >= p  # mass before this token already >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sampling_distribution(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                          top_p: float | None = None) -> torch.Tensor:
    """The distribution a sampling step draws from: softmax(logits / ``temperature``) after the
    ``top_k`` and ``top_p`` filters, one row per sequence. ``generate`` samples from it; speculative
    decoding (``lmnotes.inference.speculative``) compares the target's and the draft's."""
    temperature = checks.positive("temperature", temperature)
    logits = checks.tensor("logits", logits, dtype="float") / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits.softmax(-1)


def apply_repetition_penalty(logits: torch.Tensor, idx: torch.Tensor, penalty: float,
                             mask: torch.Tensor | None = None) -> torch.Tensor:
    """CTRL's repetition penalty (Keskar et al. 2019): the logit of every token already in ``idx`` is
    divided by ``penalty`` if positive and multiplied by it if negative. ``mask`` (0 = padding)
    leaves padding out."""
    penalty = checks.positive("repetition_penalty", penalty)
    logits = checks.tensor("logits", logits, ndim=2, dtype="float")
    checks.finite_tensor("logits", logits, allow_inf=True)
    idx = checks.token_ids("idx", idx, ndim=2, vocab_size=logits.shape[-1])
    if idx.shape[0] != logits.shape[0]:
        raise ValueError(f"idx and logits must have one row per sequence, got {idx.shape[0]} and {logits.shape[0]} rows")
    if mask is not None:
        mask = checks.mask("mask", mask, tuple(idx.shape))
    if penalty == 1.0:
        return logits
    if mask is not None:  # point padding at the last token, which is penalised anyway
        idx = torch.where(mask, idx, idx[:, -1:])
    seen = logits.gather(-1, idx)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(-1, idx, seen)


def _is_hf(model) -> bool:
    tf = sys.modules.get("transformers")
    return tf is not None and isinstance(model, tf.PreTrainedModel)


class _Stepper:
    """Calls a model one decoding step at a time and returns the last position's logits (N, V).

    Ours and transformers' models are called the way each expects; ``use_cache`` feeds only the new
    token after the first step. When a GPT with learned positions runs past its context, the
    sequence is cropped to the last ``block_size`` tokens and recomputed (no cache) from then on,
    the same with or without cache.
    """

    def __init__(self, model, use_cache: bool, memory=None, src_mask=None):
        self.model, self.use_cache, self.memory, self.src_mask = model, use_cache, memory, src_mask
        self.hf = _is_hf(model)
        self.cache = None
        if self.hf:
            params = inspect.signature(model.forward).parameters
            self.cache_arg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.2x
        elif use_cache:
            self.cache = KVCache()
        self.crop = model.config.block_size if isinstance(model, GPT) and model.config.pos == "learned" else None

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor | None, last: int | None = None) -> torch.Tensor:
        """The last position's logits (N, V), or with ``last`` the last ``last`` positions' (N, last, V);
        those positions must not be cached yet (speculative decoding verifies several drafted tokens in
        one call after ``rollback``)."""
        if self.crop is not None and ids.shape[1] > self.crop:
            ids, self.cache = ids[:, -self.crop:], None
            mask = None if mask is None else mask[:, -self.crop:]
        past = self._cached_len()
        new = ids[:, past:]
        if self.hf:
            kwargs = {"attention_mask": mask, "use_cache": self.use_cache}
            if mask is not None:  # left padding: positions count from the first real token
                kwargs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)[:, past:]
            if self.use_cache:
                kwargs[self.cache_arg] = self.cache
            out = self.model(input_ids=new, **kwargs)
            if self.use_cache:
                self.cache = out["cache"] if "cache" in out else out["past_key_values"]
            logits = out.logits
        elif isinstance(self.model, EncoderDecoder):
            logits = self.model.decode(new, self.memory, self.src_mask, mask, self.cache)
        else:
            logits = self.model(new, mask, self.cache)
        if last is None:
            return logits[:, -1]
        if last > logits.shape[1]:
            raise ValueError(f"last={last} positions asked for, but only {logits.shape[1]} were not cached")
        return logits[:, -last:]

    def _cached_len(self) -> int:
        if self.cache is None:
            return 0
        return self.cache.get_seq_length() if self.hf else len(self.cache)

    def rollback(self, length: int) -> None:
        """Forget the cached keys and values beyond the first ``length`` tokens (the drafted tokens
        that speculative decoding rejected); the next call recomputes from there."""
        if self._cached_len() <= length:
            return
        if self.hf:  # a negative count removes that many tokens, in transformers 4 and 5 alike
            self.cache.crop(length - self._cached_len())
        else:
            self.cache.crop(length)

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` of the cache (and encoder output) for beam search."""
        if self.cache is not None:
            (self.cache.reorder_cache if self.hf else self.cache.reorder)(index)
        if self.memory is not None:
            self.memory = self.memory.index_select(0, index)
            self.src_mask = None if self.src_mask is None else self.src_mask.index_select(0, index)


def _check_inputs(model, idx, max_new_tokens, attention_mask):
    if not (isinstance(model, (GPT, EncoderDecoder)) or _is_hf(model)):
        raise TypeError(f"model must be an lmnotes GPT/EncoderDecoder or a transformers causal LM, "
                        f"got {type(model).__name__}")
    idx = checks.token_ids("idx", idx, ndim=2)
    checks.size("max_new_tokens", max_new_tokens, low=0)
    if attention_mask is not None:
        attention_mask = checks.mask("attention_mask", attention_mask, tuple(idx.shape))
        if bool((attention_mask.sum(1) == 0).any()):
            raise ValueError("attention_mask marks no real token in some row: every prompt needs at least one")


def _left_align(idx: torch.Tensor, mask: torch.Tensor | None):
    """Move each row's padding (mask 0) to its left, keeping the real tokens in order, so that the
    last position of every row is its last real token. Left-padded rows come back unchanged;
    right-padded ones (the way ``pad_collate`` builds batches) are left-padded."""
    if mask is None:
        return idx, None
    mask = mask.long()
    order = (mask != 0).long().argsort(dim=1, stable=True)  # padding first, real tokens in order
    return idx.gather(1, order), mask.gather(1, order)


def _stop_checker(stop, tokenizer, prompt_len: int):
    """A function ids -> (N,) bool, True where a row has just produced a stop token or string."""
    if stop is None:
        return None
    stop = [stop] if isinstance(stop, (int, str)) else list(stop)
    ids = [s for s in stop if isinstance(s, int) and not isinstance(s, bool)]
    strings = [s for s in stop if isinstance(s, str)]
    if len(ids) + len(strings) != len(stop):
        raise ValueError(f"stop must be token ids (int) or strings, got {stop!r}")
    if strings and tokenizer is None:
        raise ValueError(f"stop strings {strings!r} need a tokenizer (anything with .decode(list_of_ids))")

    def check(seq: torch.Tensor) -> torch.Tensor:
        hit = torch.isin(seq[:, -1], torch.tensor(ids, device=seq.device)) if ids else torch.zeros(
            len(seq), dtype=torch.bool, device=seq.device)
        if strings:
            texts = [tokenizer.decode(row[prompt_len:].tolist()) for row in seq]
            hit |= torch.tensor([any(s in t for s in strings) for t in texts], device=seq.device)
        return hit

    return check


def sampling_options(do_sample: bool, temperature: float, top_k: int | None, top_p: float | None):
    """``generate``'s sampling arguments checked and returned as (do_sample, temperature, top_k, top_p):
    top-k, top-p and a temperature other than 1 need ``do_sample=True``, which they shape."""
    do_sample, temperature = checks.boolean("do_sample", do_sample), checks.positive("temperature", temperature)
    if top_k is not None:
        top_k = checks.size("top_k", top_k)
    if top_p is not None:
        top_p = checks.probability("top_p", top_p, open_low=True)
    if not do_sample and (top_k is not None or top_p is not None or temperature != 1.0):
        raise ValueError("top_k, top_p and temperature shape sampling; greedy decoding and beam search "
                         "would ignore them: pass do_sample=True (or leave them out)")
    return do_sample, temperature, top_k, top_p


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    num_beams: int = 1,
    stop: int | str | Sequence[int | str] | None = None,
    tokenizer=None,
    pad_token_id: int = 0,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    attention_mask: torch.Tensor | None = None,
    encoder_input_ids: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
    on_token: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Continue each row of ``idx`` (B, T) by up to ``max_new_tokens`` tokens; returns (B, T + n).

    Greedy by default; ``do_sample=True`` samples from softmax(logits / temperature) after the
    top-k / top-p filters, drawing from ``generator`` for repeatable samples; ``num_beams > 1`` runs
    ``beam_search``. ``stop``: token ids and/or strings (strings need ``tokenizer``); a row that
    produced one is finished and padded with ``pad_token_id`` until every row is. Batches of prompts
    of different lengths come with ``attention_mask`` (B, T) marking real tokens by 1; right-padded
    rows are left-aligned first (their padding moved to the left), so the output rows are always
    left-padded prompts followed by the continuation. ``top_k``/``top_p`` need ``do_sample=True``
    (greedy decoding would ignore them); the repetition penalty is not part of beam search.
    For an ``EncoderDecoder``, ``idx`` is the decoder's start and ``encoder_input_ids`` the source.
    The model runs in eval mode (dropout off) and is put back in its previous mode afterwards.
    ``on_token(tokens)`` is called with each step's new tokens (B, 1) as soon as they are chosen, for
    streaming them or timing each step (``lmnotes.inference.metrics.TokenClock``); not with beam search.
    """
    _check_inputs(model, idx, max_new_tokens, attention_mask)
    if on_token is not None and not callable(on_token):
        raise TypeError(f"on_token must be a function of the new tokens (B, 1), got {type(on_token).__name__}")
    do_sample, temperature, top_k, top_p = sampling_options(do_sample, temperature, top_k, top_p)
    use_cache = checks.boolean("use_cache", use_cache)
    repetition_penalty = checks.positive("repetition_penalty", repetition_penalty)
    num_beams = checks.size("num_beams", num_beams, high=1000)
    pad_token_id = checks.integer("pad_token_id", pad_token_id, low=0)
    if num_beams > 1:
        if do_sample:
            raise ValueError("num_beams > 1 is beam search, which does not sample; use do_sample=False")
        if repetition_penalty != 1.0:
            raise ValueError("repetition_penalty is not applied by beam search; use num_beams=1 "
                             "or repetition_penalty=1.0")
        if on_token is not None:
            raise ValueError("on_token is not called by beam search (its best tokens are known only at the end); "
                             "use num_beams=1")
        return beam_search(model, idx, max_new_tokens, num_beams, stop=stop, tokenizer=tokenizer,
                           use_cache=use_cache, attention_mask=attention_mask,
                           encoder_input_ids=encoder_input_ids, encoder_attention_mask=encoder_attention_mask)
    check_stop = _stop_checker(stop, tokenizer, idx.shape[1])
    idx, mask = _left_align(idx, attention_mask)
    with evaluating(model):
        step = _stepper(model, use_cache, encoder_input_ids, encoder_attention_mask)
        finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            logits = step(idx, mask).float()
            logits = apply_repetition_penalty(logits, idx, repetition_penalty, mask)
            if do_sample:
                probs = sampling_distribution(logits, temperature, top_k, top_p)
                next_token = torch.multinomial(probs, 1, generator=generator)
            else:
                next_token = logits.argmax(-1, keepdim=True)
            next_token = next_token.masked_fill(finished[:, None], pad_token_id)
            if on_token is not None:
                on_token(next_token)
            idx = torch.cat([idx, next_token], dim=1)
            if mask is not None:
                mask = torch.cat([mask, torch.ones_like(next_token)], dim=1)
            if check_stop is not None:
                finished |= check_stop(idx)
                if finished.all():
                    break
        return idx


def _stepper(model, use_cache, encoder_input_ids, encoder_attention_mask) -> _Stepper:
    if isinstance(model, EncoderDecoder):
        if encoder_input_ids is None:
            raise ValueError("an EncoderDecoder needs encoder_input_ids (the source sequence) to generate")
        return _Stepper(model, use_cache, model.encode(encoder_input_ids, encoder_attention_mask),
                        encoder_attention_mask)
    if encoder_input_ids is not None:
        raise ValueError(f"encoder_input_ids is only for an EncoderDecoder, not {type(model).__name__}")
    return _Stepper(model, use_cache)


@torch.no_grad()
def beam_search(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    num_beams: int,
    *,
    length_penalty: float = 1.0,
    stop: int | str | Sequence[int | str] | None = None,
    tokenizer=None,
    use_cache: bool = True,
    attention_mask: torch.Tensor | None = None,
    encoder_input_ids: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Keep the ``num_beams`` most likely continuations (sum of log-probabilities) at every step and
    return the best one per row, (B, T + n). A beam that produced a stop token or string is finished:
    it repeats its last token at no cost, and finished beams are ranked by score / length **
    ``length_penalty`` (length = generated tokens up to the stop). Without stops this is exactly
    transformers' beam search with ``do_sample=False``. Right-padded prompts are left-aligned first,
    as in ``generate``."""
    _check_inputs(model, idx, max_new_tokens, attention_mask)
    num_beams = checks.size("num_beams", num_beams, high=1000)
    length_penalty = checks.real("length_penalty", length_penalty)
    use_cache = checks.boolean("use_cache", use_cache)
    idx, attention_mask = _left_align(idx, attention_mask)
    B, T = idx.shape
    check_stop = _stop_checker(stop, tokenizer, T)
    with evaluating(model):
        if encoder_input_ids is not None:
            encoder_input_ids = encoder_input_ids.repeat_interleave(num_beams, 0)
            if encoder_attention_mask is not None:
                encoder_attention_mask = encoder_attention_mask.repeat_interleave(num_beams, 0)
        step = _stepper(model, use_cache, encoder_input_ids, encoder_attention_mask)
        ids = idx.repeat_interleave(num_beams, 0)  # (B * num_beams, T): each prompt once per beam
        mask = None if attention_mask is None else attention_mask.long().repeat_interleave(num_beams, 0)
        scores = torch.zeros(B, num_beams, device=idx.device)
        scores[:, 1:] = float("-inf")  # at first all beams are equal: expand only one
        finished = torch.zeros(B * num_beams, dtype=torch.bool, device=idx.device)
        lengths = torch.zeros(B * num_beams, device=idx.device)
        for _ in range(max_new_tokens):
            logp = step(ids, mask).float().log_softmax(-1)  # (B * num_beams, V)
            V = logp.shape[-1]
            frozen = torch.full_like(logp, float("-inf")).scatter(-1, ids[:, -1:], 0.0)
            logp = torch.where(finished[:, None], frozen, logp)
            candidates = (scores.view(-1, 1) + logp).view(B, num_beams * V)
            scores, flat = candidates.topk(num_beams, dim=-1)  # best num_beams of num_beams * V
            rows = (torch.arange(B, device=idx.device)[:, None] * num_beams + flat // V).view(-1)
            ids = torch.cat([ids[rows], (flat % V).view(-1, 1)], dim=1)
            mask = None if mask is None else torch.cat([mask[rows], torch.ones_like(mask[:, :1])], dim=1)
            finished, lengths = finished[rows], lengths[rows] + (~finished[rows]).float()
            step.reorder(rows)
            if check_stop is not None:
                finished |= check_stop(ids)
                if finished.all():
                    break
        final = scores / lengths.view(B, num_beams).clamp(min=1) ** length_penalty
        best = final.argmax(-1) + torch.arange(B, device=idx.device) * num_beams
        return ids[best]


# ----------------------------------------------------------------------------------------------
# Measuring what decoding produced: diversity, repetition, and how likely a model finds it


def _ngrams(tokens: Sequence, n: int) -> list[tuple]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(sequences: Sequence[Sequence], n: int = 2) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams, pooled over ``sequences`` (each a
    list of tokens, or a string read as characters). 1.0 = no n-gram repeats; 0.0 = no n-grams."""
    n = checks.size("n", n)
    grams = [g for s in checks.sequences("sequences", sequences) for g in _ngrams(s, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(sequences: Sequence[Sequence], n: int = 4) -> float:
    """Share of the n-grams of each sequence that already occurred earlier in the same sequence,
    pooled over ``sequences``: 0.0 = nothing repeats, near 1.0 = a loop (degenerate greedy text)."""
    n = checks.size("n", n)
    repeated = total = 0
    for s in checks.sequences("sequences", sequences):
        seen = set()
        for g in _ngrams(s, n):
            repeated += g in seen
            seen.add(g)
            total += 1
    return repeated / total if total else 0.0


@torch.no_grad()
def continuation_nll(model: nn.Module, ids: torch.Tensor, prompt_len: int) -> float:
    """Mean negative log-likelihood (nats per token) that ``model`` gives the tokens of ``ids``
    (B, T) after the first ``prompt_len``: the quality half of a diversity-quality trade-off."""
    checks.model_kind("model", model, "causal", unknown_ok=True)
    ids = checks.token_ids("ids", ids, ndim=2, min_length=2)
    prompt_len = checks.size("prompt_len", prompt_len, high=ids.shape[1] - 1)
    with evaluating(model):
        logp = model(ids[:, :-1]).float().log_softmax(-1)
        picked = logp.gather(-1, ids[:, 1:, None])[..., 0][:, prompt_len - 1:]
        return -picked.mean().item()


def sequence_logprobs(model: nn.Module, input_ids: torch.Tensor, response_mask: torch.Tensor,
                      attention_mask: torch.Tensor | None = None, *, unknown_ok: bool = False) -> torch.Tensor:
    """log pi(response | prompt) for each row of ``input_ids`` (B, T): the sum of the model's
    log-probabilities of the tokens where ``response_mask`` (B, T) is 1 (the response, not the
    prompt or padding), each predicted from the tokens before it. Works with lmnotes and
    transformers causal LMs; right padding needs no attention mask (causal attention never looks
    ahead), but one may be passed to a transformers model. ``unknown_ok`` also takes a module whose
    kind cannot be told (a custom model), as :func:`lmnotes.checks.model_kind` does."""
    checks.model_kind("model", model, "causal", unknown_ok=checks.boolean("unknown_ok", unknown_ok))
    checks.tensor("input_ids", input_ids, ndim=2, dtype="int")
    checks.tensor("response_mask", response_mask, ndim=2)
    if response_mask.shape != input_ids.shape:
        raise ValueError(f"response_mask must have the shape of input_ids {tuple(input_ids.shape)}, "
                         f"got {tuple(response_mask.shape)}")
    if bool(response_mask[:, 0].bool().any()):
        raise ValueError("response_mask marks the first token of a row: a response needs a prompt before it")
    if attention_mask is not None:
        out = model(input_ids=input_ids, attention_mask=attention_mask)
    else:
        out = model(input_ids)
    logits = getattr(out, "logits", out).float()
    logp = logits[:, :-1].log_softmax(-1).gather(-1, input_ids[:, 1:, None])[..., 0]
    return (logp * response_mask[:, 1:].to(logp.dtype)).sum(-1)

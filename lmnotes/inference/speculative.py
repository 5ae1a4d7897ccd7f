"""Speculative decoding (book section 5.1.3.5, Eq. 5.34-5.36; Leviathan et al. 2023; prompt lookup,
Saxena 2023).

A cheap *draft* proposes up to ``gamma`` next tokens; the *target* (the model whose output we want)
scores all of them in one call, which costs about as much as one decoding step when decoding is
bound by memory traffic rather than arithmetic. Each drafted token x is kept with probability
min(1, p(x) / q(x)) (p the target's distribution, q the draft's: Eq. 5.35's acceptance test); at the
first rejection the token is replaced, and when all are kept the target's scores give one more
token for free. So every target call emits between 1 and gamma + 1 tokens.

What replaces a rejected token decides whether the output is still the target's:

- Leviathan et al.'s rule draws it from the residual norm(max(0, p - q)); then each emitted token
  is distributed exactly as p (``speculative_distribution`` enumerates this and equals p), and with
  greedy decoding the output is exactly the target's greedy output.
- The book's rule as printed drafts greedily (Eq. 5.34) and replaces a rejected token by the
  target's argmax (Eq. 5.36); ``book_rule_distribution`` gives the distribution it emits, which
  differs from p when sampling (exact only for greedy decoding).

``speculative_generate`` runs either rule with a neural draft (``ModelDraft``: any lmnotes GPT or
transformers causal LM sharing the target's tokenizer) or a prompt-lookup draft (``PromptLookupDraft``:
copy what followed the last n-gram's earlier occurrence in the context), reusing ``generate``'s
pieces: the same ``_Stepper`` (KV cache, rolled back past rejected tokens) and the same
``sampling_distribution`` (temperature, top-k, top-p). ``expected_tokens_per_call`` and
``expected_speedup`` are Leviathan et al.'s analysis (their Eq. 1 and Theorem 3.8) for comparing
what a run measured with what its acceptance rate predicts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from lmnotes import checks
from lmnotes.generation import _is_hf, _Stepper, sampling_distribution, sampling_options
from lmnotes.models.encdec import EncoderDecoder
from lmnotes.models.gpt import GPT
from lmnotes.training import evaluating

RULES = ("leviathan", "book")


# ----------------------------------------------------------------------------------------------
# One position: the acceptance test and what it emits, as distributions over the vocabulary


def _distributions(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``p`` and ``q`` checked: float tensors of one shape whose last dimension sums to 1."""
    for name, value in (("p", p), ("q", q)):
        checks.finite_tensor(name, checks.tensor(name, value, dtype="float"))
        if bool((value < 0).any()) or not torch.allclose(value.sum(-1), value.new_ones(()), atol=1e-4):
            raise ValueError(f"{name} must be probability vectors (non-negative, each summing to 1), "
                             f"got sums {value.sum(-1).flatten()[:4].tolist()}")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape (one probability per token), "
                         f"got {tuple(p.shape)} and {tuple(q.shape)}")
    return p, q


def acceptance_probability(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """min(1, p(x) / q(x)) for every token x: the chance that a drafted x is kept (Eq. 5.35's test
    r_t <= p / q with r_t uniform; Leviathan et al.'s Algorithm 1). Where q(x) = 0 the draft never
    proposes x; 1 is returned there."""
    p, q = _distributions(p, q)
    return torch.where(q > 0, p / q.clamp(min=torch.finfo(q.dtype).tiny), torch.ones_like(p)).clamp(max=1.0)


def residual_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """norm(max(0, p - q)): Leviathan et al.'s distribution for the token that replaces a rejected
    draft. Where p <= q everywhere (p == q) no draft is ever rejected and p itself is returned."""
    p, q = _distributions(p, q)
    excess = (p - q).clamp(min=0.0)
    mass = excess.sum(-1, keepdim=True)
    return torch.where(mass > 0, excess / mass.clamp(min=torch.finfo(p.dtype).tiny), p)


def speculative_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The distribution of the token Leviathan et al.'s rule emits at one position, enumerated: the
    draft proposes x with probability q(x), which is kept with ``acceptance_probability`` and
    otherwise replaced by a draw from ``residual_distribution``. Their Theorem 3.5 says this is p;
    the tests check it, including q = 0 where p > 0 and p == q."""
    kept = q * acceptance_probability(p, q)
    rejected = q.sum(-1, keepdim=True) - kept.sum(-1, keepdim=True)
    return kept + rejected * residual_distribution(p, q)


def book_rule_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The distribution of the token the book's rule as printed emits at one position: the draft's
    argmax d (Eq. 5.34) is kept with probability min(1, p(d) / q(d)) (Eq. 5.35) and otherwise
    replaced by the target's argmax (Eq. 5.36). Equal to p only when p puts all its mass on one
    token (greedy decoding); ``total_variation(p, book_rule_distribution(p, q))`` is how far off
    it is."""
    d = q.argmax(-1, keepdim=True)
    keep = acceptance_probability(p, q).gather(-1, d)
    kept = torch.zeros_like(p).scatter(-1, d, keep)
    return kept.scatter_add(-1, p.argmax(-1, keepdim=True), 1.0 - keep)


def total_variation(p: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Total variation distance 1/2 sum_x |p(x) - r(x)|: the largest difference in probability the
    two distributions give any set of tokens (0 = identical, 1 = disjoint)."""
    p, r = _distributions(p, r)
    return 0.5 * (p - r).abs().sum(-1)


# ----------------------------------------------------------------------------------------------
# Leviathan et al.'s analysis: tokens per target call and the speed-up it buys


def expected_tokens_per_call(alpha: float, gamma: int) -> float:
    """(1 - alpha^(gamma + 1)) / (1 - alpha): the expected number of tokens one target call emits
    when each drafted token is kept with probability ``alpha``, independently (Leviathan et al.,
    Eq. 1); gamma + 1 when alpha = 1."""
    alpha = checks.probability("alpha", alpha)
    gamma = checks.size("gamma", gamma, high=10_000)
    return float(gamma + 1) if alpha == 1.0 else (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)


def expected_speedup(alpha: float, gamma: int, draft_cost: float) -> float:
    """(1 - alpha^(gamma + 1)) / ((1 - alpha)(gamma c + 1)): the expected wall-clock speed-up over
    plain decoding (Leviathan et al., Theorem 3.8), with c = ``draft_cost`` the time of one draft
    step over the time of one target call. Below 1, the draft does not pay."""
    draft_cost = checks.real("draft_cost", draft_cost, low=0.0)
    return expected_tokens_per_call(alpha, gamma) / (checks.size("gamma", gamma, high=10_000) * draft_cost + 1.0)


# ----------------------------------------------------------------------------------------------
# Drafts


@dataclass(frozen=True)
class Decoding:
    """How a speculative run turns logits into tokens; drafts receive it in ``propose``.

    ``distribution(logits)``: the target's and the draft's distribution, ``generate``'s
    ``sampling_distribution`` when sampling, else all mass on the argmax (greedy).
    ``draft_token(q)``: the token a neural draft proposes (a sample from q under Leviathan et al.'s
    rule when sampling, else q's argmax, as the book's Eq. 5.34 has it).
    """

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    generator: torch.Generator | None = None
    rule: str = "leviathan"

    def distribution(self, logits: torch.Tensor) -> torch.Tensor:
        if self.do_sample:
            return sampling_distribution(logits.float(), self.temperature, self.top_k, self.top_p)
        return _one_hot(logits.argmax(-1), logits.shape[-1])

    def draft_token(self, q: torch.Tensor) -> torch.Tensor:
        return self._draw(q) if self.rule == "leviathan" else q.argmax(-1)

    def _draw(self, probs: torch.Tensor) -> torch.Tensor:
        """A token from ``probs`` (V,): sampled when sampling, else its argmax (no random number)."""
        if self.do_sample:
            return torch.multinomial(probs, 1, generator=self.generator)[0]
        return probs.argmax(-1)

    def keeps(self, p: torch.Tensor, q: torch.Tensor, token: int) -> bool:
        """Eq. 5.35's test for one drafted token: kept with probability min(1, p / q). A random
        number is drawn only when that probability is strictly between 0 and 1."""
        keep = float(acceptance_probability(p, q)[token])
        if keep >= 1.0 or keep <= 0.0:
            return keep >= 1.0
        return float(torch.rand((), generator=self.generator)) < keep

    def replacement(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The token emitted in place of a rejected draft: a draw from the residual (Leviathan) or
        the target's argmax (the book's Eq. 5.36)."""
        return self._draw(residual_distribution(p, q)) if self.rule == "leviathan" else p.argmax(-1)

    def bonus(self, p: torch.Tensor) -> torch.Tensor:
        """The token after gamma kept drafts, from the target's last distribution (under the book's
        rule its argmax: Eq. 5.36 with n_a = gamma, as Eq. 5.35's set of rejections is then empty)."""
        return self._draw(p) if self.rule == "leviathan" else p.argmax(-1)


def _one_hot(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    return nn.functional.one_hot(tokens, vocab_size).float()


class Draft:
    """What speculative decoding asks of a draft.

    ``propose(ids, n, decoding)`` gets the context ``ids`` (T,) and returns up to ``n`` proposed
    next tokens (k,) with their distributions q (k, V), or None for a draft that proposes each token
    with certainty (q puts all mass on it). ``session()`` brackets one sequence (a neural draft keeps
    its KV cache there). ``vocab_size``: the V of its distributions, None if it has none.
    """

    vocab_size: int | None = None

    @contextmanager
    def session(self) -> Iterator[Draft]:
        yield self

    def propose(self, ids: torch.Tensor, n: int, decoding: Decoding) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


def _causal_lm(name: str, model) -> nn.Module:
    """``model`` must be an lmnotes GPT or a transformers causal LM (what ``_Stepper`` drives)."""
    if isinstance(model, EncoderDecoder) or not (isinstance(model, GPT) or _is_hf(model)):
        raise TypeError(f"{name} must be an lmnotes GPT or a transformers causal LM, got {type(model).__name__}")
    checks.model_kind(name, model, "causal")
    return model


class ModelDraft(Draft):
    """A smaller language model as the draft (Leviathan et al.): an lmnotes GPT or a transformers
    causal LM with the target's vocabulary, decoding ``n`` tokens per proposal with its own KV
    cache (``use_cache``), rolled back past the tokens the target rejected."""

    def __init__(self, model: nn.Module, use_cache: bool = True):
        self.model = _causal_lm("model", model)
        self.use_cache = checks.boolean("use_cache", use_cache)
        self.vocab_size = model.config.vocab_size
        self._step, self._fed = None, None

    @contextmanager
    def session(self) -> Iterator[ModelDraft]:
        with evaluating(self.model):
            self._step, self._fed = _Stepper(self.model, self.use_cache), None
            try:
                yield self
            finally:
                self._step, self._fed = None, None

    def propose(self, ids: torch.Tensor, n: int, decoding: Decoding) -> tuple[torch.Tensor, torch.Tensor]:
        if self._step is None:
            raise RuntimeError("ModelDraft.propose runs inside `with draft.session():` (speculative_generate opens it)")
        if self._fed is not None:  # keep the cache of the context the target accepted
            self._step.rollback(min(_common_prefix(self._fed, ids), len(ids) - 1))
        seq, tokens, dists = ids[None], [], []
        for _ in range(n):
            q = decoding.distribution(self._step(seq, None)[0])
            self._fed = seq[0]
            token = decoding.draft_token(q)
            tokens.append(token)
            dists.append(q)
            seq = torch.cat([seq, token.view(1, 1)], dim=1)
        return torch.stack(tokens), torch.stack(dists)


def _common_prefix(a: torch.Tensor, b: torch.Tensor) -> int:
    m = min(len(a), len(b))
    differ = (a[:m] != b[:m]).nonzero()
    return int(differ[0, 0]) if len(differ) else m


class PromptLookupDraft(Draft):
    """Prompt lookup (Saxena 2023): find the context's last n-gram earlier in the context and
    propose the tokens that followed it. Tries n = ``max_ngram`` down to 1 and takes the first
    (leftmost) occurrence with a continuation, as transformers' ``prompt_lookup_num_tokens`` does;
    proposes nothing when no n-gram recurs. No model: its cost is a search, its tokens are certain."""

    def __init__(self, max_ngram: int = 2):
        self.max_ngram = checks.size("max_ngram", max_ngram, high=1000)

    def propose(self, ids: torch.Tensor, n: int, decoding: Decoding) -> tuple[torch.Tensor, None]:
        T = len(ids)
        for size in range(min(self.max_ngram, T - 1), 0, -1):
            matches = (ids.unfold(0, size, 1) == ids[-size:]).all(-1).nonzero()[:, 0] + size
            for start in matches.tolist():
                if start < T:
                    return ids[start:start + n], None
        return ids[:0], None


# ----------------------------------------------------------------------------------------------
# The decoding loop


@dataclass
class SpeculativeStats:
    """What a speculative run did, summed over its rows.

    ``target_calls``: calls of the target (each emits 1 to gamma + 1 tokens); ``new_tokens``: tokens
    emitted; ``drafted``: tokens the draft proposed; ``accepted``: drafted tokens kept;
    ``rejected``: acceptance tests failed (at most one per call: the first rejection ends a call, and
    the drafts after it are never tested); ``rounds``: (drafted, accepted) per target call;
    ``draft_seconds`` / ``target_seconds``: wall time spent in the draft and in the target.
    """

    target_calls: int = 0
    new_tokens: int = 0
    drafted: int = 0
    accepted: int = 0
    rejected: int = 0
    rounds: list[tuple[int, int]] = field(default_factory=list, repr=False)
    draft_seconds: float = 0.0
    target_seconds: float = 0.0

    @property
    def alpha(self) -> float:
        """The acceptance rate per drafted token, accepted / tested (tested = accepted + rejected):
        the estimate of Leviathan et al.'s alpha that treats each test as an independent coin, for
        ``expected_tokens_per_call``. NaN before any test."""
        tested = self.accepted + self.rejected
        return self.accepted / tested if tested else math.nan

    @property
    def tokens_per_call(self) -> float:
        """Tokens emitted per target call (1 for plain decoding)."""
        return self.new_tokens / self.target_calls if self.target_calls else math.nan

    @property
    def draft_cost(self) -> float:
        """c of ``expected_speedup``: the mean time of one drafted token over the mean time of one
        target call, as measured in this run (NaN when nothing was drafted)."""
        if not self.drafted or not self.target_calls or not self.target_seconds:
            return math.nan
        return (self.draft_seconds / self.drafted) / (self.target_seconds / self.target_calls)


class SpeculativeOutput(NamedTuple):
    """``ids`` (B, T + max_new_tokens): prompts and continuations; ``stats``: a ``SpeculativeStats``."""

    ids: torch.Tensor
    stats: SpeculativeStats


@torch.no_grad()
def speculative_generate(
    target: nn.Module,
    draft: Draft | nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    gamma: int = 4,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    rule: str = "leviathan",
) -> SpeculativeOutput:
    """Continue each row of ``idx`` (B, T) by ``max_new_tokens`` tokens of ``target``, with ``draft``
    proposing up to ``gamma`` tokens per target call (book section 5.1.3.5; Leviathan et al. 2023).

    ``draft``: a ``Draft`` (``ModelDraft``, ``PromptLookupDraft``) or a model, which is wrapped in a
    ``ModelDraft``. The sampling arguments are ``generate``'s: greedy by default, whose output equals
    ``generate(target, idx, max_new_tokens)``; with ``do_sample=True`` the tokens are distributed as
    ``generate``'s samples (``temperature``, ``top_k``, ``top_p``; both models' distributions are
    shaped alike), drawing from ``generator``. ``rule="book"`` runs the book's rule as printed (Eq.
    5.34-5.36: greedy drafts, argmax replacement), which is not the target's distribution when
    sampling. Rows run one after another (each its own caches); ``use_cache`` is the target's KV
    cache, rolled back past rejected drafts. Returns ``SpeculativeOutput(ids, stats)``.
    """
    target = _causal_lm("target", target)
    if not isinstance(draft, Draft):
        if not isinstance(draft, nn.Module):
            raise TypeError(f"draft must be a Draft (ModelDraft, PromptLookupDraft) or a causal language model, "
                            f"got {type(draft).__name__}")
        draft = ModelDraft(_causal_lm("draft", draft), use_cache=use_cache)
    vocab_size = target.config.vocab_size
    if draft.vocab_size is not None and draft.vocab_size != vocab_size:
        raise ValueError(f"draft must share the target's vocabulary: its vocab_size is {draft.vocab_size}, "
                         f"the target's {vocab_size}")
    idx = checks.token_ids("idx", idx, ndim=2, vocab_size=vocab_size)
    max_new_tokens = checks.size("max_new_tokens", max_new_tokens, low=0)
    gamma = checks.size("gamma", gamma, high=1000)
    do_sample, temperature, top_k, top_p = sampling_options(do_sample, temperature, top_k, top_p)
    use_cache = checks.boolean("use_cache", use_cache)
    rule = checks.choice("rule", rule, RULES)
    if isinstance(target, GPT) and target.config.pos == "learned" and \
            idx.shape[1] + max_new_tokens > target.config.block_size:
        raise ValueError(f"max_new_tokens: the prompt ({idx.shape[1]}) and {max_new_tokens} new tokens exceed the "
                         f"target's block_size {target.config.block_size}; verifying several tokens in one call "
                         f"needs them all within its learned positions")
    decoding = Decoding(do_sample, temperature, top_k, top_p, generator, rule)
    stats = SpeculativeStats()
    with evaluating(target):
        rows = [_speculate_row(target, draft, row[None], max_new_tokens, gamma, decoding, use_cache, stats)
                for row in idx]
    return SpeculativeOutput(torch.cat(rows) if rows else idx, stats)


def _speculate_row(target, draft: Draft, ids, max_new_tokens, gamma, decoding, use_cache, stats) -> torch.Tensor:
    """One prompt (1, T): draft, verify in one target call, keep the accepted prefix, repeat."""
    step, end = _Stepper(target, use_cache), ids.shape[1] + max_new_tokens
    with draft.session():
        while ids.shape[1] < end:
            n = min(gamma, end - ids.shape[1] - 1)  # leave room for the token the target adds
            start = time.perf_counter()
            tokens, q = draft.propose(ids[0], n, decoding) if n > 0 else (ids[0, :0], None)
            stats.draft_seconds += time.perf_counter() - start
            tokens = tokens.to(ids.device).long()
            k = len(tokens)
            if k > n:
                raise ValueError(f"draft proposed {k} tokens when at most {n} were asked for")
            start = time.perf_counter()
            p = decoding.distribution(step(torch.cat([ids, tokens[None]], dim=1), None, last=k + 1)[0])
            stats.target_seconds += time.perf_counter() - start
            q = _one_hot(tokens, p.shape[-1]) if q is None else q.to(p)
            kept = 0
            while kept < k and decoding.keeps(p[kept], q[kept], int(tokens[kept])):
                kept += 1
            if kept < k:
                last = decoding.replacement(p[kept], q[kept])
                stats.rejected += 1
            else:
                last = decoding.bonus(p[k])
            ids = torch.cat([ids, tokens[None, :kept], last.view(1, 1).to(ids)], dim=1)
            step.rollback(ids.shape[1] - 1)  # the cache keeps the context and the kept drafts
            stats.target_calls += 1
            stats.new_tokens += kept + 1
            stats.drafted += k
            stats.accepted += kept
            stats.rounds.append((k, kept))
    return ids

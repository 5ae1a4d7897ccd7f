"""The exact answer to decoding's search problem for short continuations (book section 5.1.3,
Eq. 5.14-5.17): the most probable continuation of n tokens, found by uniform-cost search.

Greedy decoding (Eq. 5.19-5.21) and beam search (Eq. 5.22-5.25) prune the search tree of Eq. 5.15
and may miss the most probable sequence; a *search error* is a prompt where they do. To count
search errors one needs the true arg max of Eq. 5.14, which exhaustive search gives only for tiny
vocabularies (76^5 = 2.5 billion continuations of five characters). Uniform-cost search finds it
without enumerating: every node of the tree costs -log Pr(prefix | x), which never decreases along a
path (each token adds -log Pr >= 0), so the first complete sequence taken off a priority queue
ordered by cost is the most probable one. Children costing more than a known complete sequence (the
greedy one) can never lead to a better one and are not queued.
"""

from __future__ import annotations

import heapq
from typing import NamedTuple

import torch

from lmnotes import checks
from lmnotes.models.gpt import GPT
from lmnotes.models.layers import KVCache
from lmnotes.training import evaluating


class MapResult(NamedTuple):
    """``tokens`` (n,): the most probable continuation; ``logprob``: its log Pr(y | x);
    ``expanded``: search-tree nodes whose children were scored (one model position each)."""

    tokens: torch.Tensor
    logprob: float
    expanded: int


@torch.no_grad()
def map_continuation(model: GPT, prompt: torch.Tensor, length: int, *, batch: int = 64,
                     max_expansions: int = 100_000) -> MapResult:
    """The arg max over all ``length``-token continuations y of ``prompt`` (T,) of log Pr(y | prompt)
    under ``model`` (an lmnotes GPT), by uniform-cost search (exact; see the module's docstring).

    Up to ``batch`` of the cheapest open prefixes are scored in one call, on a copy of the prompt's
    KV cache; the search stops only when the cheapest open node is complete, so batching adds work
    but never changes the answer. Raises RuntimeError past ``max_expansions`` scored nodes."""
    if not isinstance(model, GPT):
        raise TypeError(f"model must be an lmnotes GPT, got {type(model).__name__}")
    prompt = checks.token_ids("prompt", prompt, ndim=1, vocab_size=model.config.vocab_size)
    length = checks.size("length", length, high=64)
    batch = checks.size("batch", batch, high=4096)
    max_expansions = checks.size("max_expansions", max_expansions)
    if model.config.pos == "learned" and len(prompt) + length > model.config.block_size:
        raise ValueError(f"length: the prompt ({len(prompt)}) and {length} tokens exceed the model's "
                         f"block_size {model.config.block_size}")
    with evaluating(model):
        cache = KVCache()
        root = model(prompt[None], cache=cache)[0, -1].float().log_softmax(-1)
        bound = _greedy_cost(model, cache, root, length)
        queue: list[tuple[float, tuple[int, ...]]] = []
        _push_children(queue, 0.0, (), root, bound + 1e-3)
        expanded = 1
        while queue:
            cost, tokens = queue[0]
            if len(tokens) == length:
                return MapResult(torch.tensor(tokens), -cost, expanded)
            popped = []
            while queue and len(popped) < batch and len(queue[0][1]) < length:
                popped.append(heapq.heappop(queue))
            for (cost, tokens), logp in zip(popped, _score(model, cache, [t for _, t in popped])):
                _push_children(queue, cost, tokens, logp, bound + 1e-3)
            expanded += len(popped)
            if expanded > max_expansions:
                raise RuntimeError(f"map_continuation scored {expanded} nodes, past max_expansions={max_expansions}")
    raise AssertionError("the greedy continuation is always within the bound")  # pragma: no cover


def _push_children(queue, cost: float, tokens: tuple, logp: torch.Tensor, bound: float) -> None:
    child = cost - logp
    for token in (child <= bound).nonzero()[:, 0].tolist():
        heapq.heappush(queue, (float(child[token]), tokens + (token,)))


def _score(model: GPT, cache: KVCache, prefixes: list[tuple[int, ...]]) -> torch.Tensor:
    """log Pr(next | prompt, prefix) (N, V) for prefixes of one or more tokens, right-padded in one
    call on copies of the prompt's cache (causal attention: the padding is never seen)."""
    longest = max(len(p) for p in prefixes)
    ids = torch.tensor([list(p) + [0] * (longest - len(p)) for p in prefixes])
    copy = KVCache()
    copy.keys, copy.values = list(cache.keys), list(cache.values)
    copy.reorder(torch.zeros(len(prefixes), dtype=torch.long))
    logits = model(ids, cache=copy)
    last = torch.tensor([len(p) - 1 for p in prefixes])
    return logits[torch.arange(len(prefixes)), last].float().log_softmax(-1)


def _greedy_cost(model: GPT, cache: KVCache, root: torch.Tensor, length: int) -> float:
    """-log Pr of the greedy continuation: a complete sequence, so an upper bound on the best cost."""
    tokens, cost, logp = (), 0.0, root
    for i in range(length):
        token = int(logp.argmax())
        tokens, cost = tokens + (token,), cost - float(logp[token])
        if i + 1 < length:
            logp = _score(model, cache, [tokens])[0]
    return cost


"""Uniform-cost search (lmnotes.inference.search) finds the exact most probable continuation: the
same as enumerating every continuation of a small model, better than or equal to greedy and beam
search, and batched expansion never changes the answer."""

import itertools

import pytest
import torch

from lmnotes.generation import beam_search, generate, sequence_logprobs
from lmnotes.inference.search import map_continuation
from lmnotes.models import GPT, GPTConfig
from tests.test_convert import lively

V = 6
FORM = dict(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_kv_head=1, n_embd=16, pos="rope",
            norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)


def model(seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return lively(GPT(GPTConfig(**FORM)), std=0.5, seed=seed).eval()


def sequence_logprob(m, prompt, continuation):
    ids = torch.cat([prompt, continuation])[None]
    mask = torch.zeros_like(ids)
    mask[:, len(prompt):] = 1
    with torch.no_grad():
        return float(sequence_logprobs(m, ids, mask)[0])


def enumerate_best(m, prompt, length):
    conts = torch.tensor(list(itertools.product(range(V), repeat=length)))
    ids = torch.cat([prompt.expand(len(conts), -1), conts], dim=1)
    with torch.no_grad():
        logp = m(ids[:, :-1]).log_softmax(-1)[:, len(prompt) - 1:].gather(-1, conts[..., None])[..., 0].sum(-1)
    best = int(logp.argmax())
    return conts[best], float(logp[best])


@pytest.mark.parametrize("seed", range(6))
def test_uniform_cost_search_equals_enumeration(seed):
    m = model(seed)
    prompt = torch.randint(0, V, (5,), generator=torch.Generator().manual_seed(seed))
    tokens, best = enumerate_best(m, prompt, 4)
    for batch in (1, 7, 64):
        found = map_continuation(m, prompt, 4, batch=batch)
        assert found.tokens.tolist() == tokens.tolist()
        assert found.logprob == pytest.approx(best, abs=1e-4)
        assert sequence_logprob(m, prompt, found.tokens) == pytest.approx(best, abs=1e-4)


def test_greedy_and_beam_search_never_beat_the_map_and_sometimes_miss_it():
    misses = 0
    for seed in range(12):
        m = model(seed)
        prompt = torch.randint(0, V, (5,), generator=torch.Generator().manual_seed(100 + seed))
        best = map_continuation(m, prompt, 4).logprob
        greedy = sequence_logprob(m, prompt, generate(m, prompt[None], 4)[0, 5:])
        beam = sequence_logprob(m, prompt, beam_search(m, prompt[None], 4, 3)[0, 5:])
        assert greedy <= best + 1e-4 and beam <= best + 1e-4
        misses += greedy < best - 1e-4
    assert misses > 0  # the test can tell a search error from none


def test_the_search_gives_up_past_its_budget_and_refuses_bad_input():
    m = model(0)
    with pytest.raises(RuntimeError, match="max_expansions"):
        map_continuation(m, torch.tensor([1, 2]), 6, batch=1, max_expansions=2)
    with pytest.raises(TypeError, match="model"):
        map_continuation("gpt", torch.tensor([1, 2]), 2)
    with pytest.raises(ValueError, match="prompt"):
        map_continuation(m, torch.tensor([1, V]), 2)
    with pytest.raises(ValueError, match="length"):
        map_continuation(m, torch.tensor([1, 2]), 0)

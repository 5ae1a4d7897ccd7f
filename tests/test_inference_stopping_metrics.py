"""Stopping criteria applied after the fact (lmnotes.inference.stopping) agree with generate's own
stops, repetition detection stops at the first repeated n-gram, and the request metrics
(lmnotes.inference.metrics) come out of generate's on_token times."""

import math

import pytest
import torch

from lmnotes.generation import generate
from lmnotes.inference.metrics import TokenClock, request_metrics
from lmnotes.inference.stopping import stopping_point
from lmnotes.models import GPT, GPTConfig
from lmnotes.tokenization import CharTokenizer
from tests.test_convert import lively

TOK = CharTokenizer("abcdef .")
FORM = dict(vocab_size=TOK.vocab_size, block_size=64, n_layer=2, n_head=2, n_embd=16, pos="rope", norm="rmsnorm",
            ffn="swiglu", bias=False, tie_weights=False)


def model(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return lively(GPT(GPTConfig(**FORM)), std=0.5, seed=seed).eval()


@pytest.mark.parametrize("seed", range(4))
def test_stopping_after_the_fact_equals_generate_stopping(seed):
    m = model(seed)
    prompt = torch.tensor([TOK.encode("abc d")])
    full = generate(m, prompt, 30)[0, 5:]
    for stop in (TOK.encode(".")[0], TOK.encode("e")[0]):
        stopped = generate(m, prompt, 30, stop=[stop])[0, 5:]
        kept = stopping_point(full, stop_ids=[stop])
        assert full[:kept].tolist() == stopped[:kept].tolist() and (kept == 30 or full[kept - 1] == stop)
        assert len(stopped) == kept or bool((stopped[kept:] == 0).all())
    stopped = generate(m, prompt, 30, stop=["a "], tokenizer=TOK)[0, 5:]
    kept = stopping_point(full, stop_strings=["a "], tokenizer=TOK)
    assert full[:kept].tolist() == stopped[:kept].tolist()


def test_repetition_and_max_length():
    ids = [1, 2, 3, 1, 2, 4, 1, 2, 3]
    assert stopping_point(ids, repeat_ngram=2) == 5  # (1, 2) again at tokens 4-5
    assert stopping_point(ids, repeat_ngram=3) == 9  # (1, 2, 3) again at tokens 7-9
    assert stopping_point(ids, repeat_ngram=4) == 9  # never: the whole continuation
    assert stopping_point(ids, max_length=4, repeat_ngram=2) == 4
    assert stopping_point(ids, stop_ids=[4], repeat_ngram=3) == 6
    with pytest.raises(ValueError, match="tokenizer"):
        stopping_point(ids, stop_strings=["x"])
    with pytest.raises(ValueError, match="repeat_ngram"):
        stopping_point(ids, repeat_ngram=0)


def test_request_metrics_from_generate_times():
    assert request_metrics(0.0, [0.5, 0.6, 0.8, 0.9]) == pytest.approx(
        dict(ttft=0.5, itl_p50=0.1, itl_p95=0.19, tokens_per_s=4 / 0.9))
    assert math.isnan(request_metrics(0.0, [0.5])["itl_p50"])
    with pytest.raises(ValueError, match="times"):
        request_metrics(1.0, [0.5])
    clock, seen = TokenClock(), []
    out = generate(model(), torch.tensor([[1, 2, 3]]), 7, on_token=lambda t: (seen.append(t), clock(t)))
    assert len(clock.times) == 7 and torch.cat(seen, 1).tolist() == out[:, 3:].tolist()
    m = clock.metrics()
    assert 0 < m["ttft"] and m["itl_p50"] <= m["itl_p95"] and m["tokens_per_s"] > 0
    with pytest.raises(TypeError, match="on_token"):
        generate(model(), torch.tensor([[1, 2]]), 2, on_token="print")
    with pytest.raises(ValueError, match="on_token"):
        generate(model(), torch.tensor([[1, 2]]), 2, num_beams=2, on_token=print)

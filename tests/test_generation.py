"""lmnotes.generation: filters against hand-computed values and transformers' processors, the KV
cache's identical output, stop tokens and strings, padded batches, beams, bad input."""

import math

import pytest
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from lmnotes.generation import apply_repetition_penalty, beam_search, generate, top_k_filter, top_p_filter
from lmnotes.models import GPT, EncoderDecoder, EncoderDecoderConfig, GPTConfig

V = 26
INF = float("-inf")


def lively(model, std=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return model.eval()


def tiny_gpt(**kw):
    return lively(GPT(GPTConfig(**{**dict(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=16), **kw})))


class Letters:
    """A toy tokenizer: id i is the letter chr(97 + i)."""

    def decode(self, ids):
        return "".join(chr(97 + i) for i in ids)


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [0.5, -1.0, 4.0, 2.0]])
    expected = torch.tensor([[INF, 3.0, 2.0, INF], [INF, INF, 4.0, 2.0]])
    assert torch.equal(top_k_filter(logits, 2), expected)
    assert torch.equal(top_k_filter(logits, 10), logits)


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.1, 0.5, 0.05, 0.35]])
    logits = probs.log()
    kept = {p: torch.isfinite(top_p_filter(logits, p))[0].tolist() for p in (0.3, 0.5, 0.84, 0.86, 0.96, 1.0)}
    assert kept[0.3] == kept[0.5] == [False, True, False, False]  # 0.5 alone already reaches p
    assert kept[0.84] == [False, True, False, True]  # 0.5 + 0.35 = 0.85
    assert kept[0.86] == [True, True, False, True]
    assert kept[0.96] == kept[1.0] == [True, True, True, True]


def test_filters_and_penalty_agree_with_transformers():
    g = torch.Generator().manual_seed(0)
    logits, ids = torch.randn(4, 50, generator=g) * 3, torch.randint(0, 50, (4, 12), generator=g)
    assert torch.equal(top_k_filter(logits, 7), TopKLogitsWarper(7)(ids, logits.clone()))
    for p in (0.3, 0.8, 0.95):
        assert torch.equal(torch.isfinite(top_p_filter(logits, p)), torch.isfinite(TopPLogitsWarper(p)(ids, logits.clone())))
    torch.testing.assert_close(apply_repetition_penalty(logits, ids, 1.3),
                               RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone()))
    out = apply_repetition_penalty(torch.tensor([[2.0, -2.0, 1.0]]), torch.tensor([[0, 1]]), 2.0)
    assert out.tolist() == [[1.0, -4.0, 1.0]]


@pytest.mark.parametrize("pos", ["learned", "rope", "alibi", "t5", "sinusoidal"])
def test_kv_cache_gives_identical_tokens(pos):
    model = tiny_gpt(pos=pos, window=5 if pos == "alibi" else None)
    x = torch.randint(0, V, (2, 4), generator=torch.Generator().manual_seed(1))
    n = 20  # runs past block_size=16: learned positions crop the context, the others extrapolate
    greedy = generate(model, x, n)
    assert greedy.shape == (2, 4 + n)
    assert torch.equal(generate(model, x, n, use_cache=False), greedy)
    kw = dict(do_sample=True, temperature=1.5, top_k=12, top_p=0.95, repetition_penalty=1.2)
    sampled = generate(model, x, n, generator=torch.Generator().manual_seed(7), **kw)
    assert torch.equal(generate(model, x, n, use_cache=False, generator=torch.Generator().manual_seed(7), **kw), sampled)
    assert not torch.equal(sampled, greedy)


def test_sampling_follows_the_filtered_distribution():
    """With top_k=2 only the two most likely first tokens ever appear, in proportion to their odds."""
    model = tiny_gpt()
    x = torch.tensor([[3, 4]])
    probs = model(x)[0, -1].softmax(-1)
    top2 = probs.topk(2)
    g = torch.Generator().manual_seed(0)
    firsts = generate(model, x.expand(2000, 2).contiguous(), 1, do_sample=True, top_k=2, generator=g)[:, -1]
    assert set(firsts.tolist()) <= set(top2.indices.tolist())
    share = (firsts == top2.indices[0]).float().mean().item()
    expected = (top2.values[0] / top2.values.sum()).item()
    assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / 2000)


def test_stop_tokens_and_strings():
    model = tiny_gpt()
    x = torch.tensor([[1, 2, 3], [4, 5, 6]])
    free = generate(model, x, 12)
    stop_id = free[0, 5].item()
    out = generate(model, x, 12, stop=stop_id, pad_token_id=25)
    row = out[0, 3:].tolist()
    first = row.index(stop_id)
    assert row[: first + 1] == free[0, 3:4 + first].tolist() and set(row[first + 1:]) <= {25}
    text = Letters().decode(free[1, 3:].tolist())
    target = text[4:6]
    out = generate(model, x[1:], 12, stop=[target], tokenizer=Letters())
    produced = Letters().decode(out[0, 3:].tolist())
    assert produced.endswith(target) and target not in produced[:-1]
    with pytest.raises(ValueError, match="need a tokenizer"):
        generate(model, x, 3, stop="abc")


def test_padded_batch_equals_one_by_one():
    model = tiny_gpt(pos="rope")
    a, b = torch.tensor([[5, 9, 2, 7, 1]]), torch.tensor([[8, 3]])
    batch = torch.tensor([[5, 9, 2, 7, 1], [0, 0, 0, 8, 3]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]])
    for kw in (dict(), dict(num_beams=3)):
        out = generate(model, batch, 8, attention_mask=mask, **kw)
        assert torch.equal(out[0:1], generate(model, a, 8, **kw))
        assert torch.equal(out[1:2, 3:], generate(model, b, 8, **kw))


def test_beam_search_finds_a_likelier_sequence_than_greedy():
    model = tiny_gpt()
    x = torch.tensor([[1, 2]])

    def logprob(seq):
        logp = model(seq[:, :-1]).log_softmax(-1)
        return logp[0, 1:].gather(-1, seq[0, 2:, None]).sum().item()

    greedy, beams = generate(model, x, 6), beam_search(model, x, 6, num_beams=8)
    assert logprob(beams) >= logprob(greedy) - 1e-5
    assert torch.equal(beam_search(model, x, 6, num_beams=1), greedy)
    assert torch.equal(beam_search(model, x, 6, num_beams=4, use_cache=False), beam_search(model, x, 6, num_beams=4))


def test_encoder_decoder_generation():
    model = lively(EncoderDecoder(EncoderDecoderConfig.preset("t5-tiny", vocab_size=V)), std=0.1)
    src, start = torch.randint(0, V, (2, 7)), torch.zeros(2, 1, dtype=torch.long)
    out = generate(model, start, 6, encoder_input_ids=src)
    assert out.shape == (2, 7)
    assert torch.equal(generate(model, start, 6, encoder_input_ids=src, use_cache=False), out)
    assert generate(model, start, 6, encoder_input_ids=src, num_beams=2).shape == (2, 7)
    with pytest.raises(ValueError, match="encoder_input_ids"):
        generate(model, start, 2)


def test_model_mode_is_restored_and_bad_arguments_are_named():
    model = tiny_gpt(dropout=0.5).train()
    x = torch.tensor([[1, 2]])
    assert torch.equal(generate(model, x, 5), generate(model, x, 5))  # dropout off while generating
    assert model.training
    for kw, match in [(dict(temperature=0.0), "temperature"), (dict(num_beams=2, do_sample=True), "num_beams"),
                      (dict(do_sample=True, top_k=0), "top_k"), (dict(do_sample=True, top_p=1.5), "top_p")]:
        with pytest.raises(ValueError, match=match):
            generate(model, x, 3, **kw)
    with pytest.raises(TypeError, match="idx must be a torch.LongTensor"):
        generate(model, x.float(), 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, x, -1)
    with pytest.raises(TypeError, match="causal LM"):
        generate(torch.nn.Linear(2, 2), x, 1)


def test_right_padded_prompts_continue_from_their_last_real_token():
    # the way pad_collate builds batches: real tokens first, padding after (issue 9, case 1)
    model = tiny_gpt(pos="rope")
    a, b = torch.tensor([[5, 9, 2, 7, 1]]), torch.tensor([[8, 3]])
    batch = torch.tensor([[5, 9, 2, 7, 1], [8, 3, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    for kw in (dict(), dict(num_beams=3)):
        out = generate(model, batch, 6, attention_mask=mask, **kw)
        assert torch.equal(out[0:1], generate(model, a, 6, **kw))
        assert torch.equal(out[1:2, 3:], generate(model, b, 6, **kw))  # left-aligned: padding first
    with pytest.raises(ValueError, match="attention_mask"):
        generate(model, batch, 2, attention_mask=torch.zeros_like(mask))


def test_options_greedy_decoding_would_ignore_are_refused():
    model, x = tiny_gpt(), torch.tensor([[1, 2]])
    for kw, match in [(dict(top_k=5), "do_sample"), (dict(top_p=0.9), "do_sample"),
                      (dict(temperature=0.7), "do_sample"),
                      (dict(num_beams=2, repetition_penalty=1.3), "repetition_penalty"),
                      (dict(do_sample=True, top_p=5), "top_p"), (dict(do_sample=True, top_p=0.0), "top_p"),
                      (dict(do_sample=True, temperature=float("nan")), "temperature")]:
        with pytest.raises(ValueError, match=match):
            generate(model, x, 3, **kw)
    with pytest.raises(TypeError, match="do_sample"):
        generate(model, x, 3, do_sample="False")
    with pytest.raises(TypeError, match="use_cache"):
        generate(model, x, 3, use_cache="no")

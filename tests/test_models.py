"""lmnotes.models: shapes, masks, caches, position schemes, parameter counts and bad input."""

import itertools

import pytest
import torch

from lmnotes.models import GPT, Encoder, EncoderConfig, EncoderDecoder, EncoderDecoderConfig, GPTConfig, KVCache
from lmnotes.models.layers import PLAIN_BF16_CPU_MAX_KEYS, POSITIONS, alibi_slopes, t5_bucket

V = 61


def tiny(**kw) -> GPTConfig:
    return GPTConfig(**{**dict(vocab_size=V, block_size=24, n_layer=2, n_head=4, n_embd=32), **kw})


def lively(model, std=0.2, seed=0):
    """Larger random weights than the GPT-2 init, so that outputs depend visibly on every input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std + (1.0 if p.dim() == 1 and p.shape[0] == 32 else 0.0))
    return model.eval()


VARIANTS = [dict(pos=p) for p in POSITIONS] + [
    dict(norm="rmsnorm", ffn="swiglu", bias=False, pos="rope", n_kv_head=2, tie_weights=False),
    dict(prenorm=False, ffn="relu", n_kv_head=1),
    dict(pos="alibi", window=3),
]


@pytest.mark.parametrize("kw", [{}, *VARIANTS[6:]])
def test_num_params_matches_the_model(kw):
    for extra in [{}, dict(pos="t5"), dict(pos="sinusoidal", bias=False), dict(d_ff=40)]:
        config = tiny(**{**kw, **extra})
        assert config.num_params() == sum(p.numel() for p in GPT(config).parameters())
    config = tiny(**kw)
    embeddings = V * 32 + (24 * 32 if config.pos == "learned" else 0)
    assert config.num_params(non_embedding=True) == config.num_params() - embeddings


def test_preset_counts_match_transformers_models_built_on_meta():
    from transformers import BertConfig, BertForPreTraining, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    def count(model):
        return sum(p.numel() for p in model.parameters())

    with torch.device("meta"):
        gpt2 = count(GPT2LMHeadModel(GPT2Config()))
        llama = count(LlamaForCausalLM(LlamaConfig(num_key_value_heads=8, intermediate_size=14336,
                                                   vocab_size=128256)))
        bert = {n: count(BertForPreTraining(BertConfig(hidden_size=d, num_hidden_layers=L, num_attention_heads=h,
                                                       intermediate_size=4 * d)))
                for n, (d, L, h) in {"bert-base": (768, 12, 12), "bert-large": (1024, 24, 16)}.items()}
    assert GPTConfig.preset("gpt2-small").num_params() == gpt2
    assert GPTConfig.preset("llama3-8b").num_params() == llama
    for name, theirs in bert.items():  # ours also has a token-tagging and a span head (a few k)
        assert abs(EncoderConfig.preset(name).num_params() - theirs) / theirs < 1e-4
    assert abs(EncoderConfig.preset("bert-base").num_params() / 110e6 - 1) < 0.01
    assert abs(GPTConfig.preset("llama2-7b").num_params() / 6.74e9 - 1) < 0.01


def test_encoder_and_encdec_counts_match_their_models():
    for config in [EncoderConfig.preset("bert-tiny", vocab_size=V), *(EncoderDecoderConfig.preset(n) for n in
                                                                      ("t5-tiny", "bart-tiny"))]:
        model = Encoder(config) if isinstance(config, EncoderConfig) else EncoderDecoder(config)
        assert config.num_params() == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("kw", VARIANTS)
def test_causal_cache_and_padding(kw):
    model = lively(GPT(tiny(**kw)))
    x = torch.randint(0, V, (2, 10), generator=torch.Generator().manual_seed(1))
    logits = model(x)
    assert logits.shape == (2, 10, V)
    # causal: changing token 6 leaves positions 0..5 unchanged, changes 6
    y = x.clone()
    y[:, 6] = (y[:, 6] + 1) % V
    other = model(y)
    torch.testing.assert_close(other[:, :6], logits[:, :6])
    assert not torch.allclose(other[:, 6], logits[:, 6])
    # KV cache: a 7-token prefix, then 3 single tokens, equal the full pass
    cache = KVCache()
    steps = [model(x[:, :7], cache=cache)] + [model(x[:, t:t + 1], cache=cache) for t in range(7, 10)]
    torch.testing.assert_close(torch.cat(steps, dim=1), logits, atol=1e-5, rtol=1e-5)
    # left padding: row 0 padded by 3 tokens gives the same logits at its real positions
    padded = torch.cat([torch.zeros(2, 3, dtype=torch.long), x], dim=1)
    mask = torch.ones_like(padded)
    mask[0, :3] = 0
    out = model(padded, attention_mask=mask)
    torch.testing.assert_close(out[0, 3:], logits[0], atol=1e-5, rtol=1e-5)


def test_sliding_window_sees_only_the_last_tokens():
    model = lively(GPT(tiny(pos="rope", window=3, n_layer=1)))
    x = torch.randint(0, V, (1, 10))
    y = x.clone()
    y[0, 2] = (y[0, 2] + 1) % V
    a, b = model(x), model(y)
    torch.testing.assert_close(a[0, 5:], b[0, 5:])  # position 5 looks at 3, 4, 5 only
    assert not torch.allclose(a[0, 4], b[0, 4])


def test_grouped_query_attention_shrinks_the_cache():
    sizes = {}
    for n_kv in (4, 2, 1):
        cache = KVCache()
        GPT(tiny(pos="rope", n_kv_head=n_kv))(torch.randint(0, V, (1, 8)), cache=cache)
        sizes[n_kv] = cache.nbytes()
    assert sizes[4] == 2 * sizes[2] == 4 * sizes[1] == 2 * 2 * 8 * 32 * 4  # k+v, layers, tokens, width, fp32


def test_saved_attention_weights_reproduce_the_fused_kernel():
    model = lively(GPT(tiny(pos="alibi")))
    x = torch.randint(0, V, (2, 9))
    fused = model(x)
    for block in model.blocks:
        block.attn.save_attention = True
    torch.testing.assert_close(model(x), fused, atol=1e-5, rtol=1e-5)
    weights = model.blocks[0].attn.attention
    assert weights.shape == (2, 4, 9, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 9))
    assert (weights.triu(1) == 0).all()


@pytest.fixture
def fused_calls(monkeypatch):
    """The query dtype of every call to the fused attention kernel, in order."""
    calls = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda q, *a, **k: calls.append(q.dtype) or sdpa(q, *a, **k))
    return calls


@pytest.mark.parametrize("kw", [dict(pos="rope", norm="rmsnorm", ffn="swiglu", n_kv_head=2), dict(pos="learned")])
def test_bf16_cpu_attention_takes_the_plain_path_and_agrees_with_the_fused_kernel(kw, fused_calls):
    """Under bf16 autocast on a CPU, attention (RoPE included) runs as plain bf16 ops instead of the
    fused kernel (faster there); output and gradients agree with the fp32 fused kernel to bf16 precision."""
    model = GPT(tiny(**kw)).train()
    x = torch.randint(0, V, (3, 20), generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x).float()
    low.square().mean().backward()
    assert fused_calls == []
    grad_low = model.wte.weight.grad.clone()
    model.zero_grad()
    full = model(x)
    full.square().mean().backward()
    assert fused_calls == [torch.float32] * 2  # one per layer
    torch.testing.assert_close(low, full, atol=0.05, rtol=0.05)
    cos = torch.nn.functional.cosine_similarity(grad_low.flatten(), model.wte.weight.grad.flatten(), dim=0)
    assert cos > 0.99


def test_bf16_cpu_attention_over_many_keys_keeps_the_fused_kernel(fused_calls):
    """Beyond 256 keys the fused kernel, which never stores the T x S scores, is the faster one."""
    model = GPT(tiny(pos="rope", block_size=PLAIN_BF16_CPU_MAX_KEYS + 1, n_layer=1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.randint(0, V, (1, PLAIN_BF16_CPU_MAX_KEYS)))
        model(torch.randint(0, V, (1, PLAIN_BF16_CPU_MAX_KEYS + 1)))
    assert fused_calls == [torch.bfloat16]


def test_position_helpers_match_their_definitions():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -k for k in range(1, 9)]))
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-300, 300)[None]
    for bidirectional in (True, False):
        ours = t5_bucket(rel, bidirectional, 32, 128)
        theirs = T5Attention._relative_position_bucket(rel, bidirectional, 32, 128)
        assert torch.equal(ours, theirs)


def test_rope_and_sinusoidal_run_past_block_size_learned_does_not():
    x = torch.randint(0, V, (1, 40))
    for pos in ("rope", "sinusoidal", "alibi", "t5", "none"):
        assert GPT(tiny(pos=pos))(x).shape == (1, 40, V)
    with pytest.raises(ValueError, match="block_size"):
        GPT(tiny())(x)


def test_config_round_trip_and_presets():
    config = GPTConfig.preset("llama-tiny", vocab_size=V)
    assert GPTConfig.from_dict(config.to_dict()) == config
    assert config.n_kv_head == 2 and config.d_ff == 352 and not config.bias
    with pytest.raises(ValueError, match="preset"):
        GPTConfig.preset("gpt5")
    with pytest.raises(ValueError, match="n_layers"):
        GPTConfig.from_dict({"n_layers": 2})


@pytest.mark.parametrize(
    "kw, match",
    [(dict(n_embd=30, n_head=4), "n_embd=30 is not divisible by n_head=4"),
     (dict(n_head=4, n_kv_head=3), "multiple of n_kv_head=3"),
     (dict(pos="rotary"), "pos must be one of"), (dict(norm="batchnorm"), "norm must be one of"),
     (dict(ffn="tanh"), "ffn must be one of"), (dict(window=0), "window"), (dict(n_layer=0), "n_layer"),
     (dict(dropout=1.0), "dropout")],
)
def test_bad_configs_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny(**kw)


def test_bad_inputs_are_named():
    model = GPT(tiny())
    with pytest.raises(TypeError, match="dtype torch.float32"):
        model(torch.rand(1, 4))
    with pytest.raises(ValueError, match="shape \\(batch, time\\)"):
        model(torch.arange(4))
    with pytest.raises(ValueError, match=f"outside the vocabulary \\[0, {V - 1}\\]"):
        model(torch.tensor([[1, V]]))
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        model(torch.ones(2, 4, dtype=torch.long), attention_mask=torch.ones(2, 3))
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT(EncoderConfig.preset("bert-tiny"))


def test_encoder_is_bidirectional_ignores_padding_and_has_heads():
    model = lively(Encoder(EncoderConfig.preset("bert-tiny", vocab_size=V, block_size=16, n_embd=32)))
    x = torch.randint(0, V, (2, 8))
    logits = model(x)
    y = x.clone()
    y[:, 7] = (y[:, 7] + 1) % V
    assert not torch.allclose(model(y)[:, 0], logits[:, 0])  # the first token sees the last
    padded = torch.cat([x, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(2, 8), torch.zeros(2, 3)], dim=1)
    torch.testing.assert_close(model(padded, attention_mask=mask)[:, :8], logits, atol=1e-5, rtol=1e-5)
    segments = torch.tensor([[0] * 4 + [1] * 4] * 2)
    assert not torch.allclose(model(x, segments), logits)
    assert model.classify(x).shape == (2, 2) and model.tag(x).shape == (2, 8, 2)
    start, end = model.span(x)
    assert start.shape == end.shape == (2, 8)
    with pytest.raises(ValueError, match="token_type_ids"):
        model(x, torch.full_like(x, 2))


@pytest.mark.parametrize("preset", ["t5-tiny", "bart-tiny"])
def test_encoder_decoder_cross_attends_and_caches(preset):
    model = lively(EncoderDecoder(EncoderDecoderConfig.preset(preset, vocab_size=V)), std=0.1)
    src, tgt = torch.randint(0, V, (2, 7)), torch.randint(0, V, (2, 5))
    logits = model(src, tgt)
    assert logits.shape == (2, 5, V)
    src2 = src.clone()
    src2[:, -1] = (src2[:, -1] + 1) % V
    assert not torch.allclose(model(src2, tgt)[:, 0], logits[:, 0])  # the decoder reads the source
    memory, cache = model.encode(src), KVCache()
    steps = [model.decode(tgt[:, t:t + 1], memory, cache=cache) for t in range(5)]
    torch.testing.assert_close(torch.cat(steps, 1), logits, atol=1e-5, rtol=1e-5)
    padded = torch.cat([src, torch.zeros(2, 2, dtype=torch.long)], 1)
    src_mask = torch.cat([torch.ones(2, 7), torch.zeros(2, 2)], 1)
    torch.testing.assert_close(model(padded, tgt, src_mask), logits, atol=1e-5, rtol=1e-5)


def test_every_switch_combination_builds_and_runs():
    x = torch.randint(0, V, (1, 6))
    switches = itertools.product(("layernorm", "rmsnorm"), ("relu", "gelu", "gelu_tanh", "swiglu"), (True, False))
    for pos, (norm, ffn, prenorm) in zip(itertools.cycle(POSITIONS), switches):
        out = GPT(tiny(pos=pos, norm=norm, ffn=ffn, prenorm=prenorm, n_layer=1))(x)
        assert out.shape == (1, 6, V) and torch.isfinite(out).all()

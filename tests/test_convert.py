"""Our models compute what transformers' GPT-2, LLaMA and BERT compute: same logits, same generations."""

import pytest
import torch
import transformers

from lmnotes.generation import generate
from lmnotes.models import GPT, Encoder, EncoderConfig, GPTConfig
from lmnotes.models.convert import from_hf, to_hf

V = 97
GPT2_FORM = dict(vocab_size=V, block_size=40, n_layer=2, n_head=4, n_embd=32, pos="learned", norm="layernorm",
                 ffn="gelu_tanh", bias=True)
LLAMA_FORM = dict(vocab_size=V, block_size=40, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, pos="rope",
                  norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False, norm_eps=1e-6)


def lively(model, std=0.3, seed=0):
    """Random weights large enough that greedy decoding does not just repeat one token."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return model.eval()


def prompts():
    return torch.randint(0, V, (2, 6), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("form, hf_class", [
    (GPT2_FORM, transformers.GPT2LMHeadModel),
    (dict(GPT2_FORM, ffn="gelu", tie_weights=False), transformers.GPT2LMHeadModel),
    (LLAMA_FORM, transformers.LlamaForCausalLM),
    (dict(LLAMA_FORM, n_kv_head=4, tie_weights=True, rope_theta=500.0, rope_scale=2.0), transformers.LlamaForCausalLM),
])
def test_gpt_round_trips_through_transformers(form, hf_class):
    ours = lively(GPT(GPTConfig(**form)))
    hf = to_hf(ours)
    assert type(hf) is hf_class
    x = torch.randint(0, V, (3, 17))
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, ours(x), atol=1e-5, rtol=1e-5)
        back = from_hf(hf).eval()
        assert back.config == ours.config
        torch.testing.assert_close(back(x), ours(x), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("form", [GPT2_FORM, LLAMA_FORM])
def test_generations_equal_transformers_generate(form):
    ours = lively(GPT(GPTConfig(**form)))
    hf, x = to_hf(ours).eval(), prompts()
    greedy = generate(ours, x, 20)
    assert len(set(greedy[0, 6:].tolist())) > 3  # a real continuation, not one repeated token
    assert torch.equal(greedy, hf.generate(x, max_new_tokens=20, do_sample=False))
    assert torch.equal(generate(hf, x, 20), greedy)  # our generate drives their model too
    beams = generate(ours, x, 8, num_beams=3)
    assert torch.equal(beams, hf.generate(x, max_new_tokens=8, num_beams=3, do_sample=False))
    assert torch.equal(generate(hf, x, 8, num_beams=3), beams)
    # sampling: our model and its transformers twin draw the same tokens from the same generator
    kw = dict(do_sample=True, temperature=0.8, top_k=20, top_p=0.9)
    a = generate(ours, x, 15, generator=torch.Generator().manual_seed(5), **kw)
    b = generate(hf, x, 15, generator=torch.Generator().manual_seed(5), **kw)
    assert torch.equal(a, b)


def test_batched_padded_prompts_match_transformers():
    ours = lively(GPT(GPTConfig(**GPT2_FORM)))
    hf = to_hf(ours).eval()
    x = prompts()
    mask = torch.ones_like(x)
    mask[0, :2] = 0  # row 0 is a 4-token prompt, left-padded
    x[0, :2] = 0
    theirs = hf.generate(x, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0)
    assert torch.equal(generate(ours, x, 10, attention_mask=mask), theirs)


def test_encoder_round_trips_through_bert():
    ours = lively(Encoder(EncoderConfig.preset("bert-tiny", vocab_size=V, block_size=20, n_embd=32)), std=0.1)
    hf = to_hf(ours)
    assert isinstance(hf, transformers.BertForMaskedLM)
    x, segments = torch.randint(0, V, (2, 9)), torch.tensor([[0] * 5 + [1] * 4] * 2)
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 6:] = 0
    with torch.no_grad():
        theirs = hf(input_ids=x, token_type_ids=segments, attention_mask=mask).logits
        mine = ours(x, segments, mask)
        torch.testing.assert_close(theirs[mask.bool()], mine[mask.bool()], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(from_hf(hf).eval()(x, segments, mask), mine)


def test_bert_pretraining_heads_come_along():
    config = transformers.BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=20)
    hf = transformers.BertForPreTraining(config).eval()
    ours = from_hf(hf).eval()
    x = torch.randint(0, V, (2, 9))
    with torch.no_grad():
        out = hf(input_ids=x)
        torch.testing.assert_close(ours(x), out.prediction_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.classify(x), out.seq_relationship_logits, atol=1e-5, rtol=1e-5)


def test_unconvertible_models_are_refused():
    with pytest.raises(ValueError, match="GPT-2 form"):
        to_hf(GPT(GPTConfig(**dict(GPT2_FORM, pos="alibi"))))
    with pytest.raises(TypeError, match="GPT or an Encoder"):
        to_hf(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="model_type=None"):
        from_hf(torch.nn.Linear(2, 2))

"""Decoding metrics (lmnotes.generation), Table 2.2's counts (lmnotes.generative.model_sizes), the decoding
widget and exercises of notebook 05."""

import pytest
import torch
from transformers import DeepseekV3Config, GPT2Config, LlamaConfig, OpenAIGPTConfig

from lmnotes import exercises, widgets
from lmnotes.generation import continuation_nll, distinct_n, repetition_rate
from lmnotes.models import GPT, GPTConfig
from lmnotes.generative import model_sizes


def test_distinct_n_counts_unique_ngrams():
    assert distinct_n(["abab"], 2) == pytest.approx(2 / 3)
    assert distinct_n([[1, 2, 3, 4]], 2) == 1.0
    assert distinct_n(["ab", "ab"], 2) == 0.5  # pooled over sequences
    assert distinct_n(["a"], 2) == 0.0


def test_repetition_rate_is_within_sequence():
    assert repetition_rate(["abcabcabc"], 3) == pytest.approx(4 / 7)
    assert repetition_rate(["abcd", "abcd"], 2) == 0.0  # repeats across sequences do not count
    assert repetition_rate([[7] * 10], 1) == pytest.approx(0.9)


def test_metrics_reject_bad_input():
    with pytest.raises(TypeError, match="sequences"):
        distinct_n("abab")
    with pytest.raises(ValueError, match="n"):
        repetition_rate(["abc"], 0)


def test_continuation_nll_matches_log_softmax():
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("gpt2-tiny", vocab_size=11, n_layer=1, block_size=16))
    ids = torch.randint(0, 11, (2, 9))
    with torch.no_grad():
        logp = model(ids).log_softmax(-1)
    want = -torch.stack([logp[b, t - 1, ids[b, t]] for b in range(2) for t in range(3, 9)]).mean()
    assert continuation_nll(model, ids, 3) == pytest.approx(want.item(), rel=1e-5)
    with pytest.raises(ValueError, match="prompt_len"):
        continuation_nll(model, ids, 9)


def _small_deepseek(**kw):
    return DeepseekV3Config(vocab_size=100, hidden_size=64, num_hidden_layers=3, first_k_dense_replace=1,
                            intermediate_size=96, moe_intermediate_size=32, n_routed_experts=8,
                            n_shared_experts=1, num_experts_per_tok=2, num_attention_heads=4,
                            num_key_value_heads=4, kv_lora_rank=8, qk_nope_head_dim=8, qk_rope_head_dim=4,
                            v_head_dim=8, n_group=2, topk_group=1, **kw)


@pytest.mark.parametrize("q_lora_rank", [16, None])
def test_mla_moe_formula_equals_meta_count(q_lora_rank):
    config = _small_deepseek(q_lora_rank=q_lora_rank)
    counts = model_sizes.mla_moe_params(config)
    assert counts["total"] == model_sizes.meta_param_count(config)
    assert counts["active"] < counts["total"]


def test_lmnotes_formula_equals_meta_count_for_gpt_and_llama():
    gpt2 = GPT2Config(vocab_size=97, n_positions=32, n_embd=48, n_layer=2, n_head=4)
    ours = GPTConfig(vocab_size=97, block_size=32, n_embd=48, n_layer=2, n_head=4, ffn="gelu_tanh")
    assert ours.num_params() == model_sizes.meta_param_count(gpt2)
    gpt1 = OpenAIGPTConfig(vocab_size=97, n_positions=32, n_embd=48, n_layer=2, n_head=4)
    assert GPTConfig(vocab_size=97, block_size=32, n_embd=48, n_layer=2, n_head=4,
                     prenorm=False).num_params() == model_sizes.meta_param_count(gpt1)
    llama = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    ours = GPTConfig(vocab_size=97, block_size=32, n_embd=64, d_ff=160, n_layer=2, n_head=4, n_kv_head=2,
                     pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)
    assert ours.num_params() == model_sizes.meta_param_count(llama)


def test_table_2_2_configs_have_the_books_shapes_except_the_heads_it_misprints():
    rows = {r["model"]: r for r in model_sizes.table_2_2()}
    assert list(rows) == [row[0] for row in model_sizes.BOOK_TABLE_2_2] and len(rows) == 20
    for name, r in rows.items():
        book, counted = r["book"], r["counted"]
        assert (counted["depth"], counted["width"], counted["heads"]) == (book["depth"], book["width"], book["heads"]), name
    # the book prints these with as many KV heads as query heads; the released configs group them
    wrong_kv = {name for name, r in rows.items() if r["counted"]["kv_heads"] != r["book"]["kv_heads"]}
    assert wrong_kv == {"LLaMA 2 70B", "Falcon 7B", "Falcon 40B", "Falcon 180B", "Mistral 7B"}
    assert rows["Falcon 7B"]["counted"]["kv_heads"] == 1  # multi-query attention
    # "37B" is Gemma 2 27B: its configuration counts 27.2 B parameters
    assert 27.0e9 < rows["Gemma 2 37B"]["counted"]["params"] < 27.5e9
    assert rows["DeepSeek-V3"]["counted"]["params"] == model_sizes.mla_moe_params(rows["DeepSeek-V3"]["config"])["total"]


def test_shape_reads_gpt_llama_and_falcon_configs():
    assert model_sizes.shape(GPT2Config(n_embd=48, n_layer=2, n_head=4)) == {"depth": 2, "width": 48, "heads": 4,
                                                                             "kv_heads": 4}
    llama = LlamaConfig(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2)
    assert model_sizes.shape(llama) == {"depth": 3, "width": 64, "heads": 4, "kv_heads": 2}
    with pytest.raises(TypeError, match="hf_config"):
        model_sizes.shape({"n_layer": 2})
    with pytest.raises(ValueError, match="name"):
        model_sizes.hf_config("GPT-5")


def test_counts_reject_wrong_configs():
    with pytest.raises(TypeError, match="hf_config"):
        model_sizes.meta_param_count({"n_layer": 2})
    with pytest.raises(TypeError, match="kv_lora_rank"):
        model_sizes.mla_moe_params(GPT2Config())


class _CharTok:
    def encode(self, s):
        return [ord(c) % 11 for c in s]

    def decode(self, ids):
        return "".join(chr(97 + i) for i in ids)


def test_decoding_explorer_updates_and_greedy_is_deterministic():
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("gpt2-tiny", vocab_size=11, n_layer=1, block_size=64))
    tok = _CharTok()
    box = widgets.decoding_explorer(model, tok, prompt="ab", max_new_tokens=8)
    method, view = box.children[0], box.children[-1]
    method.value = "greedy"
    assert view.value == "<pre class='lmnotes-decoded'>ab" + widgets.decode_text(
        model, tok, "ab", "greedy", max_new_tokens=8) + "</pre>"
    a = widgets.decode_text(model, tok, "ab", "top-k", max_new_tokens=8, seed=1)
    assert a == widgets.decode_text(model, tok, "ab", "top-k", max_new_tokens=8, seed=1)
    with pytest.raises(ValueError, match="method"):
        widgets.decode_text(model, tok, "ab", "sampling")


def test_decoding_exercises_give_feedback():
    assert exercises.check("distinct-2", 2 / 3)
    assert not exercises.check("distinct-2", 0.5)
    assert exercises.check("nucleus-set", {"the", "a", "my"})
    assert not exercises.check("nucleus-set", {"the", "a"})
    assert exercises.check("gpt2-small-params", 124_439_808)
    assert not exercises.check("gpt2-small-params", 124_439_808 + 50257 * 768)

"""The roofline counts (lmnotes.inference.roofline): FLOPs and bytes by hand for a small model, LLaMA-2
7B's weights, and prefilling above the ridge point, decoding below it."""

import pytest
import torch
from torch import nn

from lmnotes.generative.longcontext import kv_bytes_per_token
from lmnotes.inference.roofline import DEVICES, matmul_params, ridge_point, roofline_seconds, step_cost
from lmnotes.models import GPT, GPTConfig

SMALL = GPTConfig(vocab_size=50, block_size=64, n_layer=2, n_head=2, n_kv_head=1, n_embd=16, pos="rope",
                  norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)


def test_flops_and_bytes_by_hand():
    weights = sum(m.weight.numel() for m in GPT(SMALL).modules() if isinstance(m, nn.Linear))
    assert matmul_params(SMALL) == weights
    cost = step_cost(SMALL, new=3, past=4, batch=2, bytes_per_value=4)
    pairs = 3 * 4 + (1 + 2 + 3)  # each of the 3 new queries sees the past and itself and earlier new ones
    assert cost.flops == 2 * (2 * weights * 3 + 4 * 8 * 2 * 2 * pairs)
    assert cost.bytes == weights * 4 + 2 * kv_bytes_per_token(SMALL, 4) * 7  # notebook 07's KV-cache formula
    assert cost.intensity == cost.flops / cost.bytes


def test_llama2_7b_prefill_is_compute_bound_and_decode_memory_bound():
    config = GPTConfig.preset("llama2-7b")
    assert matmul_params(config) == pytest.approx(6.607e9, rel=1e-3)  # 6.74 B with the input embedding
    prefill, decode = step_cost(config, 512), step_cost(config, 1, past=512)
    assert decode.intensity == pytest.approx(1.0, abs=0.01)
    for peak, bandwidth in DEVICES.values():
        ridge = ridge_point(peak, bandwidth)
        assert prefill.intensity > ridge > decode.intensity
        assert roofline_seconds(prefill, peak, bandwidth) == prefill.flops / peak
        assert roofline_seconds(decode, peak, bandwidth) == decode.bytes / bandwidth


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="config"):
        step_cost("llama2-7b", 1)
    with pytest.raises(ValueError, match="new"):
        step_cost(SMALL, 0)
    with pytest.raises(ValueError, match="bandwidth"):
        ridge_point(1e12, 0.0)
    with pytest.raises(TypeError, match="cost"):
        roofline_seconds((1.0, 1.0), 1.0, 1.0)

import pytest
import torch

from lmnotes.longcontext import (LinearAttentionState, kv_bytes_per_token, linear_attention, position_config,
                                 rope_scaled)
from lmnotes.models import GPT, GPTConfig


def test_kv_bytes_mha_gqa_mqa_4_2_1():
    sizes = [kv_bytes_per_token(position_config("rope", 32, 65, n_kv_head=h)) for h in (4, 2, 1)]
    assert sizes == [2 * 2 * 64 * 4, 2 * 2 * 32 * 4, 2 * 2 * 16 * 4]


def test_kv_bytes_matches_cache():
    model = GPT(position_config("rope", 16, 11, n_kv_head=2))
    from lmnotes.models import KVCache
    cache = KVCache()
    model(torch.randint(0, 11, (1, 7)), cache=cache)
    assert cache.nbytes() == 7 * kv_bytes_per_token(model.config)


def test_linear_attention_parallel_equals_recurrent():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 20, 8, dtype=torch.float64).unbind(0)
    parallel = linear_attention(q, k, v)
    state = LinearAttentionState()
    recurrent = torch.stack([state.step(q[:, t], k[:, t], v[:, t]) for t in range(20)], dim=1)
    torch.testing.assert_close(parallel, recurrent)
    # causal: changing the last token leaves earlier outputs alone
    k2 = k.clone()
    k2[:, -1] += 1
    torch.testing.assert_close(linear_attention(q, k2, v)[:, :-1], parallel[:, :-1])
    assert state.nbytes() == 2 * (8 * 8 + 8) * 8


def test_rope_scaled():
    c = position_config("rope", 32, 65)
    pi = rope_scaled(c, "interpolation", 2)
    assert pi.rope_scale == 2.0 and pi.block_size == 64 and pi.rope_theta == c.rope_theta
    ntk = rope_scaled(c, "ntk", 2)
    d = 16
    assert ntk.rope_scale == 1.0 and ntk.rope_theta == pytest.approx(10000 * 2 ** (d / (d - 2)))
    # the slowest pair under NTK turns at the PI rate: theta'^(-(d-2)/d) = theta^(-(d-2)/d) / 2
    assert ntk.rope_theta ** (-(d - 2) / d) == pytest.approx(c.rope_theta ** (-(d - 2) / d) / 2)


@pytest.mark.parametrize("factor", [0, -1.5, float("nan")])
def test_rope_scaled_rejects_bad_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        rope_scaled(position_config("rope", 32, 65), "ntk", factor)


def test_bad_inputs():
    with pytest.raises(ValueError, match="pos"):
        position_config("absolute", 32, 65)
    with pytest.raises(ValueError, match="method"):
        rope_scaled(position_config("rope", 32, 65), "yarn", 2)
    with pytest.raises(ValueError, match="pos='rope'"):
        rope_scaled(position_config("alibi", 32, 65), "ntk", 2)
    with pytest.raises(TypeError, match="config"):
        kv_bytes_per_token({"n_layer": 2})
    with pytest.raises(ValueError, match="q and k"):
        linear_attention(torch.randn(4, 8), torch.randn(5, 8), torch.randn(4, 8))
    with pytest.raises(TypeError):
        rope_scaled(GPTConfig, "ntk", 2)


def test_kv_bytes_exercise_names_the_mistake(capsys):
    from lmnotes import exercises
    assert exercises.check("kv-bytes-llama2-70b", 327_680)
    assert not exercises.check("kv-bytes-llama2-70b", 327_680 * 8)
    assert "8 key/value heads" in capsys.readouterr().out
    assert not exercises.check("kv-bytes-llama2-70b", 327_680 * 2)
    assert "fp32" in capsys.readouterr().out

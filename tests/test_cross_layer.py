import pytest
import torch
import torch.nn.functional as F

from lmnotes.generative import longcontext
from lmnotes.generative.cross_layer import share_kv_across_layers
from lmnotes.models import GPT, KVCache
from lmnotes.models.layers import apply_rope


def _model(n_layer=2, **overrides):
    torch.manual_seed(0)
    config = longcontext.position_config("rope", 32, 20, **overrides)
    config.n_layer = n_layer
    return GPT(config).eval()


def _ids(length=12):
    return torch.randint(0, 20, (2, length), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("n_kv_head", [4, 1])
def test_sharing_halves_the_cache_and_drops_the_kv_projections(n_kv_head):
    model = _model(n_kv_head=n_kv_head)
    before, params = KVCache(), model.num_params()
    with torch.no_grad():
        model(_ids(), cache=before)
    share_kv_across_layers(model, 2)
    after = KVCache()
    with torch.no_grad():
        model(_ids(), cache=after)
    assert after.nbytes() * 2 == before.nbytes()
    kv_dim = n_kv_head * (model.config.n_embd // model.config.n_head)
    assert params - model.num_params() == 2 * kv_dim * model.config.n_embd  # one layer's K and V projections


def test_the_later_layer_attends_to_the_first_layers_keys_and_values():
    model = share_kv_across_layers(_model(), 2)
    idx = _ids()
    x0 = model.wte(idx)
    rope = model.positions.rope(torch.arange(idx.shape[1])[None])
    lead, follow = model.blocks
    with torch.no_grad():
        _, k0, v0 = lead.attn.heads(lead.norm1(x0))
        x1 = lead(x0, None, True, rope)
        q1, _, _ = follow.attn.heads(follow.norm1(x1))
        y = F.scaled_dot_product_attention(apply_rope(q1, *rope), apply_rope(k0, *rope), v0, is_causal=True)
        expected = follow.attn.proj(y.transpose(1, 2).reshape(x1.shape))
        got = follow.attn(follow.norm1(x1), None, True, rope)
    assert (got - expected).abs().max() < 1e-6


def test_a_shared_model_decodes_the_same_with_its_cache_and_trains():
    model = share_kv_across_layers(_model(n_layer=4), 2)
    idx = _ids()
    with torch.no_grad():
        full = model(idx)
        cache = KVCache()
        steps = torch.cat([model(idx[:, t: t + 1], cache=cache) for t in range(idx.shape[1])], dim=1)
    assert (full - steps).abs().max() < 1e-5
    assert len(cache.keys) == 2  # one entry per group of 2 layers
    model.train()
    F.cross_entropy(model(idx[:, :-1]).transpose(1, 2), idx[:, 1:]).backward()
    assert model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert model.blocks[1].attn.qkv.weight.shape == (model.config.n_embd, model.config.n_embd)


def test_sharing_run_measures_the_shared_cache():
    ids = torch.randint(0, 20, (4000,), generator=torch.Generator().manual_seed(2))
    plain = longcontext.sharing_run(ids, ids, 20, 4, steps=2, block=16, eval_chars=64)
    shared = longcontext.sharing_run(ids, ids, 20, 4, steps=2, block=16, eval_chars=64, share_layers=2)
    assert plain["kv_bytes"] == longcontext.kv_bytes_per_token(longcontext.position_config("rope", 16, 20))
    assert shared["kv_bytes"] * 2 == plain["kv_bytes"] and shared["share_layers"] == 2
    with pytest.raises(ValueError, match="share_layers"):
        longcontext.sharing_run(ids, ids, 20, 4, steps=2, block=16, eval_chars=64, share_layers=0)


def test_share_kv_across_layers_rejects_bad_input():
    with pytest.raises(ValueError, match="every"):
        share_kv_across_layers(_model(), 0)
    with pytest.raises(ValueError, match="every"):
        share_kv_across_layers(_model(n_layer=3), 2)
    with pytest.raises(TypeError, match="model"):
        share_kv_across_layers("gpt", 2)

import pytest
import torch

from lmnotes.generative import longcontext
from lmnotes.generative.kv_eviction import evicting_losses
from lmnotes.models import GPT


def _model(pos="rope", n_kv_head=None):
    torch.manual_seed(0)
    overrides = {} if n_kv_head is None else dict(n_kv_head=n_kv_head)
    return GPT(longcontext.position_config(pos, 64, 20, **overrides)).eval()


def _ids(rows=2, length=41):
    return torch.randint(0, 20, (rows, length), generator=torch.Generator().manual_seed(1))


def test_a_cache_that_never_evicts_equals_full_attention():
    model, ids = _model(), _ids()
    losses, nbytes = evicting_losses(model, ids, budget=100)
    assert losses.shape == (2, 40)
    assert (losses - longcontext.token_losses(model, ids)).abs().max() < 1e-5
    assert nbytes == 40 * 2 * longcontext.kv_bytes_per_token(model.config)


@pytest.mark.parametrize("n_kv_head", [None, 2])
def test_keeping_only_the_newest_is_the_sliding_window(n_kv_head):
    model, ids = _model(n_kv_head=n_kv_head), _ids()
    losses, _ = evicting_losses(model, ids, budget=8)
    window = longcontext.token_losses(model, ids, longcontext.window_mask(40, 8))
    assert (losses - window).abs().max() < 1e-5


def test_heavy_hitters_hold_the_same_memory_and_change_the_losses():
    model, ids = _model(), _ids()
    window, window_bytes = evicting_losses(model, ids, budget=8)
    h2o, h2o_bytes = evicting_losses(model, ids, budget=8, recent=4)
    assert h2o_bytes == window_bytes == 8 * 2 * longcontext.kv_bytes_per_token(model.config)
    assert (h2o[:, :8] - window[:, :8]).abs().max() < 1e-5  # nothing evicted yet: the same
    assert (h2o[:, 9:] - window[:, 9:]).abs().max() > 1e-4  # then a different choice of keys


def test_evicting_losses_rejects_bad_input():
    model, ids = _model(), _ids()
    with pytest.raises(ValueError, match="budget"):
        evicting_losses(model, ids, budget=0)
    with pytest.raises(ValueError, match="recent"):
        evicting_losses(model, ids, budget=4, recent=5)
    with pytest.raises(ValueError, match="ids"):
        evicting_losses(model, ids[:, :1], budget=4)
    with pytest.raises(ValueError, match="pos"):
        evicting_losses(_model("alibi"), ids, budget=4)
    with pytest.raises(TypeError, match="model"):
        evicting_losses("gpt", ids, budget=4)

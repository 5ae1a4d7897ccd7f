import pytest
import torch

from lmnotes.generative import longcontext
from lmnotes.generative import kv_eviction
from lmnotes.generative.kv_eviction import evicted_slot, evicting_losses
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
    with pytest.raises(TypeError, match="renumber"):
        evicting_losses(model, ids, budget=4, renumber="no")


def test_the_evicted_slot_is_the_least_attended_outside_the_recent_ones():
    accumulated = torch.tensor([[[0.5, 0.1, 0.9, 0.2, 0.0, 0.05],  # the two newest (0.0, 0.05) are protected
                                 [0.3, 0.7, 0.2, 0.8, 0.9, 0.01]]])
    assert evicted_slot(accumulated, recent=2).tolist() == [[[1], [2]]]
    assert evicted_slot(accumulated, recent=0).tolist() == [[[4], [5]]]
    with pytest.raises(ValueError, match="recent"):
        evicted_slot(accumulated, recent=6)



def test_h2o_evicts_by_the_rule_and_original_positions_match_when_nothing_moves(monkeypatch):
    model, ids = _model(), _ids()
    h2o, _ = evicting_losses(model, ids, budget=8, recent=4)
    # text positions instead of slots: the same while nothing is evicted and for a plain window (RoPE is
    # relative), different once heavy hitters leave gaps
    original, _ = evicting_losses(model, ids, budget=8, recent=4, renumber=False)
    assert (original[:, :8] - h2o[:, :8]).abs().max() < 1e-5
    assert (original[:, 9:] - h2o[:, 9:]).abs().max() > 1e-4
    window, _ = evicting_losses(model, ids, budget=8, renumber=False)
    assert (window - longcontext.token_losses(model, ids, longcontext.window_mask(40, 8))).abs().max() < 1e-5
    # the cache follows evicted_slot: evicting the most-attended key instead changes the losses
    monkeypatch.setattr(kv_eviction, "evicted_slot", lambda accumulated, recent: accumulated[
        ..., : accumulated.shape[-1] - recent].argmax(-1, keepdim=True))
    most, _ = evicting_losses(model, ids, budget=8, recent=4)
    assert (most[:, :8] - h2o[:, :8]).abs().max() < 1e-5 and (most[:, 9:] - h2o[:, 9:]).abs().max() > 1e-4

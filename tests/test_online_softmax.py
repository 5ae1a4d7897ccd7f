import pytest
import torch
import torch.nn.functional as F

from lmnotes.generative.online_softmax import online_softmax_attention


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("length,block", [(100, 16), (64, 64), (37, 128), (130, 7)])
def test_online_softmax_equals_torch_attention(causal, length, block):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 3, length, 8).unbind(0)
    out = online_softmax_attention(q, k, v, block=block, causal=causal)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 1e-5


def test_online_softmax_takes_more_keys_than_queries_without_a_mask():
    torch.manual_seed(1)
    q, k, v = torch.randn(5, 8), torch.randn(23, 8), torch.randn(23, 8)
    ref = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    assert (online_softmax_attention(q, k, v, block=4, causal=False) - ref).abs().max() < 1e-5


def test_online_softmax_survives_scores_that_would_overflow_exp():
    # the running max keeps exp() finite: scores of ~1e4 would give inf in a plain softmax numerator
    q = torch.full((1, 4, 2), 100.0)
    k = torch.full((1, 4, 2), 100.0)
    v = torch.arange(8.0).view(1, 4, 2)
    out = online_softmax_attention(q, k, v, block=2, causal=False)
    assert torch.isfinite(out).all()
    assert (out - F.scaled_dot_product_attention(q, k, v)).abs().max() < 1e-5


def test_online_softmax_holds_a_tile_not_the_whole_matrix():
    from lmnotes.generative.longcontext import peak_bytes

    q, k, v = torch.randn(3, 1, 1, 1024, 16).unbind(0)
    full = peak_bytes(lambda: (q @ k.transpose(-2, -1)).softmax(-1) @ v)
    tiles = peak_bytes(lambda: online_softmax_attention(q, k, v, block=64, causal=False))
    assert full >= 1024 * 1024 * 4  # at least one 1024 x 1024 float32 matrix
    assert tiles < full / 10


def test_online_softmax_rejects_bad_input():
    q = torch.randn(2, 4, 8)
    with pytest.raises(ValueError, match="block"):
        online_softmax_attention(q, q, q, block=0)
    with pytest.raises(ValueError, match="q"):
        online_softmax_attention(q, torch.randn(2, 4, 6), torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="causal"):
        online_softmax_attention(q, torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    with pytest.raises((TypeError, ValueError), match="k"):
        online_softmax_attention(q, torch.randint(0, 3, (2, 4, 8)), q)
    with pytest.raises((TypeError, ValueError), match="causal"):
        online_softmax_attention(q, q, q, causal="yes")

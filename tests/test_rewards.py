import itertools
import math

import pytest
import torch

from lmnotes import checkpoints
from lmnotes.alignment import rewards as R
from lmnotes.data import hidden_reward, preference_pairs, ranked_lists
from lmnotes.data.toyworld import PreferencePair
from lmnotes.models import GPT, GPTConfig


def test_bradley_terry_loss_is_mean_negative_log_sigmoid_and_shift_invariant():
    rc, rr = torch.tensor([1.0, 0.0, -2.0]), torch.tensor([0.0, 0.0, 1.0])
    expected = sum(-math.log(1 / (1 + math.exp(-(a - b)))) for a, b in zip(rc.tolist(), rr.tolist())) / 3
    assert float(R.bradley_terry_loss(rc, rr)) == pytest.approx(expected, rel=1e-6)
    assert float(R.bradley_terry_loss(rc + 5, rr + 5)) == pytest.approx(expected, rel=1e-6)


def test_plackett_luce_is_a_distribution_over_rankings_and_bradley_terry_for_two():
    r = torch.tensor([0.3, -1.0, 2.0])
    total = sum(math.exp(-float(R.plackett_luce_loss(r[list(p)][None]))) for p in itertools.permutations(range(3)))
    assert total == pytest.approx(1.0, abs=1e-6)
    pairs = torch.tensor([[1.0, 0.2], [-0.5, 0.4]])
    assert float(R.plackett_luce_loss(pairs)) == pytest.approx(float(R.bradley_terry_loss(pairs[:, 0], pairs[:, 1])))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="r_chosen and r_rejected"):
        R.bradley_terry_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(TypeError, match="r_chosen"):
        R.bradley_terry_loss(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="rewards"):
        R.plackett_luce_loss(torch.zeros(4))
    with pytest.raises(ValueError, match="prompts and responses"):
        R.encode(checkpoints.load("toyworld-gpt").tokenizer, ["a"], ["b", "c"])
    with pytest.raises(TypeError, match="backbone"):
        R.RewardModel(torch.nn.Linear(2, 2))
    same = PreferencePair("user : copy the words : fig owl . assistant :", "fig owl .", "fig owl .", 2.0, 2.0, False)
    with pytest.raises(ValueError, match="chosen equals rejected"):
        R.train_reward_model(_tiny(), checkpoints.load("toyworld-gpt").tokenizer, [same], steps=1)


def test_pairwise_accuracy_and_spearman():
    assert R.pairwise_accuracy(torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 2.0])) == pytest.approx(0.5)
    assert R.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert R.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share average ranks: ranks (0, 1.5, 1.5, 3) against (0, 1, 2, 3)
    assert R.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)
    with pytest.raises(ValueError, match="spread"):
        R.spearman([1, 1, 1], [1, 2, 3])


def test_ranked_lists_are_ranked_by_the_hidden_reward():
    for r in ranked_lists(20, seed=1, k=4):
        assert [hidden_reward(r.prompt, y) for y in r.responses] == list(r.rewards)
        assert all(a > b for a, b in zip(r.rewards, r.rewards[1:]))


def _tiny():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=350, block_size=64, n_layer=1, n_head=2, n_kv_head=1, n_embd=32,
                         pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False))


@pytest.mark.parametrize("listwise", [False, True])
def test_a_reward_model_learns_its_training_preferences(listwise):
    tok = checkpoints.load("toyworld-gpt").tokenizer
    data = ranked_lists(16, seed=0, k=3) if listwise else preference_pairs(32, seed=0)
    model = R.train_reward_model(_tiny(), tok, data, steps=60, lr=3e-3, batch_size=16)
    pairs = [(r.prompt, r.responses[0], r.responses[-1]) for r in data] if listwise else \
        [(p.prompt, p.chosen, p.rejected) for p in data]
    rc = R.score(model, tok, [p for p, _, _ in pairs], [c for _, c, _ in pairs])
    rr = R.score(model, tok, [p for p, _, _ in pairs], [r for _, _, r in pairs])
    assert R.pairwise_accuracy(rc, rr) >= 0.85

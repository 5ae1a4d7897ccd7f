"""DPO, best-of-N and simulated preference labels (lmnotes.alignment.dpo / best_of_n / feedback)."""

import math

import pytest
import torch

from lmnotes import checkpoints, generation
from lmnotes.alignment import best_of_n as bon
from lmnotes.alignment import dpo, feedback, rewards
from lmnotes.data.toyworld import preference_pairs
from lmnotes.models import GPT, GPTConfig


def _tiny(vocab_size=350, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=1, n_head=2, n_kv_head=1, n_embd=32,
                         pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False))


# ---------------------------------------------------------------------------------------------- DPO loss

def test_dpo_loss_is_log2_at_the_reference_and_falls_as_the_margin_grows():
    ref_c, ref_r = torch.tensor([-3.0, -2.0]), torch.tensor([-1.0, -4.0])
    assert dpo.dpo_loss(ref_c, ref_r, ref_c, ref_r, 0.5).item() == pytest.approx(math.log(2))
    better = dpo.dpo_loss(ref_c + 1, ref_r - 1, ref_c, ref_r, 0.5).item()
    assert better == pytest.approx(-math.log(torch.sigmoid(torch.tensor(1.0)).item()))  # beta * margin = 0.5 * 2


@pytest.mark.parametrize("beta", [-0.1, 0.0])
def test_beta_must_be_positive(beta):
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        dpo.dpo_loss(x, x, x, x, beta)
    with pytest.raises(ValueError, match="beta"):
        dpo.optimal_policy(torch.zeros(2, 3), torch.zeros(2, 3), beta)


def test_mismatched_log_probabilities_and_rewards_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        dpo.dpo_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.1)
    with pytest.raises(ValueError, match="rewards"):
        dpo.optimal_policy(torch.zeros(2, 3), torch.zeros(2, 4), 0.1)


def test_pairs_whose_chosen_equals_rejected_are_refused():
    with pytest.raises(ValueError, match="chosen != rejected"):
        dpo.categorical_dpo(torch.zeros(2, 3), torch.tensor([[0, 1, 2], [1, 2, 2]]), 0.5, steps=1)
    tok = checkpoints.load("toyworld-gpt").tokenizer
    with pytest.raises(ValueError, match="chosen equals rejected"):
        dpo.preference_batch(tok, ["user : a"], ["fig ."], ["fig ."])
    pair = preference_pairs(1, seed=0)[0]
    same = type(pair)(pair.prompt, pair.chosen, pair.chosen, 1.0, 1.0, False)
    with pytest.raises(ValueError, match="chosen != rejected"):
        dpo.lm_dpo(_tiny(), tok, [same], 0.1, steps=1)


def test_policy_and_reference_must_share_a_vocabulary():
    with pytest.raises(ValueError, match="vocabulary"):
        dpo.check_same_vocab(_tiny(350), _tiny(300))


# ---------------------------------------------------------------------------------------------- the exact check

def test_bradley_terry_pairs_follow_the_sigmoid_of_the_reward_gap():
    rewards_ = torch.tensor([[0.0, 1.0]])
    pairs = dpo.bradley_terry_pairs(rewards_, 20000, seed=0)
    assert bool((pairs[:, 1] != pairs[:, 2]).all())
    wins = (pairs[:, 1] == 1).double().mean().item()
    assert wins == pytest.approx(torch.sigmoid(torch.tensor(1.0)).item(), abs=0.01)


def test_categorical_dpo_reaches_the_optimal_policy():
    g = torch.Generator().manual_seed(0)
    ref, r = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    beta = 0.5
    star = dpo.optimal_policy(ref, r, beta)
    assert float(dpo.kl_divergence(star, ref.softmax(-1)).mean()) > 0.1  # pi* is far from pi_ref
    policy, _ = dpo.categorical_dpo(ref, dpo.bradley_terry_pairs(r, 30000, seed=1), beta, steps=300)
    assert float(dpo.kl_divergence(star, policy().exp().detach()).mean()) < 0.01
    implicit = dpo.implicit_reward(policy().detach(), ref.log_softmax(-1), beta)
    assert all(rewards.spearman(implicit[i], r[i]) > 0.7 for i in range(3))


# ---------------------------------------------------------------------------------------------- language models

def test_sequence_logprobs_sums_the_response_tokens_only():
    model = _tiny()
    ids = torch.tensor([[5, 6, 7, 8, 0], [5, 9, 10, 0, 0]])
    mask = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
    logp = model(ids).log_softmax(-1)
    want = [logp[0, 1, 7] + logp[0, 2, 8], logp[1, 0, 9] + logp[1, 1, 10]]
    got = generation.sequence_logprobs(model, ids, mask)
    assert torch.allclose(got, torch.stack(want), atol=1e-5)
    with pytest.raises(ValueError, match="first token"):
        generation.sequence_logprobs(model, ids, torch.ones_like(ids))


def test_lm_dpo_raises_the_margin_of_its_training_pairs():
    tok = checkpoints.load("toyworld-gpt").tokenizer
    pairs = preference_pairs(8, seed=0)
    reference = _tiny()
    batch = dpo.preference_batch(tok, [p.prompt for p in pairs], [p.chosen for p in pairs], [p.rejected for p in pairs])
    before = dpo.lm_dpo_loss(reference, reference, batch, 0.5).item()
    policy, _ = dpo.lm_dpo(reference, tok, pairs, 0.5, steps=15, lr=3e-3, batch_size=8)
    assert before == pytest.approx(math.log(2), abs=1e-5)
    assert dpo.lm_dpo_loss(policy, reference, batch, 0.5).item() < before - 0.05
    assert dpo.kl_to_reference(reference, reference, tok, [pairs[0].prompt], n=8) == 0.0
    assert dpo.kl_to_reference(policy, reference, tok, [pairs[0].prompt], n=256) > 0.0


# ---------------------------------------------------------------------------------------------- best-of-N

def test_kl_bound_and_its_arguments():
    assert bon.kl_bound(1) == 0.0
    assert bon.kl_bound(4) == pytest.approx(math.log(4) - 0.75)
    for n in (0, -3):
        with pytest.raises(ValueError, match="n"):
            bon.kl_bound(n)


def test_expected_best_of_n_is_the_mean_at_1_and_the_best_at_m():
    sel, val = torch.tensor([0.3, 2.0, -1.0, 0.5]), torch.tensor([1.0, 5.0, 2.0, 3.0])
    assert bon.expected_best_of_n(sel, val, 1) == pytest.approx(2.75)
    assert bon.expected_best_of_n(sel, val, 4) == pytest.approx(5.0)
    # best of 2 of 4: each of the 6 pairs is equally likely; the winner's value averaged
    # pairs 01 02 03 12 13 23 are kept by the higher selector: values 5, 1, 3, 5, 5, 3
    assert bon.expected_best_of_n(sel, val, 2) == pytest.approx(22 / 6)
    with pytest.raises(ValueError, match="one length"):
        bon.expected_best_of_n(sel, val[:3], 2)
    with pytest.raises(ValueError, match="at most"):
        bon.expected_best_of_n(sel, val, 5)


def test_best_of_n_kl_matches_the_formula_without_ties_and_falls_below_it_with_them():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(4096, generator=g, dtype=torch.float64)
    tiny = torch.full((4096,), -40.0, dtype=torch.float64)  # every response rare (F + p - F cancels in floats)
    assert bon.best_of_n_kl(scores, tiny, 1) == pytest.approx(0.0, abs=1e-9)
    for n in (2, 16, 64):
        assert bon.best_of_n_kl(scores, tiny, n) == pytest.approx(bon.kl_bound(n), rel=0.02)
    # a policy that puts 0.8 on one response (every 5th sample of 5, the same score)
    atom = torch.arange(4096) % 5 != 0
    scores_atom = torch.where(atom, torch.zeros(4096, dtype=torch.float64), scores)
    logps = torch.where(atom, torch.full_like(tiny, math.log(0.8)), tiny)
    assert bon.best_of_n_kl(scores_atom, logps, 4) < 0.8 * bon.kl_bound(4)
    with pytest.raises(ValueError, match="log-probabilities"):
        bon.best_of_n_kl(scores, -tiny, 2)


# ---------------------------------------------------------------------------------------------- labels

def test_simulated_labels_noise_and_soft_loss():
    a, b = torch.tensor([2.0, 1.0, 0.5]), torch.tensor([0.0, 0.0, 0.0])
    soft, hard = feedback.simulated_labels(a, b, noise=0.0)
    assert hard.tolist() == [1.0, 1.0, 1.0] and bool((soft > 0.5).all())
    _, flipped = feedback.simulated_labels(a, b, noise=1.0)
    assert flipped.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="one length"):
        feedback.simulated_labels(a, b[:2])
    with pytest.raises(ValueError, match="noise"):
        feedback.simulated_labels(a, b, noise=1.5)
    ra, rb = torch.tensor([0.3, -0.2]), torch.tensor([0.1, 0.4])
    assert feedback.soft_bradley_terry_loss(ra, rb, torch.ones(2)).item() == pytest.approx(
        rewards.bradley_terry_loss(ra, rb).item())

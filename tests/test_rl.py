import pytest
import torch

from lmnotes.alignment import rl


def test_exact_values_and_gradient_agree_with_enumeration():
    task = rl.SequenceTask(T=3, K=2, offset=2.0, seed=1)
    torch.manual_seed(0)
    logits = torch.randn(task.T, task.K + 1, task.K, dtype=torch.float64)
    V, Q = rl.values(task, logits)
    assert float(V[0, task.K]) == pytest.approx(rl.expected_reward(task, logits))
    assert task.optimum == 5.0 and rl.expected_reward(task, task.init_logits()) == pytest.approx(2 + 1.5)
    # unbiased estimators: the mean of many estimates approaches the exact gradient
    for baseline in rl.BASELINES:
        est = rl.gradient_variance(task, logits, baseline, n=40000, seed=0)
        assert est["bias"] < 3 * est["noise"] + 1e-9, baseline  # unbiased: off by sampling noise only


def test_a_baseline_cuts_the_variance_and_the_td_error_averages_to_the_advantage():
    task = rl.SequenceTask()
    logits = task.init_logits()
    var = {b: rl.gradient_variance(task, logits, b, n=4000)["variance"] for b in rl.BASELINES}
    assert var["mean"] < var["none"] / 10 and var["value"] < var["mean"]
    logits = torch.randn(logits.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    actions = rl.sample(task, logits, 50, torch.Generator().manual_seed(2))
    # transitions are deterministic here, so each TD error r + V(s') - V(s) is the advantage Q(s, a) - V(s)
    adv = rl.advantages(task, logits, actions)
    assert torch.allclose(rl.td_errors(task, logits, actions), adv, atol=1e-12)
    assert adv.abs().max() > 0.1


def test_reinforce_climbs_to_the_optimum():
    task = rl.SequenceTask(T=3, K=2, offset=1.0)
    curve = rl.reinforce(task, "value", steps=200, lr=0.5, seed=0)
    assert curve[-1] > curve[0] and rl.steps_to(curve, task, 0.9) is not None
    with pytest.raises(ValueError, match="baseline"):
        rl.reinforce(task, "median", steps=1)


def test_potential_shaping_keeps_the_optimal_policy_and_phi_v_gives_the_advantage():
    mdp = rl.random_mdp(seed=3)
    Q = rl.q_values(mdp)
    V = Q.max(-1).values
    phi = torch.randn(V.shape[0], generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 5
    Qs = rl.q_values(mdp, rl.shaped_rewards(mdp, phi))
    assert torch.equal(Qs.argmax(-1), Q.argmax(-1))
    assert torch.allclose(Qs, Q - phi[:, None], atol=1e-9)
    assert torch.allclose(rl.shaped_rewards(mdp, V), Q - V[:, None], atol=1e-9)
    # a bonus that is not potential-based does change the optimal policy
    bonus = torch.zeros_like(mdp.R)
    bonus[:, 0] = 3.0
    assert not torch.equal(rl.q_values(mdp, mdp.R + bonus).argmax(-1), Q.argmax(-1))
    with pytest.raises(ValueError, match="potential"):
        rl.shaped_rewards(mdp, torch.zeros(2))

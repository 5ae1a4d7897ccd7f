import pytest
import torch

from lmnotes import checkpoints
from lmnotes.alignment import ppo as P
from lmnotes.models import GPT, GPTConfig


def _tiny(vocab=350, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, block_size=64, n_layer=1, n_head=2, n_kv_head=1, n_embd=32,
                         pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False))


def test_clipped_objective_is_the_standard_min_form():
    ratio = torch.tensor([0.5, 1.5, 0.5, 1.5, 1.0])
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0, 2.0])
    # A > 0: min(r, clip(r)) A -> 0.5, 1.2; A < 0: -> -0.8, -1.5; r = 1 -> 2
    expected = torch.tensor([0.5, 1.2, -0.8, -1.5, 2.0]).mean()
    assert float(P.clipped_objective(ratio, adv, eps=0.2)) == pytest.approx(float(expected))
    r = ratio.clone().requires_grad_(True)
    P.clipped_objective(r, adv, eps=0.2).backward()
    assert r.grad.tolist() == pytest.approx([0.2, 0.0, 0.0, -0.2, 0.4])  # clipped terms pass no gradient
    with pytest.raises(ValueError, match="ratio and advantages"):
        P.clipped_objective(ratio, adv[:2])


def test_token_rewards_and_advantages():
    logp = torch.tensor([[-1.0, -2.0, -1.0], [-1.0, -1.0, 0.0]])
    ref = torch.tensor([[-1.5, -2.0, -1.0], [-1.0, -3.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    r = P.token_rewards(logp, ref, torch.tensor([1.0, 2.0]), mask, beta=0.1)
    assert torch.allclose(r, torch.tensor([[-0.05, 0.0, 1.0], [0.0, 1.8, 0.0]]))
    with pytest.raises(ValueError, match="beta"):
        P.token_rewards(logp, ref, torch.tensor([1.0, 2.0]), mask, beta=-0.1)
    with pytest.raises(ValueError, match="scores"):
        P.token_rewards(logp, ref, torch.tensor([1.0, 2.0, 3.0]), mask, beta=0.1)
    values = torch.tensor([[0.5, 0.2, 0.7], [1.0, 0.3, 9.0]])
    adv1, ret1 = P.advantages(r, values, mask, gamma=1.0, lam=1.0)
    to_go = torch.tensor([[0.95, 1.0, 1.0], [1.8, 1.8, 0.0]])
    assert torch.allclose(ret1, to_go) and torch.allclose(adv1, (to_go - values) * mask)
    adv0, _ = P.advantages(r, values, mask, gamma=1.0, lam=0.0)  # one-step TD errors
    assert adv0[0].tolist() == pytest.approx([-0.05 + 0.2 - 0.5, 0.7 - 0.2, 1.0 - 0.7])
    assert adv0[1].tolist() == pytest.approx([0.3 - 1.0, 1.8 - 0.3, 0.0])


def test_ppo_raises_a_simple_reward_and_refuses_bad_input():
    tok = checkpoints.load("toyworld-gpt").tokenizer
    prompts = ["user : copy the words : fig owl . assistant :", "user : sort the words : cow ant . assistant :"]
    low = set(range(175))

    def reward(ps, ys):  # the share of response tokens with a low id: a dense, learnable signal
        return [sum(t in low for t in tok.encode(y)) / max(1, len(tok.encode(y))) for y in ys]

    policy = _tiny()
    model, run = P.ppo(policy, policy, tok, prompts, reward, beta=0.0, iterations=20, batch_size=32, lr=1e-2,
                       max_new_tokens=4, progress=False)
    assert len(run.proxy) == 20 and run.kl[0] == pytest.approx(0.0, abs=1e-5)
    assert sum(run.proxy[-3:]) / 3 > sum(run.proxy[:3]) / 3 + 0.1
    assert run.kl[-1] > 0.01
    with pytest.raises(ValueError, match="beta"):
        P.ppo(policy, policy, tok, prompts, reward, beta=-1.0, iterations=1, progress=False)
    with pytest.raises(ValueError, match="vocabulary"):
        P.ppo(policy, _tiny(vocab=360), tok, prompts, reward, beta=0.1, iterations=1, progress=False)
    with pytest.raises(ValueError, match="one reward per response"):
        P.ppo(policy, policy, tok, prompts, lambda ps, ys: [0.0], beta=0.1, iterations=1, batch_size=4,
              progress=False)


def test_gao_fit_recovers_its_parameters():
    d = torch.linspace(0.1, 4, 30)
    for form in ("rl", "bon"):
        y = P.gao_curve(d, 1.5, 0.4, form)
        alpha, beta = P.gao_fit((d ** 2).tolist(), y.tolist(), form)
        assert (alpha, beta) == pytest.approx((1.5, 0.4), abs=1e-6)

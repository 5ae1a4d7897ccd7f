"""Reinforcement-learning basics for RLHF, exactly computable (book sections 4.3.1 and 4.4.1.2).

**A small sequence task.** A policy writes ``T`` tokens from ``K``; the state is (position,
previous token) and the policy is a table of logits per state. Each token that matches a hidden
target earns 1, and the episode ends with a constant ``offset`` (a reward every sequence gets,
like a reward model's arbitrary zero point). There are only ``K**T`` sequences, so expected reward,
values ``V(s)``, action values ``Q(s, a)`` and the true policy gradient are computed exactly by
enumeration, and every sampled estimate can be checked against them.

REINFORCE (Eq. 4.25-4.27) estimates the gradient of ``J = E[R]`` from samples as
``sum_t grad log pi(a_t | s_t) * (weight)``; ``baseline`` chooses the weight:

* ``"none"``: the whole return ``R`` (unbiased, large variance: the offset multiplies every term);
* ``"mean"``: ``R`` minus the mean return of the *other* samples of the batch (still unbiased);
* ``"value"``: the return from ``t`` on minus ``V(s_t)``, i.e. an estimate of the advantage
  ``A(s_t, a_t) = Q(s_t, a_t) - V(s_t)`` (Eq. 4.28-4.31), whose one-step form is the TD error
  ``delta_t = r_t + V(s_{t+1}) - V(s_t)`` (``E[delta_t | s_t, a_t] = A(s_t, a_t)``).

**Shaping** (section 4.4.1.2): adding ``F(s, s') = gamma Phi(s') - Phi(s)`` to every reward of an MDP
changes ``Q`` to ``Q - Phi(s)``, so the greedy (optimal) policy is unchanged; with ``Phi = V`` the
expected shaped reward of ``(s, a)`` is exactly the advantage ``A(s, a)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from lmnotes import checks

BASELINES = ("none", "mean", "value")


@dataclass(frozen=True)
class SequenceTask:
    """``T`` tokens from ``K``; +1 per token equal to ``target[t]``, plus ``offset`` at the end."""

    T: int = 5
    K: int = 3
    offset: float = 5.0
    seed: int = 0

    def __post_init__(self):
        checks.integer("T", self.T, low=1, high=8)
        checks.integer("K", self.K, low=2, high=6)
        checks.real("offset", self.offset)
        checks.integer("seed", self.seed)

    @property
    def target(self) -> torch.Tensor:
        return torch.randint(self.K, (self.T,), generator=torch.Generator().manual_seed(self.seed))

    @property
    def optimum(self) -> float:
        return self.T + self.offset

    def init_logits(self) -> torch.Tensor:
        """The uniform policy: zero logits (T, K + 1, K); previous token K means 'start'."""
        return torch.zeros(self.T, self.K + 1, self.K, dtype=torch.float64)

    def sequences(self) -> torch.Tensor:
        """All ``K**T`` sequences (N, T)."""
        return torch.tensor(list(itertools.product(range(self.K), repeat=self.T)))

    def step_rewards(self, actions: torch.Tensor) -> torch.Tensor:
        """Per-token rewards (N, T): 1 where the token is the target's, the offset added at the last."""
        r = (actions == self.target).double()
        r[:, -1] += self.offset
        return r


def _states(task: SequenceTask, actions: torch.Tensor) -> torch.Tensor:
    """The previous token of each position (N, T): K at the start."""
    return torch.cat([torch.full((actions.shape[0], 1), task.K), actions[:, :-1]], 1)


def log_probs(task: SequenceTask, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi(a_t | s_t) of each token (N, T)."""
    logp = logits.log_softmax(-1)
    prev = _states(task, actions)
    return logp[torch.arange(task.T), prev, actions]


def expected_reward(task: SequenceTask, logits: torch.Tensor) -> float:
    """``J = E[R]`` under the policy, exactly (a sum over all sequences)."""
    seqs = task.sequences()
    p = log_probs(task, logits, seqs).sum(1).exp()
    return float((p * task.step_rewards(seqs).sum(1)).sum())


def values(task: SequenceTask, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``(V, Q)``: ``V[t, prev]`` (T + 1, K + 1; row T is 0) and ``Q[t, prev, a]`` (T, K + 1, K),
    by backward induction: ``Q(s_t, a) = r_t(a) + V(s_{t+1})`` with ``s_{t+1} = (t + 1, a)``."""
    probs = logits.softmax(-1)
    target = task.target
    V = torch.zeros(task.T + 1, task.K + 1, dtype=torch.float64)
    Q = torch.zeros(task.T, task.K + 1, task.K, dtype=torch.float64)
    for t in reversed(range(task.T)):
        r = (torch.arange(task.K) == target[t]).double() + (task.offset if t == task.T - 1 else 0.0)
        Q[t] = r[None, :] + V[t + 1, :task.K][None, :]
        V[t] = (probs[t] * Q[t]).sum(-1)
    return V, Q


def td_errors(task: SequenceTask, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """TD errors ``delta_t = r_t + V(s_{t+1}) - V(s_t)`` (N, T) along sampled sequences, with exact ``V``."""
    V, _ = values(task, logits)
    prev = _states(task, actions)
    t = torch.arange(task.T)
    v_now = V[t, prev]
    v_next = torch.cat([V[t[1:], actions[:, :-1]], torch.zeros(actions.shape[0], 1, dtype=V.dtype)], 1)
    return task.step_rewards(actions) + v_next - v_now


def advantages(task: SequenceTask, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Exact advantages ``A(s_t, a_t) = Q(s_t, a_t) - V(s_t)`` (N, T) along sampled sequences."""
    V, Q = values(task, logits)
    prev = _states(task, actions)
    t = torch.arange(task.T)
    return Q[t, prev, actions] - V[t, prev]


def exact_gradient(task: SequenceTask, logits: torch.Tensor) -> torch.Tensor:
    """The true policy gradient ``dJ / dlogits`` (by autograd through the exact sum)."""
    theta = logits.detach().clone().requires_grad_(True)
    seqs = task.sequences()
    J = (log_probs(task, theta, seqs).sum(1).exp() * task.step_rewards(seqs).sum(1)).sum()
    J.backward()
    return theta.grad


def sample(task: SequenceTask, logits: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` sequences (n, T) drawn from the policy, token by token."""
    n = checks.size("n", n)
    probs = logits.softmax(-1)
    prev = torch.full((n,), task.K)
    out = torch.zeros(n, task.T, dtype=torch.long)
    for t in range(task.T):
        out[:, t] = torch.multinomial(probs[t, prev], 1, generator=generator)[:, 0]
        prev = out[:, t]
    return out


def gradient_estimates(task: SequenceTask, logits: torch.Tensor, actions: torch.Tensor,
                       baseline: str = "none") -> torch.Tensor:
    """One REINFORCE gradient estimate per sampled sequence (N, T, K + 1, K), with ``baseline``."""
    baseline = checks.choice("baseline", baseline, BASELINES)
    N = actions.shape[0]
    rewards = task.step_rewards(actions)
    if baseline == "value":
        V, _ = values(task, logits)
        to_go = rewards.flip(1).cumsum(1).flip(1)
        weight = to_go - V[torch.arange(task.T), _states(task, actions)]
    else:
        R = rewards.sum(1, keepdim=True)
        if baseline == "mean":
            if N < 2:
                raise ValueError("baseline='mean' needs at least 2 samples (it uses the others' mean)")
            R = R - (R.sum() - R) / (N - 1)
        weight = R.expand(N, task.T)
    # d log softmax(l)[a] / d l = onehot(a) - p, at the visited state only
    probs = logits.softmax(-1)
    prev = _states(task, actions)
    grads = torch.zeros(N, task.T, task.K + 1, task.K, dtype=torch.float64)
    t_idx = torch.arange(task.T).expand(N, task.T)
    n_idx = torch.arange(N)[:, None].expand(N, task.T)
    score = -probs[t_idx, prev]  # (N, T, K)
    score[n_idx, t_idx, actions] += 1.0
    grads[n_idx, t_idx, prev] = score * weight[..., None]
    return grads


def gradient_variance(task: SequenceTask, logits: torch.Tensor, baseline: str, *, n: int = 4000,
                      seed: int = 0) -> dict[str, float]:
    """Per-sample estimates at ``logits``: ``variance`` (their total variance, the trace of the
    covariance), ``bias`` (the norm of their mean minus the exact gradient, relative to its norm) and
    ``noise`` (what sampling alone gives that relative error: ``sqrt(variance / n) / |exact|``)."""
    g = gradient_estimates(task, logits, sample(task, logits, n, torch.Generator().manual_seed(seed)), baseline)
    g = g.flatten(1)
    exact = exact_gradient(task, logits).flatten()
    norm = exact.norm().clamp(min=1e-12)
    variance = float(g.var(0).sum())
    return {"variance": variance, "bias": float((g.mean(0) - exact).norm() / norm),
            "noise": float((variance / n) ** 0.5 / norm)}


def reinforce(task: SequenceTask, baseline: str, *, steps: int = 300, batch_size: int = 8, lr: float = 0.1,
              seed: int = 0) -> list[float]:
    """Plain gradient ascent with REINFORCE estimates; returns the exact ``E[R]`` after each step (and at 0)."""
    steps, batch_size = checks.size("steps", steps), checks.size("batch_size", batch_size)
    lr = checks.positive("lr", lr)
    generator = torch.Generator().manual_seed(checks.integer("seed", seed))
    logits = task.init_logits()
    curve = [expected_reward(task, logits)]
    for _ in range(steps):
        actions = sample(task, logits, batch_size, generator)
        logits = logits + lr * gradient_estimates(task, logits, actions, baseline).mean(0)
        curve.append(expected_reward(task, logits))
    return curve


def steps_to(curve, task: SequenceTask, share: float = 0.9) -> int | None:
    """The first step at which ``E[R]`` closes ``share`` of the gap between the uniform policy and the
    optimum (None if never)."""
    share = checks.probability("share", share)
    start = expected_reward(task, task.init_logits())
    goal = start + share * (task.optimum - start)
    return next((i for i, v in enumerate(curve) if v >= goal), None)


# ----------------------------------------------------------------------------------------------
# Potential-based shaping on a small tabular MDP


@dataclass(frozen=True)
class TabularMDP:
    """A random MDP: ``P[s, a, s']`` transition probabilities, ``R[s, a]`` rewards, discount ``gamma``."""

    P: torch.Tensor
    R: torch.Tensor
    gamma: float


def random_mdp(n_states: int = 6, n_actions: int = 3, gamma: float = 0.9, seed: int = 0) -> TabularMDP:
    n_states, n_actions = checks.size("n_states", n_states, high=1000), checks.size("n_actions", n_actions, high=100)
    gamma = checks.probability("gamma", gamma, open_high=True)
    g = torch.Generator().manual_seed(checks.integer("seed", seed))
    P = torch.rand(n_states, n_actions, n_states, generator=g, dtype=torch.float64) ** 4
    return TabularMDP(P / P.sum(-1, keepdim=True), torch.randn(n_states, n_actions, generator=g, dtype=torch.float64), gamma)


def q_values(mdp: TabularMDP, R: torch.Tensor | None = None, iterations: int = 2000) -> torch.Tensor:
    """Optimal ``Q*`` (S, A) by value iteration, for rewards ``R`` (default the MDP's own)."""
    R = mdp.R if R is None else R
    Q = torch.zeros_like(R)
    for _ in range(iterations):
        Q = R + mdp.gamma * mdp.P @ Q.max(-1).values
    return Q


def shaped_rewards(mdp: TabularMDP, potential: torch.Tensor) -> torch.Tensor:
    """Expected shaped rewards ``R(s, a) + E[gamma Phi(s') - Phi(s)]`` (S, A)."""
    potential = checks.tensor("potential", potential, ndim=1)
    if potential.shape[0] != mdp.R.shape[0]:
        raise ValueError(f"potential must have one value per state ({mdp.R.shape[0]}), got {potential.shape[0]}")
    return mdp.R + mdp.gamma * mdp.P @ potential.double() - potential.double()[:, None]

"""PPO for RLHF, from scratch (book section 4.3.3), on top of the one sampler and the one training loop.

One PPO iteration:

1. **Rollout.** The policy samples a response to each prompt (:func:`lmnotes.generation.generate`,
   stopping at "."). The reward model scores it: ``score(x, y)``.
2. **Rewards per token** (the KL penalty of Eq. 4.52-4.56, put into the rewards as InstructGPT
   does; the book subtracts it from the objective): every response token ``t`` pays the KL penalty
   ``-beta * (log pi(y_t | ...) - log pi_ref(y_t | ...))`` against the frozen reference (the SFT
   model), and the last token also receives ``score(x, y)``. Summed over a response, the penalty is a
   one-sample estimate of ``beta * KL(pi || pi_ref)`` for that prompt.
3. **Advantages** (Eq. 4.25-4.31): the value head predicts ``V(s_t)``; the TD error is
   ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)`` and generalised advantage estimation sums
   ``A_t = sum_k (gamma lambda)^k delta_{t+k}``; the value target is ``A_t + V(s_t)``.
4. **Updates** (Eq. 4.51-4.56) for a few epochs on the rollout through :func:`lmnotes.training.train`:
   the clipped surrogate ``min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)`` with the ratio
   ``rho_t = pi(y_t) / pi_old(y_t)``, plus the squared error of the value head.

The clip: the book's Eq. 4.50 writes the clipped term differently; the form used here, and in the
PPO paper (Schulman et al. 2017, Eq. 7), is ``min(rho A, clip(rho, 1 - eps, 1 + eps) A)``.

:func:`gao_fit` fits the functional forms of Gao, Schulman and Hilton (2022, "Scaling laws for reward
model overoptimization") to reward against ``d = sqrt(KL)``: ``d (alpha - beta log d)`` for RL and
``d (alpha - beta d)`` for best-of-n.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from lmnotes import checks
from lmnotes.adaptation import hidden_states
from lmnotes.generation import distinct_n, generate
from lmnotes.models import GPT
from lmnotes.training import train


class PolicyWithValue(nn.Module):
    """A GPT policy with a value head on its last hidden states: ``forward(ids, mask) -> (logits, values)``.

    The value head is a linear map of the (detached) hidden states, trained by the value loss only."""

    def __init__(self, policy: GPT):
        super().__init__()
        if not isinstance(policy, GPT):
            raise TypeError(f"policy must be an lmnotes GPT, got {type(policy).__name__}")
        self.policy, self.config = policy, policy.config
        self.value_head = nn.Linear(policy.config.n_embd, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        h = hidden_states(self.policy, input_ids, attention_mask)
        # the value head reads detached states: its loss (returns can be large under a KL penalty)
        # never pushes the policy's own weights
        return self.policy.lm_head(h), self.value_head(h.detach()).squeeze(-1)


def clipped_objective(ratio: torch.Tensor, advantages: torch.Tensor, eps: float = 0.2,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """The mean (over unmasked tokens) of ``min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)``, to be maximised."""
    ratio, advantages = checks.tensor("ratio", ratio), checks.tensor("advantages", advantages)
    eps = checks.real("eps", eps, low=0, high=1, low_open=True, high_open=True)
    if ratio.shape != advantages.shape:
        raise ValueError(f"ratio and advantages must have the same shape, got {tuple(ratio.shape)} "
                         f"and {tuple(advantages.shape)}")
    objective = torch.minimum(ratio * advantages, ratio.clamp(1 - eps, 1 + eps) * advantages)
    return _masked_mean(objective, mask)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return x.mean()
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1)


def token_rewards(logp: torch.Tensor, logp_ref: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor,
                  beta: float) -> torch.Tensor:
    """Per-token rewards (B, L) (the penalty of Eq. 4.52-4.56 per token): ``-beta (log pi - log pi_ref)``
    at every response token, plus the reward model's ``scores`` (B,) at each row's last token; 0 where
    ``mask`` is 0."""
    beta = checks.real("beta", beta, low=0)
    logp, logp_ref = checks.tensor("logp", logp, ndim=2), checks.tensor("logp_ref", logp_ref, ndim=2)
    scores = checks.tensor("scores", scores, ndim=1)
    if logp.shape != logp_ref.shape or logp.shape != mask.shape or scores.shape[0] != logp.shape[0]:
        raise ValueError(f"logp, logp_ref and mask must share one shape (B, L) and scores be (B,), got "
                         f"{tuple(logp.shape)}, {tuple(logp_ref.shape)}, {tuple(mask.shape)}, {tuple(scores.shape)}")
    mask = mask.to(logp.dtype)
    rewards = -beta * (logp - logp_ref) * mask
    last = (mask.sum(1).long() - 1).clamp(min=0)
    rewards[torch.arange(len(last)), last] += scores.to(logp.dtype)
    return rewards


def advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
               lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over right-padded rows: ``(advantages, returns)``, each (B, L).

    TD error ``delta_t = r_t + gamma V_{t+1} - V_t`` (``V`` after a row's last token is 0) and
    ``A_t = delta_t + gamma lam A_{t+1}`` (Eq. 4.25-4.31); ``lam = 1`` gives the Monte-Carlo return
    minus ``V_t``, ``lam = 0`` the one-step TD error. ``returns = A + V`` are the value targets.
    """
    gamma, lam = checks.probability("gamma", gamma), checks.probability("lam", lam)
    mask = mask.to(values.dtype)
    values = values * mask
    adv = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        adv[:, t] = running
    return adv, adv + values


def _action_logp(logits: torch.Tensor, ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """log pi of each response token (B, L): logits at position p predict the token at p + 1."""
    logp = logits[:, prompt_len - 1:-1].float().log_softmax(-1)
    return logp.gather(-1, ids[:, prompt_len:, None]).squeeze(-1)


def ppo_loss(model: PolicyWithValue, batch: dict) -> torch.Tensor:
    """The loss of one minibatch: ``-clipped_objective + vf_coef * 0.5 (V - return)^2`` (masked means)."""
    logits, values = model(batch["ids"], batch["attention_mask"])
    P, mask = batch["prompt_len"], batch["response_mask"]
    ratio = torch.exp(_action_logp(logits, batch["ids"], P) - batch["old_logp"])
    policy_loss = -clipped_objective(ratio, batch["advantages"], batch["eps"], mask)
    value_loss = 0.5 * _masked_mean((values[:, P - 1:-1] - batch["returns"]) ** 2, mask)
    return policy_loss + batch["vf_coef"] * value_loss


@dataclass
class PPORun:
    """What a PPO run measured, one entry per iteration (means over that iteration's rollout):
    ``proxy`` (reward-model score), ``gold`` (hidden reward), ``kl`` (per-response KL to the
    reference, summed over tokens), ``distinct2`` (of the sampled responses) and ``length``."""

    beta: float
    proxy: list[float] = field(default_factory=list)
    gold: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    distinct2: list[float] = field(default_factory=list)
    length: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("beta", "proxy", "gold", "kl", "distinct2", "length", "samples")}


def _left_padded(tokenizer, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [tokenizer.encode(p) for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):], mask[i, width - len(r):] = torch.tensor(r), 1
    return ids, mask


@torch.no_grad()
def rollout(model: PolicyWithValue, reference: GPT, tokenizer, prompts: Sequence[str],
            reward_fn: Callable[[list[str], list[str]], Sequence[float]], *, max_new_tokens: int = 12,
            generator: torch.Generator | None = None) -> dict:
    """Sample one response per prompt and compute what PPO needs: token log-probs under the policy
    and the reference, values, the reward model's scores and the response texts."""
    prompt_ids, prompt_mask = _left_padded(tokenizer, prompts)
    stop = tokenizer.encode(".")[-1]
    ids = generate(model.policy, prompt_ids, max_new_tokens, do_sample=True, stop=stop, generator=generator,
                   attention_mask=prompt_mask)
    P = prompt_ids.shape[1]
    if ids.shape[1] == P:  # nothing generated (max_new_tokens reached 0 new tokens): cannot happen for >= 1
        raise ValueError("the policy generated no tokens")
    response = ids[:, P:]
    is_stop = (response == stop).long()
    response_mask = ((is_stop.cumsum(1) - is_stop) == 0).long()  # up to and including the first "."
    attention_mask = torch.cat([prompt_mask, response_mask], 1)
    texts = [tokenizer.decode([t for t, m in zip(row, keep) if m]) for row, keep in
             zip(response.tolist(), response_mask.tolist())]
    texts = [" ".join(t.split()) for t in texts]
    scores = torch.as_tensor(list(reward_fn(list(prompts), texts)), dtype=torch.float32)
    if scores.shape != (len(prompts),):
        raise ValueError(f"reward_fn must return one reward per response ({len(prompts)}), got shape "
                         f"{tuple(scores.shape)}")
    model.eval()
    logits, values = model(ids, attention_mask)
    logp = _action_logp(logits, ids, P)
    logp_ref = _action_logp(reference(ids, attention_mask=attention_mask), ids, P)
    return dict(ids=ids, attention_mask=attention_mask, prompt_len=P, response_mask=response_mask, texts=texts,
                scores=scores, logp=logp, logp_ref=logp_ref, values=values[:, P - 1:-1],
                tokens=[[t for t, m in zip(row, keep) if m] for row, keep in
                        zip(response.tolist(), response_mask.tolist())])


def ppo(policy: GPT, reference: GPT, tokenizer, prompts: Sequence[str],
        reward_fn: Callable[[list[str], list[str]], Sequence[float]], *, beta: float,
        gold_fn: Callable[[str, str], float] | None = None, iterations: int = 60, batch_size: int = 32,
        epochs: int = 2, minibatches: int = 2, eps: float = 0.2, lr: float = 3e-4, vf_coef: float = 0.5,
        gamma: float = 1.0, lam: float = 0.95, max_new_tokens: int = 12, seed: int = 0,
        progress: bool = True) -> tuple[PolicyWithValue, PPORun]:
    """Run PPO on a copy of ``policy`` (``reference`` stays frozen) and return ``(model, run)``.

    Each of ``iterations`` draws ``batch_size`` prompts, samples responses, scores them with
    ``reward_fn(prompts, responses) -> rewards`` (the proxy reward model), and makes ``epochs`` passes
    of ``minibatches`` updates through :func:`lmnotes.training.train`. ``beta`` weighs the KL penalty
    (0: none). ``gold_fn(prompt, response)`` (e.g. ``lmnotes.data.hidden_reward``) is only measured.
    """
    from tqdm.auto import tqdm

    if not isinstance(policy, GPT) or not isinstance(reference, GPT):
        raise TypeError(f"policy and reference must be lmnotes GPTs, got {type(policy).__name__} "
                        f"and {type(reference).__name__}")
    if policy.config.vocab_size != reference.config.vocab_size:
        raise ValueError(f"policy and reference must share one vocabulary, got vocab_size "
                         f"{policy.config.vocab_size} and {reference.config.vocab_size}")
    beta = checks.real("beta", beta, low=0)
    prompts = checks.texts("prompts", list(prompts))
    iterations, batch_size = checks.size("iterations", iterations), checks.size("batch_size", batch_size)
    epochs, minibatches = checks.size("epochs", epochs), checks.size("minibatches", minibatches, high=batch_size)
    eps = checks.real("eps", eps, low=0, high=1, low_open=True, high_open=True)
    lr, vf_coef = checks.positive("lr", lr), checks.real("vf_coef", vf_coef, low=0)
    max_new_tokens, seed = checks.size("max_new_tokens", max_new_tokens, high=1000), checks.integer("seed", seed)
    torch.manual_seed(seed)
    model = PolicyWithValue(copy.deepcopy(policy))
    reference = copy.deepcopy(reference).eval().requires_grad_(False)
    sampler = torch.Generator().manual_seed(seed)
    run = PPORun(beta=beta)
    for _ in tqdm(range(iterations), desc=f"PPO beta={beta:g}", disable=not progress):
        pick = torch.randint(len(prompts), (batch_size,), generator=sampler).tolist()
        batch_prompts = [prompts[i] for i in pick]
        r = rollout(model, reference, tokenizer, batch_prompts, reward_fn, max_new_tokens=max_new_tokens,
                    generator=sampler)
        mask = r["response_mask"].float()
        rewards = token_rewards(r["logp"], r["logp_ref"], r["scores"], mask, beta)
        adv, returns = advantages(rewards, r["values"], mask, gamma, lam)
        mean = _masked_mean(adv, mask)
        std = _masked_mean((adv - mean) ** 2, mask).sqrt()
        adv = (adv - mean) / (std + 1e-8) * mask  # whitened over the rollout's tokens
        run.proxy.append(float(r["scores"].mean()))
        run.kl.append(float(((r["logp"] - r["logp_ref"]) * mask).sum(1).mean()))
        run.distinct2.append(distinct_n(r["tokens"], 2))
        run.length.append(float(mask.sum(1).mean()))
        if gold_fn is not None:
            run.gold.append(sum(gold_fn(p, y) for p, y in zip(batch_prompts, r["texts"])) / batch_size)
        run.samples = r["texts"][:4]
        order = torch.randperm(batch_size, generator=sampler)
        parts = [order[i::minibatches] for i in range(minibatches)]
        batches = [dict(ids=r["ids"][j], attention_mask=r["attention_mask"][j], prompt_len=r["prompt_len"],
                        response_mask=r["response_mask"][j], old_logp=r["logp"][j], advantages=adv[j],
                        returns=returns[j], eps=eps, vf_coef=vf_coef) for j in parts]
        model.train()
        train(model, batches, steps=epochs * minibatches, lr=lr, warmup=0, min_lr=lr, weight_decay=0.0,
              grad_clip=1.0, loss_fn=ppo_loss, seed=None, progress=False)
    return model.eval(), run


def gao_fit(kl: Sequence[float], reward: Sequence[float], form: str = "rl") -> tuple[float, float]:
    """Least-squares ``(alpha, beta)`` of Gao et al.'s reward-vs-``d = sqrt(KL)`` form, ``reward``
    measured relative to the start (reward at KL 0 subtracted by the caller):
    ``form="rl"``: ``d (alpha - beta log d)``; ``form="bon"``: ``d (alpha - beta d)``."""
    form = checks.choice("form", form, ("rl", "bon"))
    d = torch.as_tensor(list(kl), dtype=torch.float64).clamp(min=0).sqrt()
    y = torch.as_tensor(list(reward), dtype=torch.float64)
    if d.shape != y.shape or len(d) < 2:
        raise ValueError(f"kl and reward must have the same length >= 2, got {len(d)} and {len(y)}")
    second = -d * torch.log(d.clamp(min=1e-12)) if form == "rl" else -d * d
    A = torch.stack([d, second], 1)
    alpha, b = torch.linalg.lstsq(A, y[:, None]).solution[:, 0].tolist()
    return alpha, b


def gao_curve(d, alpha: float, beta: float, form: str = "rl"):
    """Gao et al.'s form at ``d = sqrt(KL)`` (a number or a tensor)."""
    form = checks.choice("form", form, ("rl", "bon"))
    d = torch.as_tensor(d, dtype=torch.float64)
    return d * (alpha - beta * torch.log(d.clamp(min=1e-12))) if form == "rl" else d * (alpha - beta * d)

"""DPO vs PPO from the same preference pairs (book section 4.4.2 against section 4.3.3).

Both start from one policy and one set of :class:`lmnotes.data.toyworld.PreferencePair` s:

- **DPO** (:func:`lmnotes.alignment.dpo.lm_dpo`) trains the policy on the pairs directly;
- **RLHF with PPO** first fits a Bradley-Terry reward model to the pairs
  (:func:`lmnotes.alignment.rewards.train_reward_model`), then runs
  :func:`lmnotes.alignment.ppo.ppo` against it on the pairs' prompts.

:func:`run` does either and measures the same things: the gold reward of greedy answers to
evaluation prompts (:func:`gold_report`), the Monte-Carlo KL to the reference
(:func:`lmnotes.alignment.dpo.kl_to_reference`) and the wall time of training.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

from torch import nn

from lmnotes import checks
from lmnotes.alignment import dpo, ppo, rewards
from lmnotes.alignment.sft import respond
from lmnotes.data import toyworld

METHODS = ("dpo", "ppo")


def gold_report(model: nn.Module, tokenizer, prompts: Sequence[str]) -> dict:
    """Greedy answers of ``model`` to ``prompts`` scored by ``toyworld.hidden_reward``: the mean gold
    reward, the share answered correctly (gold >= 1.5), the share opening politely, and the first answer."""
    prompts = checks.texts("prompts", list(prompts) if isinstance(prompts, tuple) else prompts)
    answers = respond(model, prompts, tokenizer)
    gold = [toyworld.hidden_reward(p, a) for p, a in zip(prompts, answers)]
    return {"gold": statistics.mean(gold), "correct": statistics.mean(g >= 1.5 for g in gold),
            "polite": statistics.mean(a.startswith(tuple(toyworld.POLITE_OPENERS)) for a in answers),
            "example": answers[0]}


def run(method: str, policy: nn.Module, tokenizer, pairs: Sequence, eval_prompts: Sequence[str], *, beta: float,
        seed: int = 0, kl_prompts: int = 32, kl_samples: int = 8, reward_backbone: nn.Module | None = None,
        dpo_steps: int = 60, dpo_lr: float = 1e-4, dpo_batch: int = 16, rm_steps: int = 200, rm_lr: float = 1e-3,
        rm_batch: int = 32, ppo_iterations: int = 60, ppo_batch: int = 32, ppo_lr: float = 3e-4) -> dict:
    """Align a copy of ``policy`` (which stays the frozen reference) on ``pairs`` with ``method``
    ("dpo" or "ppo", KL coefficient ``beta``) and measure it on ``eval_prompts`` (prompts that no
    training step saw): :func:`gold_report`, ``kl`` (nats per response, ``kl_samples`` samples for
    each of the first ``kl_prompts`` prompts) and ``train_seconds`` (for PPO also ``rm_seconds``, the
    reward model's share of it, and the per-iteration ``curve`` of rollout gold reward and KL).
    PPO's reward model is a ``RewardModel`` on ``reward_backbone`` (same tokenizer)."""
    method = checks.choice("method", method, METHODS)
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must hold at least one preference pair, got none")
    eval_prompts = checks.texts("eval_prompts", list(eval_prompts))
    kl_prompts = checks.size("kl_prompts", kl_prompts, high=len(eval_prompts))
    kl_samples = checks.size("kl_samples", kl_samples, high=1000)
    seed = checks.integer("seed", seed)
    start = time.perf_counter()
    out: dict = {"method": method, "beta": beta, "seed": seed}
    if method == "dpo":
        tuned, _ = dpo.lm_dpo(policy, tokenizer, pairs, beta, steps=dpo_steps, lr=dpo_lr, batch_size=dpo_batch,
                              seed=seed)
    else:
        if reward_backbone is None:
            raise ValueError("method 'ppo' needs reward_backbone (the GPT its reward model starts from)")
        rm = rewards.train_reward_model(reward_backbone, tokenizer, pairs, steps=rm_steps, lr=rm_lr,
                                        batch_size=rm_batch, seed=seed)
        out["rm_seconds"] = time.perf_counter() - start
        model, history = ppo.ppo(policy, policy, tokenizer, [p.prompt for p in pairs],
                                 rewards.Ensemble([rm], tokenizer), beta=beta, gold_fn=toyworld.hidden_reward,
                                 iterations=ppo_iterations, batch_size=ppo_batch, lr=ppo_lr, seed=seed,
                                 progress=False)
        tuned = model.policy
        out["curve"] = {"gold": history.gold, "kl": history.kl, "proxy": history.proxy}
    out["train_seconds"] = time.perf_counter() - start
    out.update(gold_report(tuned, tokenizer, eval_prompts))
    out["kl"] = dpo.kl_to_reference(tuned, policy, tokenizer, eval_prompts[:kl_prompts], n=kl_samples)
    return out

"""Automatic preference data (book section 4.4.3): a simulated AI labeller, its label noise, and
soft vs hard labels for a reward model.

An AI labeller compares two responses and states how sure it is that the first is better. Here it
sees the true reward difference through a sigmoid, p = sigmoid((r_a - r_b) / temperature), and with
probability ``noise`` its judgement is reversed (p -> 1 - p): a wrong label. A *hard* label keeps
only its verdict (p > 1/2), a *soft* label keeps p itself, and the Bradley-Terry loss takes p as
the target probability, -[p log sigmoid(d) + (1 - p) log sigmoid(-d)] with d = r_a - r_b
(hard labels make it :func:`lmnotes.alignment.rewards.bradley_terry_loss`).

The reward model is :class:`lmnotes.alignment.rewards.RewardModel`. To train many of them in
seconds, its backbone is frozen and read once (:func:`response_features`); only its linear head is
trained, through :func:`lmnotes.training.train`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lmnotes import checks
from lmnotes.adaptation import hidden_states, pool_states
from lmnotes.alignment.rewards import RewardModel, encode
from lmnotes.training import evaluating, train


def simulated_labels(reward_a, reward_b, *, noise: float = 0.0, temperature: float = 0.5,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(soft, hard) labels "a is better than b" from a simulated labeller, one per pair: soft is
    its probability sigmoid((r_a - r_b) / temperature), reversed for a share ``noise`` of the pairs
    drawn at random; hard is 1.0 where soft > 1/2, else 0.0."""
    a = torch.as_tensor(reward_a, dtype=torch.float64)
    b = torch.as_tensor(reward_b, dtype=torch.float64)
    if a.dim() != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"reward_a and reward_b must be 1-d with one length (one reward per pair), "
                         f"got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    noise = checks.probability("noise", noise)
    temperature = checks.positive("temperature", temperature)
    g = torch.Generator().manual_seed(checks.integer("seed", seed))
    p = torch.sigmoid((a - b) / temperature)
    flip = torch.rand(len(p), generator=g, dtype=torch.float64) < noise
    soft = torch.where(flip, 1 - p, p)
    return soft.float(), (soft > 0.5).float()


def soft_bradley_terry_loss(r_a: torch.Tensor, r_b: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of -[q log sigmoid(r_a - r_b) + (1 - q) log sigmoid(r_b - r_a)], q = ``target``
    the probability that a is preferred (1.0 for every pair gives the Bradley-Terry loss)."""
    for name, t in (("r_a", r_a), ("r_b", r_b), ("target", target)):
        checks.tensor(name, t, ndim=1, dtype="float")
    if not r_a.shape == r_b.shape == target.shape:
        raise ValueError(f"r_a, r_b and target must have one length, got {len(r_a)}, {len(r_b)} and {len(target)}")
    if bool(((target < 0) | (target > 1)).any()):
        raise ValueError("target must hold probabilities in [0, 1]")
    d = r_a - r_b
    return -(target * F.logsigmoid(d) + (1 - target) * F.logsigmoid(-d)).mean()


@torch.no_grad()
def response_features(model: RewardModel, tokenizer, prompts: Sequence[str], responses: Sequence[str],
                      batch_size: int = 512) -> torch.Tensor:
    """What ``model``'s head reads for each (prompt, response): the backbone's hidden state at the
    last token, (n, width). Computed once, so that heads can be trained on top in milliseconds."""
    if not isinstance(model, RewardModel):
        raise TypeError(f"model must be a RewardModel, got {type(model).__name__}")
    prompts, responses = checks.texts("prompts", prompts), checks.texts("responses", responses)
    if len(prompts) != len(responses):
        raise ValueError(f"prompts and responses must have one length, got {len(prompts)} and {len(responses)}")
    batch_size = checks.size("batch_size", batch_size)
    out = []
    with evaluating(model):
        for i in range(0, len(prompts), batch_size):
            batch = encode(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size])
            h = hidden_states(model.backbone, batch["input_ids"], batch["attention_mask"])
            out.append(pool_states(h, batch["attention_mask"], "last"))
    return torch.cat(out)


def train_head(model: RewardModel, features_a: torch.Tensor, features_b: torch.Tensor, target: torch.Tensor, *,
               steps: int = 300, lr: float = 0.02, seed: int = 0) -> nn.Linear:
    """Train a fresh copy of ``model.head`` (the backbone frozen) on pairs given by their :func:`response_features`,
    with ``target`` the probability that a beats b (soft labels, or 0/1 hard ones): full-batch
    AdamW through :func:`lmnotes.training.train`. Returns the trained head (``model`` is unchanged)."""
    if not isinstance(model, RewardModel):
        raise TypeError(f"model must be a RewardModel, got {type(model).__name__}")
    checks.tensor("features_a", features_a, ndim=2, dtype="float")
    checks.tensor("features_b", features_b, ndim=2, dtype="float")
    if features_a.shape != features_b.shape or len(target) != len(features_a):
        raise ValueError(f"features_a, features_b and target must describe the same pairs, got shapes "
                         f"{tuple(features_a.shape)}, {tuple(features_b.shape)} and {tuple(target.shape)}")
    torch.manual_seed(checks.integer("seed", seed))
    head = copy.deepcopy(model.head)
    nn.init.normal_(head.weight, std=0.02)
    batch = (features_a, features_b, target.float())
    train(head, [batch], steps=checks.size("steps", steps), lr=checks.positive("lr", lr), weight_decay=0.0,
          loss_fn=lambda head, b: soft_bradley_terry_loss(head(b[0])[:, 0], head(b[1])[:, 0], b[2]),
          progress=False, seed=seed)
    return head

"""Reward models learned from human preferences (book section 4.3.2).

A reward model reads a prompt and a response and returns one number, ``r(x, y)``. Annotators do not
give numbers, they compare: the Bradley-Terry model (Eq. 4.35-4.36) turns a reward difference into
the probability that ``y_a`` is preferred to ``y_b``,

    Pr(y_a > y_b | x) = sigmoid(r(x, y_a) - r(x, y_b)),

and training maximises the log-likelihood of the observed preferences (Eq. 4.37-4.38): the loss is
the **mean** over pairs of ``-log sigmoid(r_chosen - r_rejected)``. Only differences matter, so a
constant added to every reward changes nothing (the head has no bias).

A ranking of ``k`` responses is modelled listwise by Plackett-Luce (Eq. 4.58-4.61): pick the best
with probability ``softmax(r)``, remove it, pick the next among the rest, ... The loss of one
ranking is ``-sum_j [r_(j) - logsumexp(r_(j..k))]`` (its last term is 0); for ``k = 2`` it is exactly
the Bradley-Terry loss.

The model is a pre-trained GPT backbone with a linear head read at the last real token
(``lmnotes.adaptation.hidden_states``), trained with the one training loop,
:func:`lmnotes.training.train`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lmnotes import checks
from lmnotes.adaptation import hidden_states, pool_states
from lmnotes.models import GPT
from lmnotes.training import evaluating, train


def _gpt(name: str, model) -> GPT:
    if not isinstance(model, GPT):
        raise TypeError(f"{name} must be an lmnotes GPT (e.g. checkpoints.load('toyworld-gpt').model), "
                        f"got {type(model).__name__}")
    return model


def _rewards(name: str, value) -> torch.Tensor:
    value = checks.tensor(name, value)
    if not value.dtype.is_floating_point:
        raise TypeError(f"{name} must hold real-valued rewards (a floating-point tensor), got dtype {value.dtype}")
    return value


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of ``-log sigmoid(r_chosen - r_rejected)`` (Eq. 4.37-4.38)."""
    r_chosen, r_rejected = _rewards("r_chosen", r_chosen), _rewards("r_rejected", r_rejected)
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen and r_rejected must have the same shape (one reward per pair), "
                         f"got {tuple(r_chosen.shape)} and {tuple(r_rejected.shape)}")
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def plackett_luce_loss(rewards: torch.Tensor) -> torch.Tensor:
    """Mean over rankings of the Plackett-Luce negative log-likelihood (Eq. 4.58-4.61).

    ``rewards`` is ``(n, k)``: row ``i`` holds the rewards of ranking ``i``'s responses, best first.
    """
    rewards = _rewards("rewards", rewards)
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (n_rankings, k >= 2), best first, got shape {tuple(rewards.shape)}")
    rest = torch.logcumsumexp(rewards.flip(1), dim=1).flip(1)  # logsumexp of r_j..r_k for each j
    return -(rewards - rest)[:, :-1].sum(1).mean()


class RewardModel(nn.Module):
    """A GPT backbone plus a bias-free linear head: ``forward(input_ids, attention_mask) -> (B,)``
    rewards, read at the last real token of right-padded rows."""

    def __init__(self, backbone: GPT):
        super().__init__()
        self.backbone = _gpt("backbone", backbone)
        self.config = backbone.config
        self.head = nn.Linear(backbone.config.n_embd, 1, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        input_ids = checks.tensor("input_ids", input_ids, ndim=2, dtype="int")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        h = hidden_states(self.backbone, input_ids, attention_mask)
        return self.head(pool_states(h, attention_mask, "last")).squeeze(-1)


def encode(tokenizer, prompts: Sequence[str], responses: Sequence[str]) -> dict[str, torch.Tensor]:
    """Right-padded ``{"input_ids", "attention_mask"}`` of ``prompt + " " + response`` per row."""
    prompts, responses = checks.texts("prompts", prompts), checks.texts("responses", responses)
    if len(prompts) != len(responses):
        raise ValueError(f"prompts and responses must have the same length, got {len(prompts)} and {len(responses)}")
    rows = [tokenizer.encode(f"{p} {r}") for p, r in zip(prompts, responses)]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id or 0
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return {"input_ids": ids, "attention_mask": mask}


@torch.no_grad()
def score(model: RewardModel, tokenizer, prompts: Sequence[str], responses: Sequence[str],
          batch_size: int = 256) -> torch.Tensor:
    """The rewards ``r(x, y)`` of (prompt, response) rows, ``(n,)``, in eval mode."""
    if not isinstance(model, RewardModel):
        raise TypeError(f"model must be a RewardModel, got {type(model).__name__}")
    prompts, responses = checks.texts("prompts", prompts), checks.texts("responses", responses)
    if len(prompts) != len(responses):
        raise ValueError(f"prompts and responses must have one length, got {len(prompts)} and {len(responses)}")
    batch_size = checks.size("batch_size", batch_size)
    with evaluating(model):
        out = [model(**encode(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size]))
               for i in range(0, len(prompts), batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def _pair_batches(tokenizer, pairs, batch_size: int, seed: int):
    order = torch.Generator().manual_seed(seed)

    def batch(step):
        pick = torch.randint(len(pairs), (batch_size,), generator=order).tolist()
        chosen = [pairs[i] for i in pick]
        prompts = [p.prompt for p in chosen] * 2
        return encode(tokenizer, prompts, [p.chosen for p in chosen] + [p.rejected for p in chosen])
    return batch


def _list_batches(tokenizer, lists, batch_size: int, seed: int):
    order = torch.Generator().manual_seed(seed)

    def batch(step):
        pick = [lists[i] for i in torch.randint(len(lists), (batch_size,), generator=order).tolist()]
        return encode(tokenizer, [r.prompt for r in pick for _ in r.responses],
                      [y for r in pick for y in r.responses]) | {"k": len(pick[0].responses)}
    return batch


def pairwise_loss(model: RewardModel, batch: dict) -> torch.Tensor:
    """Bradley-Terry loss of a batch whose first half is chosen and second half rejected responses."""
    r = model(batch["input_ids"], batch["attention_mask"])
    chosen, rejected = r.chunk(2)
    return bradley_terry_loss(chosen, rejected)


def listwise_loss(model: RewardModel, batch: dict) -> torch.Tensor:
    """Plackett-Luce loss of a batch of rankings flattened row by row (``batch["k"]`` responses each)."""
    r = model(batch["input_ids"], batch["attention_mask"])
    return plackett_luce_loss(r.view(-1, batch["k"]))


def train_reward_model(backbone: GPT, tokenizer, data: Sequence, *, steps: int = 300, lr: float = 1e-3,
                       batch_size: int = 32, seed: int = 0, progress: bool = False) -> RewardModel:
    """A reward model fine-tuned from a copy of ``backbone`` on preference ``data``.

    ``data`` holds ``PreferencePair`` s (Bradley-Terry loss) or ``RankedList`` s (Plackett-Luce loss),
    from :mod:`lmnotes.data`; each step draws ``batch_size`` of them. Pairs whose chosen response
    equals the rejected one are refused (they carry no preference).
    """
    from lmnotes.data.toyworld import PreferencePair, RankedList

    _gpt("backbone", backbone)
    steps, batch_size = checks.size("steps", steps), checks.size("batch_size", batch_size)
    lr, seed = checks.positive("lr", lr), checks.integer("seed", seed)
    data = list(data)
    if not data:
        raise ValueError("data must hold at least one preference pair or ranked list, got none")
    kind = type(data[0])
    if kind not in (PreferencePair, RankedList) or any(type(d) is not kind for d in data):
        raise TypeError("data must be all PreferencePair or all RankedList (from lmnotes.data)")
    if kind is PreferencePair:
        same = [i for i, p in enumerate(data) if p.chosen == p.rejected]
        if same:
            raise ValueError(f"data holds pairs whose chosen equals rejected (first at index {same[0]}): "
                             "such a pair states no preference")
        batches, loss_fn = _pair_batches(tokenizer, data, batch_size, seed), pairwise_loss
    else:
        if len({len(r.responses) for r in data}) != 1:
            raise ValueError("data's ranked lists must all have the same number of responses")
        batches, loss_fn = _list_batches(tokenizer, data, batch_size, seed), listwise_loss
    torch.manual_seed(seed)
    model = RewardModel(copy.deepcopy(backbone))
    nn.init.normal_(model.head.weight, std=0.02)
    train(model, batches, steps=steps, lr=lr, warmup=min(20, steps - 1), loss_fn=loss_fn, seed=seed,
          progress=progress)
    return model.eval()


def pairwise_accuracy(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> float:
    """The share of pairs the rewards order correctly (``r_chosen > r_rejected``; ties count half)."""
    r_chosen, r_rejected = _rewards("r_chosen", r_chosen), _rewards("r_rejected", r_rejected)
    if r_chosen.shape != r_rejected.shape or r_chosen.numel() == 0:
        raise ValueError(f"r_chosen and r_rejected must have the same non-empty shape, "
                         f"got {tuple(r_chosen.shape)} and {tuple(r_rejected.shape)}")
    return float(((r_chosen > r_rejected).double() + 0.5 * (r_chosen == r_rejected).double()).mean())


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share the mean of their ranks), as Spearman's rho needs."""
    order = torch.argsort(x, stable=True)
    ranks = torch.empty_like(x, dtype=torch.float64)
    ranks[order] = torch.arange(len(x), dtype=torch.float64)
    values = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or values[end] != values[start]:
            ranks[order[start:end]] = (start + end - 1) / 2
            start = end
    return ranks


def spearman(a, b) -> float:
    """Spearman's rank correlation of two equally long sequences of numbers (ties get average ranks)."""
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"a and b must have the same length >= 2, got {len(a)} and {len(b)}")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra ** 2).sum() * (rb ** 2).sum()))
    if denom == 0:
        raise ValueError("a and b must each hold at least two different values (a rank correlation needs spread)")
    return float((ra * rb).sum() / denom)


def held_out_pairs(n: int, seed: int, exclude: Sequence[str]) -> list:
    """``n`` preference pairs whose prompts occur nowhere in ``exclude`` (the training prompts)."""
    from lmnotes.data import preference_pairs

    n = checks.size("n", n, high=checks.MAX_EXAMPLES)
    seen = set(checks.texts("exclude", list(exclude), allow_empty_list=True))
    pool = [p for p in preference_pairs(4 * n, seed=seed) if p.prompt not in seen]
    if len(pool) < n:
        raise ValueError(f"only {len(pool)} of {4 * n} pairs have unseen prompts; ask for fewer than n={n}")
    return pool[:n]


def evaluate(model: RewardModel, tokenizer, pairs: Sequence) -> dict[str, float]:
    """``accuracy`` (pairwise, against the hidden reward's order) and ``spearman`` (rank correlation of
    the scores of every chosen and rejected response with their hidden rewards) on ``pairs``."""
    pairs = list(pairs)
    prompts = [p.prompt for p in pairs]
    rc = score(model, tokenizer, prompts, [p.chosen for p in pairs])
    rr = score(model, tokenizer, prompts, [p.rejected for p in pairs])
    truth_c = torch.tensor([p.chosen_reward for p in pairs])
    truth_r = torch.tensor([p.rejected_reward for p in pairs])
    better = truth_c > truth_r  # noisy labels may have flipped a pair: judge against the hidden reward
    accuracy = pairwise_accuracy(torch.where(better, rc, rr), torch.where(better, rr, rc))
    return {"accuracy": accuracy, "spearman": spearman(torch.cat([rc, rr]), torch.cat([truth_c, truth_r]))}


class Ensemble:
    """The mean score of several reward models (section 4.4.1.4), called like a reward function."""

    def __init__(self, models: Sequence[RewardModel], tokenizer):
        models = list(models)
        if not models or not all(isinstance(m, RewardModel) for m in models):
            raise TypeError("models must be a non-empty list of RewardModel")
        self.models, self.tokenizer = models, tokenizer

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        return torch.stack([score(m, self.tokenizer, prompts, responses) for m in self.models]).mean(0)

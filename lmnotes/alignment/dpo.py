"""Direct preference optimisation (book section 4.4.2, Eq. 4.73-4.82).

RLHF's KL-regularised objective, maximise E[r(x, y)] - beta KL(pi || pi_ref), has a closed-form
optimum, pi*(y | x) = pi_ref(y | x) exp(r(x, y) / beta) / Z(x). Solving it for the reward,
r = beta log(pi* / pi_ref) + beta log Z(x), and putting that into the Bradley-Terry likelihood makes
Z cancel: the policy itself is trained on preference pairs with

    loss = -log sigmoid(beta [log pi(y_w|x)/pi_ref(y_w|x) - log pi(y_l|x)/pi_ref(y_l|x)])

averaged over pairs, and ``beta log(pi / pi_ref)`` is the *implicit reward* it has learned.

Two policies are trained here, both through :func:`lmnotes.training.train`: a
:class:`CategoricalPolicy` (one softmax over a few candidate responses per prompt, where pi* can
be computed exactly) and any causal LM, whose sequence log-probabilities come from
:func:`lmnotes.generation.sequence_logprobs`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from lmnotes import checks
from lmnotes.alignment.best_of_n import sample_responses
from lmnotes.alignment.rewards import bradley_terry_loss
from lmnotes.generation import sequence_logprobs
from lmnotes.training import History, train


def _beta(beta) -> float:
    return checks.positive("beta", beta)


def _same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(checks.tensor(name, t, dtype="float").shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"the log-probabilities must have one shape (one value per pair), got {shapes}")


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """The DPO loss (Eq. 4.82), the mean over pairs of
    ``-log sigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))``.

    Each argument holds one log-probability log pi(y | x) per pair (summed over the response's
    tokens for a language model); ``beta > 0`` is the KL coefficient of the objective DPO solves.
    """
    beta = _beta(beta)
    _same_shape(policy_chosen=policy_chosen, policy_rejected=policy_rejected, ref_chosen=ref_chosen,
                ref_rejected=ref_rejected)
    # the Bradley-Terry loss (Eq. 4.37) of the implicit rewards beta log(pi / pi_ref)
    return bradley_terry_loss(beta * (policy_chosen - ref_chosen), beta * (policy_rejected - ref_rejected))


def implicit_reward(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """The reward a DPO policy has learned, ``beta * log(pi / pi_ref)`` (Eq. 4.80 without its log Z(x) term;
    it equals the true reward up to a per-prompt constant beta log Z(x) at the optimum)."""
    beta = _beta(beta)
    _same_shape(policy_logps=policy_logps, ref_logps=ref_logps)
    return beta * (policy_logps - ref_logps)


def _rewards_like(ref_logits: torch.Tensor, rewards: torch.Tensor) -> None:
    checks.tensor("ref_logits", ref_logits, ndim=2, dtype="float")
    checks.tensor("rewards", rewards, ndim=2, dtype="float")
    if rewards.shape != ref_logits.shape:
        raise ValueError(f"rewards must have one value per candidate, the shape of ref_logits "
                         f"{tuple(ref_logits.shape)}, got {tuple(rewards.shape)}")


def optimal_policy(ref_logits: torch.Tensor, rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """pi*(y | x) = pi_ref(y | x) exp(r(x, y) / beta) / Z(x) (Eq. 4.76-4.77) as probabilities
    (prompts, candidates); ``ref_logits`` and ``rewards`` are (prompts, candidates)."""
    beta = _beta(beta)
    _rewards_like(ref_logits, rewards)
    return (ref_logits.log_softmax(-1) + rewards / beta).softmax(-1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = sum_y p log(p / q) in nats along the last dimension, for probability tensors of
    one shape (terms with p = 0 count 0)."""
    checks.tensor("p", p, dtype="float")
    checks.tensor("q", q, dtype="float")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have one shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    terms = torch.where(p > 0, p * (p.clamp_min(1e-300).log() - q.clamp_min(1e-300).log()), torch.zeros_like(p))
    return terms.sum(-1)


class CategoricalPolicy(nn.Module):
    """A policy over ``K`` candidate responses for each of ``P`` prompts: one softmax per prompt,
    its logits the parameters. ``forward()`` returns log pi(y | x), shape (P, K)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        checks.tensor("logits", logits, ndim=2, dtype="float")
        self.logits = nn.Parameter(logits.detach().clone().float())

    def forward(self) -> torch.Tensor:
        return self.logits.log_softmax(-1)


def bradley_terry_pairs(rewards: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` labelled pairs for the categorical check, as rows (prompt, chosen, rejected): a prompt
    and two different candidates drawn uniformly, the first preferred with the Bradley-Terry
    probability sigmoid(r_a - r_b) (Eq. 4.35), as a noisy annotator with these true rewards would."""
    checks.tensor("rewards", rewards, ndim=2, dtype="float")
    n = checks.size("n", n)
    P, K = rewards.shape
    if K < 2:
        raise ValueError(f"rewards must have at least 2 candidates per prompt, got {K}")
    g = torch.Generator().manual_seed(checks.integer("seed", seed))
    prompt = torch.randint(P, (n,), generator=g)
    a = torch.randint(K, (n,), generator=g)
    b = (a + torch.randint(1, K, (n,), generator=g)) % K  # any candidate but a
    a_wins = torch.rand(n, generator=g) < torch.sigmoid(rewards[prompt, a] - rewards[prompt, b])
    return torch.stack([prompt, torch.where(a_wins, a, b), torch.where(a_wins, b, a)], dim=1)


def _check_pairs(pairs: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    checks.tensor("pairs", pairs, ndim=2, dtype="int")
    if pairs.shape[1] != 3 or len(pairs) == 0:
        raise ValueError(f"pairs must be rows (prompt, chosen, rejected), got shape {tuple(pairs.shape)}")
    if bool((pairs[:, 1] == pairs[:, 2]).any()):
        row = int((pairs[:, 1] == pairs[:, 2]).nonzero()[0])
        raise ValueError(f"pairs must have chosen != rejected; row {row} is {pairs[row].tolist()}")
    P, K = shape
    if pairs.min() < 0 or pairs[:, 0].max() >= P or pairs[:, 1:].max() >= K:
        raise ValueError(f"pairs must index prompts in [0, {P}) and candidates in [0, {K})")
    return pairs


def categorical_dpo(ref_logits: torch.Tensor, pairs: torch.Tensor, beta: float, *, steps: int = 400,
                    lr: float = 0.1, progress: bool = False) -> tuple[CategoricalPolicy, History]:
    """DPO on a :class:`CategoricalPolicy` started at the reference: full-batch AdamW through
    :func:`lmnotes.training.train` (no weight decay: the loss is convex in the logits, so its
    minimiser is what is reached). Returns the policy and the training history."""
    beta = _beta(beta)
    checks.tensor("ref_logits", ref_logits, ndim=2, dtype="float")
    pairs = _check_pairs(pairs, tuple(ref_logits.shape))
    ref = ref_logits.detach().float().log_softmax(-1)
    p, c, r = pairs.unbind(1)
    policy = CategoricalPolicy(ref_logits)

    def loss_fn(model: CategoricalPolicy, _batch) -> torch.Tensor:
        logp = model()
        return dpo_loss(logp[p, c], logp[p, r], ref[p, c], ref[p, r], beta)

    history = train(policy, [pairs], steps=steps, lr=lr, weight_decay=0.0, grad_clip=None, loss_fn=loss_fn,
                    progress=progress, seed=0)
    return policy, history


# ----------------------------------------------------------------------------------------------
# Language models: sequence log-probabilities and DPO on text


def vocab_size(model: nn.Module) -> int:
    """The output vocabulary of an lmnotes or transformers causal LM."""
    checks.model_kind("model", model, "causal")
    return int(model.config.vocab_size)


def check_same_vocab(policy: nn.Module, reference: nn.Module) -> None:
    """A policy and its reference must score the same token ids: equal vocabularies."""
    vp, vr = vocab_size(policy), vocab_size(reference)
    if vp != vr:
        raise ValueError(f"policy and reference must share a vocabulary, got sizes {vp} and {vr}")


def preference_batch(tokenizer, prompts: Sequence[str], chosen: Sequence[str], rejected: Sequence[str],
                     pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Token ids of ``prompt + chosen`` and ``prompt + rejected``, stacked as one (2B, T) batch
    (chosen rows first, right-padded) with ``response_mask`` marking the response tokens, as trl's
    DPO collator lays them out. ``tokenizer.encode(text)`` gives a list of ids."""
    prompts, chosen, rejected = (checks.texts(n, v) for n, v in
                                 (("prompts", prompts), ("chosen", chosen), ("rejected", rejected)))
    if not len(prompts) == len(chosen) == len(rejected):
        raise ValueError(f"prompts, chosen and rejected must have one length, got "
                         f"{len(prompts)}, {len(chosen)} and {len(rejected)}")
    same = [i for i, (c, r) in enumerate(zip(chosen, rejected)) if c == r]
    if same:
        raise ValueError(f"a pair needs two different responses; chosen equals rejected in pair {same[0]}: "
                         f"{chosen[same[0]]!r}")
    rows, masks = [], []
    for responses in (chosen, rejected):
        for prompt, response in zip(prompts, responses):
            p, r = list(tokenizer.encode(prompt)), list(tokenizer.encode(" " + response.lstrip()))
            rows.append(p + r)
            masks.append([0] * len(p) + [1] * len(r))
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), checks.integer("pad_token_id", pad_token_id, low=0), dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, (row, m) in enumerate(zip(rows, masks)):
        ids[i, :len(row)], mask[i, :len(m)] = torch.tensor(row), torch.tensor(m)
    return {"input_ids": ids, "response_mask": mask}


def lm_dpo_loss(policy: nn.Module, reference: nn.Module, batch: dict[str, torch.Tensor], beta: float
                ) -> torch.Tensor:
    """The DPO loss of a causal LM on a :func:`preference_batch` (chosen rows first, then rejected),
    the reference scored without gradients."""
    beta = _beta(beta)
    check_same_vocab(policy, reference)
    ids, mask = batch["input_ids"], batch["response_mask"]
    if len(ids) % 2:
        raise ValueError(f"batch must hold chosen rows then rejected rows (an even count), got {len(ids)}")
    policy_logps = sequence_logprobs(policy, ids, mask)
    with torch.no_grad():
        ref_logps = sequence_logprobs(reference, ids, mask)
    pc, pr = policy_logps.chunk(2)
    rc, rr = ref_logps.chunk(2)
    return dpo_loss(pc, pr, rc, rr, beta)


def lm_dpo(policy: nn.Module, tokenizer, pairs: Sequence, beta: float, *, steps: int = 60, lr: float = 3e-4,
           batch_size: int = 16, seed: int = 0, progress: bool = False) -> tuple[nn.Module, History]:
    """DPO of a causal LM on ``PreferencePair`` s (:func:`lmnotes.data.toyworld.preference_pairs`):
    a copy of ``policy`` is trained, ``policy`` itself stays as the frozen reference. Each of the
    ``steps`` AdamW updates (through :func:`lmnotes.training.train`) draws ``batch_size`` pairs.
    Returns the trained copy and the history."""
    beta = _beta(beta)
    checks.model_kind("policy", policy, "causal")
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must hold at least one preference pair, got none")
    same = [i for i, pair in enumerate(pairs) if pair.chosen == pair.rejected]
    if same:
        raise ValueError(f"pairs must have chosen != rejected; pair {same[0]} has both {pairs[same[0]].chosen!r}")
    steps, batch_size = checks.size("steps", steps), checks.size("batch_size", batch_size)
    reference = copy.deepcopy(policy).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    trained = copy.deepcopy(policy)
    order = torch.Generator().manual_seed(checks.integer("seed", seed))
    pad = tokenizer.pad_token_id or 0

    def batches(step: int) -> dict[str, torch.Tensor]:
        pick = [pairs[i] for i in torch.randint(len(pairs), (batch_size,), generator=order).tolist()]
        return preference_batch(tokenizer, [q.prompt for q in pick], [q.chosen for q in pick],
                                [q.rejected for q in pick], pad_token_id=pad)

    history = train(trained, batches, steps=steps, lr=lr, warmup=min(10, steps - 1), weight_decay=0.0,
                    loss_fn=lambda model, batch: lm_dpo_loss(model, reference, batch, beta), seed=seed,
                    progress=progress)
    return trained.eval(), history


@torch.no_grad()
def kl_to_reference(policy: nn.Module, reference: nn.Module, tokenizer, prompts: Sequence[str], n: int = 16,
                    *, max_new_tokens: int = 12, seed: int = 0) -> float:
    """Monte-Carlo KL(pi || pi_ref) in nats per response: the mean of log pi(y) - log pi_ref(y) over
    ``n`` responses sampled from ``policy`` for each prompt (temperature 1, up to the first ".")."""
    check_same_vocab(policy, reference)
    prompts = checks.texts("prompts", prompts)
    total = 0.0
    for i, prompt in enumerate(prompts):
        s = sample_responses(policy, tokenizer, prompt, n, max_new_tokens=max_new_tokens, seed=seed + i)
        total += float((s.logps - sequence_logprobs(reference, s.input_ids, s.response_mask)).sum())
    return total / (n * len(prompts))

"""Prompt length reduction by self-information (book section 3.3.3; Li et al. 2023, Selective Context).

A long prompt costs compute on every query. Many of its tokens are predictable from the ones before
them and carry little information: the self-information of token x_t,

    I(x_t) = -log2 p(x_t | x_1 .. x_{t-1})   (bits),

measured by a language model, says how surprising it is. Dropping the lowest-information tokens
first should keep what matters; dropping tokens at random is the baseline. ``self_information``
scores each token; ``reduce_prompt`` deletes a share ``rate`` of them either way. The first token
has no left context to be scored with, so it is always kept.
"""

from __future__ import annotations

import math
import random

import torch

from lmnotes import checks
from lmnotes.training import evaluating

METHODS = ("self_information", "random")


@torch.no_grad()
def self_information(model, tokenizer, text: str) -> list[tuple[str, float]]:
    """``(token, bits)`` for each token of ``text`` after the first (which has no context)."""
    from lmnotes.prompting.icl import _check_model

    block_size = _check_model(model)
    ids = tokenizer.encode(checks.text("text", text))
    if len(ids) < 2:
        raise ValueError(f"text must hold at least 2 tokens, got {len(ids)}")
    if len(ids) > block_size:
        raise ValueError(f"text is {len(ids)} tokens long; the model reads at most {block_size}")
    with evaluating(model):
        logp = model(torch.tensor([ids]))[0, :-1].float().log_softmax(-1)
    bits = (-logp.gather(1, torch.tensor(ids[1:])[:, None])[:, 0] / math.log(2)).tolist()
    return [(tokenizer.decode([i]).strip(), b) for i, b in zip(ids[1:], bits)]


def reduce_prompt(model, tokenizer, text: str, rate: float, method: str = "self_information", seed: int = 0) -> str:
    """``text`` with ``round(rate * n)`` of its n tokens (the first excepted) deleted.

    ``method="self_information"`` deletes the least informative tokens under ``model``;
    ``"random"`` deletes a random set of the same size, drawn with ``seed``. ``rate`` is in [0, 1).
    """
    rate = checks.real("rate", rate, 0.0, 1.0, high_open=True)
    checks.choice("method", method, METHODS)
    ids = tokenizer.encode(checks.text("text", text))
    n_drop = round(rate * (len(ids) - 1))
    if n_drop == 0:
        return tokenizer.decode(ids).strip()
    if method == "self_information":
        bits = [b for _, b in self_information(model, tokenizer, text)]
        order = sorted(range(len(bits)), key=lambda i: (bits[i], i))
    else:
        order = random.Random(checks.integer("seed", seed)).sample(range(len(ids) - 1), len(ids) - 1)
    drop = {i + 1 for i in order[:n_drop]}  # positions in ids; position 0 is never dropped
    return tokenizer.decode([t for i, t in enumerate(ids) if i not in drop]).strip()

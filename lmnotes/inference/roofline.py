"""Why prefilling is compute-bound and decoding memory-bound (book section 5.1.2, Table 5.1): a
roofline for one forward pass of a decoder.

A step that performs F floating-point operations and moves B bytes between memory and the chip takes
at least max(F / peak FLOP/s, B / bandwidth). Its *arithmetic intensity* F / B decides which bound
applies: above the device's *ridge point* (peak FLOP/s over bandwidth) the arithmetic dominates,
below it the memory traffic does. ``step_cost`` counts F and B for a pass over ``new`` tokens after
``past`` cached ones: every weight matrix is read once per pass whatever the number of tokens, so
prefilling m tokens does about m FLOPs per byte of weights, and decoding one token does about one.

Counted: the matrix multiplications (2 FLOPs per weight per token, on the ``meta`` device, so no
memory is used), the attention scores and weighted values, the weights read once, the KV cache read
and the new keys and values written. Left out: norms, activations' own traffic, softmax, embedding
look-ups (small beside the above for a 7B model).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lmnotes import checks
from lmnotes.models.gpt import GPT, GPTConfig, kv_bytes_per_token

#: Published dense (no sparsity) BF16 tensor-core peak FLOP/s and memory bandwidth (bytes/s), from
#: NVIDIA's A100 (SXM4 80 GB) and H100 (SXM5) datasheets.
DEVICES = {
    "A100 80GB SXM": (312e12, 2.039e12),
    "H100 SXM": (989e12, 3.35e12),
}


class StepCost(NamedTuple):
    """``flops`` and ``bytes`` of one forward pass; ``intensity`` = flops / bytes (FLOPs per byte)."""

    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes


def _config(config) -> GPTConfig:
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig (e.g. GPTConfig.preset('llama2-7b')), got {type(config).__name__}")
    return config


def matmul_params(config: GPTConfig) -> int:
    """Weights that multiply activations (every ``nn.Linear``, the output layer included): each costs
    2 FLOPs per token. Counted on the ``meta`` device (shapes only)."""
    with torch.device("meta"):
        model = GPT(_config(config))
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def step_cost(config: GPTConfig, new: int, past: int = 0, *, batch: int = 1, bytes_per_value: int = 2) -> StepCost:
    """FLOPs and bytes of one forward pass of ``batch`` sequences, each feeding ``new`` tokens after
    ``past`` cached ones (prefilling: new = m, past = 0; one decoding step: new = 1, past = context),
    with ``bytes_per_value`` per weight and cached number (2: bf16)."""
    config = _config(config)
    new = checks.size("new", new)
    past = checks.integer("past", past, low=0)
    batch = checks.size("batch", batch)
    bytes_per_value = checks.size("bytes_per_value", bytes_per_value, high=16)
    weights = matmul_params(config)
    head_dim = config.n_embd // config.n_head
    # scores q.k and weighted values: 2 x 2 x head_dim FLOPs per (query, key) pair and head; a query
    # at new-position i sees past + i + 1 keys (causal)
    pairs = new * past + new * (new + 1) // 2
    attention = 4 * head_dim * config.n_head * config.n_layer * pairs
    flops = batch * (2 * weights * new + attention)
    kv = kv_bytes_per_token(config, bytes_per_value)  # keys and values, per token
    memory = weights * bytes_per_value + batch * kv * (past + new)  # weights once; cache read and written
    return StepCost(float(flops), float(memory))


def ridge_point(peak_flops: float, bandwidth: float) -> float:
    """The arithmetic intensity (FLOPs per byte) above which a step is compute-bound."""
    return checks.positive("peak_flops", peak_flops) / checks.positive("bandwidth", bandwidth)


def roofline_seconds(cost: StepCost, peak_flops: float, bandwidth: float) -> float:
    """The least time a step can take: max(FLOPs / peak, bytes / bandwidth)."""
    if not isinstance(cost, StepCost):
        raise TypeError(f"cost must be a StepCost (from step_cost), got {type(cost).__name__}")
    return max(cost.flops / checks.positive("peak_flops", peak_flops), cost.bytes / checks.positive("bandwidth", bandwidth))

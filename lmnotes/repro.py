"""Reproducibility: one call seeds every random number generator the course uses."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch, and return a torch Generator seeded the same way.

    Results on CPU are then repeatable run to run; thread counts and instruction sets can still move
    the last digits, which is why notebooks print rounded numbers.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    """CUDA when present (Colab GPUs), else CPU. Nothing in the course requires a GPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")

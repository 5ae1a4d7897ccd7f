"""The recipe registry: each recipe module registers its recipes with ``@recipe(name, description)``
and returns a ``Result``; ``lmnotes.recipes.run`` turns that into a bundle or stored results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from lmnotes import checks
from lmnotes.training import History


@dataclass
class Recipe:
    name: str
    description: str
    run: Callable[[bool], "Result"]
    results: bool = False  # True: the recipe stores measured results (JSON), not a model


@dataclass
class Result:
    model: torch.nn.Module | None  # None: a study that stores results (JSON), not weights
    tokenizer: object  # an lmnotes tokenizer (None for a results-only study)
    history: History
    figures: dict = field(default_factory=dict)
    hparams: dict = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {}


def recipe(name: str, description: str, *, results: bool = False):
    """Register the decorated function ``fn(smoke: bool) -> Result`` as recipe ``name``; ``results=True``
    marks a study whose product is measured numbers (stored under ``lmnotes/results/``), not weights."""
    name, description = checks.text("name", name), checks.text("description", description)
    results = checks.boolean("results", results)

    def register(fn):
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} is registered twice")
        RECIPES[name] = Recipe(name, description, fn, results)
        return fn

    return register

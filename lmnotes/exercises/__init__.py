"""Exercises with automatic feedback.

Each exercise is a small check function registered under a name. ``check(name, answer)`` prints
what is right or, when it is wrong, *what* is wrong (not only "try again"), and returns a bool so a
notebook or a test can use it. ``solution(name)`` prints the worked solution, kept out of the
learner's way until asked for.

Exercises live in one submodule per topic (``lmnotes/exercises/tokenization.py``, ...), each calling
:func:`register`; every submodule is imported the first time an exercise is looked up, so adding a
topic needs no change here.
"""

from __future__ import annotations

import importlib
import math
import numbers
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

from lmnotes.checks import _scalar


@dataclass(frozen=True)
class Exercise:
    name: str
    prompt: str
    #: returns None when the answer is right, else a message saying what is wrong
    diagnose: Callable[[Any], str | None]
    solution: str


_REGISTRY: dict[str, Exercise] = {}


def as_number(answer: Any) -> float | None:
    """``answer`` as a finite float when it is a real number (Python, numpy, a 0-d tensor), else None.
    Booleans, nan and infinities are not numbers here."""
    plain = _scalar(answer)
    if isinstance(plain, bool) or not isinstance(plain, numbers.Real) or not math.isfinite(float(plain)):
        return None
    return float(plain)


def as_integer(answer: Any) -> int | None:
    """``answer`` as an int when it is an integer (Python, numpy, a 0-d integer tensor), else None."""
    plain = _scalar(answer)
    if isinstance(plain, bool) or not isinstance(plain, numbers.Integral):
        return None
    return int(plain)


def as_sequence(answer: Any, length: int | None = None) -> list | None:
    """``answer`` as a list of its items when it is a tuple, list, 1-d array or 1-d tensor (of
    ``length`` items when given), else None."""
    if hasattr(answer, "ndim") and hasattr(answer, "tolist"):
        if answer.ndim != 1:
            return None
        items = list(answer)
    elif isinstance(answer, (tuple, list)):
        items = list(answer)
    else:
        return None
    return items if length is None or len(items) == length else None


def register(exercise: Exercise) -> Exercise:
    if exercise.name in _REGISTRY:
        raise ValueError(f"an exercise named {exercise.name!r} is already registered")
    _REGISTRY[exercise.name] = exercise
    return exercise


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def _get(name: str) -> Exercise:
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"no exercise named {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def _non_finite(answer: Any, depth: int = 0) -> bool:
    """Whether ``answer`` holds a nan or an infinity anywhere (numbers, sequences, dicts, arrays, tensors)."""
    if depth > 5 or isinstance(answer, (str, bytes, bool)):
        return False
    if hasattr(answer, "dtype") and hasattr(answer, "tolist"):  # a numpy array/scalar or a tensor
        answer = answer.tolist()
    if isinstance(answer, numbers.Real) and not isinstance(answer, numbers.Integral):
        return not math.isfinite(float(answer))
    if isinstance(answer, dict):
        answer = list(answer.values())
    if isinstance(answer, (list, tuple)):
        return any(_non_finite(item, depth + 1) for item in answer)
    return False


def check(name: str, answer: Any) -> bool:
    """Check ``answer`` for exercise ``name``; print feedback; return whether it is right.
    An answer holding nan or an infinity is never right, whatever the exercise's own checks say."""
    exercise = _get(name)
    problem = ("the answer holds nan or an infinity: a computation went wrong before the answer"
               if _non_finite(answer) else exercise.diagnose(answer))
    if problem is None:
        print(f"✓ {name}: correct.")
        return True
    print(f"✗ {name}: {problem}")
    return False


def solution(name: str) -> None:
    """Print the worked solution of exercise ``name``."""
    print(_get(name).solution)

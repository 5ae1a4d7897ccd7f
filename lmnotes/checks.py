"""Argument checks shared by every public function of lmnotes.

Bad input gets a ``ValueError`` (a wrong value) or ``TypeError`` (a wrong kind of thing) whose message
names the argument, says what was given and what is allowed: never a silent wrong answer, never a deep
torch stack trace. Numbers are accepted the way Python's numeric tower and numpy/torch allow, so a
learner who computed a value with numpy or torch is not refused: ``numbers.Integral`` /
``numbers.Real`` instances (``np.int64``, ``np.float32``, ...) and 0-d tensors. Booleans are never
numbers here, and strings are never booleans.

Each check returns the value converted to a plain Python type, so callers write
``k = checks.integer("k", k, low=1)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

#: Upper bound for sizes a learner may ask for (counts of examples, lengths, steps): far above what
#: any notebook needs, far below what would hang a laptop or exhaust its memory.
MAX_SIZE = 10_000_000
#: Upper bound for a number of generated examples (stories, documents, prompts) and for the length
#: of one generated sequence: a million is already minutes of work on a laptop.
MAX_EXAMPLES = 1_000_000
MAX_LENGTH = 1_000_000


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _scalar(value: Any) -> Any:
    """A 0-d tensor or numpy scalar/0-d array as a Python number; anything else unchanged."""
    if hasattr(value, "ndim") and getattr(value, "ndim") == 0 and hasattr(value, "item"):
        return value.item()
    return value


def integer(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python, numpy or a 0-d integer tensor) in ``[low, high]``; returned as ``int``."""
    plain = _scalar(value)
    if isinstance(plain, bool) or not isinstance(plain, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    plain = int(plain)
    if (low is not None and plain < low) or (high is not None and plain > high):
        raise ValueError(f"{name} must be an integer {_bounds(low, high)}, got {plain}")
    return plain


def size(name: str, value: Any, low: int = 1, high: int = MAX_SIZE) -> int:
    """A count or length: an integer in ``[low, high]`` (``high`` guards against runaway sizes)."""
    return integer(name, value, low=low, high=high)


def real(name: str, value: Any, low: float | None = None, high: float | None = None, *,
         low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """A real number (int, float, numpy or 0-d tensor) within the bounds; returned as ``float``.

    ``low_open``/``high_open`` exclude the bound itself; ``finite`` refuses nan and +-inf.
    """
    plain = _scalar(value)
    if isinstance(plain, bool) or not isinstance(plain, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    plain = float(plain)
    if math.isnan(plain) or (finite and math.isinf(plain)):
        raise ValueError(f"{name} must be a finite number, got {plain}")
    too_low = low is not None and (plain <= low if low_open else plain < low)
    too_high = high is not None and (plain >= high if high_open else plain > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be a number {_bounds(low, high, low_open, high_open)}, got {plain}")
    return plain


def positive(name: str, value: Any) -> float:
    """A finite real number > 0."""
    return real(name, value, low=0.0, low_open=True)


def probability(name: str, value: Any, *, open_low: bool = False, open_high: bool = False) -> float:
    """A probability in [0, 1] (either end excluded on request)."""
    return real(name, value, 0.0, 1.0, low_open=open_low, high_open=open_high)


def boolean(name: str, value: Any) -> bool:
    """A real boolean (``True``/``False``, numpy's bool, a 0-d bool tensor); never a string or 0/1."""
    plain = _scalar(value)
    if type(plain).__name__ in ("bool", "bool_") and not isinstance(plain, str):
        return bool(plain)
    raise TypeError(f"{name} must be True or False, got {_describe(value)}")


def choice(name: str, value: Any, allowed: Iterable) -> Any:
    """One of ``allowed``."""
    allowed = list(allowed)
    try:
        ok = value in allowed
    except TypeError:  # unhashable or uncomparable
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def text(name: str, value: Any, *, allow_empty: bool = False) -> str:
    """A single string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_describe(value)}")
    if not allow_empty and not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def texts(name: str, value: Any, *, allow_empty_list: bool = False, allow_empty_texts: bool = True) -> list[str]:
    """A list (or other sequence) of strings. A single string is refused: it would otherwise be read
    character by character. ``allow_empty_texts=False`` refuses empty strings among them."""
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of texts, got a single string; wrap it: [{value[:30]!r}]")
    if not isinstance(value, Iterable) or isinstance(value, (bytes, dict)):
        raise TypeError(f"{name} must be a list of texts, got {_describe(value)}")
    items = list(value)
    bad = [i for i, item in enumerate(items) if not isinstance(item, str)]
    if bad:
        raise TypeError(f"{name} must hold only strings; item {bad[0]} is {_describe(items[bad[0]])}")
    if not items and not allow_empty_list:
        raise ValueError(f"{name} must hold at least one text, got an empty list")
    if not allow_empty_texts and "" in items:
        raise ValueError(f"{name} must hold non-empty strings; item {items.index('')} is ''")
    return items


def tensor(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None, dtype: str | None = None):
    """A torch tensor with ``ndim`` dimensions (one number or a tuple of the allowed ones) and a dtype of kind ``"int"``, ``"float"`` or
    ``"bool"`` (each optional)."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_describe(value)}")
    dims = None if ndim is None else (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if dims is not None and value.dim() not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimension(s), got shape {tuple(value.shape)}")
    if dtype is not None:
        kinds = {"int": not value.dtype.is_floating_point and not value.dtype.is_complex
                 and value.dtype != torch.bool,
                 "float": value.dtype.is_floating_point, "bool": value.dtype == torch.bool}
        choice("dtype", dtype, kinds)
        if not kinds[dtype]:
            raise TypeError(f"{name} must hold {dtype} values, got dtype {value.dtype}")
    return value


_SHAPES = {1: "a 1-D sequence of shape (time,)", 2: "a batch of shape (batch, time)"}


def finite_tensor(name: str, value: Any, *, allow_inf: bool = False):
    """A float tensor without nan (and without +-inf unless ``allow_inf``, as in logits where -inf
    marks a filtered token): a nan inside an argument would otherwise flow into a nan answer."""
    if value.is_floating_point():
        bad = value.isnan() if allow_inf else ~value.isfinite()
        if bool(bad.any()):
            raise ValueError(f"{name} holds {'nan' if allow_inf else 'nan or inf'} values "
                             f"({int(bad.sum())} of {value.numel()})")
    return value


def token_ids(name: str, value: Any, *, vocab_size: int | None = None, ndim: int | tuple[int, ...] = (1, 2),
              min_length: int = 1):
    """A tensor of token ids: an integer dtype, ``ndim`` dimensions (1: one sequence (time,), 2: a
    batch (batch, time)), at least ``min_length`` tokens per sequence, every id in ``[0, vocab_size)``
    when ``vocab_size`` is given. Returned as a LongTensor (the same tensor when it already is one)."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.LongTensor of token ids, got {_describe(value)}")
    if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
        raise TypeError(f"{name} must be a torch.LongTensor of token ids (an integer dtype), got dtype {value.dtype}")
    dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if value.dim() not in dims:
        hint = f"; add a batch dimension with {name}[None] or {name}.unsqueeze(0)" \
            if value.dim() == 1 and dims == (2,) else ""
        raise ValueError(f"{name} must be {' or '.join(_SHAPES[d] for d in dims)}, "
                         f"got shape {tuple(value.shape)}{hint}")
    if value.numel() == 0 or value.shape[-1] < min_length:
        raise ValueError(f"{name} must hold sequences of at least {min_length} token(s), got shape {tuple(value.shape)}")
    low = int(value.min())
    if vocab_size is not None:
        high = int(value.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(f"{name} holds token ids in [{low}, {high}], outside the vocabulary [0, {vocab_size - 1}]")
    elif low < 0:
        raise ValueError(f"{name} must hold token ids >= 0, got {low}")
    return value.long()


def token_id(name: str, value: Any, vocab_size: int) -> int:
    """One token id: an integer in ``[0, vocab_size)``."""
    plain = _scalar(value)
    if isinstance(plain, bool) or not isinstance(plain, numbers.Integral):
        raise TypeError(f"{name} must be a token id (an integer), got {_describe(value)}")
    if not 0 <= plain < vocab_size:
        raise ValueError(f"{name} must be a token id in [0, vocab_size={vocab_size}), got {int(plain)}")
    return int(plain)


def id_list(name: str, value: Any, vocab_size: int | None = None) -> list[int]:
    """A sequence of token ids (a list, tuple, 1-d tensor or array), each in ``[0, vocab_size)``;
    returned as a list of ints."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 1) == 1:  # a tensor or NumPy array of ids
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of token ids (ints), got {_describe(value)}")
    out = []
    for i, item in enumerate(value):
        plain = _scalar(item)
        if isinstance(plain, bool) or not isinstance(plain, numbers.Integral):
            raise TypeError(f"{name} must hold only ints; item {i} is {_describe(item)}")
        if vocab_size is not None and not 0 <= plain < vocab_size:
            raise ValueError(f"{name} must be ints in [0, {vocab_size}), got {int(plain)} at item {i}")
        out.append(int(plain))
    return out


def sequences(name: str, value: Any) -> list[list]:
    """A non-empty list of sequences (each a list, tuple, 1-d tensor or string); returned as lists."""
    import torch

    if isinstance(value, (str, bytes, torch.Tensor)) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"{name} must be a non-empty list of sequences (lists of tokens or strings), "
                        f"got {_describe(value)}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, torch.Tensor) or hasattr(item, "tolist"):
            item = item.tolist()
        if not isinstance(item, (Sequence, str)) or isinstance(item, bytes):
            raise TypeError(f"{name} must hold sequences; item {i} is {_describe(item)}")
        out.append(list(item))
    return out


def mask(name: str, value: Any, shape: tuple[int, ...]):
    """A padding mask of ``shape`` holding 0 (padding) / 1 (token) or bools; returned as a bool tensor."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of 0/1, got {_describe(value)}")
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(value.shape)}")
    if value.dtype != torch.bool and not ((value == 0) | (value == 1)).all():
        raise ValueError(f"{name} must hold only 0 (padding) and 1 (token)")
    return value.bool()


def int_range(name: str, value: Any, low: int, high: int) -> tuple[int, int]:
    """A pair ``(lo, hi)`` of integers with ``low <= lo <= hi <= high``."""
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    items = [_scalar(v) for v in value] if ok else []
    ok = ok and all(not isinstance(v, bool) and isinstance(v, numbers.Integral) for v in items)
    if not ok or not low <= items[0] <= items[1] <= high:
        raise ValueError(f"{name} must be a pair (lo, hi) of ints with {low} <= lo <= hi <= {high}, got {value!r}")
    return int(items[0]), int(items[1])


def choices(name: str, value: Any, allowed: Iterable) -> tuple:
    """A non-empty selection of ``allowed`` (one item or several); None means all of them."""
    allowed = tuple(allowed)
    if value is None:
        return allowed
    items = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, Iterable) else (value,)
    try:
        unknown = [v for v in items if v not in allowed]
    except TypeError:
        unknown = list(items)
    if not items or unknown:
        raise ValueError(f"{name} must be a non-empty selection of {allowed}, got {value!r}")
    return items


def model(name: str, value: Any):
    """A torch module (an lmnotes or transformers model)."""
    import torch

    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be a model (a torch.nn.Module), got {_describe(value)}")
    return value


def tokenizer(name: str, value: Any):
    """A tokenizer: anything with ``encode`` and ``decode`` (lmnotes tokenizers, transformers ones)."""
    if isinstance(value, (str, bytes)) or not all(callable(getattr(value, m, None)) for m in ("encode", "decode")):
        raise TypeError(f"{name} must be a tokenizer (with encode and decode), got {_describe(value)}")
    return value


def instance(name: str, value: Any, cls: type) -> Any:
    """``value`` must be an instance of ``cls`` (e.g. an lmnotes ``GPT``, where only it has the hook used)."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {_describe(value)}")
    return value


def model_kind(name: str, model: Any, kind: str, *, unknown_ok: bool = False) -> None:
    """``model`` must be a causal (left-to-right) or a masked (bidirectional) language model.

    ``kind`` is ``"causal"`` or ``"masked"``. lmnotes models say what they are through their config's
    ``causal`` flag or their class; transformers models through ``config.is_decoder`` /
    ``is_encoder_decoder`` and the architecture name. ``unknown_ok`` lets through a module whose kind
    cannot be told (a custom model): only a model known to be of the other kind is refused.
    """
    choice("kind", kind, ("causal", "masked"))
    actual = _model_kind(model)
    if actual is None and unknown_ok and isinstance(model, _torch_module()):
        return
    if actual is None:
        raise TypeError(f"{name} must be a language model (an lmnotes or transformers model), "
                        f"got {_describe(model)}")
    if actual != kind:
        need = "a causal (left-to-right) LM such as GPT" if kind == "causal" else \
            "a masked LM such as the Encoder (BERT)"
        raise TypeError(f"{name} must be {need}, got {type(model).__name__}, a {actual} model")


def _torch_module():
    import torch

    return torch.nn.Module


def _model_kind(model: Any) -> str | None:
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "forward"):
        return None
    causal = getattr(config, "causal", None)
    if isinstance(causal, bool):
        return "causal" if causal else "masked"
    names = " ".join(getattr(config, "architectures", None) or [type(model).__name__])
    if "CausalLM" in names or "LMHead" in names or type(model).__name__ == "GPT":
        return "causal"
    if "MaskedLM" in names or "ForPreTraining" in names or type(model).__name__ == "Encoder":
        return "masked"
    return None


def _bounds(low, high, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return ""

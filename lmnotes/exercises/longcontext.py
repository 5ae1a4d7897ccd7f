"""Exercises of the long-sequences notebook (chapter 2, book section 2.3)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, register
from lmnotes.generative.longcontext import kv_bytes_per_token
from lmnotes.models import GPTConfig


def _diagnose_kv_bytes(answer: Any) -> str | None:
    config = GPTConfig.preset("llama2-70b")
    want = kv_bytes_per_token(config, bytes_per_value=2)
    if isinstance(answer, bool) or not isinstance(answer, int):
        return f"expected an int (bytes per token), got {type(answer).__name__}"
    if answer == want:
        return None
    if answer == want * config.n_head // config.n_kv_head:
        return "that is the multi-head size: LLaMA-2-70B caches only its 8 key/value heads, not all 64"
    if answer == want // 2:
        return "you counted keys only (or values only): the cache holds both"
    if answer == want * 2:
        return "that is in fp32; the question asks for bf16, 2 bytes per number"
    if answer == want // config.n_layer:
        return "that is one layer's share: every one of the 80 layers keeps its own keys and values"
    return f"{answer} is not it: count 2 (K and V) x layers x KV heads x head size x 2 bytes"


register(Exercise(
    name="kv-bytes-llama2-70b",
    prompt=("LLaMA-2-70B has 80 layers, 64 query heads sharing 8 key/value heads (GQA) and width 8192. "
            "How many bytes does its KV cache hold per token in bf16?"),
    diagnose=_diagnose_kv_bytes,
    solution=("Head size 8192 / 64 = 128. Per token and layer the cache keeps a key and a value for each "
              "of the 8 KV heads: 2 x 8 x 128 = 2,048 numbers; over 80 layers 163,840 numbers, at 2 bytes "
              "327,680 bytes (320 KiB). With 64 KV heads (plain MHA) it would be 8x that, 2.5 MiB per token."),
))


#: the plain windows notebook 07's section 4 prints beside H2O, and their loss over positions 0-511 of its 4 held-out
#: texts (the bundled model; rounded as printed), with the full cache's
WINDOW_LOSSES = {16: 1.543, 32: 1.518, 48: 1.495, 64: 1.493}
FULL_CACHE_LOSS = 1.491


def _diagnose_window(answer: Any) -> str | None:
    window = as_integer(answer)
    if window is None:
        return f"give one window size (a whole number of keys), got {answer!r}"
    if window not in WINDOW_LOSSES:
        return f"pick one of the windows the table prints: {sorted(WINDOW_LOSSES)}"
    close = [w for w, loss in WINDOW_LOSSES.items() if loss - FULL_CACHE_LOSS <= 0.005]
    if window == min(close):
        return None
    if window in close:
        return f"window {window} is within 0.005, but a smaller one already is"
    return (f"window {window} is {WINDOW_LOSSES[window] - FULL_CACHE_LOSS:.3f} nats/char above the full cache "
            f"({WINDOW_LOSSES[window]:.3f} vs {FULL_CACHE_LOSS:.3f}): not within 0.005")


register(Exercise(
    name="window-matching-full-cache",
    prompt=("In section 4's H2O table, which is the smallest plain window whose loss over positions 0-511 is "
            "within 0.005 nats/char of the full cache's?"),
    diagnose=_diagnose_window,
    solution=("Window 48: 1.495 against the full cache's 1.491 (+0.004). Window 32 is +0.027 and 16 is +0.052; 64 "
              "is +0.002. So inside the context this model needs only its last 48 characters, and a cache of 64 "
              "slots leaves no room for a cleverer choice of keys (H2O) to win."),
))

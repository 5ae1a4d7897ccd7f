"""A word tokenizer for the toy world: one id per space-separated word of a fixed vocabulary.

The toy world's texts are words from a known list separated by single spaces, so splitting on
" " is exact and ``decode`` (joining with " ") gives the text back. Special tokens take the first
ids: ``<pad>`` is 0, then ``<unk>`` (any word not in the vocabulary), ``<bos>``/``<eos>`` (start
and end of a sequence), ``<mask>`` (masked language modelling) and ``<sep>`` (between segments).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import tokenizers
from tokenizers import models, pre_tokenizers

from lmnotes import checks

from .base import Tokenizer

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "<sep>")
PAD, UNK, BOS, EOS, MASK, SEP = SPECIAL_TOKENS


class WordTokenizer(Tokenizer):
    """Ids: the six special tokens, then ``words`` in the order given."""

    special_tokens = SPECIAL_TOKENS
    hf_options = {
        "pad_token": PAD,
        "unk_token": UNK,
        "bos_token": BOS,
        "eos_token": EOS,
        "mask_token": MASK,
        "sep_token": SEP,
    }

    def __init__(self, words: Iterable[str]):
        if isinstance(words, str):
            raise TypeError(f"words must be a list of words, got the str {words[:40]!r}")
        words = list(words)
        bad = [w for w in words if not isinstance(w, str) or not w or " " in w or w in SPECIAL_TOKENS]
        if bad:
            raise ValueError(
                f"words must be non-empty strs without spaces and not special tokens; got {bad[:5]!r}"
            )
        repeated = sorted(w for w, n in Counter(words).items() if n > 1)
        if repeated:
            raise ValueError(f"words must be distinct; repeated: {repeated[:5]!r}")
        self.vocab = {w: i for i, w in enumerate([*SPECIAL_TOKENS, *words])}
        self._words = list(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Split on single spaces; unknown words become ``<unk>``. "" gives []."""
        text = checks.text("text", text, allow_empty=True)
        pieces = text.split(" ") if text else []
        if "" in pieces:
            raise ValueError(
                "text must be words separated by single spaces (no leading, trailing or double spaces), "
                f"got {text[:60]!r}"
            )
        return [self.vocab.get(w, self.vocab[UNK]) for w in pieces]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        words = [self._words[i] for i in checks.id_list("ids", ids, self.vocab_size)]
        return " ".join(w for w in words if not (skip_special_tokens and w in SPECIAL_TOKENS))

    def id_to_token(self, id: int) -> str:
        return self._words[checks.token_id("id", id, self.vocab_size)]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def to_tokenizers(self) -> tokenizers.Tokenizer:
        """A word-level model split on " "; ``tokenizers`` decodes by joining with spaces."""
        tok = tokenizers.Tokenizer(models.WordLevel(self.vocab, unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="removed")
        tok.add_special_tokens(list(SPECIAL_TOKENS))
        return tok

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"

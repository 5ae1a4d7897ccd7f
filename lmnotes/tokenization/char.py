"""A character tokenizer: one id per character (the simplest vocabulary; nanoGPT's Shakespeare).

No merges and nothing to learn beyond the alphabet, so sequences are long (one token per
character) but the vocabulary is tiny (65 symbols for tiny Shakespeare). A character outside the
alphabet raises ``ValueError`` rather than silently mapping to an "unknown" id: a char model
has no embedding for it, and the error says which characters are missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import tokenizers
from tokenizers import Regex, decoders, models, pre_tokenizers

from lmnotes import checks

from .base import Tokenizer

#: matches exactly one character, newlines included (how ``tokenizers`` splits for us)
ONE_CHAR = r"[\s\S]"


class CharTokenizer(Tokenizer):
    """Ids are positions in ``alphabet``; ``CharTokenizer.from_text`` uses the sorted characters."""

    def __init__(self, alphabet: Iterable[str]):
        alphabet = list(alphabet)
        bad = [c for c in alphabet if not isinstance(c, str) or len(c) != 1]
        if bad or not alphabet:
            shown = bad[:5] if bad else alphabet
            raise ValueError(f"alphabet must be a non-empty sequence of single characters, got {shown!r}")
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet must not repeat characters, got {''.join(alphabet)!r}")
        self.alphabet = alphabet
        self._id = {c: i for i, c in enumerate(alphabet)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The alphabet of ``text``, sorted by code point (so ids do not depend on text order)."""
        return cls(sorted(set(checks.text("text", text, allow_empty=True))))

    def encode(self, text: str) -> list[int]:
        unknown = sorted(set(checks.text("text", text, allow_empty=True)) - self._id.keys())
        if unknown:
            raise ValueError(
                f"text has characters outside this tokenizer's alphabet of {len(self._id)}: {unknown[:10]!r}"
            )
        return [self._id[c] for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.alphabet[i] for i in checks.id_list("ids", ids, self.vocab_size))

    def id_to_token(self, id: int) -> str:
        return self.alphabet[checks.token_id("id", id, self.vocab_size)]

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def to_tokenizers(self) -> tokenizers.Tokenizer:
        """A word-level model whose "words" are single characters; decoding joins without spaces."""
        tok = tokenizers.Tokenizer(models.WordLevel(self._id))  # no unk token: unknown characters fail
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(ONE_CHAR), behavior="isolated")
        tok.decoder = decoders.Fuse()
        return tok

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

"""What every course tokenizer shares: ``encode``/``decode`` plus a bridge to Hugging Face.

Each tokenizer can describe itself as a ``tokenizers.Tokenizer`` (the Rust library behind
``transformers``' fast tokenizers). From that one description we get ``to_hf()`` (a
``transformers.PreTrainedTokenizerFast``) and ``save(folder)`` (a ``tokenizer.json`` that
``AutoTokenizer.from_pretrained(folder)`` loads), so the bundled checkpoints can ship their
tokenizer in the standard format; ``lmnotes.tokenization.load(folder)`` reads it back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import tokenizers


class Tokenizer(ABC):
    """Text <-> list of integer ids. Subclasses define the vocabulary and the splitting rule."""

    #: the special tokens, in id order
    special_tokens: tuple[str, ...] = ()
    #: keyword arguments for ``PreTrainedTokenizerFast``: the roles of the special tokens, ...
    hf_options: dict = {}

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Split ``text`` into tokens and return their ids."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Turn ids back into text."""

    @abstractmethod
    def id_to_token(self, id: int) -> str:
        """The vocabulary entry with this id."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""

    @abstractmethod
    def to_tokenizers(self) -> tokenizers.Tokenizer:
        """The same tokenizer as a ``tokenizers.Tokenizer`` (fast, Rust): same ids for every text."""

    def tokens(self, text: str) -> list[str]:
        """The vocabulary entries ``text`` is split into (what ``encode`` returns, as strings)."""
        return [self.id_to_token(i) for i in self.encode(text)]

    def to_hf(self):
        """A ``transformers.PreTrainedTokenizerFast`` with the same vocabulary and ids.

        Call it without special tokens added (``tok(text, add_special_tokens=False)``) to get exactly
        ``encode(text)``; decoding never "cleans up" spaces, so text round-trips.
        """
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast(
            tokenizer_object=self.to_tokenizers(),
            clean_up_tokenization_spaces=False,
            **self.hf_options,
        )

    def save(self, folder: str | Path) -> Path:
        """Write ``tokenizer.json`` (+ config) into ``folder``, loadable by ``AutoTokenizer``."""
        folder = Path(folder)
        self.to_hf().save_pretrained(folder)
        return folder

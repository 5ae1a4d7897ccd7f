"""Byte-level byte-pair encoding (BPE), GPT-2 style, written out to learn from (book §1.1).

BPE starts from the smallest possible units and *learns* bigger ones from data:

1. **Bytes.** Text is UTF-8 encoded, so every string, in every language, is a sequence of the 256
   possible bytes: nothing is ever "unknown". GPT-2 shows each byte as one printable character
   (``bytes_to_unicode``) so tokens are readable strings; a space becomes ``Ġ``.
2. **Pre-tokenization.** A regular expression cuts the text into words, each with its leading
   space (``" weather"``), punctuation runs and whitespace runs, so merges never cross a word
   boundary. Training only needs each distinct word and how often it occurs.
3. **Merges.** Count every adjacent pair of tokens over all words (weighted by word counts), merge
   the most frequent pair into a new token, record the merge, repeat until the vocabulary is full.
   Each merge shortens the text a little more: ``history`` records how many tokens per character
   remain after each one.
4. **Encoding** new text replays the merges in the order they were learned (lowest rank first).

The trainer reproduces the ``tokenizers`` library's ``BpeTrainer`` exactly (same merges, same
ids): when several pairs are equally frequent the library takes the pair with the smallest ids,
and the first ids go to the special tokens and then to the 256 byte characters sorted by code
point. ``BPETokenizer.train_fast`` calls that library for large vocabularies.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import regex
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from lmnotes import checks

from .base import Tokenizer

#: GPT-2's pre-tokenization rule: common English contractions, then a letter run, a digit run or a
#: punctuation run (each with at most one leading space), then whitespace. ``\s+(?!\S)`` leaves the
#: last space of a run to start the next word, so " weather" keeps its space.
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_SPLIT = regex.compile(GPT2_SPLIT_PATTERN)


@cache
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from the 256 byte values to 256 printable characters.

    The 188 bytes that are already visible characters (``!`` to ``~``, ``¡`` to ``¬``, ``®`` to
    ``ÿ``) stand for themselves; the other 68 (control characters, space, ...) are shifted to
    code points 256, 257, ... in byte order. So byte 32 (space) shows as ``Ġ`` (U+0120) and byte
    10 (newline) as ``Ċ``.
    """
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
               *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in visible}
    shifted = (b for b in range(256) if b not in table)
    table.update({b: chr(256 + n) for n, b in enumerate(shifted)})
    return dict(sorted(table.items()))


def pretokenize(text: str) -> list[str]:
    """Cut ``text`` into GPT-2 words, each written in byte characters (``" is"`` -> ``"Ġis"``)."""
    byte_char = bytes_to_unicode()
    text = checks.text("text", text, allow_empty=True)
    return ["".join(byte_char[b] for b in word.encode("utf-8")) for word in _SPLIT.findall(text)]


@dataclass(frozen=True)
class MergeStep:
    """One step of BPE training: which pair was merged, how often it occurred, what it gained."""

    pair: tuple[str, str]
    token: str
    count: int
    tokens_per_char: float  # on the training text, after this merge


class BPETokenizer(Tokenizer):
    """A byte-level BPE tokenizer: a vocabulary (token string -> id) and an ordered list of merges.

    Build one with ``BPETokenizer.train(text, vocab_size)`` (from scratch, in Python),
    ``BPETokenizer.train_fast(text, vocab_size)`` (same result from the ``tokenizers`` library),
    or from an existing vocabulary and merges (GPT-2's, for instance). Special tokens such as
    ``"<|endoftext|>"`` get their own ids and are matched verbatim in the text before anything
    else happens.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        merges: Sequence[tuple[str, str]],
        special_tokens: Sequence[str] = (),
    ):
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise ValueError(f"vocab ids must be 0..{len(vocab) - 1} with no gaps or repeats")
        missing = [c for c in bytes_to_unicode().values() if c not in vocab]
        if missing:
            raise ValueError(f"vocab must contain all 256 byte characters; missing {missing[:5]}")
        for special in special_tokens:
            if special not in vocab:
                raise ValueError(f"special_tokens entry {special!r} is not in vocab")
        self.merges = [tuple(pair) for pair in merges]
        for a, b in self.merges:
            if a not in vocab or b not in vocab or a + b not in vocab:
                raise ValueError(f"merge {(a, b)!r}: its parts and result must all be in vocab")
        self.vocab = dict(vocab)
        self.special_tokens = tuple(special_tokens)
        if "<|endoftext|>" in self.special_tokens:  # GPT-2's convention: one token ends and starts documents
            self.hf_options = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
        self.history: list[MergeStep] = []  # filled by ``train``
        self._id_to_token = {i: t for t, i in self.vocab.items()}
        self._rank = {pair: rank for rank, pair in enumerate(self.merges)}
        self._special_split = (
            regex.compile("(" + "|".join(regex.escape(s) for s in self.special_tokens) + ")")
            if self.special_tokens
            else None
        )
        self._cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ training from scratch
    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens: Sequence[str] = ()) -> BPETokenizer:
        """Learn merges from ``text`` until the vocabulary has ``vocab_size`` entries.

        The vocabulary starts as the special tokens then the 256 byte characters (sorted by code
        point), and grows by one token per merge. Pair counts are updated incrementally: after a
        merge only the words that contained the pair are recounted. Special tokens only reserve ids:
        the training text is treated as plain text. Stops early if no pair is left to merge.
        ``history`` holds one ``MergeStep`` per merge.
        """
        checks.text("text", text, allow_empty=True)
        vocab = cls._initial_vocab(special_tokens, vocab_size)
        id_to_token = list(vocab)

        # Each distinct word once, as a list of token ids, with how often it occurs.
        word_counts = Counter(pretokenize(text))
        words = [[vocab[c] for c in word] for word in word_counts]
        counts = list(word_counts.values())

        # How often each adjacent pair occurs, and in which words (so a merge only visits those).
        pair_counts: Counter[tuple[int, int]] = Counter()
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)

        def add_pairs(w: int, sign: int) -> None:
            for pair in zip(words[w], words[w][1:]):
                pair_counts[pair] += sign * counts[w]
                if sign > 0:
                    where[pair].add(w)

        for w in range(len(words)):
            add_pairs(w, +1)

        # A max-heap of (-count, pair): ties go to the smallest pair of ids, as in `tokenizers`.
        # Counts change after each merge. A pair whose count grew is pushed again; an entry whose
        # count has since shrunk is put back with its current count when it reaches the top.
        heap = [(-count, pair) for pair, count in pair_counts.items()]
        heapq.heapify(heap)

        def pop_most_frequent() -> tuple[int, tuple[int, int]] | None:
            while heap:
                neg_count, pair = heapq.heappop(heap)
                if -neg_count == pair_counts[pair]:
                    return -neg_count, pair
                if pair_counts[pair] > 0:
                    heapq.heappush(heap, (-pair_counts[pair], pair))
            return None  # every word is a single token

        n_tokens = sum(len(word) * count for word, count in zip(words, counts))
        merges, history = [], []
        while len(id_to_token) < vocab_size and (best := pop_most_frequent()):
            count, pair = best
            a, b = id_to_token[pair[0]], id_to_token[pair[1]]
            if a + b not in vocab:  # two different merges can spell the same token: reuse its id
                vocab[a + b] = len(id_to_token)
                id_to_token.append(a + b)
            new_id = vocab[a + b]

            grown = set()
            for w in where.pop(pair):
                merged = _merge(words[w], pair, new_id)
                if len(merged) == len(words[w]):
                    continue  # an earlier merge already took this word's pair apart
                add_pairs(w, -1)
                n_tokens -= (len(words[w]) - len(merged)) * counts[w]
                words[w] = merged
                add_pairs(w, +1)
                grown.update(p for p in zip(merged, merged[1:]) if new_id in p)
            for p in grown:
                heapq.heappush(heap, (-pair_counts[p], p))

            merges.append((a, b))
            history.append(MergeStep((a, b), a + b, count, n_tokens / max(len(text), 1)))

        tokenizer = cls(vocab, merges, special_tokens)
        tokenizer.history = history
        return tokenizer

    @staticmethod
    def _initial_vocab(special_tokens: Sequence[str], vocab_size: int) -> dict[str, int]:
        """Special tokens first, then the 256 byte characters sorted by code point (the library's order)."""
        if isinstance(special_tokens, str):
            raise TypeError(f"special_tokens must be a sequence of str, got the str {special_tokens!r}")
        if len(set(special_tokens)) != len(special_tokens):
            raise ValueError(f"special_tokens must be distinct, got {list(special_tokens)!r}")
        alphabet = sorted(bytes_to_unicode().values())
        if any(s in alphabet for s in special_tokens):
            raise ValueError(f"special_tokens must not be single byte characters, got {list(special_tokens)!r}")
        smallest = len(special_tokens) + 256
        checks.size("vocab_size", vocab_size, low=smallest)  # special tokens + 256 bytes at least
        return {token: i for i, token in enumerate([*special_tokens, *alphabet])}

    # ------------------------------------------------------------------ the library's trainer
    @classmethod
    def train_fast(cls, text: str, vocab_size: int, special_tokens: Sequence[str] = ()) -> BPETokenizer:
        """Same as ``train`` (same merges, same ids) but run by the ``tokenizers`` library in Rust.

        ``min_frequency=0`` and the full 256-byte initial alphabet make the library's settings
        those of ``train``. No ``history`` is recorded.
        """
        checks.text("text", text, allow_empty=True)
        cls._initial_vocab(special_tokens, vocab_size)  # same argument checks as `train`
        tok = tokenizers.Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=0,
            special_tokens=list(special_tokens),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator([text], trainer)
        return cls.from_tokenizers(tok)

    @classmethod
    def from_tokenizers(cls, tok: tokenizers.Tokenizer) -> BPETokenizer:
        """Read vocabulary, merges and special tokens out of a ``tokenizers`` BPE tokenizer."""
        spec = json.loads(tok.to_str())
        if spec["model"]["type"] != "BPE":
            raise ValueError(f"tok must hold a BPE model, got {spec['model']['type']!r}")
        # tokenizers >= 0.20 stores merges as pairs; older files as "a b" strings.
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in spec["model"]["merges"]]
        specials = [t["content"] for t in sorted(spec["added_tokens"], key=lambda t: t["id"]) if t["special"]]
        return cls(spec["model"]["vocab"], merges, specials)

    # ------------------------------------------------------------------ encoding and decoding
    def encode(self, text: str) -> list[int]:
        """Special tokens verbatim, then per word: bytes, then replay the merges, earliest first."""
        checks.text("text", text, allow_empty=True)
        chunks = self._special_split.split(text) if self._special_split else [text]
        ids = []
        for chunk in chunks:
            if chunk in self.special_tokens:
                ids.append(self.vocab[chunk])
                continue
            for word in pretokenize(chunk):
                if word not in self._cache:
                    self._cache[word] = self._encode_word(word)
                ids.extend(self._cache[word])
        return ids

    def _encode_word(self, word: str) -> list[int]:
        """Merge the pair that was learned first, everywhere in the word, until none applies."""
        parts = list(word)
        while len(parts) > 1:
            pair = min(zip(parts, parts[1:]), key=lambda p: self._rank.get(p, len(self._rank)))
            if pair not in self._rank:
                break
            parts = _merge(parts, pair, pair[0] + pair[1])
        return [self.vocab[p] for p in parts]

    def decode(self, ids: Sequence[int]) -> str:
        """Concatenate the tokens' bytes and decode them as UTF-8.

        A cut through a multi-byte character (e.g. half an emoji) decodes to U+FFFD, as in GPT-2.
        """
        byte_of = {c: b for b, c in bytes_to_unicode().items()}
        out = bytearray()
        for i in checks.id_list("ids", ids, self.vocab_size):
            token = self._id_to_token[i]
            out += token.encode("utf-8") if token in self.special_tokens else bytes(byte_of[c] for c in token)
        return out.decode("utf-8", errors="replace")

    def id_to_token(self, id: int) -> str:
        return self._id_to_token[checks.token_id("id", id, self.vocab_size)]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def to_tokenizers(self) -> tokenizers.Tokenizer:
        tok = tokenizers.Tokenizer(models.BPE(vocab=self.vocab, merges=self.merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens(list(self.special_tokens))
        return tok

    def __repr__(self) -> str:
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={self.special_tokens})"
        )


def _merge(parts: list, pair: tuple, new) -> list:
    """Replace every occurrence of ``pair`` in ``parts`` by ``new``, scanning left to right."""
    out, i = [], 0
    while i < len(parts):
        if i + 1 < len(parts) and parts[i] == pair[0] and parts[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out

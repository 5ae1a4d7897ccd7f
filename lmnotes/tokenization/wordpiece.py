"""WordPiece, BERT's tokenizer (book §1.3): trained with the ``tokenizers`` library, encoding written out.

Like BPE it builds words from pieces, but marks pieces that continue a word with ``##``
("playing" -> ``play ##ing``), and it encodes differently: BPE replays its merges in the order
they were learned, WordPiece keeps only the vocabulary and cuts each word **greedily, longest
match first** (``encode_word``): the longest vocabulary entry that starts the word, then the
longest ``##`` entry that continues it, and so on. It works on normalised words: BERT's uncased setup lowercases,
strips accents, turns every whitespace run into one space and puts spaces around punctuation and
CJK characters. So WordPiece does not round-trip text exactly: ``decode(encode(x))`` gives back
``normalize(x)`` ("Héllo,  WORLD!" -> "hello , world !") when every word can be spelled with the
vocabulary's pieces, and a word that cannot (an emoji, a character never seen in training) becomes
``[UNK]`` as a whole.

Training: the library's ``WordPieceTrainer`` is its BPE trainer with the ``##`` prefix (merge the
most frequent pair), not the likelihood score of the original WordPiece (Schuster & Nakajima,
2012; merge the pair that most raises the training text's likelihood, count(ab) / (count(a)
count(b))); the vocabulary it ends with is then used by longest-match-first encoding. The library
breaks ties between equally frequent pairs by ids it hands out in a per-process hash order, so two
trainings on the same text can differ in the last, rarest entries.

Special tokens: ``[PAD]`` (0), ``[UNK]``, ``[CLS]`` (starts every input; its vector feeds the
classifier), ``[SEP]`` (ends each segment) and ``[MASK]`` (what masked language modelling hides).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

from lmnotes import checks

from .base import Tokenizer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PREFIX = "##"  # marks a piece that continues a word
MAX_WORD_CHARS = 100  # longer words become [UNK], as in BERT and the library


def longest_match_first(word: str, vocab: Collection[str]) -> list[str]:
    """``word`` cut greedily into ``vocab`` entries, longest first; ``["[UNK]"]`` if it cannot be spelled.

    The first piece is the longest entry that starts the word; each next piece is the longest
    ``##`` entry that continues it from where the last one ended. If no entry fits somewhere, the
    whole word is ``[UNK]`` (so is a word longer than ``MAX_WORD_CHARS``).
    """
    checks.text("word", word, allow_empty=True)
    if isinstance(vocab, str) or not isinstance(vocab, Collection):
        raise TypeError(f"vocab must be a collection of str (a set, list or dict), got {type(vocab).__name__}")
    if len(word) > MAX_WORD_CHARS:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):  # the longest candidate first
            piece = word[start:end] if start == 0 else PREFIX + word[start:end]
            if piece in vocab:
                break
        else:
            return ["[UNK]"]  # no piece fits here: the whole word is unknown
        pieces.append(piece)
        start = end
    return pieces


class WordPieceTokenizer(Tokenizer):
    """A BERT-style uncased WordPiece tokenizer; train one with ``WordPieceTokenizer.train``."""

    special_tokens = SPECIAL_TOKENS
    hf_options = {
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],  # BERT's segment ids
    }

    def __init__(self, tok: tokenizers.Tokenizer):
        if not isinstance(tok, tokenizers.Tokenizer):
            raise TypeError(f"tok must be a tokenizers.Tokenizer, got {type(tok).__name__}")
        missing = [s for s in SPECIAL_TOKENS if tok.token_to_id(s) is None]
        if missing:
            raise ValueError(f"tok must have the special tokens {SPECIAL_TOKENS}; missing {missing}")
        self._tok = tok
        self._vocab = tok.get_vocab()
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int) -> WordPieceTokenizer:
        """Learn a WordPiece vocabulary of ``vocab_size`` entries (special tokens included) from ``text``."""
        checks.text("text", text, allow_empty=True)
        # bounded above: the library's trainer aborts the whole process on a vocab_size past 2**32
        vocab_size = checks.size("vocab_size", vocab_size, low=len(SPECIAL_TOKENS))
        tok = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(cleanup=False)  # no guessing which spaces to remove
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
        )
        tok.train_from_iterator(text.splitlines(), trainer)  # words never cross lines
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
        return cls(tok)

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``'s pieces, without [CLS]/[SEP] (see ``encode_pair`` for BERT's input).

        Normalise and split into words (the library's BERT normaliser and pre-tokenizer), then cut
        each word with ``encode_word``.
        """
        ids = []
        for word in self.words(text):
            if word not in self._cache:
                self._cache[word] = [self._vocab[piece] for piece in self.encode_word(word)]
            ids.extend(self._cache[word])
        return ids

    def encode_word(self, word: str) -> list[str]:
        """One normalised word as pieces (``longest_match_first`` with this vocabulary)."""
        return longest_match_first(word, self._vocab)

    def encode_pair(self, text: str, second: str | None = None) -> tuple[list[int], list[int]]:
        """BERT's input: ``[CLS] text [SEP]`` or ``[CLS] text [SEP] second [SEP]``, with segment ids
        (0 for the first part, 1 for the second) for the segment embedding."""
        cls_id, sep_id = self._vocab["[CLS]"], self._vocab["[SEP]"]
        ids = [cls_id, *self.encode(text), sep_id]
        segments = [0] * len(ids)
        if second is not None:
            tail = [*self.encode(second), sep_id]
            ids, segments = ids + tail, segments + [1] * len(tail)
        return ids, segments

    def words(self, text: str) -> list[str]:
        """``text`` lowercased, accents stripped, cut at spaces and around punctuation (BERT's rules)."""
        normalized = self._tok.normalizer.normalize_str(checks.text("text", text, allow_empty=True))
        return [word for word, _ in self._tok.pre_tokenizer.pre_tokenize_str(normalized)]

    def normalize(self, text: str) -> str:
        """What ``decode(encode(text))`` returns when every word is in the vocabulary."""
        return " ".join(self.words(text))

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._tok.decode(checks.id_list("ids", ids, self.vocab_size), skip_special_tokens=skip_special_tokens)

    def id_to_token(self, id: int) -> str:
        return self._tok.id_to_token(checks.token_id("id", id, self.vocab_size))

    @property
    def vocab(self) -> dict[str, int]:
        """Piece -> id; pieces that continue a word start with ``##``."""
        return dict(self._vocab)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def to_tokenizers(self) -> tokenizers.Tokenizer:
        return tokenizers.Tokenizer.from_str(self._tok.to_str())  # a copy

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size})"

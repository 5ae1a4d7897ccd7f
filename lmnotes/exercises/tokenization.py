"""Exercises of the tokenization notebook (chapter 1, book section 1.1)."""

from __future__ import annotations

from typing import Any

from lmnotes.exercises import Exercise, as_integer, as_number, as_sequence, register


def _diagnose_gpt2_ids(answer: Any) -> str | None:
    from lmnotes.tokenization import gpt2_tokenizer

    tok = gpt2_tokenizer()
    want = tok.encode("Hello, world!")
    ids = as_sequence(answer)
    ids = None if ids is None else [as_integer(i) for i in ids]
    if ids is None or None in ids:
        return f"expected a list of integer token ids, got {type(answer).__name__}"
    answer = ids
    if list(answer) == want:
        return None
    if len(answer) != len(want):
        return (f"GPT-2 splits 'Hello, world!' into {len(want)} tokens, your list has {len(answer)}; "
                "the comma and the '!' are tokens of their own, and the space belongs to ' world'")
    wrong = [i for i, (a, b) in enumerate(zip(answer, want)) if a != b]
    return (f"right length, but position(s) {wrong} differ: decode your ids with tok.decode to see "
            "which piece of text they stand for")


register(Exercise(
    name="gpt2-ids",
    prompt="Give the list of GPT-2 token ids for the text 'Hello, world!'.",
    diagnose=_diagnose_gpt2_ids,
    solution="tok = gpt2_tokenizer(); tok.encode('Hello, world!')  # -> [15496, 11, 995, 0]",
))


def _diagnose_bpe_merge(answer: Any) -> str | None:
    if not (isinstance(answer, tuple) and len(answer) == 2 and all(isinstance(s, str) for s in answer)):
        return "expected a pair of strings such as ('a', 'b'): the two symbols that merge"
    words = {"low": 5, "lower": 2, "newest": 6, "widest": 3}
    counts: dict[tuple[str, str], int] = {}
    for word, n in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + n
    best = max(counts.values())
    if counts.get(answer) == best:
        return None
    if answer in counts:
        return (f"{answer} occurs {counts[answer]} times, but the most frequent adjacent pair occurs "
                f"{best} times: weight each word's pairs by the word's count")
    return f"{answer} never occurs as an adjacent pair in these words"


register(Exercise(
    name="bpe-first-merge",
    prompt=("Word counts {'low': 5, 'lower': 2, 'newest': 6, 'widest': 3}, characters as symbols: "
            "which adjacent pair does BPE merge first? Answer as a tuple, e.g. ('l', 'o')."),
    diagnose=_diagnose_bpe_merge,
    solution=("Count each adjacent pair, weighted by the word counts: ('e','s') and ('s','t') each "
              "occur 6 + 3 = 9 times, more than any other pair; either is a correct first merge "
              "(libraries break the tie by a fixed rule)."),
))


#: the vocabulary of the WordPiece exercise: a piece that continues a word starts with "##"
WORDPIECE_VOCAB = ("un", "u", "##n", "##h", "##ha", "##happ", "##happi", "##i", "##ness", "##ne", "##ss", "##s")


def _diagnose_wordpiece(answer: Any) -> str | None:
    from lmnotes.tokenization.wordpiece import longest_match_first

    pieces = as_sequence(answer)
    if pieces is None or not pieces or not all(isinstance(p, str) for p in pieces):
        return "expected a list of strings such as ['un', '##h', ...]: the pieces, in order"
    pieces = list(pieces)
    want = longest_match_first("unhappiness", WORDPIECE_VOCAB)
    if pieces == want:
        return None
    if "".join(p.removeprefix("##") for p in pieces) != "unhappiness":
        return "your pieces, with their '##' removed, must spell 'unhappiness' exactly"
    if any(p.startswith("##") for p in pieces[:1]) or not all(p.startswith("##") for p in pieces[1:]):
        return "only the first piece starts the word; every later piece continues it and carries '##'"
    unknown = [p for p in pieces if p not in WORDPIECE_VOCAB]
    if unknown:
        return f"{unknown} not in the vocabulary: every piece must be one of its entries"
    at = next(i for i, (a, b) in enumerate(zip(pieces, want)) if a != b)
    return (f"your pieces spell the word, but WordPiece is greedy: at piece {at + 1} it takes the longest "
            f"entry that fits ({want[at]!r}), not {pieces[at]!r}")


register(Exercise(
    name="wordpiece-split",
    prompt=(f"With the vocabulary {list(WORDPIECE_VOCAB)}, how does WordPiece cut 'unhappiness'? "
            "Answer as a list of pieces, e.g. ['un', '##h', ...]."),
    diagnose=_diagnose_wordpiece,
    solution=("Longest match first: 'un' (no longer entry starts the word), then the longest '##' entry "
              "continuing it, '##happi', then '##ness': ['un', '##happi', '##ness']. Cutting shorter "
              "pieces ('##happ', '##i', ...) also spells the word, but is not what WordPiece does."),
))


#: the words of the start-here notebook's exercise, each read as it occurs in running text (after a space)
CUT_WORDS = ("food", "amazing", "polarity", "Tokenization", "unbelievably", "1234567", "Xiao", "pre-training")


def _gpt2_pieces(word: str) -> list[str]:
    from lmnotes.tokenization import gpt2_tokenizer

    tok = gpt2_tokenizer()
    return tok.convert_ids_to_tokens(tok.encode(" " + word))


def _diagnose_gpt2_cut_words(answer: Any) -> str | None:
    if isinstance(answer, (set, frozenset)):
        answer = sorted(answer)
    words = as_sequence(answer)
    if words is None or not all(isinstance(w, str) for w in words):
        return "expected a list of words such as ['food', 'Xiao']: the words that GPT-2 cuts into 2+ tokens"
    strangers = [w for w in words if w not in CUT_WORDS]
    if strangers:
        return f"{strangers} not among the exercise's words {list(CUT_WORDS)}"
    want = {w for w in CUT_WORDS if len(_gpt2_pieces(w)) > 1}
    whole = [w for w in words if w not in want]
    if whole:
        return "; ".join(f"GPT-2 keeps {w!r} whole: {_gpt2_pieces(w)} is one token" for w in whole)
    missing = len(want - set(words))
    if missing:
        return (f"{missing} more word(s) of the list are cut into pieces: tokenize ' ' + word for each word "
                "(a leading space, as in running text) and count the tokens")
    return None


register(Exercise(
    name="gpt2-cut-words",
    prompt=(f"Which of the words {list(CUT_WORDS)}, each read after a space as in running text, does GPT-2 "
            "cut into two or more tokens? Answer as a list of those words."),
    diagnose=_diagnose_gpt2_cut_words,
    solution=("for w in words: print(w, tokenizer.convert_ids_to_tokens(tokenizer.encode(' ' + w)))  ->  cut: "
              "'polarity' (' pol' + 'arity'), 'Tokenization' (' Token' + 'ization'), '1234567' (' 123' + '45' + "
              "'67') and 'pre-training' (' pre' + '-' + 'training'); kept whole: 'food', 'amazing', "
              "'unbelievably', 'Xiao'. Frequency in GPT-2's training text decides, not length: the long "
              "'unbelievably' is one token, the shorter 'polarity' two."),
))

import pytest

from lmnotes import exercises


def test_bpe_first_merge_accepts_either_most_frequent_pair_and_explains_mistakes(capsys):
    assert exercises.check("bpe-first-merge", ("e", "s"))
    assert exercises.check("bpe-first-merge", ("s", "t"))
    assert not exercises.check("bpe-first-merge", ("l", "o"))
    out = capsys.readouterr().out
    assert "occurs 7 times" in out and "9 times" in out
    assert not exercises.check("bpe-first-merge", ("z", "q"))
    assert "never occurs" in capsys.readouterr().out
    assert not exercises.check("bpe-first-merge", "es")
    assert "pair of strings" in capsys.readouterr().out


def test_wordpiece_split_wants_the_greedy_cut_and_explains_mistakes(capsys):
    assert exercises.check("wordpiece-split", ["un", "##happi", "##ness"])
    assert not exercises.check("wordpiece-split", ["un", "##happ", "##i", "##ness"])
    assert "longest" in capsys.readouterr().out
    assert not exercises.check("wordpiece-split", ["un", "happi", "ness"])
    assert "'##'" in capsys.readouterr().out
    assert not exercises.check("wordpiece-split", ["un", "##happy"])
    assert "spell" in capsys.readouterr().out
    assert not exercises.check("wordpiece-split", "un ##happi ##ness")
    assert "list of strings" in capsys.readouterr().out


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(ValueError, match="bpe-first-merge"):
        exercises.check("nope", 1)


def test_solution_prints(capsys):
    exercises.solution("bpe-first-merge")
    assert "9 times" in capsys.readouterr().out


def test_gpt2_cut_words_wants_exactly_the_words_gpt2_cuts_and_says_what_is_wrong(capsys):
    assert exercises.check("gpt2-cut-words", ["polarity", "Tokenization", "1234567", "pre-training"])
    assert exercises.check("gpt2-cut-words", {"pre-training", "1234567", "Tokenization", "polarity"})
    assert not exercises.check("gpt2-cut-words", ["polarity", "Tokenization", "1234567", "pre-training", "unbelievably"])
    assert "keeps 'unbelievably' whole" in capsys.readouterr().out
    assert not exercises.check("gpt2-cut-words", ["polarity"])
    assert "3 more word(s)" in capsys.readouterr().out
    assert not exercises.check("gpt2-cut-words", ["weather"])
    assert "not among" in capsys.readouterr().out
    assert not exercises.check("gpt2-cut-words", None)
    assert "list of words" in capsys.readouterr().out

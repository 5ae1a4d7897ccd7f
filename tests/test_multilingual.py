"""The toy world's second language (book §1.3.4): a bijection with stated shared tokens."""

import pytest

from lmnotes.data import overlap, toyworld
from lmnotes.pretraining import multilingual


def test_every_word_gets_its_own_word_and_only_the_shared_ones_stay():
    language = multilingual.second_language(0)
    vocabulary = toyworld.vocabulary()
    assert sorted(language.words) == vocabulary
    assert len(set(language.words.values())) == len(vocabulary)  # a bijection
    for a, b in language.words.items():
        if a in multilingual.SHARED:
            assert b == a
        else:
            assert b != a and b not in vocabulary  # a B word never spells an A token
    assert set(language.shared) == set(multilingual.SHARED)
    assert {"anna", "7", "."} <= set(language.shared)
    assert len(set(multilingual.bilingual_vocabulary(language))) == 2 * len(vocabulary) - len(language.shared)


def test_translation_round_trips_and_reversal_keeps_the_sentence_end():
    text = "anna lives in paris . what is 4 + 5 ?"
    same, reversed_ = (multilingual.second_language(3, order=o) for o in multilingual.ORDERS)
    assert same.back(same.translate(text)) == text
    assert reversed_.back(reversed_.translate(text)) == text
    words = same.translate(text).split()
    assert words[0] == "anna" and words[4] == "." and words[5] != "what"
    assert reversed_.translate(text).split()[:5] == [same.words[w] for w in ("paris", "in", "lives", "anna", ".")]
    assert multilingual.second_language(3).words == same.words  # deterministic
    assert multilingual.second_language(4).words != same.words


def test_no_shared_tokens_gives_disjoint_languages():
    language = multilingual.second_language(0, shared=())
    assert not set(language.words.values()) & set(toyworld.vocabulary())


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="order"):
        multilingual.second_language(0, order="backwards")
    with pytest.raises(ValueError, match="shared"):
        multilingual.second_language(0, shared=["zzz"])
    with pytest.raises((TypeError, ValueError), match="seed"):
        multilingual.second_language(True)
    language = multilingual.second_language(0)
    with pytest.raises(ValueError, match="language A"):
        language.translate("anna lives in atlantis .")
    with pytest.raises(ValueError, match="language B"):
        language.back("anna lives in paris .")
    with pytest.raises((TypeError, ValueError), match="language"):
        multilingual.transfer_data("B")


def test_transfer_data_has_no_parallel_documents_and_unseen_test_reviews():
    language = multilingual.second_language(0)
    data = multilingual.transfer_data(language, n_tokens=5000, n_test=200)
    assert not set(data["sources_b"]) & set(data["documents_a"])
    assert [language.back(d) for d in data["documents_b"]] == data["sources_b"]
    assert [language.translate(x) for x, _ in data["test_a"]] == [x for x, _ in data["test_b"]]
    assert not {x for x, _ in data["test_a"]} & {x for x, _ in data["train_a"]}
    assert not any(overlap.seen_in(data["documents_b"], [x for x, _ in data["test_b"]]))
    assert len(data["test_a"]) + sum(data["dropped"][k] for k in ("test_in_finetuning", "test_in_pretraining")) == 200
    dev = {x for x, _ in data["dev_a"]}
    assert dev and not dev & ({x for x, _ in data["test_a"]} | {x for x, _ in data["train_a"]})
    assert [language.translate(x) for x, _ in data["dev_a"]] == [x for x, _ in data["dev_b"]]


def test_parallel_documents_put_each_sentence_beside_its_translation():
    for order in multilingual.ORDERS:
        language = multilingual.second_language(0, order=order)
        doc = "anna has a cat . where does tom live ? she is happy ."
        (out,) = multilingual.parallel_documents(language, [doc])
        sentences = ["anna has a cat .", "where does tom live ?", "she is happy ."]
        assert out == " ".join(f"{s} {language.translate(s)}" for s in sentences)
        assert language.translate(doc) == " ".join(language.translate(s) for s in sentences)  # B halves say doc
    with pytest.raises(ValueError, match="language A"):
        multilingual.parallel_documents(language, ["unknownword ."])
    with pytest.raises(ValueError, match="documents"):
        multilingual.parallel_documents(language, [""])
    with pytest.raises(TypeError, match="language"):
        multilingual.parallel_documents("B", ["a ."])


def test_word_count_baseline_reads_a_language_it_was_trained_on_and_not_the_other():
    language = multilingual.second_language(0)
    data = multilingual.transfer_data(language, n_tokens=5000, n_test=200, n_dev=100)
    within, across = (multilingual.word_count_baseline(data, "a", side) for side in ("a", "b"))
    assert within["accuracy"] > 0.9  # plain reviews are decided by their sentiment words
    assert across["accuracy"] < 0.6 and within["penalty"] == across["penalty"]  # B shares no sentiment word with A
    with pytest.raises(ValueError, match="trained_on"):
        multilingual.word_count_baseline(data, "c", "a")
    with pytest.raises(ValueError, match="data"):
        multilingual.word_count_baseline({"train_a": []}, "a", "a")


def test_frequency_translation_matches_words_used_equally_often():
    language = multilingual.second_language(0)
    a, b, c = "cat", "dog", "apple"
    docs_a = [f"{a} {a} {a} {b}"]  # a 3 times, b once, c never
    docs_b = [" ".join([language.words[a]] * 6 + [language.words[b]] * 2)]  # the same shares in B
    assert multilingual.frequency_translation(language, docs_a, docs_b, [a, b, c]) == 1.0
    swapped = [" ".join([language.words[b]] * 6 + [language.words[a]] * 2)]
    assert multilingual.frequency_translation(language, docs_a, swapped, [a, b, c]) == pytest.approx(1 / 3)  # c only
    with pytest.raises(ValueError, match="words"):
        multilingual.frequency_translation(language, docs_a, docs_b, ["not-a-token"])
    with pytest.raises(ValueError, match="documents_b"):
        multilingual.frequency_translation(language, docs_a, [], [a])

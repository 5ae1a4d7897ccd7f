"""The labelled toy-world tasks of notebook 04 and the simple baselines they are compared with."""

import pytest

from lmnotes.data import tasks, toyworld
from lmnotes.pretraining import finetuning


def test_bio_tags_mark_people_places_and_objects():
    text = "one day anna bought a big lamp at the market . she saw a kite ."
    tags = dict(zip(text.split(), tasks.bio_tags(text)))
    assert tags["anna"] == "B-PER" and tags["market"] == "B-LOC"
    assert tags["big"] == "B-OBJ" and tags["lamp"] == "I-OBJ" and tags["kite"] == "B-OBJ"
    assert tags["bought"] == "O"
    assert len(tasks.bio_tags(text)) == len(text.split())


def test_agree_pairs_agree_exactly_when_the_values_match():
    pairs = tasks.agree_pairs(200, seed=0)
    assert {label for _, label in pairs} == set(tasks.AGREEMENT)
    for (a, b), label in pairs:
        assert (a == b) == (label == "agree")
        assert a.split()[:-2] == b.split()[:-2]  # same person and relation, only the value differs


def test_fact_lookup_of_one_statement_cannot_tell_agree_from_contradict():
    pairs = tasks.agree_pairs(4000, seed=5)
    for side in (0, 1):  # B looked up, or A: each is true half the time under either label
        hits = sum(tasks.fact_lookup((x[1 - side], x[side])) == y for x, y in pairs) / len(pairs)
        assert abs(hits - 0.5) < 0.03
    world = toyworld.facts(0).people[0]
    true = f"{world.name} lives in {world.city} ."
    assert tasks.fact_lookup(("x", true)) == "agree"  # B true: a lookup says agree, whatever A is
    assert tasks.fact_lookup(("x", true.replace(world.city, "nowhere"))) == "contradict"
    for (a, b), label in pairs[:200]:  # contradictions pair one true statement with one false
        if label == "contradict":
            assert {tasks.fact_lookup(("", a)), tasks.fact_lookup(("", b))} == set(tasks.AGREEMENT)
    with pytest.raises(ValueError, match="pair"):
        tasks.fact_lookup(("a", "the sky is green ."))


def test_agree_pairs_about_disjoint_people_never_coincide():
    names = [p.name for p in toyworld.facts(0).people]
    train, test = tasks.agree_pairs(300, 1, people=names[:16]), tasks.agree_pairs(300, 2, people=names[16:])
    assert not {x for x, _ in train} & {x for x, _ in test}
    with pytest.raises(ValueError, match="people"):
        tasks.agree_pairs(3, 0, people=["nobody"])


def test_fact_qa_points_at_the_answer_word():
    for (question, context), (start, end) in tasks.fact_qa(50, seed=3):
        assert start == end
        word = context.split()[start]
        person = question.split()[2] if question.startswith("where") else None
        assert word in toyworld.vocabulary()
        if person:
            assert word in toyworld.CITIES


def test_template_span_reads_the_fact_the_question_asks_for():
    qa = tasks.fact_qa(200, seed=4)
    assert all(tasks.template_span(*x) == y for x, y in qa)  # the task's answers follow the templates exactly
    context = "tom has a dog . anna lives in oslo . anna has a cat ."
    assert tasks.template_span("where does anna live ?", context) == (8, 8)
    assert tasks.template_span("what pet does anna have ?", context) == (13, 13)
    assert tasks.template_span("what is the job of anna ?", context) == (13, 13)  # no such fact: the last value
    with pytest.raises(ValueError, match="question"):
        tasks.template_span("who is anna ?", context)
    with pytest.raises(ValueError, match="context"):
        tasks.template_span("where does anna live ?", "anna lives in oslo")


def test_next_sentence_pairs_follow_their_story_or_not():
    stories = [s.text for s in toyworld.stories(101, seed=4)]
    for (a, b), label in tasks.next_sentence_pairs(100, seed=4):
        follows = any(f"{a} {b}" in s for s in stories)
        assert label in tasks.NEXT_SENTENCE
        if label == "IsNext":
            assert follows


def test_word_lookup_tagger_and_overlap_span():
    tagger = finetuning.word_lookup_tagger([("anna has a cat .", ["B-PER", "O", "O", "O", "O"])])
    assert tagger("anna has a dog .") == ["B-PER", "O", "O", "O", "O"]  # unseen "dog": most common tag
    context = "ben lives in rome . anna works as a pilot . anna has a cat ."
    assert finetuning.overlap_span("what does anna work as ?", context) == (9, 9)  # "pilot", via "anna", "as"
    with pytest.raises(ValueError, match="tags"):
        finetuning.word_lookup_tagger([("a b", ["O"])])
    # keyed on (previous word, word): "cat" after "big" is I-OBJ, alone B-OBJ; an unseen pair falls back to the word
    train = [("a cat .", ["O", "B-OBJ", "O"]), ("a big cat .", ["O", "B-OBJ", "I-OBJ", "O"]), ("the cat .", ["O", "B-OBJ", "O"])]
    assert finetuning.word_lookup_tagger(train)("a big cat .") == ["O", "B-OBJ", "B-OBJ", "O"]
    context = finetuning.word_lookup_tagger(train, previous=True)
    assert context("a big cat .") == ["O", "B-OBJ", "I-OBJ", "O"]
    assert context("big cat the cat") == ["B-OBJ", "I-OBJ", "O", "B-OBJ"]
    with pytest.raises(TypeError, match="previous"):
        finetuning.word_lookup_tagger(train, previous=1)
    with pytest.raises(ValueError, match="context"):
        finetuning.overlap_span("where ?", "no full stop")
    with pytest.raises(TypeError, match="question"):
        finetuning.overlap_span(3, context)


def test_record_text_is_what_the_model_reads():
    assert tasks.record_text(("a review .", "positive")) == "a review ."
    assert tasks.record_text((("ben lives in rome .", "ben lives in oslo ."), "contradict")) == \
        "ben lives in rome . ben lives in oslo ."
    assert tasks.record_text((("where does ben live ?", "ben lives in rome ."), (3, 3))) == "ben lives in rome ."
    with pytest.raises(TypeError, match="example"):
        tasks.record_text(((1, 2), "x"))


def test_sentence_strength_labels_follow_the_last_clause_and_skip_besides():
    examples = tasks.sentence_strength(400, seed=3)
    assert {label for _, label in examples} == set(tasks.STRENGTHS)
    for text, label in examples:
        last = text.removesuffix(" .").split(" but ")[-1].split()  # "the X is [not] WORD"
        negated = last[-2] == "not"
        assert tasks.STRENGTHS.index(label) - 2 == toyworld.clause_score(last[-1], negated)
    assert any(" but " in t for t, _ in examples) and any(" not " in t for t, _ in examples)
    common = [t for t, _ in examples[:50]]
    kept = tasks.sentence_strength(400, seed=3, besides=common)
    assert len(kept) == 400 and not {t for t, _ in kept} & set(common)
    with pytest.raises(ValueError, match="besides"):
        tasks.sentence_strength(5, seed=0, p_negation=0.0, p_contrast=0.0,
                                besides=[f"the {a} is {w} ." for a in toyworld.ASPECTS for w in toyworld.SENTIMENT])
    with pytest.raises(ValueError, match="p_contrast"):
        tasks.sentence_strength(5, seed=0, p_contrast=2)


def test_adaptation_reviews_dev_and_test_are_disjoint_and_unseen():
    from lmnotes.data import overlap

    sets = tasks.adaptation_reviews()
    assert [len(sets[k]) for k in ("pool", "dev", "test")] == [2000, 200, 300]
    dev, test = ({r.text for r in sets[k]} for k in ("dev", "test"))
    assert not dev & test
    assert not any(overlap.seen_in_training("toyworld-gpt", sorted(dev | test)))


def test_application_dev_sets_share_no_item_with_training_or_test():
    sets, _ = tasks.application_sets()
    dev = tasks.application_dev_sets(sets, n=50)
    assert {k: len(v) for k, v in dev.items()} == {"classify": 50, "pair": 50, "regress": 50}
    for task in ("classify", "pair"):
        used = {x for x, _ in sets[task][0] + sets[task][1]}
        assert not used & {x for x, _ in dev[task]}
    assert [x for x, _ in dev["classify"]] == [x for x, _ in dev["regress"]]
    with pytest.raises(ValueError, match="sets"):
        tasks.application_dev_sets({"tag": None})

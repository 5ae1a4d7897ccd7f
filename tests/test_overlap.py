"""No evaluation item may occur in the pre-training data of the bundled model it is given to.

``lmnotes.data.overlap`` rebuilds each bundled model's exact pre-training documents from its recipe's
seed. The first tests check that machinery against the recipe itself; ``EVALUATION_SETS`` lists every
evaluation set a notebook uses with a bundled model (as the notebook builds it), and each must have
zero overlap. A notebook that adds an evaluation set adds it here.
"""

from __future__ import annotations

import pytest

from lmnotes.data import overlap, tasks, toyworld
from lmnotes.recipes import toyworld_stream, toyworld_tokenizer


def test_documents_rebuild_the_recipes_stream():
    # toyworld-bert trains on toyworld_stream(train_tokens, seed): the same documents, <eos>-joined
    hp = overlap._hparams("toyworld-bert")
    tok = toyworld_tokenizer()
    docs = overlap.training_documents("toyworld-bert")
    head = toyworld_stream(tok, 5_000, seed=hp["seed"]).tolist()
    eos = tok.vocab["<eos>"]
    first = head[:head.index(eos)]
    assert tok.decode(first).split() == docs[0].split()
    assert sum(len(d.split()) for d in docs) >= hp["train_tokens"]


def test_gpt_documents_include_the_icl_batches():
    docs = overlap.training_documents("toyworld-gpt")
    hp = overlap._hparams("toyworld-gpt")
    step7 = toyworld.icl_documents(round(hp["batch_size"] * hp["icl_share"]), seed=hp["seed"] * 100_003 + 7,
                                   n_lines=hp["block_size"] // 4 + 1)
    assert step7[0].text in docs


def test_seen_matches_whole_words_inside_one_document():
    doc = overlap.training_documents("toyworld-bert")[0]
    words = doc.split()
    assert overlap.seen_in_training("toyworld-bert", [" ".join(words[1:4]), doc]) == [True, True]
    # a match must start and end on word boundaries
    assert overlap.seen_in_training("toyworld-bert", ["q" + " ".join(words[:3])]) == [False]
    assert overlap.seen_in_training("toyworld-bert", ["zebra zebra zebra zebra"]) == [False]


def test_unseen_filters_and_report_counts():
    reviews = toyworld.reviews(60, seed=7)
    report = overlap.overlap_report("toyworld-bert", reviews)
    kept = overlap.unseen("toyworld-bert", reviews)
    assert report["records"] == 60 and report["seen"] + report["unseen"] == 60
    assert len(kept) == report["unseen"] and 0 < report["seen"] < 60  # reviews do repeat across seeds
    assert not any(overlap.seen_in_training("toyworld-bert", [r.text for r in kept]))


@pytest.mark.parametrize("bad, error", [
    (dict(name="gpt-4", texts=["a"]), ValueError),
    (dict(name="toyworld-bert", texts="one text"), TypeError),
    (dict(name="toyworld-bert", texts=[3]), TypeError),
])
def test_bad_input(bad, error):
    with pytest.raises(error, match="name|texts"):
        overlap.seen_in_training(**bad)
    with pytest.raises(ValueError, match="records"):
        overlap.unseen("toyworld-bert", [])


# (model, evaluation set as the notebook builds it, what to look for). Notebooks add theirs here.
EVALUATION_SETS: dict[str, tuple] = {}


# notebook 04 (toyworld-bert), section 3: each test set as the notebook builds it, after dropping
# the items of its fine-tuning set and those of the pre-training text
def _nb04(test, train):
    def build():
        in_train = {x for x, _ in train()}
        fresh = [(x, y) for x, y in test() if x not in in_train]
        return overlap.unseen("toyworld-bert", fresh, text=tasks.record_text)
    return ("toyworld-bert", build, tasks.record_text)


def _nb04_reviews(n, seed, target):
    return lambda: [(r.text, getattr(r, target)) for r in toyworld.reviews(n, seed=seed, p_negation=0.0, p_contrast=0.0)]


_NAMES = [p.name for p in toyworld.facts(0).people]
EVALUATION_SETS.update({
    "04 classify": _nb04(_nb04_reviews(300, 2, "label"), _nb04_reviews(400, 1, "label")),
    "04 regress": _nb04(_nb04_reviews(300, 2, "score"), _nb04_reviews(400, 1, "score")),
    "04 pair (and task 2)": _nb04(lambda: tasks.agree_pairs(300, seed=2, people=_NAMES[16:]),
                                  lambda: tasks.agree_pairs(400, seed=1, people=_NAMES[:16])),
    "04 tag": _nb04(lambda: [(s.text, tasks.bio_tags(s.text)) for s in toyworld.stories(300, seed=2)],
                    lambda: [(s.text, tasks.bio_tags(s.text)) for s in toyworld.stories(300, seed=1)]),
    "04 span": _nb04(lambda: tasks.fact_qa(300, seed=2), lambda: tasks.fact_qa(400, seed=1)),
    "04 next sentence": _nb04(lambda: tasks.next_sentence_pairs(300, seed=12),
                              lambda: tasks.next_sentence_pairs(400, seed=11)),
})


# notebook 02 (toyworld-gpt): the 300 test reviews (the first 150 are also the prompting queries)
EVALUATION_SETS["02 test reviews"] = (
    "toyworld-gpt",
    lambda: overlap.unseen("toyworld-gpt", toyworld.reviews(900, seed=1), text=lambda r: r.text)[:300],
    lambda r: r.text)


def test_nb04_filter_drops_the_reviews_toyworld_bert_read():
    # the filter is not a formality: without it, about a third of 04's test reviews were in pre-training
    raw = _nb04_reviews(300, 2, "label")()
    assert overlap.overlap_report("toyworld-bert", raw, text=tasks.record_text)["seen"] > 50


def _icl_curve_documents(k):  # notebook 08's ICL curve, k >= 2 demonstrations: the unseen documents
    docs = toyworld.icl_documents(300, 12345, n_lines=k + 1, p_fixed=0.0)
    return overlap.unseen("toyworld-gpt", docs, ICL_RECORD)


def ICL_RECORD(d):
    return d.prompt + " " + d.response


for _k in (2, 4, 8):
    EVALUATION_SETS[f"08 ICL curve, {_k} demonstrations"] = (
        "toyworld-gpt", lambda k=_k: _icl_curve_documents(k), ICL_RECORD)


# notebook 09 (toyworld-reasoner): its held-out sums (as prompts, in every format), its products and its
# retrieval prompts (every passage it builds). Sums are held out by construction (data.reasoning.reserved);
# this checks that against the exact training pool.
def _nb09_sums():
    from lmnotes.data import reasoning

    return [reasoning.render(p, f).prompt for n in (2, 3, 4, 5, 6, 7)
            for p in reasoning.problems(200, seed=1, n_operands=n) for f in reasoning.ARITHMETIC_FORMATS] + [
        reasoning.render(p, "calc").prompt for p in reasoning.problems(300, seed=11, n_operands=2)]


def _nb09_reading():  # as the notebook scores them: the retrieved and distractor passages it never saw
    from lmnotes.data import reasoning
    from lmnotes.prompting import retrieval

    world = toyworld.facts(777, n_people=24)
    index = retrieval.BM25([f.text for f in world.facts])
    prompts = [reasoning.reading(world, q, index.retrieve(q.prompt, k, exclude=ex)).prompt
               for q in toyworld.fact_questions(200, seed=3, world=world) for k in (1, 2, 3, 4)
               for ex in ([], [q.evidence])]
    return overlap.unseen("toyworld-reasoner", prompts)


EVALUATION_SETS["09 held-out sums and products"] = ("toyworld-reasoner", _nb09_sums, None)
EVALUATION_SETS["09 retrieval passages with their questions"] = ("toyworld-reasoner", _nb09_reading, None)


@pytest.mark.parametrize("label", sorted(EVALUATION_SETS))
def test_evaluation_sets_have_zero_overlap(label):
    model, build, text = EVALUATION_SETS[label]
    assert overlap.overlap_report(model, build(), text)["seen"] == 0


# notebook 10 (toyworld-gpt): the dev and test reviews of every section, as tasks.review_split builds them
for _part in ("dev", "test"):
    EVALUATION_SETS[f"10 review {_part}"] = ("toyworld-gpt", lambda p=_part: tasks.review_split()[p], lambda it: it[0])


def test_review_split_keeps_dev_and_test_apart_from_training():
    split = tasks.review_split()
    texts = {name: {x for x, _ in items} for name, items in split.items()}
    assert not texts["dev"] & texts["train"] and not texts["test"] & texts["train"] and not texts["dev"] & texts["test"]

"""No evaluation item may occur in the pre-training data of the bundled model it is given to.

``lmnotes.data.overlap`` rebuilds each bundled model's exact pre-training documents from its recipe's
seed. The first tests check that machinery against the recipe itself; ``EVALUATION_SETS`` lists every
evaluation set a notebook uses with a bundled model (as the notebook builds it), and each must have
zero overlap. A notebook that adds an evaluation set adds it here.
"""

from __future__ import annotations

import pytest

from lmnotes import checkpoints, recipes
from lmnotes.data import overlap, tasks, toyworld


def test_documents_rebuild_the_recipes_stream():
    # toyworld-bert trains on toyworld.stream(train_tokens, seed): the same documents, <eos>-joined
    hp = overlap._hparams("toyworld-bert")
    tok = toyworld.tokenizer()
    docs = overlap.training_documents("toyworld-bert")
    head = toyworld.stream(tok, 5_000, seed=hp["seed"]).tolist()
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


def test_seen_in_checks_a_notebooks_own_training_text():
    docs = ["anna lives in oslo . anna has a cat .", "the food is great ."]
    assert overlap.seen_in(docs, ["anna has a cat", "has a cat . the", "the food is great ."]) == [True, False, True]
    with pytest.raises(TypeError, match="documents"):
        overlap.seen_in("one text", ["a"])


def test_the_index_answers_as_a_whole_word_substring_search():
    # the K-gram index must give exactly what searching the joined documents for " words " gives:
    # random spans of 1-12 words, half with one word swapped, some running across two documents
    import random

    rng = random.Random(3)
    docs = list(toyworld.corpus(20_000, seed=11))
    haystack = "\n".join(f" {' '.join(d.split())} " for d in docs)
    queries = []
    for _ in range(600):
        words = rng.choice(docs).split()
        a = rng.randrange(len(words))
        span = words[a:a + rng.randint(1, 12)]
        if rng.random() < 0.5:
            span[rng.randrange(len(span))] = rng.choice(rng.choice(docs).split())
        if rng.random() < 0.2:
            span += rng.choice(docs).split()[:2]
        queries.append(" ".join(span))
    queries += list(toyworld.corpus(3_000, seed=12)) + ["kittens", "the the the"]
    expected = [f" {q} " in haystack for q in queries]
    assert 0.2 < sum(expected) / len(expected) < 0.8  # both answers well represented
    assert overlap.seen_in(docs, queries) == expected


def test_unseen_corpus_leaves_out_pre_training_and_given_documents():
    docs = overlap.unseen_corpus("toyworld-bert", 3000, seed=5)
    assert docs and not any(overlap.seen_in_training("toyworld-bert", docs))
    fewer = overlap.unseen_corpus("toyworld-bert", 3000, seed=5, besides=docs[:3])
    assert len(fewer) <= len(docs) - 3 and not any(overlap.seen_in(docs[:3], fewer))


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


# notebook 04 (toyworld-bert), section 3: each test set as the notebook builds it (tasks.application_sets
# drops the items of its fine-tuning set and those of the pre-training text); section 1's NSP pairs
def _nb04(task):
    return ("toyworld-bert", lambda: tasks.application_sets("toyworld-bert")[0][task][1], tasks.record_text)


def _nb04_nsp():
    train, test = tasks.next_sentence_pairs(400, seed=11), tasks.next_sentence_pairs(300, seed=12)
    return overlap.unseen("toyworld-bert", [p for p in test if p not in train], text=tasks.record_text)


EVALUATION_SETS.update({f"04 {task}": _nb04(task) for task in ("classify", "regress", "pair", "tag", "span")})
EVALUATION_SETS["04 next sentence"] = ("toyworld-bert", _nb04_nsp, tasks.record_text)
# notebook 04, section 2: the held-out masked-LM text of every distillation, pruning and sharing measurement
def _nb04_held_out():
    return recipes.toyworld_bert_seeds.bert_efficiency_data(checkpoints.load("toyworld-bert").tokenizer)["val_documents"]


EVALUATION_SETS["04 held-out MLM text"] = ("toyworld-bert", _nb04_held_out, None)


def test_nb04_held_out_text_is_unseen_by_the_students_too():
    # the small models of 04 section 2 train on train_ids: no held-out document occurs there either
    docs = _nb04_held_out()
    train = toyworld.corpus(recipes.toyworld_bert_seeds.BERT_EFFICIENCY["train_tokens"], seed=recipes.toyworld_bert_seeds.BERT_EFFICIENCY["train_seed"])
    assert len(docs) > 500 and not any(overlap.seen_in(train, docs))


def test_nb04_multilingual_models_are_tested_on_text_they_never_read():
    # 04's multilingual study: the test reviews, in A and in B, against each arm's pre-training text (the
    # translation-pair arm reads A originals of B documents, which are among sources_b). The NSP ablation's
    # test items are checked against its documents in test_recipes (its smoke test rebuilds the full data).
    from lmnotes.pretraining import multilingual

    mb = recipes.multilingual_bert.MULTILINGUAL
    language = multilingual.second_language(mb["language_seed"], order=mb["order"])
    data = multilingual.transfer_data(language, mb["n_tokens"], seed=mb["data_seed"], n_train=mb["n_train"],
                                      n_test=mb["n_test"])
    assert not any(overlap.seen_in(data["documents_a"] + data["sources_b"], [x for x, _ in data["test_a"]]))
    assert not any(overlap.seen_in(data["documents_b"], [x for x, _ in data["test_b"]]))


# notebook 02 (toyworld-gpt): the 300 test reviews (the first 150 are also the prompting queries)
EVALUATION_SETS["02 test reviews"] = (
    "toyworld-gpt",
    lambda: overlap.unseen("toyworld-gpt", toyworld.reviews(900, seed=1), text=lambda r: r.text)[:300],
    lambda r: r.text)


# notebook 02: the 200 dev reviews on which its learning rates and step counts are chosen
EVALUATION_SETS["02 dev reviews"] = ("toyworld-gpt", lambda: tasks.adaptation_reviews()["dev"], lambda r: r.text)


def test_nb02_test_reviews_are_the_adaptation_test_set():
    assert tasks.adaptation_reviews()["test"] == EVALUATION_SETS["02 test reviews"][1]()


def test_nb02_related_task_is_scored_on_sentences_its_model_never_read():
    # notebook 02's tiny GPT pre-trained on the related task (tasks.sentence_strength, 2,000 sentences) is
    # scored on 300 new sentences, built as the notebook builds them; 215 of the unfiltered draw's 300 occur in
    # the training sentences
    hp = checkpoints.results("pretraining-adaptation")["meta"]["hparams"]
    data = recipes.pretraining_adaptation.adaptation_data(checkpoints.load("toyworld-gpt").tokenizer, hp)
    source = [x for x, _ in data["source"]]
    drawn = tasks.sentence_strength(900, seed=hp["source_seed"] + 1, besides=source)
    test = [row for row, seen in zip(drawn, overlap.seen_in(source, [x for x, _ in drawn])) if not seen][:300]
    assert len(test) == 300 and not any(overlap.seen_in(source, [x for x, _ in test]))
    assert sum(overlap.seen_in(source, [x for x, _ in tasks.sentence_strength(300, seed=hp["source_seed"] + 1)])) > 150


# notebook 03: the held-out mixture and per-kind documents scored by toyworld-gpt (kinds that have
# unseen documents; facts and questions have none and are labelled as seen there), and the cloze items
# both bundled models fill in
def _nb03_kind(kind):
    docs = [d for d in toyworld.corpus(3000, seed=7, mixture={kind: 1}) if len(d.split()) < 127]
    return overlap.unseen("toyworld-gpt", docs)


for _kind in ("stories", "reviews", "arithmetic", "instructions", "icl"):
    EVALUATION_SETS[f"03 held-out {_kind}"] = ("toyworld-gpt", lambda kind=_kind: _nb03_kind(kind), None)
EVALUATION_SETS["03 held-out mixture"] = (
    "toyworld-gpt", lambda: overlap.unseen("toyworld-gpt", toyworld.corpus(20_000, seed=7)), None)


def _cloze_words(item):
    return " ".join(item.words)


def _nb03_cloze():
    from lmnotes.pretraining import experiments

    drawn = experiments.cloze_items(150, seed=2024, world=toyworld.facts(1))
    return overlap.unseen("toyworld-gpt", drawn, text=_cloze_words)


def test_toyworld_bert_read_a_prefix_of_what_toyworld_gpt_read():
    # why notebook 03 filters its cloze items against toyworld-gpt only: same seed, 2 M of the 3 M tokens
    bert, gpt = overlap.training_documents("toyworld-bert"), overlap.training_documents("toyworld-gpt")
    assert gpt[:len(bert)] == bert


for _model in ("toyworld-gpt", "toyworld-bert"):
    EVALUATION_SETS[f"03 cloze items ({_model})"] = (_model, _nb03_cloze, _cloze_words)


def test_nb03_facts_and_questions_have_no_unseen_document():
    # why notebook 03 labels those two kinds "seen": the knowledge base is small enough to be read whole
    assert not _nb03_kind("facts") and not _nb03_kind("questions")


# notebook 03, sections 2-5: every model trained live there (the causal / masked pair, the mask-rate sweep, the
# 80/10/10 twins, the ELECTRA discriminator, the denoiser, the prefix LM and the 100%-masked encoder-decoder)
# trains on facts_docs; each is scored on held-out documents, right-context items and random blanks, built as the
# notebook builds them. None may occur in that training text. The prefix-lm recipe's runs (stored, one re-run
# live) train and are scored on the same documents.
def _nb03_live():
    from lmnotes.pretraining import experiments

    facts_docs = toyworld.corpus(18_000, seed=0, mixture={"facts": 1})
    pool = list(dict.fromkeys(toyworld.corpus(40_000, seed=1, mixture={"facts": 1})))
    test_docs = [d for d, seen in zip(pool, overlap.seen_in(facts_docs, pool)) if not seen]
    drawn = experiments.cloze_items(400, seed=2025, kinds=("relation", "name"))
    items = [i for i, seen in zip(drawn, overlap.seen_in(facts_docs, [_cloze_words(i) for i in drawn])) if not seen]
    blanks = experiments.random_blanks(test_docs, 300, seed=3)
    return facts_docs, {"03 live models: held-out facts documents": test_docs,
                        "03 live models: right-context items": [_cloze_words(i) for i in items],
                        "03 live models: random blanks": [_cloze_words(i) for i in blanks]}


def test_nb03_live_models_are_scored_on_text_they_never_read():
    facts_docs, sets = _nb03_live()
    for label, texts in sets.items():
        assert len(texts) > 100 and not any(overlap.seen_in(facts_docs, texts)), label
    prefix_lm = recipes.prefix_lm.prefix_lm_data(toyworld.tokenizer())
    assert prefix_lm["train_docs"] == facts_docs and prefix_lm["test_docs"] == sets["03 live models: held-out facts documents"]
    # the filter is not a formality: most documents of another seed were in the training text
    raw = toyworld.corpus(6_000, seed=1, mixture={"facts": 1})
    assert sum(overlap.seen_in(facts_docs, raw)) > len(raw) / 2


def test_nb04_filter_drops_the_reviews_toyworld_bert_read():
    # the filter is not a formality: without it, about a third of 04's test reviews were in pre-training
    raw = [(r.text, r.label) for r in toyworld.reviews(300, seed=2, p_negation=0.0, p_contrast=0.0)]
    assert overlap.overlap_report("toyworld-bert", raw, text=tasks.record_text)["seen"] > 50
    assert tasks.application_sets("toyworld-bert")[1]["classify"][1] > 50


def _icl_curve_documents(k):  # notebook 08's ICL curve, k >= 2 demonstrations: the unseen documents
    docs = toyworld.icl_documents(300, 12345, n_lines=k + 1, p_fixed=0.0)
    return overlap.unseen("toyworld-gpt", docs, ICL_RECORD)


def ICL_RECORD(d):
    return d.prompt + " " + d.response


for _k in (2, 4, 8):
    EVALUATION_SETS[f"08 ICL curve, {_k} demonstrations"] = (
        "toyworld-gpt", lambda k=_k: _icl_curve_documents(k), ICL_RECORD)


def _nb08_orders():  # notebook 08's order study: the 4-demonstration documents unseen in all 20 orders, every order
    import itertools
    import random

    from lmnotes import prompting

    orders = random.Random(0).sample(list(itertools.permutations(range(4))), 20)
    reordered = [[prompting.reorder_demonstrations(d, o) for o in orders] for d in _icl_curve_documents(4)]
    seen = overlap.seen_in_training("toyworld-gpt", [ICL_RECORD(r) for rs in reordered for r in rs])
    kept = [rs for i, rs in enumerate(reordered) if not any(seen[i * 20:(i + 1) * 20])]
    assert len(kept) > 250
    return [r for rs in kept for r in rs]


def _nb08_selection():  # notebook 08's demonstration selection: both arms' 4-demonstration prompts it scores
    import random

    from lmnotes import prompting

    gpt = checkpoints.load("toyworld-gpt")
    rng, arms = random.Random(1), []
    for d in toyworld.icl_documents(300, 12345, n_lines=5, p_fixed=0.0):
        classes, _ = toyworld.ICL_TASKS[d.task]
        pool = [w for w in classes[0] + classes[1] if w != d.inputs[-1]]
        arms.append([toyworld.icl_document(d.task, d.label_words, demos + [d.inputs[-1]]) for demos in
                     (rng.sample(pool, 4), prompting.nearest_demonstrations(gpt.model, toyworld.tokenizer(), d.inputs[-1], pool, 4))])
    seen = [overlap.seen_in_training("toyworld-gpt", [ICL_RECORD(a[arm]) for a in arms]) for arm in (0, 1)]
    kept = [a for a, s0, s1 in zip(arms, *seen) if not s0 and not s1]
    assert len(kept) > 250
    return [doc for a in kept for doc in a]


EVALUATION_SETS["08 demonstration orders, 4 demonstrations"] = ("toyworld-gpt", _nb08_orders, ICL_RECORD)
EVALUATION_SETS["08 demonstration selection, both arms"] = ("toyworld-gpt", _nb08_selection, ICL_RECORD)


def _nb08_kind_prompts(k, words, templates, *, filtered=True):  # notebook 08 section 3: prompt + answer, 20 seeds
    import random

    from lmnotes import prompting

    animals, fruits = toyworld.ICL_TASKS["kind"][0]
    items = [(w, "animal") for w in animals] + [(w, "fruit") for w in fruits]
    out = []
    for s in range(20):
        drawn = random.Random(100 + s).sample(items, len(items))
        demos, queries = drawn[:k], drawn[k:]
        texts = [[prompting.build_prompt(demos, x, words, t) + " " + words[y] for x, y in queries] for t in templates]
        seen = [overlap.seen_in_training("toyworld-gpt", ts) for ts in texts] if filtered else [[False] * len(queries)]
        out += [ts[i] for ts in texts for i in range(len(queries)) if not any(sn[i] for sn in seen)]
    return out


NB08_MAPPINGS = {"animal / fruit": {"animal": "animal", "fruit": "fruit"}, "yes / no": {"animal": "yes", "fruit": "no"},
                 "flipped": {"animal": "fruit", "fruit": "animal"}, "left / right": {"animal": "left", "fruit": "right"},
                 "even / odd": {"animal": "even", "fruit": "odd"}}
# (with its own words every 2-demonstration prompt is in pre-training: the notebook scores them all and marks
# that point, so it is not registered here; nor are the 0- and 1-demonstration points, marked likewise)
for _name, _words in NB08_MAPPINGS.items():
    for _k in (2, 4, 8) if _name != "animal / fruit" else (4, 8):
        EVALUATION_SETS[f"08 kind task, {_name}, {_k} demonstrations"] = (
            "toyworld-gpt", lambda k=_k, w=_words: _nb08_kind_prompts(k, w, ["{input} -> {output} ."]), None)
for _name in ("yes / no", "flipped"):
    EVALUATION_SETS[f"08 kind task, {_name}, 2 demonstrations, both formats"] = (
        "toyworld-gpt", lambda w=NB08_MAPPINGS[_name]: _nb08_kind_prompts(2, w, ["{input} -> {output} .", "{input} is {output} ."]), None)


def test_nb08_raw_sets_overlap_as_the_notebook_prints():
    # the filters above are not formalities: unfiltered, these are the counts notebook 08 prints as seen
    raw = {k: toyworld.icl_documents(300, 12345, n_lines=k + 1, p_fixed=0.0) for k in (0, 1, 2, 4, 8)}
    assert [overlap.overlap_report("toyworld-gpt", raw[k], ICL_RECORD)["seen"] for k in raw] == [300, 285, 147, 4, 0]
    template = ["{input} -> {output} ."]
    for words in NB08_MAPPINGS.values():  # every 1-demonstration kind prompt occurs in pre-training with its answer
        assert overlap.overlap_report("toyworld-gpt", _nb08_kind_prompts(1, words, template, filtered=False))["seen"] >= 450
    flipped = _nb08_kind_prompts(2, NB08_MAPPINGS["flipped"], template, filtered=False)
    assert overlap.overlap_report("toyworld-gpt", flipped)["seen"] == 179
    assert len(_nb08_kind_prompts(2, NB08_MAPPINGS["flipped"], template)) == 440 - 179


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


# toyworld-sft's recipe (and notebooks 11-13): instructions unseen in pre-training and in its SFT data,
# checked against toyworld-sft's own training documents (toyworld-gpt's plus the SFT instructions)
def _sft_eval(templates):
    from lmnotes import checkpoints, recipes
    from lmnotes.alignment.sft import held_out_instructions

    hp = checkpoints.info("toyworld-sft")["hparams"]
    prompts = [r.prompt for r in toyworld.instructions(hp["n_train"], seed=hp["seed"], templates=hp["templates"])]
    return held_out_instructions(hp["n_eval"], recipes.toyworld_sft.SFT_EVAL_SEEDS[templates], exclude=prompts,
                                 templates=templates)


for _t in ("seen", "held_out"):
    EVALUATION_SETS[f"toyworld-sft recipe, {_t} paraphrases"] = ("toyworld-sft", lambda t=_t: _sft_eval(t), "prompt")


# notebook 11 (toyworld-gpt and models fine-tuned from it): the sft-studies evaluation sets, unseen in
# pre-training (here) and in every training set of the recipe (the test below)
def _nb11(which):
    return recipes.sft_studies.sft_study_data(checkpoints.results("sft-studies")["meta"]["hparams"])[which]


for _which in ("eval_new", "eval_seen"):
    EVALUATION_SETS[f"11 {_which}"] = ("toyworld-gpt", lambda w=_which: _nb11(w), "prompt")


def test_nb11_evaluation_sets_are_disjoint_from_every_training_set():
    data = recipes.sft_studies.sft_study_data(checkpoints.results("sft-studies")["meta"]["hparams"])
    trained = {r.prompt for k, v in data.items() if not k.startswith("eval") for r in v}
    assert len(trained) > 1000
    for k in ("eval_new", "eval_seen"):
        assert len(data[k]) == 300 and not {r.prompt for r in data[k]} & trained
# notebook 10 (toyworld-gpt): the dev and test reviews of every section, as tasks.review_split builds them
for _part in ("dev", "test"):
    EVALUATION_SETS[f"10 review {_part}"] = ("toyworld-gpt", lambda p=_part: tasks.review_split()[p], lambda it: it[0])


def test_review_split_keeps_dev_and_test_apart_from_training():
    split = tasks.review_split()
    texts = {name: {x for x, _ in items} for name, items in split.items()}
    assert not texts["dev"] & texts["train"] and not texts["test"] & texts["train"] and not texts["dev"] & texts["test"]


# notebook 13 (toyworld-reasoner): the held-out sums whose traces the outcome and process reward models pick
# among (held out by construction, like notebook 09's; checked here against the reasoner's training data)
def _nb13_sums():
    from lmnotes.data import reasoning

    return [reasoning.render(p, "steps").prompt for p in reasoning.problems(200, seed=1313, n_operands=4)]


EVALUATION_SETS["13 outcome vs process reward models: held-out sums"] = ("toyworld-reasoner", _nb13_sums, None)


# notebook 01: the held-out Shakespeare that the tokenizers trained live on the training split (the same text
# as shakespeare-bpe's) are measured on, line by line as the notebook prints it; and the book's comment and
# completion prompt (§1.1.2), which 01 gives to shakespeare-bpe
def _nb01_held_out_lines():
    from lmnotes.data import shakespeare_text

    return [line for line in shakespeare_text("val").splitlines() if len(line.split()) >= 6]


EVALUATION_SETS["01 held-out Shakespeare lines (tokenizer sweep)"] = ("shakespeare-bpe", _nb01_held_out_lines, None)
EVALUATION_SETS["01 the book's comment and completion prompt"] = (
    "shakespeare-bpe", lambda: ["I love the food here. It's amazing!", "I love the food here. It's amazing! I'm"], None)


# notebook 05 (toyworld-gpt), section 5: the 300 test instructions of the SFT preview (fourth phrasing) and of
# the sft-loss recipe, kept only if unseen in pre-training and absent from the 100 fine-tuning instructions
def _nb05_sft_test():
    from lmnotes.recipes.sft_loss import sft_loss_data

    data = sft_loss_data()
    assert not {r.prompt for r in data["test"]} & {r.prompt for r in data["tune"]}
    return data["test"]


EVALUATION_SETS["05 SFT preview: test instructions"] = ("toyworld-gpt", _nb05_sft_test, lambda r: r.prompt)


# notebook 07 (shakespeare-char), section 7: the 48 held-out passages of the copy task, as the notebook cuts them
def _nb07_copy_passages():
    import torch

    from lmnotes.data import shakespeare_text
    from lmnotes.generative.copy_task import copy_documents
    from lmnotes.tokenization import CharTokenizer

    chars = CharTokenizer.from_text(shakespeare_text("all"))
    docs, first, _ = copy_documents(torch.tensor(chars.encode(shakespeare_text("val")))[40000:], 48, 48, 100)
    return [chars.decode(row[first: first + 48].tolist()) for row in docs]


EVALUATION_SETS["07 copy-task passages"] = ("shakespeare-char", _nb07_copy_passages, None)


# Last, so that it sees every set registered above.
@pytest.mark.parametrize("label", sorted(EVALUATION_SETS))
def test_evaluation_sets_have_zero_overlap(label):
    model, build, text = EVALUATION_SETS[label]
    assert overlap.overlap_report(model, build(), text)["seen"] == 0

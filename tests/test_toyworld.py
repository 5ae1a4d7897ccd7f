"""The toy world: determinism, vocabulary closure, and every label re-derived independently here."""

import collections
import re

import pytest
import torch

from lmnotes.data import toyworld as tw

VOCAB = set(tw.vocabulary())

GENERATORS = {  # name -> (call with a seed, the texts of its output)
    "stories": (lambda s: tw.stories(20, s), lambda rs: [r.text for r in rs]),
    "facts": (lambda s: [tw.facts(s)], lambda ws: [f.text for f in ws[0].facts]),
    "fact_questions": (lambda s: tw.fact_questions(20, s), lambda rs: [r.text for r in rs]),
    "reviews": (lambda s: tw.reviews(30, s), lambda rs: [r.prompt + " " + r.label_word for r in rs]),
    "arithmetic": (lambda s: tw.arithmetic(20, s, operators="+-", max_value=99),
                   lambda rs: [r.text for r in rs]),
    "instructions": (lambda s: tw.instructions(30, s, templates="all"), lambda rs: [r.text for r in rs]),
    "preference_pairs": (lambda s: tw.preference_pairs(20, s),
                         lambda rs: [f"{r.prompt} {r.chosen} {r.rejected}" for r in rs]),
    "passkey": (lambda s: tw.passkey(3, s, length=80), lambda rs: [r.text for r in rs]),
    "icl_documents": (lambda s: tw.icl_documents(20, s), lambda rs: [r.text for r in rs]),
    "corpus": (lambda s: tw.corpus(3000, s), lambda docs: docs),
}


def test_vocabulary_is_fixed_sorted_and_word_level():
    vocab = tw.vocabulary()
    assert vocab == sorted(set(vocab)) == tw.vocabulary()
    assert 200 <= len(vocab) <= 2000
    assert set("0123456789") | {".", ",", "?", ":"} <= VOCAB
    assert {w.upper() for w in tw.INSTRUCTION_WORDS} <= VOCAB
    assert all(token and " " not in token for token in vocab)


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_are_deterministic_and_stay_in_the_vocabulary(name):
    generate, texts = GENERATORS[name]
    first, again, other = generate(3), generate(3), generate(4)
    assert first == again
    assert first != other
    tokens = {t for text in texts(first) + texts(other) for t in text.split(" ")}
    assert tokens <= VOCAB, tokens - VOCAB


def test_corpus_and_generators_cover_the_vocabulary_largely():
    """Closure the other way round: the vocabulary is not padded with tokens nothing produces."""
    everyone = tw.facts(0, n_people=40)
    produced = {t for doc in tw.corpus(20_000, 0, world=everyone) for t in doc.split()}
    produced |= {t for r in tw.instructions(300, 0, templates="all") for t in r.text.split()}
    produced |= {t for r in tw.preference_pairs(300, 0) for t in f"{r.chosen} {r.rejected}".split()}
    produced |= {t for r in tw.passkey(5, 0, length=100) for t in r.text.split()}
    produced |= {t for d in tw.icl_documents(300, 0) for t in d.text.split()}
    assert produced == VOCAB, VOCAB - produced


def test_world_facts_questions_and_stories_agree():
    world = tw.facts(0)
    assert len(world.people) == 24 and len({p.name for p in world.people}) == 24
    assert tw.facts(1, n_people=5) != tw.facts(2, n_people=5)
    statements = {f.text for f in world.facts}
    for q in tw.fact_questions(100, 0, world):
        person = world.person(q.person)
        assert q.answer == getattr(person, q.relation)
        assert q.response == f"{q.answer} ."
        assert q.evidence in statements and q.person in q.evidence.split() and q.answer in q.evidence.split()
        assert q.person in q.prompt.split()
    for story in tw.stories(100, 0, world):
        person = world.person(story.person)
        text = story.text
        assert person.name in text.split()[:3]
        for city in re.findall(r"\blives in (\w+)", text):
            assert city == person.city
        for job in re.findall(rf"{person.name} (?:is a|the) (\w+)", text):
            assert job == person.job
        for pet in re.findall(r"\b(?:with a|the) (\w+) followed|with a (\w+) \.", text):
            assert person.pet in pet
        for colour in re.findall(r"painted the \w+ (\w+)", text):
            assert colour == person.colour
        assert set(story.others) <= {p.name for p in world.people} - {person.name}
        assert all(o in text.split() for o in story.others)


def _label_from_text(text: str) -> str:
    """The documented rule, re-implemented: per sentence only the clause after "but" counts; "not"
    flips the sign with strength 1; the sum's sign is the label."""
    score = 0
    for sentence in text.split(" . "):
        words = sentence.replace(" .", "").split()
        if "is" not in words:
            continue  # an opening like "i bought this phone last week"
        clause = words[len(words) - words[::-1].index("but"):] if "but" in words else words
        word, negated = clause[-1], clause[-2] == "not"
        value = tw.SENTIMENT[word]
        score += (1 if value < 0 else -1) if negated else value
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def test_review_labels_follow_the_documented_rule_and_are_balanced():
    reviews = tw.reviews(600, 0)
    for r in reviews:
        assert r.label == _label_from_text(r.text), r
        assert r.label_word == tw.LABEL_WORDS[r.label] and r.prompt == f"{r.text} overall it is"
    counts = collections.Counter(r.label for r in reviews)
    assert set(counts) == {"positive", "negative", "neutral"} and min(counts.values()) > 150
    assert any("not" in r.text.split() for r in reviews) and any("but" in r.text.split() for r in reviews)
    plain = tw.reviews(50, 0, p_negation=0.0, p_contrast=0.0)
    assert not any({"not", "but"} & set(r.text.split()) for r in plain)


def test_negation_and_contrast_defeat_a_bag_of_words():
    # the same multiset of sentiment-bearing words ("not", "but", polarity words) with different labels
    by_words = collections.defaultdict(set)
    for r in tw.reviews(2000, 0):
        key = tuple(sorted(w for w in r.text.split() if w in tw.SENTIMENT or w in ("not", "but")))
        by_words[key].add(r.label)
    assert sum(len(labels) > 1 for labels in by_words.values()) >= 10

    # and a bag-of-words classifier (multinomial naive Bayes on word counts) stays far below the
    # rule, which is exact by construction
    vocab = {t: i for i, t in enumerate(tw.vocabulary())}

    def bag(reviews):
        counts = [collections.Counter(vocab[t] for t in r.text.split()) for r in reviews]
        x = torch.tensor([[c[i] for i in range(len(vocab))] for c in counts], dtype=torch.float)
        labels = torch.tensor([tw.REVIEW_LABELS.index(r.label) for r in reviews])
        return x, torch.nn.functional.one_hot(labels)

    (x, y), (x_test, y_test) = bag(tw.reviews(2000, 0)), bag(tw.reviews(1000, 1))
    word_counts = y.T.float() @ x + 1  # (labels, vocab), add-one smoothing
    log_likelihood = torch.log(word_counts / word_counts.sum(1, keepdim=True))
    predicted = (x_test @ log_likelihood.T + torch.log(y.float().mean(0))).argmax(1)
    accuracy = (predicted == y_test.argmax(1)).float().mean().item()
    assert 0.4 < accuracy < 0.7  # above chance (1/3), well below the exact rule (1.0)


def _evaluate(tokens: list[str], reverse: bool) -> tuple[list[int], list[str]]:
    numbers, ops, digits = [], [], []
    for token in tokens + ["+"]:
        if token.isdigit():
            digits.append(token)
        else:
            numbers.append(int("".join(digits[::-1] if reverse else digits)))
            ops.append(token)
            digits = []
    return numbers, ops[:-1]


@pytest.mark.parametrize("reverse", [False, True])
def test_arithmetic_answers_and_steps_recomputed(reverse):
    problems = tw.arithmetic(200, 0, n_operands=4, max_value=99, operators="+-", reverse_digits=reverse)
    assert {op for p in problems for op in p.operators} == {"+", "-"}
    for p in problems:
        tokens = p.prompt.split()
        assert tokens[:2] == ["what", "is"] and tokens[-1] == "?"
        numbers, ops = _evaluate(tokens[2:-1], reverse)
        assert tuple(numbers) == p.operands and tuple(ops) == p.operators and len(numbers) == 4
        assert all(0 <= n <= 99 for n in numbers)
        total = numbers[0]
        for step, op, n in zip(p.steps, ops, numbers[1:]):
            new = total + n if op == "+" else total - n
            assert new >= 0
            left, right = step.split(" = ")
            assert _evaluate(left.split(), reverse)[0] == [total, n]
            assert _evaluate(right.split()[:-1], reverse)[0] == [new]
            total = new
        assert p.answer == total
        assert p.response == " ".join(p.steps) + f" the answer is {right}"
        assert tw.extract_answer(p.response, reverse_digits=reverse) == total
    short = tw.arithmetic(5, 0, n_operands=2, worked=False)
    assert all(p.response.startswith("the answer is") for p in short)
    assert [tw.extract_answer(p.response) for p in short] == [sum(p.operands) for p in short]
    assert tw.extract_answer("3 + 4 = 7 .") is None and tw.extract_answer("the answer is .") is None


def test_instruction_responses_recomputed_from_the_words():
    solve = {"copy": lambda w: w, "reverse": lambda w: w[::-1], "sort": sorted,
             "count": lambda w: list(str(len(w))), "uppercase": lambda w: [x.upper() for x in w],
             "first": lambda w: w[:1], "last": lambda w: w[-1:]}
    seen = tw.instructions(400, 0)
    held = tw.instructions(200, 0, templates="held_out")
    assert {i.task for i in seen} == set(tw.TASKS) == set(solve)
    assert not {i.template for i in seen} & {i.template for i in held}
    for i in seen + held:
        match = re.fullmatch(r"user : ([a-z ]+) : ([a-z ]+) \. assistant :", i.prompt)
        words = match.group(2).split()
        assert 2 <= len(words) <= 5 and len(set(words)) == len(words)
        assert i.response == " ".join(solve[i.task](words)) + " ."
        assert match.group(1) == i.template and tw.parse_instruction(i.prompt) == (i.task, tuple(words))
    only = tw.instructions(50, 1, tasks=("first", "last"), n_words=(3, 3))
    assert {i.task for i in only} == {"first", "last"} and all(len(i.words) == 3 for i in only)


def test_hidden_reward_scores_correctness_politeness_and_brevity():
    prompt = "user : reverse the words : owl fig . assistant :"
    assert tw.hidden_reward(prompt, "fig owl .") == 2.0
    assert tw.hidden_reward(prompt, "sure , fig owl .") == pytest.approx(2.3)
    assert tw.hidden_reward(prompt, "let me think . the answer is fig owl .") == pytest.approx(1.3)
    assert tw.hidden_reward(prompt, "owl fig .") == 0.0
    assert tw.hidden_reward(prompt, "ugh , fig owl .") == pytest.approx(0.8)
    assert tw.hidden_reward(prompt, "fig owl fig owl .") == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="prompt must be an instruction prompt"):
        tw.hidden_reward("what is 3 + 4 ?", "7 .")


def test_preference_pairs_rank_by_the_hidden_reward():
    pairs = tw.preference_pairs(300, 0)
    assert not any(p.flipped for p in pairs)
    for p in pairs:
        assert p.chosen_reward == tw.hidden_reward(p.prompt, p.chosen) > p.rejected_reward
        assert p.rejected_reward == tw.hidden_reward(p.prompt, p.rejected)
    assert sum(p.chosen_reward >= 2 for p in pairs) > 100  # correct answers are often chosen
    noisy = tw.preference_pairs(1000, 0, label_noise=0.2)
    share = sum(p.flipped for p in noisy) / len(noisy)
    assert 0.15 < share < 0.25
    assert all((p.chosen_reward < p.rejected_reward) == p.flipped for p in noisy)


@pytest.mark.parametrize("depth", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_passkey_is_hidden_at_the_requested_depth(depth):
    length = 200
    for record in tw.passkey(5, 0, length=length, depth=depth, n_digits=6):
        tokens = record.prompt.split()
        assert len(tokens) == length
        key = " ".join(record.key)
        assert len(record.key) == 6 and record.response == f"{key} ."
        sentence = f"the pass key is {key} . remember it ."
        assert " ".join(tokens[record.position:record.position + 14]) == sentence
        assert record.prompt.count("pass key is " + key) == 1
        assert record.prompt.endswith("what is the pass key ? the pass key is")
        filler = length - len(sentence.split()) - 10
        assert abs(record.position - depth * filler) <= 2.5  # snapped to a sentence boundary
        assert record.depth == pytest.approx(record.position / filler)


def test_icl_documents_are_bursty_with_fixed_and_random_mappings():
    docs = tw.icl_documents(1000, 0)
    assert 0.35 < sum(d.fixed for d in docs) / len(docs) < 0.45
    assert {d.task for d in docs} == set(tw.ICL_TASKS)
    for d in docs:
        classes, fixed_words = tw.ICL_TASKS[d.task]
        if d.fixed:
            assert d.label_words == fixed_words
        assert d.label_words[0] != d.label_words[1] and set(d.label_words) <= set(tw.ICL_LABEL_POOL)
        tokens = d.text.split()
        assert len(tokens) == 4 * 16 and tokens[1::4] == ["->"] * 16 and tokens[3::4] == ["."] * 16
        assert tuple(tokens[0::4]) == d.inputs
        assert tuple(tokens[p] for p in d.label_positions) == d.targets
        for word, label in zip(d.inputs, d.targets):
            cls = 0 if word in classes[0] else 1
            assert word in classes[cls] and label == d.label_words[cls]
        assert d.prompt.split() == tokens[:-2] and d.response == tokens[-2]
    random_only = tw.icl_documents(300, 1, p_fixed=0.0, n_lines=5)
    assert not any(d.fixed for d in random_only)
    assert len({d.label_words for d in random_only}) > 50
    assert all(d.prompt.endswith("->") and len(d.prompt.split()) == 18 for d in random_only)


def test_corpus_mixes_kinds_by_token_share():
    docs = tw.corpus(20_000, 0)
    sizes = [len(d.split()) for d in docs]
    assert 20_000 <= sum(sizes) < 20_000 + max(sizes)
    stories_only = tw.corpus(2_000, 0, mixture={"stories": 1.0})
    assert all(d.split()[-1] == "." and "assistant" not in d for d in stories_only)
    half = tw.corpus(10_000, 0, mixture={"arithmetic": 1, "icl": 1})
    arithmetic_tokens = sum(len(d.split()) for d in half if d.startswith("what is"))
    icl_tokens = sum(len(d.split()) for d in half if "->" in d)
    assert arithmetic_tokens + icl_tokens == sum(len(d.split()) for d in half)
    assert abs(arithmetic_tokens / (arithmetic_tokens + icl_tokens) - 0.5) < 0.01


def test_corpus_kinds_recovers_the_kind_corpus_wrote(monkeypatch):
    written = []
    document = tw._document

    def recording(kind, rng, world):
        written.append(kind)
        return document(kind, rng, world)

    monkeypatch.setattr(tw, "_document", recording)
    docs = tw.corpus(5_000, 3)
    monkeypatch.undo()
    assert tw.corpus_kinds(docs) == written and set(written) == set(tw.MIXTURE)
    half = {"arithmetic": 1, "icl": 1}
    docs = tw.corpus(2_000, 0, mixture=half)
    assert tw.corpus_kinds(docs, mixture=half) == ["arithmetic" if d.startswith("what is") else "icl" for d in docs]
    with pytest.raises(ValueError, match="mixture"):
        tw.corpus_kinds(docs, mixture={"poems": 1})
    with pytest.raises(TypeError, match="documents"):
        tw.corpus_kinds(docs[0])


BAD_CALLS = [
    (lambda: tw.stories(0, 0), "n must be"),
    (lambda: tw.reviews(-1, 0), "n must be"),
    (lambda: tw.stories(3, True), "seed must be an int"),
    (lambda: tw.instructions(3, 1.0), "seed must be an int"),
    (lambda: tw.facts("0"), "seed must be an int"),
    (lambda: tw.facts(0, n_people=41), "n_people must be"),
    (lambda: tw.fact_questions(3, 0, world="world"), "world must be"),
    (lambda: tw.reviews(3, 0, p_negation=1.5), "p_negation must be"),
    (lambda: tw.arithmetic(3, 0, n_operands=1), "n_operands must be"),
    (lambda: tw.arithmetic(3, 0, max_value=0), "max_value must be"),
    (lambda: tw.arithmetic(3, 0, operators="*"), "operators must be"),
    (lambda: tw.instructions(3, 0, tasks=("translate",)), "tasks must be"),
    (lambda: tw.instructions(3, 0, tasks=()), "tasks must be"),
    (lambda: tw.instructions(3, 0, templates="unseen"), "templates must be"),
    (lambda: tw.instructions(3, 0, n_words=(5, 2)), "n_words must be"),
    (lambda: tw.preference_pairs(3, 0, label_noise=-0.1), "label_noise must be"),
    (lambda: tw.passkey(3, 0, length=20), "length must be"),
    (lambda: tw.passkey(3, 0, depth=1.2), "depth must be"),
    (lambda: tw.icl_documents(3, 0, n_lines=0), "n_lines must be"),
    (lambda: tw.icl_documents(3, 0, tasks="colour"), "tasks must be"),
    (lambda: tw.corpus(0, 0), "n_tokens must be"),
    (lambda: tw.corpus(100, 0, mixture={}), "mixture must"),
    (lambda: tw.corpus(100, 0, mixture={"poems": 1.0}), "mixture must"),
    (lambda: tw.corpus(100, 0, mixture={"stories": 0}), "mixture must"),
    (lambda: tw.solve_instruction("translate", ["owl"]), "task must be"),
    (lambda: tw.facts(0).person("nobody"), "name must be"),
]


@pytest.mark.parametrize("call,message", BAD_CALLS)
def test_bad_input_raises_an_error_naming_it(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_runaway_sizes_are_refused_before_any_work():
    with pytest.raises(ValueError, match="n must be an integer in"):
        tw.stories(10**12, seed=0)
    with pytest.raises(ValueError, match="length must be an integer in"):
        tw.passkey(1, seed=0, length=10**9)


def test_split_after_cuts_words_or_ids_after_each_end_token():
    assert tw.split_after("a b . c ? d".split(), (".", "?")) == [("a", "b", "."), ("c", "?"), ("d",)]
    assert tw.split_after([5, 1, 7, 1], (1,)) == [(5, 1), (7, 1)]
    assert tw.split_after([], (".",)) == []
    with pytest.raises(TypeError, match="tokens"):
        tw.split_after("a b .", (".",))

"""Labelled toy-world tasks for fine-tuning an encoder (notebook 04, book §1.4).

Each builder returns examples in the formats ``lmnotes.pretraining.finetuning.finetune`` takes:

* ``bio_tags(text)``: the BIO tag of every word of a story (people B-PER, cities and places B-LOC,
  objects B-OBJ, with a size word before them B-OBJ I-OBJ);
* ``agree_pairs(n, seed)``: ``((statement A, statement B), "agree" | "contradict")``, the same
  person and relation with the same value or another (A true or false at random), and
  ``fact_lookup(pair)``, the label that looking B up in the world's facts gives;
* ``fact_qa(n, seed)``: ``((question, context of three facts), (start, end))``, the answer's word
  position in the context, and ``template_span(question, context)``, the answer a template
  reader finds without a model;
* ``sentences(text)``: a toy-world text cut into its sentences;
* ``next_sentence_pairs(n, seed)``: ``((sentence A, sentence B), "IsNext" | "NotNext")``, BERT's
  next-sentence prediction on toy-world stories (B is A's successor or a sentence of another story);
* ``application_sets()``: notebook 04's five tasks, train and test sets, every test item the
  fine-tuning set or the bundled model's pre-training holds left out, and ``application_dev_sets()``,
  dev sets on which the baselines of three of them are tuned;
* ``sentence_strength(n, seed)``: ``(sentence, strength)``, one review sentence and the strength of
  its verdict in five classes: a labelled task *related* to review sentiment, for supervised
  pre-training (notebook 02, book §1.1.1);
* ``adaptation_reviews()``: notebook 02's reviews, a labelled pool and dev and test sets that
  ``toyworld-gpt`` never read.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lmnotes import checks
from lmnotes.data import toyworld

BIO_TAGS = ("O", "B-PER", "B-LOC", "B-OBJ", "I-OBJ")
AGREEMENT = ("agree", "contradict")
#: ``sentence_strength``'s classes: a sentence's score -2 .. 2 (``toyworld.clause_score`` of its last clause)
STRENGTHS = ("very negative", "negative", "neutral", "positive", "very positive")
NEXT_SENTENCE = ("IsNext", "NotNext")

_NAMES = frozenset(toyworld.FEMALE_NAMES + toyworld.MALE_NAMES)
_PLACES = frozenset(toyworld.CITIES + toyworld.PLACES)
_STATEMENTS = {"city": "{p} lives in {v} .", "job": "{p} works as a {v} .", "pet": "{p} has a {v} .",
               "colour": "the favourite colour of {p} is {v} ."}
_VALUES = {"city": toyworld.CITIES, "job": toyworld.JOBS, "pet": toyworld.PETS, "colour": toyworld.COLOURS}


def bio_tags(text: str) -> list[str]:
    """One BIO tag per space-separated word: people B-PER; cities and places B-LOC; "big lamp"
    B-OBJ I-OBJ, a bare "lamp" B-OBJ; everything else O."""
    words = checks.text("text", text).split()
    tags = []
    for i, w in enumerate(words):
        after_size = i > 0 and words[i - 1] in toyworld.SIZES
        before_object = i + 1 < len(words) and words[i + 1] in toyworld.OBJECTS
        if w in _NAMES:
            tags.append("B-PER")
        elif w in _PLACES:
            tags.append("B-LOC")
        elif w in toyworld.OBJECTS:
            tags.append("I-OBJ" if after_size else "B-OBJ")
        elif w in toyworld.SIZES and before_object:
            tags.append("B-OBJ")
        else:
            tags.append("O")
    return tags


def question_text(question: toyworld.FactQuestion) -> str:
    """A fact question without its prompt frame: "where does anna live ?"."""
    return question.prompt.removeprefix("question : ").removesuffix(" answer :")


def agree_pairs(n: int, seed: int, people: Sequence[str] | None = None) -> list[tuple[tuple[str, str], str]]:
    """``n`` pairs (A, B) about one person and relation: B repeats A's value ("agree", probability
    1/2) or states another value of the same relation ("contradict").

    B states the person's true value (in the toy world's facts) or a false one with probability 1/2
    under either label, and so does A (a contradiction pairs a true statement with a false one), so
    that looking one statement up in the facts cannot tell the label: comparing A with B can.

    ``people``: the names to draw from (default: all 24), so that training and test pairs can be
    about different people and never coincide."""
    n, seed = checks.size("n", n), checks.integer("seed", seed)
    rng, people = random.Random(seed), _people(people)
    pairs = []
    for _ in range(n):
        person, relation = rng.choice(people), rng.choice(toyworld.RELATIONS)
        true = getattr(person, relation)
        false = [v for v in _VALUES[relation] if v != true]
        value_b = true if rng.random() < 0.5 else rng.choice(false)
        agree = rng.random() < 0.5
        # a contradiction pairs one true statement with one false: each of A and B alone is true
        # with probability 1/2 under either label
        value_a = value_b if agree else (true if value_b != true else rng.choice(false))
        a, b = (_STATEMENTS[relation].format(p=person.name, v=v) for v in (value_a, value_b))
        pairs.append(((a, b), AGREEMENT[0] if agree else AGREEMENT[1]))
    return pairs


def fact_lookup(pair: tuple[str, str]) -> str:
    """The agree/contradict label a reader of B alone would give with the toy world's facts at hand:
    "agree" when B states its person's true value. It would solve the task exactly if A were always
    true; ``agree_pairs`` makes it score 1/2 in expectation."""
    b = checks.text("pair[1]", pair[1]).split()
    world = {(p.name, r): getattr(p, r) for p in toyworld.facts(0).people for r in toyworld.RELATIONS}
    for relation, template in _STATEMENTS.items():
        fill = _template_fill(template, b)
        if fill and (fill["{p}"], relation) in world:
            return AGREEMENT[0] if world[fill["{p}"], relation] == fill["{v}"] else AGREEMENT[1]
    raise ValueError(f"pair[1] must be an agree_pairs statement about a toy-world person, got {pair[1]!r}")


def _people(names: Sequence[str] | None) -> list[toyworld.Person]:
    world = toyworld.facts(0).people
    if names is None:
        return list(world)
    names = checks.texts("people", names)
    known = {p.name: p for p in world}
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        raise ValueError(f"people must be names of the toy world's people {sorted(known)}, got {names!r}")
    return [known[name] for name in names]


def fact_qa(n: int, seed: int) -> list[tuple[tuple[str, str], tuple[int, int]]]:
    """``n`` extractive questions: (question, context) -> the answer's (start, end) word positions.

    The context is three facts in random order: the one that answers the question and two others."""
    n, seed = checks.size("n", n), checks.integer("seed", seed)
    rng, facts = random.Random(seed), [f.text for f in toyworld.facts(0).facts]
    out = []
    for q in toyworld.fact_questions(n, seed):
        context = rng.sample([f for f in facts if f != q.evidence], 2) + [q.evidence]
        rng.shuffle(context)
        before = " ".join(context[: context.index(q.evidence)]).split()
        answer = len(before) + q.evidence.split().index(q.answer)
        out.append(((question_text(q), " ".join(context)), (answer, answer)))
    return out


def _template_fill(template: str, words: list[str]) -> dict[str, str] | None:
    # the words a template's {p} and {v} stand for, or None if the words do not follow it
    slots = template.split()
    if len(slots) != len(words) or any(s != w and s not in ("{p}", "{v}") for s, w in zip(slots, words)):
        return None
    return {s: w for s, w in zip(slots, words) if s in ("{p}", "{v}")}


def template_span(question: str, context: str) -> tuple[int, int]:
    """The ``fact_qa`` answer a template reader gives, with no model: read the person and the
    relation off the question's wording, find the context fact stating that relation of that
    person, and answer with its value word. Returns inclusive (start, end) word positions in
    ``context``; where no fact matches, the last word of the last fact."""
    asked = checks.text("question", question).split()
    words = checks.text("context", context).split()
    query = next(((relation, fill["{p}"]) for relation, template in toyworld._QUESTION.items()
                  if (fill := _template_fill(template, asked))), None)
    if query is None:
        raise ValueError(f"question must be a toy-world fact question such as 'where does anna live ?', got {question!r}")
    start = 0
    for end, word in enumerate(words):
        if word == ".":
            fill = _template_fill(_STATEMENTS[query[0]], words[start:end + 1])
            if fill and fill["{p}"] == query[1]:
                value = start + words[start:end + 1].index(fill["{v}"])
                return value, value
            start = end + 1
    if not words or words[-1] != ".":
        raise ValueError(f"context must be toy-world facts, each ending in ' .', got {context!r}")
    return len(words) - 2, len(words) - 2


def sentences(text: str) -> list[str]:
    """The sentences of a toy-world text, each ending " ." (how every toy-world sentence ends)."""
    text = checks.text("text", text)
    return [s + " ." for s in text.removesuffix(" .").split(" . ")]


def next_sentence_pairs(n: int, seed: int) -> list[tuple[tuple[str, str], str]]:
    """``n`` next-sentence-prediction pairs from toy-world stories (BERT's NSP, §1.3.1): A is a
    sentence of a story, B the sentence after it ("IsNext", probability 1/2) or a sentence taken
    at random from another story ("NotNext")."""
    n, seed = checks.size("n", n), checks.integer("seed", seed)
    rng = random.Random(seed)
    stories = [sentences(s.text) for s in toyworld.stories(n + 1, seed=seed)]
    pairs = []
    for i in range(n):
        story = stories[i]
        k = rng.randrange(len(story) - 1)
        if rng.random() < 0.5:
            pairs.append(((story[k], story[k + 1]), NEXT_SENTENCE[0]))
        else:
            other = stories[(i + 1 + rng.randrange(n)) % (n + 1)]
            pairs.append(((story[k], rng.choice(other)), NEXT_SENTENCE[1]))
    return pairs


def record_text(example) -> str:
    """The text a fine-tuning example shows its model, for checking it against pre-training data
    (``lmnotes.data.overlap``): the text itself, a pair's two texts joined, and for a question with
    its context, the context (where the answer is)."""
    x = example[0]
    if isinstance(x, str):
        return x
    if isinstance(x, tuple) and len(x) == 2 and all(isinstance(t, str) for t in x):
        first, second = x
        return second if first.endswith("?") else f"{first} {second}"
    raise TypeError(f"example must be (text, target) or ((text, text), target), got {example!r:.80}")


def review_split(n_train: int = 3000, n_dev: int = 200, n_test: int = 300, seed: int = 31,
                 model: str = "toyworld-gpt") -> dict[str, list[tuple[str, str]]]:
    """Reviews as ``(text, label)`` for adapting bundled ``model`` (notebook 10, book §3.3).

    ``train`` draws ``n_train`` reviews with ``seed``; ``dev`` and ``test`` draw from ``seed + 1`` and
    ``seed + 2`` and keep the first ``n_dev`` / ``n_test`` that neither occur in the model's
    pre-training documents (``data.overlap.unseen``) nor repeat a training text.
    """
    from lmnotes.data import overlap

    n_train, n_dev, n_test = (checks.size(name, v) for name, v in (("n_train", n_train), ("n_dev", n_dev),
                                                                    ("n_test", n_test)))
    seed = checks.integer("seed", seed)
    train = [(r.text, r.label) for r in toyworld.reviews(n_train, seed=seed)]
    known = {x for x, _ in train}
    out = {"train": train}
    for offset, (name, n) in enumerate((("dev", n_dev), ("test", n_test)), start=1):
        drawn = [(r.text, r.label) for r in toyworld.reviews(4 * n, seed=seed + offset)]
        fresh = [it for it in overlap.unseen(model, drawn, text=lambda it: it[0]) if it[0] not in known]
        if len(fresh) < n:
            raise ValueError(f"only {len(fresh)} fresh {name} reviews in {4 * n} drawn; ask for fewer")
        out[name] = fresh[:n]
        known |= {x for x, _ in out[name]}
    return out
def application_sets(model: str = "toyworld-bert", *, documents: Sequence[str] | None = None
                     ) -> tuple[dict[str, tuple], dict[str, tuple[int, int]]]:
    """Notebook 04's five fine-tuning tasks (§1.4), each ``(train, test, options)`` for
    ``lmnotes.pretraining.finetuning.finetune(..., task=name, **options)``, and for each the number of test items
    dropped ``(in the fine-tuning set, in model's pre-training text)``. Given ``documents`` (the
    pre-training text of a model trained elsewhere, such as the NSP ablation's), test items are
    checked against those instead of bundled ``model``'s.

    Plain reviews (no negation or contrast) for classify and regress; agree/contradict pairs with 16
    people to train on and the 8 others to test on; BIO tags of stories; fact-QA spans. Every test
    item seen in fine-tuning or (``lmnotes.data.overlap``) in ``model``'s pre-training is left out.
    """
    from lmnotes.data import overlap

    reviews_train, reviews_test = (toyworld.reviews(n, seed=seed, p_negation=0.0, p_contrast=0.0)
                                   for n, seed in ((400, 1), (300, 2)))
    stories_train, stories_test = toyworld.stories(300, seed=1), toyworld.stories(300, seed=2)
    names = [p.name for p in toyworld.facts(0).people]
    raw = {
        "classify": ([(r.text, r.label) for r in reviews_train], [(r.text, r.label) for r in reviews_test],
                     dict(labels=toyworld.REVIEW_LABELS)),
        "pair": (agree_pairs(400, seed=1, people=names[:16]), agree_pairs(300, seed=2, people=names[16:]),
                 dict(labels=AGREEMENT)),
        "regress": ([(r.text, r.score) for r in reviews_train], [(r.text, r.score) for r in reviews_test], {}),
        "tag": ([(s.text, bio_tags(s.text)) for s in stories_train], [(s.text, bio_tags(s.text)) for s in stories_test],
                dict(labels=BIO_TAGS)),
        "span": (fact_qa(400, seed=1), fact_qa(300, seed=2), {}),
    }
    fresh = {task: [(x, y) for x, y in test if x not in {x for x, _ in train}] for task, (train, test, _) in raw.items()}
    texts = [record_text(e) for examples in fresh.values() for e in examples]
    seen = iter(overlap.seen_in_training(model, texts) if documents is None else overlap.seen_in(documents, texts))
    sets, dropped = {}, {}
    for task, (train, test, options) in raw.items():
        kept = [e for e in fresh[task] if not next(seen)]
        sets[task], dropped[task] = (train, kept, options), (len(test) - len(fresh[task]), len(fresh[task]) - len(kept))
    return sets, dropped


def application_dev_sets(sets: dict | None = None, n: int = 200, seed: int = 3) -> dict[str, list]:
    """Dev sets for the baselines of notebook 04's classify, pair and regress tasks (a linear model's
    L2 penalty is chosen on them, never on the test set): ``n`` plain reviews and ``n`` agree/contradict
    pairs about the 16 training people, drawn with ``seed``, none of them an item of the training or
    test sets of ``sets`` (``application_sets()``'s first result; built when not given)."""
    n, seed = checks.size("n", n), checks.integer("seed", seed)
    sets = application_sets()[0] if sets is None else sets
    if not isinstance(sets, dict) or not {"classify", "pair"} <= set(sets):
        raise ValueError("sets must be application_sets()'s first result, a dict of tasks with 'classify' and 'pair'")
    taken = {x for task in ("classify", "pair") for x, _ in sets[task][0] + sets[task][1]}
    names = [p.name for p in toyworld.facts(0).people][:16]
    reviews = [r for r in toyworld.reviews(2 * n, seed=seed, p_negation=0.0, p_contrast=0.0) if r.text not in taken][:n]
    pairs = [(x, y) for x, y in agree_pairs(2 * n, seed=seed, people=names) if x not in taken][:n]
    if len(reviews) < n or len(pairs) < n:
        raise ValueError(f"fewer than n = {n} fresh dev items in {2 * n} drawn; ask for fewer")
    return {"classify": [(r.text, r.label) for r in reviews], "pair": pairs,
            "regress": [(r.text, r.score) for r in reviews]}


def sentence_strength(n: int, seed: int, *, p_negation: float = 0.3, p_contrast: float = 0.3,
                      besides: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``n`` single review sentences ("the price is not bad but the size is awful .") labelled with
    the strength of their verdict, one of ``STRENGTHS``: the score -2 .. 2 of the sentence's last
    clause (``toyworld.clause_score``; "not" flips the sign at strength 1, "but" keeps the last clause).

    Related to review sentiment but not the same task: one sentence, not a review of one or two
    sentences and an opening; five classes of one clause's strength, not three of the sign of a sum.
    Negation and contrast come with the probabilities ``toyworld.reviews`` uses. ``besides``: texts
    never to return (e.g. evaluation reviews that are a single sentence); drawing continues until
    ``n`` others are found."""
    n, seed = checks.size("n", n, high=checks.MAX_EXAMPLES), checks.integer("seed", seed)
    p_negation, p_contrast = checks.probability("p_negation", p_negation), checks.probability("p_contrast", p_contrast)
    besides = set(checks.texts("besides", list(besides), allow_empty_list=True))
    rng, out = random.Random(seed), []
    for _ in range(100 * n):
        k = 2 if rng.random() < p_contrast else 1
        clauses = [(rng.choice(tuple(toyworld.SENTIMENT)), rng.random() < p_negation) for _ in range(k)]
        text = " but ".join(f"the {a} is {'not ' if negated else ''}{w}"
                            for a, (w, negated) in zip(rng.sample(toyworld.ASPECTS, k), clauses)) + " ."
        if text not in besides:
            out.append((text, STRENGTHS[toyworld.clause_score(*clauses[-1]) + 2]))
            if len(out) == n:
                return out
    raise ValueError(f"besides leaves fewer than n = {n} sentences in {100 * n} draws")


def adaptation_reviews(model: str = "toyworld-gpt") -> dict[str, list[toyworld.Review]]:
    """Notebook 02's reviews (book §1.1): ``pool``, 2,000 reviews of seed 0 whose labels are used only
    where said (the first 25-400 are the fine-tuning sets); ``test``, the first 300 and ``dev``, the
    next 200 of 900 reviews of seed 1 that bundled ``model`` never read in pre-training
    (``data.overlap.unseen``). Settings are chosen on ``dev``, never on ``test``."""
    from lmnotes.data import overlap

    unseen = overlap.unseen(model, toyworld.reviews(900, seed=1), text=lambda r: r.text)
    return {"pool": toyworld.reviews(2000, seed=0), "test": unseen[:300], "dev": unseen[300:500]}

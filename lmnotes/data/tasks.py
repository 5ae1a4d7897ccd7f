"""Labelled toy-world tasks for fine-tuning an encoder (notebook 04, book §1.4).

Each builder returns examples in the formats ``lmnotes.finetuning.finetune`` takes:

* ``bio_tags(text)``: the BIO tag of every word of a story (people B-PER, cities and places B-LOC,
  objects B-OBJ, with a size word before them B-OBJ I-OBJ);
* ``agree_pairs(n, seed)``: ``((statement A, statement B), "agree" | "contradict")``, the same
  person and relation with the same value or another;
* ``fact_qa(n, seed)``: ``((question, context of three facts), (start, end))``, the answer's word
  position in the context;
* ``next_sentence_pairs(n, seed)``: ``((sentence A, sentence B), "IsNext" | "NotNext")``, BERT's
  next-sentence prediction on toy-world stories (B is A's successor or a sentence of another story).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lmnotes import checks
from lmnotes.data import toyworld

BIO_TAGS = ("O", "B-PER", "B-LOC", "B-OBJ", "I-OBJ")
AGREEMENT = ("agree", "contradict")
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
    """``n`` pairs (A, B) about one person and relation of the toy world's facts: B repeats A's
    value ("agree", probability 1/2) or states another value of the same relation ("contradict").

    ``people``: the names to draw from (default: all 24), so that training and test pairs can be
    about different people and never coincide."""
    n, seed = checks.size("n", n), checks.integer("seed", seed)
    rng, people = random.Random(seed), _people(people)
    pairs = []
    for _ in range(n):
        person, relation = rng.choice(people), rng.choice(toyworld.RELATIONS)
        value = getattr(person, relation)
        agree = rng.random() < 0.5
        other = value if agree else rng.choice([v for v in _VALUES[relation] if v != value])
        a, b = (_STATEMENTS[relation].format(p=person.name, v=v) for v in (value, other))
        pairs.append(((a, b), AGREEMENT[0] if agree else AGREEMENT[1]))
    return pairs


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


def _sentences(text: str) -> list[str]:
    return [s + " ." for s in text.removesuffix(" .").split(" . ")]


def next_sentence_pairs(n: int, seed: int) -> list[tuple[tuple[str, str], str]]:
    """``n`` next-sentence-prediction pairs from toy-world stories (BERT's NSP, §1.3.1): A is a
    sentence of a story, B the sentence after it ("IsNext", probability 1/2) or a sentence taken
    at random from another story ("NotNext")."""
    n, seed = checks.size("n", n), checks.integer("seed", seed)
    rng = random.Random(seed)
    stories = [_sentences(s.text) for s in toyworld.stories(n + 1, seed=seed)]
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

"""The toy world: a small synthetic world whose ground truth we know, so every claim is measurable.

Later chapters (pre-training, prompting, in-context learning, chain of thought, alignment) need
tasks where the right answer is known and tiny models learn fast. Every text here is a sequence of
space-separated tokens, each in :func:`vocabulary` (lower-case words, the upper-case variants of
the instruction words, digits "0".."9" and punctuation tokens), so a one-token-per-word tokenizer
covers all of it. Numbers are written digit by digit ("4 2"). Every generator takes ``n`` and an
int ``seed`` and is deterministic. The grammar, labelling rules and sizes are in
``docs/toyworld.md``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from lmnotes import checks
from lmnotes.data.datasets import documents_stream
from lmnotes.tokenization import WordTokenizer

# ----------------------------------------------------------------------------------------------
# Lexicon. The vocabulary is every token of these lists and templates, nothing else.

FEMALE_NAMES = ("anna", "bella", "clara", "daisy", "emma", "fiona", "grace", "hannah", "iris",
                "julia", "kate", "lily", "maya", "nora", "olga", "rosa", "sara", "tina", "vera", "zoe")
MALE_NAMES = ("adam", "ben", "carl", "dan", "eric", "felix", "george", "hugo", "ivan", "jack",
              "leo", "max", "nick", "oscar", "paul", "sam", "tom", "victor", "will", "yuri")
CITIES = ("paris", "london", "rome", "berlin", "madrid", "vienna", "lisbon", "oslo", "cairo",
          "tokyo", "lima", "dublin")
JOBS = ("baker", "doctor", "teacher", "farmer", "pilot", "painter", "nurse", "driver", "singer",
        "writer", "cook", "builder")
PETS = ("cat", "dog", "rabbit", "parrot", "horse", "goat", "hamster", "turtle")
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "pink", "purple")
PLACES = ("market", "park", "school", "library", "station", "river", "beach", "garden", "shop",
          "cafe")
OBJECTS = ("book", "lamp", "chair", "cup", "hat", "ball", "box", "kite", "key", "coat", "bag", "clock")
SIZES = ("small", "big", "new", "shiny")
FEELINGS = ("happy", "tired", "calm", "proud", "sad")

FRUITS = ("apple", "banana", "cherry", "grape", "lemon", "lime", "mango", "melon", "peach", "pear",
          "plum", "fig")
ANIMALS = ("bear", "bird", "cow", "deer", "duck", "fox", "frog", "lion", "mouse", "owl", "sheep",
           "wolf")
#: the words that instructions operate on; their upper-case variants are in the vocabulary too
INSTRUCTION_WORDS = tuple(sorted(FRUITS + ANIMALS))

PRODUCTS = ("phone", "kettle", "jacket", "laptop", "camera", "blender", "backpack", "speaker",
            "watch", "printer", "lamp", "chair")
ASPECTS = ("price", "design", "quality", "size", "colour", "material", "finish", "packaging",
           "weight", "manual")
#: review words and their polarity: +-2 strong, +-1 mild, 0 neutral (see :func:`review_score`)
SENTIMENT = {"great": 2, "excellent": 2, "amazing": 2, "wonderful": 2,
             "good": 1, "nice": 1, "solid": 1, "decent": 1,
             "okay": 0, "average": 0, "ordinary": 0,
             "bad": -1, "poor": -1, "weak": -1, "dull": -1,
             "terrible": -2, "awful": -2, "horrible": -2, "useless": -2}
REVIEW_LABELS = ("negative", "neutral", "positive")
#: the word that completes ``VERDICT`` for each label when polarity is posed as completion
LABEL_WORDS = {"positive": "great", "negative": "terrible", "neutral": "okay"}
VERDICT = "overall it is"

DIGITS = tuple("0123456789")
PUNCTUATION = (".", ",", "?", ":", "->", "+", "-", "=")

# ----------------------------------------------------------------------------------------------
# Argument checks shared by every generator.


def _digits(number: int, reverse: bool = False) -> str:
    """42 -> "4 2" (or "2 4" least-significant digit first)."""
    text = str(number)
    return " ".join(reversed(text) if reverse else text)


# ----------------------------------------------------------------------------------------------
# Records. Prompt/response records read as one text: ``prompt + " " + response``.


@dataclass(frozen=True)
class _Example:
    prompt: str
    response: str

    @property
    def text(self) -> str:
        return f"{self.prompt} {self.response}"


@dataclass(frozen=True)
class Person:
    name: str
    gender: str  # "female" or "male": picks she/he in stories
    city: str
    job: str
    pet: str
    colour: str


@dataclass(frozen=True)
class Fact:
    """One statement of the knowledge base, e.g. ``("anna", "city", "paris")``."""

    person: str
    relation: str
    value: str
    text: str


RELATIONS = ("city", "job", "pet", "colour")
_STATEMENT = {"city": "{p} lives in {v} .", "job": "{p} works as a {v} .",
              "pet": "{p} has a {v} .", "colour": "the favourite colour of {p} is {v} ."}
_QUESTION = {"city": "where does {p} live ?", "job": "what is the job of {p} ?",
             "pet": "what pet does {p} have ?", "colour": "what is the favourite colour of {p} ?"}


@dataclass(frozen=True)
class World:
    """The knowledge base: who lives where, works as what, owns which pet, likes which colour."""

    seed: int
    people: tuple[Person, ...]

    @functools.cached_property  # computed once per world (the reasoning data asks thousands of times)
    def facts(self) -> tuple[Fact, ...]:
        return tuple(Fact(p.name, r, getattr(p, r), _STATEMENT[r].format(p=p.name, v=getattr(p, r)))
                     for p in self.people for r in RELATIONS)

    def person(self, name: str) -> Person:
        for p in self.people:
            if p.name == name:
                return p
        raise ValueError(f"name must be one of {[p.name for p in self.people]}, got {name!r}")


@dataclass(frozen=True)
class Story:
    text: str
    person: str  # the main character
    others: tuple[str, ...]  # everyone else the story mentions


@dataclass(frozen=True)
class FactQuestion(_Example):
    """``prompt`` "question : where does anna live ? answer :", ``response`` "paris ."."""

    person: str
    relation: str
    answer: str
    evidence: str  # the statement that answers it, for retrieval


@dataclass(frozen=True)
class Review:
    text: str
    label: str  # "positive", "negative" or "neutral", by :func:`review_score`
    score: int
    product: str

    @property
    def label_word(self) -> str:
        return LABEL_WORDS[self.label]

    @property
    def prompt(self) -> str:
        """The review posed as completion: the next word should be :attr:`label_word`."""
        return f"{self.text} {VERDICT}"


@dataclass(frozen=True)
class Arithmetic(_Example):
    """``prompt`` "what is 3 + 5 + 4 ?", ``response`` "3 + 5 = 8 . 8 + 4 = 1 2 . the answer is 1 2 ."."""

    operands: tuple[int, ...]
    operators: tuple[str, ...]
    answer: int
    steps: tuple[str, ...]  # one worked step per operator, e.g. "8 + 4 = 1 2 ."


@dataclass(frozen=True)
class Instruction(_Example):
    """``prompt`` "user : reverse the words : owl fig . assistant :", ``response`` "fig owl ."."""

    task: str
    template: str
    words: tuple[str, ...]
    answer: tuple[str, ...]


@dataclass(frozen=True)
class PreferencePair:
    """Two responses to one prompt; ``chosen`` has the higher :func:`hidden_reward` unless
    ``flipped`` (label noise)."""

    prompt: str
    chosen: str
    rejected: str
    chosen_reward: float
    rejected_reward: float
    flipped: bool


@dataclass(frozen=True)
class Passkey(_Example):
    """A long filler document with ``key`` hidden at token ``position``; ``response`` is the key."""

    key: str
    depth: float  # where the key sentence actually starts, as a fraction of the filler
    position: int  # token index of the key sentence in ``prompt``


@dataclass(frozen=True)
class ICLDocument(_Example):
    """Demonstration lines ``input -> label .``; ``prompt`` stops before the last label, the
    ``response`` is that label word and ``text`` is the whole document."""

    task: str
    label_words: tuple[str, str]  # the word for class 0 and for class 1 in this document
    fixed: bool  # True: the task's own mapping; False: a mapping drawn for this document
    inputs: tuple[str, ...]
    targets: tuple[str, ...]  # the label word of every line
    label_positions: tuple[int, ...]  # token index of every label in ``text`` (for loss weights)

    @property
    def text(self) -> str:
        return f"{self.prompt} {self.response} ."


# ----------------------------------------------------------------------------------------------
# Facts and stories


def facts(seed: int = 0, n_people: int = 24) -> World:
    """A knowledge base of ``n_people`` people (at most 40), each with a city, job, pet and colour.

    Stories, fact questions and the pre-training corpus built with the same ``world`` agree with
    it, so a model pre-trained on them can answer closed-book (book section 3.2: retrieval).
    """
    rng = random.Random(checks.integer("seed", seed))
    names = [(n, "female") for n in FEMALE_NAMES] + [(n, "male") for n in MALE_NAMES]
    chosen = rng.sample(names, checks.integer("n_people", n_people, 2, len(names)))
    people = tuple(Person(name, gender, rng.choice(CITIES), rng.choice(JOBS), rng.choice(PETS),
                          rng.choice(COLOURS)) for name, gender in chosen)
    return World(seed, people)


def _world(world: World | None) -> World:
    if world is None:
        return facts(0)
    if not isinstance(world, World):
        raise ValueError(f"world must be a World from facts(...) or None, got {type(world).__name__}")
    return world


def _fact_question(rng: random.Random, world: World) -> FactQuestion:
    person, relation = rng.choice(world.people), rng.choice(RELATIONS)
    value = getattr(person, relation)
    return FactQuestion(f"question : {_QUESTION[relation].format(p=person.name)} answer :", f"{value} .",
                        person.name, relation, value,
                        _STATEMENT[relation].format(p=person.name, v=value))


def fact_questions(n: int, seed: int, world: World | None = None) -> list[FactQuestion]:
    """``n`` questions about the people of ``world`` (default ``facts(0)``), with their answers."""
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    rng, world = random.Random(checks.integer("seed", seed)), _world(world)
    return [_fact_question(rng, world) for _ in range(n)]


def _facts_document(rng: random.Random, world: World) -> str:
    person = rng.choice(world.people)
    relations = rng.sample(RELATIONS, rng.randint(2, len(RELATIONS)))
    return " ".join(_STATEMENT[r].format(p=person.name, v=getattr(person, r)) for r in relations)


_STORY_OPENINGS = ("{name} is a {job} who lives in {city} .", "{name} lives in {city} with a {pet} .",
                   "one day {name} the {job} woke up early .")
_STORY_MIDDLES = ("{she} went to the {place} .", "{she} bought a {size} {object} at the {place} .",
                  "{she} met {other} at the {place} .", "{other} gave {her} a {size} {object} .",
                  "{she} gave the {object} to {other} .", "the {pet} followed {her} to the {place} .",
                  "{she} painted the {object} {colour} .", "{she} and {other} walked to the {place} .",
                  "{she} felt {feeling} .")
_STORY_ENDINGS = ("then {she} went home .", "in the evening {she} was {feeling} .",
                  "at night {she} slept well .")


def _story(rng: random.Random, world: World) -> Story:
    person = rng.choice(world.people)
    pronoun, object_pronoun = ("she", "her") if person.gender == "female" else ("he", "him")
    others = []
    sentences = [rng.choice(_STORY_OPENINGS)] + [rng.choice(_STORY_MIDDLES)
                                                 for _ in range(rng.randint(2, 4))]
    sentences.append(rng.choice(_STORY_ENDINGS))
    text = []
    for template in sentences:
        other = rng.choice([p for p in world.people if p is not person]).name
        if "{other}" in template:
            others.append(other)
        text.append(template.format(name=person.name, job=person.job, city=person.city, pet=person.pet,
                                    colour=person.colour, she=pronoun, her=object_pronoun, other=other,
                                    place=rng.choice(PLACES), object=rng.choice(OBJECTS),
                                    size=rng.choice(SIZES), feeling=rng.choice(FEELINGS)))
    return Story(" ".join(text), person.name, tuple(dict.fromkeys(others)))


def stories(n: int, seed: int, world: World | None = None) -> list[Story]:
    """``n`` short stories (4-6 sentences) about people of ``world``, true to its facts: the
    unlabeled pre-training text (book section 1.1)."""
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    rng, world = random.Random(checks.integer("seed", seed)), _world(world)
    return [_story(rng, world) for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# Reviews with negation and contrast


def clause_score(word: str, negated: bool) -> int:
    """Polarity of "the X is [not] WORD": the word's value, or after "not" the opposite sign with
    strength 1 ("not great" -1, "not bad" +1, "not okay" -1)."""
    value = SENTIMENT[checks.choice("word", word, SENTIMENT)]
    if not checks.boolean("negated", negated):
        return value
    return -1 if value >= 0 else 1


def review_score(sentences: Sequence[Sequence[tuple[str, bool]]]) -> int:
    """The labelling rule: a review's score is the sum of its sentences' scores, and a sentence
    "A but B" counts only its last clause B. Each sentence is a list of (word, negated) clauses."""
    return sum(clause_score(*clauses[-1]) for clauses in sentences)


def review_label(score: int) -> str:
    """score > 0: positive, < 0: negative, 0: neutral."""
    score = checks.integer("score", score)
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


_REVIEW_OPENINGS = ("i bought this {product} last week .", "i got this {product} as a gift .",
                    "my new {product} arrived today .")


def _review(rng: random.Random, label: str, p_negation: float, p_contrast: float) -> Review:
    product = rng.choice(PRODUCTS)
    while True:
        sentences, text = [], []
        if rng.random() < 0.5:
            text.append(rng.choice(_REVIEW_OPENINGS).format(product=product))
        for _ in range(rng.randint(1, 2)):
            n_clauses = 2 if rng.random() < p_contrast else 1
            clauses = [(rng.choice(tuple(SENTIMENT)), rng.random() < p_negation) for _ in range(n_clauses)]
            aspects = rng.sample(ASPECTS, n_clauses)
            sentences.append(clauses)
            text.append(" but ".join(f"the {a} is {'not ' if neg else ''}{w}"
                                     for a, (w, neg) in zip(aspects, clauses)) + " .")
        score = review_score(sentences)
        if review_label(score) == label:
            return Review(" ".join(text), label, score, product)


def reviews(n: int, seed: int, p_negation: float = 0.3, p_contrast: float = 0.3) -> list[Review]:
    """``n`` product reviews, labels balanced over negative/neutral/positive by :func:`review_score`.

    Negation ("not bad") and contrast ("good but ...") make word order matter: the same multiset of
    words can carry different labels, so a bag-of-words classifier stays measurably below a
    sequence model (book section 1.1).
    """
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    p_negation, p_contrast = checks.probability("p_negation", p_negation), checks.probability("p_contrast", p_contrast)
    rng = random.Random(checks.integer("seed", seed))
    return [_review(rng, rng.choice(REVIEW_LABELS), p_negation, p_contrast) for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# Arithmetic with worked steps


def _arithmetic(rng, n_operands, max_value, operators, worked, reverse_digits) -> Arithmetic:
    operands, ops, steps = [rng.randint(0, max_value)], [], []
    total = operands[0]
    for _ in range(n_operands - 1):
        value = rng.randint(0, max_value)
        op = rng.choice(operators) if value <= total else "+"  # keep every partial result >= 0
        new_total = total + value if op == "+" else total - value
        steps.append(f"{_digits(total, reverse_digits)} {op} {_digits(value, reverse_digits)} = "
                     f"{_digits(new_total, reverse_digits)} .")
        operands.append(value)
        ops.append(op)
        total = new_total
    expression = " ".join([_digits(operands[0], reverse_digits)] + [
        f"{op} {_digits(v, reverse_digits)}" for op, v in zip(ops, operands[1:])])
    answer = f"the answer is {_digits(total, reverse_digits)} ."
    response = " ".join(steps) + " " + answer if worked else answer
    return Arithmetic(f"what is {expression} ?", response, tuple(operands), tuple(ops), total, tuple(steps))


def arithmetic(n: int, seed: int, n_operands: int = 3, max_value: int = 9, operators: str = "+",
               worked: bool = True, reverse_digits: bool = False) -> list[Arithmetic]:
    """``n`` sums (``operators="+-"`` adds differences) of ``n_operands`` numbers in [0, max_value].

    With ``worked`` the response shows one step per operator before "the answer is ..." (a
    scratchpad, book section 3.2: chain of thought); without it only the answer. Differences are
    only drawn when the running total stays >= 0. ``reverse_digits`` writes every number
    least-significant digit first, which makes carrying easier to learn. The defaults (3 operands
    of one digit) are the easy setting where tiny models get a useful share right.
    """
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    checks.integer("n_operands", n_operands, 2, 8)
    checks.integer("max_value", max_value, 1, 999)
    if operators not in ("+", "-", "+-", "-+"):
        raise ValueError(f"operators must be '+', '-' or '+-', got {operators!r}")
    rng = random.Random(checks.integer("seed", seed))
    return [_arithmetic(rng, n_operands, max_value, tuple(operators),
                        checks.boolean("worked", worked), checks.boolean("reverse_digits", reverse_digits))
            for _ in range(n)]


def extract_answer(response: str, reverse_digits: bool = False) -> int | None:
    """The number after the last "the answer is" (None if there is none): how generated solutions
    are scored and voted on (self-consistency)."""
    tokens = checks.text("response", response, allow_empty=True).split()
    reverse_digits = checks.boolean("reverse_digits", reverse_digits)
    for start in range(len(tokens) - 3, -1, -1):
        if tokens[start:start + 3] == ["the", "answer", "is"]:
            digits = []
            for token in tokens[start + 3:]:
                if token not in DIGITS:
                    break
                digits.append(token)
            if not digits:
                return None
            return int("".join(reversed(digits) if reverse_digits else digits))
    return None


# ----------------------------------------------------------------------------------------------
# Instructions

#: paraphrased templates per task; the last template of each task is held out (``templates="held_out"``)
INSTRUCTION_TEMPLATES = {
    "copy": ("repeat the words", "copy the words", "say the words again", "write the same words"),
    "reverse": ("reverse the words", "write the words in reverse order", "say the words backwards",
                "give the words from last to first"),
    "sort": ("sort the words", "put the words in alphabetical order", "list the words from a to z",
             "order the words alphabetically"),
    "count": ("count the words", "how many words are there", "say how many words there are",
              "give the number of words"),
    "uppercase": ("uppercase the words", "write the words in capital letters", "make the words loud",
                  "say the words in upper case"),
    "first": ("give the first word", "what is the first word", "say only the first word",
              "which word comes first"),
    "last": ("give the last word", "what is the last word", "say only the last word",
             "which word comes last"),
}
TASKS = tuple(INSTRUCTION_TEMPLATES)
TEMPLATE_SETS = ("seen", "held_out", "all")
_TASK_OF_TEMPLATE = {t: task for task, ts in INSTRUCTION_TEMPLATES.items() for t in ts}


def solve_instruction(task: str, words: Sequence[str]) -> tuple[str, ...]:
    """The correct answer tokens of an instruction task on ``words``."""
    checks.choice("task", task, TASKS)
    words = tuple(checks.texts("words", words))
    return {"copy": lambda: words, "reverse": lambda: words[::-1], "sort": lambda: tuple(sorted(words)),
            "count": lambda: tuple(str(len(words))), "uppercase": lambda: tuple(w.upper() for w in words),
            "first": lambda: words[:1], "last": lambda: words[-1:]}[task]()


def _templates(task: str, templates: str) -> tuple[str, ...]:
    ts = INSTRUCTION_TEMPLATES[task]
    return {"seen": ts[:-1], "held_out": ts[-1:], "all": ts}[templates]


def _instruction(rng, tasks, templates, n_words) -> Instruction:
    task = rng.choice(tasks)
    template = rng.choice(_templates(task, templates))
    words = tuple(rng.sample(INSTRUCTION_WORDS, rng.randint(*n_words)))
    answer = solve_instruction(task, words)
    return Instruction(f"user : {template} : {' '.join(words)} . assistant :", " ".join(answer) + " .",
                       task, template, words, answer)


def instructions(n: int, seed: int, tasks: Sequence[str] | None = None, templates: str = "seen",
                 n_words: tuple[int, int] = (2, 5)) -> list[Instruction]:
    """``n`` instruction -> response pairs over ``tasks`` (default all of :data:`TASKS`).

    Each task has four paraphrased templates; ``templates="seen"`` uses the first three,
    ``"held_out"`` only the fourth and ``"all"`` every one, so generalisation to new phrasings (and,
    by choosing ``tasks``, to new tasks) can be measured (book section 4.1: instruction alignment).
    """
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    tasks = checks.choices("tasks", tasks, TASKS)
    checks.choice("templates", templates, TEMPLATE_SETS)
    n_words = checks.int_range("n_words", n_words, 1, 9)
    rng = random.Random(checks.integer("seed", seed))
    return [_instruction(rng, tasks, templates, n_words) for _ in range(n)]


def parse_instruction(prompt: str) -> tuple[str, tuple[str, ...]]:
    """(task, words) of an instruction prompt built by :func:`instructions`."""
    tokens = checks.text("prompt", prompt).split()
    try:
        colon = tokens.index(":", 2)
        template, words = " ".join(tokens[2:colon]), tuple(tokens[colon + 1:-3])
        task = _TASK_OF_TEMPLATE[template]
        if tokens[:2] != ["user", ":"] or tokens[-3:] != [".", "assistant", ":"] or not words:
            raise ValueError
    except (ValueError, KeyError):
        raise ValueError(f"prompt must be an instruction prompt 'user : TEMPLATE : WORDS . assistant :', "
                         f"got {prompt!r}") from None
    return task, words


# ----------------------------------------------------------------------------------------------
# Preference pairs and the hidden reward

POLITE_OPENERS = ("sure ,", "of course ,", "happy to help ,")
RUDE_OPENERS = ("ugh ,", "whatever ,")
FILLERS = ("the answer is", "let me think . the answer is", "i believe it is")


def hidden_reward(prompt: str, response: str) -> float:
    """The true reward that preference labels come from (book sections 4.3-4.4: RLHF and DPO).

    +2 if the response is the correct answer (after an optional opener and an optional filler,
    ending in "."); +0.5 for a polite opener ("sure ,"), -1 for a rude one ("ugh ,"); -0.1 for every
    token beyond the bare answer and its ".". So "sure , fig owl ." (2.3) beats "fig owl ." (2.0),
    which beats "let me think . the answer is fig owl ." (1.3).
    """
    task, words = parse_instruction(prompt)
    answer = list(solve_instruction(task, words))
    tokens = checks.text("response", response, allow_empty=True).split()
    reward, rest = 0.0, tokens
    for opener, bonus in [(o, 0.5) for o in POLITE_OPENERS] + [(o, -1.0) for o in RUDE_OPENERS]:
        if rest[:len(opener.split())] == opener.split():
            reward, rest = bonus, rest[len(opener.split()):]
            break
    for filler in FILLERS:
        if rest[:len(filler.split())] == filler.split():
            rest = rest[len(filler.split()):]
            break
    if rest == answer + ["."]:
        reward += 2.0
    return round(reward - 0.1 * max(0, len(tokens) - len(answer) - 1), 6)


def _wrong_answer(rng: random.Random, task: str, words: tuple[str, ...], answer: tuple[str, ...]):
    if task == "count":
        count = len(words) + rng.choice((-1, 1))
        return tuple(str(count if count > 0 else 2))
    if len(answer) == 1:  # first / last: another word of the input, or a stranger
        return (rng.choice([w for w in INSTRUCTION_WORDS if w != answer[0]]),)
    wrong = list(answer)
    rng.choice((lambda: wrong.pop(rng.randrange(len(wrong))), lambda: rng.shuffle(wrong)))()
    return tuple(wrong) if tuple(wrong) != answer else answer[1:]


def _candidate(rng: random.Random, task, words, answer) -> str:
    opener = rng.choice(("",) * 3 + POLITE_OPENERS + RUDE_OPENERS)
    filler = rng.choice(("",) * 3 + FILLERS)
    content = answer if rng.random() < 0.5 else _wrong_answer(rng, task, words, answer)
    return " ".join(part for part in (opener, filler, " ".join(content), ".") if part)


def preference_pairs(n: int, seed: int, label_noise: float = 0.0, tasks: Sequence[str] | None = None
                     ) -> list[PreferencePair]:
    """``n`` (prompt, chosen, rejected) triples over instruction prompts, ranked by
    :func:`hidden_reward`; candidates vary in correctness, politeness and length. With probability
    ``label_noise`` the pair is flipped (noisy annotators, book section 4.4)."""
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    label_noise = checks.probability("label_noise", label_noise)
    tasks = checks.choices("tasks", tasks, TASKS)
    rng = random.Random(checks.integer("seed", seed))
    pairs = []
    while len(pairs) < n:
        example = _instruction(rng, tasks, "seen", (2, 5))
        a, b = (_candidate(rng, example.task, example.words, example.answer) for _ in range(2))
        ra, rb = hidden_reward(example.prompt, a), hidden_reward(example.prompt, b)
        if ra == rb:
            continue
        if ra < rb:
            a, b, ra, rb = b, a, rb, ra
        flipped = rng.random() < label_noise
        pairs.append(PreferencePair(example.prompt, b, a, rb, ra, True) if flipped
                     else PreferencePair(example.prompt, a, b, ra, rb, False))
    return pairs


@dataclass(frozen=True)
class RankedList:
    """One prompt with ``k`` responses ranked best first by :func:`hidden_reward` (all rewards differ)."""

    prompt: str
    responses: tuple[str, ...]
    rewards: tuple[float, ...]


def ranked_lists(n: int, seed: int, k: int = 4, tasks: Sequence[str] | None = None) -> list[RankedList]:
    """``n`` listwise annotations: per instruction prompt, ``k`` candidates (drawn like those of
    :func:`preference_pairs`, redrawn until their hidden rewards all differ) ranked best first
    (book section 4.3.2: listwise ranking, Plackett-Luce)."""
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    k = checks.integer("k", k, low=2, high=8)
    tasks = checks.choices("tasks", tasks, TASKS)
    rng = random.Random(checks.integer("seed", seed))
    lists = []
    while len(lists) < n:
        example = _instruction(rng, tasks, "seen", (2, 5))
        scored: dict[float, str] = {}
        for _ in range(20 * k):
            response = _candidate(rng, example.task, example.words, example.answer)
            scored.setdefault(hidden_reward(example.prompt, response), response)
            if len(scored) == k:
                break
        if len(scored) < k:
            continue
        order = sorted(scored, reverse=True)
        lists.append(RankedList(example.prompt, tuple(scored[r] for r in order), tuple(order)))
    return lists

# ----------------------------------------------------------------------------------------------
# Passkey retrieval

FILLER_SENTENCES = ("the grass is green .", "the sky is blue .", "the sun is yellow .", "here we go .",
                    "there and back again .", "and again .", "again .")
_FILLER_TOKENS = tuple(tuple(s.split()) for s in FILLER_SENTENCES)
#: The question that ends every passkey prompt; the key follows it.
PASSKEY_QUESTION = "what is the pass key ? the pass key is"


def passkey(n: int, seed: int, length: int = 256, depth: float = 0.5, n_digits: int = 5) -> list[Passkey]:
    """``n`` documents of exactly ``length`` tokens: filler sentences with "the pass key is 7 1 3 .
    remember it ." hidden at ``depth`` (0 = start, 1 = end of the filler, snapped to a sentence
    boundary) and the question at the end; the response is the key (book section 2.3: long context).
    """
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    checks.integer("n_digits", n_digits, 1, 20)
    depth = checks.probability("depth", depth)
    fixed = len("the pass key is . remember it .".split()) + n_digits + len(PASSKEY_QUESTION.split())
    checks.size("length", length, low=fixed + 2, high=checks.MAX_LENGTH)
    rng = random.Random(checks.integer("seed", seed))
    records = []
    for _ in range(n):
        remaining, sentences = length - fixed, []
        while remaining:
            fits = [s for s in _FILLER_TOKENS if len(s) == remaining or remaining - len(s) >= 2]
            sentences.append(rng.choice(fits))
            remaining -= len(sentences[-1])
        starts = [0]
        for s in sentences:
            starts.append(starts[-1] + len(s))
        filler_length = starts[-1]
        cut = min(range(len(starts)), key=lambda i: abs(starts[i] - depth * filler_length))
        key = "".join(rng.choice(DIGITS) for _ in range(n_digits))
        key_sentence = f"the pass key is {' '.join(key)} . remember it ."
        tokens = [t for s in sentences[:cut] for t in s] + key_sentence.split() + [
            t for s in sentences[cut:] for t in s] + PASSKEY_QUESTION.split()
        records.append(Passkey(" ".join(tokens), f"{' '.join(key)} .", key,
                               starts[cut] / filler_length, starts[cut]))
    return records


# ----------------------------------------------------------------------------------------------
# Bursty in-context-learning documents

#: binary classification tasks: (words of class 0, words of class 1) and their fixed label words
ICL_TASKS = {
    "sentiment": ((tuple(w for w, v in SENTIMENT.items() if v > 0),
                   tuple(w for w, v in SENTIMENT.items() if v < 0)), ("positive", "negative")),
    "kind": ((ANIMALS, FRUITS), ("animal", "fruit")),
    "parity": ((DIGITS[0::2], DIGITS[1::2]), ("even", "odd")),
    "case": ((INSTRUCTION_WORDS, tuple(w.upper() for w in INSTRUCTION_WORDS)), ("lower", "upper")),
}
#: the label words a random mapping draws from: every task's own words and a few arbitrary ones
ICL_LABEL_POOL = tuple(sorted({w for _, labels in ICL_TASKS.values() for w in labels}
                              | {"yes", "no", "left", "right"}))


def _icl_document(rng: random.Random, tasks, n_lines: int, p_fixed: float) -> ICLDocument:
    task = rng.choice(tasks)
    classes, fixed_labels = ICL_TASKS[task]
    fixed = rng.random() < p_fixed
    label_words = fixed_labels if fixed else tuple(rng.sample(ICL_LABEL_POOL, 2))
    inputs = []
    for _ in range(n_lines):
        cls = rng.randrange(2)
        inputs.append(rng.choice(classes[cls]))
    return icl_document(task, label_words, inputs, fixed=fixed)


def icl_document(task: str, label_words: Sequence[str], inputs: Sequence[str], fixed: bool = False) -> ICLDocument:
    """The ICL document of ``task`` whose lines are ``inputs`` (the last one the query), each labelled
    with ``label_words[c]`` for its class ``c``: the form :func:`icl_documents` draws, for prompts
    built by hand (demonstrations chosen or reordered; book sections 3.1.3 and 3.3.1)."""
    classes, _ = ICL_TASKS[checks.choice("task", task, tuple(ICL_TASKS))]
    label_words = tuple(checks.texts("label_words", label_words))
    if len(label_words) != 2 or label_words[0] == label_words[1]:
        raise ValueError(f"label_words must be two distinct words (class 0's, class 1's), got {label_words!r}")
    inputs = tuple(checks.texts("inputs", inputs))
    unknown = [w for w in inputs if w not in classes[0] and w not in classes[1]]
    if unknown:
        raise ValueError(f"inputs must be words of task {task!r}'s two classes, got {unknown!r:.80}")
    tokens, targets, positions = [], [], []
    for word in inputs:
        label = label_words[0 if word in classes[0] else 1]
        targets.append(label)
        positions.append(len(tokens) + 2)
        tokens += [word, "->", label, "."]
    return ICLDocument(" ".join(tokens[:-2]), targets[-1], task, label_words, checks.boolean("fixed", fixed), inputs,
                       tuple(targets), tuple(positions))


def icl_documents(n: int, seed: int, n_lines: int = 16, p_fixed: float = 0.4,
                  tasks: Sequence[str] | None = None) -> list[ICLDocument]:
    """``n`` bursty documents of ``n_lines`` demonstration lines ``input -> label .`` (4 tokens each).

    Every document is one binary task of :data:`ICL_TASKS`; with probability ``p_fixed`` it uses
    the task's fixed label words ("animal"/"fruit"), otherwise two words drawn from
    :data:`ICL_LABEL_POOL` for this document alone, so the label can only be read off the earlier
    lines. Pre-training on such documents (40% fixed, 60% random, extra loss weight on
    ``label_positions``) is what made in-context learning appear at tiny scale (book section 3.1).
    For evaluation use ``p_fixed=0`` and ``n_lines=k + 1``: ``prompt`` has k demonstrations and a
    query, ``response`` is its label.
    """
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    checks.size("n_lines", n_lines, high=checks.MAX_LENGTH)
    p_fixed = checks.probability("p_fixed", p_fixed)
    tasks = checks.choices("tasks", tasks, tuple(ICL_TASKS))
    rng = random.Random(checks.integer("seed", seed))
    return [_icl_document(rng, tasks, n_lines, p_fixed) for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# The pre-training mixture

#: default share of tokens per kind of document in :func:`corpus`
MIXTURE = {"stories": 0.3, "facts": 0.1, "questions": 0.1, "reviews": 0.15, "arithmetic": 0.1,
           "instructions": 0.15, "icl": 0.1}


def _document(kind: str, rng: random.Random, world: World) -> str:
    if kind == "stories":
        return _story(rng, world).text
    if kind == "facts":
        return _facts_document(rng, world)
    if kind == "questions":
        return _fact_question(rng, world).text
    if kind == "reviews":  # half of them end with a verdict, as reviews on the web often do
        review = _review(rng, rng.choice(REVIEW_LABELS), 0.3, 0.3)
        return f"{review.prompt} {review.label_word} ." if rng.random() < 0.5 else review.text
    if kind == "arithmetic":
        return _arithmetic(rng, rng.randint(2, 4), 9, ("+", "-"), True, False).text
    if kind == "instructions":
        return _instruction(rng, TASKS, "seen", (2, 5)).text
    assert kind == "icl", kind  # corpus() has checked the kinds
    return _icl_document(rng, tuple(ICL_TASKS), 16, 0.4).text


def corpus(n_tokens: int, seed: int, mixture: dict[str, float] | None = None,
           world: World | None = None) -> list[str]:
    """Pre-training documents totalling at least ``n_tokens`` tokens, mixed by token share.

    ``mixture`` maps kinds of :data:`MIXTURE` to weights (normalised); the next document is always
    of the kind furthest below its share, so the shares hold at any length. Documents are returned
    separately so the caller decides how to join them (an end-of-text token) or to keep each
    context one document (bursty ICL training).
    """
    checks.size("n_tokens", n_tokens, high=checks.MAX_SIZE)
    rng, world = random.Random(checks.integer("seed", seed)), _world(world)
    mixture = dict(MIXTURE if mixture is None else mixture)
    unknown = [k for k in mixture if k not in MIXTURE]
    bad = [k for k, w in mixture.items() if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0]
    if not mixture or unknown or bad or sum(mixture.values()) <= 0:
        raise ValueError(f"mixture must map some of {tuple(MIXTURE)} to non-negative weights with a "
                         f"positive sum, got {mixture!r}")
    counts, total, documents = dict.fromkeys(mixture, 0), 0, []
    while total < n_tokens:
        kind = _next_kind(mixture, counts, total)
        document = _document(kind, rng, world)
        documents.append(document)
        size = len(document.split())
        counts[kind] += size
        total += size
    return documents


def split_after(tokens: Sequence, ends) -> list[tuple]:
    """``tokens`` (words, or token ids) cut after every token in ``ends``: a toy-world text's
    sentences, each a tuple ending with its end token (a trailing part without one is kept too)."""
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise TypeError(f"tokens must be a list of words or token ids, got {type(tokens).__name__}")
    ends = set(ends)
    out, current = [], []
    for token in tokens:
        current.append(token)
        if token in ends:
            out.append(tuple(current))
            current = []
    if current:
        out.append(tuple(current))
    return out


def _next_kind(mixture: dict[str, float], counts: dict[str, int], total: int) -> str:
    # the kind furthest below its token share
    total_weight = sum(mixture.values())
    return max(mixture, key=lambda k: mixture[k] / total_weight * (total + 1) - counts[k])


def corpus_kinds(documents: Sequence[str], mixture: dict[str, float] | None = None) -> list[str]:
    """The kind of each document of a :func:`corpus` output, in order (``documents`` as it returned
    them, with the same ``mixture``): the kinds follow from the documents' lengths alone, since
    ``corpus`` always writes next the kind furthest below its share."""
    documents = checks.texts("documents", documents)
    mixture = dict(MIXTURE if mixture is None else mixture)
    if not mixture or any(k not in MIXTURE for k in mixture):
        raise ValueError(f"mixture must map some of {tuple(MIXTURE)} to weights, got {mixture!r}")
    counts, total, kinds = dict.fromkeys(mixture, 0), 0, []
    for document in documents:
        kinds.append(_next_kind(mixture, counts, total))
        size = len(document.split())
        counts[kinds[-1]] += size
        total += size
    return kinds


# ----------------------------------------------------------------------------------------------
# Vocabulary


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    texts = [*FEMALE_NAMES, *MALE_NAMES, *CITIES, *JOBS, *PETS, *COLOURS, *PLACES, *OBJECTS, *SIZES,
             *FEELINGS, *INSTRUCTION_WORDS, *(w.upper() for w in INSTRUCTION_WORDS), *PRODUCTS,
             *ASPECTS, *SENTIMENT, *LABEL_WORDS.values(), VERDICT, *DIGITS, *PUNCTUATION,
             "she he her him not but the answer is what", *_STATEMENT.values(), *_QUESTION.values(),
             "question : answer :", *_STORY_OPENINGS, *_STORY_MIDDLES, *_STORY_ENDINGS,
             *_REVIEW_OPENINGS, "user : assistant :",
             *(t for ts in INSTRUCTION_TEMPLATES.values() for t in ts), *POLITE_OPENERS, *RUDE_OPENERS,
             *FILLERS, *FILLER_SENTENCES, "the pass key is remember it", PASSKEY_QUESTION,
             *ICL_LABEL_POOL]
    tokens = {t for text in texts for t in text.split()}
    return tuple(sorted(t for t in tokens if not t.startswith("{")))


def vocabulary() -> list[str]:
    """Every token any toy-world text can contain, sorted: a one-token-per-word tokenizer's vocabulary."""
    return list(_vocabulary())


def tokenizer():
    """The toy world's one-token-per-word tokenizer (a ``WordTokenizer`` over ``vocabulary()``): the
    tokenizer of every bundled toy-world model."""
    return WordTokenizer(vocabulary())


def stream(tok, n_tokens: int, seed: int):
    """The toy-world mixture (``corpus(n_tokens, seed)``) as one tensor of ids, documents separated by
    ``<eos>``: the text the toy-world recipes pre-train on."""
    return documents_stream(tok, corpus(n_tokens, seed))

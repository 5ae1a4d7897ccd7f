"""Multi-format reasoning data for chapter 3.2: arithmetic in four formats and passage reading.

Every example starts with a format tag, so one model learns them all and a prompt picks one:

- ``<plain>``  answer only: ``<plain> what is 2 3 + 4 5 + 1 7 ? the answer is 8 5 .``
- ``<steps>``  worked steps (a scratchpad, book section 3.2.1):
  ``<steps> what is 2 3 + 4 5 + 1 7 ? 2 3 + 4 5 = 6 8 . 6 8 + 1 7 = 8 5 . the answer is 8 5 .``
- ``<rev>``    every number least-significant digit first, answer only:
  ``<rev> what is 3 2 + 5 4 + 7 1 ? the answer is 5 8 .``
- ``<calc>``   a calculator call (section 3.2.5): ``<calc> what is 3 7 * 4 8 ? << 3 7 * 4 8 >> 1 7 7 6 .
  the answer is 1 7 7 6 .``; the tokens after ``>>`` are the tool's result, which a caller may
  compute instead of letting the model guess them (``prompting.tools``).
- ``<read>``   reading a passage (retrieval-augmented answering, section 3.2.5):
  ``<read> passage : anna lives in paris . ben has a dog . question : where does anna live ? answer :
  paris .``, and ``answer : no answer .`` when the passage does not hold the fact.

Sums use operands in [10, 99] (every prompt of one size has the same length); products use two
operands in [10, 99]. Each reading example draws a fresh knowledge base (``toyworld.facts``), so
no fact can be memorised: a model can only answer by reading.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from lmnotes import checks
from lmnotes.data import toyworld

#: format tags: the arithmetic formats, then the calculator and the reading format
ARITHMETIC_FORMATS = ("plain", "steps", "rev")
FORMATS = (*ARITHMETIC_FORMATS, "calc", "read")
TAGS = {f: f"<{f}>" for f in FORMATS}
CALL_OPEN, CALL_CLOSE = "<<", ">>"
NO_ANSWER = "no answer"
LOW, HIGH = 10, 99  # the operands' range


@dataclass(frozen=True)
class Example:
    """``prompt`` (ends where the model's answer starts) and ``response``; ``answer`` is the
    number (arithmetic) or word / ``"no answer"`` (reading) the response ends with."""

    format: str
    prompt: str
    response: str
    answer: int | str
    operands: tuple[int, ...] = ()

    @property
    def text(self) -> str:
        return f"{self.prompt} {self.response}"


def digits(number: int, reverse: bool = False) -> str:
    """42 -> "4 2" (``reverse``: "2 4")."""
    if type(number) is not int or number < 0:  # (plain non-negative ints, the common case, need no check)
        number = checks.integer("number", number, 0)
    if type(reverse) is not bool:
        reverse = checks.boolean("reverse", reverse)
    text = str(number)
    return " ".join(reversed(text) if reverse else text)


def expression(operands, op: str = "+", reverse: bool = False) -> str:
    return f" {op} ".join(digits(v, reverse) for v in operands)


def render(operands, fmt: str) -> Example:
    """The sum of ``operands`` (or, for ``"calc"``, their product) written in format ``fmt``."""
    checks.choice("fmt", fmt, FORMATS[:4])
    operands = tuple(checks.integer("operands", v, 0) for v in operands)
    if len(operands) < 2:
        raise ValueError(f"operands must hold at least 2 numbers, got {operands!r}")
    reverse = fmt == "rev"
    if fmt == "calc":
        answer = 1
        for v in operands:
            answer *= v
        call = expression(operands, "*")
        return Example(fmt, f"{TAGS[fmt]} what is {call} ?",
                       f"{CALL_OPEN} {call} {CALL_CLOSE} {digits(answer)} . the answer is {digits(answer)} .",
                       answer, operands)
    total, steps = operands[0], []
    for v in operands[1:]:
        steps.append(f"{digits(total)} + {digits(v)} = {digits(total + v)} .")
        total += v
    final = f"the answer is {digits(total, reverse)} ."
    response = " ".join([*steps, final]) if fmt == "steps" else final
    return Example(fmt, f"{TAGS[fmt]} what is {expression(operands, '+', reverse)} ?", response, total, operands)


def held_out(operands) -> bool:
    """Whether a problem is reserved for evaluation: one in ten multisets of operands (by a hash
    of the sorted operands, so ``a + b`` and ``b + a`` fall on the same side) never occurs in
    training, in any format."""
    return zlib.crc32(" ".join(map(str, sorted(operands))).encode()) % 10 == 0


def reserved(operands) -> bool:
    """Whether a problem may not be trained on because its worked solution would show part of a
    held-out problem: some prefix of it (2 operands or more) is :func:`held_out`, or some step
    ``total + next`` adds a held-out pair."""
    total = operands[0]
    for i, v in enumerate(operands[1:], start=2):
        if held_out(operands[:i]) or held_out((total, v)):
            return True
        total += v
    return False


def problems(n: int, seed: int, n_operands: int) -> list[tuple[int, ...]]:
    """``n`` distinct held-out problems (:func:`held_out`) of ``n_operands`` numbers in [10, 99]."""
    checks.size("n", n, high=500 if n_operands == 2 else checks.MAX_EXAMPLES)
    checks.integer("n_operands", n_operands, 2, 12)
    rng = random.Random(checks.integer("seed", seed))
    out: dict[tuple[int, ...], None] = {}
    while len(out) < n:
        ops = tuple(rng.randint(LOW, HIGH) for _ in range(n_operands))
        if held_out(ops):
            out[ops] = None
    return list(out)


def reading(world: toyworld.World, question: toyworld.FactQuestion, passage: list[str]) -> Example:
    """A ``<read>`` example: ``passage`` (statements) then ``question``; the answer is the fact's
    value when its statement is in the passage and ``"no answer"`` otherwise."""
    answer = question.answer if question.evidence in passage else NO_ANSWER
    body = " ".join(["passage :", *passage, question.prompt])
    return Example("read", f"{TAGS['read']} {body}", f"{answer} .", answer)


def reading_examples(n: int, seed: int, p_relevant: float = 0.7, max_statements: int = 3) -> list[Example]:
    """``n`` reading examples, each about a fresh knowledge base ``toyworld.facts(...)``: a passage of
    0..``max_statements`` statements that holds the question's evidence with probability
    ``p_relevant`` (the others are facts about anyone, the same person included)."""
    checks.size("n", n, high=checks.MAX_EXAMPLES)
    p_relevant = checks.probability("p_relevant", p_relevant)
    checks.integer("max_statements", max_statements, 1, 8)
    rng = random.Random(checks.integer("seed", seed))
    out = []
    for _ in range(n):
        world = toyworld.facts(rng.randrange(10**9), n_people=8)
        question = toyworld.fact_questions(1, rng.randrange(10**9), world)[0]
        others = [f.text for f in world.facts if f.text != question.evidence]
        size = rng.randint(0, max_statements)
        passage = rng.sample(others, size)
        if size and rng.random() < p_relevant:
            passage[rng.randrange(size)] = question.evidence
        out.append(reading(world, question, passage))
    return out


#: share of training examples per format (plain, steps and rev get the same number of examples)
MIXTURE = {"plain": 0.22, "steps": 0.22, "rev": 0.22, "calc": 0.1, "read": 0.24}
#: operand counts of the training sums and their shares: 5 operands are rare (the hardest setting)
TRAIN_OPERANDS = {2: 0.3, 3: 0.3, 4: 0.3, 5: 0.1}


def training_examples(n: int, seed: int) -> list[Example]:
    """The training pool: ``n`` examples mixed by :data:`MIXTURE`, sums of 2-5 operands, products of
    2 (never a :func:`reserved` one), in a seeded shuffled order."""
    checks.size("n", n, high=10**7)
    rng = random.Random(checks.integer("seed", seed))
    out: list[Example] = []
    counts = {f: round(n * w) for f, w in MIXTURE.items()}
    for fmt in ARITHMETIC_FORMATS + ("calc",):
        for _ in range(counts[fmt]):
            k = 2 if fmt == "calc" else rng.choices(list(TRAIN_OPERANDS), list(TRAIN_OPERANDS.values()))[0]
            ops = tuple(rng.randint(LOW, HIGH) for _ in range(k))
            while reserved(ops):
                ops = tuple(rng.randint(LOW, HIGH) for _ in range(k))
            out.append(render(ops, fmt))
    out += reading_examples(counts["read"], rng.randrange(10**9))
    rng.shuffle(out)
    return out


def vocabulary() -> list[str]:
    """The toy world's words plus the format tags, the call brackets, ``*`` and ``no``."""
    extra = [*TAGS.values(), CALL_OPEN, CALL_CLOSE, "*", "no", "passage"]
    base = toyworld.vocabulary()
    return base + [w for w in extra if w not in base]


def answer_of(example_format: str, response: str) -> int | str | None:
    """The answer a generated ``response`` gives (None when it gives none): the number after the
    last "the answer is" for arithmetic, the words before the first "." for reading."""
    checks.choice("example_format", example_format, FORMATS)
    if example_format == "read":
        words = response.split(".")[0].split()
        return " ".join(words) if words else None
    return toyworld.extract_answer(response, reverse_digits=example_format == "rev")

"""Tool use (book section 3.2.5): calls the model writes, executed in the middle of generation.

A model trained on the ``<calc>`` format writes a call ``<< 3 7 * 4 8 >>`` and then the result.
:func:`generate_with_tools` stops generation at every ``>>``, runs the tool on the words between the
brackets, writes the tool's result into the text in the model's place, and lets the model go on
(it then copies the result into its answer). Without the tool the model has to guess the result
itself, which a tiny model almost never gets right for a product of two 2-digit numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lmnotes import checks
from lmnotes.prompting.reasoning import complete

CALL_OPEN, CALL_CLOSE = "<<", ">>"
_OPERATORS = ("+", "-", "*")


def calculator(call: str) -> str:
    """Evaluate a spaced-digits expression such as ``"3 7 * 4 8 + 5"`` (``*`` before ``+``/``-``)
    and write the result the same way (``"1 7 8 1"``). A malformed expression is a ValueError."""
    words = checks.text("call", call).split()
    numbers, ops, digits = [], [], []
    for w in words + ["+"]:
        if w.isdigit() and len(w) == 1:
            digits.append(w)
        elif w in _OPERATORS and digits:
            numbers.append(int("".join(digits)))
            ops.append(w)
            digits = []
        else:
            raise ValueError(f"call must be single digits joined by + - *, got {call!r}")
    terms, signs = [numbers[0]], []
    for op, value in zip(ops, numbers[1:]):
        if op == "*":
            terms[-1] *= value
        else:
            terms.append(value)
            signs.append(op)
    total = terms[0]
    for sign, value in zip(signs, terms[1:]):
        total = total + value if sign == "+" else total - value
    return " ".join(str(total)) if total >= 0 else "- " + " ".join(str(-total))


#: the tools a call may name
TOOLS: dict[str, Callable[[str], str]] = {"calculator": calculator}


def execute(tool: str, call: str) -> str:
    """Run tool ``tool`` (a name in :data:`TOOLS`) on the words of one call."""
    checks.choice("tool", tool, sorted(TOOLS))
    return TOOLS[tool](call)


def generate_with_tools(model, tokenizer, prompts: Sequence[str], tool: str = "calculator", max_calls: int = 2,
                        max_new_tokens: int = 48) -> list[str]:
    """Greedy completions of ``prompts`` in which every call ``<< ... >>`` the model writes is
    executed by ``tool`` and its result written in right after ``>>``; returns the whole completion
    (the tool's results included). A call the tool cannot read is left to the model to continue."""
    prompts = checks.texts("prompts", prompts)
    checks.choice("tool", tool, sorted(TOOLS))
    max_calls = checks.size("max_calls", max_calls, low=0, high=100)
    done = [""] * len(prompts)
    active = list(range(len(prompts)))
    for _ in range(max_calls + 1):
        if not active:
            break
        texts = [f"{prompts[i]} {done[i]}".strip() for i in active]
        parts = complete(model, tokenizer, texts, max_new_tokens, stop=("<eos>", CALL_CLOSE))
        still = []
        for i, part in zip(active, parts):
            done[i] = f"{done[i]} {part}".strip()
            opened = part.rfind(CALL_OPEN)
            if not part.endswith(CALL_CLOSE) or opened < 0:
                continue  # the model ended its answer (or ran out of tokens) without a call
            try:
                result = execute(tool, part[opened + len(CALL_OPEN):-len(CALL_CLOSE)])
            except ValueError:
                result = ""
            done[i] = f"{done[i]} {result}".strip()
            still.append(i)
        active = still
    return done

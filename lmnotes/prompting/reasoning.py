"""Reasoning with a prompted model (book section 3.2): completions, chain of thought, voting,
least-to-most decomposition and verifier-guided resampling.

Everything samples through :func:`lmnotes.generation.generate` (greedy, or sampling with a seeded
generator). Prompts are texts of whole words; a completion is the text the model writes after its
prompt, up to its ``<eos>`` token. The functions work with any tokenizer that has ``encode``,
``decode`` and a ``vocab`` mapping (lmnotes' word tokenizers and the ``transformers`` tokenizers of
the bundled models).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import torch

from lmnotes import checks
from lmnotes.generation import generate


def token_id(tokenizer, token: str, name: str = "token") -> int:
    """The id of ``token`` in ``tokenizer``'s vocabulary (a ValueError naming ``name`` if it has none)."""
    vocab = getattr(tokenizer, "vocab", None)
    if vocab is None or token not in vocab:
        raise ValueError(f"{name}: the tokenizer has no token {token!r}")
    return vocab[token]


def left_padded(tokenizer, prompts: Sequence[str], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, T) of ``prompts``, left-padded with ``pad_id``, and their attention mask."""
    rows = [tokenizer.encode(p) for p in checks.texts("prompts", prompts)]
    pad_id = checks.integer("pad_id", pad_id, low=0)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def complete(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 64, *, do_sample: bool = False,
             temperature: float = 1.0, generator: torch.Generator | None = None,
             stop: Sequence[str] = ("<eos>",), batch_size: int = 512) -> list[str]:
    """The model's completion of each prompt (greedy, or sampled at ``temperature`` from
    ``generator``), cut after the first of the ``stop`` tokens; a final ``<eos>`` is dropped."""
    prompts = checks.texts("prompts", prompts)
    batch_size = checks.size("batch_size", batch_size)
    stops = [token_id(tokenizer, t, "stop") for t in checks.texts("stop", stop)]
    eos = tokenizer.vocab.get("<eos>")
    pad = tokenizer.vocab.get("<pad>", 0)
    sampling = dict(do_sample=True, temperature=temperature, generator=generator) if do_sample else {}
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        ids, mask = left_padded(tokenizer, prompts[start:start + batch_size], pad)
        seq = generate(model, ids, max_new_tokens, attention_mask=mask, stop=stops, pad_token_id=pad, **sampling)
        for row in seq[:, ids.shape[1]:].tolist():
            ends = [i for i, t in enumerate(row) if t in stops]
            row = row[:ends[0] + 1] if ends else row
            if row and row[-1] == eos:
                row = row[:-1]
            out.append(tokenizer.decode(row).strip())
    return out


# --------------------------------------------------------------------------------------------
# Ensembling and self-consistency (section 3.2.4)


def majority_vote(answers: Sequence):
    """The most frequent answer among ``answers`` (Eq. 3.9's minimum-Bayes-risk choice when the risk
    R(y, y_r) is 0 for the same answer and 1 otherwise), ignoring None (a sample that gave no answer);
    ties go to the answer seen first. None if no sample answered."""
    answers = list(answers) if not isinstance(answers, (str, bytes)) else None
    if not answers:
        raise ValueError(f"answers must be a non-empty list of candidate answers, got {answers!r}")
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def sample_answers(model, tokenizer, prompts: Sequence[str], k: int, parse: Callable[[str], object], *,
                   temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64) -> list[list]:
    """``k`` sampled completions of every prompt (temperature ``temperature``, one seeded
    generator), each turned into an answer by ``parse``: a list of ``k`` answers per prompt."""
    prompts = checks.texts("prompts", prompts)
    k = checks.size("k", k, high=1000)
    if not callable(parse):
        raise TypeError(f"parse must be a function completion -> answer, got {type(parse).__name__}")
    generator = torch.Generator().manual_seed(checks.integer("seed", seed))
    texts = complete(model, tokenizer, [p for p in prompts for _ in range(k)], max_new_tokens, do_sample=True,
                     temperature=checks.positive("temperature", temperature), generator=generator)
    answers = [parse(t) for t in texts]
    return [answers[i * k:(i + 1) * k] for i in range(len(prompts))]


def vote_accuracy(samples: Sequence[Sequence], truths: Sequence, k: int) -> float:
    """Accuracy of the majority vote over the first ``k`` samples of each problem (self-consistency,
    Wang et al. 2022)."""
    k = checks.size("k", k)
    if not samples or len(samples) != len(truths):
        raise ValueError(f"samples and truths must be non-empty and of equal length, got {len(samples)} "
                         f"and {len(truths)}")
    if any(len(s) < k for s in samples):
        raise ValueError(f"k={k} is more than the {min(len(s) for s in samples)} samples drawn per problem")
    return sum(majority_vote(s[:k]) == t for s, t in zip(samples, truths)) / len(truths)


def ensemble(answer_lists: Sequence[Sequence]) -> list:
    """Prompt ensembling: per problem, the majority vote over the answers that several prompts (one
    list per prompt, aligned by problem) gave; ties go to the earlier prompt."""
    if not answer_lists or not all(len(a) == len(answer_lists[0]) for a in answer_lists) or not answer_lists[0]:
        raise ValueError("answer_lists must be a non-empty list of equally long, non-empty answer lists")
    return [majority_vote(column) for column in zip(*answer_lists)]


# --------------------------------------------------------------------------------------------
# Problem decomposition (section 3.2.2, least-to-most prompting)


def chunks(operands: Sequence[int], size: int) -> list[tuple[int, ...]]:
    """Least-to-most's sub-problems of a long sum (Eq. 3.2's G): consecutive groups of ``size``
    operands, each a sum of its own (a single operand left at the end joins the group before it)."""
    size = checks.size("size", size, low=2)
    operands = tuple(operands)
    if len(operands) < 2:
        raise ValueError(f"operands must hold at least 2 numbers, got {operands!r}")
    out = [operands[i:i + size] for i in range(0, len(operands), size)]
    if len(out) > 1 and len(out[-1]) == 1:
        out[-2:] = [out[-2] + out[-1]]
    return out


def least_to_most(solve: Callable[[list[tuple]], list], final: Callable[[list[tuple]], list],
                  problems: Sequence[Sequence[int]], size: int) -> tuple[list, list[list]]:
    """Answer every long sum ``p0`` by least-to-most (Eq. 3.2-3.4): its sub-problems ``p1..pn`` are
    :func:`chunks` (Eq. 3.2); each ``a_i = S_i(p_i, {p0, p_<i, a_<i})`` (Eq. 3.3) and then
    ``a0 = S_0(p0, {p_<=n, a_<=n})`` (Eq. 3.4).

    ``solve`` takes a list of ``(p_i, p0, history)`` and ``final`` a list of ``(p0, history)``, where
    ``history`` is the list of earlier ``(p_j, a_j)`` pairs; each returns one answer per item (one
    batch per round). Returns the final answers and each problem's list of sub-answers. A sub-answer
    None (no answer) still goes on to the next round, as the model gave it."""
    if not callable(solve) or not callable(final):
        raise TypeError("solve and final must be functions from a list of sub-problems to a list of answers")
    if not problems:
        raise ValueError("problems must hold at least one problem")
    problems = [tuple(p) for p in problems]
    parts = [chunks(p, size) for p in problems]
    history: list[list[tuple]] = [[] for _ in problems]
    for r in range(max(len(p) for p in parts)):
        todo = [i for i, p in enumerate(parts) if r < len(p)]
        answers = solve([(parts[i][r], problems[i], list(history[i])) for i in todo])
        if len(answers) != len(todo):
            raise ValueError(f"solve must return one answer per sub-problem, got {len(answers)} for {len(todo)}")
        for i, a in zip(todo, answers):
            history[i].append((parts[i][r], a))
    finals = list(final([(p, list(h)) for p, h in zip(problems, history)]))
    if len(finals) != len(problems):
        raise ValueError(f"final must return one answer per problem, got {len(finals)} for {len(problems)}")
    return finals, [[a for _, a in h] for h in history]


# --------------------------------------------------------------------------------------------
# Verifier-guided resampling (a step-level search with a verifier, section 5.3.4.2; the model never
# reads the feedback, so it is not section 3.2.3's self-refinement)


def first_wrong_step(operands: Sequence[int], response: str) -> int | None:
    """The perfect verifier of a worked sum: the index of the first line of ``response`` ("a + b =
    c ." lines, then "the answer is ...") that is wrong, or None if every line is right. A missing
    line counts as wrong at its index."""
    operands = [checks.integer("operands", v, 0) for v in operands]
    lines = [s.split() for s in checks.text("response", response, allow_empty=True).split(" .")]
    lines = [ln for ln in lines if ln]
    total = operands[0]
    for i, v in enumerate(operands[1:]):
        want = f"{' '.join(str(total))} + {' '.join(str(v))} = {' '.join(str(total + v))}".split()
        if i >= len(lines) or lines[i] != want:
            return i
        total += v
    final = len(operands) - 1
    if final >= len(lines) or lines[final] != ["the", "answer", "is", *str(total)]:
        return final
    return None


def verifier_resampling(model, tokenizer, prompts: Sequence[str], operands: Sequence[Sequence[int]], rounds: int,
                        *, noise: float = 0.0, temperature: float = 1.0, seed: int = 0,
                        max_new_tokens: int = 96) -> dict:
    """Verifier-guided resampling of worked sums over ``rounds`` rounds: a step-level search with a
    verifier (section 5.3.4.2) that backtracks to the first wrong step. The model is never shown the
    verifier's verdict; it only continues from the kept lines.

    Round 0 is the greedy solution. In each next round the verifier (``first_wrong_step``) reads
    every solution not yet accepted; with probability ``noise`` its verdict is flipped (a wrong
    solution accepted, or a right one sent back with a random line marked). A solution sent back
    keeps its lines before the marked one and the model samples the rest anew. Returns
    ``{"accuracy": [after round 0, 1, ...], "responses": final responses, "sent_back": per round}``.
    """
    prompts = checks.texts("prompts", prompts)
    if len(operands) != len(prompts):
        raise ValueError(f"operands must give one problem per prompt, got {len(operands)} for {len(prompts)}")
    rounds = checks.size("rounds", rounds, low=0, high=20)
    noise = checks.probability("noise", noise)
    rng = torch.Generator().manual_seed(checks.integer("seed", seed))
    responses = complete(model, tokenizer, prompts, max_new_tokens)
    accepted = [False] * len(prompts)

    def accuracy():
        return sum(first_wrong_step(o, r) is None for o, r in zip(operands, responses)) / len(prompts)

    history, sent_back = [accuracy()], []
    for _ in range(rounds):
        redo = {}
        for i, (o, r) in enumerate(zip(operands, responses)):
            if accepted[i]:
                continue
            wrong = first_wrong_step(o, r)
            if torch.rand(1, generator=rng).item() < noise:  # the verifier errs on this solution
                wrong = None if wrong is not None else int(torch.randint(len(o), (1,), generator=rng))
            if wrong is None:
                accepted[i] = True
            else:
                redo[i] = " . ".join(r.split(" . ")[:wrong]) + (" ." if wrong else "")
        sent_back.append(len(redo))
        if redo:
            idx = list(redo)
            again = complete(model, tokenizer, [f"{prompts[i]} {redo[i]}".strip() for i in idx], max_new_tokens,
                             do_sample=True, temperature=temperature, generator=rng)
            for i, a in zip(idx, again):
                responses[i] = f"{redo[i]} {a}".strip()
        history.append(accuracy())
    return {"accuracy": history, "responses": responses, "sent_back": sent_back}

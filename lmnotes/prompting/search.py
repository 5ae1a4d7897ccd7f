"""Prompt optimisation as a discrete search (book section 3.3.1), in the style of APE (Zhou et al. 2023).

A prompt is chosen, not learned by gradients: propose candidate prompts, score each on a small
development set with the frozen model, keep the best, propose variations of them, and repeat.
The objective is the expected task score of a prompt over the data, estimated on the dev set;
the best-scoring prompt is then evaluated once on a held-out test set, and the difference between
its dev and test scores shows how much choosing the maximum of many noisy estimates flatters it.

* ``random_phrases``: initial candidates, short word sequences drawn from a vocabulary;
* ``mutate``: a neighbour of a candidate (one word replaced, inserted or deleted), as APE's
  iterative Monte Carlo search resamples around its best candidates;
* ``prompt_search``: the loop, with the best score of every round recorded.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from lmnotes import checks


def _vocabulary(vocabulary) -> list[str]:
    words = checks.texts("vocabulary", vocabulary)
    if any(not w or " " in w for w in words):
        raise ValueError("vocabulary must hold single words (no spaces, none empty)")
    return list(dict.fromkeys(words))


def random_phrases(vocabulary: Sequence[str], n: int, seed: int = 0, max_words: int = 4) -> list[str]:
    """``n`` distinct phrases of 1..``max_words`` words drawn uniformly from ``vocabulary``."""
    words = _vocabulary(vocabulary)
    n = checks.size("n", n, high=10_000)
    max_words = checks.integer("max_words", max_words, low=1, high=20)
    possible = sum(len(words) ** k for k in range(1, max_words + 1))
    if n > possible:
        raise ValueError(f"n={n} distinct phrases asked for, but only {possible} exist")
    rng, out = random.Random(checks.integer("seed", seed)), []
    while len(out) < n:
        phrase = " ".join(rng.choice(words) for _ in range(rng.randint(1, max_words)))
        if phrase not in out:
            out.append(phrase)
    return out


def mutate(phrase: str, vocabulary: Sequence[str], rng: random.Random, max_words: int = 6) -> str:
    """One random edit of ``phrase``: replace, insert or delete one word (never empty, at most
    ``max_words`` words)."""
    words, vocab = checks.text("phrase", phrase).split(), _vocabulary(vocabulary)
    ops = ["replace"] + (["insert"] if len(words) < max_words else []) + (["delete"] if len(words) > 1 else [])
    op, i = rng.choice(ops), rng.randrange(len(words))
    if op == "replace":
        words[i] = rng.choice(vocab)
    elif op == "insert":
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    else:
        del words[i]
    return " ".join(words)


def prompt_search(score: Callable[[str], float], candidates: Sequence[str], *, rounds: int = 4, keep: int = 4,
                  proposals: int = 8, vocabulary: Sequence[str] | None = None, seed: int = 0,
                  max_words: int = 6) -> dict:
    """APE-style search: score ``candidates``, then for ``rounds - 1`` rounds propose ``proposals``
    new candidates by mutating the ``keep`` best so far, and score those.

    ``score(prompt) -> float`` is the dev-set score (higher is better). Returns ``{"best",
    "best_score", "scores"`` (every candidate scored, in order), ``"rounds"`` (per round: the best
    candidate and score so far, and the scores of that round's candidates)``}``.
    """
    if not callable(score):
        raise TypeError(f"score must be a function prompt -> number, got {type(score).__name__}")
    candidates = checks.texts("candidates", candidates)
    if not candidates:  # checks.texts refuses an empty list; kept explicit for the reader
        raise ValueError("candidates must hold at least one prompt")
    rounds = checks.integer("rounds", rounds, low=1, high=1000)
    keep = checks.integer("keep", keep, low=1)
    proposals = checks.integer("proposals", proposals, low=1, high=10_000)
    if rounds > 1 and vocabulary is None:
        raise ValueError("vocabulary is needed to propose new candidates after the first round")
    rng = random.Random(checks.integer("seed", seed))
    scores: dict[str, float] = {}
    history = []
    batch = list(dict.fromkeys(candidates))
    for r in range(rounds):
        round_scores = {}
        for prompt in batch:
            value = checks.real(f"score({prompt!r})", score(prompt))
            scores[prompt] = round_scores[prompt] = value
        best = max(scores, key=scores.get)
        history.append({"round": r, "best": best, "best_score": scores[best], "scores": round_scores})
        if r == rounds - 1:
            break
        parents = sorted(scores, key=scores.get, reverse=True)[:keep]
        batch, attempts = [], 0
        while len(batch) < proposals and attempts < 100 * proposals:
            attempts += 1
            child = mutate(rng.choice(parents), vocabulary, rng, max_words)
            if child not in scores and child not in batch:
                batch.append(child)
        if not batch:
            break
    best = max(scores, key=scores.get)
    return {"best": best, "best_score": scores[best], "scores": scores, "rounds": history}

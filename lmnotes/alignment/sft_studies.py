"""Notebook 11's experiments on instruction data (book sections 4.2.2-4.2.5), on the toy world.

Every run fine-tunes with :func:`lmnotes.alignment.sft.sft` (the one training loop) and is scored on
instructions that no model read (:func:`~lmnotes.alignment.sft.held_out_instructions`). The task
that SFT has to teach is the **fourth paraphrase** of each instruction (``templates="held_out"``):
``toyworld-gpt`` read thousands of instructions in the first three phrasings in pre-training but
never the fourth, so SFT has to map a new phrasing onto a skill the model already has (the
"superficial alignment" view of section 4.2.3), while a model from scratch must learn the skill too.

- ``noisy``: responses replaced by wrong answers (quality vs quantity, section 4.2.3).
- ``run``: one SFT run from the pre-trained model or from scratch, scored (accuracy, gold reward,
  optionally the pre-training loss, to measure forgetting).
- ``weak_to_strong``: a small model trained from scratch labels prompts for the pre-trained model
  (section 4.2.5); ``performance_gap_recovered`` is Eq. 4.11's PGR; ``cascade`` routes the weak
  model's least confident answers to the strong one.
- ``self_instruct``: a seed pool grown by sampling new instructions from the model and keeping the
  novel, well-formed ones (section 4.2.2).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from lmnotes import checkpoints, checks
from lmnotes.alignment import sft
from lmnotes.data import toyworld
from lmnotes.generation import distinct_n, generate
from lmnotes.models import GPT, GPTConfig
from lmnotes.training import stream_eval

BASE = "toyworld-gpt"
INITS = ("pretrained", "scratch")


def noisy(records: Sequence, share: float, seed: int) -> list:
    """A copy of instruction ``records`` in which a ``share`` of the responses (chosen by ``seed``)
    is a wrong answer: a word dropped or the order shuffled, a wrong count, a wrong word."""
    share = checks.probability("share", share)
    rng = random.Random(checks.integer("seed", seed))
    out = []
    for r in records:
        if rng.random() < share:
            wrong = toyworld._wrong_answer(rng, r.task, r.words, r.answer)
            r = replace(r, response=" ".join(wrong) + " .", answer=tuple(wrong))
        out.append(r)
    return out


def base_model(init: str, seed: int = 0) -> nn.Module:
    """``toyworld-gpt`` as bundled (``init="pretrained"``) or its architecture freshly initialised
    with ``seed`` (``"scratch"``)."""
    init = checks.choice("init", init, INITS)
    bundle = checkpoints.load(BASE)
    if init == "pretrained":
        return bundle.model.train()
    torch.manual_seed(checks.integer("seed", seed))
    return GPT(bundle.model.config)


def small_model(seed: int = 0, vocab_size: int = 350) -> nn.Module:
    """The weak model of weak-to-strong: a 2-layer, width-64 GPT (0.1 M parameters) from scratch."""
    torch.manual_seed(checks.integer("seed", seed))
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=64, pos="rope",
                         norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False))


def run(init: str | nn.Module, train_records: Sequence, eval_sets: dict, tokenizer, *, steps: int, lr: float,
        batch_size: int = 16, seed: int = 0, pretraining_ids: torch.Tensor | None = None) -> dict:
    """Fine-tune (``init``: "pretrained", "scratch" or a model) on ``train_records`` and score it on
    each of ``eval_sets`` (name -> records): ``{name: {"accuracy", "gold_reward"}}``, plus
    ``pretraining_loss`` (before and after) on the token stream ``pretraining_ids`` when given."""
    model = base_model(init, seed) if isinstance(init, str) else init
    out: dict = {}
    if pretraining_ids is not None:
        out["pretraining_loss_before"] = round(stream_eval(model, pretraining_ids, 128, max_blocks=None), 4)
    sft.sft(model, train_records, tokenizer, steps=steps, lr=lr, batch_size=batch_size, seed=seed, progress=False)
    model.eval()
    for name, records in eval_sets.items():
        scores = sft.instruction_scores(model, records, tokenizer)
        out[name] = {"accuracy": round(scores["accuracy"], 4), "gold_reward": round(scores["gold_reward"], 4)}
    if pretraining_ids is not None:
        out["pretraining_loss_after"] = round(stream_eval(model, pretraining_ids, 128, max_blocks=None), 4)
    out["model"] = model
    return out


def performance_gap_recovered(weak: float, weak_to_strong: float, ceiling: float) -> float:
    """Eq. 4.11 (Burns et al. 2023): (P_weak->strong - P_weak) / (P_ceiling - P_weak). 1 = the strong
    model trained on weak labels is as good as trained on true labels; 0 = no better than its teacher."""
    weak, w2s, ceiling = (checks.real(n, v) for n, v in
                          (("weak", weak), ("weak_to_strong", weak_to_strong), ("ceiling", ceiling)))
    if ceiling <= weak:
        raise ValueError(f"ceiling ({ceiling}) must exceed weak ({weak}): there is no gap to recover")
    return (w2s - weak) / (ceiling - weak)


@torch.no_grad()
def answer_confidence(model: nn.Module, records: Sequence, answers: Sequence[str], tokenizer) -> list[float]:
    """The mean log-probability per token that ``model`` gives each answer after its prompt."""
    model.eval()
    out = []
    for record, answer in zip(records, answers, strict=True):
        prompt = tokenizer.encode(record.prompt)
        ids = torch.tensor([prompt + tokenizer.encode(answer)]) if answer else torch.tensor([prompt])
        if ids.shape[1] == len(prompt):
            out.append(float("-inf"))
            continue
        logp = model(ids[:, :-1]).float().log_softmax(-1)
        out.append(logp.gather(-1, ids[:, 1:, None])[0, len(prompt) - 1:, 0].mean().item())
    return out


def cascade(weak_right: Sequence[bool], strong_right: Sequence[bool], weak_confidence: Sequence[float],
            shares: Sequence[float]) -> list[float]:
    """Accuracy of a cascade that answers with the weak model and sends the least confident ``share``
    of the prompts to the strong model, for each share in ``shares``."""
    n = len(weak_right)
    if n == 0 or len(strong_right) != n or len(weak_confidence) != n:
        raise ValueError(f"weak_right, strong_right and weak_confidence must have one equal, non-zero length; "
                         f"got {len(weak_right)}, {len(strong_right)}, {len(weak_confidence)}")
    order = sorted(range(n), key=lambda i: weak_confidence[i])  # least confident first
    out = []
    for share in shares:
        k = round(checks.probability("share", share) * n)
        sent = set(order[:k])
        out.append(sum(strong_right[i] if i in sent else weak_right[i] for i in range(n)) / n)
    return out


def _bigrams(text: str) -> set:
    words = text.split()
    return set(zip(words, words[1:]))


def self_instruct(model: nn.Module, tokenizer, seeds: Sequence, *, rounds: int = 4, per_round: int = 32,
                  demonstrations: int = 3, max_similarity: float = 0.7, temperature: float = 1.0,
                  seed: int = 0) -> dict:
    """Grow a pool of instructions from ``seeds`` (records with ``.prompt``): each round samples
    ``per_round`` new instructions from ``model``, prompted with ``demonstrations`` instructions of
    the pool (the self-instruct recipe of section 4.2.2), and keeps those that are well formed
    (``toyworld.parse_instruction`` reads them) and novel (word-bigram Jaccard similarity to every
    pool member at most ``max_similarity``). Each kept instruction gets the model's greedy response.

    Returns per round: ``pool`` size, ``kept``, ``malformed`` and ``similar`` counts,
    ``rejection_rate``, the pool's ``distinct_2`` and the share of kept responses that are right
    (``right_share``, by ``toyworld.solve_instruction``), and the final ``instructions``."""
    rounds, per_round = checks.size("rounds", rounds, high=100), checks.size("per_round", per_round, high=10_000)
    demonstrations = checks.size("demonstrations", demonstrations, high=8)
    max_similarity = checks.probability("max_similarity", max_similarity)
    pool = [s.prompt for s in seeds]
    if not pool:
        raise ValueError("seeds must hold at least one instruction record")
    rng, gen = random.Random(seed), torch.Generator().manual_seed(checks.integer("seed", seed))
    eos = tokenizer.encode("<eos>")[0]
    history = []
    for _ in range(rounds):
        contexts = []
        for _ in range(per_round):
            demos = rng.sample(pool, min(demonstrations, len(pool)))
            contexts.append(tokenizer.encode(" <eos> ".join(demos) + " <eos> user :"))
        width = max(len(c) for c in contexts)
        idx = torch.zeros(per_round, width, dtype=torch.long)
        mask = torch.zeros(per_round, width, dtype=torch.long)
        for row, c in enumerate(contexts):
            idx[row, :len(c)], mask[row, :len(c)] = torch.tensor(c), 1
        out = generate(model, idx, 24, do_sample=True, temperature=temperature, generator=gen,
                       attention_mask=mask, stop=[eos])[:, width:]
        kept = malformed = similar = 0
        new_prompts = []
        for row in out.tolist():
            text = tokenizer.decode(row).split(" <eos>")[0].split()
            # an instruction ends at "assistant :"; anything after it is the model's own answer
            if "assistant" in text:
                text = text[:text.index("assistant") + 2]
            prompt = "user : " + " ".join(text)
            try:
                toyworld.parse_instruction(prompt)
            except ValueError:
                malformed += 1
                continue
            grams = _bigrams(prompt)
            if any(len(grams & _bigrams(p)) / max(1, len(grams | _bigrams(p))) > max_similarity
                   for p in pool + new_prompts):
                similar += 1
                continue
            new_prompts.append(prompt)
            kept += 1
        pool += new_prompts
        right = 0
        if new_prompts:
            answers = sft.respond(model, new_prompts, tokenizer)
            for prompt, answer in zip(new_prompts, answers):
                task, words = toyworld.parse_instruction(prompt)
                right += answer.split() == list(toyworld.solve_instruction(task, words)) + ["."]
        history.append({"pool": len(pool), "kept": kept, "malformed": malformed, "similar": similar,
                        "rejection_rate": round((malformed + similar) / per_round, 4),
                        "distinct_2": round(distinct_n([p.split() for p in pool], 2), 4),
                        "right_share": round(right / kept, 4) if kept else None})
    return {"rounds": history, "instructions": pool}

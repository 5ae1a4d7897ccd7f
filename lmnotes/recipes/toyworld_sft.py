"""``toyworld-sft``: ``toyworld-gpt`` after supervised fine-tuning on toy-world instructions, the
start and reference policy of RLHF and DPO (notebooks 11-13).
"""

from __future__ import annotations

from lmnotes import checkpoints
from lmnotes.alignment import sft
from lmnotes.data import toyworld
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.training import stream_eval

#: seeds of toyworld-sft's evaluation instructions (filtered against everything the model read)
SFT_EVAL_SEEDS = {"seen": 4_000_001, "held_out": 4_000_002}


@recipe("toyworld-sft", "toyworld-gpt after SFT on toy-world instructions (response-only loss, all four "
                        "paraphrases): the policy and reference model of RLHF and DPO")
def toyworld_sft(smoke: bool = False) -> Result:
    tok = toyworld.tokenizer()
    hp = dict(base="toyworld-gpt", n_train=4000, templates="all", seed=4242, steps=600, batch_size=32, lr=1e-3,
              warmup=30, weight_decay=0.0, response_only=True, n_eval=500)
    if smoke:
        hp.update(n_train=64, steps=3, warmup=1, n_eval=8)
    model = checkpoints.load(hp["base"]).model.train()
    records = toyworld.instructions(hp["n_train"], seed=hp["seed"], templates=hp["templates"])
    prompts = [r.prompt for r in records]
    evals = {name: sft.held_out_instructions(hp["n_eval"], seed, exclude=prompts, templates=name)
             for name, seed in SFT_EVAL_SEEDS.items()}
    val_ids = toyworld.stream(tok, 20_000 if not smoke else 2000, seed=checkpoints.info(hp["base"])["hparams"]["seed"] + 1)

    def measure(m, when: str) -> dict:
        out = {f"{when}_pretraining_val_loss": round(stream_eval(m, val_ids, 128, max_blocks=4 if smoke else None), 4)}
        for name, records_ in evals.items():
            scores = sft.instruction_scores(m, records_, tok)
            out[f"{when}_accuracy_{name}_templates"] = round(scores["accuracy"], 4)
            out[f"{when}_gold_reward_{name}_templates"] = round(scores["gold_reward"], 4)
        return out

    figures = measure(model, "before")
    seed_everything(hp["seed"])
    history = sft.sft(model, records, tok, steps=hp["steps"], lr=hp["lr"], batch_size=hp["batch_size"],
                      warmup=hp["warmup"], weight_decay=hp["weight_decay"], response_only=hp["response_only"],
                      seed=hp["seed"], progress=not smoke)
    model.eval()
    figures.update(measure(model, "after"), steps=history.step, n_eval={k: len(v) for k, v in evals.items()},
                   train_minutes=round(history.train_seconds[-1] / 60, 2))
    return Result(model, tok, history, figures, hp)

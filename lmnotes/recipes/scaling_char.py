"""``scaling-char`` (results only): a family of 7 character-level GPTs trained on the same tokens,
the points of notebook 06's scaling law.
"""

from __future__ import annotations

from lmnotes.data import shakespeare_char_ids
from lmnotes.generative.scaling import FAMILY, scaling_run
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History


@recipe("scaling-char", "a family of 7 character-level GPTs (5 k-810 k non-embedding parameters) on the same "
                        "Shakespeare tokens, plus a data sweep; stores loss curves, not weights", results=True)
def scaling_char(smoke: bool = False) -> Result:
    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = dict(block_size=64, batch_size=16, steps=2000, lr=3e-3, warmup=100, min_lr=3e-4, weight_decay=0.1,
              autocast="bf16", seed=1337, evals=10, eval_blocks=256, data_sweep_member=5,
              data_sweep_steps=[125, 250, 500, 1000, 2000])
    family = FAMILY
    if smoke:
        hp.update(steps=3, evals=1, eval_blocks=2, data_sweep_steps=[3, 6])
        family = FAMILY[:2]
        hp["data_sweep_member"] = 1
    runs = [scaling_run(shape, train_ids, val_ids, tok.vocab_size, hp, hp["steps"], progress=not smoke)
            for shape in family]
    sweep_shape = family[hp["data_sweep_member"]]
    sweep = [runs[hp["data_sweep_member"]] if s == hp["steps"] else
             scaling_run(sweep_shape, train_ids, val_ids, tok.vocab_size, hp, s, progress=not smoke)
             for s in hp["data_sweep_steps"]]
    figures = dict(steps=runs[0]["steps"], tokens_per_model=runs[0]["tokens"],
                   val_loss={str(r["non_embedding_params"]): r["val_loss"] for r in runs},
                   data_sweep_val_loss={str(r["tokens"]): r["val_loss"] for r in sweep},
                   train_minutes=round(sum(r["train_seconds"] for r in runs + sweep) / 60, 2))
    results = dict(runs=runs, data_sweep=sweep, vocab_size=tok.vocab_size,
                   val_chars=len(val_ids), eval_chars=hp["eval_blocks"] * hp["block_size"])
    return Result(None, None, History(), figures, dict(hp, results=results))

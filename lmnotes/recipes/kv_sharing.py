"""``kv-sharing`` (results only): MHA vs GQA vs MQA on Shakespeare characters over 5 seeds
(notebook 07).
"""

from __future__ import annotations

from lmnotes.data import shakespeare_char_ids
from lmnotes.generative.longcontext import sharing_run
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History


@recipe("kv-sharing", "MHA vs GQA vs MQA (4/2/1 key-value heads of 4) on Shakespeare characters, 300 steps, "
                      "5 seeds each; stores held-out losses, not weights", results=True)
def kv_sharing(smoke: bool = False) -> Result:
    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = dict(steps=300, seeds=[0, 1, 2, 3, 4], n_kv_heads=[4, 2, 1], block=64, eval_chars=16384)
    if smoke:
        hp.update(steps=3, seeds=[0, 1], eval_chars=256)
    runs = [sharing_run(train_ids, val_ids, tok.vocab_size, kv, seed, hp["steps"], hp["block"], hp["eval_chars"])
            for kv in hp["n_kv_heads"] for seed in hp["seeds"]]
    figures = {f"val_loss_kv{kv}": [r["val_loss"] for r in runs if r["n_kv_head"] == kv] for kv in hp["n_kv_heads"]}
    return Result(None, None, History(), figures, dict(hp, results=dict(runs=runs, vocab_size=tok.vocab_size)))

"""``kv-sharing`` (results only): MHA vs GQA vs MQA on Shakespeare characters over 5 seeds, and MHA
with one KV cache shared by its 2 layers (cross-layer attention) over the same seeds (notebook 07).
"""

from __future__ import annotations

from lmnotes.data import shakespeare_char_ids
from lmnotes.generative.longcontext import sharing_run
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History


@recipe("kv-sharing", "MHA vs GQA vs MQA (4/2/1 key-value heads of 4) and MHA with its 2 layers sharing one KV cache, "
                      "on Shakespeare characters, 300 steps, 5 seeds each; stores held-out losses, not weights",
        results=True)
def kv_sharing(smoke: bool = False) -> Result:
    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = dict(steps=300, seeds=[0, 1, 2, 3, 4], n_kv_heads=[4, 2, 1], cross_layer=[(4, 2)], block=64, eval_chars=16384)
    if smoke:
        hp.update(steps=3, seeds=[0, 1], eval_chars=256)
    settings = [(kv, 1) for kv in hp["n_kv_heads"]] + [tuple(s) for s in hp["cross_layer"]]
    runs = [sharing_run(train_ids, val_ids, tok.vocab_size, kv, seed, hp["steps"], hp["block"], hp["eval_chars"],
                        share_layers=shared)
            for kv, shared in settings for seed in hp["seeds"]]
    figures = {f"val_loss_kv{kv}" + (f"_shared{shared}" if shared > 1 else ""):
               [r["val_loss"] for r in runs if (r["n_kv_head"], r["share_layers"]) == (kv, shared)]
               for kv, shared in settings}
    return Result(None, None, History(), figures, dict(hp, results=dict(runs=runs, vocab_size=tok.vocab_size)))

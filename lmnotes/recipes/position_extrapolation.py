"""``position-extrapolation`` (results only): six position schemes trained at 32 characters and
evaluated at 1x-16x, over 3 seeds (notebook 07).
"""

from __future__ import annotations

from lmnotes.data import shakespeare_char_ids
from lmnotes.generative.longcontext import extrapolation_run
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

SCHEMES = ("learned", "sinusoidal", "rope", "t5", "alibi", "none")


@recipe("position-extrapolation", "learned (clamped), sinusoidal (scaled), RoPE, T5, ALiBi and no positions, trained "
                                  "at 32 characters for 600 steps, evaluated at 32-512, 3 seeds each; stores held-out "
                                  "losses, not weights", results=True)
def position_extrapolation(smoke: bool = False) -> Result:
    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = dict(steps=600, seeds=[0, 1, 2], schemes=list(SCHEMES), train_len=32, factors=[1, 2, 4, 8, 16],
              eval_chars=16384)
    if smoke:
        hp.update(steps=3, seeds=[0, 1], schemes=["learned", "alibi"], factors=[1, 2], eval_chars=256)
    runs = [extrapolation_run(train_ids, val_ids, tok.vocab_size, pos, seed, hp["steps"], hp["train_len"],
                              hp["factors"], hp["eval_chars"])[1]
            for pos in hp["schemes"] for seed in hp["seeds"]]
    longest = str(hp["train_len"] * hp["factors"][-1])
    figures = {f"val_loss_{pos}_{longest}": [r["losses"][longest] for r in runs if r["pos"] == pos]
               for pos in hp["schemes"]}
    return Result(None, None, History(), figures, dict(hp, results=dict(runs=runs, vocab_size=tok.vocab_size)))

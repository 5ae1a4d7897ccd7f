"""``passkey-retrieval`` (results only): a small GPT trained on passkey documents, retrieval by depth
and length beside filler perplexity (notebook 07, section 2.3.6).
"""

from __future__ import annotations

from lmnotes.generative.longcontext import passkey_run
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: the stored run, and the short run notebook 07 repeats live (``lmnotes.generative.longcontext.passkey_run``)
PASSKEY_RUN = dict(pos="alibi", length=64, steps=3000, factors=[1, 2, 4, 8, 16], depths=[0.0, 0.25, 0.5, 0.75, 1.0],
                   n_test=40, seed=0, n_digits=4)


PASSKEY_LIVE = dict(PASSKEY_RUN, steps=30, factors=[1, 2], depths=[0.5], n_test=20)


@recipe("passkey-retrieval", "passkey retrieval vs filler perplexity: a small GPT trained on passkey documents "
        "of 64 tokens, scored at 5 depths x 64-1,024 tokens on keys it never saw; stores the grid, not weights", results=True)
def passkey_retrieval(smoke: bool = False) -> Result:
    hp, live = dict(PASSKEY_RUN), dict(PASSKEY_LIVE)
    if smoke:
        hp.update(steps=4, n_test=2)
        live.update(steps=2, n_test=2)
    runs = dict(run=passkey_run(**hp), live=passkey_run(**live))
    figures = dict(accuracy=[[c["depth"], c["length"], c["accuracy"]] for c in runs["run"]["grid"]],
                   filler_loss=runs["run"]["filler_loss"])
    return Result(None, None, History(), figures, dict(hp, live=live, results=runs))

"""``dpo-vs-ppo`` (results only): DPO vs PPO with a reward model on ``toyworld-sft``, from the same
preference pairs, over betas and seeds (notebook 13).
"""

from __future__ import annotations

import torch

from lmnotes import checkpoints
from lmnotes.alignment import compare
from lmnotes.alignment.sft import held_out_instructions
from lmnotes.data import toyworld
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: notebook 13's comparison: DPO and PPO (with a reward model) from the same 1,000 preference pairs
DPO_PPO_HPARAMS = dict(policy="toyworld-sft", rm_base="toyworld-gpt", pair_seed=1, n_pairs=1000, eval_seed=777,
                       n_eval=200, kl_prompts=32, kl_samples=8, betas=[0.1, 0.5], seeds=[0, 1, 2], dpo_steps=60,
                       dpo_lr=1e-4, dpo_batch=16, rm_steps=200, rm_lr=1e-3, rm_batch=32, ppo_iterations=60,
                       ppo_batch=32, ppo_lr=3e-4)


def dpo_ppo_data(hp: dict) -> tuple[list, list[str]]:
    """The pairs of recipe ``dpo-vs-ppo`` and its evaluation prompts (unseen by toyworld-sft and absent
    from the pairs); notebook 13 rebuilds them here."""
    pairs = toyworld.preference_pairs(hp["n_pairs"], seed=hp["pair_seed"])
    evaluation = held_out_instructions(hp["n_eval"], seed=hp["eval_seed"], model=hp["policy"],
                                       exclude=[p.prompt for p in pairs])
    return pairs, [r.prompt for r in evaluation]


@recipe("dpo-vs-ppo", "DPO vs PPO (reward model + RL) on toyworld-sft from the same preference pairs: gold "
                      "reward, KL and wall time for each beta and seed; stores results", results=True)
def dpo_vs_ppo(smoke: bool = False) -> Result:
    hp = dict(DPO_PPO_HPARAMS)
    if smoke:
        hp.update(n_pairs=40, n_eval=20, kl_prompts=2, kl_samples=2, betas=[0.1], seeds=[0], dpo_steps=2,
                  rm_steps=2, ppo_iterations=2, ppo_batch=4)
    policy, backbone = checkpoints.load(hp["policy"]), checkpoints.load(hp["rm_base"])
    pairs, prompts = dpo_ppo_data(hp)
    keys = ("dpo_steps", "dpo_lr", "dpo_batch", "rm_steps", "rm_lr", "rm_batch", "ppo_iterations", "ppo_batch", "ppo_lr")
    runs = []
    for method in compare.METHODS:
        for beta in hp["betas"]:
            for seed in hp["seeds"]:
                torch.set_num_threads(1)
                runs.append(compare.run(method, policy.model, policy.tokenizer, pairs, prompts, beta=beta, seed=seed,
                                        kl_prompts=hp["kl_prompts"], kl_samples=hp["kl_samples"],
                                        reward_backbone=backbone.model, **{k: hp[k] for k in keys}))
    reference = compare.gold_report(policy.model, policy.tokenizer, prompts)
    figures = {f"{r['method']}_{r['beta']}_seed{r['seed']}": dict(gold=round(r["gold"], 3), kl=round(r["kl"], 3),
                                                                  seconds=round(r["train_seconds"], 1)) for r in runs}
    results = dict(runs=runs, reference=reference, n_eval=len(prompts), eval_prompts_unseen=True)
    return Result(None, None, History(), figures, dict(hp, results=results))

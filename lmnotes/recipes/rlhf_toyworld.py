"""``rlhf-toyworld`` (results only): reward models from 100 to 10k preference pairs and ranked lists,
then PPO on ``toyworld-sft`` for several KL coefficients (notebook 12).
"""

from __future__ import annotations

import time

from lmnotes import checkpoints
from lmnotes.alignment import ppo, rewards
from lmnotes.data import toyworld
from lmnotes.recipes.registry import Result, recipe
from lmnotes.training import History

#: notebook 12's study: reward models from preferences, then PPO against one of them
RLHF_HPARAMS = dict(rm_base="toyworld-gpt", policy="toyworld-sft", pair_seed=0, eval_seed=10_000, n_eval=500,
                    pair_sizes=[100, 300, 1000, 3000, 10000], rm_steps=200, rm_lr=1e-3, rm_batch=32,
                    list_k=4, list_seed=1, budget_responses=2000, budget_seeds=[0, 1],
                    proxy_pairs=1000, ensemble_pair_seeds=[0, 101, 202], prompt_seed=4242, n_prompts=1000,
                    betas=[0.0, 0.1, 0.3, 1.0, 3.0], iterations=60, batch_size=32, ppo_lr=3e-4, ppo_seed=0)


def rlhf_reward_model(pairs, hp: dict, seed: int = 0):
    """The reward model that recipe ``rlhf-toyworld`` (and notebook 12) train on ``pairs``."""
    bundled = checkpoints.load(hp["rm_base"])
    return rewards.train_reward_model(bundled.model, bundled.tokenizer, pairs, steps=hp["rm_steps"],
                                      lr=hp["rm_lr"], batch_size=hp["rm_batch"], seed=seed)


def rlhf_ppo(reward_models, beta: float, hp: dict, progress: bool = True):
    """One PPO run of recipe ``rlhf-toyworld`` (and notebook 12) against the mean of ``reward_models``."""
    sft = checkpoints.load(hp["policy"])
    prompts = [r.prompt for r in toyworld.instructions(hp["n_prompts"], seed=hp["prompt_seed"])]
    _, run = ppo.ppo(sft.model, sft.model, sft.tokenizer, prompts, rewards.Ensemble(reward_models, sft.tokenizer),
                     beta=beta, gold_fn=toyworld.hidden_reward, iterations=hp["iterations"],
                     batch_size=hp["batch_size"], lr=hp["ppo_lr"], seed=hp["ppo_seed"], progress=progress)
    return run


@recipe("rlhf-toyworld", "reward models from 100-10k preference pairs and listwise rankings, then PPO on "
                         "toyworld-sft for several KL coefficients and an RM ensemble; stores curves, not weights", results=True)
def rlhf_toyworld(smoke: bool = False) -> Result:
    hp = dict(RLHF_HPARAMS)
    if smoke:
        hp.update(pair_sizes=[20, 40], rm_steps=2, n_eval=20, budget_responses=40, budget_seeds=[0],
                  ensemble_pair_seeds=[0, 101], betas=[0.0, 0.3], iterations=2, batch_size=4, proxy_pairs=20)
    tok = checkpoints.load(hp["rm_base"]).tokenizer
    start = time.perf_counter()
    pool = toyworld.preference_pairs(max(hp["pair_sizes"]), seed=hp["pair_seed"])
    lists = toyworld.ranked_lists(hp["budget_responses"] // hp["list_k"], seed=hp["list_seed"], k=hp["list_k"])
    ensemble_pools = {s: toyworld.preference_pairs(hp["proxy_pairs"], seed=s) for s in hp["ensemble_pair_seeds"]}
    seen = {p.prompt for p in pool} | {r.prompt for r in lists} | {p.prompt for ps in ensemble_pools.values() for p in ps}
    held = rewards.held_out_pairs(hp["n_eval"], seed=hp["eval_seed"], exclude=sorted(seen))
    models = {}
    sizes = []
    for n in hp["pair_sizes"]:
        models[n] = rlhf_reward_model(pool[:n], hp)
        sizes.append(dict(pairs=n, **rewards.evaluate(models[n], tok, held)))
    budget = []
    n_pairs = hp["budget_responses"] // 2
    for seed in hp["budget_seeds"]:
        for kind, data in (("pairs", pool[:n_pairs]), ("lists", lists)):
            model = models[n_pairs] if kind == "pairs" and seed == 0 and n_pairs in models else \
                rlhf_reward_model(data, hp, seed=seed)
            budget.append(dict(kind=kind, seed=seed, n=len(data), **rewards.evaluate(model, tok, held)))
    proxy = models[hp["proxy_pairs"]] if hp["proxy_pairs"] in models else rlhf_reward_model(pool[:hp["proxy_pairs"]], hp)
    ensemble = [proxy if s == hp["pair_seed"] else rlhf_reward_model(ensemble_pools[s], hp, seed=i)
                for i, s in enumerate(hp["ensemble_pair_seeds"])]
    ensemble_eval = [rewards.evaluate(m, tok, held) for m in ensemble]
    runs = [rlhf_ppo([proxy], beta, hp, progress=not smoke).to_dict() for beta in hp["betas"]]
    ensemble_run = rlhf_ppo(ensemble, 0.0, hp, progress=not smoke).to_dict()
    figures = dict(rm_accuracy={str(r["pairs"]): round(r["accuracy"], 3) for r in sizes},
                   rm_spearman={str(r["pairs"]): round(r["spearman"], 3) for r in sizes},
                   ppo_final_gold={str(r["beta"]): round(r["gold"][-1], 3) for r in runs},
                   ppo_final_kl={str(r["beta"]): round(r["kl"][-1], 2) for r in runs},
                   train_minutes=round((time.perf_counter() - start) / 60, 2))
    results = dict(reward_models=sizes, budget=budget, ensemble_members=ensemble_eval, ppo=runs,
                   ensemble_ppo=ensemble_run, n_eval=len(held), eval_prompts_unseen=True)
    return Result(None, None, History(), figures, dict(hp, results=results))

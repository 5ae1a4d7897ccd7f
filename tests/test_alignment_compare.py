"""DPO vs PPO from the same pairs (lmnotes.alignment.compare): the stored study and bad input."""

import pytest

from lmnotes import checkpoints, recipes
from lmnotes.alignment import compare
from lmnotes.data import toyworld


@pytest.fixture(scope="module")
def sft():
    return checkpoints.load("toyworld-sft")


@pytest.mark.parametrize("kwargs, error", [
    (dict(method="rloo"), "method"),
    (dict(method="ppo"), "reward_backbone"),
    (dict(method="dpo", pairs=[]), "pairs"),
    (dict(method="dpo", eval_prompts=[]), "eval_prompts"),
    (dict(method="dpo", kl_prompts=5), "kl_prompts"),
])
def test_bad_input_is_refused_with_the_arguments_name(sft, kwargs, error):
    args = dict(method="dpo", policy=sft.model, tokenizer=sft.tokenizer, pairs=toyworld.preference_pairs(4, seed=0),
                eval_prompts=["x ."] * 2, beta=0.1, kl_prompts=1)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=error):
        compare.run(**args)


def test_gold_report_scores_greedy_answers_by_the_hidden_reward(sft):
    records = toyworld.instructions(20, seed=3)
    out = compare.gold_report(sft.model, sft.tokenizer, [r.prompt for r in records])
    assert 0 <= out["correct"] <= 1 and 0 <= out["polite"] <= 1 and -2 < out["gold"] <= 2.5
    assert out["example"] and out["correct"] > 0.5  # the SFT model answers most instructions


def test_stored_study_has_every_method_beta_and_seed_on_unseen_prompts():
    stored = checkpoints.results("dpo-vs-ppo")
    hp = stored["meta"]["hparams"]
    keys = {(r["method"], r["beta"], r["seed"]) for r in stored["runs"]}
    assert keys == {(m, b, s) for m in compare.METHODS for b in hp["betas"] for s in hp["seeds"]}
    pairs, prompts = recipes.dpo_vs_ppo.dpo_ppo_data(hp)
    assert len(prompts) == stored["n_eval"] and not set(prompts) & {p.prompt for p in pairs}
    assert all(r["train_seconds"] > 0 and len(r["curve"]["gold"]) == hp["ppo_iterations"]
               for r in stored["runs"] if r["method"] == "ppo")

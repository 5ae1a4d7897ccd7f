"""Every recipe runs end to end (a few steps) and writes a bundle that both lmnotes and transformers load."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

from lmnotes import checkpoints, recipes
from lmnotes.data import toyworld

HF_RECIPES = sorted(set(recipes.RECIPES) - set(recipes.RESULT_RECIPES) - {"linear-regression-icl"})


@pytest.mark.parametrize("name", HF_RECIPES)


def test_smoke_recipe_writes_a_bundle_that_lmnotes_and_transformers_agree_on(name, tmp_path):
    record = recipes.run(name, tmp_path, smoke=True)
    assert record["sha256"] == checkpoints.sha256(tmp_path / "model.safetensors")
    assert record["figures"]["steps"] == 3
    assert json.loads((tmp_path / "lmnotes.json").read_text())["recipe"] == f"python -m lmnotes.recipes {name}"

    bundle = checkpoints.load_folder(tmp_path)
    auto = AutoModelForMaskedLM if name.endswith("bert") else AutoModelForCausalLM
    hf = auto.from_pretrained(tmp_path).eval()
    hf_tok = AutoTokenizer.from_pretrained(tmp_path)
    text = "To be, or not" if name.startswith("shakespeare") else "the cat is happy ."
    ids = torch.tensor([hf_tok.encode(text)])
    assert ids.shape[1] > 1 and bundle.tokenizer.encode(text) == ids[0].tolist()
    with torch.no_grad():
        torch.testing.assert_close(bundle.model(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)


def test_smoke_regression_recipe_writes_a_native_bundle_that_reloads_to_the_same_model(tmp_path):
    from lmnotes.prompting import function_icl

    record = recipes.run("linear-regression-icl", tmp_path, smoke=True)
    assert record["native"] and record["figures"]["steps"] == 3
    assert record["sha256"] == checkpoints.sha256(tmp_path / "model.safetensors")
    assert not (tmp_path / "tokenizer.json").exists()
    bundle = checkpoints.load_folder(tmp_path)
    assert bundle.tokenizer is None and type(bundle.model).__name__ == "RegressionGPT"
    curves = function_icl.error_curves(bundle.model, n_tasks=20, seed=recipes.linear_regression_icl.REGRESSION_EVAL_SEED)
    assert curves["transformer"][0] == pytest.approx(record["figures"]["error_0_examples"], abs=1e-3)
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(ValueError, match="corrupt or was modified"):
        checkpoints.load_folder(tmp_path)


def test_smoke_scaling_recipe_stores_sha256_checked_curves_on_the_same_tokens(tmp_path):
    record = recipes.run("scaling-char", tmp_path, smoke=True)
    assert record["sha256"] == checkpoints.results_sha256(tmp_path / "results.json")
    assert not (tmp_path / "model.safetensors").exists()  # results, not weights
    results = checkpoints.results("scaling-char", tmp_path)
    runs = results["runs"]
    assert len(runs) == 2 and runs[0]["non_embedding_params"] < runs[1]["non_embedding_params"]
    assert {r["tokens"] for r in runs} == {3 * 16 * 64} and all(len(r["eval_loss"]) == 2 for r in runs)
    assert [r["tokens"] for r in results["data_sweep"]] == [3 * 16 * 64, 6 * 16 * 64]


def test_smoke_learning_to_prompt_recipe_stores_every_method_and_the_best_lr(tmp_path):
    from lmnotes.prompting import efficient

    record = recipes.run("learning-to-prompt", tmp_path, smoke=True)
    assert record["sha256"] == checkpoints.results_sha256(tmp_path / "results.json")
    results = checkpoints.results("learning-to-prompt", tmp_path)
    assert {r["method"] for r in results["sweep"]} == set(efficient.METHODS)
    assert len(results["sweep"]) == 2 * len(efficient.METHODS)  # the smoke run keeps two learning rates each
    for method, lr in results["best_lr"].items():
        best = max((r for r in results["sweep"] if r["method"] == method), key=lambda r: r["dev_accuracy"])
        assert best["lr"] == lr
    assert [r["size"] for r in results["lora_ranks"]] == [2]


def test_smoke_kv_sharing_recipe_stores_each_seed_and_head_count(tmp_path):
    from lmnotes.generative import longcontext

    record = recipes.run("kv-sharing", tmp_path, smoke=True)
    runs = checkpoints.results("kv-sharing", tmp_path)["runs"]
    assert [(r["n_kv_head"], r["share_layers"], r["seed"]) for r in runs] == [
        (4, 1, 0), (4, 1, 1), (2, 1, 0), (2, 1, 1), (1, 1, 0), (1, 1, 1), (4, 2, 0), (4, 2, 1)]
    assert [r["kv_bytes"] for r in runs[::2]] == [1024, 512, 256, 512]  # 2 layers sharing one cache: half of MHA's
    assert record["figures"]["val_loss_kv4"] == [runs[0]["val_loss"], runs[1]["val_loss"]]
    assert record["figures"]["val_loss_kv4_shared2"] == [runs[6]["val_loss"], runs[7]["val_loss"]]
    assert runs[0]["val_loss"] != runs[1]["val_loss"]  # seeds differ
    # a run re-done by hand lands on its stored value
    from lmnotes.data import shakespeare_char_ids

    tok, train_ids, val_ids = shakespeare_char_ids()
    again = longcontext.sharing_run(train_ids, val_ids, tok.vocab_size, 2, 1, steps=3, eval_chars=256)
    assert again == runs[3]


def test_smoke_passkey_recipe_stores_the_grid_and_a_run_repeats_it(tmp_path):
    from lmnotes.generative import longcontext

    record = recipes.run("passkey-retrieval", tmp_path, smoke=True)
    stored = checkpoints.results("passkey-retrieval", tmp_path)
    run, live = stored["run"], stored["live"]
    assert [(c["depth"], c["length"]) for c in run["grid"]] == [
        (d, 64 * f) for d in recipes.passkey_retrieval.PASSKEY_RUN["depths"] for f in recipes.passkey_retrieval.PASSKEY_RUN["factors"]]
    assert all(0 <= c["accuracy"] <= 1 for c in run["grid"])
    assert set(run["filler_loss"]) == {str(64 * f) for f in recipes.passkey_retrieval.PASSKEY_RUN["factors"]}
    assert run["test_keys_in_training"] == run["test_documents_in_training"] == 0
    assert record["figures"]["filler_loss"] == run["filler_loss"]
    # the live run re-done from its stored settings lands on the stored numbers exactly
    assert longcontext.passkey_run(**record["hparams"]["live"]) == live
    assert live["steps"] == 2 and [c["length"] for c in live["grid"]] == [64, 128]


def test_unknown_recipe_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="toyworld-gpt"):
        recipes.run("nope", tmp_path)


def test_recipes_never_write_into_the_package_unless_asked(tmp_path):
    bundled = checkpoints.CHECKPOINT_DIR / "toyworld-bert"
    before = {f.name: f.stat().st_mtime_ns for f in bundled.iterdir()}
    with pytest.raises(ValueError, match="out"):
        recipes.run("toyworld-bert", smoke=True)
    with pytest.raises(ValueError, match="replace_bundled"):
        recipes.run("toyworld-bert", bundled, smoke=True)
    with pytest.raises(ValueError, match="smoke"):
        recipes.run("toyworld-bert", smoke=True, replace_bundled=True)
    with pytest.raises(TypeError, match="replace_bundled"):
        recipes.run("toyworld-bert", tmp_path, smoke=True, replace_bundled="yes")
    with pytest.raises(SystemExit):
        recipes.main(["toyworld-bert"])  # neither --out nor --replace-bundled
    assert {f.name: f.stat().st_mtime_ns for f in bundled.iterdir()} == before


def test_smoke_rlhf_recipe_stores_reward_model_and_ppo_curves(tmp_path):
    record = recipes.run("rlhf-toyworld", tmp_path, smoke=True)
    assert record["sha256"] == checkpoints.results_sha256(tmp_path / "results.json")
    results = checkpoints.results("rlhf-toyworld", tmp_path)
    assert [r["pairs"] for r in results["reward_models"]] == [20, 40]
    assert all(0 <= r["accuracy"] <= 1 for r in results["reward_models"] + results["budget"])
    assert [r["beta"] for r in results["ppo"]] == [0.0, 0.3] and results["ensemble_ppo"]["beta"] == 0.0
    assert all(len(r["gold"]) == len(r["kl"]) == 2 for r in results["ppo"])


def test_smoke_bert_seeds_recipe_stores_sha256_checked_runs_whose_first_seed_reruns_the_same(tmp_path):
    from lmnotes.pretraining import compression, experiments

    record = recipes.run("toyworld-bert-seeds", tmp_path, smoke=True)
    assert not (tmp_path / "model.safetensors").exists()  # results, not weights
    stored = checkpoints.results("toyworld-bert-seeds", tmp_path)
    assert set(stored["sharing"][0]) == set(compression.SHARING_SETTINGS)
    assert set(stored["finetune_accuracy"]) == {"classify", "pair"}
    # forgetting per seed (task 1's head before and after, with and without replay) and the budget curves
    assert [set(run) for run in stored["forgetting"]] == [{"after task 1"} | {f"{r}, {w}" for r in ("no replay", "25% replay")
                                                           for w in ("task-1 head", "new head", "task 2")}]
    assert {task: list(curve) for task, curve in stored["budget"].items()} == {t: ["1", "2"] for t in ("regress", "tag", "span")}
    # re-running the first batch order here lands on the stored curve (what notebook 04 shows)
    bert = checkpoints.load("toyworld-bert")
    hp = stored["meta"]["hparams"]
    data = recipes.toyworld_bert_seeds.bert_efficiency_data(bert.tokenizer, hp)
    batches = experiments.stream_mlm_batches(data["train_ids"], steps=hp["share_steps"], batch_size=hp["share_batch_size"],
                                             block_size=hp["block_size"], vocab_size=len(bert.tokenizer),
                                             specials=experiments.toy_specials(bert.tokenizer), seed=1)
    live = compression.sharing_curves(bert.model, batches,
                                      lambda m: experiments.mlm_scores(m, data["val_batch"])["MLM loss"],
                                      steps=hp["share_steps"], eval_every=hp["share_eval_every"])
    assert live["1 layer"]["eval_loss"] == pytest.approx(stored["sharing"][0]["1 layer"]["eval_loss"], abs=1e-4)
    assert record["figures"]["sharing_final_loss"]["1 layer"][0] == pytest.approx(live["1 layer"]["eval_loss"][-1], abs=1e-4)
    # and so does the first batch order of the distillation students
    assert set(stored["distillation"][0]) == set(compression.DISTILLATION_ALPHAS)
    batches = experiments.stream_mlm_batches(data["train_ids"], steps=hp["distill_steps"], batch_size=hp["share_batch_size"],
                                             block_size=hp["block_size"], vocab_size=len(bert.tokenizer),
                                             specials=experiments.toy_specials(bert.tokenizer), seed=0)
    students = compression.distillation_runs(bert.model, batches, lambda m: experiments.mlm_scores(m, data["val_batch"]),
                                             steps=hp["distill_steps"], eval_every=hp["share_eval_every"])
    for name, run in students.items():
        assert run["MLM loss"] == pytest.approx(stored["distillation"][0][name]["MLM loss"], abs=1e-4)


def test_smoke_pretraining_adaptation_recipe_stores_runs_whose_first_seed_reruns_the_same(tmp_path):
    from lmnotes.data import tasks, toyworld

    from lmnotes.pretraining import experiments

    record = recipes.run("pretraining-adaptation", tmp_path, smoke=True)
    assert not (tmp_path / "model.safetensors").exists()  # results, not weights
    stored = checkpoints.results("pretraining-adaptation", tmp_path)
    hp = stored["meta"]["hparams"]
    assert sorted(stored["kinds"]) == ["0", "1"] and set(stored["tiny_settings"]) == set(experiments.ADAPTATIONS)
    for name, rows in stored["tiny_sweep"].items():  # the chosen setting is the best on dev
        chosen = next(r for r in rows if {k: r[k] for k in ("lr", "steps")} == stored["tiny_settings"][name])
        assert chosen["dev_accuracy"] == max(r["dev_accuracy"] for r in rows)
    assert set(stored["gpt_settings"]) == {"probe", "scratch", "full"}
    assert [len(v) for v in stored["curve"]["full"].values()] == [1, 1]
    # seed 0 re-run as notebook 02 does lands on the stored figure
    tok = checkpoints.load("toyworld-gpt").tokenizer
    data = recipes.pretraining_adaptation.adaptation_data(tok, hp)
    starts = experiments.pretrained_starts(tok, [x for x, _ in data["pool"]], data["source"], tasks.STRENGTHS, seed=0,
                                           ssl_steps=hp["ssl_steps"], source_steps=hp["source_steps"])
    name = "supervised (related task), probe"
    live = experiments.compare_pretraining(starts, tok, data["pool"][:hp["labelled"]], data["test"][:16],
                                           labels=toyworld.REVIEW_LABELS, settings=stored["tiny_settings"], seed=0,
                                           adaptations=[name])
    assert live[name] == pytest.approx(stored["kinds"]["0"][name], abs=1e-9)
    assert record["figures"]["kinds_mean"][name] == pytest.approx(
        sum(stored["kinds"][s][name] for s in ("0", "1")) / 2, abs=1e-4)


def test_smoke_sft_studies_recipe_stores_sha256_checked_runs(tmp_path):
    record = recipes.run("sft-studies", tmp_path, smoke=True)
    assert record["sha256"] == checkpoints.results_sha256(tmp_path / "results.json")
    assert not (tmp_path / "model.safetensors").exists()  # results, not weights
    results = checkpoints.results("sft-studies", tmp_path)
    assert set(results["efficiency"]) == {"pretrained", "scratch"}
    assert [len(runs) for runs in results["efficiency"]["pretrained"].values()] == [2]
    w2s = results["weak_to_strong"][0]
    assert 0 <= w2s["weak"] <= 1 and len(w2s["cascade"]["accuracy"]) == len(w2s["cascade"]["shares"])


def test_smoke_multilingual_recipe_stores_both_pretrainings_and_baselines_on_unseen_test_reviews(tmp_path):
    from lmnotes.data import overlap

    from lmnotes.pretraining import multilingual

    record = recipes.run("multilingual-bert", tmp_path, smoke=True)
    assert not (tmp_path / "model.safetensors").exists()  # results, not weights
    stored = checkpoints.results("multilingual-bert", tmp_path)
    assert [r["pretraining"] for r in stored["runs"]] == ["A and B", "A only", "A and B, with translation pairs"]
    assert "tuned_on_b_test_b" in stored["runs"][0] and "tuned_on_b_test_b" not in stored["runs"][1]
    assert stored["translation_pairs"] > 0 and stored["n_dev"] > 0
    assert set(stored["baselines"]["bag_of_words_penalty"]) == {"bag_of_words_a_on_a", "bag_of_words_a_on_b",
                                                              "bag_of_words_b_on_b"}
    assert all(0 <= r[k] <= 1 for r in stored["runs"] for k in ("test_a", "test_b", "word_retrieval"))
    assert 0 < stored["baselines"]["majority_b"] < 1
    assert record["figures"]["test_b_A only"] == [round(stored["runs"][1]["test_b"], 4)]
    # the stored test set is the one transfer_data rebuilds, and none of it is in the pre-training text
    hp = stored["meta"]["hparams"]
    language = multilingual.second_language(hp["language_seed"], order=hp["order"])
    data = multilingual.transfer_data(language, hp["n_tokens"], seed=hp["data_seed"], n_train=hp["n_train"],
                                      n_test=hp["n_test"])
    assert len(data["test_b"]) == stored["n_test"]
    assert not any(overlap.seen_in(data["documents_b"], [x for x, _ in data["test_b"]]))
    assert not any(overlap.seen_in(data["documents_a"] + data["sources_b"], [x for x, _ in data["test_a"]]))


def test_smoke_dpo_vs_ppo_recipe_stores_both_methods_from_the_same_pairs(tmp_path):
    record = recipes.run("dpo-vs-ppo", tmp_path, smoke=True)
    assert record["sha256"] == checkpoints.results_sha256(tmp_path / "results.json")
    results = checkpoints.results("dpo-vs-ppo", tmp_path)
    assert [r["method"] for r in results["runs"]] == ["dpo", "ppo"]
    assert all(r["train_seconds"] > 0 and r["example"] for r in results["runs"])
    assert len(results["runs"][1]["curve"]["gold"]) == 2 and results["n_eval"] == 20


def test_smoke_nsp_ablation_pretrains_with_and_without_nsp_and_tests_on_unseen_items(tmp_path):
    from lmnotes.data import overlap, tasks

    record = recipes.run("nsp-ablation", tmp_path, smoke=True)
    assert not (tmp_path / "model.safetensors").exists()  # results, not weights
    stored = checkpoints.results("nsp-ablation", tmp_path)
    assert [r["nsp"] for r in stored["runs"]] == [True, False]
    assert all(0 <= r[k] <= 1 for r in stored["runs"] for k in ("nsp_accuracy", "mlm_accuracy", "pair_first",
                                                                  "classify_first"))
    assert record["figures"]["pair_first_without_nsp"] == [stored["runs"][1]["pair_first"]]
    assert 0.4 < stored["is_next_share"] < 0.6
    # the full recipe's test items: none in its fine-tuning set or its pre-training documents
    data = recipes.nsp_ablation.nsp_ablation_data(toyworld.tokenizer(), recipes.nsp_ablation.NSP_ABLATION)
    for task, (train_set, test_set, _) in data["finetuning"].items():
        assert test_set and not {x for x, _ in test_set} & {x for x, _ in train_set}
        assert not any(overlap.seen_in(data["documents"], [tasks.record_text(e) for e in test_set]))


def test_smoke_position_extrapolation_recipe_stores_each_scheme_seed_and_length(tmp_path):
    from lmnotes.data import shakespeare_char_ids
    from lmnotes.generative import longcontext

    record = recipes.run("position-extrapolation", tmp_path, smoke=True)
    runs = checkpoints.results("position-extrapolation", tmp_path)["runs"]
    results = checkpoints.results("position-extrapolation", tmp_path)
    assert [(r["pos"], r["seed"]) for r in runs] == [(p, s) for p in ("learned", "alibi", "rope") for s in (0, 1)]
    assert all(sorted(r["losses"]) == ["32", "64"] for r in runs)  # learned positions run past 32 (clamped)
    assert record["figures"]["val_loss_alibi_64"] == [runs[2]["losses"]["64"], runs[3]["losses"]["64"]]
    # the sinusoidal amplitude is the one with the lowest in-length dev loss of the sweep
    sweep = results["amplitude_sweep"]
    assert [s["amplitude"] for s in sweep] == [0.028, 1.0]
    assert results["sinusoid_amplitude"] == min(sweep, key=lambda s: s["losses"]["32"])["amplitude"]
    # every RoPE model is stretched to 2x three ways, zero-shot and fine-tuned
    assert [s["seed"] for s in results["stretch"]] == [0, 1]
    assert all(sorted(s["methods"]) == ["interpolation", "none", "ntk"] for s in results["stretch"])
    assert results["stretch"][0]["base"] == runs[4]["losses"]["32"]
    # a run re-done by hand lands on its stored value
    tok, train_ids, val_ids = shakespeare_char_ids()
    model, again = longcontext.extrapolation_run(train_ids, val_ids, tok.vocab_size, "alibi", 1, steps=3,
                                                 factors=(1, 2), eval_chars=256)
    assert again == runs[3] and model.config.pos == "alibi"


def test_smoke_prefix_lm_recipe_stores_every_arm_and_its_first_seed_reruns_the_same(tmp_path):
    from lmnotes.data import overlap, toyworld
    from lmnotes.models import GPTConfig
    from lmnotes.pretraining import experiments

    record = recipes.run("prefix-lm", tmp_path, smoke=True)
    stored = checkpoints.results("prefix-lm", tmp_path)
    hp = stored["meta"]["hparams"]
    assert len(stored["runs"]) == len(hp["seeds"]) == 2
    assert all(set(run) == set(experiments.PREFIX_LM_ARMS) for run in stored["runs"])
    assert stored["test_in_training"] == 0 and stored["test_documents"] == record["figures"]["test_documents"] > 100
    tok = toyworld.tokenizer()
    data = recipes.prefix_lm.prefix_lm_data(tok, hp)
    assert not any(overlap.seen_in(data["train_docs"], data["test_docs"]))
    # the prefix LM of seed 0, re-run here, lands on the stored document losses (what notebook 03 checks)
    pad = experiments.toy_specials(tok).pad
    model, _ = experiments.prefix_lm_arm("prefix LM", data["train_rows"], batch_size=hp["batch_size"], pad_id=pad, seed=0,
                                         config=GPTConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], **hp["model"]),
                                         steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"], progress=False)
    batch = experiments.prefix_lm_batch(data["test_rows"], pad_id=pad, seed=hp["split_seed"])
    assert batch["prefix"].tolist() == stored["prefix_lengths"]
    nats = experiments.row_losses(model, batch)
    assert nats.tolist() == pytest.approx(stored["runs"][0]["prefix LM"]["document_losses"], abs=1e-4)
    assert stored["runs"][0]["prefix LM"]["eval_steps"] == [0, 2, 4]
    assert stored["runs"][0]["prefix LM"]["continuation_loss"][-1] == pytest.approx(nats.mean().item(), abs=1e-4)


def test_smoke_masked_ed_lm_recipe_stores_both_curves_and_its_first_seed_reruns_the_same(tmp_path):
    from lmnotes.data import toyworld
    from lmnotes.models import EncoderDecoder, EncoderDecoderConfig
    from lmnotes.pretraining import experiments
    from lmnotes.repro import seed_everything
    from lmnotes.training import train

    recipes.run("masked-ed-lm", tmp_path, smoke=True)
    stored = checkpoints.results("masked-ed-lm", tmp_path)
    hp = stored["meta"]["hparams"]
    assert [set(run) for run in stored["runs"]] == [{"encoder-decoder", "causal LM"}] * 2
    assert stored["runs"][0]["causal LM"]["eval_steps"] == [0, 2, 4]
    tok = toyworld.tokenizer()
    sets = recipes.masked_ed_lm.masked_ed_lm_batches(tok, recipes.prefix_lm.prefix_lm_data(tok), hp)
    assert all((source == experiments.toy_specials(tok).mask).all() for source, _ in sets["pairs"][:20])  # only the length
    sp = experiments.toy_specials(tok)
    seed_everything(0)  # the encoder-decoder of seed 0, as notebook 03 trains it
    ed = EncoderDecoder(EncoderDecoderConfig(vocab_size=tok.vocab_size + hp["sentinels"], **hp["encdec"]))
    train(ed, experiments.seq2seq_batches(sets["pairs"], batch_size=hp["batch_size"], seed=0, bos_id=sp.bos, eos_id=sp.eos,
                                          pad_id=sp.pad),
          loss_fn=experiments.seq2seq_loss, steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"],
          progress=False)
    nats = experiments.row_losses(ed, sets["ed_test"]).mean().item()
    assert nats == pytest.approx(stored["runs"][0]["encoder-decoder"]["nats"][-1], abs=1e-4)


def test_smoke_denoiser_curves_recipe_stores_each_corruptions_curve_and_items(tmp_path):
    from lmnotes.data import toyworld

    record = recipes.run("denoiser-curves", tmp_path, smoke=True)
    stored = checkpoints.results("denoiser-curves", tmp_path)
    kinds = set(recipes.denoiser_curves.denoiser_corruptions(toyworld.tokenizer()))
    assert len(kinds) == 6 and len(stored["runs"]) == 2
    for run in stored["runs"]:
        assert run["eval_steps"] == [0, 2, 4] and set(run["exact"]) == set(run["exact_items"]) == kinds
        for kind in kinds:  # the last point of each curve is the share of documents restored exactly
            items = run["exact_items"][kind]
            assert len(items) == stored["test_documents"] == record["figures"]["test_documents"]
            assert run["exact"][kind][-1] == pytest.approx(sum(items) / len(items), abs=1e-5)


def test_smoke_sft_loss_recipe_stores_both_losses_per_seed_and_a_seed_reruns_the_same(tmp_path):
    from lmnotes.data import overlap

    record = recipes.run("sft-loss", tmp_path, smoke=True)
    stored = checkpoints.results("sft-loss", tmp_path)
    hp = stored["meta"]["hparams"]
    assert len(stored["runs"]) == len(hp["lrs"]) * len(hp["seeds"]) * len(recipes.sft_loss.LOSSES) == 4
    assert all(len(r["correct"]) == hp["n_test"] == record["figures"]["test_items"] for r in stored["runs"])
    data = recipes.sft_loss.sft_loss_data(hp)
    assert [r.prompt for r in data["test"]] == stored["test_prompts"]
    assert not {r.prompt for r in data["test"]} & {r.prompt for r in data["tune"]}
    assert not any(overlap.seen_in_training("toyworld-gpt", stored["test_prompts"]))
    # the full-sequence run of seed 1, re-run here, lands on the stored items (what notebook 05 checks)
    base = checkpoints.load("toyworld-gpt")
    again = recipes.sft_loss.sft_loss_run(base.model, data, base.tokenizer, loss="full sequence", lr=hp["lrs"][0],
                                          seed=1, steps=hp["steps"], batch_size=hp["batch_size"])
    assert "".join(map(str, again)) == stored["runs"][3]["correct"]
    assert stored["runs"][3]["seed"] == 1 and stored["runs"][3]["loss"] == "full sequence"


def test_the_stored_position_extrapolation_rope_run_is_what_the_code_gives_now():
    """07 reads this recipe's stored runs without re-training any (its time limit); this re-trains RoPE's
    seed 0 in full, as the recipe does, and stretches it to 2x: both land on the stored figures."""
    from lmnotes.data import shakespeare_char_ids
    from lmnotes.generative import longcontext

    stored = checkpoints.results("position-extrapolation")
    hp = stored["meta"]["hparams"]
    tok, train_ids, val_ids = shakespeare_char_ids()
    model, run = longcontext.extrapolation_run(train_ids, val_ids, tok.vocab_size, "rope", 0, hp["steps"],
                                               hp["train_len"], hp["factors"], hp["eval_chars"])
    want = next(r for r in stored["runs"] if r["pos"] == "rope" and r["seed"] == 0)
    assert sorted(run["losses"]) == sorted(want["losses"])
    assert max(abs(run["losses"][k] - want["losses"][k]) for k in want["losses"]) < 2e-3
    stretched = longcontext.stretch_run(model, train_ids, val_ids, 2, hp["stretch_steps"], hp["eval_chars"])
    want = next(s for s in stored["stretch"] if s["seed"] == 0)["methods"]
    assert sorted(stretched) == sorted(want)
    assert max(abs(a - b) for m in want for a, b in zip(stretched[m], want[m])) < 2e-3


@pytest.mark.parametrize("n_kv_head, share_layers", [(4, 1), (4, 2)])
def test_the_stored_kv_sharing_runs_are_what_the_code_gives_now(n_kv_head, share_layers):
    """07 reads the kv-sharing recipe's stored runs without re-training any (its time limit); this re-trains
    seed 0 of MHA and of MHA with 2 layers sharing one cache, as the recipe does: both land on the stored loss."""
    from lmnotes.data import shakespeare_char_ids
    from lmnotes.generative import longcontext

    stored = checkpoints.results("kv-sharing")
    hp = stored["meta"]["hparams"]
    tok, train_ids, val_ids = shakespeare_char_ids()
    run = longcontext.sharing_run(train_ids, val_ids, tok.vocab_size, n_kv_head, 0, hp["steps"], hp["block"],
                                  hp["eval_chars"], share_layers)
    want = next(r for r in stored["runs"]
                if (r["n_kv_head"], r["share_layers"], r["seed"]) == (n_kv_head, share_layers, 0))
    assert (run["kv_bytes"], run["params"]) == (want["kv_bytes"], want["params"])
    assert abs(run["val_loss"] - want["val_loss"]) < 2e-3

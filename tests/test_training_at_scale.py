"""Notebook 06's package code: scaling-law fits, the compute-optimal split, distributed arithmetic, ablations."""

import math

import numpy as np
import pytest
import torch

from lmnotes import checkpoints, widgets
from lmnotes.generative import ablations, distributed, scaling


def test_power_law_fit_recovers_known_constants():
    n = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5])
    law = scaling.fit_power_law(n, 5.0 * n ** -0.3 + 1.5)
    assert law.alpha == pytest.approx(0.3, rel=0.02) and law.E == pytest.approx(1.5, abs=0.01) and law.r2 > 0.9999
    pure = scaling.fit_power_law(n, 2.0 * n ** -0.1, fit_offset=False)
    assert pure.E == 0 and pure.alpha == pytest.approx(0.1, rel=1e-6)


@pytest.mark.parametrize("x, loss, match", [([1, 2], [3, 2], "at least 3"), ([1, -2, 3], [3, 2, 1], "x\\[1\\]"),
                                             ([1, 2, 3], [3, 0, 1], "loss\\[1\\]"), ([1, 2, 3], [1, 2], "same length")])
def test_power_law_fit_rejects_bad_input(x, loss, match):
    with pytest.raises(ValueError, match=match):
        scaling.fit_power_law(x, loss)


def test_compute_optimal_matches_nanogpt_check_and_the_closed_form():
    r = scaling.compute_optimal(2.21e19)
    assert r["n_opt"] == pytest.approx(316e6, rel=0.05) and r["d_opt"] == pytest.approx(11.65e9, rel=0.05)
    assert 6 * r["n_opt"] * r["d_opt"] == pytest.approx(2.21e19)
    # the closed form is the minimum: moving N either way along C = 6ND raises the predicted loss
    for f in (0.9, 1.1):
        n = r["n_opt"] * f
        assert scaling.chinchilla_loss(n, 2.21e19 / 6 / n) > r["loss"]
    # nanoGPT's figure is the best point of a half-decade grid: 10^8.5
    grid = 10 ** np.arange(6, 12, 0.5)
    best = min(grid, key=lambda n: scaling.chinchilla_loss(n, 2.21e19 / 6 / n))
    assert best / 1e6 == pytest.approx(316.2, rel=1e-3)


@pytest.mark.parametrize("bad", [0, -1e20, float("nan")])
def test_compute_optimal_rejects_non_positive_budgets(bad):
    with pytest.raises(ValueError, match="compute"):
        scaling.compute_optimal(bad)
    with pytest.raises(ValueError, match="n_params"):
        scaling.chinchilla_loss(bad, 1e9)


def test_stored_family_spans_the_target_range_and_is_sha256_checked(tmp_path):
    family = checkpoints.results("scaling-char")
    n = [r["non_embedding_params"] for r in family["runs"]]
    assert 6 <= len(n) <= 8 and math.log10(max(n) / min(n)) >= 1.5
    assert len({r["tokens"] for r in family["runs"]}) == 1  # the same tokens for every member
    folder = tmp_path / "copy"
    checkpoints.save_results(folder, {"runs": []}, {"name": "x"})
    (folder / "results.json").write_text('{"runs": [1]}\n')
    with pytest.raises(ValueError, match="corrupt"):
        checkpoints.results("x", folder)


def test_data_parallel_step_is_exact_against_the_mean_and_close_to_the_full_batch():
    r = distributed.data_parallel_step(seed=1)
    assert torch.equal(r["reduced"][0], r["reduced"][1])
    assert torch.equal(r["reduced"][0], r["mean_of_local"])
    torch.testing.assert_close(r["reduced"][0], r["full_batch"], atol=1e-6, rtol=0)


def test_column_parallel_matmul_pipeline_and_summation():
    x, w = torch.randn(3, 8), torch.randn(8, 12)
    assert torch.equal(distributed.column_parallel_matmul(x, w, 3), x @ w)
    with pytest.raises(ValueError, match="parts"):
        distributed.column_parallel_matmul(x, w, 5)
    for p, m in [(1, 1), (2, 3), (4, 8), (8, 32)]:
        assert distributed.simulate_pipeline(p, m)["idle_share"] == pytest.approx(distributed.pipeline_bubble(p, m))
    # unequal stages: the slowest one sets the pace, makespan sum(t) + (m - 1) max(t) (a flow shop of equal jobs)
    times = [1.0, 3.0, 1.0, 2.0]
    slow = distributed.simulate_pipeline(4, 6, stage_times=times)
    assert slow["makespan"] == pytest.approx(sum(times) + 5 * max(times))
    assert slow["idle_share"] == pytest.approx(1 - 6 * sum(times) / (4 * slow["makespan"]))
    assert slow["idle_share"] > distributed.pipeline_bubble(4, 6)
    assert slow["start"][1][1] == pytest.approx(4.0)  # stage 1 waits for its own micro-batch 0 (1 + 3), not stage 0
    with pytest.raises(ValueError, match="stage_times"):
        distributed.simulate_pipeline(4, 6, stage_times=[1.0, 2.0])
    with pytest.raises(ValueError, match="stage_times"):
        distributed.simulate_pipeline(2, 6, stage_times=[1.0, -2.0])
    with pytest.raises(ValueError, match="stages"):
        distributed.pipeline_bubble(0, 4)
    s = distributed.summation_orders(torch.randn(2048, generator=torch.Generator().manual_seed(0)) * 100)
    assert len({s["left_to_right"], s["right_to_left"], s["pairwise"]}) == 3


def test_prepare_keeps_length_and_changes_what_it_says():
    text = "".join(chr(97 + i % 26) + chr(65 + i % 7) for i in range(5_000))
    noisy = ablations.prepare(text, "noisy", rate=0.2, seed=0)
    dup = ablations.prepare(text, "fifth x5", rate=0.2)
    assert len(noisy) == len(dup) == len(text) and ablations.prepare(text, "clean") == text
    assert 0.1 < sum(a != b for a, b in zip(noisy, text)) / len(text) <= 0.2
    assert dup[:2000] == dup[2000:4000] == dup[8000:] == text[:2000]
    assert ablations.prepare(text, "fifth", rate=0.2) == text[:2000]  # the five copies, de-duplicated
    part, dedup = ablations.prepare(text, "part dup", rate=0.2), ablations.prepare(text, "part dedup", rate=0.2)
    chunk = text[8000:8200]  # 2% of the text, after the first 80%
    assert len(part) == len(text) and part[:8000] == text[:8000] and part[8000:] == chunk * 10
    assert dedup == text[:8000] + chunk  # the same distinct text, the chunk once
    with pytest.raises(ValueError, match="kind"):
        ablations.prepare(text, "shuffled")


def test_tune_lr_chooses_on_the_last_training_characters_never_on_held_out_text():
    tok, train_text, _ = ablations.char_data(4000, 2000)
    r = ablations.tune_lr(tok, train_text, lrs=(1e-4, 1e-2), dev_chars=1000, steps=16)
    runs = {lr: ablations.run_char_model(tok, train_text[:-1000], train_text[-1000:], steps=16, lr=lr) for lr in (1e-4, 1e-2)}
    assert runs[1e-4]["diverged"] and not runs[1e-2]["diverged"]  # 1e-4 learns nothing beyond the unigram in 16 updates
    assert r["dev_loss"] == {1e-4: math.inf, 1e-2: pytest.approx(runs[1e-2]["val_loss"])} and r["lr"] == 1e-2
    assert r["at_edge"]
    with pytest.raises(ValueError, match="lrs"):
        ablations.tune_lr(tok, train_text, lrs=(), dev_chars=1000)
    with pytest.raises(ValueError, match="dev_chars"):
        ablations.tune_lr(tok, train_text, dev_chars=len(train_text))


def test_unigram_loss_is_the_entropy_for_matching_frequencies():
    assert ablations.unigram_loss("ab" * 500, "ab" * 10) == pytest.approx(math.log(2), rel=1e-3)


def test_compute_optimal_widget_shows_the_split():
    box = widgets.compute_optimal_explorer(19.0)
    slider, view = box.children
    slider.value = 21.0
    assert f"{scaling.compute_optimal(1e21)['n_opt'] / 1e6:.3g} M" in view.value


def test_stability_run_uses_the_schedule_and_placement_it_names_and_rejects_unknown_ones():
    tok, train_text, val_text = ablations.char_data(4000, 2000)
    run = ablations.stability_run(tok, train_text, val_text, "lr 0.03, warm-up 15", prenorm=False, seed=1, steps=3)
    assert (run["schedule"], run["prenorm"], run["bias"], run["seed"], run["steps"]) == ("lr 0.03, warm-up 15", False, True, 1, 3)
    assert run["params"] == ablations.run_char_model(tok, train_text, val_text, steps=3, n_layer=4, warmup=2, prenorm=False)["params"]
    with pytest.raises(ValueError, match="schedule"):
        ablations.stability_run(tok, train_text, val_text, "lr 1.0", prenorm=True)
    with pytest.raises(TypeError, match="prenorm"):
        ablations.stability_run(tok, train_text, val_text, "lr 3e-3, no warm-up", prenorm="yes")


def test_smoke_ablation_seeds_recipe_stores_every_arm_and_seed_and_a_run_repeats_it(tmp_path):
    from lmnotes import recipes

    threads = torch.get_num_threads()
    recipes.run("ablation-seeds", tmp_path, smoke=True)
    assert torch.get_num_threads() == threads  # the recipe's single thread is given back
    stored = checkpoints.results("ablation-seeds", tmp_path)
    seeds = stored["meta"]["hparams"]["seeds"]
    assert [(r["kind"], r["seed"]) for r in stored["data_runs"]] == [(k, s) for k in ablations.DATA_KINDS for s in seeds]
    arms = {(r["prenorm"], r["schedule"], r["bias"]) for r in stored["norm_runs"]}
    assert arms == {(p, s, True) for p in (False, True) for s in ablations.SCHEDULES} | {
        (True, s, False) for s in recipes.ablation_seeds.NO_BIAS_SCHEDULES}
    assert len(stored["norm_runs"]) == len(arms) * len(seeds)
    # what notebook 06 checks: seed 0 of an arm, re-run with one thread, lands on the stored run
    tok, train_text, val_text = ablations.char_data(4000, 2000)
    torch.set_num_threads(1)
    try:
        again = ablations.stability_run(tok, train_text, val_text, "lr 0.03, no warm-up", prenorm=True, seed=0, steps=3)
    finally:
        torch.set_num_threads(threads)
    first = next(r for r in stored["norm_runs"] if (r["prenorm"], r["schedule"], r["bias"], r["seed"]) == (
        True, "lr 0.03, no warm-up", True, 0))
    assert again == first


def test_ngram_loss_chooses_its_weight_on_dev_from_the_training_text_and_scores_held_out_once():
    from lmnotes.baselines import CharNgram

    train_text = "the cat sat on the mat. " * 40 + "a dog ran to the log. " * 40
    val_text = "the dog sat on the log. " * 5
    lambdas = (0.5, 0.9, 0.99)
    r = ablations.ngram_loss(train_text, val_text, 3, vocab_size=30, dev_chars=200, lambdas=lambdas)
    dev = {lam: CharNgram(train_text[:-200], 3, 30).nll(train_text[-200:], lam) for lam in lambdas}
    assert r["lam"] == min(dev, key=dev.get) and r["dev_loss"] == pytest.approx(dev[r["lam"]])
    assert r["val_loss"] == pytest.approx(CharNgram(train_text, 3, 30).nll(val_text, r["lam"]))
    assert r["at_edge"] == (r["lam"] in (0.5, 0.99))
    # more context helps on this repetitive text: the trigram beats the bigram, which beats the unigram
    bigram = ablations.ngram_loss(train_text, val_text, 2, vocab_size=30, dev_chars=200, lambdas=lambdas)
    assert r["val_loss"] < bigram["val_loss"] < ablations.unigram_loss(train_text, val_text)
    with pytest.raises(ValueError, match="order"):
        ablations.ngram_loss(train_text, val_text, 0, vocab_size=30)
    with pytest.raises(ValueError, match="dev_chars"):
        ablations.ngram_loss(train_text, val_text, 2, vocab_size=30, dev_chars=len(train_text))


def test_run_char_model_scores_its_budgets_along_the_same_run():
    tok, train_text, val_text = ablations.char_data(4000, 2000)
    plain = ablations.run_char_model(tok, train_text, val_text, steps=20, seed=0)
    curved = ablations.run_char_model(tok, train_text, val_text, steps=20, seed=0, budgets=(20, 16))
    assert "curve" not in plain and curved["curve"]["steps"] == [16, 20]
    # scoring along the way changes nothing about the run: its end is the plain run's end
    assert curved["val_loss"] == plain["val_loss"] == curved["curve"]["val_loss"][-1]
    assert curved["curve"]["val_loss"][0] != curved["curve"]["val_loss"][1]
    with pytest.raises(ValueError, match="budgets"):
        ablations.run_char_model(tok, train_text, val_text, steps=20, budgets=(30,))
    # stopping early keeps the long run's schedule: its first budget lands on the full run's
    start = ablations.run_char_model(tok, train_text, val_text, steps=20, seed=0, budgets=(16,), stop_at=16)
    assert start["steps"] == 16 and start["curve"]["val_loss"] == curved["curve"]["val_loss"][:1] == [start["val_loss"]]
    with pytest.raises(ValueError, match="stop_at"):
        ablations.run_char_model(tok, train_text, val_text, steps=20, stop_at=21)


def test_smoke_ablation_budgets_recipe_stores_every_arm_seed_and_budget(tmp_path):
    from lmnotes import recipes

    recipes.run("ablation-budgets", tmp_path, smoke=True)
    stored = checkpoints.results("ablation-budgets", tmp_path)
    hp = stored["meta"]["hparams"]
    assert [(r["arm"], r["seed"]) for r in stored["runs"]] == [(a, s) for a in recipes.ablation_seeds.BUDGET_ARMS
                                                               for s in hp["seeds"]]
    assert all(r["curve"]["steps"] == hp["budgets"] and r["steps"] == hp["steps"] for r in stored["runs"])
    swiglu = next(r for r in stored["runs"] if r["arm"] == "SwiGLU")
    assert abs(swiglu["params"] / stored["runs"][0]["params"] - 1) < 0.01  # matched parameters


def test_fp16_backward_counts_what_an_fp16_pass_zeroes_and_a_loss_scale_keeps():
    from lmnotes.generative import precision
    from lmnotes.training import lm_loss

    tok, train_text, val_text = ablations.char_data(4000, 2000)
    model = ablations.run_char_model(tok, train_text, val_text, steps=3, warmup=1, seed=0, keep_model=True)["model"]
    ids = torch.tensor(tok.encode(train_text))
    x, y = ids[:256].view(4, 64), ids[1:257].view(4, 64)
    scales = (2.0 ** -16, 1.0, 1024.0)  # 2^-16 pushes most gradients under fp16's range: a stand-in for a larger model's
    r = precision.fp16_backward(model, (x, y), scales=scales)
    assert all(p.grad is None for p in model.parameters())

    def grads(half, scale):  # the same passes, written out
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.float16, enabled=half):
            loss = lm_loss(model(x), y) * scale
        loss.backward()
        g = torch.cat([p.grad.flatten().float() for p in model.parameters()]) / scale
        model.zero_grad(set_to_none=True)
        return g

    model.eval()
    reference = grads(False, 1.0)
    assert r["entries"] == int((reference != 0).sum()) and r["logits"] == 4 * 64 * tok.vocab_size
    for scale in scales:
        g = grads(True, scale)
        assert r["by_scale"][scale]["zeroed"] == int(((reference != 0) & (g == 0)).sum())
        # the logits' gradient from its formula, (softmax - one-hot) / tokens x scale, stored in fp16:
        # subnormal below 2^-14, zero at or below 2^-25
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.float16):
            logits = model(x)
        exact = (torch.softmax(logits.float(), -1) - torch.nn.functional.one_hot(y, tok.vocab_size)) * scale / y.numel()
        assert r["by_scale"][scale]["logit_small"] == pytest.approx(float((exact.abs() < 2.0 ** -14).float().mean()), abs=2e-3)
        assert r["by_scale"][scale]["logit_zero"] == pytest.approx(float((exact.abs() <= 2.0 ** -25).float().mean()), abs=2e-3)
    tiny, one, big = (r["by_scale"][s] for s in scales)
    assert tiny["zeroed"] > r["entries"] // 4 > one["zeroed"] >= big["zeroed"]
    assert tiny["logit_small"] > one["logit_small"] > big["logit_small"] and tiny["rel_error"] > big["rel_error"]
    assert one["rel_error"] < 0.01 and all(v["finite"] for v in r["by_scale"].values())
    with pytest.raises(ValueError, match="scales"):
        precision.fp16_backward(model, (x, y), scales=(0.0,))
    with pytest.raises(TypeError, match="batch"):
        precision.fp16_backward(model, x)

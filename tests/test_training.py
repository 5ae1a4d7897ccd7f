"""lmnotes.training: losses against torch's reference, the schedule, the loop, interrupts, exact resume."""

import math
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from lmnotes.training import (
    History,
    batch_loss,
    bits_per_token,
    configure_optimizer,
    evaluate,
    lm_loss,
    load_checkpoint,
    lr_at,
    perplexity,
    pick_autocast,
    save_checkpoint,
    train,
)

V, D, B, CTX = 16, 8, 4, 8


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy 2-core machine thread hand-offs cost 10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Bigram(nn.Module):
    """Embedding -> dropout -> norm -> linear: matrices, biases, norm gains and randomness, all tiny."""

    def __init__(self, dim=D, tie=False, dropout=0.1):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, V)
        if tie:
            self.head.weight = self.emb.weight

    def forward(self, idx, attention_mask=None):
        self.seen_mask = attention_mask
        return self.head(self.norm(self.drop(self.emb(idx))))


# A learnable stream: each token is mostly followed by (token + 1) % V.
_gen = torch.Generator().manual_seed(123)
DATA = torch.cumsum((torch.rand(2000, generator=_gen) < 0.9).long(), 0) % V


def batches_from(generator):
    """A batch function step -> (x, y) drawing random windows with ``generator`` (its state = data order)."""

    def get_batch(step):
        start = torch.randint(0, len(DATA) - CTX - 1, (B,), generator=generator)
        x = torch.stack([DATA[i : i + CTX] for i in start])
        y = torch.stack([DATA[i + 1 : i + CTX + 1] for i in start])
        return x, y

    return get_batch


VAL = [batches_from(torch.Generator().manual_seed(7))(0) for _ in range(2)]


def make_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return Bigram(**kwargs)


def run(model, batches, **kwargs):
    options = dict(steps=12, lr=1e-2, warmup=2, progress=False, eval_every=3, eval_fn=lambda m: evaluate(m, VAL))
    return train(model, batches, **(options | kwargs))


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# --------------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------------


def test_lm_loss_matches_torch_cross_entropy_and_ignores_minus_100():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 5, V), torch.randint(0, V, (2, 5))
    reference = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    torch.testing.assert_close(lm_loss(logits, targets), reference)
    targets[0, :3] = -100
    reference = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(lm_loss(logits, targets), reference)


def test_lm_loss_mask_zero_equals_ignoring_and_float_mask_weights_positions():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 4, V), torch.randint(0, V, (2, 4))
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1]])
    ignored = targets.masked_fill(mask == 0, -100)
    torch.testing.assert_close(lm_loss(logits, targets, mask), lm_loss(logits, ignored))
    weights = torch.tensor([[4.0, 1, 1, 1], [1, 1, 1, 0]])
    ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
    torch.testing.assert_close(lm_loss(logits, targets, weights), (ce * weights.reshape(-1)).sum() / weights.sum())


def test_lm_loss_rejects_bad_input_with_clear_messages():
    logits, targets = torch.randn(2, 4, V), torch.randint(0, V, (2, 4))
    with pytest.raises(ValueError, match=r"targets .*\(2, 4\).*got \(2, 3\)"):
        lm_loss(logits, targets[:, :3])
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        lm_loss(logits, targets.masked_fill(targets == targets[0, 0], V))
    with pytest.raises(TypeError, match="integer tensor"):
        lm_loss(logits, targets.float())
    with pytest.raises(ValueError, match="no position counts"):
        lm_loss(logits, targets, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mask must be a tensor"):
        lm_loss(logits, targets, torch.ones(2, 3))


def test_loss_units_uniform_model():
    """A uniform guess over V tokens has loss ln V: perplexity V, log2 V bits."""
    loss = lm_loss(torch.zeros(3, 7, V), torch.randint(0, V, (3, 7)))
    assert perplexity(loss) == pytest.approx(V)
    assert bits_per_token(loss) == pytest.approx(math.log2(V))
    with pytest.raises(TypeError, match="loss"):
        perplexity("2.0")


def test_batch_loss_reads_dict_batches_and_passes_attention_mask():
    model = make_model(dropout=0.0)
    ids = torch.randint(0, V, (2, 5))
    labels = ids.roll(-1, 1).masked_fill(torch.tensor([[0, 0, 0, 0, 1]] * 2).bool(), -100)
    loss_mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    attention = torch.ones(2, 5, dtype=torch.long)
    batch = {"input_ids": ids, "labels": labels, "attention_mask": attention, "loss_mask": loss_mask}
    loss = batch_loss(model, batch)
    assert model.seen_mask is attention
    torch.testing.assert_close(loss, lm_loss(model(ids), labels, loss_mask))
    with pytest.raises(ValueError, match="labels"):
        batch_loss(model, {"input_ids": ids})
    with pytest.raises(TypeError, match=r"\(x, y\) pair"):
        batch_loss(model, ids)


# --------------------------------------------------------------------------------------------------
# schedule and optimizer
# --------------------------------------------------------------------------------------------------


def test_lr_schedule_warmup_then_cosine_to_floor():
    kw = dict(steps=100, lr=1.0, warmup=10, min_lr=0.1)
    lrs = [lr_at(s, **kw) for s in range(120)]
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lrs[10] == 1.0 and max(lrs) == 1.0
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[55] == pytest.approx(0.55)  # halfway through the cosine: midway between lr and min_lr
    assert lrs[100:] == [0.1] * 20
    assert lr_at(50, steps=100, lr=1.0) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    with pytest.raises(ValueError, match="warmup"):
        lr_at(0, steps=10, lr=1.0, warmup=10)
    with pytest.raises(ValueError, match="min_lr"):
        lr_at(0, steps=10, lr=1.0, min_lr=2.0)
    with pytest.raises(ValueError, match="step"):
        lr_at(-1, steps=10, lr=1.0)


def test_optimizer_decays_matrices_only_and_skips_frozen_and_tied_duplicates():
    model = make_model(tie=True)
    model.norm.bias.requires_grad_(False)
    decay, no_decay = configure_optimizer(model, lr=1e-3, weight_decay=0.1).param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model.emb.weight)}  # tied head.weight counted once
    assert {id(p) for p in no_decay["params"]} == {id(model.norm.weight), id(model.head.bias)}
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        configure_optimizer(model, lr=1e-3)


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------


def test_train_learns_and_records_a_consistent_history(capsys):
    model = make_model()
    history = run(model, batches_from(torch.Generator().manual_seed(1)), steps=60, lr=3e-2)
    assert history.steps == list(range(1, 61))
    assert history.lr == [lr_at(s, steps=60, lr=3e-2, warmup=2) for s in range(60)]
    assert history.tokens == [B * CTX * s for s in range(1, 61)]
    assert history.eval_steps == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48, 51, 54, 57, 60]
    assert history.eval_loss[0] > math.log(V) - 0.5 and history.eval_loss[-1] < history.eval_loss[0] - 1.0
    assert all(math.isfinite(g) and g > 0 for g in history.grad_norm)
    assert history.tokens_per_s > 0 and history.train_seconds == sorted(history.train_seconds)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert capsys.readouterr().out == ""  # progress=False and a normal finish print nothing
    assert History.from_dict(history.to_dict()) == history
    assert repr(history).startswith("History(step=60, train_loss=")


def test_train_accepts_lists_and_iterators_and_stops_when_an_iterator_runs_out(capsys):
    get_batch = batches_from(torch.Generator().manual_seed(1))
    fixed = [get_batch(0), get_batch(1)]
    assert run(make_model(), fixed, steps=5).step == 5
    history = run(make_model(), iter(fixed), steps=5)
    assert history.step == 2
    assert capsys.readouterr().out == "batches ran out at step 2; returning the model and history so far\n"
    with pytest.raises(TypeError, match=r"\[batch\]"):
        run(make_model(), fixed[0])


def test_train_stops_before_a_non_finite_update(capsys):
    model = make_model()
    get_batch = batches_from(torch.Generator().manual_seed(1))
    weights_before_step_3 = {}

    def poisoned(step):
        if step == 3:
            weights_before_step_3.update({k: v.clone() for k, v in model.state_dict().items()})
            x, y = get_batch(step)
            return x, y.fill_(-100)  # nothing to predict: the loss is undefined
        return get_batch(step)

    def loss_fn(m, batch):
        x, y = batch
        logits = m(x)
        return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))  # nan when every target is -100

    history = run(model, poisoned, loss_fn=loss_fn, eval_fn=None)
    assert history.step == 3
    assert all(torch.equal(weights_before_step_3[k], v) for k, v in model.state_dict().items())
    assert capsys.readouterr().out.startswith("the loss or its gradient became non-finite at step 3 (update skipped);")


def test_interrupt_finishes_the_step_returns_history_and_resume_equals_an_uninterrupted_run(capsys):
    straight = make_model()
    run(straight, batches_from(torch.Generator().manual_seed(1)))

    model, generator = make_model(), torch.Generator().manual_seed(1)
    get_batch = batches_from(generator)

    def interrupting(step):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # what Jupyter's stop button does to the kernel
        return get_batch(step)

    handler = signal.getsignal(signal.SIGINT)
    history = run(model, interrupting)
    assert signal.getsignal(signal.SIGINT) is handler
    assert history.step == 5 and len(history.train_loss) == 5 and history.eval_steps == [0, 3]
    assert capsys.readouterr().out == "interrupted at step 5; returning the model and history so far\n"
    resumed = run(model, get_batch, resume=history)
    assert resumed.step == 12 and resumed.eval_steps == [0, 3, 6, 9, 12]
    assert same_weights(model, straight)


def test_resume_refuses_another_schedule():
    model = make_model()
    history = run(model, batches_from(torch.Generator().manual_seed(1)), stop_at=4)
    with pytest.raises(ValueError, match="lr=0.01.*lr=0.02"):
        run(model, batches_from(torch.Generator()), resume=history, lr=2e-2)
    with pytest.raises(ValueError, match="another model"):
        run(make_model(), batches_from(torch.Generator()), resume=history)


def test_bf16_autocast_trains_and_pick_autocast_measures():
    model = make_model()
    history = run(model, batches_from(torch.Generator().manual_seed(1)), autocast="bf16")
    assert history.step == 12 and all(math.isfinite(x) for x in history.train_loss)
    assert pick_autocast(model, VAL[0], repeats=1) in (None, "bf16")
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="autocast"):
        run(model, VAL, autocast="fp16")


def test_evaluate_uses_eval_mode_without_gradients_and_restores_the_mode():
    model = make_model(dropout=0.5)
    with torch.no_grad():
        expected = sum(float(lm_loss(model.eval()(x), y)) for x, y in VAL) / len(VAL)
    model.train()
    assert evaluate(model, VAL) == pytest.approx(expected)  # dropout off: same as eval-mode loss
    assert model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="at least one batch"):
        evaluate(model, [])


# --------------------------------------------------------------------------------------------------
# the callback, and the live plot (viz.LivePlot) that uses it
# --------------------------------------------------------------------------------------------------


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, data, raw=False):
        self.updates.append(data)


def test_callback_runs_after_every_update_and_once_at_the_end():
    calls = []
    history = run(make_model(), VAL, steps=3, callback=lambda h, final: calls.append((h.step, final)))
    assert calls == [(1, False), (2, False), (3, False), (3, True)] and history.step == 3
    with pytest.raises(TypeError, match="callback"):
        run(make_model(), VAL, steps=3, callback="plot")


def test_live_plot_updates_one_display_in_place(monkeypatch):
    import IPython.display

    from lmnotes import viz

    shown, handle = [], FakeHandle()

    def fake_display(data, raw=False, display_id=False):
        shown.append((data, display_id))
        return handle

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(viz, "_in_notebook", lambda: True)
    monkeypatch.setattr(viz, "LIVE_PLOT_SECONDS", 0.0)
    plotted = []
    live = viz.LivePlot()

    def spy(history, final):
        live(history, final)
        plotted.append([line.get_ydata().tolist() for line in live.ax.lines])

    history = run(make_model(), batches_from(torch.Generator().manual_seed(1)), steps=3, callback=spy)
    assert len(shown) == 1 and shown[0][1] is True  # one output, created with a display id...
    assert len(handle.updates) == 3  # ...then replaced: after steps 2 and 3 and once at the end
    assert all(set(data) == {"image/png"} and data["image/png"].startswith(b"\x89PNG") for data in handle.updates)
    assert plotted[-1] == [history.train_loss, history.eval_loss]


def test_live_plot_does_nothing_outside_a_notebook(monkeypatch):
    import IPython.display

    from lmnotes import viz

    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: pytest.fail("display called outside Jupyter"))
    assert run(make_model(), VAL, steps=3, callback=viz.LivePlot()).step == 3


# --------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------


def test_checkpoint_resume_is_bitwise_identical_to_training_in_one_go(tmp_path):
    straight = make_model()
    full = run(straight, batches_from(torch.Generator().manual_seed(1)))

    model, generator = make_model(), torch.Generator().manual_seed(1)
    first = run(model, batches_from(generator), stop_at=6)
    path = save_checkpoint(tmp_path / "run.safetensors", model, first, generators={"data": generator},
                           config={"dim": D}, extra={"note": "half way"})

    torch.manual_seed(999)  # disturb every random state a fresh process would differ in
    fresh, fresh_generator = make_model(seed=5), torch.Generator()
    checkpoint = load_checkpoint(path, fresh, generators={"data": fresh_generator})
    assert checkpoint.config == {"dim": D} and checkpoint.extra == {"note": "half way"}
    assert checkpoint.history == first and checkpoint.history.optimizer is not None
    resumed = run(fresh, batches_from(fresh_generator), resume=checkpoint.history)
    assert same_weights(fresh, straight)
    assert resumed.train_loss == full.train_loss and resumed.eval_loss == full.eval_loss

    # the data order is part of what must be restored: without the generator the run differs
    other = make_model(seed=5)
    checkpoint = load_checkpoint(path, other)
    run(other, batches_from(torch.Generator()), resume=checkpoint.history)
    assert not same_weights(other, straight)


def test_checkpoint_is_plain_safetensors_with_tied_weights_stored_once(tmp_path):
    model = make_model(tie=True)
    path = save_checkpoint(tmp_path / "tied.safetensors", model)
    with safe_open(path, framework="pt") as file:
        keys = set(file.keys())
        assert "model.emb.weight" in keys and "model.head.weight" not in keys
        assert file.get_tensor("rng.torch").dtype == torch.uint8
    fresh = make_model(seed=3, tie=True)
    checkpoint = load_checkpoint(path, fresh)
    assert checkpoint.history is None and same_weights(fresh, model)
    assert fresh.head.weight is fresh.emb.weight


def test_mismatched_or_corrupt_checkpoints_raise_clear_errors(tmp_path):
    model = make_model()
    history = run(model, VAL, steps=3)
    path = save_checkpoint(tmp_path / "ok.safetensors", model, history, generators={"data": torch.Generator()})
    with pytest.raises(ValueError, match=r"wrong shapes emb.weight: checkpoint \(16, 8\) vs model \(16, 4\)"):
        load_checkpoint(path, make_model(dim=4))
    with pytest.raises(ValueError, match=r"missing \['extra.bias', 'extra.weight'\]"):
        bigger = make_model()
        bigger.extra = nn.Linear(2, 2)
        load_checkpoint(path, bigger)
    with pytest.raises(ValueError, match="no generator 'other'.*\\['data'\\]"):
        load_checkpoint(path, make_model(), generators={"other": torch.Generator()})
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(truncated, make_model())
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not an lmnotes training checkpoint"):
        load_checkpoint(foreign, make_model())
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors", make_model())


def test_a_tampered_checkpoint_fails_its_sha256(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    model = make_model()
    path = save_checkpoint(tmp_path / "ok.safetensors", model, run(model, VAL, steps=3))
    load_checkpoint(path, make_model())  # intact: loads
    flipped = tmp_path / "flipped.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last tensor
    flipped.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_checkpoint(flipped, make_model())
    with safe_open(path, framework="pt") as file:
        metadata, tensors = file.metadata(), {k: file.get_tensor(k) for k in file.keys()}
    edited = tmp_path / "edited.safetensors"
    save_file(tensors, edited, metadata={**metadata, "lmnotes": metadata["lmnotes"].replace('"lr"', '"lr" ', 1)})
    with pytest.raises(ValueError, match="sha256"):
        load_checkpoint(edited, make_model())


def test_stream_eval_scores_the_first_blocks_and_names_bad_arguments():
    from lmnotes.data import lm_eval_batches
    from lmnotes.training import stream_eval

    model = make_model()
    ids = torch.randint(0, 16, (200,), generator=torch.Generator().manual_seed(0))
    assert stream_eval(model, ids, 8, max_blocks=3) == evaluate(model, list(lm_eval_batches(ids[:25], 32, 8)))
    assert stream_eval(model, ids, 8, max_blocks=None) == evaluate(model, list(lm_eval_batches(ids, 32, 8)))
    for bad in (-1, 0, True, 2.5):
        with pytest.raises((TypeError, ValueError), match="max_blocks"):
            stream_eval(model, ids, 8, max_blocks=bad)
    with pytest.raises((TypeError, ValueError), match="ids"):
        stream_eval(model, ids.float(), 8, max_blocks=None)

"""lmnotes.pretraining.finetuning: modes freeze what they say, heads have the right shapes, the span argmax is the
constrained optimum, a separable toy task is learned, bad input is refused."""

import itertools
import math

import pytest
import torch

from lmnotes import baselines
from lmnotes.adaptation import hidden_states
from lmnotes.models import GPT, Encoder, EncoderConfig, GPTConfig
from lmnotes.pretraining import finetuning as ft
from lmnotes.tokenization import WordTokenizer

torch.set_num_threads(1)

WORDS = ["good", "bad", "the", "film", "is", "a", "b", "c", "d"]


@pytest.fixture(scope="module")
def tok():
    return WordTokenizer(WORDS).to_hf()


def tiny(kind: str, vocab_size: int):
    common = dict(vocab_size=vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16)
    if kind == "encoder":
        return Encoder(EncoderConfig(**common))
    return GPT(GPTConfig(**common, n_kv_head=2, pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False))


def separable(n: int, seed: int):
    """Label = whether the text holds 'good' or 'bad', at a random position among fillers."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        label = int(torch.randint(2, (1,), generator=g))
        words = ["the", "film", "is"]
        words.insert(int(torch.randint(4, (1,), generator=g)), ["bad", "good"][label])
        out.append((" ".join(words), ["negative", "positive"][label]))
    return out


@pytest.mark.parametrize("kind", ["encoder", "gpt"])
@pytest.mark.parametrize("mode", ft.MODES)
def test_modes_train_exactly_what_they_say(tok, kind, mode):
    backbone = tiny(kind, len(tok))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    tuned = ft.finetune(backbone, tok, separable(8, 0), task="classify", labels=("negative", "positive"),
                        mode=mode, steps=2, lr=1e-2)
    # the caller's backbone is never touched
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    model = tuned.model
    batch = ft._collate(ft._encode(model.backbone, tok, separable(4, 1), "classify", ("negative", "positive"), 2),
                        "classify", 0)
    model.train()
    ft.task_loss(model, batch).backward()
    head_grads = [p.grad for p in model.head.parameters()]
    backbone_grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in head_grads)
    if mode == "probe":
        assert all(not p.requires_grad for p in model.backbone.parameters())
        assert all(g is None for g in backbone_grads)
        assert not model.backbone.training  # a frozen backbone keeps dropout off while the head trains
        assert tuned.trainable_parameters == sum(p.numel() for p in model.head.parameters())
        # frozen: the backbone after training is exactly the pre-trained one
        assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    else:
        assert any(g is not None and g.abs().sum() > 0 for g in backbone_grads)
        assert tuned.trainable_parameters == sum(p.numel() for p in model.parameters())


def test_scratch_reinitialises_and_full_starts_from_the_backbone(tok):
    backbone = tiny("encoder", len(tok))
    with torch.no_grad():
        backbone.wte.weight.fill_(0.5)
    data = [(text, int(label == "positive")) for text, label in separable(4, 0)]  # labels as indices
    full = ft.finetune(backbone, tok, data, task="classify", num_labels=2, mode="full", steps=1, lr=1e-6)
    scratch = ft.finetune(backbone, tok, data, task="classify", num_labels=2, mode="scratch", steps=1)
    assert torch.allclose(full.model.backbone.wte.weight, torch.full_like(backbone.wte.weight, 0.5), atol=1e-4)
    assert scratch.model.backbone.wte.weight.std() > 0.01


@pytest.mark.parametrize("kind", ["encoder", "gpt"])
def test_head_shapes_for_every_task(tok, kind):
    backbone = tiny(kind, len(tok))
    cases = {
        "classify": ([("the film is good", 1), ("bad", 0)], dict(num_labels=3), (2, 3)),
        "pair": ([(("the film", "is good"), 1), (("a", "b c"), 0)], dict(num_labels=2), (2, 2)),
        "regress": ([("the film is good", 1.5), (("a", "b"), -1.0)], {}, (2,)),
        "tag": ([("a b c", [0, 1, 2]), ("d", [3])], dict(num_labels=4), None),
        "span": ([(("a b", "the film is good"), (3, 3)), ("a b c", (0, 1))], {}, None),
    }
    for task, (examples, kwargs, want) in cases.items():
        tuned = ft.finetune(backbone, tok, examples, task=task, mode="full", steps=1, **kwargs)
        batch = ft._collate(ft._encode(tuned.model.backbone, tok, examples, task, None, tuned.model.head.out_features),
                            task, 0)
        out = tuned.model(batch)
        T = batch["input_ids"].shape[1]
        assert tuple(out.shape) == (want if want is not None else (2, T, tuned.model.head.out_features))
        predictions = tuned.predict([x for x, _ in examples])
        assert len(predictions) == 2
        if task == "tag":
            assert [len(p) for p in predictions] == [3, 1]
        if task == "span":
            for (s, e), length in zip(predictions, [4, 3]):  # inside the last text, start <= end
                assert 0 <= s <= e < length


def test_encoder_layout_puts_segments_and_answer_positions_right(tok):
    backbone = tiny("encoder", len(tok))
    ids, types, start, end = ft._encode_input(backbone, tok, ("a b", "the film"), "span", 0)
    v = tok.get_vocab()
    assert ids == [tok.bos_token_id, v["a"], v["b"], tok.sep_token_id, v["the"], v["film"], tok.sep_token_id]
    assert types == [0, 0, 0, 0, 1, 1, 1]
    assert ids[start:end] == [v["the"], v["film"]]
    gpt_ids, gpt_types, s, e = ft._encode_input(tiny("gpt", len(tok)), tok, "the film", "classify", 0)
    assert gpt_ids == [v["the"], v["film"]] and gpt_types == [] and (s, e) == (0, 2)


def test_best_span_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    B, T, max_length = 6, 9, 3
    start, end = torch.randn(B, T, generator=g), torch.randn(B, T, generator=g)
    allowed = torch.ones(B, T, dtype=torch.long)
    allowed[:, :2] = 0  # a "question" the answer may not use
    allowed[0, 7:] = 0  # and padding
    got = ft.best_span(start, end, max_length, allowed)
    for b in range(B):
        ok = [i for i in range(T) if allowed[b, i]]
        best = max(((i, j) for i, j in itertools.product(ok, ok) if i <= j < i + max_length),
                   key=lambda ij: start[b, ij[0]] + end[b, ij[1]])
        assert tuple(got[b].tolist()) == best
    # the unconstrained argmaxes would sometimes put the end before the start; the constrained never does
    assert (got[:, 1] >= got[:, 0]).all() and (got[:, 1] - got[:, 0] < max_length).all()


@pytest.mark.parametrize("kind", ["encoder", "gpt"])
def test_learns_a_separable_task_quickly(tok, kind):
    tuned = ft.finetune(tiny(kind, len(tok)), tok, separable(64, 0), task="classify",
                        labels=("negative", "positive"), mode="scratch", steps=60, lr=1e-2)
    assert ft.evaluate(tuned, separable(64, 1))["accuracy"] >= 0.95
    assert tuned.history.train_loss[-1] < tuned.history.train_loss[0]


def test_regression_and_span_learn(tok):
    backbone = tiny("encoder", len(tok))
    data = [(" ".join(["good"] * k + ["bad"] * (4 - k)), float(k)) for k in range(5)] * 4
    tuned = ft.finetune(backbone, tok, data, task="regress", mode="scratch", steps=80, lr=1e-2)
    assert ft.evaluate(tuned, data)["correlation"] > 0.9
    # span: the answer is wherever "good" is
    spans = [(("a", " ".join(["the"] * i + ["good"] + ["the"] * (4 - i))), (i, i)) for i in range(5)] * 4
    tuned = ft.finetune(backbone, tok, spans, task="span", mode="scratch", steps=80, lr=1e-2)
    assert ft.evaluate(tuned, spans)["exact_match"] == 1.0


def test_accuracy_and_span_f1():
    assert ft.accuracy([1, 2, 3], [1, 0, 3]) == pytest.approx(2 / 3)
    assert ft.accuracy([(1, 2), (0, 0)], [[1, 2], (0, 1)]) == 0.5
    assert ft._span_f1((0, 3), (2, 5)) == pytest.approx(0.5)  # 2 of 4 tokens each way
    assert ft._span_f1((0, 1), (2, 3)) == 0.0
    with pytest.raises(ValueError, match="equal length"):
        ft.accuracy([1], [1, 2])


def test_bad_input_is_refused(tok):
    backbone = tiny("encoder", len(tok))
    ok = separable(4, 0)
    kw = dict(labels=("negative", "positive"), mode="full", steps=1)
    with pytest.raises(ValueError, match="task must be one of"):
        ft.finetune(backbone, tok, ok, task="summarise", **kw)
    with pytest.raises(ValueError, match="mode must be one of"):
        ft.finetune(backbone, tok, ok, task="classify", labels=("negative", "positive"), mode="lora", steps=1)
    with pytest.raises(TypeError, match="backbone must be"):
        ft.finetune(torch.nn.Linear(2, 2), tok, ok, task="classify", **kw)
    with pytest.raises(ValueError, match="label must be one of"):
        ft.finetune(backbone, tok, [("the film", "great")], task="classify", **kw)
    with pytest.raises(ValueError, match="needs labels"):
        ft.finetune(backbone, tok, ok, task="classify", mode="full", steps=1)
    with pytest.raises(ValueError, match="non-empty list"):
        ft.finetune(backbone, tok, [], task="classify", **kw)
    with pytest.raises(TypeError, match="needs inputs"):
        ft.finetune(backbone, tok, ok, task="pair", **kw)
    with pytest.raises(ValueError, match="one tag per token"):
        ft.finetune(backbone, tok, [("a b c", [0, 1])], task="tag", num_labels=2, mode="full", steps=1)
    with pytest.raises(ValueError, match="span must be"):
        ft.finetune(backbone, tok, [("a b c", (2, 1))], task="span", mode="full", steps=1)
    with pytest.raises(ValueError, match="block_size=16"):
        ft.finetune(backbone, tok, [(" ".join(["a"] * 20), "positive")], task="classify", **kw)
    with pytest.raises(ValueError, match="pool must be"):
        ft.finetune(backbone, tok, ok, task="classify", pool="max", **kw)
    with pytest.raises(ValueError, match="token_type_ids must be None"):
        hidden_states(tiny("gpt", len(tok)), torch.zeros(1, 3, dtype=torch.long),
                      token_type_ids=torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="max_length"):
        ft.best_span(torch.zeros(1, 3), torch.zeros(1, 3), max_length=0)


def test_naive_bayes_by_hand():
    vocab = ["bad", "film", "good"]
    x = baselines.ngram_counts(["good good film", "bad film", "film"], vocab)
    assert x.tolist() == [[0, 1, 2], [1, 1, 0], [0, 1, 0]]
    labels = torch.tensor([1, 0, 0])
    # by hand, add-one smoothing: class 0 counts (1+1, 2+1, 0+1)/9, class 1 counts (0+1, 1+1, 2+1)/6; priors 2/3, 1/3
    test = baselines.ngram_counts(["good", "bad", "film film"], vocab)
    p0 = torch.tensor([2 / 9, 3 / 9, 1 / 9]).log()
    p1 = torch.tensor([1 / 6, 2 / 6, 3 / 6]).log()
    want = ((test @ p1 + math.log(1 / 3)) > (test @ p0 + math.log(2 / 3))).long()
    assert ft.naive_bayes(x, labels, test).tolist() == want.tolist() == [1, 0, 0]


def test_tune_picks_the_best_dev_setting_and_its_row_matches_a_plain_run(tok):
    backbone, train_set, dev = tiny("gpt", len(tok)), separable(64, 0), separable(64, 1)
    kw = dict(task="classify", labels=("negative", "positive"), mode="scratch", seed=0)
    grid = [dict(lr=1e-6, steps=5), dict(lr=1e-2, steps=60)]
    best, rows = ft.tune(backbone, tok, train_set, dev, grid=grid, **kw)
    assert best == grid[1] and [{k: r[k] for k in ("lr", "steps")} for r in rows] == grid
    assert rows[1]["dev_accuracy"] >= 0.95 > rows[0]["dev_accuracy"]
    plain = ft.evaluate(ft.finetune(backbone, tok, train_set, **grid[0], **kw), dev)["accuracy"]
    assert rows[0]["dev_accuracy"] == plain  # each row is an ordinary finetune run, scored on dev
    same, _ = ft.tune(backbone, tok, train_set, dev, grid=[grid[1], dict(grid[1])], **kw)
    assert same is not grid[1] and same == grid[1]  # a tie goes to the first setting, returned as a copy
    with pytest.raises(ValueError, match="grid must be"):
        ft.tune(backbone, tok, train_set, dev, grid=[], **kw)
    with pytest.raises(ValueError, match="must not both set"):
        ft.tune(backbone, tok, train_set, dev, grid=[dict(seed=1)], **kw)
    with pytest.raises(ValueError, match="metric must be one of"):
        ft.tune(backbone, tok, train_set, dev, grid=grid, metric="mse", **kw)
    with pytest.raises(ValueError, match="dev must be"):
        ft.tune(backbone, tok, train_set, [], grid=grid, **kw)


@pytest.mark.parametrize("kind", ["encoder", "gpt"])
def test_features_are_what_a_probe_head_reads(tok, kind):
    backbone = tiny(kind, len(tok))
    examples = separable(6, 3)
    tuned = ft.finetune(backbone, tok, examples, task="classify", labels=("negative", "positive"), mode="probe",
                        steps=2, lr=1e-2)
    x = ft.features(tuned.model.backbone, tok, [t for t, _ in examples], batch_size=4)
    assert x.shape == (6, 16)
    batch = ft._collate(ft._encode(tuned.model.backbone, tok, examples, "classify", ("negative", "positive"), 2),
                        "classify", 0)
    with torch.no_grad():
        assert torch.allclose(tuned.model.head(x), tuned.model(batch), atol=1e-5)
    # the backbone is left in the mode it was in, and pairs read as the pair task does
    backbone.train()
    ft.features(backbone, tok, [("the film", "is good")])
    assert backbone.training
    with pytest.raises(ValueError, match="inputs"):
        ft.features(backbone, tok, [])
    with pytest.raises(ValueError, match="pool"):
        ft.features(backbone, tok, ["the film"], pool="max")


def test_forgetting_runs_read_task_1_with_both_heads_and_replay_keeps_it(tok):
    first = ft.finetune(tiny("encoder", len(tok)), tok, separable(64, 0), task="classify",
                        labels=("negative", "positive"), mode="scratch", steps=60, lr=1e-2)
    # task 2: "a" or "b" somewhere among the fillers; task 1's word is absent
    second = [(" ".join(["the", "film", "is"][:i] + [w] + ["the", "film", "is"][i:]), w.upper())
              for i in range(4) for w in ("a", "b")] * 8
    got = ft.forgetting_runs(first, second, replay_from=separable(64, 2), first_test=separable(64, 1),
                             second_test=second, labels=("negative", "positive", "A", "B"), steps=40, lr=1e-2,
                             shares=(0.0, 1.0))
    assert set(got) == {"after task 1"} | {f"{run}, {what}" for run in ("no replay", "100% replay")
                                           for what in ("task-1 head", "new head", "task 2")}
    assert got["after task 1"] == ft.evaluate(first, separable(64, 1))["accuracy"] >= 0.95
    assert got["no replay, new head"] == 0.0  # a head that only ever saw task 2's labels answers with them
    assert got["100% replay, new head"] >= 0.9 and got["no replay, task 2"] >= 0.9
    with pytest.raises(ValueError, match="shares"):
        ft.forgetting_runs(first, second, replay_from=separable(4, 2), first_test=separable(8, 1), second_test=second,
                           labels=("negative", "positive", "A", "B"), steps=1, shares=(0.5,))
    with pytest.raises(TypeError, match="first"):
        ft.forgetting_runs("model", second, replay_from=[], first_test=[], second_test=second, labels=("A",), steps=1)

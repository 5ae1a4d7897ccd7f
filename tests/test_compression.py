import pytest
import torch
import torch.nn.functional as F

from lmnotes.models import Encoder, EncoderConfig
from lmnotes.pretraining.compression import (
    distillation_loss,
    distillation_objective,
    head_importance,
    heads_removed,
    parameter_breakdown,
    prune_heads,
    pruning_curve,
    pruning_order,
    share_layers,
    student_from_teacher,
)
from lmnotes.training import train

torch.set_num_threads(1)


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    config = dict(vocab_size=40, block_size=16, n_layer=2, n_head=4, n_embd=16)
    return Encoder(EncoderConfig(**{**config, **overrides})).eval()


def ids(B=3, T=7, seed=1):
    return torch.randint(0, 40, (B, T), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# Parameter counts


def _hf_component(name: str) -> str:
    if ".embeddings." in name and "LayerNorm" not in name:
        return "embeddings"
    if "LayerNorm" in name and "predictions" not in name:
        return "layer norms"
    if ".attention." in name:
        return "attention"
    if ".intermediate." in name or ".output.dense" in name:
        return "feed-forward"
    if "pooler" in name:
        return "pooler"
    if "predictions" in name:
        return "MLM head"
    if "seq_relationship" in name:
        return "task heads"
    raise AssertionError(name)


def test_parameter_breakdown_matches_transformers_bert_component_by_component():
    from transformers import BertConfig, BertForPreTraining

    hf_config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                           intermediate_size=128, max_position_embeddings=24, type_vocab_size=2)
    with torch.device("meta"):
        hf = BertForPreTraining(hf_config)
        ours = Encoder(EncoderConfig(vocab_size=100, n_embd=32, n_layer=3, n_head=4, block_size=24,
                                     num_labels=2, num_token_labels=1))
    theirs = {}
    for name, p in hf.named_parameters():
        theirs[_hf_component(name)] = theirs.get(_hf_component(name), 0) + p.numel()
    counts = parameter_breakdown(ours)
    # our extra heads: token tagging (C + 1) * 1 and span extraction (C + 1) * 2; BERT has only NSP
    counts["task heads"] -= 33 * 3
    assert counts == theirs
    assert sum(parameter_breakdown(ours).values()) == ours.config.num_params()


def test_bert_base_and_large_counts_from_their_configs():
    for name, low, high in (("bert-base", 109e6, 111e6), ("bert-large", 334e6, 337e6)):
        config = EncoderConfig.preset(name)
        with torch.device("meta"):
            model = Encoder(config)
        counts = parameter_breakdown(model)
        assert sum(counts.values()) == config.num_params()
        assert low < sum(counts.values()) < high
        C, L = config.n_embd, config.n_layer
        assert counts["attention"] == L * (4 * C * C + 4 * C)
        assert counts["feed-forward"] == L * (8 * C * C + 5 * C)


def test_parameter_breakdown_counts_shared_and_tied_weights_once():
    model = tiny()
    total = sum(p.numel() for p in model.parameters())
    assert sum(parameter_breakdown(model).values()) == total
    with pytest.raises(TypeError, match="model must be"):
        parameter_breakdown("bert")


# ---------------------------------------------------------------------------------------------
# Distillation


def test_distillation_loss_is_hintons_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 5, 11, generator=g), torch.randn(2, 5, 11, generator=g)
    labels = torch.randint(0, 11, (2, 5), generator=g)
    labels[0, :3] = -100
    keep = labels != -100
    T = 3.0
    p_t = F.softmax(t[keep] / T, -1)
    kl = (p_t * (p_t.log() - F.log_softmax(s[keep] / T, -1))).sum(-1).mean() * T * T
    ce = F.cross_entropy(s[keep], labels[keep])
    got = distillation_loss(s, t, labels, temperature=T, alpha=0.3)
    assert torch.allclose(got, 0.3 * kl + 0.7 * ce, atol=1e-5)
    assert torch.allclose(distillation_loss(s, t, labels, alpha=0.0), ce, atol=1e-6)
    assert distillation_loss(t, t, labels, alpha=1.0).abs() < 1e-6  # a perfect student
    assert distillation_loss(s, t, temperature=T, alpha=1.0) > 0  # every position counts


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=0), "temperature"), (dict(alpha=1.5), "alpha"), (dict(alpha=True), "alpha"),
])
def test_distillation_loss_rejects_bad_settings(kwargs, match):
    s = torch.zeros(2, 3)
    with pytest.raises((TypeError, ValueError), match=match):
        distillation_loss(s, s, torch.zeros(2, dtype=torch.long), **kwargs)


def test_distillation_loss_rejects_mismatches():
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="alpha must be 1"):
        distillation_loss(torch.zeros(2, 3), torch.zeros(2, 3), alpha=0.5)
    with pytest.raises(ValueError, match="every label is -100"):
        distillation_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.full((2,), -100))


def test_distilled_student_moves_towards_its_teacher_and_the_teacher_is_untouched():
    teacher, student = tiny(seed=0), tiny(seed=1, n_layer=1, n_embd=8, n_head=2)
    x = ids(B=8, T=8)
    labels = torch.where(torch.rand(x.shape, generator=torch.Generator().manual_seed(2)) < 0.3, x, -100)
    labels[:, 0] = x[:, 0]
    batch = {"input_ids": x, "labels": labels}
    before_teacher = [p.clone() for p in teacher.parameters()]
    loss_fn = distillation_objective(teacher, temperature=2.0, alpha=1.0)
    start = loss_fn(student, batch).item()
    train(student, [batch], steps=30, lr=1e-2, loss_fn=loss_fn, progress=False)
    assert loss_fn(student, batch).item() < 0.5 * start
    assert all(torch.equal(a, b) for a, b in zip(before_teacher, teacher.parameters()))
    with pytest.raises(TypeError, match="teacher"):
        distillation_objective("bert")


# ---------------------------------------------------------------------------------------------
# Head pruning


def test_removing_a_head_equals_silencing_its_values_and_is_undone_afterwards():
    model = tiny()
    x = ids()
    full = model(x)
    layer, head, d = 1, 2, 4
    with heads_removed(model, [(layer, head)]):
        pruned = model(x)
    assert torch.equal(model(x), full)  # weights restored
    assert not torch.allclose(pruned, full, atol=1e-4)
    # independent route: a head whose value vectors are all zero outputs zero
    silenced = tiny()
    with torch.no_grad():
        rows = slice(2 * 16 + head * d, 2 * 16 + (head + 1) * d)  # value rows of the fused qkv
        silenced.blocks[layer].attn.qkv.weight[rows] = 0
        silenced.blocks[layer].attn.qkv.bias[rows] = 0
    assert torch.allclose(silenced(x), pruned, atol=1e-5)


def test_heads_removed_restores_weights_after_an_error():
    model = tiny()
    before = model.blocks[0].attn.proj.weight.clone()
    with pytest.raises(RuntimeError), heads_removed(model, [(0, 0), (0, 1)]):
        raise RuntimeError("boom")
    assert torch.equal(model.blocks[0].attn.proj.weight, before)


@pytest.mark.parametrize("heads", [[(2, 0)], [(0, 4)], [(0, -1)], [(0,)], ["0,1"]])
def test_bad_heads_are_rejected(heads):
    with pytest.raises(ValueError, match="heads must be"), heads_removed(tiny(), heads):
        pass


def test_prune_heads_is_permanent_and_counts_what_a_deployment_would_slice_away():
    model, reference = tiny(), tiny()
    x = ids()
    with heads_removed(reference, [(0, 1), (1, 3)]):
        want = reference(x)
    freed = prune_heads(model, [(0, 1), (1, 3)])
    assert torch.allclose(model(x), want, atol=1e-6)
    C, d = 16, 4
    assert freed == 2 * (4 * d * C + 3 * d)  # per head: q, k, v rows (+ biases) and W_o columns


def test_head_importance_is_the_loss_change_of_each_single_removal():
    model, x = tiny(), ids()
    target = ids(seed=5)

    def score(m):
        return F.cross_entropy(m(x).flatten(0, 1), target.flatten()).item()

    base = score(model)
    cost = head_importance(model, score)
    assert cost.shape == (2, 4)
    with heads_removed(model, [(1, 2)]):
        assert cost[1, 2].item() == pytest.approx(score(model) - base, abs=1e-6)
    order = pruning_order(cost)
    assert sorted(order) == [(i, h) for i in range(2) for h in range(4)]
    assert cost[order[0]] == cost.min() and cost[pruning_order(cost, "most important first")[0]] == cost.max()
    curve = pruning_curve(model, score, order[:3])
    assert len(curve) == 4 and curve[0] == pytest.approx(base)
    assert curve[1] == pytest.approx(base + cost[order[0]].item(), abs=1e-6)
    with pytest.raises(ValueError, match="order must be"):
        pruning_order(cost, "random")
    with pytest.raises(TypeError, match="score_fn must return a number"):
        head_importance(model, lambda m: "low")


# ---------------------------------------------------------------------------------------------
# Cross-layer parameter sharing


def test_share_layers_keeps_depth_but_stores_one_block():
    unshared = tiny(n_layer=3)
    shared = share_layers(tiny(n_layer=3))
    block = sum(p.numel() for p in unshared.blocks[0].parameters())
    n_unshared = sum(p.numel() for p in unshared.parameters())
    assert sum(p.numel() for p in shared.parameters()) == n_unshared - 2 * block
    assert len(shared.blocks) == 3 and shared.blocks[0] is shared.blocks[2]
    # the shared model applies block 0 three times: compare with a hand-rolled forward pass
    x = ids()
    h = shared.norm_emb(shared.wte(x) + shared.positions.embed(torch.arange(x.shape[1])[None])
                        + shared.segments(torch.zeros_like(x)))
    for _ in range(3):
        h = shared.blocks[0](h)
    assert torch.allclose(shared.encode(x), h, atol=1e-5)
    with pytest.raises(TypeError, match="blocks"):
        share_layers(torch.nn.Linear(2, 2))


def test_student_from_teacher_keeps_the_chosen_layers():
    teacher = tiny(n_layer=3)
    student = student_from_teacher(teacher, [0, 2])
    assert student.config.n_layer == 2 and teacher.config.n_layer == 3
    assert torch.equal(student.blocks[1].ffn.up.weight, teacher.blocks[2].ffn.up.weight)
    assert torch.equal(student.wte.weight, teacher.wte.weight)
    assert student.mlm_head.weight is student.wte.weight  # still tied
    # with all its layers, the student computes exactly what the teacher computes
    x = ids()
    assert torch.allclose(student_from_teacher(teacher, [0, 1, 2])(x), teacher(x))
    student.blocks[0].ffn.up.weight.data.zero_()
    assert teacher.blocks[0].ffn.up.weight.abs().sum() > 0  # a copy, not a view
    with pytest.raises(ValueError, match="layers must be"):
        student_from_teacher(teacher, [3])
    with pytest.raises(ValueError, match="layers must be"):
        student_from_teacher(teacher, [])


def _masked_batches(seed: int) -> list[dict]:
    """Four masked-LM batches of random ids: every third token masked (id 5) and labelled."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(4):
        x = torch.randint(6, 40, (4, 8), generator=g)
        labels = torch.full_like(x, -100)
        labels[:, ::3] = x[:, ::3]
        batches.append({"input_ids": x.masked_fill(labels != -100, 5), "labels": labels})
    return batches


def test_sharing_curves_train_each_setting_from_the_same_start_and_count_shared_weights_once():
    from lmnotes.pretraining.compression import sharing_curves

    teacher = tiny(n_layer=2)
    batches = _masked_batches(seed=3)
    score = lambda m: F.cross_entropy(m(batches[0]["input_ids"]).flatten(0, 1), batches[0]["labels"].flatten(),
                                      ignore_index=-100).item()
    settings = {"2 layers": ((1, 1), False), "2 shared": ((1, 1), True), "1 layer": ((1,), False)}
    curves = sharing_curves(teacher, batches, score, steps=4, eval_every=2, settings=settings)
    assert list(curves) == list(settings) and curves["2 layers"]["eval_steps"] == [0, 2, 4]
    block = sum(p.numel() for p in teacher.blocks[1].parameters())
    assert curves["2 layers"]["params"] - curves["2 shared"]["params"] == block
    assert curves["2 shared"]["params"] == curves["1 layer"]["params"]
    start = score(student_from_teacher(teacher, [1, 1]))
    assert curves["2 layers"]["eval_loss"][0] == pytest.approx(start) == curves["2 shared"]["eval_loss"][0]
    assert curves["2 layers"]["eval_loss"][-1] < start  # it trained
    again = sharing_curves(teacher, batches, score, steps=4, eval_every=2, settings=settings)
    assert again == curves  # deterministic
    with pytest.raises(ValueError, match="batches"):
        sharing_curves(teacher, batches, score, steps=5)


def test_distillation_runs_train_both_students_from_the_same_start_and_hard_labels_skip_the_teacher():
    from lmnotes.pretraining.compression import DISTILLATION_ALPHAS, distillation_runs

    teacher = tiny(n_layer=2)
    batches = _masked_batches(seed=4)

    def scores(m):
        logits = m(batches[0]["input_ids"])
        return {"MLM loss": F.cross_entropy(logits.flatten(0, 1), batches[0]["labels"].flatten(), ignore_index=-100).item(),
                "accuracy": 0.5}

    runs = distillation_runs(teacher, batches, scores, steps=4, layers=(0,), eval_every=2)
    assert list(runs) == list(DISTILLATION_ALPHAS) and runs["hard labels"]["eval_steps"] == [0, 2, 4]
    start = scores(student_from_teacher(teacher, [0]))["MLM loss"]
    assert runs["hard labels"]["eval_loss"][0] == pytest.approx(start) == runs["hard + soft labels"]["eval_loss"][0]
    assert runs["hard labels"]["MLM loss"] == runs["hard labels"]["eval_loss"][-1] < start  # it trained
    assert runs["hard labels"]["MLM loss"] != runs["hard + soft labels"]["MLM loss"]  # the soft labels change it
    # alpha = 0 never runs the teacher, and its loss is the plain cross-entropy of the data labels
    calls = []
    hook = teacher.register_forward_hook(lambda *args: calls.append(1))
    student = student_from_teacher(teacher, [0])
    hard = distillation_objective(teacher, alpha=0.0)(student, batches[1])
    hook.remove()
    logits = student(batches[1]["input_ids"])
    assert not calls and hard.item() == pytest.approx(
        F.cross_entropy(logits.flatten(0, 1), batches[1]["labels"].flatten(), ignore_index=-100).item())
    with pytest.raises(ValueError, match="batches"):
        distillation_runs(teacher, batches, scores, steps=5)

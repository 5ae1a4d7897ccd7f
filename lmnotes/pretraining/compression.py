"""Smaller and cheaper encoders (book §1.3.3, "More Efficient Models"): where the parameters are,
knowledge distillation, head pruning and cross-layer parameter sharing.

* ``parameter_breakdown(model)``: count a model's parameters by component (embeddings, attention,
  feed-forward, norms, pooler, heads). Build the model on the ``meta`` device to count BERT-large
  without allocating its 1.3 GB.
* Distillation (Hinton et al. 2015; DistilBERT): a small *student* learns from a large *teacher*'s
  output distribution, softened by a temperature, instead of (or as well as) the one-hot data labels.
  The loss is ``lmnotes.training.distillation_loss`` (in the core: context distillation in chapter 3
  uses it too); ``distillation_objective(teacher)`` plugs it into ``lmnotes.training.train``, and
  ``distillation_runs`` trains notebook 04's students with and without the soft labels.
* Head pruning (Michel et al. 2019, "Are sixteen heads really better than one?"): remove one
  attention head and measure what it costs. A head's output enters the model only through its slice
  of columns of the output projection, so zeroing that slice removes the head exactly.
  ``heads_removed`` does it temporarily, ``head_importance`` scans every head, ``prune_heads`` makes
  it permanent (``lmnotes.widgets.pruning_explorer`` lets a learner try it).
* Cross-layer parameter sharing (ALBERT, Lan et al. 2020): every layer reuses one block's weights,
  so depth no longer costs parameters (it still costs compute). ``share_layers`` turns a model into
  its shared version.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn

from lmnotes import checks
from lmnotes.training import distillation_loss, evaluating, train

#: the components of ``parameter_breakdown``, in the order a forward pass meets them
COMPONENTS = ("embeddings", "attention", "feed-forward", "layer norms", "pooler", "MLM head",
              "task heads", "output")


def _component(name: str) -> str:
    """Which component a parameter belongs to, from its name in our models (Encoder, GPT, ...)."""
    top = name.split(".")[0]
    if top == "blocks":
        sub = name.split(".")[2]
        if sub in ("attn", "cross_attn"):
            return "attention"
        if sub == "ffn":
            return "feed-forward"
        return "layer norms"
    if top in ("wte", "positions", "segments"):
        return "embeddings"
    if top.startswith("mlm_"):
        return "MLM head"
    if top == "pooler":
        return "pooler"
    if top in ("cls_head", "token_head", "span_head"):
        return "task heads"
    if "norm" in top:
        return "layer norms"
    return "output"


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters of ``model`` per component (see ``COMPONENTS``); components with none are left out.

    Each tensor is counted once, so tied weights (BERT's MLM output matrix *is* the token-embedding
    matrix) and shared layers (``share_layers``) are not counted twice. The values sum to
    ``sum(p.numel() for p in model.parameters())``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    counts = dict.fromkeys(COMPONENTS, 0)
    for name, p in model.named_parameters():  # named_parameters skips repeated (shared) tensors
        counts[_component(name)] += p.numel()
    return {k: v for k, v in counts.items() if v}


# --------------------------------------------------------------------------------------------------
# Knowledge distillation
# --------------------------------------------------------------------------------------------------


def student_from_teacher(teacher: nn.Module, layers: Sequence[int]) -> nn.Module:
    """A shallower copy of ``teacher`` that keeps its blocks ``layers`` (DistilBERT's initialisation:
    every other layer of BERT-base). Embeddings and heads are copied too; ``teacher`` is unchanged.

    A layer may be listed more than once (each copy is then independent until ``share_layers``).
    """
    blocks = getattr(teacher, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or not hasattr(teacher, "config"):
        raise TypeError(f"teacher must be an lmnotes model with .config and .blocks, got {type(teacher).__name__}")
    layers = list(layers)
    if not layers or not all(isinstance(i, int) and 0 <= i < len(blocks) for i in layers):
        raise ValueError(f"layers must be a non-empty list of block indices in [0, {len(blocks)}), got {layers!r}")
    config = type(teacher.config).from_dict({**teacher.config.to_dict(), "n_layer": len(layers)})
    student = type(teacher)(config)
    state = {k: v for k, v in teacher.state_dict().items() if not k.startswith("blocks.")}
    for new, old in enumerate(layers):
        state.update({f"blocks.{new}.{k}": v for k, v in blocks[old].state_dict().items()})
    student.load_state_dict(state)
    return student.train(teacher.training)


def distillation_objective(teacher: nn.Module, *, temperature: float = 2.0,
                           alpha: float = 0.5) -> Callable[[nn.Module, Mapping], torch.Tensor]:
    """A ``loss_fn(student, batch)`` for ``lmnotes.training.train``: the frozen ``teacher`` (in eval
    mode, no gradients) labels each masked-LM batch ``{"input_ids", "labels"}`` on the fly."""
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long),
                      temperature=temperature, alpha=alpha)  # check the settings up front
    teacher.eval().requires_grad_(False)

    def loss_fn(student: nn.Module, batch: Mapping) -> torch.Tensor:
        logits = student(batch["input_ids"])
        if alpha == 0:  # hard labels only: the soft term has weight 0, so the teacher need not run
            return distillation_loss(logits, logits.detach(), batch["labels"], temperature=temperature, alpha=0.0)
        with torch.no_grad():
            teacher_logits = teacher(batch["input_ids"])
        return distillation_loss(logits, teacher_logits, batch["labels"], temperature=temperature, alpha=alpha)

    return loss_fn


#: notebook 04's two students: hard labels only, and hard + soft labels (DistilBERT's two terms)
DISTILLATION_ALPHAS = {"hard labels": 0.0, "hard + soft labels": 0.5}


def distillation_runs(teacher: nn.Module, batches: Sequence, score_fn: Callable[[nn.Module], Mapping[str, float]], *,
                      steps: int, layers: Sequence[int] = (0, 2), alphas: Mapping[str, float] = DISTILLATION_ALPHAS,
                      temperature: float = 2.0, lr: float = 1e-3, eval_every: int = 15) -> dict[str, dict]:
    """Train one student per ``alphas`` entry, each ``student_from_teacher(teacher, layers)``, on the
    same ``batches`` with ``distillation_objective(teacher, alpha=...)`` (warm-up 5 updates), and
    return per student ``score_fn``'s final scores (e.g. ``{"MLM loss", "accuracy"}``) with
    ``"eval_steps"`` and ``"eval_loss"``, its ``"MLM loss"`` every ``eval_every`` updates."""
    students = {name: (layers, False, distillation_objective(teacher, temperature=temperature, alpha=alpha))
                for name, alpha in dict(alphas).items()}
    runs = _train_students(teacher, batches, students, lambda m: score_fn(m)["MLM loss"], steps=steps,
                           eval_every=eval_every, lr=lr)
    return {name: {**{k: float(v) for k, v in score_fn(model).items()}, **curve} for name, (model, curve) in runs.items()}


def _train_students(teacher: nn.Module, batches: Sequence, students: Mapping, eval_fn: Callable, *, steps: int,
                    eval_every: int, lr: float) -> dict[str, tuple[nn.Module, dict]]:
    """The one loop behind :func:`distillation_runs` and :func:`sharing_curves`: for each
    ``name -> (layers, shared, loss_fn)`` (``loss_fn`` None for the plain loss), build
    ``student_from_teacher(teacher, layers)`` (ALBERT-shared when ``shared``), train it on ``batches``
    (warm-up 5 updates) and return ``name -> (model, {"eval_steps", "eval_loss"})``."""
    steps, eval_every, lr = checks.size("steps", steps), checks.size("eval_every", eval_every), checks.positive("lr", lr)
    if len(batches) < steps:
        raise ValueError(f"batches must hold at least steps = {steps} batches, got {len(batches)}")
    runs = {}
    for name, (layers, shared, loss_fn) in students.items():
        model = student_from_teacher(teacher, list(layers))
        if shared:
            share_layers(model)
        history = train(model, list(batches), steps=steps, lr=lr, warmup=min(5, steps - 1), progress=False,
                        loss_fn=loss_fn, eval_fn=eval_fn, eval_every=eval_every)
        runs[name] = (model, {"eval_steps": list(history.eval_steps), "eval_loss": [float(v) for v in history.eval_loss]})
    return runs


# --------------------------------------------------------------------------------------------------
# Head pruning
# --------------------------------------------------------------------------------------------------


def _attentions(model: nn.Module) -> list[nn.Module]:
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList):
        raise TypeError(f"model must have a ModuleList of Transformer blocks in .blocks "
                        f"(an lmnotes Encoder or GPT), got {type(model).__name__}")
    return [block.attn for block in blocks]


def _check_heads(model: nn.Module, heads: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    attentions = _attentions(model)
    if isinstance(heads, (str, bytes)) or not isinstance(heads, Iterable):
        raise TypeError(f"heads must be a list of (layer, head) pairs, got {type(heads).__name__}")
    out = []
    for item in heads:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"heads must be (layer, head) pairs, got {item!r}")
        layer = checks.integer("the layer of heads", item[0], 0, len(attentions) - 1)
        out.append((layer, checks.integer("the head of heads", item[1], 0, attentions[layer].n_head - 1)))
    return sorted(set(out))


def _head_columns(attn: nn.Module, head: int) -> slice:
    """The columns of the output projection that read head ``head``'s output."""
    return slice(head * attn.d_head, (head + 1) * attn.d_head)


@contextlib.contextmanager
def heads_removed(model: nn.Module, heads: Iterable[tuple[int, int]]) -> Iterator[nn.Module]:
    """Inside the ``with`` block, ``model`` runs without the attention heads ``heads`` ((layer, head)
    pairs); their weights come back afterwards, even after an error.

    Multi-head attention concatenates the heads' outputs and multiplies by the output projection
    W_o, so head h reaches the rest of the model only through W_o's columns h*d .. (h+1)*d-1.
    Zeroing them removes the head exactly, as if it had never been computed.
    """
    attentions = _attentions(model)
    saved = {}
    with torch.no_grad():
        for layer, head in _check_heads(model, heads):
            proj = attentions[layer].proj.weight
            cols = _head_columns(attentions[layer], head)
            saved[layer, head] = proj[:, cols].clone()
            proj[:, cols] = 0
    try:
        yield model
    finally:
        with torch.no_grad():
            for (layer, head), weights in saved.items():
                attentions[layer].proj.weight[:, _head_columns(attentions[layer], head)] = weights


def prune_heads(model: nn.Module, heads: Iterable[tuple[int, int]]) -> int:
    """Remove attention heads for good (in place) and return the number of parameters they held.

    The head's output-projection columns are zeroed (as in ``heads_removed``) and so are its query,
    key and value rows, which then compute nothing the model uses: a deployment would slice these
    rows and columns away (the count returned). Grouped-query key/value heads shared with other
    query heads are kept.
    """
    attentions = _attentions(model)
    freed = 0
    with torch.no_grad():
        for layer, head in _check_heads(model, heads):
            attn = attentions[layer]
            cols = _head_columns(attn, head)
            attn.proj.weight[:, cols] = 0
            C = attn.proj.weight.shape[0]
            attn.qkv.weight[cols] = 0  # the head's query rows come first in the fused matrix
            freed += attn.d_head * C * 2  # its query rows and output-projection columns
            if attn.qkv.bias is not None:
                attn.qkv.bias[cols] = 0
                freed += attn.d_head
            if attn.n_kv_head == attn.n_head:  # its own key and value rows
                for start in (C, 2 * C):  # keys, then values, follow the C query rows
                    rows = slice(start + cols.start, start + cols.stop)
                    attn.qkv.weight[rows] = 0
                    freed += attn.d_head * C
                    if attn.qkv.bias is not None:
                        attn.qkv.bias[rows] = 0
                        freed += attn.d_head
    return freed


def _score(score_fn: Callable[[nn.Module], float], model: nn.Module) -> float:
    value = score_fn(model)
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"score_fn must return a number, got {type(value).__name__}")
    return float(value)


@torch.no_grad()
def head_importance(model: nn.Module, score_fn: Callable[[nn.Module], float]) -> torch.Tensor:
    """The cost of removing each attention head alone: ``score_fn(model without head) - score_fn(model)``,
    as an (n_layer, n_head) tensor.

    ``score_fn(model) -> float`` is any measure where lower is better, e.g. the masked-LM loss on a
    fixed held-out batch (use minus the accuracy for a task). A large value marks a head the model
    needs; values near zero (or below) mark heads that can go (Michel et al. 2019).
    """
    with evaluating(model):
        base = _score(score_fn, model)
        attentions = _attentions(model)
        cost = torch.zeros(len(attentions), attentions[0].n_head)
        for layer, attn in enumerate(attentions):
            for head in range(attn.n_head):
                with heads_removed(model, [(layer, head)]):
                    cost[layer, head] = _score(score_fn, model) - base
    return cost


PRUNING_ORDERS = ("least important first", "most important first")


def pruning_order(importance: torch.Tensor, order: str = "least important first") -> list[tuple[int, int]]:
    """Every (layer, head), sorted by ``importance`` (an (n_layer, n_head) tensor from ``head_importance``):
    "least important first" (the sensible pruning order) or "most important first" (the worst one)."""
    checks.finite_tensor("importance", checks.tensor("importance", importance, ndim=2, dtype="float"))
    if order not in PRUNING_ORDERS:
        raise ValueError(f"order must be one of {list(PRUNING_ORDERS)}, got {order!r}")
    n_head = importance.shape[1]
    ranked = importance.flatten().argsort(descending=order == "most important first", stable=True).tolist()
    return [(i // n_head, i % n_head) for i in ranked]


def pruning_curve(model: nn.Module, score_fn: Callable[[nn.Module], float],
                  order: list[tuple[int, int]]) -> list[float]:
    """``score_fn`` after removing the first 0, 1, ..., len(order) heads of ``order`` together."""
    order = list(order)
    _check_heads(model, order)
    with evaluating(model):
        scores = []
        with torch.no_grad():
            for k in range(len(order) + 1):
                with heads_removed(model, order[:k]):
                    scores.append(_score(score_fn, model))
    return scores


# --------------------------------------------------------------------------------------------------
# Cross-layer parameter sharing
# --------------------------------------------------------------------------------------------------


def share_layers(model: nn.Module) -> nn.Module:
    """ALBERT's cross-layer parameter sharing, in place: every layer becomes the first block.

    The model still applies ``n_layer`` blocks in sequence (same compute, same depth), but they are
    one set of weights, so the blocks hold 1/n_layer of the parameters they held. Returns ``model``.
    """
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or len(blocks) == 0:
        raise TypeError(f"model must have a non-empty ModuleList of blocks in .blocks, got {type(model).__name__}")
    model.blocks = nn.ModuleList([blocks[0]] * len(blocks))
    return model


#: notebook 04's sharing comparison: name -> (teacher blocks the model starts from, shared or not)
SHARING_SETTINGS = {"4 layers": ((1, 1, 1, 1), False), "4 layers, shared": ((1, 1, 1, 1), True),
                    "1 layer": ((1,), False)}


def sharing_curves(teacher: nn.Module, batches: Sequence, score_fn: Callable[[nn.Module], float], *,
                   steps: int, eval_every: int = 15, lr: float = 1e-3,
                   settings: Mapping[str, tuple[Sequence[int], bool]] = SHARING_SETTINGS) -> dict[str, dict]:
    """Train one model per setting from the same start on the same ``batches`` and return, per
    setting, ``{"params", "eval_steps", "eval_loss"}`` (``score_fn`` every ``eval_every`` updates).

    Each model is ``student_from_teacher(teacher, layers)``, made ALBERT-shared (``share_layers``)
    where the setting says so; training is ``lmnotes.training.train`` (warm-up 5 updates, seed 0)."""
    students = {name: (layers, shared, None) for name, (layers, shared) in dict(settings).items()}
    runs = _train_students(teacher, batches, students, score_fn, steps=steps, eval_every=eval_every, lr=lr)
    return {name: {"params": sum(p.numel() for p in model.parameters()), **curve} for name, (model, curve) in runs.items()}

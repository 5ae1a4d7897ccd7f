"""Tools for long sequences beside the models (book section 2.3).

* ``kv_bytes_per_token``: what the KV cache costs per token of context (MHA vs GQA vs MQA, 2.3.4).
* ``linear_attention`` / ``LinearAttentionState``: causal linear attention (Katharopoulos et al.
  2020, section 2.3.2) in its parallel form (all positions at once) and its recurrent form (one
  token at a time with a fixed-size state), which compute the same outputs.
* ``sharing_run``: one MHA / GQA / MQA model, optionally with adjacent layers sharing one KV cache
  (``cross_layer``), trained and evaluated (the ``kv-sharing`` recipe runs it over seeds; a test
  re-trains seed 0 and checks it lands on the stored run).
* ``position_config`` / ``position_model``: one small decoder-only configuration (and model) per
  position scheme (2.3.5), the sinusoidal table scaled to the token embeddings' size
  (``SINUSOID_AMPLITUDE`` by default, ``amplitude=`` to tune it); ``extended``: a copy that covers a
  longer context (learned positions clamped to the last trained one); ``extrapolation_run``: one scheme
  trained short and evaluated long (the ``position-extrapolation`` recipe runs it over schemes and seeds).
* ``rope_scaled``: RoPE stretched to a longer context by position interpolation (Chen et al. 2023)
  or NTK-aware scaling of the base (bloc97 2023); ``stretch_run``: a trained RoPE model read at a
  longer length with each, zero-shot and after fine-tuning at that length.
* ``window_mask`` / ``token_losses`` / ``sink_attention``: sliding-window attention with and
  without attention-sink tokens (StreamingLLM, Xiao et al. 2024; section 2.3.2), through the GPT's
  ``visible`` mask; the loss at every position; how much attention the first tokens draw.
  ``streaming_losses``: StreamingLLM itself, positions renumbered inside its cache.
* ``peak_bytes``: the peak memory an operation's tensors hold at once, replayed from the profiler's
  record of allocations and releases (e.g. attention's score matrix and its softmax).
* ``knn_datastore`` / ``knn_neighbours`` / ``knn_distribution`` / ``knn_lm_losses``, and ``count_cache_probs``
  (the count cache a kNN-LM's datastore is compared with): a kNN-LM (Khandelwal et al. 2020,
  Eq. 2.67-2.68): a datastore of (context vector, next token), a distribution from the nearest
  neighbours, interpolated with the model's by lambda.
* ``passkey_test_set`` / ``passkey_training_set`` / ``passkey_batch`` / ``passkey_scores`` /
  ``passkey_run``: passkey retrieval against the perplexity of the filler (section 2.3.6): a small
  model trained on passkey documents, scored by depth of the key and length of the document on keys
  no training document holds (the ``passkey-retrieval`` recipe stores the grid, notebook 07 reads it).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import replace

import torch
import torch.nn.functional as F

from lmnotes import checks
from lmnotes.adaptation import hidden_states
from lmnotes.baselines import CharNgram
from lmnotes.data import lm_batch, lm_eval_batches, passkey, toyworld
from lmnotes.generative.cross_layer import share_kv_across_layers
from lmnotes.models.gpt import GPT, GPTConfig, kv_bytes_per_token
from lmnotes.models.layers import POSITIONS, KVCache, apply_rope
from lmnotes.repro import seed_everything
from lmnotes.training import evaluate, evaluating, train

ROPE_SCALINGS = ("interpolation", "ntk")
#: default amplitude of the sinusoidal position table in ``position_model``: 0.02 * sqrt(2), so that a
#: position vector has the per-dimension size (rms 0.02) of a token embedding at initialisation (a rule
#: of thumb: the ``position-extrapolation`` recipe tunes the amplitude on dev); the unit-amplitude table
#: of Vaswani et al. (norm sqrt(d / 2)) would swamp these small embeddings
SINUSOID_AMPLITUDE = 0.02 * math.sqrt(2)


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1 > 0, the kernel feature map of Katharopoulos et al. (2020)."""
    return F.elu(x) + 1.0


def _check_qkv(q, k, v) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        checks.finite_tensor(name, checks.tensor(name, t, dtype="float"))
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got {tuple(t.shape)}")
    if q.shape != k.shape or q.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"q and k must share one shape and v its (..., T) part; got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal linear attention, parallel form: out_i = phi(q_i) S_i / (phi(q_i) . z_i) with
    S_i = sum_{j<=i} phi(k_j) v_j^T and z_i = sum_{j<=i} phi(k_j). Shapes (..., T, d) -> (..., T, d_v).

    Written as a masked T x T product, the way softmax attention is, to show that only the
    exponential is gone; ``LinearAttentionState`` computes the same thing in O(1) per token."""
    _check_qkv(q, k, v)
    fq, fk = feature_map(q), feature_map(k)
    T = q.shape[-2]
    weights = (fq @ fk.transpose(-2, -1)).tril()  # phi(q_i) . phi(k_j) for j <= i
    weights = weights.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=q.device).tril(), 0.0)
    return (weights @ v) / weights.sum(-1, keepdim=True)


class LinearAttentionState:
    """Recurrent form of ``linear_attention``: a (d, d_v) state S and a d-vector z, updated per token.

    ``step(q, k, v)`` with shapes (..., d) and (..., d_v) adds one token and returns its output; the
    cost of a step does not depend on how many tokens came before (unlike a softmax KV cache)."""

    def __init__(self):
        self.S: torch.Tensor | None = None
        self.z: torch.Tensor | None = None

    def step(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        _check_qkv(q[..., None, :], k[..., None, :], v[..., None, :])
        fq, fk = feature_map(q), feature_map(k)
        update = fk[..., :, None] * v[..., None, :]
        self.S = update if self.S is None else self.S + update
        self.z = fk if self.z is None else self.z + fk
        return (fq[..., None, :] @ self.S)[..., 0, :] / (fq * self.z).sum(-1, keepdim=True)

    def nbytes(self) -> int:
        """Memory held by the state in bytes (constant in the number of tokens)."""
        return sum(t.numel() * t.element_size() for t in (self.S, self.z) if t is not None)


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null: the profiler's C++ layer prints a line with a timestamp
    each time it starts and stops, straight to the process's stderr."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_bytes(fn) -> int:
    """Peak CPU memory (bytes) that tensors allocated while ``fn()`` ran, above what was held before:
    every allocation and release that PyTorch's profiler records, replayed in order (a measurement of
    what an operation really holds at once, e.g. attention's score matrix and its softmax)."""
    from torch.profiler import ProfilerActivity, profile

    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    changes = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    held = peak = 0
    for _, change in changes:
        held += change
        peak = max(peak, held)
    return peak


def position_config(pos: str, block_size: int, vocab_size: int, **overrides) -> GPTConfig:
    """A small pre-norm decoder (2 layers, 4 heads, width 64) with position scheme ``pos``:
    the one model shape the extrapolation comparison trains once per scheme."""
    pos = checks.choice("pos", pos, POSITIONS)
    block_size = checks.size("block_size", block_size)
    vocab_size = checks.size("vocab_size", vocab_size)
    base = dict(n_layer=2, n_head=4, n_embd=64, block_size=block_size, vocab_size=vocab_size, pos=pos,
                norm="rmsnorm", ffn="gelu", bias=False)
    return GPTConfig(**{**base, **overrides})


def position_model(pos: str, block_size: int, vocab_size: int, amplitude: float = SINUSOID_AMPLITUDE,
                   **overrides) -> GPT:
    """``GPT(position_config(...))``; for "sinusoidal" the table is scaled by ``amplitude`` (other
    schemes ignore it)."""
    amplitude = checks.positive("amplitude", amplitude)
    model = GPT(position_config(pos, block_size, vocab_size, **overrides))
    if pos == "sinusoidal":
        model.positions.table.mul_(amplitude)
    return model


def extended(model: GPT, length: int) -> GPT:
    """A copy of ``model`` that covers a context of ``length`` tokens, for evaluation past the trained one.

    Learned absolute positions have no vector beyond the trained ``block_size``: the copy gives every
    later position the last trained vector (positions clamped). A sinusoidal table is extended at the
    model's own amplitude (its position 0 holds cos 0 times the amplitude). Relative schemes (RoPE,
    ALiBi, T5) and "none" need nothing: the copy only has the longer ``block_size``."""
    checks.instance("model", model, GPT)
    length = checks.size("length", length, low=model.config.block_size, high=checks.MAX_LENGTH)
    state = dict(model.state_dict())
    if model.config.pos == "learned":
        table = state["positions.wpe.weight"]
        state["positions.wpe.weight"] = torch.cat([table, table[-1:].expand(length - len(table), -1)])
    copy = GPT(replace(model.config, block_size=length))
    copy.load_state_dict(state)
    if model.config.pos == "sinusoidal":
        copy.positions.table.mul_(model.positions.table[0, 1].item())
    return copy.train(model.training)


def sharing_run(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int, n_kv_head: int,
                seed: int = 0, steps: int = 300, block: int = 64, eval_chars: int = 16384,
                share_layers: int = 1) -> dict:
    """Train the RoPE ``position_config`` model with ``n_kv_head`` key/value heads (of 4 query heads:
    4 = MHA, 2 = GQA, 1 = MQA), its keys and values shared by every ``share_layers`` adjacent layers
    (``cross_layer.share_kv_across_layers``; 1 = no sharing), for ``steps`` on batches drawn with
    ``seed``; return its KV bytes per token (measured: ``KVCache.nbytes()`` over ``block`` tokens),
    parameter count and held-out loss on the first ``eval_chars`` of ``val_ids``."""
    checks.tensor("train_ids", train_ids, ndim=1, dtype="int")
    checks.tensor("val_ids", val_ids, ndim=1, dtype="int")
    n_kv_head = checks.choice("n_kv_head", n_kv_head, (1, 2, 4))
    seed, steps = checks.integer("seed", seed, low=0), checks.size("steps", steps)
    block, eval_chars = checks.size("block", block), checks.size("eval_chars", eval_chars, low=block)
    seed_everything(seed)
    config = position_config("rope", block, vocab_size, n_kv_head=n_kv_head)
    share_layers = checks.size("share_layers", share_layers, high=config.n_layer)
    model = GPT(config)
    if share_layers > 1:
        share_kv_across_layers(model, share_layers)
    generator = torch.Generator().manual_seed(seed)
    train(model, lambda step: lm_batch(train_ids, 16, block, generator=generator), steps=steps, lr=3e-3,
          warmup=min(30, steps // 10), progress=False)
    loss = evaluate(model, list(lm_eval_batches(val_ids[: eval_chars + 1], 32, block)))
    cache = KVCache()
    with torch.no_grad(), evaluating(model):
        model(val_ids[None, :block], cache=cache)
    return dict(n_kv_head=n_kv_head, share_layers=share_layers, seed=seed, kv_bytes=cache.nbytes() // block,
                params=model.num_params(), val_loss=round(loss, 5))


def extrapolation_run(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int, pos: str, seed: int = 0,
                      steps: int = 600, train_len: int = 32, factors=(1, 2, 4, 8, 16),
                      eval_chars: int = 16384, amplitude: float = SINUSOID_AMPLITUDE) -> tuple[GPT, dict]:
    """Train the ``position_model`` of scheme ``pos`` (a sinusoidal table scaled by ``amplitude``) at
    ``train_len`` tokens for ``steps`` on batches drawn with ``seed``, then measure its held-out loss on
    the first ``eval_chars`` of ``val_ids`` cut into blocks of ``train_len`` x each factor (``extended``
    covers the longer ones). Returns the model and ``dict(pos, seed, losses={length: loss})`` (the
    ``position-extrapolation`` recipe runs it over schemes and seeds; a test re-trains RoPE's seed 0 and
    checks it lands on the stored run)."""
    checks.tensor("train_ids", train_ids, ndim=1, dtype="int")
    checks.tensor("val_ids", val_ids, ndim=1, dtype="int")
    pos, seed = checks.choice("pos", pos, POSITIONS), checks.integer("seed", seed, low=0)
    steps, train_len = checks.size("steps", steps), checks.size("train_len", train_len)
    factors = [checks.size("factors", f, high=64) for f in _nonempty("factors", factors)]
    eval_chars = checks.size("eval_chars", eval_chars, low=train_len * max(factors))
    seed_everything(seed)
    model = position_model(pos, train_len, vocab_size, amplitude)
    generator = torch.Generator().manual_seed(seed)
    train(model, lambda step: lm_batch(train_ids, 16, train_len, generator=generator), steps=steps, lr=3e-3,
          warmup=min(30, steps // 10), progress=False)
    losses = {str(train_len * f): round(evaluate(extended(model, train_len * f),
                                                 list(lm_eval_batches(val_ids[: eval_chars + 1], 32, train_len * f))), 5)
              for f in factors}
    return model, dict(pos=pos, seed=seed, steps=steps, losses=losses)


def stretch_run(model: GPT, train_ids: torch.Tensor, val_ids: torch.Tensor, factor: int = 2, steps: int = 100,
                eval_chars: int = 16384, finetune_seed: int = 1) -> dict:
    """Read a trained RoPE ``model`` at ``factor`` x its context three ways: as it is ("none"), with
    position interpolation and with NTK-aware scaling (``rope_scaled``). For each, the held-out loss on
    the first ``eval_chars`` of ``val_ids`` in blocks of the longer length zero-shot, then after
    ``steps`` of fine-tuning at that length (lr 1e-3, the same batches, drawn with ``finetune_seed``,
    for every method). Returns ``{method: (zero_shot, fine_tuned)}``; ``model`` is left untouched."""
    checks.instance("model", model, GPT)
    if model.config.pos != "rope":
        raise ValueError(f"stretch_run needs a RoPE model, got pos={model.config.pos!r}")
    checks.tensor("train_ids", train_ids, ndim=1, dtype="int")
    checks.tensor("val_ids", val_ids, ndim=1, dtype="int")
    factor, steps = checks.size("factor", factor, high=64), checks.size("steps", steps)
    finetune_seed = checks.integer("finetune_seed", finetune_seed, low=0)
    length = model.config.block_size * factor
    eval_chars = checks.size("eval_chars", eval_chars, low=length)
    blocks = list(lm_eval_batches(val_ids[: eval_chars + 1], 32, length))
    state, out = model.state_dict(), {}
    for method in ("none", *ROPE_SCALINGS):
        config = replace(model.config, block_size=length) if method == "none" else rope_scaled(model.config, method,
                                                                                               factor)
        copy = GPT(config)
        copy.load_state_dict(state)
        zero_shot = evaluate(copy, blocks)
        seed_everything(finetune_seed)
        generator = torch.Generator().manual_seed(finetune_seed)
        train(copy, lambda step: lm_batch(train_ids, 16, length, generator=generator), steps=steps, lr=1e-3,
              warmup=min(10, steps // 10), progress=False)
        out[method] = (round(zero_shot, 5), round(evaluate(copy, blocks), 5))
    return out


def rope_scaled(config: GPTConfig, method: str, factor: float) -> GPTConfig:
    """A copy of a RoPE ``config`` that covers ``factor`` times its context.

    * "interpolation" (PI): positions are divided by ``factor``, so every angle stays in the range
      seen in training (``rope_scale *= factor``);
    * "ntk": the base is raised, theta' = theta * factor^(d/(d-2)), which leaves the fastest-
      rotating pairs (local order) almost unchanged and stretches the slowest by ``factor``.
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    if config.pos != "rope":
        raise ValueError(f"rope_scaled needs a config with pos='rope', got pos={config.pos!r}")
    method = checks.choice("method", method, ROPE_SCALINGS)
    factor = checks.positive("factor", factor)
    block_size = max(1, round(config.block_size * factor))
    if method == "interpolation":
        return replace(config, rope_scale=config.rope_scale * factor, block_size=block_size)
    d = config.n_embd // config.n_head
    if d <= 2:
        raise ValueError(f"NTK scaling needs a head size above 2, got {d}")
    return replace(config, rope_theta=config.rope_theta * factor ** (d / (d - 2)), block_size=block_size)


# --------------------------------------------------------------------------------------------
# Sliding-window attention and attention sinks (section 2.3.2)


def window_mask(length: int, window: int, sinks: int = 0) -> torch.Tensor:
    """Bool (length, length) pattern for ``GPT(..., visible=...)``: query i sees key j when
    i - window < j <= i (a sliding window over the last ``window`` tokens), and also the first
    ``sinks`` tokens of the text (StreamingLLM's attention sinks), always."""
    length = checks.size("length", length)
    window = checks.size("window", window)
    sinks = checks.integer("sinks", sinks, low=0, high=length)
    q = torch.arange(length)[:, None]
    k = torch.arange(length)[None, :]
    return (k <= q) & ((k > q - window) | (k < sinks))


def token_losses(model, ids: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token loss (nats) at every position of ``ids`` (B, T): a (B, T - 1) tensor, token t
    predicted from tokens < t+1 under the attention pattern ``visible`` ((T - 1, T - 1), see
    ``window_mask``; None = the model's own causal mask)."""
    checks.instance("model", model, GPT)
    checks.tensor("ids", ids, ndim=2, dtype="int")
    if ids.shape[1] < 2:
        raise ValueError(f"ids must hold at least 2 tokens per row, got shape {tuple(ids.shape)}")
    with torch.no_grad():
        logits = model.eval()(ids[:, :-1], visible=visible)
    return F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")


def streaming_losses(model, ids: torch.Tensor, window: int, sinks: int = 0) -> torch.Tensor:
    """Next-token loss (nats) at every position of ``ids`` (B, T), a (B, T - 1) tensor, as StreamingLLM
    (Xiao et al. 2024) reads the text with a RoPE model: query i sees the first ``sinks`` tokens and
    the last ``window`` tokens (itself included), and positions are counted *inside this cache*, not
    in the text. A window key keeps its true distance to the query; a sink sits in the cache's first
    slots, so once the text is longer than the cache the query is at cache position
    ``sinks + window - 1`` and sink j is ``sinks + window - 1 - j`` positions back, never farther than
    the cache is long. (``token_losses`` with ``window_mask(..., sinks)`` keeps the text's positions
    instead, so a sink drifts farther back than anything seen in training.)

    Each layer reads the window and the sinks from the layer below, as a cache filled token by token
    would hold them (keys and values are those computed when each token was read)."""
    checks.instance("model", model, GPT)
    checks.tensor("ids", ids, ndim=2, dtype="int")
    if ids.shape[1] < 2:
        raise ValueError(f"ids must hold at least 2 tokens per row, got shape {tuple(ids.shape)}")
    if model.config.pos != "rope":
        raise ValueError(f"streaming_losses renumbers RoPE positions; model has pos={model.config.pos!r}")
    window = checks.size("window", window)
    sinks = checks.integer("sinks", sinks, low=0, high=ids.shape[1])
    T = ids.shape[1] - 1
    text = torch.arange(T)
    in_window = window_mask(T, window)
    in_sinks = (text[None, :] < sinks) & (text[None, :] <= text[:, None]) & ~in_window
    rope_text = model.positions.rope(text[None])  # queries and keys at their place in the text
    rope_cache = model.positions.rope(text.clamp(max=sinks + window - 1)[None])  # a query's slot in the cache
    losses = []
    with torch.no_grad(), evaluating(model):
        for row in ids:  # one text at a time: two (heads, T, T) score matrices
            x = model.wte(row[None, :-1])
            for block in model.blocks:
                attend = lambda h, attn=block.attn: _streaming_attention(attn, h, rope_text, rope_cache,
                                                                          in_window, in_sinks)
                x = block._sublayer(block._sublayer(x, block.norm1, attend), block.norm2, block.ffn)
            logits = model.lm_head(model.norm_f(x))
            losses.append(F.cross_entropy(logits[0], row[1:], reduction="none"))
    return torch.stack(losses)


def _streaming_attention(attn, x, rope_text, rope_cache, in_window, in_sinks):
    """``Attention.forward`` for one text, window keys scored at their true distance and sink keys
    scored from the query's slot in the cache (``streaming_losses``)."""
    B, T, C = x.shape
    q, k, v = attn.heads(x)
    k, v = attn.shared_kv(apply_rope(k, *rope_text), v)
    scale = 1.0 / math.sqrt(attn.d_head)
    scores = (apply_rope(q, *rope_text) * scale @ k.transpose(-2, -1)).masked_fill(~in_window, float("-inf"))
    sinks = int(in_sinks.any(0).nonzero().max()) + 1 if in_sinks.any() else 0
    if sinks:  # the sink columns, scored from the query's slot in the cache
        from_cache = apply_rope(q, *rope_cache) * scale @ k[:, :, :sinks].transpose(-2, -1)
        scores[..., :sinks] = torch.where(in_sinks[:, :sinks], from_cache, scores[..., :sinks])
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
    return attn.proj(y)


def sink_attention(model, ids: torch.Tensor, sinks: int = 1, start: int = 1) -> list[float]:
    """Per layer, the mean share of attention (over heads, rows and queries at positions >=
    ``start``) that full causal attention gives to the first ``sinks`` tokens. Large LLMs put much
    of it there (the attention sink); a uniform spread would give about sinks / (position + 1)."""
    checks.instance("model", model, GPT)
    checks.tensor("ids", ids, ndim=2, dtype="int")
    sinks = checks.size("sinks", sinks, high=ids.shape[1])
    start = checks.integer("start", start, low=0, high=ids.shape[1] - 1)
    attentions = [block.attn for block in model.blocks]
    for attn in attentions:
        attn.save_attention = True
    try:
        with torch.no_grad():
            model.eval()(ids)
        return [attn.attention[:, :, start:, :sinks].sum(-1).mean().item() for attn in attentions]
    finally:
        for attn in attentions:
            attn.save_attention = False
            attn.attention = None


# --------------------------------------------------------------------------------------------
# kNN-LM: memory as a datastore of context vectors (section 2.3.3, Eq. 2.67-2.68)


def knn_datastore(model, ids: torch.Tensor, block: int, batch_size: int = 8):
    """Run ``model`` over the 1-D token stream ``ids`` in non-overlapping blocks of ``block`` tokens.

    Returns ``(keys, next_tokens, log_probs)``: the vector the output layer reads at every position
    (N, n_embd; ``lmnotes.adaptation.hidden_states``), the token that follows it (N,), and the model's
    own log-distribution (N, V). The keys with their next tokens are a kNN-LM datastore; from text
    the model did not train on they are also the queries."""
    checks.instance("model", model, GPT)
    checks.tensor("ids", ids, ndim=1, dtype="int")
    block = checks.size("block", block, high=model.config.block_size)
    batch_size = checks.size("batch_size", batch_size)
    n = (len(ids) - 1) // block
    if n < 1:
        raise ValueError(f"ids must hold more than block={block} tokens, got {len(ids)}")
    x = ids[: n * block].view(n, block)
    y = ids[1 : n * block + 1].reshape(-1)
    keys, log_probs = [], []
    model.eval()
    with torch.no_grad():
        for i in range(0, n, batch_size):
            h = hidden_states(model, x[i : i + batch_size])
            keys.append(h)
            log_probs.append(model.lm_head(h).log_softmax(-1))
    return (torch.cat(keys).reshape(-1, model.config.n_embd), y,
            torch.cat(log_probs).reshape(-1, model.config.vocab_size))


def knn_neighbours(queries: torch.Tensor, keys: torch.Tensor, k: int, chunk: int = 1024):
    """The ``k`` keys nearest each query: ``(distances, index)``, both (Q, k), squared L2 distances in
    increasing order. Computed once, they serve every ``k`` up to this one and every temperature
    (``knn_distribution(..., neighbours=...)``), so both can be tuned on dev at the cost of one search."""
    checks.tensor("queries", queries, ndim=2, dtype="float")
    checks.tensor("keys", keys, ndim=2, dtype="float")
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(f"queries (Q, C) and keys (N, C) must share C; got {tuple(queries.shape)}, {tuple(keys.shape)}")
    k = checks.size("k", k, high=len(keys))
    chunk = checks.size("chunk", chunk)
    key_norms = keys.pow(2).sum(-1)
    distances, index = [], []
    for q in queries.split(chunk):
        distance = torch.addmm(key_norms, q, keys.T, alpha=-2).add_(q.pow(2).sum(-1, keepdim=True))  # squared L2
        nearest, i = distance.topk(k, dim=-1, largest=False, sorted=True)
        distances.append(nearest)
        index.append(i)
    return torch.cat(distances), torch.cat(index)


def knn_distribution(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, vocab_size: int,
                     k: int = 64, temperature: float = 10.0, chunk: int = 1024, neighbours=None) -> torch.Tensor:
    """p_kNN(y | x) of a kNN-LM (Khandelwal et al. 2020; the book's Eq. 2.67): the ``k`` keys nearest each
    query (squared L2 distance d) vote for their next token with weight softmax(-d / temperature) over
    the neighbours. Shapes (Q, C), (N, C), (N,) -> (Q, V). ``neighbours``: the output of
    ``knn_neighbours`` for these queries and keys with at least ``k`` neighbours, to skip the search."""
    checks.tensor("queries", queries, ndim=2, dtype="float")
    checks.tensor("keys", keys, ndim=2, dtype="float")
    checks.tensor("values", values, ndim=1, dtype="int")
    if queries.shape[1] != keys.shape[1] or len(values) != len(keys):
        raise ValueError(f"queries (Q, C) and keys (N, C) must share C, and values must have N entries; got "
                         f"{tuple(queries.shape)}, {tuple(keys.shape)}, {tuple(values.shape)}")
    vocab_size = checks.size("vocab_size", vocab_size)
    k = checks.size("k", k, high=len(keys))
    temperature = checks.positive("temperature", temperature)
    if int(values.max()) >= vocab_size or int(values.min()) < 0:
        raise ValueError(f"values must be token ids in [0, {vocab_size - 1}], got [{int(values.min())}, {int(values.max())}]")
    if neighbours is None:
        neighbours = knn_neighbours(queries, keys, k, chunk)
    distances, index = neighbours
    if distances.shape != index.shape or distances.shape[0] != len(queries) or distances.shape[1] < k:
        raise ValueError(f"neighbours must be knn_neighbours(queries, keys, k) with at least k={k} neighbours for "
                         f"each of the {len(queries)} queries, got shape {tuple(distances.shape)}")
    weights = (-distances[:, :k] / temperature).softmax(-1)
    return torch.zeros(len(queries), vocab_size, dtype=weights.dtype).scatter_add_(1, values[index[:, :k]], weights)


def knn_lm_losses(log_probs: torch.Tensor, knn_probs: torch.Tensor, targets: torch.Tensor,
                  lambdas) -> list[float]:
    """Mean loss (nats/token) of Eq. 2.68, p = lambda p_kNN + (1 - lambda) p_LM, for each lambda in
    ``lambdas`` (lambda = 0 is the model alone, 1 the datastore alone). ``knn_probs``: the other
    distribution (N, V), or (N,) the probability it gives each target (e.g. ``count_cache_probs``)."""
    checks.tensor("log_probs", log_probs, ndim=2, dtype="float")
    checks.tensor("knn_probs", knn_probs, ndim=(1, 2), dtype="float")
    checks.tensor("targets", targets, ndim=1, dtype="int")
    if knn_probs.shape not in (log_probs.shape, log_probs.shape[:1]) or len(targets) != len(log_probs):
        raise ValueError(f"log_probs (N, V), knn_probs (N, V) or (N,) and targets (N,) must agree; got "
                         f"{tuple(log_probs.shape)}, {tuple(knn_probs.shape)}, {tuple(targets.shape)}")
    if isinstance(lambdas, (str, bytes)) or not hasattr(lambdas, "__iter__"):
        raise TypeError(f"lambdas must be a list of numbers in [0, 1], got {type(lambdas).__name__}")
    lambdas = [checks.probability("lambdas", lam) for lam in lambdas]
    if not lambdas:
        raise ValueError("lambdas must hold at least one value")
    p_lm = log_probs.gather(1, targets[:, None])[:, 0].exp()
    p_knn = knn_probs.gather(1, targets[:, None])[:, 0] if knn_probs.ndim == 2 else knn_probs
    return [-(lam * p_knn + (1 - lam) * p_lm).clamp_min(1e-30).log().mean().item() for lam in lambdas]


def count_cache_probs(cache: CharNgram, text: str, start: int, count: int, order: int, lam: float) -> torch.Tensor:
    """The cheap rival of a kNN-LM's datastore: a count cache. ``cache`` holds the character counts of the
    datastore's text (``lmnotes.baselines.CharNgram``); for each of the ``count`` characters
    ``text[start + 1 : start + 1 + count]`` (the targets of ``knn_datastore`` run on ``text[start:]``)
    return the probability the cache gives it after the ``order - 1`` characters before it
    (interpolated down to the unigram with weight ``lam``). Mixed with the model by ``knn_lm_losses``."""
    checks.instance("cache", cache, CharNgram)
    checks.text("text", text)
    start, count = checks.integer("start", start, low=0), checks.size("count", count)
    if start + 1 + count > len(text):
        raise ValueError(f"text holds {len(text)} characters, fewer than start + 1 + count = {start + 1 + count}")
    order = checks.integer("order", order, 1, cache.max_order)
    lam = checks.probability("lam", lam, open_low=True, open_high=True)
    return torch.tensor([cache.prob(text[max(0, i - order + 1): i], text[i], lam, order)
                         for i in range(start + 1, start + 1 + count)])


# --------------------------------------------------------------------------------------------
# Passkey retrieval against perplexity (section 2.3.6)

PASSKEY_ANSWER_WEIGHT = 10.0  # the loss weight of the answer tokens when training on passkey documents


def passkey_test_set(n: int, lengths, depths, seed: int, n_digits: int = 5) -> dict:
    """Per (depth, length) cell, ``n`` passkey documents (``lmnotes.data.passkey``) with distinct keys."""
    n, seed = checks.size("n", n, high=10_000), checks.integer("seed", seed)
    lengths = [checks.size("lengths", x) for x in _nonempty("lengths", lengths)]
    depths = [checks.probability("depths", d) for d in _nonempty("depths", depths)]
    return {(depth, length): passkey(n, seed * 10_000 + 100 * i + j, length, depth, n_digits)
            for i, depth in enumerate(depths) for j, length in enumerate(lengths)}


def passkey_training_set(n_batches: int, batch_size: int, lengths, seed: int, n_digits: int = 5,
                         exclude=()) -> list[list]:
    """``n_batches`` batches of ``batch_size`` passkey documents for training: each batch of one
    length drawn from ``lengths`` (so that no position marks where the question comes), each key at
    a depth drawn uniformly from [0, 1], and no key in ``exclude`` (the test keys)."""
    import random

    n_batches, batch_size = checks.size("n_batches", n_batches), checks.size("batch_size", batch_size)
    lengths = [checks.size("lengths", x) for x in _nonempty("lengths", lengths)]
    rng = random.Random(checks.integer("seed", seed))
    exclude = set(exclude)
    if len(exclude) > 0.5 * 10 ** n_digits:
        raise ValueError(f"exclude holds {len(exclude)} of the {10 ** n_digits} keys of {n_digits} digits; "
                         "leave at least half of them for training")
    batches = []
    for _ in range(n_batches):
        length, batch = rng.choice(lengths), []
        while len(batch) < batch_size:
            record = passkey(1, rng.randrange(2**31), length, rng.random(), n_digits)[0]
            if record.key not in exclude:
                batch.append(record)
        batches.append(batch)
    return batches


def _nonempty(name: str, values) -> list:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list, got {type(values).__name__}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value")
    return values


def passkey_batch(tok, records: list) -> dict:
    """Documents plus their answers as one training batch (all of one length): ``input_ids``,
    ``labels`` (next tokens) and ``loss_mask`` (1 everywhere, ``PASSKEY_ANSWER_WEIGHT`` on the key
    digits and the full stop after the question)."""
    checks.tokenizer("tok", tok)
    if not isinstance(records, list) or not records:
        raise TypeError("records must be a non-empty list of lmnotes.data.passkey records")
    rows = [tok.encode(f"{r.prompt} {r.response}") for r in records]
    if len({len(row) for row in rows}) != 1:
        raise ValueError(f"records must all have one length, got lengths {sorted({len(row) for row in rows})}")
    ids = torch.tensor(rows)
    n_answer = len(records[0].response.split())
    mask = torch.ones(ids.shape[0], ids.shape[1] - 1)
    mask[:, -n_answer:] = PASSKEY_ANSWER_WEIGHT
    return dict(input_ids=ids[:, :-1], labels=ids[:, 1:], loss_mask=mask)


def passkey_scores(model, tok, records: list, batch_size: int = 64) -> dict:
    """Retrieval ``accuracy`` (share of ``records`` whose every key digit is the model's top choice
    given the document and the digits before it: the same as greedy decoding giving the key) and
    ``filler_loss``, the mean next-token loss (nats) on the filler words alone."""
    checks.instance("model", model, GPT)
    batch_size = checks.size("batch_size", batch_size)
    batch = passkey_batch(tok, records)
    n_digits = len(records[0].key)
    hits, losses = [], []
    fixed = len("the pass key is . remember it .".split()) + n_digits
    with torch.no_grad(), evaluating(model):
        for start in range(0, len(records), batch_size):
            rows = slice(start, start + batch_size)
            x, y = batch["input_ids"][rows], batch["labels"][rows]
            logits = model(x)
            guess = logits[:, -n_digits - 1:-1].argmax(-1)  # positions whose next token is a key digit
            hits.append((guess == y[:, -n_digits - 1:-1]).all(-1))
            ce = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
            filler = torch.ones_like(y, dtype=torch.bool)
            for k, r in enumerate(records[rows]):
                question = len(r.prompt.split()) - len(toyworld.PASSKEY_QUESTION.split())
                filler[k, max(r.position - 1, 0): r.position - 1 + fixed] = False  # the key sentence's tokens
                filler[k, question - 1:] = False  # the question and the answer
            losses.append(ce[filler])
    return dict(accuracy=torch.cat(hits).float().mean().item(), filler_loss=torch.cat(losses).mean().item())


def passkey_run(length: int = 64, steps: int = 3000, factors=(1, 2, 4), depths=(0.0, 0.25, 0.5, 0.75, 1.0),
                n_test: int = 50, pos: str = "rope", seed: int = 0, n_digits: int = 5, batch_size: int = 32,
                lr: float = 3e-3) -> dict:
    """Train a ``position_config`` model (``pos``) on passkey documents of ``length // 2`` to
    ``length`` tokens (a fresh batch of ``batch_size`` per step, the answer weighted
    ``PASSKEY_ANSWER_WEIGHT``), then measure ``passkey_scores`` in every (depth, ``length`` x
    factor) cell, on test keys that no training document holds.

    Returns the grid (accuracy per cell), the filler loss per evaluation length (all depths pooled),
    and the overlap check: how many test keys and documents occur in the training documents (0)."""
    length, steps = checks.size("length", length), checks.size("steps", steps)
    factors = [checks.size("factors", f, high=64) for f in _nonempty("factors", factors)]
    pos, seed = checks.choice("pos", pos, POSITIONS), checks.integer("seed", seed, low=0)
    batch_size, n_test = checks.size("batch_size", batch_size), checks.size("n_test", n_test)
    tok = toyworld.tokenizer()
    lengths = [length * f for f in factors]
    cells = passkey_test_set(n_test, lengths, depths, seed + 1, n_digits)
    tests = [r for records in cells.values() for r in records]
    batches = passkey_training_set(steps, batch_size, range(length // 2, length + 1), seed, n_digits,
                                   exclude={r.key for r in tests})
    train_texts, train_keys = {r.prompt for b in batches for r in b}, {r.key for b in batches for r in b}
    seed_everything(seed)
    model = GPT(position_config(pos, length + n_digits + 1, tok.vocab_size))
    history = train(model, lambda step: passkey_batch(tok, batches[step]), steps=steps, lr=lr,
                    warmup=min(50, steps // 10), seed=seed, progress=False)
    scores = {cell: passkey_scores(model, tok, records) for cell, records in cells.items()}
    filler = {}
    for m in lengths:
        pooled = [r for (d, l), records in cells.items() if l == m for r in records]
        filler[m] = passkey_scores(model, tok, pooled)["filler_loss"]
    return dict(length=length, steps=steps, pos=pos, seed=seed, n_digits=n_digits, batch_size=batch_size, lr=lr,
                n_train=steps * batch_size, n_test=n_test, final_train_loss=round(history.train_loss[-1], 5),
                test_keys_in_training=sum(r.key in train_keys for r in tests),
                test_documents_in_training=sum(r.prompt in train_texts for r in tests),
                grid=[dict(depth=d, length=m, accuracy=round(s["accuracy"], 5)) for (d, m), s in scores.items()],
                filler_loss={str(m): round(v, 5) for m, v in filler.items()})

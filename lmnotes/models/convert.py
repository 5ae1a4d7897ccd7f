"""Move weights between the course's models and ``transformers`` (GPT-2, LLaMA, BERT).

``to_hf(model)`` builds the matching ``transformers`` model (``GPT2LMHeadModel`` for a GPT in GPT-2
form, ``LlamaForCausalLM`` for one in LLaMA form, ``BertForMaskedLM`` for an ``Encoder``) and copies
the weights; ``from_hf(hf_model)`` goes the other way (``BertForPreTraining`` also brings the pooler
and next-sentence head). The logits then agree to float precision, which is how the tests check
that our code computes exactly what GPT-2, LLaMA and BERT compute. Each family is one table of
(our name, their name(s), transposed?) rows: GPT-2 stores linear layers as (in, out) ``Conv1D``;
our fused query/key/value matrix is their separate ones stacked.
"""

from __future__ import annotations

import torch
from torch import nn

from lmnotes.models.encoder import Encoder, EncoderConfig
from lmnotes.models.gpt import GPT, GPTConfig

_GPT2_ACT = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}
_GPT2_ACT_BACK = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


def _gpt2_table(n_layer: int) -> list:
    rows = [("wte.weight", "transformer.wte.weight", False),
            ("positions.wpe.weight", "transformer.wpe.weight", False),
            ("norm_f.weight", "transformer.ln_f.weight", False),
            ("norm_f.bias", "transformer.ln_f.bias", False),
            ("lm_head.weight", "lm_head.weight", False)]
    for i in range(n_layer):
        o, t = f"blocks.{i}.", f"transformer.h.{i}."
        for ours, theirs in [("norm1", "ln_1"), ("norm2", "ln_2")]:
            rows += [(o + ours + ".weight", t + theirs + ".weight", False), (o + ours + ".bias", t + theirs + ".bias", False)]
        for ours, theirs in [("attn.qkv", "attn.c_attn"), ("attn.proj", "attn.c_proj"),
                             ("ffn.up", "mlp.c_fc"), ("ffn.down", "mlp.c_proj")]:
            rows += [(o + ours + ".weight", t + theirs + ".weight", True), (o + ours + ".bias", t + theirs + ".bias", False)]
    return rows


def _llama_table(n_layer: int, bias: bool) -> list:
    rows = [("wte.weight", "model.embed_tokens.weight", False), ("norm_f.weight", "model.norm.weight", False),
            ("lm_head.weight", "lm_head.weight", False)]
    for i in range(n_layer):
        o, t = f"blocks.{i}.", f"model.layers.{i}."
        linear = [("attn.qkv", [t + f"self_attn.{n}_proj" for n in "qkv"]), ("attn.proj", [t + "self_attn.o_proj"]),
                  ("ffn.up", [t + "mlp.gate_proj", t + "mlp.up_proj"]), ("ffn.down", [t + "mlp.down_proj"])]
        for ours, theirs in linear:
            rows.append((o + ours + ".weight", [n + ".weight" for n in theirs], False))
            if bias:
                rows.append((o + ours + ".bias", [n + ".bias" for n in theirs], False))
        rows += [(o + "norm1.weight", t + "input_layernorm.weight", False),
                 (o + "norm2.weight", t + "post_attention_layernorm.weight", False)]
    return rows


def _bert_table(n_layer: int, hf_names) -> list:
    e = "bert.embeddings."
    rows = [("wte.weight", e + "word_embeddings.weight", False),
            ("positions.wpe.weight", e + "position_embeddings.weight", False),
            ("segments.weight", e + "token_type_embeddings.weight", False),
            ("norm_emb.weight", e + "LayerNorm.weight", False), ("norm_emb.bias", e + "LayerNorm.bias", False),
            ("mlm_dense.weight", "cls.predictions.transform.dense.weight", False),
            ("mlm_dense.bias", "cls.predictions.transform.dense.bias", False),
            ("mlm_norm.weight", "cls.predictions.transform.LayerNorm.weight", False),
            ("mlm_norm.bias", "cls.predictions.transform.LayerNorm.bias", False),
            ("mlm_head.weight", "cls.predictions.decoder.weight", False),
            ("mlm_head.bias", "cls.predictions.bias", False),
            ("mlm_head.bias", "cls.predictions.decoder.bias", False)]
    optional = [("pooler.weight", "bert.pooler.dense.weight"), ("pooler.bias", "bert.pooler.dense.bias"),
                ("cls_head.weight", "cls.seq_relationship.weight"), ("cls_head.bias", "cls.seq_relationship.bias")]
    rows += [(ours, theirs, False) for ours, theirs in optional if theirs in hf_names]
    for i in range(n_layer):
        o, t = f"blocks.{i}.", f"bert.encoder.layer.{i}."
        pairs = [("attn.qkv", [t + f"attention.self.{n}" for n in ("query", "key", "value")]),
                 ("attn.proj", [t + "attention.output.dense"]), ("norm1", [t + "attention.output.LayerNorm"]),
                 ("ffn.up", [t + "intermediate.dense"]), ("ffn.down", [t + "output.dense"]),
                 ("norm2", [t + "output.LayerNorm"])]
        for ours, theirs in pairs:
            rows += [(o + ours + f".{w}", [n + f".{w}" for n in theirs], False) for w in ("weight", "bias")]
    return rows


def _transfer(ours: nn.Module, theirs: nn.Module, table: list, into_hf: bool) -> None:
    """Copy every row of ``table``; refuse if some of their weights would be left out."""
    our_params = dict(ours.named_parameters(remove_duplicate=False))
    their_params = dict(theirs.named_parameters(remove_duplicate=False))
    covered = set()
    with torch.no_grad():
        for our_name, their_names, transposed in table:
            their_names = [their_names] if isinstance(their_names, str) else their_names
            pieces = [their_params[n] for n in their_names]
            covered.update(their_names)
            if into_hf:
                sizes = [p.shape[1] if transposed else p.shape[0] for p in pieces]
                for piece, chunk in zip(pieces, our_params[our_name].split(sizes, dim=0)):
                    piece.copy_(chunk.T if transposed else chunk)
            else:
                our_params[our_name].copy_(torch.cat([p.T if transposed else p for p in pieces], dim=0))
    missing = sorted(set(their_params) - covered)
    if missing:
        raise ValueError(f"{type(theirs).__name__} has weights with no counterpart here: {missing[:5]}")


def _gpt_form(config: GPTConfig) -> str:
    """'gpt2' or 'llama' if the config matches one of those architectures exactly, else ValueError."""
    c = config
    common = c.prenorm and c.window is None
    if common and c.pos == "learned" and c.norm == "layernorm" and c.bias and c.ffn in _GPT2_ACT and c.n_kv_head == c.n_head:
        return "gpt2"
    if common and c.pos == "rope" and c.norm == "rmsnorm" and c.ffn == "swiglu":
        return "llama"
    raise ValueError(
        "to_hf needs a GPT in GPT-2 form (pos='learned', norm='layernorm', prenorm, bias, ffn gelu/gelu_tanh/relu, "
        "n_kv_head == n_head, window None) or LLaMA form (pos='rope', norm='rmsnorm', prenorm, ffn='swiglu', "
        f"window None); got {c.to_dict()}"
    )


def to_hf(model: nn.Module, **config_overrides):
    """The ``transformers`` model that computes the same function as ``model`` (GPT or Encoder).

    ``config_overrides`` are passed to the transformers config (e.g. ``eos_token_id=50256``); by
    default no special tokens are set, so ``generate`` never stops early, just like ours.
    """
    import transformers as tf

    if isinstance(model, GPT):
        c = model.config
        special = dict(bos_token_id=None, eos_token_id=None, pad_token_id=None, tie_word_embeddings=c.tie_weights)
        if _gpt_form(c) == "gpt2":
            hf_config = tf.GPT2Config(
                vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer,
                n_head=c.n_head, n_inner=c.d_ff, activation_function=_GPT2_ACT[c.ffn], layer_norm_epsilon=c.norm_eps,
                resid_pdrop=c.dropout, embd_pdrop=c.dropout, attn_pdrop=c.dropout, **{**special, **config_overrides})
            hf, table = tf.GPT2LMHeadModel(hf_config), _gpt2_table(c.n_layer)
        else:
            rope = {"rope_type": "default", "rope_theta": c.rope_theta}
            if c.rope_scale != 1.0:
                rope = {"rope_type": "linear", "rope_theta": c.rope_theta, "factor": c.rope_scale}
            hf_config = tf.LlamaConfig(
                vocab_size=c.vocab_size, hidden_size=c.n_embd, intermediate_size=c.d_ff, num_hidden_layers=c.n_layer,
                num_attention_heads=c.n_head, num_key_value_heads=c.n_kv_head, max_position_embeddings=c.block_size,
                rms_norm_eps=c.norm_eps, rope_parameters=rope, attention_bias=c.bias, mlp_bias=c.bias,
                attention_dropout=c.dropout, **{**special, **config_overrides})
            hf, table = tf.LlamaForCausalLM(hf_config), _llama_table(c.n_layer, c.bias)
    elif isinstance(model, Encoder):
        c = model.config
        if c.ffn not in ("gelu", "relu") or c.norm != "layernorm" or c.prenorm or not c.bias or c.n_kv_head != c.n_head:
            raise ValueError(f"to_hf needs an Encoder in BERT form (post-norm LayerNorm, bias, gelu/relu); got {c.to_dict()}")
        hf_config = tf.BertConfig(
            vocab_size=c.vocab_size, hidden_size=c.n_embd, num_hidden_layers=c.n_layer, num_attention_heads=c.n_head,
            intermediate_size=c.d_ff, hidden_act=c.ffn, max_position_embeddings=c.block_size,
            type_vocab_size=c.type_vocab_size, layer_norm_eps=c.norm_eps, hidden_dropout_prob=c.dropout,
            attention_probs_dropout_prob=c.dropout, pad_token_id=None, **config_overrides)
        hf = tf.BertForMaskedLM(hf_config)
        table = _bert_table(c.n_layer, dict(hf.named_parameters()))
    else:
        raise TypeError(f"model must be a GPT or an Encoder (what to_hf converts), got {type(model).__name__}")
    _transfer(model, hf, table, into_hf=True)
    return hf.train(model.training)


def from_hf(hf_model: nn.Module) -> nn.Module:
    """Our GPT or Encoder with the weights of a ``transformers`` GPT-2, LLaMA or BERT model."""
    config = getattr(hf_model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind == "gpt2":
        act = config.activation_function
        if act not in _GPT2_ACT_BACK or config.scale_attn_by_inverse_layer_idx or not config.scale_attn_weights:
            raise ValueError(f"from_hf supports GPT-2 with activation in {sorted(_GPT2_ACT_BACK)} and standard "
                             f"attention scaling; got activation_function={act!r}")
        ours = GPT(GPTConfig(
            vocab_size=config.vocab_size, block_size=config.n_positions, n_layer=config.n_layer, n_head=config.n_head,
            n_embd=config.n_embd, d_ff=config.n_inner or 4 * config.n_embd, ffn=_GPT2_ACT_BACK[act],
            norm_eps=config.layer_norm_epsilon, tie_weights=config.tie_word_embeddings, pos="learned",
            norm="layernorm", bias=True))
        table = _gpt2_table(config.n_layer)
    elif kind == "llama":
        rope = config.rope_parameters
        if rope.get("rope_type", "default") not in ("default", "linear") or config.attention_bias != config.mlp_bias \
                or config.head_dim * config.num_attention_heads != config.hidden_size or config.hidden_act != "silu":
            raise ValueError(f"from_hf supports LLaMA with default or linear RoPE, equal attention/MLP bias, "
                             f"head_dim = hidden_size / heads and silu; got {config.to_dict()}")
        ours = GPT(GPTConfig(
            vocab_size=config.vocab_size, block_size=config.max_position_embeddings, n_layer=config.num_hidden_layers,
            n_head=config.num_attention_heads, n_kv_head=config.num_key_value_heads, n_embd=config.hidden_size,
            d_ff=config.intermediate_size, pos="rope", norm="rmsnorm", ffn="swiglu", bias=config.attention_bias,
            norm_eps=config.rms_norm_eps, tie_weights=config.tie_word_embeddings, rope_theta=rope["rope_theta"],
            rope_scale=rope.get("factor", 1.0)))
        table = _llama_table(config.num_hidden_layers, config.attention_bias)
    elif kind == "bert":
        if config.hidden_act not in ("gelu", "relu") or getattr(config, "position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"from_hf supports BERT with absolute positions and gelu/relu; got {config.hidden_act!r}")
        ours = Encoder(EncoderConfig(
            vocab_size=config.vocab_size, block_size=config.max_position_embeddings, n_layer=config.num_hidden_layers,
            n_head=config.num_attention_heads, n_embd=config.hidden_size, d_ff=config.intermediate_size,
            ffn=config.hidden_act, type_vocab_size=config.type_vocab_size, norm_eps=config.layer_norm_eps))
        table = _bert_table(config.num_hidden_layers, dict(hf_model.named_parameters()))
    else:
        raise ValueError(f"from_hf supports transformers GPT-2, LLaMA and BERT models, got model_type={kind!r} "
                         f"({type(hf_model).__name__})")
    _transfer(ours, hf_model, table, into_hf=False)
    return ours.train(hf_model.training)

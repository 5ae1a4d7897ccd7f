"""The book's Table 2.2 (section 2.1.1) counted from the models' configurations.

* :data:`BOOK_TABLE_2_2` holds the table's 20 rows as the book prints them: parameters (billions),
  depth, width and heads (queries / keys and values).
* :data:`CONFIGS` holds, for each row, the released model's configuration (the hyper-parameters of
  its ``config.json``), written here so that nothing is downloaded.
* :func:`hf_config` turns a row into a ``transformers`` config, :func:`shape` reads depth, width and
  heads back from any such config, :func:`meta_param_count` counts the parameters of the model it
  describes on the ``meta`` device (shapes only, no memory), and :func:`mla_moe_params` gives
  DeepSeek-V3's count in closed form (latent attention and a mixture of experts).
* :func:`table_2_2` puts the book's figures beside the counted ones, row by row.
"""

from __future__ import annotations

import torch

from lmnotes import checks

#: the book's Table 2.2 as printed: (model, parameters in billions, depth L, width d, query heads, KV heads)
BOOK_TABLE_2_2 = (
    ("GPT-1", 0.117, 12, 768, 12, 12),
    ("GPT-2", 1.5, 48, 1600, 25, 25),
    ("GPT-3", 175, 96, 12288, 96, 96),
    ("LLaMA 2 7B", 7, 32, 4096, 32, 32),
    ("LLaMA 2 13B", 13, 40, 5120, 40, 40),
    ("LLaMA 2 70B", 70, 80, 8192, 64, 64),
    ("LLaMA 3 8B", 8, 32, 4096, 32, 8),
    ("LLaMA 3 70B", 70, 80, 8192, 64, 8),
    ("LLaMA 3.1 405B", 405, 126, 16384, 128, 8),
    ("Gemma 2 2B", 2, 26, 2304, 8, 4),
    ("Gemma 2 9B", 9, 42, 3584, 16, 8),
    ("Gemma 2 37B", 37, 46, 4608, 32, 16),
    ("Qwen2.5 0.5B", 0.5, 24, 896, 14, 2),
    ("Qwen2.5 7B", 7, 28, 3584, 28, 4),
    ("Qwen2.5 72B", 72, 80, 8192, 64, 8),
    ("DeepSeek-V3", 671, 61, 7168, 128, 128),
    ("Falcon 7B", 7, 32, 4544, 71, 71),
    ("Falcon 40B", 40, 60, 8192, 128, 128),
    ("Falcon 180B", 180, 80, 14848, 232, 232),
    ("Mistral 7B", 7, 32, 4096, 32, 32),
)


def _llama(vocab, width, depth, heads, kv, ffn, **kw):
    return dict(vocab_size=vocab, hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads,
                num_key_value_heads=kv, intermediate_size=ffn, **kw)


def _falcon(width, depth, heads, kv):
    new = kv > 1  # Falcon 40B and 180B: grouped KV heads and two norms per block; 7B: multi-query
    return dict(vocab_size=65024, hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads,
                new_decoder_architecture=new, multi_query=not new, num_kv_heads=kv if new else None,
                parallel_attn=True, bias=False)


#: each row's released configuration: (transformers model type, config arguments); the 37B row of
#: Gemma 2 is the released Gemma 2 27B (the only Gemma 2 of depth 46 and width 4,608)
CONFIGS = {
    "GPT-1": ("openai-gpt", {}),
    "GPT-2": ("gpt2", dict(n_embd=1600, n_layer=48, n_head=25)),
    "GPT-3": ("gpt2", dict(n_embd=12288, n_layer=96, n_head=96, n_positions=2048)),
    "LLaMA 2 7B": ("llama", _llama(32000, 4096, 32, 32, 32, 11008, tie_word_embeddings=False)),
    "LLaMA 2 13B": ("llama", _llama(32000, 5120, 40, 40, 40, 13824, tie_word_embeddings=False)),
    "LLaMA 2 70B": ("llama", _llama(32000, 8192, 80, 64, 8, 28672, tie_word_embeddings=False)),
    "LLaMA 3 8B": ("llama", _llama(128256, 4096, 32, 32, 8, 14336, tie_word_embeddings=False)),
    "LLaMA 3 70B": ("llama", _llama(128256, 8192, 80, 64, 8, 28672, tie_word_embeddings=False)),
    "LLaMA 3.1 405B": ("llama", _llama(128256, 16384, 126, 128, 8, 53248, tie_word_embeddings=False)),
    "Gemma 2 2B": ("gemma2", _llama(256000, 2304, 26, 8, 4, 9216, head_dim=256)),
    "Gemma 2 9B": ("gemma2", _llama(256000, 3584, 42, 16, 8, 14336, head_dim=256)),
    "Gemma 2 37B": ("gemma2", _llama(256000, 4608, 46, 32, 16, 36864, head_dim=128)),
    "Qwen2.5 0.5B": ("qwen2", _llama(151936, 896, 24, 14, 2, 4864, tie_word_embeddings=True)),
    "Qwen2.5 7B": ("qwen2", _llama(152064, 3584, 28, 28, 4, 18944, tie_word_embeddings=False)),
    "Qwen2.5 72B": ("qwen2", _llama(152064, 8192, 80, 64, 8, 29568, tie_word_embeddings=False)),
    "DeepSeek-V3": ("deepseek_v3", {}),
    "Falcon 7B": ("falcon", _falcon(4544, 32, 71, 1)),
    "Falcon 40B": ("falcon", _falcon(8192, 60, 128, 8)),
    "Falcon 180B": ("falcon", _falcon(14848, 80, 232, 8)),
    "Mistral 7B": ("mistral", _llama(32000, 4096, 32, 32, 8, 14336, tie_word_embeddings=False)),
}


def hf_config(name: str):
    """The ``transformers`` config of Table 2.2's row ``name`` (a key of :data:`CONFIGS`)."""
    from transformers import AutoConfig

    model_type, kwargs = CONFIGS[checks.choice("name", name, tuple(CONFIGS))]
    return AutoConfig.for_model(model_type, **kwargs)


def shape(hf_config) -> dict[str, int]:
    """``{"depth", "width", "heads", "kv_heads"}`` of a causal LM's ``transformers`` config (GPT-style
    ``n_layer``/``n_embd``/``n_head`` or LLaMA-style names; Falcon's multi-query flag counts 1 KV head)."""
    from transformers import PretrainedConfig

    if not isinstance(hf_config, PretrainedConfig):
        raise TypeError(f"hf_config must be a transformers PretrainedConfig, got {type(hf_config).__name__}")
    c = hf_config
    heads = c.num_attention_heads
    if getattr(c, "model_type", "") == "falcon":
        kv = c.num_kv_heads if c.new_decoder_architecture else 1 if c.multi_query else heads
    else:
        kv = getattr(c, "num_key_value_heads", None) or heads
    return {"depth": c.num_hidden_layers, "width": c.hidden_size, "heads": heads, "kv_heads": kv}


def meta_param_count(hf_config) -> int:
    """Parameters of the ``transformers`` causal LM that ``hf_config`` describes, counted on a model
    built on the ``meta`` device (shapes only, no memory); a tied matrix counts once."""
    from transformers import AutoModelForCausalLM, PretrainedConfig

    if not isinstance(hf_config, PretrainedConfig):
        raise TypeError(f"hf_config must be a transformers PretrainedConfig, got {type(hf_config).__name__}")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


def mla_moe_params(hf_config) -> dict[str, int]:
    """DeepSeek-V3's parameters in closed form from its config (a ``DeepseekV3Config``): multi-head
    latent attention (queries and keys/values through low-rank latents) in every layer, dense FFNs
    in the first ``first_k_dense_replace`` layers and a mixture of experts (routed + shared experts,
    a router) in the rest. Returns ``{"total", "active", ...}``: ``active`` counts what one token
    uses, the shared expert and ``num_experts_per_tok`` routed ones. The multi-token-prediction
    module is not part of the config's model and is not counted."""
    c = hf_config
    for name in ("hidden_size", "kv_lora_rank", "n_routed_experts", "num_experts_per_tok"):
        if not hasattr(c, name):
            raise TypeError(f"hf_config must be a DeepSeek-V3 style config with {name!r}, "
                            f"got {type(c).__name__}")
    H, heads, qk = c.hidden_size, c.num_attention_heads, c.qk_nope_head_dim + c.qk_rope_head_dim
    if c.q_lora_rank is None:
        q = H * heads * qk
    else:
        q = H * c.q_lora_rank + c.q_lora_rank + c.q_lora_rank * heads * qk
    kv = H * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank
    kv += c.kv_lora_rank * heads * (c.qk_nope_head_dim + c.v_head_dim)
    attention = q + kv + heads * c.v_head_dim * H + 2 * H  # + o_proj + the block's two norms
    dense_ffn = 3 * H * c.intermediate_size
    expert = 3 * H * c.moe_intermediate_size
    router = c.n_routed_experts * H  # the gate's weight (its score-correction bias is a buffer)
    n_dense = c.first_k_dense_replace
    n_moe = c.num_hidden_layers - n_dense
    embeddings = c.vocab_size * H * (1 if c.tie_word_embeddings else 2) + H  # + the final norm
    shared = n_dense * dense_ffn + n_moe * (c.n_shared_experts * expert + router)
    total = embeddings + c.num_hidden_layers * attention + shared + n_moe * c.n_routed_experts * expert
    active = embeddings + c.num_hidden_layers * attention + shared + n_moe * c.num_experts_per_tok * expert
    return {"total": total, "active": active, "attention": c.num_hidden_layers * attention,
            "routed experts": n_moe * c.n_routed_experts * expert, "embeddings": embeddings}


def table_2_2() -> list[dict]:
    """Every row of the book's Table 2.2 beside what its configuration gives: ``{"model", "book":
    {"params", "depth", "width", "heads", "kv_heads"}, "counted": {...}, "config": hf_config}``, with
    ``params`` in parameters (the book's billions times 1e9) and the counted ones from
    :func:`meta_param_count`."""
    rows = []
    for name, billions, depth, width, heads, kv in BOOK_TABLE_2_2:
        config = hf_config(name)
        book = {"params": round(billions * 1e9), "depth": depth, "width": width, "heads": heads, "kv_heads": kv}
        rows.append({"model": name, "book": book, "counted": {"params": meta_param_count(config), **shape(config)},
                     "config": config})
    return rows

"""Our LoRA, prompt tuning and prefix tuning compute what ``peft`` computes on the same weights.

Each test converts an lmnotes GPT to ``transformers`` (``lmnotes.models.convert.to_hf``), wraps
that copy with peft, gives both adapters the same (non-trivial) weights and compares the logits.
GPT-2 form checks LoRA on the fused query/key/value matrix (``c_attn``, a transposed ``Conv1D``);
the bundled ``toyworld-gpt`` (LLaMA form, grouped-query attention) checks LoRA on the output
projections and both soft prompts. peft is a test-only dependency (pinned in requirements.txt);
the Colab-versions run skips ``tests/test_oracle_*.py``.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

peft = pytest.importorskip("peft")

from lmnotes import checkpoints  # noqa: E402
from lmnotes.models import GPT, GPTConfig  # noqa: E402
from lmnotes.models.convert import to_hf  # noqa: E402
from lmnotes.prompting.efficient import trainable_share  # noqa: E402
from lmnotes.prompting.lora import LoRALinear, add_lora, merge_lora  # noqa: E402
from lmnotes.prompting.soft_prompts import PrefixTuning, PromptTuning  # noqa: E402

TOL = 2e-5


@pytest.fixture(scope="module")
def toyworld():
    return checkpoints.load("toyworld-gpt").model.eval()


def _ids(vocab: int, shape=(2, 9), seed=0):
    return torch.randint(vocab, shape, generator=torch.Generator().manual_seed(seed))


def _randomise_lora(ours, seed=1):
    g = torch.Generator().manual_seed(seed)
    for m in ours.modules():
        if isinstance(m, LoRALinear):
            m.lora_B.data = torch.randn(m.lora_B.shape, generator=g) * 0.1


def _peft_lora(hf, ours, our_targets, their_targets, rank, alpha):
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules=their_targets, lora_dropout=0.0,
                             fan_in_fan_out=hf.config.model_type == "gpt2", init_lora_weights=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fan_in_fan_out note for Conv1D
        wrapped = peft.get_peft_model(hf, config)
    theirs = {n: m for n, m in wrapped.named_modules() if hasattr(m, "lora_A") and isinstance(m.lora_A, torch.nn.ModuleDict)}
    mine = {n: m for n, m in ours.named_modules() if isinstance(m, LoRALinear)}
    assert len(theirs) == len(mine) > 0
    for (_, a), (_, b) in zip(sorted(mine.items(), key=lambda kv: _order(kv[0])), sorted(theirs.items(), key=lambda kv: _order(kv[0]))):
        b.lora_A["default"].weight.data.copy_(a.lora_A.data)
        b.lora_B["default"].weight.data.copy_(a.lora_B.data)
    return wrapped.eval()


def _order(name):  # (layer, kind) so that ours and theirs line up
    parts = name.split(".")
    layer = next(int(p) for p in parts if p.isdigit())
    return layer, "down" in name  # attention output projection before the FFN's down projection


def test_lora_equals_peft_on_gpt2_fused_qkv():
    torch.manual_seed(0)
    ours = GPT(GPTConfig.preset("gpt2-tiny", vocab_size=97, n_layer=2, n_embd=64, n_head=4, block_size=32)).eval()
    hf = to_hf(ours).eval()
    add_lora(ours, rank=4, alpha=8, targets=["attn.qkv"])
    _randomise_lora(ours)
    theirs = _peft_lora(hf, ours, ["attn.qkv"], ["c_attn"], 4, 8)
    x = _ids(97)
    with torch.no_grad():
        diff = (ours(x) - theirs(input_ids=x).logits).abs().max().item()
    assert diff < TOL
    assert trainable_share(ours)["trainable"] == sum(p.numel() for p in theirs.parameters() if p.requires_grad)


def test_lora_equals_peft_on_toyworld_gpt(toyworld):
    ours = copy.deepcopy(toyworld)
    hf = to_hf(toyworld).eval()
    add_lora(ours, rank=8, alpha=16, targets=["attn.proj", "ffn.down"])
    _randomise_lora(ours, seed=2)
    theirs = _peft_lora(hf, ours, ["attn.proj", "ffn.down"], ["o_proj", "down_proj"], 8, 16)
    x = _ids(toyworld.config.vocab_size)
    with torch.no_grad():
        ours_logits, base_logits = ours(x), toyworld(x)
        diff = (ours_logits - theirs(input_ids=x).logits).abs().max().item()
        assert diff < TOL
        assert (ours_logits - base_logits).abs().max().item() > 1e-2  # the adapters do change the output
        merged = merge_lora(copy.deepcopy(ours))
        assert not any(isinstance(m, LoRALinear) for m in merged.modules())
        assert (merged(x) - ours_logits).abs().max().item() < TOL
    assert trainable_share(ours)["trainable"] == sum(p.numel() for p in theirs.parameters() if p.requires_grad)


def test_lora_starts_as_the_base_model(toyworld):
    ours = add_lora(copy.deepcopy(toyworld), rank=4)
    x = _ids(toyworld.config.vocab_size)
    with torch.no_grad():
        assert torch.equal(ours(x), toyworld(x))  # B = 0 at initialisation


def test_prompt_tuning_equals_peft(toyworld):
    n_virtual = 6
    ours = PromptTuning(copy.deepcopy(toyworld), n_virtual, seed=3)
    ours.prompt.data += 0.3 * torch.randn(ours.prompt.shape, generator=torch.Generator().manual_seed(4))
    config = peft.PromptTuningConfig(task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=n_virtual)
    theirs = peft.get_peft_model(to_hf(toyworld), config).eval()
    theirs.prompt_encoder["default"].embedding.weight.data.copy_(ours.prompt.data)
    x = _ids(toyworld.config.vocab_size)
    with torch.no_grad():
        ref = theirs(input_ids=x, attention_mask=torch.ones_like(x)).logits[:, n_virtual:]
        assert (ours(x) - ref).abs().max().item() < TOL
        assert (ours(x, attention_mask=torch.ones_like(x)) - ref).abs().max().item() < TOL
    assert trainable_share(ours)["trainable"] == sum(p.numel() for p in theirs.parameters() if p.requires_grad)


def test_prefix_tuning_equals_peft(toyworld):
    n_virtual = 5
    ours = PrefixTuning(copy.deepcopy(toyworld), n_virtual, seed=5)
    config = peft.PrefixTuningConfig(task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=n_virtual)
    theirs = peft.get_peft_model(to_hf(toyworld), config).eval()
    weight = theirs.prompt_encoder["default"].embedding.weight
    assert weight.numel() == ours.prefix.numel()
    weight.data.copy_(ours.prefix.data.reshape(n_virtual, -1))
    x = _ids(toyworld.config.vocab_size)
    with torch.no_grad():
        ref = theirs(input_ids=x, attention_mask=torch.ones_like(x)).logits
        assert (ours(x) - ref).abs().max().item() < TOL
        assert (ours(x) - toyworld(x)).abs().max().item() > 1e-2
    assert trainable_share(ours)["trainable"] == sum(p.numel() for p in theirs.parameters() if p.requires_grad)

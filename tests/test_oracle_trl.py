"""lmnotes' from-scratch alignment losses against trl's trainers on the same batch (trl is test-only).

SFT (book Eq. 4.1-4.4): ``SFTTrainer`` on prompt/completion data computes the mean cross-entropy
over the completion tokens of the batch; ``lmnotes.alignment.sft``'s batches (``pad_collate`` with
the response-only mask) through ``lmnotes.training.batch_loss`` must give the same number.
"""

from __future__ import annotations

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from lmnotes.alignment import sft  # noqa: E402
from lmnotes.data import pad_collate, toyworld  # noqa: E402
from lmnotes.models import GPT, GPTConfig  # noqa: E402
from lmnotes.models.convert import to_hf  # noqa: E402
from lmnotes.training import batch_loss  # noqa: E402


def _tiny_pair(seed: int = 0):
    tok = toyworld.tokenizer()
    torch.manual_seed(seed)
    ours = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=2, n_kv_head=1, n_embd=32,
                         pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)).eval()
    return tok, ours, to_hf(ours, pad_token_id=0, eos_token_id=tok.vocab["<eos>"]).eval()


def test_sft_response_only_loss_equals_trl_sft_trainer_completion_only_loss(tmp_path):
    tok, ours, hf = _tiny_pair()
    hf_tok = tok.to_hf()
    records = toyworld.instructions(6, seed=3)
    # trl appends the EOS token to each completion; ours gets the same token as part of the response
    rows = [{"prompt": r.prompt, "completion": f" {r.response} <eos>"} for r in records]
    config = trl.SFTConfig(output_dir=str(tmp_path), completion_only_loss=True, bf16=False, report_to="none",
                           per_device_train_batch_size=len(rows), max_length=64, use_cpu=True)
    trainer = trl.SFTTrainer(model=hf, args=config, train_dataset=datasets.Dataset.from_list(rows),
                             processing_class=hf_tok)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    hf.eval()
    with torch.no_grad():
        theirs = trainer.compute_loss(hf, dict(batch))

    examples = [sft.encode_pair(tok, r.prompt, r.response + " <eos>") for r in records]
    ours_batch = pad_collate(examples, 0, response_only=True)
    # the same tokens and the same counted positions as trl's batch
    for b, (prompt_ids, response_ids) in enumerate(examples):
        n = len(prompt_ids) + len(response_ids)
        assert batch["input_ids"][b, :n].tolist() == prompt_ids + response_ids
        counted = (batch["labels"][b, 1:n] != -100).tolist()
        assert counted == ours_batch["loss_mask"][b, : n - 1].bool().tolist()
    with torch.no_grad():
        mine = batch_loss(ours, ours_batch)
    assert mine.item() == pytest.approx(theirs.item(), rel=1e-5, abs=1e-6)

    # the full-sequence loss is a different number: the mask is what trl's completion_only_loss sets
    with torch.no_grad():
        full = batch_loss(ours, pad_collate(examples, 0, response_only=False))
    assert abs(full.item() - theirs.item()) > 1e-3

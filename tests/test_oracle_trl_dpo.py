"""Our DPO loss (lmnotes.alignment.dpo, Eq. 4.82) against trl's DPOTrainer on the same batch.

trl 1.16 has no standalone DPO-loss function: the trainer is built on a tiny in-memory dataset and
``compute_loss`` is called on a batch from its own collator. Skipped where trl is not installed
(the Colab-versions run ignores tests/test_oracle_*.py)."""

import copy

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")
transformers = pytest.importorskip("transformers")

from lmnotes import checkpoints, generation  # noqa: E402
from lmnotes.alignment import dpo  # noqa: E402
from lmnotes.data import toyworld  # noqa: E402


def _models(vocab_size: int):
    config = transformers.GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=0, eos_token_id=1, pad_token_id=0)
    torch.manual_seed(0)
    reference = transformers.GPT2LMHeadModel(config).eval()
    policy = copy.deepcopy(reference)
    with torch.no_grad():  # a policy that has moved away from the reference, so the loss is not log 2
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return policy, reference


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_loss_equals_trl(tmp_path, beta):
    tokenizer = checkpoints.load("toyworld-gpt").tokenizer
    pairs = toyworld.preference_pairs(4, seed=3)
    policy, reference = _models(len(tokenizer))
    data = datasets.Dataset.from_list([{"prompt": p.prompt, "chosen": " " + p.chosen, "rejected": " " + p.rejected}
                                       for p in pairs])
    args = trl.DPOConfig(output_dir=str(tmp_path), beta=beta, per_device_train_batch_size=4, bf16=False,
                         report_to="none", max_length=None, use_cpu=True)
    trainer = trl.DPOTrainer(model=policy, ref_model=copy.deepcopy(reference), args=args, train_dataset=data,
                             processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    policy.eval()
    theirs = trainer.compute_loss(policy, batch).item()

    ids, mask = batch["input_ids"], batch["completion_mask"]
    pc, pr = generation.sequence_logprobs(policy, ids, mask, batch["attention_mask"]).chunk(2)
    rc, rr = generation.sequence_logprobs(reference, ids, mask, batch["attention_mask"]).chunk(2)
    ours = dpo.dpo_loss(pc, pr, rc, rr, beta).item()
    assert abs(theirs - 0.6931) > 1e-3  # the policy differs from the reference: a real check
    assert ours == pytest.approx(theirs, abs=1e-5)

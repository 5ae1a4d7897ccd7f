"""Oracle: lmnotes' Bradley-Terry reward-model loss (Eq. 4.37-4.38) equals trl's RewardTrainer loss on
the same batch, with the same weights (our RewardModel converted to transformers' sequence classifier)."""

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")
transformers = pytest.importorskip("transformers")

from lmnotes import checkpoints  # noqa: E402
from lmnotes.alignment.rewards import RewardModel, bradley_terry_loss, pairwise_loss  # noqa: E402
from lmnotes.data import preference_pairs  # noqa: E402
from lmnotes.models import GPT, GPTConfig, to_hf  # noqa: E402


def _as_hf_classifier(reward_model: RewardModel, pad_id: int):
    causal = to_hf(reward_model.backbone)
    config = causal.config
    config.num_labels, config.pad_token_id = 1, pad_id
    classifier = transformers.LlamaForSequenceClassification(config)
    classifier.model.load_state_dict(causal.model.state_dict())
    classifier.score.weight.data.copy_(reward_model.head.weight.data)
    return classifier.eval()


def test_reward_loss_equals_trl_reward_trainer(tmp_path):
    tokenizer = checkpoints.load("toyworld-gpt").tokenizer
    torch.manual_seed(0)
    backbone = GPT(GPTConfig(vocab_size=len(tokenizer), block_size=64, n_layer=2, n_head=2, n_kv_head=1,
                             n_embd=32, pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False))
    ours = RewardModel(backbone).eval()
    torch.nn.init.normal_(ours.head.weight, std=0.5)
    theirs = _as_hf_classifier(ours, tokenizer.pad_token_id)
    pairs = preference_pairs(4, seed=3)
    data = datasets.Dataset.from_list([{"chosen": f"{p.prompt} {p.chosen}", "rejected": f"{p.prompt} {p.rejected}"}
                                       for p in pairs])
    args = trl.RewardConfig(output_dir=str(tmp_path), bf16=False, report_to="none", per_device_train_batch_size=4)
    trainer = trl.RewardTrainer(model=theirs, args=args, train_dataset=data, processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    with torch.no_grad():
        trl_loss = trainer.compute_loss(theirs, dict(batch))
        ours_loss = pairwise_loss(ours, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
        r = theirs(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    assert batch["input_ids"].shape[0] == 2 * len(pairs)  # chosen rows, then rejected rows
    assert abs(float(trl_loss) - float(ours_loss)) < 1e-5
    assert abs(float(trl_loss) - float(bradley_terry_loss(*r.chunk(2)))) < 1e-6
    assert abs(float(trl_loss) - 0.6931) > 1e-3  # the rewards really differ (not the log 2 of a blind model)

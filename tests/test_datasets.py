"""Torch batches: language-model blocks and padded supervised sequences."""

import pytest
import torch
from torch.utils.data import DataLoader

from lmnotes.data import IGNORE_INDEX, SupervisedDataset, lm_batch, lm_eval_batches, pad_collate, toyworld


def test_lm_batch_shapes_shift_and_generator():
    ids = torch.arange(1000) * 7  # token i is 7 i, so every window is identifiable
    x, y = lm_batch(ids, 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == torch.long
    starts = x[:, 0] // 7
    for row, start in zip(range(8), starts.tolist()):
        assert torch.equal(x[row], ids[start:start + 16]) and torch.equal(y[row], ids[start + 1:start + 17])
    again = lm_batch(ids, 8, 16, torch.Generator().manual_seed(0))
    other = lm_batch(ids, 8, 16, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], x) and not torch.equal(other[0], x)


def test_lm_batch_reaches_both_ends_of_the_stream():
    ids = torch.arange(10, dtype=torch.int32)
    x, y = lm_batch(ids, 500, 4, torch.Generator().manual_seed(0))
    assert x.dtype == torch.long
    assert set(x[:, 0].tolist()) == set(range(6))  # every start 0 .. len - block - 1
    assert y.max().item() == 9


def test_lm_eval_batches_cover_the_stream_in_order():
    ids = torch.arange(103)
    batches = list(lm_eval_batches(ids, 4, 10))
    assert [x.shape[0] for x, _ in batches] == [4, 4, 2]
    x = torch.cat([x for x, _ in batches])
    y = torch.cat([y for _, y in batches])
    assert torch.equal(x.flatten(), torch.arange(100)) and torch.equal(y.flatten(), torch.arange(1, 101))
    assert len(list(lm_eval_batches(torch.arange(11), 1, 10))) == 1


def test_pad_collate_response_only():
    batch = pad_collate([([1, 2, 3], [4, 5]), ([6], [7, 8, 9, 10])], pad_id=0)
    assert set(batch) == {"input_ids", "labels", "attention_mask", "loss_mask"}
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]
    assert batch["labels"].tolist() == [[-100, -100, 4, 5], [7, 8, 9, 10]]
    assert batch["loss_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    short = pad_collate([([1, 2], [3]), ([4, 5, 6], [7, 8])], pad_id=99)
    assert short["input_ids"].tolist() == [[1, 2, 99, 99], [4, 5, 6, 7]]
    assert short["labels"].tolist() == [[-100, 3, -100, -100], [-100, -100, 7, 8]]
    assert short["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert short["loss_mask"].dtype == torch.float
    assert torch.equal(short["loss_mask"] == 1, short["labels"] != IGNORE_INDEX)


def test_pad_collate_full_sequence_and_multi_turn():
    full = pad_collate([([1, 2, 3], [4, 5])], pad_id=0, response_only=False)
    assert full["labels"].tolist() == [[2, 3, 4, 5]] and full["loss_mask"].tolist() == [[1, 1, 1, 1]]
    turns = pad_collate([(torch.tensor([1, 2]), [3], [4, 5], [6, 7])], pad_id=0)
    assert turns["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6]]
    assert turns["labels"].tolist() == [[-100, 3, -100, -100, 6, 7]]  # only the model's turns


def test_supervised_dataset_with_a_dataloader_matches_the_full_text():
    vocab = {t: i + 1 for i, t in enumerate(toyworld.vocabulary())}  # 0 is the pad id here

    def encode(text):
        return [vocab[t] for t in text.split()]

    records = toyworld.instructions(6, 0)
    dataset = SupervisedDataset(records, encode)
    assert len(dataset) == 6
    loader = DataLoader(dataset, batch_size=3, collate_fn=lambda b: pad_collate(b, pad_id=0))
    rows = [(batch, i) for batch in loader for i in range(batch["input_ids"].shape[0])]
    for (batch, i), record in zip(rows, records):
        full = encode(record.text)
        n = len(full) - 1
        assert batch["input_ids"][i, :n].tolist() == full[:-1]
        targets = batch["labels"][i][batch["loss_mask"][i] == 1].tolist()
        assert targets == encode(record.response)
    with pytest.raises(TypeError, match="records must have .prompt and .response"):
        SupervisedDataset(toyworld.reviews(2, 0), encode)
    with pytest.raises(ValueError, match="records must be a non-empty"):
        SupervisedDataset([], encode)


@pytest.mark.parametrize("call,error,message", [
    (lambda: lm_batch(torch.arange(10.0), 2, 4), TypeError, "ids must be a torch.LongTensor of token ids \\(an integer dtype\\)"),
    (lambda: lm_batch([1, 2, 3], 2, 1), TypeError, "ids must be a torch.LongTensor"),
    (lambda: lm_batch(torch.zeros(4, 4, dtype=torch.long), 2, 2), ValueError, "ids must be a 1-D sequence"),
    (lambda: lm_batch(torch.tensor([], dtype=torch.long), 2, 2), ValueError, "at least 2 token"),
    (lambda: lm_batch(torch.arange(10), 2, 10), ValueError, "block_size must be at most"),
    (lambda: lm_batch(torch.arange(10), 0, 4), ValueError, "batch_size must be an integer in"),
    (lambda: lm_batch(torch.arange(10), 2, 4, generator=0), TypeError, "generator must be"),
    (lambda: next(lm_eval_batches(torch.arange(5), 2, 5)), ValueError, "block_size must be at most"),
    (lambda: pad_collate([], pad_id=0), ValueError, "examples must be a non-empty"),
    (lambda: pad_collate([([1, 2], [])], pad_id=0), ValueError, r"examples\[0\]\[1\] must not be empty"),
    (lambda: pad_collate([([1, 2],)], pad_id=0), ValueError, "at least one response"),
    (lambda: pad_collate([[1, 2, 3]], pad_id=0), TypeError, r"examples\[0\]\[0\] must be a list"),
    (lambda: pad_collate([([1.5], [2])], pad_id=0), TypeError, "int token ids"),
    (lambda: pad_collate([(torch.tensor([1.0]), [2])], pad_id=0), TypeError, "1-D integer tensor"),
    (lambda: pad_collate([([1], [2])], pad_id=-1), ValueError, "pad_id must be"),
    (lambda: pad_collate([([1],)], pad_id=0, response_only=False), ValueError, "at least 2 tokens"),
])
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()

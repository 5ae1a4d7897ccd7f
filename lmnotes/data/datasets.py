"""Batches for training: language-model blocks from a token stream, padded supervised sequences.

Language modelling (book section 1.2) predicts every next token of a stream: a batch is ``(x, y)``
with ``y`` = ``x`` shifted by one. Supervised fine-tuning (book section 4.1) predicts only the
response of a (prompt, response) pair: the batch carries the same next-token targets, with the
prompt's and the padding's positions masked out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import Dataset

from lmnotes import checks

IGNORE_INDEX = -100  # target value that losses skip (PyTorch's cross_entropy default)


def _stream_and_sizes(ids, batch_size, block_size) -> tuple[torch.Tensor, int, int]:
    """``ids`` one stream of integer token ids (>= 2 of them, none negative), ``batch_size`` and a
    ``block_size`` that fits in it."""
    ids = checks.token_ids("ids", ids, ndim=1, min_length=2)
    batch_size = checks.size("batch_size", batch_size, high=checks.MAX_EXAMPLES)
    block_size = checks.size("block_size", block_size)
    if block_size > len(ids) - 1:
        raise ValueError(f"block_size must be at most len(ids) - 1 = {len(ids) - 1} "
                         f"(a block needs one extra token for its targets), got {block_size}")
    return ids.long(), batch_size, block_size


def lm_batch(ids: torch.Tensor, batch_size: int, block_size: int,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random blocks of a token stream: ``x`` and ``y = x`` shifted by one, ``(B, T)``.

    The offsets come from ``generator`` (torch's global generator if None); all ``B * (T + 1)``
    tokens are fetched with one gather, as in nanoGPT's ``get_batch``.
    """
    ids, batch_size, block_size = _stream_and_sizes(ids, batch_size, block_size)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    chunks = ids[starts[:, None] + torch.arange(block_size + 1)]  # (B, T + 1)
    return chunks[:, :-1], chunks[:, 1:]


def lm_eval_batches(ids: torch.Tensor, batch_size: int, block_size: int
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every non-overlapping block of the stream, in order, ``batch_size`` blocks at a time (the last
    batch may be smaller; the tail shorter than a block is dropped): a deterministic evaluation pass."""
    ids, batch_size, block_size = _stream_and_sizes(ids, batch_size, block_size)
    n_blocks = (len(ids) - 1) // block_size
    x = ids[: n_blocks * block_size].view(n_blocks, block_size)
    y = ids[1: n_blocks * block_size + 1].view(n_blocks, block_size)
    for start in range(0, n_blocks, batch_size):
        yield x[start: start + batch_size], y[start: start + batch_size]


def _as_ids(value, where: str) -> list[int]:
    if isinstance(value, torch.Tensor):
        if value.dim() != 1 or value.dtype.is_floating_point or value.dtype == torch.bool:
            raise TypeError(f"{where} must be a 1-D integer tensor, got shape {tuple(value.shape)} "
                            f"dtype {value.dtype}")
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or any(
            isinstance(t, bool) or not isinstance(t, int) for t in value):
        raise TypeError(f"{where} must be a list of int token ids or a 1-D integer tensor, got {value!r}")
    if not value:
        raise ValueError(f"{where} must not be empty")
    return list(value)


def pad_collate(examples: Sequence[Sequence], pad_id: int, response_only: bool = True
                ) -> dict[str, torch.Tensor]:
    """Pad supervised examples into one batch (the DataLoader ``collate_fn`` of fine-tuning).

    Each example is ``(prompt_ids, response_ids)``, or for a conversation alternating segments
    ``(user, model, user, model, ...)``. The sequence is their concatenation; ``input_ids`` are all
    its tokens but the last and ``labels`` the next tokens (``-100`` where ignored), both ``(B, L)``
    with L the longest sequence minus one, padded on the right with ``pad_id``. ``loss_mask``
    (float) is 1 where the target counts: with ``response_only`` only targets inside model segments
    (SFT's response-only loss, book section 4.1), otherwise every real target.
    ``attention_mask`` is 1 on real tokens and 0 on padding.
    """
    if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
        raise ValueError(f"pad_id must be a non-negative int, got {pad_id!r}")
    response_only = checks.boolean("response_only", response_only)
    if not isinstance(examples, (list, tuple)) or not examples:
        raise ValueError(f"examples must be a non-empty list of (prompt_ids, response_ids), got {examples!r}")
    rows = []
    for i, example in enumerate(examples):
        if not isinstance(example, (list, tuple)) or not example or (response_only and len(example) < 2):
            raise ValueError(f"examples[{i}] must be a tuple of segments (prompt_ids, response_ids, ...)"
                             f"{' with at least one response' if response_only else ''}, got {example!r}")
        tokens, trained = [], []
        for k, segment in enumerate(example):
            segment = _as_ids(segment, f"examples[{i}][{k}]")
            tokens += segment
            trained += [k % 2 == 1 or not response_only] * len(segment)
        if len(tokens) < 2:
            raise ValueError(f"examples[{i}] must hold at least 2 tokens to have a target, got {tokens}")
        rows.append((tokens[:-1], tokens[1:], trained[1:]))
    length = max(len(inputs) for inputs, _, _ in rows)
    batch = {"input_ids": torch.full((len(rows), length), pad_id, dtype=torch.long),
             "labels": torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long),
             "attention_mask": torch.zeros(len(rows), length, dtype=torch.long),
             "loss_mask": torch.zeros(len(rows), length)}
    for b, (inputs, targets, trained) in enumerate(rows):
        n = len(inputs)
        mask = torch.tensor(trained, dtype=torch.bool)
        batch["input_ids"][b, :n] = torch.tensor(inputs)
        batch["labels"][b, :n] = torch.tensor(targets).masked_fill(~mask, IGNORE_INDEX)
        batch["attention_mask"][b, :n] = 1
        batch["loss_mask"][b, :n] = mask.float()
    return batch


class SupervisedDataset(Dataset):
    """Toy-world records with ``prompt`` and ``response`` (instructions, arithmetic, fact questions,
    ...) as ``(prompt_ids, response_ids)`` for :func:`pad_collate`.

    The response is encoded with its leading space (``encode(" " + response)``), so the two parts
    tokenize exactly like the record's full ``text`` also with byte-level BPE.
    """

    def __init__(self, records: Sequence, encode: Callable[[str], list[int]]):
        if not records:
            raise ValueError("records must be a non-empty sequence of records with prompt and response")
        missing = [i for i, r in enumerate(records) if not (hasattr(r, "prompt") and hasattr(r, "response"))]
        if missing:
            raise TypeError(f"records must have .prompt and .response; records[{missing[0]}] is "
                            f"{type(records[missing[0]]).__name__}")
        if not callable(encode):
            raise TypeError(f"encode must be a callable str -> list[int], got {type(encode).__name__}")
        self.records, self.encode = list(records), encode

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[list[int], list[int]]:
        record = self.records[index]
        return list(self.encode(record.prompt)), list(self.encode(" " + record.response))


def documents_stream(tok, documents) -> torch.Tensor:
    """``documents`` as one stream of ids, each followed by ``<eos>`` (as the toy-world recipes read text)."""
    if not isinstance(getattr(tok, "vocab", None), dict) or "<eos>" not in tok.vocab:
        raise TypeError(f"tok must be a tokenizer whose vocab holds '<eos>' (such as data.toyworld.tokenizer()), "
                        f"got {type(tok).__name__}")
    eos = tok.vocab["<eos>"]
    ids: list[int] = []
    for doc in checks.texts("documents", documents):
        ids.extend(tok.encode(doc))
        ids.append(eos)
    return torch.tensor(ids)

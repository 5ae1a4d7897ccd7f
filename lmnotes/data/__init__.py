"""The course's data: Shakespeare's plays (real English, offline), the toy world (synthetic tasks
with known answers, see ``docs/toyworld.md``) and the torch batches built from them."""

from lmnotes.data import overlap, toyworld
from lmnotes.data.datasets import (
    IGNORE_INDEX,
    SupervisedDataset,
    documents_stream,
    lm_batch,
    lm_eval_batches,
    pad_collate,
)
from lmnotes.data.shakespeare import Play, shakespeare_char_ids, shakespeare_chars, shakespeare_plays, shakespeare_text
from lmnotes.data.toyworld import (
    arithmetic,
    corpus,
    fact_questions,
    facts,
    hidden_reward,
    icl_documents,
    instructions,
    passkey,
    preference_pairs,
    ranked_lists,
    reviews,
    stories,
    vocabulary,
)

__all__ = [
    "IGNORE_INDEX", "Play", "overlap", "SupervisedDataset", "arithmetic", "corpus", "documents_stream", "fact_questions", "facts",
    "hidden_reward", "icl_documents", "instructions", "lm_batch", "lm_eval_batches", "pad_collate",
    "passkey", "preference_pairs", "ranked_lists", "reviews", "shakespeare_char_ids", "shakespeare_chars", "shakespeare_plays",
    "shakespeare_text", "stories", "toyworld", "vocabulary",
]

"""The course's data: Shakespeare's plays (real English, offline), the toy world (synthetic tasks
with known answers, see ``docs/toyworld.md``) and the torch batches built from them."""

from lmnotes.data import toyworld
from lmnotes.data.datasets import (
    IGNORE_INDEX,
    SupervisedDataset,
    lm_batch,
    lm_eval_batches,
    pad_collate,
)
from lmnotes.data.overlap import EVALUATION_SETS, evaluation_set, seen_in_training, training_stream, unseen
from lmnotes.data.shakespeare import Play, shakespeare_chars, shakespeare_plays, shakespeare_text
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
    reviews,
    stories,
    vocabulary,
)

__all__ = [
    "EVALUATION_SETS", "IGNORE_INDEX", "Play", "SupervisedDataset", "arithmetic", "corpus", "evaluation_set", "fact_questions", "facts",
    "hidden_reward", "icl_documents", "instructions", "lm_batch", "lm_eval_batches", "pad_collate",
    "passkey", "preference_pairs", "reviews", "seen_in_training", "shakespeare_chars", "shakespeare_plays",
    "shakespeare_text", "stories", "toyworld", "training_stream", "unseen", "vocabulary",
]

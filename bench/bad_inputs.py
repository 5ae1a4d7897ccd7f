"""Bad input to the public lmnotes API, tried systematically: is every refusal clear?

    python -m bench bad_inputs          (or: python bench/bad_inputs.py [--verbose])

A curated table gives one valid call for each public function (and the main methods of the
tokenizers and models). For every argument of that call the probe substitutes bad values of the
argument's kind (wrong types, bools for numbers, strings for numbers or booleans, nan/inf, negative,
zero and huge sizes, empty lists, a string for a list of texts, tensors of the wrong dtype, shape or
range, out-of-vocabulary token ids, a model of the wrong kind, missing tokenizers) and a few
cross-argument mistakes (mismatched lengths or batches). Each bad call runs in a forked child with a
time limit and a memory limit, and its outcome is classified:

- clear:   ValueError/TypeError whose message names the argument
- unclear: any other exception, or a ValueError/TypeError that does not name the argument
- silent:  the call returned a value (a wrong answer, or a wrong setting quietly ignored)
- hang:    it ran past the time limit or ran out of memory

Iterators, batch callables and context managers a call returns are driven one step, so that a lazy
error counts as raised. The valid call itself runs first; an entry whose valid call fails (for
example, a function missing at an older commit) is skipped and counted as such.

Measured on this machine (one core), the same probe file run against two commits:

| commit                     | calls | clear | unclear | silent | hang | skipped entries |
|----------------------------|------:|------:|--------:|-------:|-----:|----------------:|
| 606a280 (before issue 9)   |  1373 |   955 |     186 |    212 |   20 | 12 (functions not there yet) |
| f049f02 (main, checks.py in use) | 1475 | 1130 |   171 |    165 |    9 | 1 (its entry fixed since) |
| errors2 branch (after)     |  1481 |  1244 |     103 |    128 |    6 | 0 |
| d83b911 (main, on h9's machine) | 1474 | 1239 | 103 |    128 |    4 | 1 (seen_in_training's valid call > 8 s) |
| h9 branch (migrated checks) |  1474 |  1431 |      18 |     25 |    0 | 1 (the same) |

(Run with one core each, through ``/work/bin/cpu``: 319 s before, 146 s after.) Not every "silent" row
is a wrong answer: ``generate`` on right-padded prompts now left-aligns them and gives the unpadded
answer (correct, so "silent" by construction), ``max_new_tokens=0`` returns the prompt, and a NaN
inside a tensor argument propagates to a NaN result. Run with ``--verbose`` for every non-clear call.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

TIME_LIMIT_S = 8.0
MEMORY_LIMIT = 2 * 1024 ** 3  # bytes of address space a bad call may add

NAN, INF = float("nan"), float("inf")
HUGE = 10 ** 12


# ---------------------------------------------------------------------------------------------
# Fixtures: tiny models and data, built once in the parent and inherited by every forked child


class Fixtures:
    def __init__(self):
        import torch

        from lmnotes.data import toyworld
        from lmnotes.models import GPT, Encoder, EncoderConfig, EncoderDecoder, EncoderDecoderConfig, GPTConfig
        from lmnotes.tokenization import CharTokenizer, WordTokenizer

        torch.set_num_threads(1)
        torch.manual_seed(0)
        self.torch = torch
        self.tok = WordTokenizer(toyworld.vocabulary())
        self.V = self.tok.vocab_size
        shape = dict(vocab_size=self.V, block_size=64, n_layer=1, n_head=2, n_embd=16)
        self.gpt = GPT(GPTConfig(**shape)).eval()
        self.enc = Encoder(EncoderConfig(**shape)).eval()
        self.encdec = EncoderDecoder(EncoderDecoderConfig(**shape)).eval()
        self.char = CharTokenizer("abcdefghijklmnopqrstuvwxyz .")
        self.ids = torch.randint(6, self.V, (2, 8), generator=torch.Generator().manual_seed(1))
        self.row = self.ids[0].clone()
        self.logits = torch.randn(2, 8, self.V, generator=torch.Generator().manual_seed(2))
        self.docs = ["grace lives in oslo . grace has a hamster .", "tom has a dog ."]
        self.tmp = Path(tempfile.mkdtemp(prefix="bad_inputs_"))
        self.tok.save(self.tmp / "tok")


# ---------------------------------------------------------------------------------------------
# Bad values per kind of argument. Each is (label, value or f(fixtures, valid) -> value)


def _bad_ids(fx, v):
    t = fx.torch
    return [("float ids", v.float()), ("a list", v.tolist()), ("out of vocabulary", v + 10 * fx.V),
            ("negative ids", -v - 1), ("3-d", v[None])]


BAD: dict[str, Callable[[Any, Any], list[tuple[str, Any]]]] = {
    "size": lambda fx, v: [("bool", True), ("float", 2.5), ("str", "3"), ("zero", 0), ("negative", -1),
                           ("huge", HUGE)],
    "count": lambda fx, v: [("bool", True), ("float", 2.5), ("str", "3"), ("negative", -1), ("huge", HUGE)],
    "int": lambda fx, v: [("bool", True), ("float", 2.5), ("str", "3")],
    "seed": lambda fx, v: [("bool", True), ("float", 2.5), ("str", "0")],
    "prob": lambda fx, v: [("negative", -0.1), ("above 1", 1.5), ("nan", NAN), ("bool", True), ("str", "0.5")],
    "pos": lambda fx, v: [("zero", 0.0), ("negative", -1.0), ("nan", NAN), ("inf", INF), ("bool", True),
                          ("str", "1")],
    "real": lambda fx, v: [("nan", NAN), ("inf", INF), ("bool", True), ("str", "1")],
    "bool": lambda fx, v: [("str", "False"), ("int", 1), ("None", None)],
    "choice": lambda fx, v: [("unknown", "nonsense"), ("int", 3)],
    "text": lambda fx, v: [("int", 3), ("None", None), ("a list", [v])],
    "texts": lambda fx, v: [("one string", " ".join(v)), ("empty", []), ("ints", [1, 2]), ("None", None)],
    "list": lambda fx, v: [("empty", []), ("None", None), ("str", "abc")],
    "ids": _bad_ids,
    "ftensor": lambda fx, v: [("a list", v.tolist()), ("int dtype", v.long()), ("nan", v * NAN),
                              ("3 more dims", v[None, None, None])],
    "tensor": lambda fx, v: [("a list", v.tolist()), ("None", None), ("str", "x")],
    "causal": lambda fx, v: [("masked LM", fx.enc), ("None", None), ("str", "gpt")],
    "masked": lambda fx, v: [("causal LM", fx.gpt), ("None", None), ("str", "bert")],
    "model": lambda fx, v: [("None", None), ("str", "gpt")],
    "tok": lambda fx, v: [("None", None), ("str", "tok")],
    "gen": lambda fx, v: [("str", "x"), ("float", 2.5), ("bool", True)],
    "name": lambda fx, v: [("unknown", "no-such-thing"), ("int", 3), ("None", None)],
    "path": lambda fx, v: [("int", 3), ("None", None), ("missing", "/nonexistent/lmnotes-probe")],
    "fn": lambda fx, v: [("None", None), ("str", "f"), ("int", 3)],
    "config": lambda fx, v: [("None", None), ("dict", {"vocab_size": 3})],
    "mapping": lambda fx, v: [("None", None), ("str", "x"), ("list", [1, 2])],
}


@dataclass
class Entry:
    name: str                       # dotted path from lmnotes, e.g. "data.toyworld.stories"
    args: dict[str, tuple[str | None, Any]]   # argument -> (kind or None = not probed, valid value)
    extra: list[tuple[str, str, dict]] = field(default_factory=list)  # (label, named arg, overrides)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # other names a message may use
    call: Callable | None = None    # how to call, when not lmnotes.<name>(**args)
    then: Callable | None = None    # what to do with the result (drive a lazy object)


def A(kind, value):
    return (kind, value)


def table(fx) -> list[Entry]:
    torch = fx.torch
    tok, V, ids, row, gpt, enc, encdec, docs = fx.tok, fx.V, fx.ids, fx.row, fx.gpt, fx.enc, fx.encdec, fx.docs
    from lmnotes.data import toyworld
    from lmnotes.pretraining import experiments as P
    sp = P.toy_specials(tok)
    rows = P.document_rows(tok, docs, block_size=24)
    items = P.cloze_items(4, seed=0)
    E = Entry
    mask = torch.ones_like(ids)
    pairs = [(row, row.flip(0)), (row[:5], row[:4])]
    batch = {"input_ids": ids, "labels": ids}
    out: list[Entry] = [
        # data.toyworld
        E("data.toyworld.facts", dict(seed=A("seed", 0), n_people=A("size", 5))),
        E("data.toyworld.fact_questions", dict(n=A("size", 3), seed=A("seed", 0))),
        E("data.toyworld.stories", dict(n=A("size", 3), seed=A("seed", 0))),
        E("data.toyworld.clause_score", dict(word=A("text", "good"), negated=A("bool", False))),
        E("data.toyworld.review_label", dict(score=A("int", 2))),
        E("data.toyworld.reviews", dict(n=A("size", 3), seed=A("seed", 0), p_negation=A("prob", 0.3),
                                        p_contrast=A("prob", 0.3))),
        E("data.toyworld.arithmetic", dict(n=A("size", 3), seed=A("seed", 0), n_operands=A("size", 2),
                                           max_value=A("size", 9), operators=A("choice", "+"),
                                           worked=A("bool", True), reverse_digits=A("bool", False))),
        E("data.toyworld.extract_answer", dict(response=A("text", "the answer is 1 1 ."),
                                               reverse_digits=A("bool", False))),
        E("data.toyworld.solve_instruction", dict(task=A("choice", "reverse"), words=A("texts", ["a", "b"]))),
        E("data.toyworld.instructions", dict(n=A("size", 3), seed=A("seed", 0), templates=A("choice", "seen"),
                                             n_words=A("list", (2, 3)))),
        E("data.toyworld.parse_instruction", dict(prompt=A("text", toyworld.instructions(1, 0)[0].prompt))),
        E("data.toyworld.hidden_reward", dict(prompt=A("text", toyworld.instructions(1, 0)[0].prompt),
                                              response=A("text", "a b"))),
        E("data.toyworld.preference_pairs", dict(n=A("size", 3), seed=A("seed", 0), label_noise=A("prob", 0.1))),
        E("data.toyworld.passkey", dict(n=A("size", 2), seed=A("seed", 0), length=A("size", 64),
                                        depth=A("prob", 0.5), n_digits=A("size", 3))),
        E("data.toyworld.icl_documents", dict(n=A("size", 2), seed=A("seed", 0), n_lines=A("size", 4),
                                              p_fixed=A("prob", 0.4))),
        E("data.toyworld.corpus", dict(n_tokens=A("size", 200), seed=A("seed", 0))),
        # data.tasks, data.datasets, data.overlap, data.shakespeare
        E("data.tasks.bio_tags", dict(text=A("text", "grace lives in oslo ."))),
        E("data.tasks.agree_pairs", dict(n=A("size", 3), seed=A("seed", 0))),
        E("data.tasks.fact_qa", dict(n=A("size", 3), seed=A("seed", 0))),
        E("data.tasks.next_sentence_pairs", dict(n=A("size", 3), seed=A("seed", 0))),
        E("data.datasets.lm_batch", dict(ids=A("ids", row), batch_size=A("size", 2), block_size=A("size", 4))),
        E("data.datasets.lm_eval_batches", dict(ids=A("ids", row), batch_size=A("size", 2),
                                                block_size=A("size", 4)), then=lambda r: next(iter(r))),
        E("data.datasets.pad_collate", dict(examples=A("list", [([1, 2], [3]), ([4], [5, 6])]),
                                            pad_id=A("int", 0), response_only=A("bool", True))),
        E("data.overlap.seen_in_training", dict(name=A("name", "toyworld-gpt"), texts=A("texts", docs))),
        E("data.shakespeare.shakespeare_text", dict(split=A("choice", "val"))),
        E("data.shakespeare.markdown_to_text", dict(markdown=A("text", "# Title\n\nSome *text*."))),
        # tokenization
        E("tokenization.tokens_per_char", dict(tokenizer=A("tok", tok), texts=A("texts", docs))),
        E("tokenization.load", dict(folder=A("path", str(fx.tmp / "tok")))),
        E("tokenization.word_splits", dict(tokenizer=A("tok", tok), text=A("text", "grace has a dog ."))),
        E("tokenization.wordpiece.longest_match_first", dict(word=A("text", "unhappiness"),
                                                             vocab=A("list", ["un", "##happi", "##ness"]))),
        E("tokenization.bpe.pretokenize", dict(text=A("text", "hello world"))),
        E("tokenization.bpe.BPETokenizer.train", dict(text=A("text", "hello hello world " * 5),
                                                      vocab_size=A("size", 270))),
        E("tokenization.char.CharTokenizer", dict(alphabet=A("list", "abc"))),
        E("tokenization.word.WordTokenizer", dict(words=A("texts", ["a", "b"]))),
        E("tok.encode", dict(text=A("text", "grace has a dog .")), call=lambda text: tok.encode(text)),
        E("tok.decode", dict(ids=A("list", [7, 8, 9])), call=lambda ids: tok.decode(ids),
          extra=[("id out of vocabulary", "ids", dict(ids=[7, V + 5])), ("negative id", "ids", dict(ids=[-1]))]),
        E("char.encode", dict(text=A("text", "abc")), call=lambda text: fx.char.encode(text)),
        # models
        E("models.GPTConfig", dict(vocab_size=A("size", 20), block_size=A("size", 16), n_layer=A("size", 1),
                                   n_head=A("size", 2), n_embd=A("size", 16), prenorm=A("bool", True),
                                   bias=A("bool", True), dropout=A("prob", 0.0), norm=A("choice", "layernorm"),
                                   ffn=A("choice", "gelu"), pos=A("choice", "learned"),
                                   rope_theta=A("pos", 10000.0), tie_weights=A("bool", True))),
        E("models.EncoderConfig", dict(vocab_size=A("size", 20), block_size=A("size", 16), n_layer=A("size", 1),
                                       n_head=A("size", 2), n_embd=A("size", 16), dropout=A("prob", 0.0))),
        E("models.EncoderDecoderConfig", dict(vocab_size=A("size", 20), block_size=A("size", 16),
                                              n_layer=A("size", 1), n_head=A("size", 2), n_embd=A("size", 16))),
        E("models.GPT", dict(config=A("config", gpt.config))),
        E("gpt.forward", dict(idx=A("ids", ids), attention_mask=A("tensor", mask)),
          call=lambda idx, attention_mask: gpt(idx, attention_mask=attention_mask),
          extra=[("mask of another shape", "attention_mask", dict(attention_mask=mask[:1])),
                 ("longer than block_size", "idx", dict(idx=torch.zeros(1, 80, dtype=torch.long)))]),
        E("enc.forward", dict(idx=A("ids", ids)), call=lambda idx: enc(idx)),
        E("encdec.decode", dict(tgt=A("ids", ids)), call=lambda tgt: encdec.decode(tgt, encdec.encode(ids)),
          extra=[("batch mismatch", "context", dict(tgt=ids[:1].repeat(3, 1)))],
          aliases={"tgt": ("idx",)}),
        E("models.layers.sinusoidal_table", dict(positions=A("tensor", torch.arange(4)), dim=A("size", 8))),
        E("models.layers.alibi_slopes", dict(n_head=A("size", 4))),
        E("models.layers.build_mask", dict(T=A("size", 4), past=A("count", 0), causal=A("bool", True))),
        E("models.convert.to_hf", dict(model=A("model", gpt))),
        # objectives
        E("pretraining.objectives.causal_lm_targets", dict(ids=A("ids", ids))),
        E("pretraining.objectives.causal_mask", dict(T=A("size", 4))),
        E("pretraining.objectives.prefix_lm_mask", dict(T=A("size", 4), prefix=A("count", 2)),
          extra=[("prefix longer than T", "prefix", dict(T=4, prefix=6))]),
        E("pretraining.objectives.bert_mask", dict(ids=A("ids", ids), mask_id=A("int", sp.mask), vocab_size=A("size", V),
                                       mask_rate=A("prob", 0.15), mask_fraction=A("prob", 0.8),
                                       random_fraction=A("prob", 0.1), generator=A("gen", 0)),
          extra=[("fractions above 1", "fraction", dict(mask_fraction=0.8, random_fraction=0.5)),
                 ("mask_id outside vocab", "mask_id", dict(mask_id=V + 3))]),
        E("pretraining.objectives.random_order", dict(T=A("size", 5), generator=A("gen", 0))),
        E("pretraining.objectives.permutation_masks", dict(order=A("tensor", torch.tensor([2, 0, 1]))),
          extra=[("not a permutation", "order", dict(order=torch.tensor([0, 0, 1])))]),
        E("pretraining.objectives.unigram_probs", dict(corpus_ids=A("ids", row), vocab_size=A("size", V))),
        E("pretraining.objectives.replace_tokens", dict(ids=A("ids", ids), vocab_size=A("size", V), rate=A("prob", 0.15),
                                            generator=A("gen", 0))),
        E("pretraining.objectives.span_noise_mask", dict(length=A("size", 20), noise_density=A("prob", 0.15),
                                             mean_span_length=A("pos", 3.0), generator=A("gen", 0))),
        E("pretraining.objectives.span_corrupt", dict(ids=A("ids", row), sentinel_ids=A("list", [1, 2, 3, 4, 5]),
                                          vocab_size=A("size", V), noise_density=A("prob", 0.15),
                                          mean_span_length=A("pos", 3.0), generator=A("gen", 0))),
        E("pretraining.objectives.token_masking", dict(ids=A("ids", row), mask_id=A("int", sp.mask), vocab_size=A("size", V),
                                           rate=A("prob", 0.15), generator=A("gen", 0))),
        E("pretraining.objectives.token_deletion", dict(ids=A("ids", row), vocab_size=A("size", V), rate=A("prob", 0.15),
                                            generator=A("gen", 0))),
        E("pretraining.objectives.text_infilling", dict(ids=A("ids", row), mask_id=A("int", sp.mask), vocab_size=A("size", V),
                                            rate=A("prob", 0.3), poisson_lambda=A("pos", 3.0),
                                            generator=A("gen", 0))),
        E("pretraining.objectives.sentence_permutation", dict(ids=A("ids", row), separator_id=A("int", sp.sep),
                                                  vocab_size=A("size", V), generator=A("gen", 0))),
        E("pretraining.objectives.document_rotation", dict(ids=A("ids", row), vocab_size=A("size", V), generator=A("gen", 0))),
        E("pretraining.objectives.corrupt", dict(ids=A("ids", row), kind=A("choice", "token_deletion")),
          call=lambda ids, kind: __import__("lmnotes.pretraining.objectives").pretraining.objectives.corrupt(
              ids, kind, vocab_size=V, generator=0)),
        # pretraining
        E("pretraining.experiments.toy_specials", dict(tokenizer=A("tok", tok))),
        E("pretraining.experiments.document_rows", dict(tokenizer=A("tok", tok), documents=A("texts", docs),
                                            block_size=A("size", 24))),
        E("pretraining.experiments.causal_lm_batches", dict(rows=A("ids", rows), batch_size=A("size", 2), pad_id=A("int", sp.pad),
                                                seed=A("seed", 0)), then=lambda r: r(0)),
        E("pretraining.experiments.masked_lm_batches", dict(rows=A("ids", rows), batch_size=A("size", 2), vocab_size=A("size", V),
                                                specials=A(None, sp), mask_rate=A("prob", 0.15),
                                                seed=A("seed", 0)), then=lambda r: r(0)),
        E("pretraining.experiments.replaced_token_batches", dict(rows=A("ids", rows), batch_size=A("size", 2),
                                                     vocab_size=A("size", V), specials=A(None, sp),
                                                     rate=A("prob", 0.15), seed=A("seed", 0)), then=lambda r: r(0)),
        E("pretraining.experiments.sequence_log_prob", dict(model=A("causal", gpt), ids=A("ids", ids))),
        E("pretraining.experiments.cloze_items", dict(n=A("size", 3), seed=A("seed", 0))),
        E("pretraining.experiments.random_blanks", dict(documents=A("texts", docs), n=A("size", 2), seed=A("seed", 0))),
        E("pretraining.experiments.fill_in_blank", dict(model=A("model", enc), tokenizer=A("tok", tok), items=A("list", items),
                                            method=A("choice", "masked")),
          extra=[("a causal model for the masked method", "model", dict(model=gpt, method="masked")),
                 ("a masked model for a causal method", "model", dict(model=enc, method="left-to-right"))]),
        E("pretraining.experiments.fill_in_blank_accuracy", dict(model=A("model", enc), tokenizer=A("tok", tok),
                                                     items=A("list", items), method=A("choice", "masked")),
          extra=[("a causal model for the masked method", "model", dict(model=gpt, method="masked"))]),
        E("pretraining.experiments.denoising_pairs", dict(sequences=A("list", [row, row]), kind=A("choice", "token_deletion"),
                                              seed=A("seed", 0)),
          call=lambda sequences, kind, seed: __import__("lmnotes.pretraining.experiments").pretraining.experiments.denoising_pairs(
              sequences, kind, seed=seed, vocab_size=V)),
        E("pretraining.experiments.seq2seq_batch", dict(pairs=A("list", pairs), bos_id=A("int", sp.bos), eos_id=A("int", sp.eos),
                                            pad_id=A("int", sp.pad))),
        E("pretraining.experiments.show", dict(tokenizer=A("tok", tok), ids=A("ids", row))),
        # training
        E("training.lm_loss", dict(logits=A("ftensor", fx.logits), targets=A("ids", ids)),
          extra=[("targets of another shape", "targets", dict(targets=ids[:, :3]))]),
        E("training.perplexity", dict(loss=A("real", 2.0)),
          extra=[("huge loss", "loss", dict(loss=1000.0)), ("negative loss", "loss", dict(loss=-1.0))]),
        E("training.bits_per_token", dict(loss=A("real", 2.0)),
          extra=[("negative loss", "loss", dict(loss=-1.0))]),
        E("training.batch_loss", dict(model=A("causal", gpt), batch=A("mapping", (ids[:, :-1], ids[:, 1:])))),
        E("training.evaluate", dict(model=A("model", gpt), batches=A("list", [(ids[:, :-1], ids[:, 1:])])),
          extra=[("no batches", "batches", dict(batches=[]))]),
        E("training.lr_at", dict(step=A("count", 3), steps=A("size", 10), lr=A("pos", 1e-3), warmup=A("count", 2)),
          extra=[("warmup above steps", "warmup", dict(step=1, steps=10, lr=1e-3, warmup=20)),
                 ("step above steps", "step", dict(step=11, steps=10, lr=1e-3, warmup=2))]),
        E("training.configure_optimizer", dict(model=A("model", gpt), lr=A("pos", 1e-3),
                                               weight_decay=A("real", 0.1))),
        E("training.train", dict(model=A("model", gpt), batches=A("list", [(ids[:, :-1], ids[:, 1:])]),
                                 steps=A("size", 2), lr=A("pos", 1e-3), warmup=A("count", 0),
                                 grad_clip=A("pos", 1.0), progress=A("bool", False))),
        E("training.save_checkpoint", dict(path=A("path", str(fx.tmp / "ck.safetensors")), model=A("model", gpt))),
        # generation
        E("generation.top_k_filter", dict(logits=A("ftensor", fx.logits[:, -1]), k=A("size", 3))),
        E("generation.top_p_filter", dict(logits=A("ftensor", fx.logits[:, -1]), p=A("prob", 0.9))),
        E("generation.apply_repetition_penalty", dict(logits=A("ftensor", fx.logits[:, -1]), idx=A("ids", ids),
                                                      penalty=A("pos", 1.2))),
        E("generation.generate", dict(model=A("causal", gpt), idx=A("ids", ids[:, :3]), max_new_tokens=A("size", 3),
                                      do_sample=A("bool", True), temperature=A("pos", 1.0), top_k=A("size", 5),
                                      top_p=A("prob", 0.9), repetition_penalty=A("pos", 1.0),
                                      use_cache=A("bool", True)),
          extra=[("top_k without sampling", "top_k", dict(do_sample=False, top_k=5, top_p=None)),
                 ("top_p without sampling", "top_p", dict(do_sample=False, top_k=None, top_p=0.5)),
                 ("right padding", "attention_mask",
                  dict(attention_mask=torch.tensor([[1, 1, 0], [1, 1, 1]]), do_sample=False, top_k=None, top_p=None)),
                 ("beam search with repetition_penalty", "repetition_penalty",
                  dict(num_beams=2, repetition_penalty=1.5, do_sample=False, top_k=None, top_p=None))]),
        E("generation.beam_search", dict(model=A("causal", gpt), idx=A("ids", ids[:1, :3]),
                                         max_new_tokens=A("size", 3), num_beams=A("size", 2),
                                         length_penalty=A("real", 1.0))),
        E("generation.distinct_n", dict(sequences=A("list", [[1, 2, 3], [1, 2, 4]]), n=A("size", 2))),
        E("generation.repetition_rate", dict(sequences=A("list", [[1, 2, 3, 1, 2, 3]]), n=A("size", 2))),
        E("generation.continuation_nll", dict(model=A("causal", gpt), ids=A("ids", ids), prompt_len=A("size", 3)),
          extra=[("prompt_len past the end", "prompt_len", dict(prompt_len=20))]),
        # prompting
        E("prompting.next_token_distribution", dict(model=A("causal", gpt), tokenizer=A("tok", tok),
                                                    text=A("text", "grace has a"), k=A("size", 3))),
        E("prompting.continuation_logprobs", dict(model=A("causal", gpt), tokenizer=A("tok", tok),
                                                  prompts=A("texts", ["grace has a", "tom has a"]),
                                                  continuations=A("texts", ["dog", "cat"])),
          extra=[("mismatched lengths", "continuations", dict(continuations=["dog"]))]),
        E("prompting.classify_by_label_words", dict(model=A("causal", gpt), tokenizer=A("tok", tok),
                                                    prompts=A("texts", ["grace has a"]),
                                                    label_words=A("list", ["dog", "cat"])),
          extra=[("label word outside the vocabulary", "label_words", dict(label_words=["Dog", "Cat"]))]),
        E("prompting.build_prompt", dict(demonstrations=A("list", [("grace has a", "pos")]),
                                         query=A("text", "tom has a"), label_words=A(None, {"pos": "dog", "neg": "cat"}))),
        E("prompting.icl_ceiling", dict(shots=A("count", 2))),
        # finetuning
        E("pretraining.finetuning.accuracy", dict(predictions=A("list", [1, 0]), targets=A("list", [1, 1])),
          extra=[("mismatched lengths", "targets", dict(targets=[1]))]),
        E("pretraining.finetuning.best_span", dict(start_logits=A("ftensor", fx.logits[:, :, 0]),
                                       end_logits=A("ftensor", fx.logits[:, :, 1]), max_length=A("size", 3))),
        E("pretraining.finetuning.bag_of_words", dict(texts=A("texts", docs), vocabulary=A("texts", sorted(set(" ".join(docs).split()))))),
        E("pretraining.finetuning.naive_bayes", dict(train_counts=A("ftensor", torch.ones(4, 3)),
                                         train_labels=A("ids", torch.tensor([0, 1, 0, 1])),
                                         test_counts=A("ftensor", torch.ones(2, 3)), smoothing=A("pos", 1.0))),
        E("pretraining.finetuning.overlap_span", dict(question=A("text", "where does grace live ?"),
                                          context=A("text", "grace lives in oslo ."))),
        # compression, distributed, longcontext, scaling, function_icl, hub, checkpoints, exercises
        E("pretraining.compression.parameter_breakdown", dict(model=A("model", enc))),
        E("training.distillation_loss", dict(student_logits=A("ftensor", fx.logits),
                                                teacher_logits=A("ftensor", fx.logits.clone()),
                                                temperature=A("pos", 2.0), alpha=A("prob", 1.0))),
        E("pretraining.compression.student_from_teacher", dict(teacher=A("model", enc), layers=A("list", [0]))),
        E("pretraining.compression.heads_removed", dict(model=A("model", enc), heads=A("list", [(0, 1)])),
          then=lambda r: r.__enter__()),
        E("pretraining.compression.pruning_order", dict(importance=A("ftensor", torch.rand(1, 2)),
                                            order=A("choice", "least important first"))),
        E("generative.distributed.pipeline_bubble", dict(stages=A("size", 4), microbatches=A("size", 8))),
        E("generative.distributed.simulate_pipeline", dict(stages=A("size", 2), microbatches=A("size", 3))),
        E("generative.distributed.column_parallel_matmul", dict(x=A("ftensor", torch.randn(2, 4)), weight=A("ftensor", torch.randn(4, 6)),
                                                     parts=A("size", 2))),
        E("generative.distributed.summation_orders", dict(values=A("ftensor", torch.rand(100)))),
        E("generative.longcontext.kv_bytes_per_token", dict(config=A("config", gpt.config), bytes_per_value=A("size", 2))),
        E("generative.longcontext.linear_attention", dict(q=A("ftensor", torch.randn(1, 2, 4, 8)), k=A("ftensor", torch.randn(1, 2, 4, 8)),
                                               v=A("ftensor", torch.randn(1, 2, 4, 8)))),
        E("generative.longcontext.position_config", dict(pos=A("choice", "rope"), block_size=A("size", 16), vocab_size=A("size", 20))),
        E("generative.longcontext.rope_scaled", dict(config=A("config", __import__("lmnotes.generative.longcontext").generative.longcontext.position_config(
            "rope", 16, 20)), method=A("choice", "interpolation"), factor=A("pos", 2.0))),
        E("generative.scaling.fit_power_law", dict(x=A("list", [1e3, 1e4, 1e5, 1e6]), loss=A("list", [4.0, 3.0, 2.5, 2.2]))),
        E("generative.scaling.chinchilla_loss", dict(n_params=A("pos", 1e8), n_tokens=A("pos", 1e9))),
        E("generative.scaling.compute_optimal", dict(compute=A("pos", 1e20))),
        E("prompting.function_icl.linear_tasks", dict(n_tasks=A("size", 3), n_points=A("size", 4), dim=A("size", 2), seed=A("seed", 0))),
        E("prompting.function_icl.predictions", dict(estimator=A("choice", "least squares"),
                                           xs=A("ftensor", torch.randn(2, 4, 2)), ys=A("ftensor", torch.randn(2, 4)))),
        E("hub.hub_reachable", dict(timeout=A("pos", 0.5), url=A(None, "http://127.0.0.1:9"))),
        E("checkpoints.info", dict(name=A("name", "toyworld-gpt"))),
        E("checkpoints.load", dict(name=A("name", "toyworld-gpt"))),
        E("checkpoints.load_folder", dict(folder=A("path", str(fx.bundle)))) if getattr(fx, "bundle", None) else None,
        E("exercises.check", dict(name=A("name", "mask-counts"), answer=A(None, (1, 2, 3, 4))),
          extra=[("nan in an answer", "answer", dict(answer=(NAN, 48, 6, 6)))]),
        E("exercises.solution", dict(name=A("name", "mask-counts"))),
        E("repro.seed_everything", dict(seed=A("seed", 0))),
        E("generative.ablations.prepare", dict(text=A("text", "hello world"), kind=A("choice", "noisy"), rate=A("prob", 0.2),
                                    seed=A("seed", 0))),
    ]
    return [e for e in out if e is not None]


# ---------------------------------------------------------------------------------------------
# Running one call in a forked child


def _resolve(name: str):
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module("lmnotes." + ".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    import lmnotes

    obj = lmnotes
    for part in parts:
        obj = getattr(obj, part)
    return obj


def _invoke(entry: Entry, kwargs: dict) -> Any:
    fn = entry.call or _resolve(entry.name)
    result = fn(**kwargs)
    if entry.then is not None:
        result = entry.then(result)
    elif inspect.isgenerator(result) or type(result).__name__.endswith("iterator"):
        next(iter(result), None)
    return result


def _classify(exc: BaseException | None, argument: str, aliases: tuple[str, ...]) -> tuple[str, str]:
    if exc is None:
        return "silent", ""
    message = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, MemoryError):
        return "hang", message
    if isinstance(exc, (ValueError, TypeError)):
        text = str(exc).lower()
        names = (argument, *aliases)
        if any(n.lower() in text for n in names):
            return "clear", message
    return "unclear", message


def run_one(entry: Entry, kwargs: dict, argument: str) -> tuple[str, str]:
    """Fork, call, classify in the child; the parent enforces the time limit."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        try:
            soft = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize() + MEMORY_LIMIT
            resource.setrlimit(resource.RLIMIT_AS, (soft, soft))
            import warnings

            warnings.simplefilter("ignore")
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1), os.dup2(devnull, 2)
            try:
                _invoke(entry, kwargs)
                outcome = _classify(None, argument, ())
            except BaseException as exc:  # noqa: BLE001 - classifying every outcome is the point
                outcome = _classify(exc, argument, entry.aliases.get(argument, ()))
            os.write(write, json.dumps(outcome).encode())
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], TIME_LIMIT_S)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
        return "hang", f"over {TIME_LIMIT_S:.0f} s"
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    if not data:
        return "unclear", "the child died without an answer (crash)"
    return tuple(json.loads(data))


def bad_calls(fx, entry: Entry):
    """(argument, label, kwargs) for every bad call of an entry."""
    valid = {k: v for k, (_, v) in entry.args.items()}
    for argument, (kind, value) in entry.args.items():
        if kind is None:
            continue
        for label, bad in BAD[kind](fx, value):
            yield argument, label, {**valid, argument: bad}
    for label, argument, overrides in entry.extra:
        yield argument, label, {**valid, **overrides}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in argv or "-v" in argv
    fx = Fixtures()
    try:
        from lmnotes import checkpoints

        fx.bundle = checkpoints.path("toyworld-gpt")
    except Exception:  # noqa: BLE001
        fx.bundle = None
    counts = {"clear": 0, "unclear": 0, "silent": 0, "hang": 0}
    skipped = []
    start = time.perf_counter()
    rows = []
    for entry in table(fx):
        valid = {k: v for k, (_, v) in entry.args.items()}
        outcome, message = run_one(entry, valid, "")
        if outcome != "silent":
            skipped.append(f"{entry.name}: valid call gave {outcome} {message}")
            continue
        for argument, label, kwargs in bad_calls(fx, entry):
            outcome, message = run_one(entry, kwargs, argument)
            counts[outcome] += 1
            rows.append((entry.name, argument, label, outcome, message))
    total = sum(counts.values())
    elapsed = time.perf_counter() - start
    if verbose:
        for name, argument, label, outcome, message in rows:
            if outcome != "clear":
                print(f"{outcome:8s} {name}({argument}={label}): {message}")
        for line in skipped:
            print("skipped", line)
    print(f"{total} calls: {counts['clear']} clear, {counts['unclear']} unclear, {counts['silent']} silent, "
          f"{counts['hang']} hang; {len(skipped)} entries skipped; {elapsed:.0f} s")
    return 0 if counts["clear"] == total else 1


if __name__ == "__main__":
    sys.exit(main())

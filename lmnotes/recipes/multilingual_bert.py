"""``multilingual-bert`` (results only): small MLMs on toy-world languages A and B, or A alone,
for cross-lingual transfer (notebook 04, section 1.3.4).
"""

from __future__ import annotations

import time

import torch

from lmnotes.adaptation import hidden_states, pool_states
from lmnotes.data import toyworld
from lmnotes.data.datasets import documents_stream
from lmnotes.models import Encoder, EncoderConfig
from lmnotes.pretraining import experiments, finetuning, multilingual
from lmnotes.recipes.registry import Result, recipe
from lmnotes.repro import seed_everything
from lmnotes.tokenization import WordTokenizer
from lmnotes.training import History, train

#: the multilingual-bert study: one small MLM per seed on A and B text (or on A only), fine-tuned on A
MULTILINGUAL = dict(language_seed=0, order="same", n_tokens=150_000, data_seed=101, n_train=400, n_test=600,
                    n_layer=2, n_head=2, n_embd=64, block_size=32, batch_size=32, steps=1200, lr=3e-3, warmup=50,
                    finetune_steps=160, finetune_lr=1e-3, seeds=[0, 1, 2], pair_share=0.2)


@torch.no_grad()
def translation_retrieval(model, tok, language, words) -> float:
    """Share of ``words`` (non-shared A tokens) whose B word's input embedding has the A word's as
    its nearest neighbour (cosine) among the embeddings of all of ``words``: chance is 1 / len(words)."""
    emb = torch.nn.functional.normalize(model.wte.weight, dim=-1)
    a = emb[[tok.vocab[w] for w in words]]
    b = emb[[tok.vocab[language.words[w]] for w in words]]
    return ((b @ a.T).argmax(-1) == torch.arange(len(words))).float().mean().item()


@torch.no_grad()
def sentence_retrieval(model, tok, texts_a, texts_b) -> float:
    """Share of B texts whose nearest A text (cosine of mean-pooled last hidden states) is their own
    original: ``texts_b[i]`` is the translation of ``texts_a[i]``; chance is 1 / len(texts_a)."""
    model.eval()

    def embed(texts):
        rows = [tok.encode(t) for t in texts]
        width = max(map(len, rows))
        ids = torch.tensor([r + [tok.vocab["<pad>"]] * (width - len(r)) for r in rows])
        mask = (ids != tok.vocab["<pad>"]).long()
        return torch.nn.functional.normalize(pool_states(hidden_states(model, ids, mask), mask, "mean"), dim=-1)

    a, b = embed(texts_a), embed(texts_b)
    return ((b @ a.T).argmax(-1) == torch.arange(len(texts_a))).float().mean().item()


@recipe("multilingual-bert", "notebook 04's cross-lingual transfer (§1.3.4): a small MLM pre-trained on toy-world "
                             "languages A and B (or A only, or A and B with a share of translation pairs), fine-tuned on A's reviews, tested on B; 3 seeds; results only", results=True)
def multilingual_bert(smoke: bool = False) -> Result:
    import random as _random

    hp = dict(MULTILINGUAL)
    if smoke:
        hp.update(n_tokens=3000, n_test=100, steps=3, warmup=1, finetune_steps=2, seeds=[0])
    start = time.perf_counter()
    language = multilingual.second_language(hp["language_seed"], order=hp["order"])
    data = multilingual.transfer_data(language, hp["n_tokens"], seed=hp["data_seed"], n_train=hp["n_train"],
                                      n_test=hp["n_test"])
    tok = WordTokenizer(multilingual.bilingual_vocabulary(language))
    hf = tok.to_hf()

    def shuffled(docs):
        docs = list(docs)
        _random.Random(hp["data_seed"]).shuffle(docs)
        return docs

    # the bilingual arm: a share of the B documents replaced by their A originals with each sentence
    # beside its translation (translation language modelling's bilingual data, book §1.3.4)
    k = round(hp["pair_share"] * len(data["documents_b"]))
    parallel = multilingual.parallel_documents(language, data["sources_b"][:k])
    streams = {"A and B": documents_stream(tok, shuffled(data["documents_a"] + data["documents_b"])),
               "A only": documents_stream(tok, shuffled(data["documents_a"] + data["sources_b"])),
               "A and B, with translation pairs": documents_stream(tok, shuffled(data["documents_a"] + parallel
                                                                                 + data["documents_b"][k:]))}
    in_text = {w for d in data["documents_a"] for w in d.split()}
    words = sorted(w for w in in_text if w not in language.shared)
    texts_a, texts_b = [x for x, _ in data["test_a"]], [x for x, _ in data["test_b"]]
    labels, sp = toyworld.REVIEW_LABELS, experiments.toy_specials(tok)
    runs = []
    for seed in hp["seeds"]:
        for name, ids in streams.items():
            batches = experiments.stream_mlm_batches(ids, steps=hp["steps"], batch_size=hp["batch_size"],
                                                     block_size=hp["block_size"], vocab_size=tok.vocab_size,
                                                     specials=sp, seed=seed)
            seed_everything(seed)
            model = Encoder(EncoderConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                                          n_head=hp["n_head"], n_embd=hp["n_embd"], type_vocab_size=2))
            history = train(model, lambda step: batches[step], steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"],
                            weight_decay=0.01, seed=seed, progress=False)
            tune = dict(task="classify", mode="full", steps=hp["finetune_steps"], lr=hp["finetune_lr"], labels=labels,
                        seed=seed)
            tuned = finetuning.finetune(model, hf, data["train_a"], **tune)
            row = dict(pretraining=name, seed=seed, final_train_loss=round(sum(history.train_loss[-50:]) /
                                                                          len(history.train_loss[-50:]), 4),
                       test_a=finetuning.evaluate(tuned, data["test_a"])["accuracy"],
                       test_b=finetuning.evaluate(tuned, data["test_b"])["accuracy"],
                       word_retrieval=translation_retrieval(model, tok, language, words),
                       sentence_retrieval=sentence_retrieval(model, tok, texts_a, texts_b))
            if name != "A only":  # the in-language reference: the same model fine-tuned on B's labels
                row["tuned_on_b_test_b"] = finetuning.evaluate(
                    finetuning.finetune(model, hf, data["train_b"], **tune), data["test_b"])["accuracy"]
            runs.append(row)
    majority = max(sum(y == c for _, y in data["test_b"]) for c in labels) / len(data["test_b"])
    bag = {f"bag_of_words_{a}_on_{b}": multilingual.word_count_baseline(data, a, b)
           for a, b in (("a", "a"), ("a", "b"), ("b", "b"))}
    baselines = dict(majority_b=majority, **{k: v["accuracy"] for k, v in bag.items()},
                     bag_of_words_penalty={k: v["penalty"] for k, v in bag.items()},
                     word_retrieval_chance=1 / len(words), sentence_retrieval_chance=1 / len(texts_a))
    figures = {f"test_b_{name}": [round(r["test_b"], 4) for r in runs if r["pretraining"] == name] for name in streams}
    figures.update(majority_b=round(majority, 4), train_minutes=round((time.perf_counter() - start) / 60, 2))
    results = dict(runs=runs, baselines=baselines, n_test=len(data["test_b"]), n_train=len(data["train_a"]),
                   n_words=len(words), dropped=data["dropped"], n_dev=len(data["dev_a"]), translation_pairs=k,
                   pretraining_tokens={name: len(ids) for name, ids in streams.items()},
                   documents=dict(a=len(data["documents_a"]), b=len(data["documents_b"])))
    return Result(None, None, History(), figures, dict(hp, results=results))

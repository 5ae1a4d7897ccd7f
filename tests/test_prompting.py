"""lmnotes.prompting: continuation scores equal the chain rule computed by hand, padding changes
nothing, k-shot prompts are laid out as the template says, order sensitivity is measured."""

import pytest
import torch

from lmnotes import prompting as pr
from lmnotes.data import toyworld
from lmnotes.models import GPT, GPTConfig
from lmnotes.tokenization import WordTokenizer

torch.set_num_threads(1)

WORDS = ["the", "film", "is", "good", "bad", "fine", "very", "not", "great", "awful", "->", "."]
LABEL_WORDS = {"pos": "great", "neg": "awful"}


@pytest.fixture(scope="module")
def tok():
    return WordTokenizer(WORDS).to_hf()


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(tok), block_size=32, n_layer=1, n_head=2, n_kv_head=2, n_embd=16,
                         pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)).eval()


def logprob_by_hand(model, ids: list[int], n_new: int) -> float:
    """Chain rule on one unpadded sequence: sum of log P(token t | tokens before t) over the last n_new."""
    with torch.no_grad():
        logp = model(torch.tensor([ids]))[0].log_softmax(-1)
    return sum(logp[t - 1, ids[t]].item() for t in range(len(ids) - n_new, len(ids)))


def test_continuation_logprobs_match_the_chain_rule(model, tok):
    prompts = ["the film is", "the film is not very", "good"]  # different lengths: left padding in play
    single = pr.continuation_logprobs(model, tok, prompts, ["great", "awful"])
    multi = pr.continuation_logprobs(model, tok, prompts, ["great", "awful", "very good ."])
    assert single.shape == (3, 2) and multi.shape == (3, 3)
    for i, p in enumerate(prompts):
        for j, c in enumerate(["great", "awful", "very good ."]):
            ids = tok.encode(f"{p} {c}")
            want = logprob_by_hand(model, ids, len(c.split()))
            assert multi[i, j].item() == pytest.approx(want, abs=1e-4)
            if j < 2:
                assert single[i, j].item() == pytest.approx(want, abs=1e-4)
    # a batch of one gives the same as the padded batch
    alone = pr.continuation_logprobs(model, tok, prompts[:1], ["great", "awful", "very good ."], batch_size=1)
    assert torch.allclose(alone[0], multi[0], atol=1e-4)


def test_classify_by_label_words_takes_the_argmax(model, tok):
    prompts = ["the film is", "the film is not", "fine"]
    scores = pr.continuation_logprobs(model, tok, prompts, ["great", "awful"])
    want = ["pos" if s[0] > s[1] else "neg" for s in scores.tolist()]
    assert pr.classify_by_label_words(model, tok, prompts, LABEL_WORDS) == want
    assert pr.classify_by_label_words(model, tok, prompts, ["great", "awful"]) == [["pos", "neg"].index(w) for w in want]


def test_next_token_distribution_is_the_softmax_top_k(model, tok):
    top = pr.next_token_distribution(model, tok, "the film is", k=4)
    with torch.no_grad():
        probs = model(torch.tensor([tok.encode("the film is")]))[0, -1].softmax(-1)
    values, indices = probs.topk(4)
    assert [t for t, _ in top] == [tok.decode([i]) for i in indices.tolist()]
    assert [p for _, p in top] == pytest.approx(values.tolist())
    assert sum(probs.tolist()) == pytest.approx(1.0, abs=1e-5)


def test_build_prompt_layout():
    demos = [("the film is good", "pos"), ("the film is bad", "neg")]
    got = pr.build_prompt(demos, "the film is fine", LABEL_WORDS, "{input} -> {output} .")
    assert got == "the film is good -> great . the film is bad -> awful . the film is fine ->"
    assert pr.build_prompt([], "fine", LABEL_WORDS, "{input} -> {output} .") == "fine ->"
    assert pr.build_prompt(demos[:1], "fine", LABEL_WORDS, separator=" . ") == "the film is good great . fine"


class MostRecentLabel(torch.nn.Module):
    """A stub language model that always continues with the most recent label word it has read."""

    def __init__(self, tok):
        super().__init__()
        self.config = GPTConfig(vocab_size=len(tok), block_size=64, n_layer=1, n_head=1, n_embd=4)
        self.label_ids = [tok.get_vocab()[w] for w in LABEL_WORDS.values()]
        self.vocab = len(tok)

    def forward(self, idx, attention_mask=None):
        logits = torch.zeros(*idx.shape, self.vocab)
        for b in range(idx.shape[0]):
            recent = self.label_ids[0]
            for t in range(idx.shape[1]):
                if int(idx[b, t]) in self.label_ids:
                    recent = int(idx[b, t])
                logits[b, t, recent] = 10.0
        return logits


def test_few_shot_accuracy_and_order_spread(tok):
    stub = MostRecentLabel(tok)
    demos = [("the film is good", "pos"), ("the film is bad", "neg")]
    queries = [("the film is very good", "pos"), ("not good", "neg"), ("fine", "neg")]
    template = "{input} -> {output} ."
    # the last demonstration is "neg": 2 of the 3 queries right; reversed, only 1
    assert pr.few_shot_accuracy(stub, tok, demos, queries, LABEL_WORDS, template) == pytest.approx(2 / 3)
    spread = pr.order_accuracies(stub, tok, demos, queries, LABEL_WORDS, template, n_orders=5)
    assert sorted(spread) == pytest.approx([1 / 3, 2 / 3])  # only 2! = 2 orders exist
    four = demos * 2
    accs = pr.order_accuracies(stub, tok, four, queries, LABEL_WORDS, template, n_orders=5, seed=1)
    assert len(accs) == 5 and set(accs) <= {1 / 3, 2 / 3}


def test_bad_input_is_refused(model, tok):
    with pytest.raises(TypeError, match="prompts must be a list of texts"):
        pr.continuation_logprobs(model, tok, "the film", ["great"])
    with pytest.raises(ValueError, match="block_size=32"):
        pr.continuation_logprobs(model, tok, [" ".join(["the"] * 40)], ["great"])
    with pytest.raises(ValueError, match="at least 2 distinct"):
        pr.classify_by_label_words(model, tok, ["the film"], ["great", "great"])
    with pytest.raises(TypeError, match="label_words"):
        pr.classify_by_label_words(model, tok, ["the film"], "great")
    with pytest.raises(ValueError, match="template must"):
        pr.build_prompt([], "fine", LABEL_WORDS, "{input} is great")
    with pytest.raises(ValueError, match="before"):
        pr.build_prompt([], "fine", LABEL_WORDS, "{output} {input}")
    with pytest.raises(ValueError, match="label must be one of"):
        pr.build_prompt([("good", "positive")], "fine", LABEL_WORDS)
    with pytest.raises(ValueError, match="k must be"):
        pr.next_token_distribution(model, tok, "the", k=0)
    with pytest.raises(ValueError, match="n_orders"):
        pr.order_accuracies(model, tok, [], [("fine", "pos")], LABEL_WORDS, n_orders=0)
    with pytest.raises(TypeError, match="causal model"):
        pr.continuation_logprobs(torch.nn.Linear(2, 2), tok, ["the"], ["great"])


def test_demonstration_separator_does_not_leak_into_label_scoring(model, tok):
    demos = [("the film is good", "pos"), ("the film is bad", "neg")]
    queries = [("the film is very good", "pos"), ("not good", "neg"), ("fine", "neg")]
    template = "{input} -> {output}"
    prompts = [pr.build_prompt(demos, x, LABEL_WORDS, template, separator=" . ") for x, _ in queries]
    assert prompts[0] == "the film is good -> great . the film is bad -> awful . the film is very good ->"
    predicted = pr.classify_by_label_words(model, tok, prompts, LABEL_WORDS)  # word after one space
    want = sum(p == y for p, (_, y) in zip(predicted, queries)) / 3
    assert pr.few_shot_accuracy(model, tok, demos, queries, LABEL_WORDS, template, separator=" . ") == want


def test_icl_ceiling_matches_a_simulation_of_the_generator():
    from lmnotes.data import toyworld
    from lmnotes.prompting import icl_baselines, icl_ceiling

    assert icl_ceiling(0) == pytest.approx(1 / 12)
    assert icl_ceiling(1) == pytest.approx(1 - (10 / 11) * 0.5)
    for k in (1, 2, 4):
        docs = toyworld.icl_documents(4000, seed=k, n_lines=k + 1, p_fixed=0.0)
        sim = icl_baselines(docs)
        assert sim["ceiling"] == pytest.approx(icl_ceiling(k), abs=0.02)
        # with random label words the majority / most-recent label is right only by chance
        assert abs(sim["majority"] - 0.5) < 0.03 and abs(sim["most_recent"] - 0.5) < 0.03


def test_icl_ceiling_and_baselines_reject_bad_input():
    from lmnotes.prompting import icl_baselines, icl_ceiling

    with pytest.raises(ValueError, match="shots"):
        icl_ceiling(-1)
    with pytest.raises(TypeError, match="shots"):
        icl_ceiling(2.5)
    with pytest.raises(ValueError, match="pool_size"):
        icl_ceiling(2, pool_size=1)
    with pytest.raises(TypeError, match="documents"):
        icl_baselines(["dog -> yes ."])


def test_icl_accuracy_is_chance_free_for_a_model_that_copies_the_last_label():
    """A 'model' that always predicts the label of the previous demonstration scores about 1 - 0.5 (k >= 1)."""
    tok = toyworld.tokenizer()

    class CopyLastLabel(torch.nn.Module):
        def forward(self, idx):
            logits = torch.zeros(*idx.shape, tok.vocab_size)
            if idx.shape[1] >= 6:  # "... x -> LABEL . q ->": the last label sits 4 tokens back
                logits[torch.arange(idx.shape[0]), -1, idx[:, -4]] = 1.0
            return logits

    acc0 = pr.icl.icl_accuracy(CopyLastLabel(), tok, 0, n=200)
    acc4 = pr.icl.icl_accuracy(CopyLastLabel(), tok, 4, n=400)
    assert acc0 < 0.05  # nothing to copy: never the label word (the argmax of zeros is token 0)
    assert 0.4 < acc4 < 0.6  # the previous label matches the query's class half the time


def test_icl_document_labels_each_line_by_its_class_and_reorders_keep_the_query_last():
    from lmnotes.prompting import icl

    doc = toyworld.icl_document("kind", ("yes", "left"), ["lion", "pear", "fox", "cow"])
    assert doc.prompt == "lion -> yes . pear -> left . fox -> yes . cow ->" and doc.response == "yes"
    assert doc.targets == ("yes", "left", "yes", "yes") and doc.text.endswith("cow -> yes .")
    drawn = toyworld.icl_documents(50, seed=3, n_lines=5, p_fixed=0.0)
    rebuilt = [toyworld.icl_document(d.task, d.label_words, d.inputs) for d in drawn]
    assert rebuilt == drawn  # the generator's documents are exactly this form
    back = icl.reorder_demonstrations(doc, [2, 1, 0])
    assert back.prompt == "fox -> yes . pear -> left . lion -> yes . cow ->" and back.response == "yes"
    assert icl.reorder_demonstrations(doc, [0, 1, 2]) == doc
    with pytest.raises(ValueError, match="order"):
        icl.reorder_demonstrations(doc, [0, 1, 1])
    with pytest.raises(ValueError, match="inputs"):
        toyworld.icl_document("kind", ("yes", "left"), ["lion", "seven"])
    with pytest.raises(ValueError, match="label_words"):
        toyworld.icl_document("kind", ("yes", "yes"), ["lion"])


def test_document_ceiling_is_one_once_the_query_class_is_shown():
    from lmnotes.prompting import icl

    shown = toyworld.icl_document("kind", ("yes", "left"), ["lion", "pear", "cow"])
    hidden = toyworld.icl_document("kind", ("yes", "left"), ["pear", "plum", "cow"])
    alone = toyworld.icl_document("kind", ("yes", "left"), ["cow"])
    pool = len(toyworld.ICL_LABEL_POOL)
    assert icl.document_ceiling(shown) == 1.0
    assert icl.document_ceiling(hidden) == pytest.approx(1 / (pool - 1))
    assert icl.document_ceiling(alone) == pytest.approx(1 / pool)
    assert icl.icl_baselines([shown, hidden])["ceiling"] == pytest.approx((1 + 1 / (pool - 1)) / 2)
    with pytest.raises(TypeError, match="document"):
        icl.document_ceiling("lion -> yes . cow ->")


def test_icl_predictions_are_the_argmax_word_and_accuracy_counts_them():
    from lmnotes.prompting import icl

    tok = toyworld.tokenizer()

    class CopyLastLabel(torch.nn.Module):
        def forward(self, idx):
            logits = torch.zeros(*idx.shape, tok.vocab_size)
            logits[torch.arange(idx.shape[0]), -1, idx[:, -4]] = 1.0
            return logits

    docs = [toyworld.icl_document("kind", ("yes", "left"), ["lion", "pear", "cow"]),
            toyworld.icl_document("kind", ("no", "right"), ["pear", "lion", "fig"])]
    assert icl.icl_predictions(CopyLastLabel(), tok, docs) == ["left", "no"]  # the label 4 tokens back
    assert icl.icl_accuracy(CopyLastLabel(), tok, 2, documents=docs) == 0.0
    swapped = [icl.reorder_demonstrations(d, [1, 0]) for d in docs]
    assert icl.icl_accuracy(CopyLastLabel(), tok, 2, documents=swapped) == 1.0
    with pytest.raises(ValueError, match="documents"):
        icl.icl_predictions(CopyLastLabel(), tok, [docs[0], toyworld.icl_document("kind", ("yes", "no"), ["cow"])])


def test_nearest_demonstrations_rank_by_embedding_cosine_nearest_last(tok):
    from lmnotes.prompting import icl

    model = GPT(GPTConfig(vocab_size=len(tok), block_size=8, n_layer=1, n_head=1, n_kv_head=1, n_embd=4,
                          pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)).eval()
    vectors = {"good": [1, 0, 0, 0], "great": [0.9, 0.1, 0, 0], "fine": [0.5, 0.5, 0, 0],
               "bad": [-1, 0, 0, 0], "awful": [0, 0, 1, 0]}
    with torch.no_grad():
        for word, v in vectors.items():
            model.wte.weight[tok.encode(word)[0]] = torch.tensor(v) * 3.0  # scale: cosine ignores it
    pool = ["bad", "fine", "great", "awful", "good"]
    assert icl.nearest_demonstrations(model, tok, "good", pool, 2) == ["fine", "great"]  # query excluded
    assert icl.nearest_demonstrations(model, tok, "good", pool, 4) == ["bad", "awful", "fine", "great"]
    with pytest.raises(ValueError, match="k must"):
        icl.nearest_demonstrations(model, tok, "good", pool, 5)
    with pytest.raises(ValueError, match="pool"):
        icl.nearest_demonstrations(model, tok, "good", ["very good"], 1)

"""Notebook 10's modules: LoRA, soft prompts, prompt search, context distillation, prompt length
reduction, and the adaptation comparison, on a tiny GPT (the peft equality tests are in
tests/test_oracle_peft.py)."""

import copy
import random

import pytest
import torch

from lmnotes.models import GPT, GPTConfig
from lmnotes.prompting import distillation, efficient, search
from lmnotes.prompting import length_reduction as lr
from lmnotes.prompting.efficient import trainable_share
from lmnotes.prompting.lora import LoRALinear, add_lora, merge_lora
from lmnotes.prompting.soft_prompts import PrefixTuning, PromptTuning
from lmnotes.tokenization import WordTokenizer

torch.set_num_threads(1)

WORDS = ["the", "film", "is", "good", "bad", "fine", "very", "not", "great", "awful", "->", "."]
LABELS = {"pos": "great", "neg": "awful"}


@pytest.fixture(scope="module")
def tok():
    return WordTokenizer(WORDS).to_hf()


@pytest.fixture()
def model(tok):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(tok), block_size=32, n_layer=2, n_head=2, n_kv_head=1, n_embd=16,
                         pos="rope", norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False)).eval()


ITEMS = [("the film is good", "pos"), ("the film is very good", "pos"), ("the film is bad", "neg"),
         ("the film is not good", "neg"), ("the film is great", "pos"), ("the film is awful", "neg")]


# ---- LoRA -------------------------------------------------------------------------------------

def test_lora_trains_only_the_adapters_and_merges_exactly(model):
    n = model.num_params()
    add_lora(model, rank=2, targets=["attn.qkv", "ffn.down"])
    share = trainable_share(model)
    # per layer: qkv 16 -> 32 (2 kv heads of 8 each... n_kv_head=1: 16 + 2 * 8 = 32), down 64 -> 16
    qkv_out = 16 + 2 * 8
    assert share["trainable"] == 2 * 2 * ((16 + qkv_out) + (model.config.d_ff + 16))
    assert share["total"] == n + share["trainable"]
    for m in model.modules():
        if isinstance(m, LoRALinear):
            m.lora_B.data.normal_()
    x = torch.randint(len(WORDS), (2, 7))
    with torch.no_grad():
        before = model(x)
        merge_lora(model)
        assert torch.allclose(model(x), before, atol=1e-5)
    assert trainable_share(model)["total"] == n


@pytest.mark.parametrize("rank", [0, -1])
def test_lora_rejects_a_rank_below_one(model, rank):
    with pytest.raises(ValueError, match="rank"):
        add_lora(model, rank=rank)


def test_lora_rejects_unknown_targets_and_a_second_wrapping(model):
    with pytest.raises(ValueError, match="targets"):
        add_lora(model, rank=2, targets=["mlp.c_fc"])
    add_lora(model, rank=2)
    with pytest.raises(ValueError, match="already has LoRA"):
        add_lora(model, rank=2)


# ---- soft prompts -----------------------------------------------------------------------------

def test_prompt_tuning_equals_prepending_the_vectors_as_embeddings(model):
    wrapped = PromptTuning(copy.deepcopy(model), n_virtual=3, init_ids=[3, 4, 5])
    x = torch.randint(len(WORDS), (2, 6))
    with torch.no_grad():
        # initialised from tokens 3, 4, 5: exactly the model reading those tokens first
        full = model(torch.cat([torch.tensor([[3, 4, 5]] * 2), x], 1))[:, 3:]
        assert torch.allclose(wrapped(x), full, atol=1e-5)
    assert trainable_share(wrapped)["trainable"] == 3 * 16


def test_prefix_tuning_with_the_models_own_keys_equals_reading_the_tokens(model):
    prefix_ids = torch.tensor([[1, 2, 3, 4]])
    wrapped = PrefixTuning(copy.deepcopy(model), n_virtual=4)
    from lmnotes.models import KVCache

    cache = KVCache()
    with torch.no_grad():
        model(prefix_ids, cache=cache)
        kv = torch.stack([torch.stack([k[0], v[0]]) for k, v in zip(cache.keys, cache.values)])  # (L, 2, H, P, d)
        wrapped.prefix.data = kv.permute(3, 0, 1, 2, 4).contiguous()
        x = torch.randint(len(WORDS), (2, 5))
        full = model(torch.cat([prefix_ids.expand(2, -1), x], 1))[:, 4:]
        assert torch.allclose(wrapped(x), full, atol=1e-5)
        mask = torch.ones_like(x)
        assert torch.allclose(wrapped(x, attention_mask=mask), full, atol=1e-5)
    assert trainable_share(wrapped)["trainable"] == 4 * 2 * 2 * 1 * 8


def test_soft_prompts_reject_bad_input(model):
    with pytest.raises(TypeError, match="model"):
        PromptTuning(torch.nn.Linear(2, 2), 3)
    with pytest.raises(ValueError, match="n_virtual"):
        PrefixTuning(model, 0)
    with pytest.raises(ValueError, match="init_ids"):
        PromptTuning(model, 2, init_ids=[1])


# ---- the comparison ---------------------------------------------------------------------------

def test_adapter_builds_each_method_on_a_copy(model):
    shares = {m: trainable_share(efficient.adapter(model, m, 2))["share"] for m in efficient.METHODS}
    assert shares["prompt tuning"] < shares["prefix tuning"] < shares["lora"] < shares["full"] == 1.0
    assert all(p.requires_grad for p in model.parameters())  # the original is untouched
    with pytest.raises(ValueError, match="method"):
        efficient.adapter(model, "adapters", 2)


def test_label_batches_put_the_loss_on_the_label_word_only(tok):
    batch = efficient.label_batches(tok, ITEMS, "{input} ->", LABELS, batch_size=4, seed=1)(0)
    assert batch["input_ids"].shape[0] == 4
    targets = batch["labels"][batch["labels"] != -100]
    assert len(targets) == 4 and set(targets.tolist()) <= {tok.vocab["great"], tok.vocab["awful"]}
    with pytest.raises(ValueError, match="template"):
        efficient.label_batches(tok, ITEMS, "no placeholder", LABELS)
    with pytest.raises(ValueError, match="items"):
        efficient.label_batches(tok, [], "{input} ->", LABELS)


@pytest.mark.parametrize("method", efficient.METHODS)
def test_adapt_learns_the_task_it_is_trained_on(model, tok, method):
    lr_ = {"prompt tuning": 0.3, "prefix tuning": 0.1, "lora": 0.1, "full": 0.01}[method]
    out = efficient.adapt(model, method, tok, ITEMS, {"train": ITEMS}, "{input} ->", LABELS, size=4, lr=lr_, steps=60,
                          batch_size=6)
    if method == "full":
        assert out["train_accuracy"] == 1.0 and out["final_loss"] < 0.3 * out["first_loss"]
    else:  # a random tiny model gives adapters little to steer: only the loss must fall
        assert out["final_loss"] < out["first_loss"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model.state_dict().values()))
    assert 0 < out["share"] <= 1 and out["method"] == method


# ---- prompt search ----------------------------------------------------------------------------

def test_prompt_search_climbs_towards_the_target_and_records_rounds():
    target = "b c d"
    vocab = list("abcdef")

    def score(p):  # words in the right place
        return sum(x == y for x, y in zip(p.split(), target.split())) - 0.1 * abs(len(p.split()) - 3)

    res = search.prompt_search(score, ["a", "f e"], rounds=25, keep=2, proposals=6, vocabulary=vocab, seed=0)
    bests = [r["best_score"] for r in res["rounds"]]
    assert bests == sorted(bests) and res["best"] == target and res["best_score"] == 3
    assert set(res["rounds"][0]["scores"]) == {"a", "f e"}
    assert len(res["scores"]) == 2 + sum(len(r["scores"]) for r in res["rounds"][1:])


def test_prompt_search_rejects_bad_input():
    with pytest.raises(ValueError, match="candidates"):
        search.prompt_search(len, [])
    with pytest.raises(ValueError, match="vocabulary"):
        search.prompt_search(len, ["a"], rounds=2)
    with pytest.raises(TypeError, match="score"):
        search.prompt_search("len", ["a"])


def test_random_phrases_and_mutate():
    phrases = search.random_phrases(["x", "y", "z"], 5, seed=1, max_words=2)
    assert len(set(phrases)) == 5 and all(1 <= len(p.split()) <= 2 for p in phrases)
    rng = random.Random(0)
    edits = {search.mutate("x y", ["z"], rng) for _ in range(50)}
    assert edits <= {"z y", "x z", "z x y", "x z y", "x y z", "x", "y"} and len(edits) > 3
    with pytest.raises(ValueError, match="distinct phrases"):
        search.random_phrases(["x"], 3, max_words=2)


# ---- prompt length reduction ------------------------------------------------------------------

def test_self_information_is_minus_log2_of_the_next_token_probability(model, tok):
    text = "the film is very good"
    bits = lr.self_information(model, tok, text)
    ids = tok.encode(text)
    with torch.no_grad():
        p = model(torch.tensor([ids]))[0].softmax(-1)
    assert [w for w, _ in bits] == text.split()[1:]
    assert bits[2][1] == pytest.approx(-torch.log2(p[2, ids[3]]).item(), rel=1e-5)


def test_reduce_prompt_drops_the_least_informative_tokens(model, tok):
    text = "the film is very good . the film is bad"
    bits = lr.self_information(model, tok, text)
    reduced = lr.reduce_prompt(model, tok, text, 0.4)
    words = text.split()
    n_drop = round(0.4 * (len(words) - 1))
    kept = reduced.split()
    assert len(kept) == len(words) - n_drop and kept[0] == "the"
    dropped = sorted(range(len(bits)), key=lambda i: (bits[i][1], i))[:n_drop]
    assert kept == [w for i, w in enumerate(words) if i - 1 not in dropped]
    assert lr.reduce_prompt(model, tok, text, 0.0) == text
    rand = lr.reduce_prompt(model, tok, text, 0.4, "random", seed=3)
    assert len(rand.split()) == len(kept) and rand == lr.reduce_prompt(model, tok, text, 0.4, "random", seed=3)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_reduce_prompt_rejects_a_rate_outside_0_1(model, tok, rate):
    with pytest.raises(ValueError, match="rate"):
        lr.reduce_prompt(model, tok, "the film is good", rate)


# ---- context distillation ---------------------------------------------------------------------

def test_context_distillation_moves_the_long_prompts_behaviour_into_the_student(model, tok):
    long_prompts = [f"the film is great . the film is great . {x} ->" for x, _ in ITEMS]
    short = [f"{x} ->" for x, _ in ITEMS]
    assert distillation.last_token_logits(model, tok, long_prompts).shape == (len(ITEMS), len(tok))
    # a random tiny model is indifferent to its context, so the teacher here is a confident labeller
    teacher = torch.zeros(len(ITEMS), len(tok))
    for row, (_, y) in enumerate(ITEMS):
        teacher[row, tok.vocab[LABELS[y]]] = 6.0
    student = efficient.adapter(model, "full")  # a random tiny model: the mechanism, not LoRA, is under test
    before = distillation.kl_to_teacher(student, tok, short, teacher)
    distillation.distill_context(student, tok, short, teacher, steps=100, lr=1e-2, batch_size=6, progress=False)
    after = distillation.kl_to_teacher(student, tok, short, teacher)
    assert before > 1 and after < before / 3
    assert distillation.tokens_saved(tok, long_prompts, short) == 10
    with pytest.raises(ValueError, match="teacher_logits"):
        distillation.kl_to_teacher(student, tok, short[:2], teacher)
    with pytest.raises(ValueError, match="pair up"):
        distillation.tokens_saved(tok, long_prompts, short[:2])

"""Property-based tests (Hypothesis) over the public API: valid edge cases give correct results, bad
input of each kind gives a ValueError/TypeError naming the argument.

The "lmnotes" profile turns the examples database off and the deadline off, so runs are reproducible
and do not depend on the machine's speed; few examples keep the whole file to seconds."""

import math
import os
import tempfile

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmnotes import checks, training
from lmnotes.data import toyworld
from lmnotes.generation import top_k_filter, top_p_filter
from lmnotes.tokenization import CharTokenizer, WordTokenizer

settings.register_profile("lmnotes", database=None, deadline=None, max_examples=40, derandomize=True)
settings.load_profile("lmnotes")
torch.set_num_threads(1)

ALPHABET = "abcdefgh .,"
CHAR = CharTokenizer(ALPHABET)
WORDS = WordTokenizer(toyworld.vocabulary())

not_an_integer = st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                           st.lists(st.integers(), max_size=2))
not_a_real = st.one_of(st.booleans(), st.text(max_size=3), st.none(), st.lists(st.floats(), max_size=2))


# ---------------------------------------------------------------------------------------------
# checks


@given(st.integers(-10**6, 10**6))
def test_integer_accepts_python_numpy_and_0d_tensors_alike(value):
    import numpy as np

    for form in (value, np.int64(value), torch.tensor(value)):
        assert checks.integer("k", form) == value and type(checks.integer("k", form)) is int


@given(not_an_integer)
def test_integer_refuses_everything_else_naming_the_argument(value):
    with pytest.raises(TypeError, match="^k must be an integer"):
        checks.integer("k", value)


@given(st.integers(), st.integers(0, 100), st.integers(0, 100))
def test_integer_bounds_are_inclusive(value, low, width):
    high = low + width
    if low <= value <= high:
        assert checks.integer("k", value, low, high) == value
    else:
        with pytest.raises(ValueError, match="k must be an integer in"):
            checks.integer("k", value, low, high)


@given(st.one_of(not_a_real, st.sampled_from([math.nan, math.inf, -math.inf])))
def test_real_refuses_non_numbers_and_non_finite(value):
    with pytest.raises((TypeError, ValueError), match="^p "):
        checks.real("p", value)


@given(st.floats(-2, 3))
def test_probability_is_the_closed_unit_interval(value):
    if 0 <= value <= 1:
        assert checks.probability("p", value) == value
    else:
        with pytest.raises(ValueError, match="p must be a number in"):
            checks.probability("p", value)


@given(st.one_of(st.text(max_size=5), st.integers(), st.none()))
def test_boolean_takes_only_real_booleans(value):
    with pytest.raises(TypeError, match="flag must be True or False"):
        checks.boolean("flag", value)


@given(st.text(min_size=1, max_size=20))
def test_a_single_string_is_never_a_list_of_texts(text):
    with pytest.raises(TypeError, match="texts must be a list of texts"):
        checks.texts("texts", text)
    assert checks.texts("texts", [text]) == [text]


# ---------------------------------------------------------------------------------------------
# tokenizers round-trip


@given(st.text(alphabet=ALPHABET, max_size=40))
def test_char_tokenizer_round_trips(text):
    assert CHAR.decode(CHAR.encode(text)) == text
    assert len(CHAR.encode(text)) == len(text)


@given(st.lists(st.sampled_from(toyworld.vocabulary()[10:]), min_size=1, max_size=12))
def test_word_tokenizer_round_trips_toy_world_words(words):
    text = " ".join(words)
    ids = WORDS.encode(text)
    assert len(ids) == len(words) and WORDS.decode(ids) == text


@given(st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)))
def test_encode_refuses_what_is_not_a_string(value):
    with pytest.raises(TypeError, match="text"):
        WORDS.encode(value)


# ---------------------------------------------------------------------------------------------
# sampling filters (generation)

logits_rows = st.integers(2, 30).flatmap(
    lambda v: st.lists(st.floats(-20, 20), min_size=v, max_size=v).map(lambda row: torch.tensor([row])))


@given(logits_rows, st.integers(1, 40))
def test_top_k_keeps_the_k_largest_and_nothing_else(logits, k):
    kept = torch.isfinite(top_k_filter(logits, k))
    n = min(k, logits.shape[-1])
    assert kept.sum() >= n  # ties at the k-th value are kept
    threshold = logits.topk(n).values[..., -1:]
    assert torch.equal(kept, logits >= threshold)


@given(logits_rows, st.floats(0.01, 1.0))
def test_top_p_keeps_the_smallest_nucleus_reaching_p(logits, p):
    out = top_p_filter(logits, p)
    kept = torch.isfinite(out)
    probs = logits.softmax(-1)
    assert kept[probs == probs.max()].any()  # a most likely token always survives
    assert probs[kept].sum() >= p - 1e-5
    dropped = probs[~kept]
    if dropped.numel():
        assert dropped.max() <= probs[kept].min() + 1e-6  # nothing dropped beats something kept


@given(st.one_of(st.integers(-5, 0), st.booleans(), st.floats(0.5, 3)))
def test_top_k_refuses_bad_k(k):
    with pytest.raises((TypeError, ValueError), match="k"):
        top_k_filter(torch.zeros(1, 5), k)


@given(st.one_of(st.floats(-2, 0), st.floats(1.0001, 5), st.just(math.nan), st.booleans()))
def test_top_p_refuses_bad_p(p):
    with pytest.raises((TypeError, ValueError), match="p"):
        top_p_filter(torch.zeros(1, 5), p)


# ---------------------------------------------------------------------------------------------
# losses (training)


@given(st.integers(2, 12), st.integers(1, 5), st.integers(0, 10**6))
def test_uniform_logits_give_a_loss_of_log_vocab(vocab, length, seed):
    targets = torch.randint(vocab, (2, length), generator=torch.Generator().manual_seed(seed))
    loss = training.lm_loss(torch.zeros(2, length, vocab), targets)
    assert loss.item() == pytest.approx(math.log(vocab), rel=1e-5)
    assert training.perplexity(loss) == pytest.approx(vocab, rel=1e-4)
    assert training.bits_per_token(loss) == pytest.approx(math.log2(vocab), rel=1e-5)


@given(st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=710, allow_infinity=False), st.just(math.nan)))
def test_perplexity_refuses_impossible_or_overflowing_losses(loss):
    with pytest.raises(ValueError, match="loss"):
        training.perplexity(loss)


@given(st.integers(1, 50), st.integers(0, 49), st.floats(1e-5, 1.0))
def test_the_schedule_stays_within_its_bounds(steps, warmup, lr):
    warmup = min(warmup, steps - 1)
    values = [training.lr_at(s, steps=steps, lr=lr, warmup=warmup) for s in range(steps + 2)]
    assert all(lr / 10 - 1e-12 <= v <= lr + 1e-12 or (s < warmup) for s, v in enumerate(values))
    assert all(0 < v <= lr + 1e-12 for v in values)


# ---------------------------------------------------------------------------------------------
# data generators


@given(st.integers(1, 6), st.integers(0, 10**6))
def test_generators_are_deterministic_and_give_n_examples(n, seed):
    for make in (toyworld.stories, toyworld.fact_questions, toyworld.reviews, toyworld.arithmetic):
        first = make(n, seed)
        assert len(first) == n and first == make(n, seed)


@given(st.integers(1, 5), st.integers(0, 10**6))
def test_arithmetic_answers_are_right(n, seed):
    for item in toyworld.arithmetic(n, seed):
        assert toyworld.extract_answer(item.response) == item.answer


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=checks.MAX_EXAMPLES + 1), st.booleans(),
                 st.floats(1.5, 3.5)))
def test_generators_refuse_bad_or_runaway_sizes(n):
    with pytest.raises((TypeError, ValueError), match="n"):
        toyworld.stories(n, 0)


# ---------------------------------------------------------------------------------------------
# Every public module: bad input of each kind is refused with an error naming the argument
#
# One row per public module: a function of it, a valid call, and the kind of each probed argument.
# Hypothesis draws the argument and a bad value of its kind; the call must raise a ValueError or
# TypeError whose message names that argument (a silent answer or any other exception fails).

import importlib  # noqa: E402
import pkgutil  # noqa: E402

import lmnotes  # noqa: E402

NAN, INF = math.nan, math.inf
bad_size = st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                     st.integers(max_value=0), st.integers(min_value=10**13, max_value=10**15))
bad_count = st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                      st.integers(max_value=-1), st.integers(min_value=10**13, max_value=10**15))
bad_int = st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=3), st.none())
bad_prob = st.one_of(st.floats(max_value=-1e-6), st.floats(min_value=1.0001), st.just(NAN), st.booleans(),
                     st.text(max_size=3), st.none())
bad_pos = st.one_of(st.floats(max_value=0.0), st.sampled_from([NAN, INF]), st.booleans(), st.text(max_size=3),
                    st.none())
bad_real = st.one_of(st.sampled_from([NAN, INF, -INF]), st.booleans(), st.text(max_size=3), st.none())
bad_bool = st.one_of(st.text(max_size=5), st.integers(), st.none())
bad_text = st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=3), min_size=1, max_size=2))
bad_texts = st.one_of(st.text(min_size=1, max_size=10), st.lists(st.integers(), min_size=1, max_size=3),
                      st.none(), st.just([]))
bad_choice = st.one_of(st.text(max_size=6).filter(lambda t: t not in ("train", "val")), st.integers(), st.none())
bad_thing = st.one_of(st.none(), st.text(max_size=4), st.integers())  # for a model or a tokenizer


def _nan_tensor(shape):
    return st.integers(0, math.prod(shape) - 1).map(
        lambda i: torch.zeros(shape).flatten().index_fill(0, torch.tensor([i]), NAN).view(shape))


def bad_ftensor(shape):
    return st.one_of(_nan_tensor(shape), st.just(torch.zeros(shape, dtype=torch.long)),
                     st.just(torch.zeros(shape).tolist()), st.none())


def bad_ids(shape, vocab):
    return st.one_of(st.just(torch.zeros(shape)), st.just(torch.zeros(shape, dtype=torch.long).tolist()),
                     st.integers(1, 10**6).map(lambda k: torch.full(shape, -k)),
                     st.integers(0, 10**6).map(lambda k: torch.full(shape, vocab + k)))


KINDS = dict(size=bad_size, count=bad_count, int=bad_int, prob=bad_prob, pos=bad_pos, real=bad_real,
             bool=bad_bool, text=bad_text, texts=bad_texts, choice=bad_choice, model=bad_thing, tok=bad_thing)


def _fixtures():
    from lmnotes.models import GPT, Encoder, EncoderConfig, GPTConfig

    torch.manual_seed(0)
    shape = dict(vocab_size=WORDS.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16)
    return GPT(GPTConfig(**shape)).eval(), Encoder(EncoderConfig(**shape)).eval()


GPT_, ENC_ = _fixtures()


def _generative_fixtures():
    from lmnotes.models import GPT, GPTConfig

    torch.manual_seed(0)
    shape = dict(vocab_size=WORDS.vocab_size, block_size=32, n_head=2, n_embd=16)
    # share_kv_across_layers changes its model in place; each call below has one bad argument, so it never does
    return GPT(GPTConfig(n_layer=2, **shape)).eval(), GPT(GPTConfig(n_layer=1, pos="rope", **shape)).eval()


TWO_LAYERS, ROPE_ = _generative_fixtures()
QKV = torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(0))
V = WORDS.vocab_size
IDS = torch.randint(6, V, (2, 6), generator=torch.Generator().manual_seed(0))


def _m(path):
    return importlib.import_module(f"lmnotes.{path}")


def _rows():
    """module -> (function, valid keyword arguments, {argument: strategy of bad values})."""
    from lmnotes.alignment.rewards import RewardModel

    reward_model = RewardModel(GPT_)
    r = torch.randn(4)
    return {
        "generative.ablations": (_m("generative.ablations").prepare, dict(text="hello world", kind="noisy", rate=0.2, seed=0),
                      dict(text=bad_text, kind=bad_choice, rate=bad_prob, seed=bad_int)),
        "alignment.best_of_n": (_m("alignment.best_of_n").kl_bound, dict(n=4), dict(n=bad_size)),
        "alignment.compare": (_m("alignment.compare").gold_report,
                              dict(model=GPT_, tokenizer=WORDS, prompts=["grace has a"]), dict(prompts=bad_texts)),
        "alignment.process": (_m("alignment.process").training_problems, dict(n=3, seed=0, n_operands=3),
                              dict(n=bad_size, seed=bad_int, n_operands=bad_size)),
        "alignment.dpo": (_m("alignment.dpo").implicit_reward,
                          dict(policy_logps=r, ref_logps=r.clone(), beta=0.1), dict(beta=bad_pos)),
        "alignment.feedback": (_m("alignment.feedback").response_features,
                               dict(model=reward_model, tokenizer=WORDS, prompts=["grace has a"],
                                    responses=["dog ."]),
                               dict(prompts=bad_texts, responses=bad_texts, model=bad_thing)),
        "alignment.ppo": (_m("alignment.ppo").clipped_objective,
                          dict(ratio=torch.ones(4), advantages=r, eps=0.2), dict(eps=bad_prob)),
        "alignment.rewards": (_m("alignment.rewards").score,
                              dict(model=reward_model, tokenizer=WORDS, prompts=["grace has a"], responses=["dog ."]),
                              dict(prompts=bad_texts, responses=bad_texts, batch_size=bad_size, model=bad_thing)),
        "alignment.rl": (_m("alignment.rl").random_mdp, dict(n_states=4, n_actions=2, gamma=0.9, seed=0),
                         dict(n_states=bad_size, n_actions=bad_size, gamma=bad_prob, seed=bad_int)),
        "alignment.sft": (_m("alignment.sft").conversation, dict(n_turns=2, seed=0),
                          dict(n_turns=bad_size, seed=bad_int)),
        "alignment.sft_studies": (_m("alignment.sft_studies").noisy,
                                  dict(records=_m("data.toyworld").instructions(4, 0), share=0.5, seed=0),
                                  dict(share=bad_prob, seed=bad_int)),
        "adaptation": (_m("adaptation").hidden_states, dict(backbone=GPT_, input_ids=IDS), dict(backbone=bad_thing)),
        "claims": (_m("claims").Claim, dict(section="1.2", claim="a claim", rule="higher", value=1.0, reference=0.5,
                                            compared_with="a baseline", exact=True),
                   dict(section=bad_text, claim=bad_text, rule=bad_choice, value=bad_real, reference=bad_real)),
        "checkpoints": (_m("checkpoints").info, dict(name="toyworld-gpt"), dict(name=bad_choice)),
        "pretraining.compression": (_m("pretraining.compression").pruning_order,
                                    dict(importance=torch.rand(2, 2, generator=torch.Generator().manual_seed(0)),
                                         order="least important first"),
                                    dict(importance=bad_ftensor((2, 2)), order=bad_choice)),
        "course": (_m("course").colab_url, dict(notebook="01_language_models"), dict(notebook=bad_text)),
        "data.datasets": (_m("data.datasets").lm_batch, dict(ids=IDS[0], batch_size=2, block_size=3),
                          dict(ids=bad_ids((6,), V).filter(lambda x: not isinstance(x, torch.Tensor) or
                                                           x.dtype != torch.long or bool((x < 0).any())),
                               batch_size=bad_size, block_size=bad_size)),
        "pretraining.multilingual": (_m("pretraining.multilingual").second_language, dict(seed=0, order="same"),
                              dict(seed=bad_int, order=bad_choice)),
        "data.overlap": (_m("data.overlap").seen_in, dict(documents=["grace has a dog ."], texts=["a dog"]),
                         dict(documents=bad_texts, texts=bad_texts.filter(lambda t: t != []))),
        "data.reasoning": (_m("data.reasoning").digits, dict(number=42, reverse=False),
                           dict(number=bad_int, reverse=bad_bool)),
        "data.shakespeare": (_m("data.shakespeare").shakespeare_text, dict(split="val"), dict(split=bad_choice)),
        "data.tasks": (_m("data.tasks").agree_pairs, dict(n=3, seed=0), dict(n=bad_size, seed=bad_int)),
        "generative.distributed": (_m("generative.distributed").simulate_pipeline, dict(stages=2, microbatches=3),
                        dict(stages=bad_size, microbatches=bad_size)),
        "doctor": (_m("doctor").information_checks, dict(hub_timeout=0.01), dict(hub_timeout=bad_pos)),
        "prompting.lora": (_m("prompting.lora").add_lora, dict(model=_fixtures()[0], rank=2),
                           dict(model=bad_thing, rank=bad_size)),
        "pretraining.finetuning": (_m("pretraining.finetuning").naive_bayes,
                       dict(train_counts=torch.ones(4, 3), train_labels=torch.tensor([0, 1, 0, 1]),
                            test_counts=torch.ones(2, 3), smoothing=1.0),
                       dict(train_counts=bad_ftensor((4, 3)), test_counts=bad_ftensor((2, 3)),
                            train_labels=bad_ids((4,), 0).filter(lambda x: not isinstance(x, torch.Tensor)
                                                                 or x.dtype != torch.long or bool((x < 0).any())),
                            smoothing=bad_pos)),
        "prompting.function_icl": (_m("prompting.function_icl").linear_tasks, dict(n_tasks=2, n_points=3, dim=2, seed=0),
                         dict(n_tasks=bad_size, n_points=bad_size, dim=bad_size, seed=bad_int)),
        "hub": (_m("hub").hub_reachable, dict(timeout=0.01, url="http://127.0.0.1:9"), dict(timeout=bad_pos)),
        "generative.longcontext": (_m("generative.longcontext").linear_attention,
                        dict(q=torch.zeros(2, 4, 8), k=torch.zeros(2, 4, 8), v=torch.zeros(2, 4, 8)),
                        dict(q=bad_ftensor((2, 4, 8)), k=bad_ftensor((2, 4, 8)), v=bad_ftensor((2, 4, 8)))),
        "models.convert": (_m("models.convert").to_hf, dict(model=GPT_), dict(model=bad_thing)),
        "models.encdec": (_m("models.encdec").EncoderDecoderConfig, dict(vocab_size=20, n_layer=1, n_head=2, n_embd=16),
                          dict(vocab_size=bad_size, n_layer=bad_size, n_head=bad_size, n_embd=bad_size)),
        "models.encoder": (ENC_.forward, dict(idx=IDS), dict(idx=bad_ids((2, 6), V))),
        "models.gpt": (GPT_.forward, dict(idx=IDS), dict(idx=bad_ids((2, 6), V))),
        "inference.speculative": (_m("inference.speculative").speculative_generate,
                                  dict(target=GPT_, draft=GPT_, idx=IDS, max_new_tokens=3, gamma=2),
                                  dict(target=bad_thing, draft=bad_thing, idx=bad_ids((2, 6), V), gamma=bad_size,
                                       do_sample=bad_bool)),
        "inference.search": (_m("inference.search").map_continuation, dict(model=GPT_, prompt=IDS[0], length=2),
                             dict(model=bad_thing, prompt=bad_ids((6,), V), length=bad_size)),
        "inference.roofline": (_m("inference.roofline").ridge_point, dict(peak_flops=1e12, bandwidth=1e11),
                               dict(peak_flops=bad_pos, bandwidth=bad_pos)),
        "inference.stopping": (_m("inference.stopping").stopping_point, dict(tokens=[1, 2, 1, 2], repeat_ngram=2, max_length=4),
                               dict(tokens=st.one_of(st.text(min_size=1, max_size=3), st.lists(st.integers(max_value=-1), min_size=1, max_size=2)),
                                    repeat_ngram=bad_size.filter(lambda v: v is not None), max_length=bad_int.filter(lambda v: v is not None))),
        "inference.metrics": (_m("inference.metrics").request_metrics, dict(start=0.0, times=[0.1, 0.2]),
                              dict(start=not_a_real, times=st.one_of(st.just([]), st.just([-1.0]), st.lists(not_a_real, min_size=1, max_size=2)))),
        "models.layers": (_m("models.layers").build_mask, dict(T=4, past=0, causal=True),
                          dict(T=bad_size, past=bad_count, causal=bad_bool)),
        "models.regression": (_m("models.regression").RegressionGPTConfig,
                              dict(dim=2, max_points=4, n_layer=1, n_head=2, n_embd=16),
                              dict(dim=bad_size, max_points=bad_size, n_layer=bad_size, n_embd=bad_size)),
        "pretraining.objectives": (_m("pretraining.objectives").text_infilling,
                       dict(ids=IDS[0], mask_id=4, vocab_size=V, rate=0.3, poisson_lambda=3.0, generator=0),
                       dict(ids=bad_ids((6,), V), vocab_size=bad_size, rate=bad_prob, poisson_lambda=bad_pos)),
        "pretraining.experiments": (_m("pretraining.experiments").cloze_items, dict(n=3, seed=0), dict(n=bad_size, seed=bad_int)),
        "prompting.distillation": (_m("prompting.distillation").last_token_logits,
                                   dict(model=GPT_, tokenizer=WORDS, prompts=["grace has a"], batch_size=4),
                                   dict(model=bad_thing, prompts=bad_texts, batch_size=bad_size)),
        "prompting.efficient": (_m("prompting.efficient").adapter, dict(model=GPT_, method="lora", size=2),
                                dict(method=bad_choice, size=bad_size)),
        "prompting.icl": (_m("prompting.icl").next_token_distribution,
                          dict(model=GPT_, tokenizer=WORDS, text="grace has a", k=3),
                          dict(model=bad_thing, tokenizer=bad_thing, text=bad_text, k=bad_size)),
        "prompting.length_reduction": (_m("prompting.length_reduction").reduce_prompt,
                                       dict(model=GPT_, tokenizer=WORDS, text="grace has a dog .", rate=0.5),
                                       dict(text=bad_text, rate=bad_prob, method=bad_choice)),
        "prompting.reasoning": (_m("prompting.reasoning").left_padded,
                                dict(tokenizer=WORDS, prompts=["grace has a"], pad_id=0),
                                dict(prompts=bad_texts, pad_id=bad_int)),
        "prompting.retrieval": (_m("prompting.retrieval").recall_at_k,
                                dict(retrieved=[["a", "b"]], relevant=["a"]), dict(relevant=bad_texts)),
        "prompting.search": (_m("prompting.search").random_phrases, dict(vocabulary=["a", "b", "c"], n=3, seed=0),
                             dict(vocabulary=bad_texts, n=bad_size, seed=bad_int)),
        "prompting.soft_prompts": (_m("prompting.soft_prompts").PromptTuning, dict(model=GPT_, n_virtual=2),
                                   dict(model=bad_thing, n_virtual=bad_size)),
        "prompting.tools": (_m("prompting.tools").calculator, dict(call="1 + 2"), dict(call=bad_text)),
        "recipes": (_m("recipes").run, dict(name="shakespeare-char", out=os.path.join(tempfile.gettempdir(), "lmnotes-smoke"),
                                            smoke=True), dict(name=bad_choice)),
        "recipes.registry": (_m("recipes.registry").recipe, dict(name="a-recipe", description="what it makes"),
                             dict(name=bad_text, description=bad_text)),
        "repro": (_m("repro").seed_everything, dict(seed=0), dict(seed=bad_int)),
        "baselines": (_m("baselines").fit_linear,
                      dict(kind="ridge", features=torch.arange(18.0).view(6, 3) % 5, targets=torch.arange(6.0),
                           dev_features=torch.ones(4, 3), dev_targets=torch.ones(4)),
                      dict(kind=bad_choice, features=bad_ftensor((6, 3)), dev_features=bad_ftensor((4, 3)),
                           targets=st.one_of(_nan_tensor((6,)), st.none(), st.text(max_size=3),
                                             st.just(torch.zeros(6, dtype=torch.long))))),
        "generative.model_sizes": (_m("generative.model_sizes").hf_config, dict(name=next(iter(_m("generative.model_sizes").CONFIGS))),
                                   dict(name=bad_choice)),
        "pretraining.recall": (_m("pretraining.recall").statement_overlap,
                               dict(training=["anna has a cat ."], documents=["anna has a cat ."]),
                               dict(training=bad_texts, documents=bad_texts)),
        "generative.precision": (_m("generative.precision").fp16_backward,
                                 dict(model=GPT_, batch=(IDS[:, :-1], IDS[:, 1:]), scales=(1.0,)),
                                 dict(model=bad_thing, scales=st.lists(bad_pos, min_size=1, max_size=2))),
        "generative.copy_task": (_m("generative.copy_task").copy_documents,
                                 dict(ids=torch.arange(6, 56), n=2, length=5, gap=3, lead=2),
                                 dict(ids=bad_ids((50,), V).filter(lambda x: not isinstance(x, torch.Tensor) or bool((x < 0).any())
                                                                        or x.dtype != torch.long), n=bad_size, length=bad_size, gap=bad_int, lead=bad_int)),
        "generative.cross_layer": (_m("generative.cross_layer").share_kv_across_layers, dict(model=TWO_LAYERS, every=2),
                                   dict(model=bad_thing, every=bad_size)),
        "generative.kv_eviction": (_m("generative.kv_eviction").evicting_losses,
                                   dict(model=ROPE_, ids=IDS, budget=4, recent=2, renumber=True),
                                   dict(model=bad_thing, ids=bad_ids((2, 6), V), budget=bad_size, renumber=bad_bool)),
        "generative.online_softmax": (_m("generative.online_softmax").online_softmax_attention,
                                      dict(q=QKV, k=QKV, v=QKV, block=2, causal=True),
                                      dict(q=bad_ftensor((1, 4, 8)), block=bad_size, causal=bad_bool)),
        "generative.scaling": (_m("generative.scaling").chinchilla_loss, dict(n_params=1e8, n_tokens=1e9),
                    dict(n_params=bad_pos, n_tokens=bad_pos)),
        "tokenization.bpe": (_m("tokenization.bpe").pretokenize, dict(text="hello world"), dict(text=bad_text)),
        "tokenization.gpt2": (_m("tokenization.gpt2").gpt2_bpe().decode, dict(ids=[31373]),
                              dict(ids=st.one_of(st.none(), st.text(min_size=1, max_size=3),
                                                 st.lists(st.integers(min_value=50257), min_size=1, max_size=2),
                                                 st.lists(st.integers(max_value=-1), min_size=1, max_size=2)))),
        "tokenization.wordpiece": (_m("tokenization.wordpiece").WordPieceTokenizer.train,
                                   dict(text="grace has a dog . tom has a cat .", vocab_size=60),
                                   dict(text=bad_text, vocab_size=bad_size)),
        "viz": (_m("viz").plot_token_mask, dict(tokens=["a", "b"], mask=[1.0, 0.0]),
                dict(tokens=bad_texts, per_row=bad_size)),
        "widgets": (_m("widgets").tokens_html, dict(tokens=["a", "b"], ids=[1, 2]), dict(tokens=bad_texts)),
    }


ROWS = _rows()
#: modules covered by the property tests above this section
COVERED_ABOVE = {"checks", "generation", "training", "data.toyworld", "tokenization.char", "tokenization.word"}
#: packages whose public functions live in their modules; exercises are covered by a test below
NOT_MODULES = {"alignment", "data", "generative", "inference", "models", "pretraining", "prompting", "tokenization",
               "tokenization.base", "results", "checkpoints_"}
#: a recipe family's recipes run end to end (``--smoke``) in tests/test_recipes.py
RECIPE_FAMILIES = "recipes."


def public_modules() -> set[str]:
    names = set()
    for info in pkgutil.walk_packages(lmnotes.__path__, "lmnotes."):
        name = info.name.removeprefix("lmnotes.")
        if any(part.startswith("_") for part in name.split(".")) or name.startswith(("exercises.", "results")):
            continue
        names.add(name)
    return {n for n in names - NOT_MODULES if not n.startswith(RECIPE_FAMILIES) or n == "recipes.registry"}


def test_every_public_module_has_a_property_test():
    missing = public_modules() - set(ROWS) - COVERED_ABOVE - {"exercises"}
    assert not missing, f"public modules without a property test: {sorted(missing)}"


@pytest.mark.parametrize("module", sorted(ROWS))
@settings(max_examples=12)
@given(data=st.data())
def test_bad_input_to_every_module_is_named(module, data):
    fn, valid, kinds = ROWS[module]
    argument = data.draw(st.sampled_from(sorted(kinds)), label="argument")
    bad = data.draw(kinds[argument], label=argument)
    try:
        result = fn(**{**valid, argument: bad})
    except (TypeError, ValueError) as exc:
        assert argument.lower() in str(exc).lower(), f"{module}: {argument}={bad!r} gave an error not naming it: {exc}"
    else:
        pytest.fail(f"{module}: {argument}={bad!r} was accepted silently, giving {result!r:.80}")


def test_every_exercise_refuses_nan_and_infinity():
    from lmnotes import exercises

    exercises._load_all()
    for name in sorted(exercises._REGISTRY):
        for answer in (NAN, (NAN, 1), [1, INF], {"a": -INF}):
            assert exercises.check(name, answer) is False, (name, answer)

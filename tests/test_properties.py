"""Property-based tests (Hypothesis) over the public API: valid edge cases give correct results, bad
input of each kind gives a ValueError/TypeError naming the argument.

The "lmnotes" profile turns the examples database off and the deadline off, so runs are reproducible
and do not depend on the machine's speed; few examples keep the whole file to seconds."""

import math

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

"""The evaluation-overlap helper: exact, and every registered evaluation set is unseen by its model."""

import pytest

from lmnotes.data import EVALUATION_SETS, evaluation_set, overlap, seen_in_training, toyworld, training_stream, unseen


@pytest.fixture(scope="module")
def gpt_stream():
    return training_stream("toyworld-gpt")


def test_stream_is_the_recipe_stream(gpt_stream):
    from lmnotes import checkpoints, recipes

    hp = checkpoints.info("toyworld-gpt")["hparams"]
    tok = recipes.toyworld_tokenizer()
    first = toyworld.corpus(200, seed=hp["seed"])  # the stream's first documents, same generator and seed
    head = [i for d in first for i in tok.encode(d) + [tok.vocab["<eos>"]]]
    assert gpt_stream[: len(head)] == head
    assert len(gpt_stream) >= hp["train_tokens"]


def test_occurs_means_a_verbatim_token_run(gpt_stream):
    from lmnotes import recipes

    tok = recipes.toyworld_tokenizer()
    inv = {i: w for w, i in tok.vocab.items()}
    inside = " ".join(inv[i] for i in gpt_stream[1000:1012])  # a run from the middle of the stream
    assert seen_in_training([inside], "toyworld-gpt") == [True]
    # the same words in another order, and a word the stream never holds, do not occur
    words = inside.split()
    assert seen_in_training([" ".join(words[::-1]) + " zzz"], "toyworld-gpt") == [False]


def test_unseen_keeps_order_and_objects():
    test = toyworld.reviews(60, seed=1)
    flags = seen_in_training(test, "toyworld-gpt")
    kept = unseen(test, "toyworld-gpt")
    assert 0 < sum(flags) < len(test)  # some seed-1 reviews really are in the training text
    assert kept == [r for r, f in zip(test, flags) if not f] and all(k in test for k in kept)


@pytest.mark.parametrize("name", sorted(EVALUATION_SETS))
def test_every_evaluation_set_is_unseen(name):
    spec = EVALUATION_SETS[name]
    records = evaluation_set(name)
    assert records, name
    assert not any(seen_in_training(records, spec.model)), f"{name} holds items {spec.model} trained on"


def test_bad_arguments():
    with pytest.raises(ValueError, match="model"):
        seen_in_training(["the price is good ."], "gpt2")
    with pytest.raises(TypeError, match="records"):
        seen_in_training("the price is good .", "toyworld-gpt")
    with pytest.raises(TypeError, match=r"records\[1\]"):
        seen_in_training(["a", 3], "toyworld-gpt")
    with pytest.raises(ValueError, match=r"records\[0\]"):
        seen_in_training([""], "toyworld-gpt")
    with pytest.raises(ValueError, match="name"):
        evaluation_set("nope")
    assert overlap.TOYWORLD_MODELS == ("toyworld-gpt", "toyworld-bert")

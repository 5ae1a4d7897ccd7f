"""Issue 9's silent wrong answers, each now an error naming the argument: label words outside the
vocabulary, a model of the wrong kind, a string for a list of texts, cross-attention over mismatched
batches, rope_scale <= 0 and booleans given as strings."""

import pytest
import torch

from lmnotes import prompting as pr
from lmnotes.models import GPT, Encoder, EncoderConfig, EncoderDecoder, EncoderDecoderConfig, GPTConfig
from lmnotes.tokenization import WordTokenizer, tokens_per_char

WORDS = ["the", "film", "is", "good", "bad", "great", "awful"]


@pytest.fixture(scope="module")
def tok():
    return WordTokenizer(WORDS)


def tiny(cls, config_cls, tok, **kw):
    torch.manual_seed(0)
    return cls(config_cls(**{**dict(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16), **kw}))


def test_label_words_outside_the_vocabulary_are_refused(tok):
    model = tiny(GPT, GPTConfig, tok)
    assert pr.classify_by_label_words(model, tok, ["the film is"], {"pos": "great", "neg": "awful"})[0] in ("pos", "neg")
    with pytest.raises(ValueError, match="label_words.*Great"):
        pr.classify_by_label_words(model, tok, ["the film is"], {"pos": "Great", "neg": "Awful"})
    with pytest.raises(ValueError, match="continuation"):
        pr.continuation_logprobs(model, tok, ["the film is"], ["superb", "great"])


def test_a_masked_lm_is_not_a_next_token_predictor(tok):
    encoder = tiny(Encoder, EncoderConfig, tok)
    with pytest.raises(TypeError, match="model must be a causal"):
        pr.next_token_distribution(encoder, tok, "the film is")
    with pytest.raises(TypeError, match="model must be a causal"):
        pr.classify_by_label_words(encoder, tok, ["the film is"], ["great", "awful"])


def test_a_string_is_not_a_list_of_texts(tok):
    assert tokens_per_char(tok, ["the film is good"]) == pytest.approx(4 / 16)
    with pytest.raises(TypeError, match="texts must be a list of texts"):
        tokens_per_char(tok, "the film is good")


def test_cross_attention_refuses_a_batch_mismatch():
    model = EncoderDecoder(EncoderDecoderConfig.preset("t5-tiny", vocab_size=20))
    memory = model.encode(torch.randint(0, 20, (3, 5)))
    with pytest.raises(ValueError, match="context"):
        model.decode(torch.randint(0, 20, (2, 4)), memory)


@pytest.mark.parametrize("kw, match", [(dict(pos="rope", rope_scale=0.0), "rope_scale"),
                                       (dict(pos="rope", rope_scale=-2.0), "rope_scale"),
                                       (dict(prenorm="False"), "prenorm"), (dict(bias="no"), "bias"),
                                       (dict(tie_weights=1), "tie_weights"),
                                       (dict(dropout=float("nan")), "dropout")])
def test_config_switches_and_scales_are_checked(tok, kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        tiny(GPT, GPTConfig, tok, **kw)


def test_training_refuses_an_infinite_lr_and_stops_on_weights_gone_nan(tok):
    from lmnotes.training import train

    model = tiny(GPT, GPTConfig, tok)
    data = torch.randint(0, tok.vocab_size, (2, 9))
    batch = lambda step: (data[:, :-1], data[:, 1:])  # noqa: E731
    with pytest.raises(ValueError, match="lr"):
        train(model, batch, steps=2, lr=float("inf"), progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(model, batch, steps=3, lr=1e300, warmup=0, grad_clip=None, progress=False)


def test_fill_in_the_blank_refuses_a_model_of_the_wrong_kind():
    from lmnotes.data import toyworld
    from lmnotes.pretraining import experiments as P

    words = toyworld.tokenizer()
    items = P.cloze_items(2, seed=0)
    gpt, encoder = tiny(GPT, GPTConfig, words, block_size=64), tiny(Encoder, EncoderConfig, words, block_size=64)
    assert len(P.fill_in_blank(encoder, words, items, "masked")) == 2
    with pytest.raises(TypeError, match="model must be a masked LM"):
        P.fill_in_blank(gpt, words, items, "masked")
    with pytest.raises(TypeError, match="model must be a causal"):
        P.fill_in_blank(encoder, words, items, "rescore")
    with pytest.raises(TypeError, match="tokenizer must be a tokenizer"):
        P.fill_in_blank(encoder, None, items, "masked")


def test_functions_that_read_a_model_restore_its_modes_and_flags(tok):
    from lmnotes.generation import continuation_nll, generate
    from lmnotes.training import evaluate

    model = tiny(GPT, GPTConfig, tok).train()
    model.blocks[0].eval()  # a submodule in another mode than its parent
    model.lm_head.weight.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    ids = torch.randint(0, tok.vocab_size, (2, 6))
    generate(model, ids[:, :2], 3)
    continuation_nll(model, ids, 2)
    evaluate(model, [(ids[:, :-1], ids[:, 1:])])
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags


@pytest.mark.parametrize("call, match", [
    (lambda tw: tw.icl_documents(1, 0, n_lines=10**12), "n_lines must be an integer in"),
    (lambda tw: tw.corpus(10**12, 0), "n_tokens must be an integer in"),
])
def test_runaway_sizes_are_refused_up_front(call, match):
    from lmnotes.data import toyworld

    with pytest.raises(ValueError, match=match):
        call(toyworld)

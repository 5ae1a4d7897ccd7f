import pytest
import torch

from lmnotes import exercises
from lmnotes.exercises import bert
from lmnotes.pretraining.finetuning import best_span


def test_hand_count_of_bert_base_equals_transformers_bert_model():
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        model = BertModel(BertConfig())  # BERT-base's defaults, with the pooler
    want = sum(p.numel() for p in model.parameters())
    assert sum(bert.bert_parameter_terms().values()) == want
    assert exercises.check("bert-base-params", want)


@pytest.mark.parametrize("drop, message", [
    ("pooler", "exactly the pooler"), ("position embeddings", "exactly the position embeddings"),
])
def test_bert_params_names_the_missing_term(capsys, drop, message):
    terms = bert.bert_parameter_terms()
    assert not exercises.check("bert-base-params", sum(terms.values()) - terms[drop])
    assert message in capsys.readouterr().out


def test_bert_params_recognises_common_mistakes(capsys):
    terms = bert.bert_parameter_terms()
    total = sum(terms.values())
    no_bias = total - terms["attention biases"] - terms["feed-forward biases"]
    assert not exercises.check("bert-base-params", no_bias)
    assert "biases" in capsys.readouterr().out
    assert not exercises.check("bert-base-params", 110_000_000)
    assert "% off" in capsys.readouterr().out
    assert not exercises.check("bert-base-params", "110M")
    assert "expected a number" in capsys.readouterr().out


def test_best_span_exercise_agrees_with_the_constrained_argmax():
    start = torch.tensor([bert.SPAN_START])
    end = torch.tensor([bert.SPAN_END])
    want = tuple(best_span(start, end, max_length=bert.SPAN_MAX_LENGTH)[0].tolist())
    assert exercises.check("best-span", want)
    separate = (int(start.argmax()), int(end.argmax()))
    unlimited = tuple(best_span(start, end, max_length=100)[0].tolist())
    assert separate != want and unlimited != want  # both traps are live in this exercise


def test_best_span_explains_each_kind_of_wrong_answer(capsys):
    cases = [((1, 0), "ends before it starts"), ((1, 5), "at most 3"), ((3, 5), "another valid span"),
             ((9, 9), "positions must lie"), ("1,2", "expected a pair")]
    for answer, message in cases:
        assert not exercises.check("best-span", answer)
        assert message in capsys.readouterr().out


def test_mask_counts_matches_bert_mask_on_average(capsys):
    from lmnotes.pretraining.objectives import bert_mask

    ids = torch.arange(10, 410)[None].repeat(200, 1)  # 400 ordinary tokens per row
    m = bert_mask(ids, mask_id=0, vocab_size=500, special_ids=[0], generator=0)
    selected = m.selected.sum(1).float().mean().item()
    assert selected == 60
    measured = [m.masked.sum(1).float().mean().item(), m.randomised.sum(1).float().mean().item(),
                m.kept.sum(1).float().mean().item()]
    assert measured == pytest.approx([48, 6, 6], abs=0.6)
    assert exercises.check("mask-counts", (60, 48, 6, 6))
    assert not exercises.check("mask-counts", (48, 48, 6, 6))
    assert "first select 15%" in capsys.readouterr().out
    assert not exercises.check("mask-counts", (60, 40, 10, 10))
    assert "80% [MASK]" in capsys.readouterr().out
    assert not exercises.check("mask-counts", (60, 50, 6, 6))
    assert "must equal" in capsys.readouterr().out

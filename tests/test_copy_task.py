import pytest
import torch
import torch.nn.functional as F

from lmnotes.generative import longcontext
from lmnotes.generative.copy_task import copy_accuracy, copy_documents, induction_accuracy
from lmnotes.models import GPT


def _text(n=2000):
    return torch.randint(0, 20, (n,), generator=torch.Generator().manual_seed(0))


def test_copy_documents_repeat_the_passage_after_the_gap():
    ids = _text()
    docs, first, repeat = copy_documents(ids, 3, 10, 7, lead=4)
    assert docs.shape == (3, 4 + 10 + 7 + 10) and (first, repeat) == (4, 21)
    for i, row in enumerate(docs):
        assert torch.equal(row[:21], ids[i * 21: (i + 1) * 21])  # lead, passage and gap as in the text
        assert torch.equal(row[repeat:], row[first: first + 10])  # then the passage again


def test_induction_rule_copies_the_repeat_of_random_text():
    docs, first, repeat = copy_documents(_text(), 4, 30, 20)
    again, once = induction_accuracy(docs, first, repeat, context=4)
    # of the repeat's 29 predictions, the last 26 have 4 tokens of the passage behind them, which point back
    # into the first reading (random text: nowhere else); the first 3 straddle the join with the gap
    assert again.min() >= 26 / 29 - 1e-6
    assert once.max() < 0.3


def test_copy_accuracy_is_the_models_top_choice_and_loss():
    torch.manual_seed(0)
    model = GPT(longcontext.position_config("rope", 64, 20)).eval()
    docs, first, repeat = copy_documents(_text(), 3, 8, 5)
    got = copy_accuracy(model, docs, first, repeat)
    with torch.no_grad():
        logits = model(docs[:, :-1])
    hit = (logits.argmax(-1) == docs[:, 1:]).float()
    loss = F.cross_entropy(logits.transpose(1, 2), docs[:, 1:], reduction="none")
    assert torch.allclose(got["repeat"], hit[:, repeat: repeat + 7].mean(-1))
    assert torch.allclose(got["first"], hit[:, first: first + 7].mean(-1))
    assert torch.allclose(got["repeat_loss"], loss[:, repeat: repeat + 7].mean(-1))
    assert torch.allclose(got["first_loss"], loss[:, first: first + 7].mean(-1))
    past = copy_accuracy(model, docs, first, repeat, skip=3)  # the first 3 predictions of each reading left out
    assert torch.allclose(past["repeat"], hit[:, repeat + 3: repeat + 7].mean(-1))
    assert torch.allclose(past["first_loss"], loss[:, first + 3: first + 7].mean(-1))
    window = copy_accuracy(model, docs, first, repeat, visible=longcontext.window_mask(docs.shape[1] - 1, 4))
    with torch.no_grad():
        hidden = model(docs[:, :-1], visible=longcontext.window_mask(docs.shape[1] - 1, 4)).argmax(-1)
    assert torch.allclose(window["repeat"], (hidden == docs[:, 1:]).float()[:, repeat: repeat + 7].mean(-1))


def test_skipping_the_junction_scores_only_the_copyable_part():
    docs, first, repeat = copy_documents(_text(), 4, 30, 20)
    again, _ = induction_accuracy(docs, first, repeat, context=4, skip=3)
    assert torch.allclose(again, torch.ones(4))  # past the join every prediction has 4 passage tokens behind it


def test_copy_task_rejects_bad_input():
    ids = _text(100)
    with pytest.raises(ValueError, match="ids"):
        copy_documents(ids, 10, 10, 10)
    with pytest.raises(ValueError, match="length"):
        copy_documents(ids, 1, 1, 10)
    with pytest.raises(ValueError, match="gap"):
        copy_documents(ids, 1, 5, -1)
    docs, first, repeat = copy_documents(ids, 2, 5, 3)
    with pytest.raises(ValueError, match="repeat"):
        induction_accuracy(docs, first, 0)
    with pytest.raises(ValueError, match="context"):
        induction_accuracy(docs, first, repeat, context=0)
    with pytest.raises(TypeError, match="model"):
        copy_accuracy("gpt", docs, first, repeat)
    with pytest.raises(ValueError, match="skip"):
        induction_accuracy(docs, first, repeat, skip=4)

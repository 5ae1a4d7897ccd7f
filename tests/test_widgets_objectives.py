import torch

from lmnotes import objectives
from lmnotes.pretraining import toy_specials
from lmnotes.recipes import toyworld_tokenizer
from lmnotes.widgets_objectives import bert_masking, bert_masking_html, masking_explorer

TOK = toyworld_tokenizer()
SENTENCE = "grace lives in oslo . grace works as a doctor . grace has a hamster ."


def test_bert_masking_describes_what_bert_mask_did_word_by_word():
    view = bert_masking(TOK, SENTENCE, mask_rate=0.5, seed=3)
    sp = toy_specials(TOK)
    result = objectives.bert_mask(torch.tensor(TOK.encode(SENTENCE)), mask_id=sp.mask, vocab_size=TOK.vocab_size,
                                  special_ids=sp.all, mask_rate=0.5, generator=3)
    assert [w[0] for w in view["words"]] == SENTENCE.split()
    assert [w[1] for w in view["words"]] == [TOK.decode([i]) for i in result.inputs.tolist()]
    assert view["counts"] == {"tokens": 16, "masked": int(result.masked.sum()),
                              "random": int(result.randomised.sum()), "kept": int(result.kept.sum())}
    assert sum(view["counts"][r] for r in ("masked", "random", "kept")) == 8  # round(16 * 0.5)
    assert all(shown == "<mask>" for _, shown, rule in view["words"] if rule == "masked")


def test_html_and_explorer_follow_the_controls():
    html = bert_masking_html(TOK, SENTENCE, mask_rate=0.15, seed=0)
    assert "2 of 16 tokens to predict" in html
    box = masking_explorer(TOK, [SENTENCE, "tom has a dog ."], mask_rate=15, seed=0)
    pick, rate, seed, view = box.children
    assert view.value == html
    rate.value = 50
    assert "8 of 16 tokens to predict" in view.value
    seed_0 = view.value
    seed.value = 1  # another seed chooses other positions
    assert view.value == bert_masking_html(TOK, SENTENCE, mask_rate=0.5, seed=1) != seed_0
    pick.value = "tom has a dog ."
    assert "2 of 5 tokens to predict" in view.value  # round(5 * 0.5) = 2: Python rounds half to even

"""Widget logic, exercised without a kernel: constructing widgets and setting values fires observers."""

import pytest
import torch

from lmnotes import course, prompting, widgets
from lmnotes.data import toyworld
from lmnotes.models import GPT, Encoder, EncoderConfig, GPTConfig
from lmnotes.pretraining import objectives
from lmnotes.pretraining.experiments import toy_specials
from lmnotes.tokenization import WordTokenizer

torch.set_num_threads(1)


def test_course_map_shows_the_chosen_chapter_and_follows_the_picker():
    box = widgets.course_map(start=1)
    picker, card = box.children
    assert "Chapter 1: Pre-training" in card.value
    assert "01_tokenization.ipynb" in card.value
    picker.value = 4
    assert "Chapter 4: Alignment" in card.value
    assert "12_rlhf.ipynb" in card.value
    assert len(picker.options) == len(course.CHAPTERS)


def test_chapter_html_rejects_unknown_chapter():
    with pytest.raises(ValueError, match="no chapter 9"):
        widgets.chapter_html(9)


def test_tokens_html_escapes_and_shows_ids_and_visible_whitespace():
    out = widgets.tokens_html(["<b>", " is", "\n"], [1, 2, 3])
    assert "&lt;b&gt;" in out and "<b>" not in out.replace("<br>", "")
    assert "␣is" in out and "↵" in out
    assert out.count("<small>") == 3
    with pytest.raises(ValueError, match="2 tokens but 1 ids"):
        widgets.tokens_html(["a", "b"], [1])


def test_tokenizer_playground_follows_text_and_tokenizer_choice():
    from lmnotes.tokenization import CharTokenizer, gpt2_bpe

    toks = {"GPT-2": gpt2_bpe(), "characters": CharTokenizer.from_text("abc weathr")}
    pick, box, view = widgets.tokenizer_playground(toks, text="The weather is").children
    assert "3 tokens" in view.value and "Ġweather" in view.value and ">6193<" in view.value
    box.value = "The weather is nice"
    assert "4 tokens" in view.value
    pick.value = "characters"  # 'T' is outside this alphabet: the error is shown, not raised
    assert "color:#b00" in view.value
    box.value = "abc"
    assert "3 tokens" in view.value and "1.00 tokens per character" in view.value
    box.value = "a"
    assert "<b>1 token</b>" in view.value


def test_tokenizer_playground_needs_a_tokenizer():
    with pytest.raises(ValueError, match="at least one"):
        widgets.tokenizer_playground({})


def test_next_token_explorer_updates_with_the_prompt():
    tok = WordTokenizer(["the", "film", "is", "good", "bad", "not"]).to_hf()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    box = widgets.next_token_explorer(model, tok, "the film", k=3)
    text, view = box.children
    first = view.value
    text.value = "the film is not"
    top_token = prompting.next_token_distribution(model, tok, "the film is not", k=1)[0][0]
    assert view.value != first and f"<code>{top_token}</code>" in view.value
    text.value = ""
    assert "non-empty" in view.value  # an error is shown in the widget, not raised in the kernel


TOK = toyworld.tokenizer()
SENTENCE = "grace lives in oslo . grace works as a doctor . grace has a hamster ."


def test_bert_masking_describes_what_bert_mask_did_word_by_word():
    view = widgets.bert_masking(TOK, SENTENCE, mask_rate=0.5, seed=3)
    sp = toy_specials(TOK)
    result = objectives.bert_mask(torch.tensor(TOK.encode(SENTENCE)), mask_id=sp.mask, vocab_size=TOK.vocab_size,
                                  special_ids=sp.all, mask_rate=0.5, generator=3)
    assert [w[0] for w in view["words"]] == SENTENCE.split()
    assert [w[1] for w in view["words"]] == [TOK.decode([i]) for i in result.inputs.tolist()]
    assert view["counts"] == {"tokens": 16, "masked": int(result.masked.sum()),
                              "random": int(result.randomised.sum()), "kept": int(result.kept.sum())}
    assert sum(view["counts"][r] for r in ("masked", "random", "kept")) == 8  # round(16 * 0.5)
    assert all(shown == "<mask>" for _, shown, rule in view["words"] if rule == "masked")


def test_masking_html_and_explorer_follow_the_controls():
    html = widgets.bert_masking_html(TOK, SENTENCE, mask_rate=0.15, seed=0)
    assert "2 of 16 tokens to predict" in html
    box = widgets.masking_explorer(TOK, [SENTENCE, "tom has a dog ."], mask_rate=15, seed=0)
    pick, rate, seed, view = box.children
    assert view.value == html
    rate.value = 50
    assert "8 of 16 tokens to predict" in view.value
    seed_0 = view.value
    seed.value = 1  # another seed chooses other positions
    assert view.value == widgets.bert_masking_html(TOK, SENTENCE, mask_rate=0.5, seed=1) != seed_0
    pick.value = "tom has a dog ."
    assert "2 of 5 tokens to predict" in view.value  # round(5 * 0.5) = 2: Python rounds half to even


def tiny_encoder():
    torch.manual_seed(0)
    return Encoder(EncoderConfig(vocab_size=40, block_size=16, n_layer=2, n_head=4, n_embd=16)).eval()


def test_pruning_explorer_shows_the_metrics_of_the_chosen_pruning():
    model, x = tiny_encoder(), torch.randint(0, 40, (3, 7), generator=torch.Generator().manual_seed(1))
    cost = torch.arange(8.0).reshape(2, 4)
    def metrics(m):
        return {"size": m(x).abs().mean().item()}

    box = widgets.pruning_explorer(model, cost, metrics)
    order, count, view = box.children
    count.value = 0
    assert "0 of 8 heads removed" in view.value and f"{model(x).abs().mean().item():.3g}" in view.value
    count.value = 3
    assert "3 of 8" in view.value and view.value.count("✕") == 3
    order.value = "most important first"
    assert "most important first" in view.value
    assert torch.equal(model.blocks[0].attn.proj.weight, tiny_encoder().blocks[0].attn.proj.weight)


def test_extrapolation_explorer_follows_scheme_and_length():
    table = {"learned": {32: 2.0, 64: float("nan")}, "alibi": {32: 2.0, 64: 2.02}}
    assert "cannot run" in widgets.extrapolation_html(table, "learned", 64)
    assert "+1.0% loss vs 2.000 at 32" in widgets.extrapolation_html(table, "alibi", 64)
    box = widgets.extrapolation_explorer(table)
    (scheme, length), view = box.children[0].children, box.children[1]
    assert "cannot run" in view.value
    scheme.value = "alibi"
    assert "2x the training length" in view.value
    length.value = 32
    assert "+0.0%" in view.value
    with pytest.raises(ValueError, match="scheme"):
        widgets.extrapolation_html(table, "rope", 64)
    with pytest.raises(ValueError, match="length"):
        widgets.extrapolation_html(table, "alibi", 128)
def test_prompt_builder_shows_the_prompt_and_label_word_probabilities_and_follows_its_controls():
    tok = toyworld.tokenizer().to_hf()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(tok), block_size=32, n_layer=1, n_head=2, n_embd=16)).eval()
    demos = [("lion", "animal"), ("pear", "fruit"), ("fox", "animal")]
    verbalizers = {"a/f": {"animal": "animal", "fruit": "fruit"}, "yes/no": {"animal": "yes", "fruit": "no"}}
    box = widgets.prompt_builder(model, tok, demos, "cow", ["{input} -> {output} .", "{input} is {output} ."],
                                 verbalizers, k=2)
    (template, words, shots), view = box.children[0].children, box.children[1]
    assert "lion -&gt; animal . pear -&gt; fruit . cow -&gt;" in view.value
    prompt = prompting.build_prompt(demos[:2], "cow", verbalizers["a/f"], "{input} -> {output} .")
    p = prompting.continuation_logprobs(model, tok, [prompt], ["animal", "fruit"])[0].softmax(-1)
    assert f"{p[0].item():.3f}" in view.value and f"{p[1].item():.3f}" in view.value
    words.value = "yes/no"
    assert "lion -&gt; yes . pear -&gt; no . cow -&gt;" in view.value
    shots.value = 0
    assert "0-shot prompt" in view.value and "lion" not in view.value
    template.value = "{input} is {output} ."
    assert "cow is" in view.value
    with pytest.raises(ValueError, match="k"):
        widgets.prompt_builder_html(model, tok, demos, "cow", verbalizers["a/f"], "{input} -> {output} .", 4)
    with pytest.raises(ValueError, match="templates and verbalizers"):
        widgets.prompt_builder(model, tok, demos, "cow", [], verbalizers)


def test_cascade_explorer_shows_the_accuracy_of_the_chosen_share():
    box = widgets.cascade_explorer([0.0, 0.5, 1.0], [0.4, 0.7, 0.9])
    slider, view = box.children
    assert "0% sent" in view.value and "accuracy 0.400" in view.value and "strong alone 0.900" in view.value
    slider.value = 0.5
    assert "50% sent" in view.value and "accuracy 0.700" in view.value
    with pytest.raises(ValueError, match="share"):
        widgets.cascade_html([0.0, 1.0], [0.4, 0.9], 0.3)
    with pytest.raises(ValueError, match="shares and accuracy"):
        widgets.cascade_html([0.0, 1.0], [0.4], 0.0)
def test_voting_explorer_shows_the_samples_the_vote_and_its_accuracy():
    samples = {0.5: [[5, 5, 7], [3, 4, 4]], 1.0: [[7, 5, 5], [4, 3, 3]]}
    truths = [5, 3]
    box = widgets.voting_explorer(samples, truths, greedy_accuracy=0.5, questions=["what is 2 + 3 ?", "1 + 2 ?"])
    (temperature, k, problem), view = box.children[0].children, box.children[1]
    assert temperature.value == 1.0 and "majority vote: <b>7</b> (wrong)" in view.value
    assert "k = 1: <b>0.000</b> (greedy: 0.500)" in view.value
    k.value = 3
    assert "majority vote: <b>5</b> (right)" in view.value and "k = 3: <b>1.000</b>" in view.value
    problem.value = 1
    assert "what is" not in view.value and "1 + 2 ?" in view.value
    temperature.value = 0.5
    assert "majority vote: <b>4</b> (wrong)" in view.value and "k = 3: <b>0.500</b>" in view.value
    with pytest.raises(ValueError, match="samples"):
        widgets.voting_explorer({}, truths, 0.5)
    with pytest.raises(ValueError, match="k"):
        widgets.voting_html(samples, truths, 0.5, 1.0, 4, 0)
def test_best_of_n_explorer_shows_the_row_of_the_chosen_n():
    table = {1: {"gold": 1.9, "proxy": 0.1, "kl": 0.0, "bound": 0.0},
             16: {"gold": 2.05, "proxy": 1.2, "kl": 1.5, "bound": 1.835}}
    box = widgets.best_of_n_explorer(table)
    n, view = box.children
    assert "best of 1" in view.value and "+0.000" in view.value
    n.value = 16
    assert "best of 16" in view.value and "+1.100" in view.value and "= 1.835" in view.value
    with pytest.raises(ValueError, match="n"):
        widgets.best_of_n_html(table, 4)


def test_kl_tradeoff_explorer_shows_the_run_of_the_chosen_beta():
    runs = [dict(beta=b, proxy=[0.5, 0.5 + b], gold=[1.0, 2.0 - b, 1.5 - b], kl=[0.0, 3.0 / (1 + b)],
                 distinct2=[0.8, 0.7]) for b in (0.0, 3.0)]
    box = widgets.kl_tradeoff_explorer(runs)
    pick, view = box.children
    assert "beta = 3</b> after 3 PPO iterations" in view.value and "KL to the reference 0.75 nats" in view.value
    pick.value = 0.0
    assert "beta = 0</b>" in view.value and "best 2 at iteration 1" in view.value
    with pytest.raises(ValueError, match="at least one"):
        widgets.kl_tradeoff_explorer([])
    with pytest.raises(ValueError, match="beta must be one of"):
        widgets.kl_tradeoff_html(runs, 1.0)


def test_trainable_share_explorer_counts_what_each_method_trains():
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    total = sum(p.numel() for p in model.parameters())
    box = widgets.trainable_share_explorer(model, {("full", 8): 0.99}, method="prompt tuning", size=4)
    (pick, slider), view = box.children[0].children, box.children[1]
    assert f"<b>{4 * 16:,}</b> trainable" in view.value and "not measured" in view.value
    slider.value = 8
    assert f"<b>{8 * 16:,}</b> trainable" in view.value
    pick.value = "full"
    assert f"<b>{total:,}</b> trainable" in view.value and "= <b>100%</b>" in view.value and "0.990" in view.value

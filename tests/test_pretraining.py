import pytest
import torch

from lmnotes.data import toyworld
from lmnotes.models import GPT, Encoder, EncoderConfig, EncoderDecoder, EncoderDecoderConfig, GPTConfig
from lmnotes.pretraining import experiments as P
from lmnotes.pretraining import objectives

torch.set_num_threads(1)
TOK = toyworld.tokenizer()
SP = P.toy_specials(TOK)
V = TOK.vocab_size
DOCS = ["grace lives in oslo . grace has a hamster .", "what is 4 + 7 ? 4 + 7 = 1 1 . the answer is 1 1 .",
        "tom has a dog ."]


def tiny(kind, block_size=64):
    torch.manual_seed(0)
    shape = dict(vocab_size=V, block_size=block_size, n_layer=1, n_head=2, n_embd=16)
    return (GPT(GPTConfig(**shape)) if kind == "gpt" else Encoder(EncoderConfig(**shape))).eval()


def test_toy_specials_are_the_word_tokenizers_special_ids():
    assert (SP.pad, SP.unk, SP.bos, SP.eos, SP.mask, SP.sep) == tuple(
        TOK.vocab[t] for t in ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "<sep>"))
    assert sorted(SP.all) == list(range(6))


def test_document_rows_start_with_eos_and_pad_on_the_right():
    rows = P.document_rows(TOK, DOCS, block_size=24)
    assert rows.shape == (3, 24)
    for row, doc in zip(rows, DOCS):
        ids = [SP.eos] + TOK.encode(doc)
        assert row[:len(ids)].tolist() == ids and (row[len(ids):] == SP.pad).all()
    with pytest.raises(ValueError, match="block_size - 1"):
        P.document_rows(TOK, DOCS, block_size=10)
    with pytest.raises(ValueError, match="block_size"):
        P.document_rows(TOK, DOCS, block_size=1)


def test_causal_batches_predict_the_next_token_and_skip_padding():
    rows = P.document_rows(TOK, DOCS, block_size=24)
    batch = P.causal_lm_batches(rows, batch_size=8, pad_id=SP.pad, seed=0)(0)
    x, y = batch["input_ids"], batch["labels"]
    real_next = torch.cat([x[:, 1:], torch.full((8, 1), SP.pad)], 1)
    assert torch.equal(y[real_next != SP.pad], real_next[real_next != SP.pad])
    assert (y[real_next == SP.pad] == -100).all()
    again = P.causal_lm_batches(rows, batch_size=8, pad_id=SP.pad, seed=0)(0)
    assert torch.equal(again["input_ids"], x)


def test_masked_batches_hide_only_words_and_label_only_the_chosen():
    rows = P.document_rows(TOK, DOCS, block_size=24)
    batch = P.masked_lm_batches(rows, batch_size=64, vocab_size=V, specials=SP, mask_rate=0.3, seed=0)(0)
    chosen = batch["labels"] != -100
    special = torch.isin(batch["input_ids"], torch.tensor([SP.pad, SP.eos]))
    assert not (chosen & special).any()
    assert torch.equal(batch["attention_mask"].bool(), batch["input_ids"] != SP.pad)
    assert (batch["input_ids"][chosen] == SP.mask).float().mean() > 0.6  # 80% of the chosen


def test_replaced_token_labels_mark_exactly_the_changed_words():
    rows = P.document_rows(TOK, DOCS[:1], block_size=16)
    batch = P.replaced_token_batches(rows, batch_size=50, vocab_size=V, specials=SP, seed=1)(0)
    original = rows.expand(50, -1)
    real = original != SP.pad
    assert torch.equal(batch["labels"][real] == 1, (batch["input_ids"] != original)[real])
    assert (batch["labels"][~real] == -100).all()
    assert batch["labels"][real].float().mean() > 0.05


def test_sequence_log_prob_is_the_chain_rule_and_ignores_right_padding():
    model = tiny("gpt")
    ids = torch.tensor([[SP.eos] + TOK.encode(DOCS[0])])
    with torch.no_grad():
        chain = sum(model(ids[:, :i])[0, -1].log_softmax(-1)[ids[0, i]].item() for i in range(1, ids.shape[1]))
    assert P.sequence_log_prob(model, ids).item() == pytest.approx(chain, abs=1e-4)
    padded = torch.cat([ids, torch.full((1, 5), SP.pad)], 1)
    mask = (padded != SP.pad).long()
    assert P.sequence_log_prob(model, padded, mask).item() == pytest.approx(chain, abs=1e-4)
    with pytest.raises(ValueError, match="T >= 2"):
        P.sequence_log_prob(model, ids[:, :1])
    with pytest.raises(TypeError, match="LongTensor"):
        P.sequence_log_prob(model, ids.tolist())


@pytest.mark.parametrize("kind", P.CLOZE_KINDS)
def test_cloze_items_are_decided_by_the_words_on_the_right(kind):
    items = P.cloze_items(20, seed=0, kinds=kind)
    assert items == P.cloze_items(20, seed=0, kinds=kind)
    for item in items:
        assert item.kind == kind and item.answer in item.candidates
        right = item.words[item.blank + 1:]
        if kind == "relation":
            assert right[0] == {"lives": "in", "works": "as", "has": "a"}[item.answer]
        elif kind == "action":
            assert item.words[item.blank - 1] in ("she", "he")
        else:  # the answer (or its upper case) comes back later
            assert item.answer in right or item.answer.upper() in right
            if kind != "list word":  # a list's other words may precede it; a name or operand never does
                assert item.answer not in item.words[:item.blank]
        assert "___" in item.text() and item.text().count("___") == 1


def test_cloze_items_reject_bad_arguments():
    with pytest.raises(ValueError, match="kinds"):
        P.cloze_items(3, seed=0, kinds=("facts",))
    with pytest.raises(ValueError, match="n must"):
        P.cloze_items(0, seed=0)
    with pytest.raises(TypeError, match="seed must be an integer"):
        P.cloze_items(3, seed="0")


def test_random_blanks_cover_the_documents_with_the_whole_vocabulary():
    items = P.random_blanks(DOCS, 30, seed=0)
    assert {" ".join(i.words) for i in items} <= set(DOCS)
    assert all(i.answer in i.candidates and len(i.candidates) == V - 6 for i in items)


def manual_choice(model, item, method):
    ids = torch.tensor([SP.eos] + TOK.encode(" ".join(item.words)))
    blank = item.blank + 1
    candidates = TOK.encode(" ".join(item.candidates))
    with torch.no_grad():
        if method == "masked":
            logits = model(ids.index_fill(0, torch.tensor(blank), SP.mask)[None])[0, blank]
            scores = [logits[c].item() for c in candidates]
        elif method == "left":
            logits = model(ids[None, :blank])[0, -1]
            scores = [logits[c].item() for c in candidates]
        else:
            scores = [P.sequence_log_prob(model, ids.index_fill(0, torch.tensor(blank), c)[None]).item()
                      for c in candidates]
    return TOK.decode([candidates[max(range(len(scores)), key=scores.__getitem__)]])


@pytest.mark.parametrize("method", P.FILL_METHODS)
def test_fill_in_blank_agrees_with_a_one_item_at_a_time_computation(method):
    model = tiny("bert" if method == "masked" else "gpt")
    items = P.cloze_items(6, seed=1, kinds=("relation", "operand"))  # different lengths: padding matters
    picked = P.fill_in_blank(model, TOK, items, method)
    assert picked == [manual_choice(model, item, method) for item in items]
    accuracy = P.fill_in_blank_accuracy(model, TOK, items, method)
    assert set(accuracy) == {"relation", "operand", "all"}
    assert accuracy["all"] == sum(p == i.answer for p, i in zip(picked, items)) / len(items)
    with pytest.raises(ValueError, match="method"):
        P.fill_in_blank(model, TOK, items, "both")


def test_mlm_sampler_proposes_ordinary_words_for_replace_tokens():
    sampler = P.mlm_sampler(tiny("bert"), specials=SP)
    rows = P.document_rows(TOK, DOCS, block_size=24)
    corrupted, replaced = objectives.replace_tokens(rows, vocab_size=V, sampler=sampler, special_ids=SP.all,
                                                    generator=0)
    assert torch.equal(replaced, corrupted != rows)
    assert not torch.isin(corrupted[replaced], torch.tensor(SP.all)).any()
    with pytest.raises(ValueError, match="temperature"):
        P.mlm_sampler(tiny("bert"), specials=SP, temperature=0)


class Oracle(torch.nn.Module):
    """Answers from a stored tensor: a discriminator's ``tag`` or an encoder-decoder's logits."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def tag(self, ids, attention_mask=None):
        return self.logits

    def forward(self, *args):
        return self.logits


def test_detection_scores_count_catches_and_false_alarms():
    labels = torch.tensor([[0, 1, 0, 0, -100], [1, 0, 0, 0, -100]])
    batch = {"input_ids": torch.zeros_like(labels), "labels": labels, "attention_mask": (labels != -100).long()}
    guess = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 0, 0, 0]])  # one catch, one miss, one false alarm
    scores = P.detection_scores(Oracle(torch.nn.functional.one_hot(guess, 2).float()), batch)
    # 6 originals, 5 kept as original: balanced accuracy (1/2 + 5/6) / 2
    assert scores == pytest.approx({"accuracy": 6 / 8, "baseline": 6 / 8, "recall": 1 / 2, "precision": 1 / 2,
                                    "F1": 1 / 2, "balanced accuracy": 2 / 3})
    assert P.detection_loss(Oracle(torch.nn.functional.one_hot(labels.clamp(min=0), 2).float() * 50), batch) < 1e-6
    # answering "original" everywhere: accuracy is the baseline, balanced accuracy 1/2, F1 0
    constant = P.detection_scores(Oracle(torch.nn.functional.one_hot(torch.zeros_like(guess), 2).float()), batch)
    assert constant["accuracy"] == constant["baseline"] and constant["balanced accuracy"] == 0.5
    assert constant["F1"] == 0.0


def test_detection_scores_agree_with_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(6, 20, generator=g) < 0.1).long()
    labels[:, -3:] = -100
    guess = (torch.rand(6, 20, generator=g) < 0.15).long()
    batch = {"input_ids": torch.zeros_like(labels), "labels": labels, "attention_mask": (labels != -100).long()}
    scores = P.detection_scores(Oracle(torch.nn.functional.one_hot(guess, 2).float()), batch)
    real = labels != -100
    y, p = labels[real].numpy(), guess[real].numpy()
    assert scores["balanced accuracy"] == pytest.approx(metrics.balanced_accuracy_score(y, p))
    assert scores["F1"] == pytest.approx(metrics.f1_score(y, p))
    assert scores["precision"] == pytest.approx(metrics.precision_score(y, p))


def test_denoising_pairs_are_repeatable_and_restore_the_text():
    sequences = [torch.tensor(TOK.encode(d)) for d in DOCS]
    sentinels = list(range(V, V + 4))
    pairs = P.denoising_pairs(sequences, "span_corruption", seed=3, sentinel_ids=sentinels, vocab_size=V + 4)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(pairs, P.denoising_pairs(
        sequences, "span_corruption", seed=3, sentinel_ids=sentinels, vocab_size=V + 4)))
    for (source, target), original in zip(pairs, sequences):
        assert torch.equal(objectives.span_restore(source, target, sentinel_ids=sentinels), original)
    assert P.show(TOK, pairs[0][1], sentinels).startswith("<s0>")


def test_seq2seq_batch_teacher_forcing_layout_and_accuracy():
    pairs = [(torch.tensor([7, 8, 9]), torch.tensor([10, 11])), (torch.tensor([7]), torch.tensor([12, 13, 14]))]
    batch = P.seq2seq_batch(pairs, bos_id=SP.bos, eos_id=SP.eos, pad_id=SP.pad)
    assert batch["input_ids"].tolist() == [[7, 8, 9], [7, SP.pad, SP.pad]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["decoder_input_ids"].tolist() == [[SP.bos, 10, 11, SP.pad], [SP.bos, 12, 13, 14]]
    assert batch["labels"].tolist() == [[10, 11, SP.eos, -100], [12, 13, 14, SP.eos]]
    right = torch.nn.functional.one_hot(batch["labels"].clamp(min=0), V).float()
    assert P.seq2seq_accuracy(Oracle(right), batch) == {"token_accuracy": 1.0, "exact": 1.0}
    wrong = batch["labels"].clamp(min=0).clone()
    wrong[1, 0] = 99
    scores = P.seq2seq_accuracy(Oracle(torch.nn.functional.one_hot(wrong, V).float()), batch)
    assert scores == {"token_accuracy": pytest.approx(6 / 7), "exact": 0.5}
    per_item = P.seq2seq_accuracy(Oracle(torch.nn.functional.one_hot(wrong, V).float()), batch, per_item=True)
    assert per_item["exact_items"].tolist() == [True, False]
    model = EncoderDecoder(EncoderDecoderConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    assert P.seq2seq_loss(model, batch).item() == pytest.approx(torch.log(torch.tensor(float(V))).item(), rel=0.1)
    with pytest.raises(ValueError, match="pairs"):
        P.seq2seq_batch([], bos_id=SP.bos, eos_id=SP.eos, pad_id=SP.pad)
    draws = P.seq2seq_batches(pairs, batch_size=5, bos_id=SP.bos, eos_id=SP.eos, pad_id=SP.pad, seed=1)
    again = P.seq2seq_batches(pairs, batch_size=5, bos_id=SP.bos, eos_id=SP.eos, pad_id=SP.pad, seed=1)
    first = draws(0)
    assert first["input_ids"].shape[0] == 5 and torch.equal(first["labels"], again(0)["labels"])
    assert {tuple(r) for r in first["input_ids"].tolist()} <= {tuple(r) for r in batch["input_ids"].tolist()}
    with pytest.raises(ValueError, match="pairs"):
        P.seq2seq_batches([], batch_size=2, bos_id=SP.bos, eos_id=SP.eos, pad_id=SP.pad, seed=0)


def test_corrupted_token_accuracy_sees_the_answer_only_when_tokens_stay():
    from lmnotes.pretraining import experiments as pt

    class Copy(torch.nn.Module):  # predicts the token it reads: right only where the token was kept
        def forward(self, idx, attention_mask=None):
            return torch.nn.functional.one_hot(idx, 20).float()

    specials = pt.Specials(pad=0, unk=1, bos=2, eos=3, mask=4, sep=5)
    rows = torch.randint(6, 20, (8, 30))
    options = dict(vocab_size=20, specials=specials, seed=0)
    assert pt.corrupted_token_accuracy(Copy(), rows, mask_fraction=0.0, random_fraction=0.0, **options) == 1.0
    assert pt.corrupted_token_accuracy(Copy(), rows, mask_fraction=1.0, random_fraction=0.0, **options) == 0.0
    assert pt.corrupted_token_accuracy(Copy(), rows, mask_fraction=0.0, random_fraction=1.0, **options) < 0.2


def test_stream_mlm_batches_mask_random_windows_repeatably():
    stream = torch.tensor([t for d in DOCS * 4 for t in TOK.encode(d) + [SP.eos]])
    batches = P.stream_mlm_batches(stream, steps=3, batch_size=5, block_size=8, vocab_size=V, specials=SP, seed=2)
    assert len(batches) == 3 and batches[0]["input_ids"].shape == (5, 8)
    chosen = batches[0]["labels"] != -100
    assert chosen.any() and not torch.isin(batches[0]["labels"][chosen], torch.tensor(SP.all)).any()
    again = P.stream_mlm_batches(stream, steps=3, batch_size=5, block_size=8, vocab_size=V, specials=SP, seed=2)
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(batches, again))


def test_masked_blocks_and_mlm_scores():
    stream = torch.tensor([t for d in DOCS * 3 for t in TOK.encode(d) + [SP.eos]])
    batch = P.masked_blocks(stream, block_size=8, vocab_size=V, specials=SP, seed=0)
    assert batch["input_ids"].shape == (len(stream) // 8, 8)
    chosen = batch["labels"] != -100
    assert torch.equal(batch["labels"][chosen], stream[: batch["labels"].numel()].view(-1, 8)[chosen])
    model = tiny("encoder")
    scores = P.mlm_scores(model, batch)
    with torch.no_grad():
        logits = model(batch["input_ids"])
    expected = torch.nn.functional.cross_entropy(logits[chosen], batch["labels"][chosen]).item()
    assert scores["MLM loss"] == pytest.approx(expected, rel=1e-5)
    assert scores["accuracy"] == pytest.approx((logits[chosen].argmax(-1) == batch["labels"][chosen]).float().mean().item())
    with pytest.raises(ValueError, match="block_size"):
        P.masked_blocks(stream[:5], block_size=8, vocab_size=V, specials=SP, seed=0)
    with pytest.raises(TypeError, match="batch"):
        P.mlm_scores(model, batch["input_ids"])


def test_pretrained_starts_and_compare_pretraining():
    from lmnotes import checkpoints
    from lmnotes.data import tasks, toyworld
    from lmnotes.pretraining import finetuning

    tok = checkpoints.load("toyworld-gpt").tokenizer
    reviews = [(r.text, r.label) for r in toyworld.reviews(40, seed=0)]
    source = tasks.sentence_strength(64, seed=0)
    starts = P.pretrained_starts(tok, [x for x, _ in reviews], source, tasks.STRENGTHS, seed=0,
                                           ssl_steps=20, source_steps=5)
    fresh = P.tiny_gpt(tok, 0).state_dict()

    def same(model):
        return [torch.equal(v, fresh[k]) for k, v in model.state_dict().items()]

    assert all(same(starts["random"]))
    assert not all(same(starts["self-supervised"])) and not all(same(starts["supervised"]))  # both were trained
    assert starts["history"].train_loss[-1] < starts["history"].train_loss[0]
    assert starts["source_model"].labels == tasks.STRENGTHS
    settings = {name: dict(lr=1e-3, steps=2) for name in P.ADAPTATIONS}
    got = P.compare_pretraining(starts, tok, reviews[:20], reviews[20:], labels=toyworld.REVIEW_LABELS,
                                          settings=settings, seed=0, adaptations=["supervised (related task), probe"])
    want = finetuning.evaluate(finetuning.finetune(starts["supervised"], tok, reviews[:20], task="classify",
                                                   labels=toyworld.REVIEW_LABELS, mode="probe", seed=0, lr=1e-3,
                                                   steps=2), reviews[20:])["accuracy"]
    assert got == {"supervised (related task), probe": want}
    with pytest.raises(ValueError, match="settings must give"):
        P.compare_pretraining(starts, tok, reviews[:20], reviews[20:], labels=toyworld.REVIEW_LABELS,
                                        settings={}, seed=0)
    with pytest.raises(ValueError, match="adaptations must be one of"):
        P.compare_pretraining(starts, tok, reviews[:20], reviews[20:], labels=toyworld.REVIEW_LABELS,
                                        settings=settings, seed=0, adaptations=["lora"])


PAIR_DOCS = ["grace lives in oslo . grace has a hamster . grace works as a baker .",
             "tom has a dog . the dog is big .", "the design is good . overall it is great .",
             "what is 4 + 7 ?"]  # the last has one sentence: never a pair


def test_sentence_pair_rows_pack_a_and_b_with_segments_and_true_labels():
    from lmnotes.data.tasks import sentences

    pairs = P.sentence_pair_rows(TOK, PAIR_DOCS * 10, block_size=32, seed=0)
    n = len(pairs["input_ids"])
    assert n == 30 and all(pairs[k].shape == (30, 32) for k in ("input_ids", "token_type_ids", "attention_mask"))
    labels = pairs["next_sentence"].tolist()
    assert 0 < sum(labels) < n  # both IsNext (0) and NotNext (1) occur
    for r in range(n):
        ids = pairs["input_ids"][r][pairs["attention_mask"][r].bool()].tolist()
        seps = [i for i, t in enumerate(ids) if t == SP.sep]
        assert ids[0] == SP.bos and len(seps) == 2 and seps[1] == len(ids) - 1
        types = pairs["token_type_ids"][r][: len(ids)].tolist()
        assert types == [0] * (seps[0] + 1) + [1] * (len(ids) - seps[0] - 1)
        a, b = TOK.decode(ids[1:seps[0]]), TOK.decode(ids[seps[0] + 1:-1])
        document = PAIR_DOCS[r % 3]
        assert document.startswith(a)  # A: the first sentences of document r, untruncated here
        if labels[r] == 0:  # IsNext: B is the rest of the same document
            assert f"{a} {b}" == document
        else:  # NotNext: B is the tail of another document
            assert not document.endswith(b) and any(d.endswith(b) for d in PAIR_DOCS[:3])
        assert all(s in sentences(document) for s in sentences(a))
        i, j, first = pairs["sources"][r].tolist()  # where A and B come from
        docs = PAIR_DOCS * 10
        assert docs[i] == document and b == " ".join(sentences(docs[j])[first:])
        assert (j == i and first >= 1) if labels[r] == 0 else docs[j] != document
    assert pairs["sources"].shape == (30, 3)
    again = P.sentence_pair_rows(TOK, PAIR_DOCS * 10, block_size=32, seed=0)
    assert all(torch.equal(pairs[k], again[k]) for k in pairs)
    short = P.sentence_pair_rows(TOK, PAIR_DOCS * 10, block_size=12, seed=0)  # too long: A loses its start, B its end
    ids = short["input_ids"][0].tolist()
    assert len(ids) == 12 and ids.count(SP.sep) == 2
    with pytest.raises(ValueError, match="two or more sentences"):
        P.sentence_pair_rows(TOK, ["tom has a dog .", "what is 4 + 7 ?"], block_size=32, seed=0)
    with pytest.raises(ValueError, match="block_size"):
        P.sentence_pair_rows(TOK, PAIR_DOCS, block_size=4, seed=0)


def test_bert_loss_is_mlm_plus_nsp_and_bert_scores_read_both_heads():
    pairs = P.sentence_pair_rows(TOK, PAIR_DOCS * 10, block_size=32, seed=1)
    batch = P.bert_batches(pairs, batch_size=6, vocab_size=V, specials=SP, seed=3)(0)
    assert set(batch) == {"input_ids", "labels", "token_type_ids", "attention_mask", "next_sentence"}
    chosen = batch["labels"] != -100
    assert chosen.any() and not torch.isin(batch["labels"][chosen], torch.tensor(SP.all)).any()
    model = tiny("encoder")
    ids, types, attention = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
    with torch.no_grad():
        mlm = torch.nn.functional.cross_entropy(model(ids, types, attention)[chosen], batch["labels"][chosen])
        nsp = torch.nn.functional.cross_entropy(model.classify(ids, types, attention), batch["next_sentence"])
        assert P.bert_loss(model, batch).item() == pytest.approx((mlm + nsp).item(), rel=1e-5)
        assert P.bert_loss(model, batch, nsp=False).item() == pytest.approx(mlm.item(), rel=1e-5)
    held = P.masked_pairs(pairs, vocab_size=V, specials=SP, seed=0)
    assert torch.equal(held["next_sentence"], pairs["next_sentence"]) and held["input_ids"].shape == (30, 32)
    scores = P.bert_scores(model, held)
    with torch.no_grad():
        guess = model.classify(held["input_ids"], held["token_type_ids"], held["attention_mask"]).argmax(-1)
    assert scores["NSP accuracy"] == pytest.approx((guess == held["next_sentence"]).float().mean().item())
    assert 0 <= scores["MLM accuracy"] <= 1 and scores["MLM loss"] > 0
    with pytest.raises(TypeError, match="nsp"):
        P.bert_loss(model, batch, nsp="yes")
    with pytest.raises(TypeError, match="sentence_pair_rows"):
        P.bert_batches({"input_ids": pairs["input_ids"]}, batch_size=2, vocab_size=V, specials=SP, seed=0)
    with pytest.raises(TypeError, match="masked_pairs"):
        P.bert_scores(model, pairs)


def test_row_losses_are_each_rows_mean_cross_entropy():
    from lmnotes.training import lm_loss

    rows = P.document_rows(TOK, DOCS, block_size=24)
    batch = P.causal_lm_batches(rows, batch_size=3, pad_id=SP.pad, seed=0)(0)
    model = tiny("gpt")
    per_row = P.row_losses(model, batch)
    with torch.no_grad():
        logits = model(batch["input_ids"])
    for r in range(3):
        assert per_row[r].item() == pytest.approx(lm_loss(logits[r:r + 1], batch["labels"][r:r + 1]).item(), rel=1e-5)
    pairs = [(torch.tensor([7, 8, 9]), torch.tensor([10, 11])), (torch.tensor([7]), torch.tensor([12, 13, 14]))]
    s2s = P.seq2seq_batch(pairs, bos_id=SP.bos, eos_id=SP.eos, pad_id=SP.pad)
    ed = EncoderDecoder(EncoderDecoderConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    losses = P.row_losses(ed, s2s)
    assert losses.shape == (2,) and (losses * torch.tensor([3, 4])).sum() / 7 == pytest.approx(
        P.seq2seq_loss(ed, s2s).item(), rel=1e-5)
    with pytest.raises(TypeError, match="batch"):
        P.row_losses(model, {"input_ids": batch["input_ids"]})


def test_restoration_ceiling_counts_the_orders_a_text_could_have_come_from():
    dot = TOK.encode(".")[0]
    a, b, c = (TOK.encode(t) for t in ("anna lives in oslo .", "anna has a cat .", "anna works as a baker ."))
    three, two = torch.tensor(a + b + c), torch.tensor(a + b)
    repeated = torch.tensor(a + b + a + b)  # orders of A B A B: 4!/(2!2!) = 6; rotations: ABAB, BABA
    assert P.restoration_ceiling([three], "sentence_permutation", separator_id=dot) == pytest.approx(1 / 6)
    assert P.restoration_ceiling([three], "document_rotation", separator_id=dot) == pytest.approx(1 / 3)
    assert P.restoration_ceiling([three, two], "sentence_permutation", separator_id=dot) == pytest.approx((1 / 6 + 1 / 2) / 2)
    assert P.restoration_ceiling([repeated], "sentence_permutation", separator_id=dot) == pytest.approx(1 / 6)
    assert P.restoration_ceiling([repeated], "document_rotation", separator_id=dot) == pytest.approx(1 / 2)
    # the bound holds for the best guesser: over random originals, guessing the commonest order scores 1/k!
    import itertools
    import random

    rng = random.Random(0)
    sentences = [tuple(a), tuple(b), tuple(c)]
    hits = sum(rng.sample(sentences, 3) == sentences for _ in range(6000)) / 6000
    assert hits == pytest.approx(1 / 6, abs=0.02) and len(list(itertools.permutations(sentences))) == 6
    with pytest.raises(ValueError, match="kind"):
        P.restoration_ceiling([three], "token_masking", separator_id=dot)
    with pytest.raises(TypeError, match="sequences"):
        P.restoration_ceiling([], "document_rotation", separator_id=dot)


def test_prefix_lm_batches_label_the_continuation_and_open_the_prefix():
    rows = P.document_rows(TOK, DOCS, block_size=24)
    batch = P.prefix_lm_batch(rows, pad_id=SP.pad, seed=0)
    n = (rows != SP.pad).sum(-1)
    assert ((batch["prefix"] >= 1) & (batch["prefix"] <= n - 1)).all()
    for r, p in enumerate(batch["prefix"].tolist()):  # labels: the next tokens of positions p-1 .. n-2 only
        expected = torch.full((24,), -100)
        expected[p - 1:n[r] - 1] = rows[r, p:n[r]]
        assert torch.equal(batch["labels"][r], expected)
        assert torch.equal(batch["visible"][r], objectives.prefix_lm_mask(24, p))
    causal = P.prefix_lm_batch(rows, pad_id=SP.pad, seed=0, bidirectional=False)
    assert "visible" not in causal and torch.equal(causal["labels"], batch["labels"])
    # the batch maker draws the rows causal_lm_batches draws with the same seed, and repeats itself
    step = P.prefix_lm_batches(rows, batch_size=8, pad_id=SP.pad, seed=3)(0)
    assert torch.equal(step["input_ids"], P.causal_lm_batches(rows, batch_size=8, pad_id=SP.pad, seed=3)(0)["input_ids"])
    assert torch.equal(step["labels"], P.prefix_lm_batches(rows, batch_size=8, pad_id=SP.pad, seed=3)(0)["labels"])
    with pytest.raises(ValueError, match="at least 2 tokens"):
        P.prefix_lm_batch(torch.tensor([[SP.eos, SP.pad]]), pad_id=SP.pad, seed=0)
    with pytest.raises(TypeError, match="bidirectional"):
        P.prefix_lm_batch(rows, pad_id=SP.pad, seed=0, bidirectional="yes")


def test_prefix_lm_reads_its_prefix_both_ways_and_never_sees_the_continuation_ahead():
    rows = P.document_rows(TOK, DOCS, block_size=24)
    batch = P.prefix_lm_batch(rows, pad_id=SP.pad, seed=1)
    model = tiny("gpt")
    logits = model(batch["input_ids"], visible=batch["visible"], causal=False)
    r, p = 0, int(batch["prefix"][0])
    later = batch["input_ids"].clone()
    later[r, p + 1] = SP.unk  # a continuation token: positions up to p may not see it
    changed = model(later, visible=batch["visible"], causal=False)
    torch.testing.assert_close(changed[r, :p + 1], logits[r, :p + 1])
    early = batch["input_ids"].clone()
    early[r, p - 1] = SP.unk  # the prefix's last token: position 0 sees it only under the prefix mask
    assert not torch.allclose(model(early, visible=batch["visible"], causal=False)[r, 0], logits[r, 0])
    torch.testing.assert_close(model(early)[r, 0], model(batch["input_ids"])[r, 0])
    # the loss is the cross-entropy of the labelled continuation, per row as row_losses gives it
    loss = P.prefix_lm_loss(model, batch)
    expected = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch["labels"], ignore_index=-100)
    torch.testing.assert_close(loss, expected)
    per_row = P.row_losses(model, batch)
    counted = (batch["labels"] != -100).sum(-1)
    torch.testing.assert_close((per_row * counted).sum() / counted.sum(), loss)
    with pytest.raises(TypeError, match="causal"):
        model(batch["input_ids"], causal="no")


def test_prefix_lm_arms_train_the_same_start_on_the_same_documents():
    rows = P.document_rows(TOK, DOCS, block_size=24)
    config = GPTConfig(vocab_size=V, block_size=24, n_layer=2, n_head=2, n_embd=16)
    options = dict(config=config, batch_size=4, pad_id=SP.pad, seed=2, steps=3, lr=1e-2, progress=False)
    models = {arm: P.prefix_lm_arm(arm, rows, **options)[0] for arm in P.PREFIX_LM_ARMS}
    # the causal arm is plain next-token training with causal_lm_batches(seed + 1) from the same start
    from lmnotes.repro import seed_everything
    from lmnotes.training import train

    seed_everything(2)
    plain = GPT(config)
    train(plain, P.causal_lm_batches(rows, batch_size=4, pad_id=SP.pad, seed=3), steps=3, lr=1e-2, progress=False)
    for a, b in zip(plain.parameters(), models["causal LM"].parameters()):
        torch.testing.assert_close(a, b)
    # the other two arms differ from it (their losses skip the prefix) and from each other (the mask)
    weights = {arm: torch.cat([p.flatten() for p in m.parameters()]) for arm, m in models.items()}
    assert (weights["prefix LM"] - weights["causal LM, continuation loss"]).abs().max() > 1e-4
    assert (weights["causal LM"] - weights["causal LM, continuation loss"]).abs().max() > 1e-4
    # with one layer the prefix's own outputs feed nothing the loss reads: prefix LM = the causal control
    one = options | dict(config=GPTConfig(vocab_size=V, block_size=24, n_layer=1, n_head=2, n_embd=16))
    a, b = (P.prefix_lm_arm(arm, rows, **one)[0] for arm in ("prefix LM", "causal LM, continuation loss"))
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    with pytest.raises(ValueError, match="arm"):
        P.prefix_lm_arm("masked LM", rows, **options)
    with pytest.raises(TypeError, match="config"):
        P.prefix_lm_arm("prefix LM", rows, **(options | dict(config=EncoderConfig(vocab_size=V))))

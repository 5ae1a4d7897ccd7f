import math
import re

import pytest
import torch

from lmnotes.pretraining import objectives as obj

V = 50  # toy vocabulary: 0 = [PAD], 1 = [CLS], 2 = [SEP], 3 = [MASK], 40..49 = sentinels
PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = [PAD, CLS, SEP]
SENTINELS = list(range(49, 39, -1))  # <s0> = 49, <s1> = 48, ... as T5 counts down from the top
WORDS = (4, 40)  # ordinary tokens are drawn from [4, 40)


def words(*shape, seed=0):
    return torch.randint(*WORDS, shape, generator=torch.Generator().manual_seed(seed))


def within_binomial(count, n, p, sigmas=5.0):
    """``count`` is a plausible Binomial(n, p) draw (5 standard deviations: a flake is ~1e-6)."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


# --------------------------------------------------------------------------------------------
# causal LM


def test_causal_targets_are_inputs_shifted_by_one_for_sequences_and_batches():
    ids = words(3, 9)
    x, y = obj.causal_lm_targets(ids)
    assert x.shape == y.shape == (3, 8)
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(x, ids[:, :-1]) and torch.equal(y, ids[:, 1:])
    x1, y1 = obj.causal_lm_targets(ids[0])
    assert torch.equal(x1, x[0]) and torch.equal(y1, y[0])


def test_causal_mask_lets_each_position_see_itself_and_its_left_only():
    m = obj.causal_mask(5)
    assert m.dtype == torch.bool
    for i in range(5):
        assert m[i].nonzero().flatten().tolist() == list(range(i + 1))


# --------------------------------------------------------------------------------------------
# BERT masking


def padded_batch(B=2000, T=32):
    ids = words(B, T, seed=1)
    ids[:, 0] = CLS
    lengths = torch.randint(10, T, (B, 1), generator=torch.Generator().manual_seed(2))
    positions = torch.arange(T)
    ids[positions == lengths] = SEP
    ids[positions > lengths] = PAD
    return ids


def test_bert_selects_exactly_the_rate_of_non_special_tokens_per_sequence():
    ids = padded_batch(B=300)
    n = (~torch.isin(ids, torch.tensor(SPECIAL))).sum(-1)
    for rate in (0.05, 0.15, 0.5):
        r = obj.bert_mask(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL, mask_rate=rate, generator=0)
        want = torch.tensor([max(1, round(k * rate)) for k in n.tolist()])
        assert torch.equal(r.selected.sum(-1), want)
        assert torch.equal(r.selected, r.labels != -100)


def test_bert_80_10_10_split_and_uniform_selection_over_many_samples():
    ids = padded_batch()
    r = obj.bert_mask(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL, generator=0)
    n_selected = int(r.selected.sum())
    assert within_binomial(int(r.masked.sum()), n_selected, 0.8)
    assert within_binomial(int(r.randomised.sum()), n_selected, 0.1)
    assert within_binomial(int(r.kept.sum()), n_selected, 0.1)
    assert not (r.masked & r.randomised).any() and not (r.masked & r.kept).any()
    # every non-special position is equally likely to be selected: position 1 vs position 5
    candidates = ~torch.isin(ids, torch.tensor(SPECIAL))
    rate = n_selected / int(candidates.sum())
    for pos in (1, 5):
        assert within_binomial(int(r.selected[:, pos].sum()), int(candidates[:, pos].sum()), rate)


def test_bert_inputs_labels_and_special_tokens():
    ids = padded_batch(B=500)
    r = obj.bert_mask(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL, generator=3)
    special = torch.isin(ids, torch.tensor(SPECIAL))
    assert torch.equal(r.inputs[special], ids[special]) and not r.selected[special].any()
    assert (r.inputs[r.masked] == MASK).all()
    assert torch.equal(r.inputs[r.kept], ids[r.kept])
    assert torch.equal(r.inputs[~r.selected], ids[~r.selected])
    random_tokens = r.inputs[r.randomised]
    assert not torch.isin(random_tokens, torch.tensor(SPECIAL + [MASK])).any()
    assert len(set(random_tokens.tolist())) > 30  # drawn from the whole ordinary vocabulary
    assert torch.equal(r.labels[r.selected], ids[r.selected]) and (r.labels[~r.selected] == -100).all()


def test_bert_fractions_are_parameters():
    ids = padded_batch(B=50)
    r = obj.bert_mask(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL, mask_fraction=1.0,
                      random_fraction=0.0, generator=0)
    assert torch.equal(r.masked, r.selected)


# --------------------------------------------------------------------------------------------
# permuted LM


def test_permutation_masks_satisfy_the_definition_for_random_orders():
    for seed in range(20):
        order = obj.random_order(7, generator=seed)
        content, query = obj.permutation_masks(order)
        assert obj.check_permutation_masks(order, content, query) == []
        assert torch.equal(content, query | torch.eye(7, dtype=torch.bool))


def test_identity_order_gives_the_causal_mask():
    content, query = obj.permutation_masks(list(range(6)))
    assert torch.equal(content, obj.causal_mask(6))
    assert torch.equal(query, obj.causal_mask(6).tril(-1))


def test_checker_explains_wrong_masks():
    order = [2, 0, 1]
    content, query = obj.permutation_masks(order)
    problems = obj.check_permutation_masks(order, query, query)  # content stream without itself
    assert len(problems) == 3 and "content mask row 2 (step 0" in problems[0] and "[2]" in problems[0]
    causal = obj.causal_mask(3)
    assert obj.check_permutation_masks(order, causal, query) != []
    assert "bool tensor" in obj.check_permutation_masks(order, content.float(), query)[0]


def test_query_mask_drives_xlnet_two_stream_attention():
    """Our query mask as transformers' XLNet ``perm_mask``: the prediction at position order[k]
    depends on the tokens at order[:k] and on nothing else."""
    from transformers import XLNetConfig, XLNetLMHeadModel

    torch.manual_seed(0)
    model = XLNetLMHeadModel(XLNetConfig(vocab_size=V, d_model=16, n_layer=2, n_head=2, d_inner=32)).eval()
    T = 6
    order = obj.random_order(T, generator=4)
    _, query = obj.permutation_masks(order)
    ids = words(T, seed=5)
    # row 0 is the text; row 1 + q changes the token at position q
    batch = ids.repeat(T + 1, 1)
    for q in range(T):
        batch[q + 1, q] = 4 + (int(ids[q]) - 4 + 1) % 36
    step = {p: k for k, p in enumerate(order.tolist())}
    for target in order[1:].tolist():  # order[0] sees nothing: XLNet gives it no valid query row
        mapping = torch.zeros(T + 1, 1, T)
        mapping[:, 0, target] = 1
        with torch.no_grad():
            logits = model(batch, perm_mask=(~query).float().expand(T + 1, T, T),
                           target_mapping=mapping, use_mems=False).logits[:, 0]
        for q in range(T):
            changed = not torch.allclose(logits[q + 1], logits[0], atol=1e-6)
            assert changed == (step[q] < step[target]), (target, q)


# --------------------------------------------------------------------------------------------
# ELECTRA


def test_replace_tokens_labels_are_corrupted_differs_from_original():
    ids = padded_batch(B=400)
    corrupted, is_replaced = obj.replace_tokens(ids, vocab_size=V, special_ids=SPECIAL, generator=0)
    assert torch.equal(is_replaced, corrupted != ids)
    special = torch.isin(ids, torch.tensor(SPECIAL))
    assert torch.equal(corrupted[special], ids[special])
    assert not torch.isin(corrupted[is_replaced], torch.tensor(SPECIAL)).any()
    # 15% of non-special tokens are sampled; a uniform sample equals the original 1 time in 47
    n_selected = int(obj.bert_mask(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL,
                                   generator=0).selected.sum())
    assert within_binomial(int(is_replaced.sum()), n_selected, 1 - 1 / (V - len(SPECIAL)))


def test_replacement_equal_to_the_original_counts_as_original():
    ids = words(4, 20)
    keep_all = lambda ids, selected, generator: ids.clone()  # noqa: E731
    corrupted, is_replaced = obj.replace_tokens(ids, vocab_size=V, sampler=keep_all, generator=0)
    assert torch.equal(corrupted, ids) and not is_replaced.any()
    one_word = torch.zeros(V, dtype=torch.float64)
    one_word[7] = 1.0
    corrupted, is_replaced = obj.replace_tokens(ids, vocab_size=V, sampler=one_word, rate=0.5, generator=0)
    assert (corrupted[is_replaced] == 7).all() and (ids[(corrupted == 7) & ~is_replaced] == 7).all()
    assert int(((corrupted != ids) | (ids == 7)).sum(-1).min()) >= 10  # half of each row was sampled


def test_unigram_sampler_follows_corpus_frequencies_and_never_proposes_specials():
    corpus = torch.tensor([CLS] + [5] * 30 + [6] * 10 + [SEP])
    probs = obj.unigram_probs(corpus, vocab_size=V, special_ids=SPECIAL)
    assert probs[5] == pytest.approx(0.75) and probs[6] == pytest.approx(0.25) and probs[CLS] == 0
    ids = torch.full((200, 40), 9)
    corrupted, is_replaced = obj.replace_tokens(ids, vocab_size=V, sampler=probs, generator=0)
    assert set(corrupted[is_replaced].tolist()) == {5, 6}
    assert within_binomial(int((corrupted == 5).sum()), int(is_replaced.sum()), 0.75)


# --------------------------------------------------------------------------------------------
# T5 span corruption


@pytest.mark.parametrize("density,mean", [(0.15, 3.0), (0.3, 2.0), (0.5, 1.0), (0.15, 8.0)])
def test_span_corruption_round_trips_and_has_t5s_counts(density, mean):
    sentinels = list(range(299, 199, -1))  # enough for 100 spans
    for T in (2, 3, 7, 31, 64, 200):
        ids = words(T, seed=T)
        enc, dec = obj.span_corrupt(ids, sentinel_ids=sentinels, vocab_size=300, noise_density=density,
                                    mean_span_length=mean, generator=T)
        assert torch.equal(obj.span_restore(enc, dec, sentinel_ids=sentinels), ids)
        is_sentinel = torch.isin(dec, torch.tensor(sentinels))
        n_noise = min(max(round(T * density), 1), T - 1)
        n_spans = min(max(round(n_noise / mean), 1), T - n_noise)
        assert int((~is_sentinel).sum()) == n_noise
        assert dec[is_sentinel].tolist() == sentinels[:n_spans]  # <s0> span0 <s1> span1 ...
        assert enc[torch.isin(enc, torch.tensor(sentinels))].tolist() == sentinels[:n_spans]
        assert len(enc) == T - n_noise + n_spans and int(dec[0]) == sentinels[0]
        assert int(enc[0]) == int(ids[0]) and int(enc[-1]) == sentinels[n_spans - 1]  # T5's layout


def test_span_noise_mask_is_random_for_short_sequences():
    masks = {tuple(obj.span_noise_mask(31, generator=seed).tolist()) for seed in range(30)}
    assert len(masks) > 10


# --------------------------------------------------------------------------------------------
# BART corruptions


def document(seed=0, n_sentences=5):
    g = torch.Generator().manual_seed(seed)
    parts = [torch.tensor([CLS])]
    for _ in range(n_sentences):
        parts += [torch.randint(*WORDS, (int(torch.randint(2, 8, (1,), generator=g)),), generator=g),
                  torch.tensor([SEP])]
    return torch.cat(parts)


def is_subsequence(short, long):
    it = iter(long.tolist())
    return all(token in it for token in short.tolist())


def test_token_masking_and_deletion_hit_exactly_the_rate_and_spare_specials():
    for seed in range(20):
        ids = document(seed)
        n = int((~torch.isin(ids, torch.tensor(SPECIAL))).sum())
        masked, target = obj.token_masking(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL,
                                           generator=seed)
        assert torch.equal(target, ids) and len(masked) == len(ids)
        assert torch.equal(masked != ids, masked == MASK) and int((masked == MASK).sum()) == round(n * 0.15)
        everything, _ = obj.token_masking(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL, rate=1.0,
                                          generator=seed)  # rate 1: the source keeps only its length
        assert int((everything == MASK).sum()) == n and torch.equal(everything[everything != MASK],
                                                                    ids[torch.isin(ids, torch.tensor(SPECIAL))])
        kept, target = obj.token_deletion(ids, vocab_size=V, special_ids=SPECIAL, rate=0.3, generator=seed)
        assert torch.equal(target, ids) and len(kept) == len(ids) - round(n * 0.3)
        assert is_subsequence(kept, ids)
        special = torch.tensor(SPECIAL)
        assert torch.equal(kept[torch.isin(kept, special)], ids[torch.isin(ids, special)])


def infilling_pattern(corrupted):
    """A regex over '<id>' strings in which each [MASK] matches any (possibly empty) run of tokens."""
    pieces = ["(?:<\\d+>)*?" if t == MASK else f"<{t}>" for t in corrupted.tolist()]
    return re.compile("".join(pieces))


def test_text_infilling_hides_exactly_the_rate_and_is_consistent_with_the_original():
    zero_length_seen = False
    for seed in range(40):
        ids = document(seed, n_sentences=8)
        n = int((~torch.isin(ids, torch.tensor(SPECIAL))).sum())
        corrupted, target = obj.text_infilling(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL,
                                               poisson_lambda=1.0, generator=seed)
        assert torch.equal(target, ids)
        n_masks = int((corrupted == MASK).sum())
        assert len(ids) - (len(corrupted) - n_masks) == round(n * 0.3)
        assert infilling_pattern(corrupted).fullmatch("".join(f"<{t}>" for t in ids.tolist()))
        assert torch.equal(corrupted[torch.isin(corrupted, torch.tensor(SPECIAL))],
                           ids[torch.isin(ids, torch.tensor(SPECIAL))])
        zero_length_seen |= n_masks > round(n * 0.3)  # more masks than hidden tokens
    assert zero_length_seen


def test_text_infilling_spans_follow_the_poisson_mean():
    ids = words(3000, seed=9)
    corrupted, _ = obj.text_infilling(ids, mask_id=MASK, vocab_size=V, rate=0.1, generator=0)
    hidden_per_mask = round(3000 * 0.1) / int((corrupted == MASK).sum())
    assert 2.5 < hidden_per_mask < 3.5  # lambda = 3; merges and zero-length spans roughly cancel


def split_sentences(ids):
    sentences, current = [], []
    for t in ids.tolist():
        current.append(t)
        if t == SEP:
            sentences.append(tuple(current))
            current = []
    return sentences + ([tuple(current)] if current else [])


def test_sentence_permutation_shuffles_whole_sentences_and_keeps_the_ends():
    orders = set()
    for seed in range(30):
        ids = torch.cat([document(seed, n_sentences=4), torch.tensor([PAD, PAD])])
        shuffled, target = obj.sentence_permutation(ids, separator_id=SEP, vocab_size=V,
                                                    special_ids=SPECIAL, generator=seed)
        assert torch.equal(target, ids) and int(shuffled[0]) == CLS and shuffled[-2:].tolist() == [PAD, PAD]
        original, permuted = split_sentences(ids[1:-2]), split_sentences(shuffled[1:-2])
        assert sorted(permuted) == sorted(original)
        orders.add(tuple(original.index(s) for s in permuted))
    assert len(orders) > 10  # of the 24 orders of 4 sentences


def test_a_last_sentence_without_separator_is_a_sentence_too():
    ids = torch.tensor([CLS, 5, 6, SEP, 7, 8, PAD])
    outputs = {tuple(obj.sentence_permutation(ids, separator_id=SEP, vocab_size=V, special_ids=SPECIAL,
                                              generator=seed)[0].tolist()) for seed in range(20)}
    assert outputs == {tuple(ids.tolist()), (CLS, 7, 8, 5, 6, SEP, PAD)}


def test_document_rotation_is_a_rotation_and_every_start_occurs():
    ids = torch.tensor([CLS, 10, 11, 12, 13, 14, SEP])
    starts = []
    for seed in range(200):
        rotated, target = obj.document_rotation(ids, vocab_size=V, special_ids=SPECIAL, generator=seed)
        assert torch.equal(target, ids) and int(rotated[0]) == CLS and int(rotated[-1]) == SEP
        k = int(rotated[1]) - 10
        assert torch.equal(rotated[1:-1], ids[1:-1].roll(-k))
        starts.append(k)
    assert all(within_binomial(starts.count(k), 200, 1 / 5) for k in range(5))


def test_corrupt_dispatches_by_name():
    ids = document(1)
    for kind, options in [("span_corruption", {"sentinel_ids": SENTINELS}),
                          ("token_masking", {"mask_id": MASK, "special_ids": SPECIAL}),
                          ("token_deletion", {"special_ids": SPECIAL}),
                          ("text_infilling", {"mask_id": MASK, "special_ids": SPECIAL}),
                          ("sentence_permutation", {"separator_id": SEP, "special_ids": SPECIAL}),
                          ("document_rotation", {"special_ids": SPECIAL})]:
        got = obj.corrupt(ids, kind, vocab_size=V, generator=5, **options)
        want = obj.CORRUPTIONS[kind](ids, vocab_size=V, generator=5, **options)
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    with pytest.raises(ValueError, match="kind must be one of .*document_rotation.*got 'shuffle'"):
        obj.corrupt(ids, "shuffle", vocab_size=V, generator=0)


# --------------------------------------------------------------------------------------------
# determinism


def all_objectives(ids, seed, as_generator):
    """Each objective run once with a fresh generator (or the bare int seed) for ``seed``."""
    def generator():
        return torch.Generator().manual_seed(seed) if as_generator else seed

    yield obj.bert_mask(ids, mask_id=MASK, vocab_size=V, special_ids=SPECIAL, generator=generator()).inputs
    yield obj.replace_tokens(ids, vocab_size=V, special_ids=SPECIAL, generator=generator())[0]
    yield obj.random_order(len(ids), generator=generator())
    for kind, options in [("span_corruption", {"sentinel_ids": SENTINELS}),
                          ("token_masking", {"mask_id": MASK, "special_ids": SPECIAL}),
                          ("token_deletion", {"special_ids": SPECIAL}),
                          ("text_infilling", {"mask_id": MASK, "special_ids": SPECIAL}),
                          ("sentence_permutation", {"separator_id": SEP, "special_ids": SPECIAL}),
                          ("document_rotation", {"special_ids": SPECIAL})]:
        yield obj.corrupt(ids, kind, vocab_size=V, generator=generator(), **options)[0]


def test_same_seed_same_output_and_different_seeds_differ():
    ids = document(2, n_sentences=12)
    first = list(all_objectives(ids, 11, as_generator=True))
    again = list(all_objectives(ids, 11, as_generator=True))
    as_int = list(all_objectives(ids, 11, as_generator=False))
    for a, b, c in zip(first, again, as_int):
        assert torch.equal(a, b) and torch.equal(a, c)
    other = [list(all_objectives(ids, seed, as_generator=True)) for seed in (12, 13, 14)]
    for i, a in enumerate(first):
        assert any(len(o[i]) != len(a) or not torch.equal(o[i], a) for o in other)


# --------------------------------------------------------------------------------------------
# bad input


IDS = torch.tensor([CLS, 10, 11, 12, 13, SEP])

BAD_CALLS = [
    ("ids must be a torch.LongTensor", TypeError, lambda: obj.causal_lm_targets([1, 2, 3])),
    ("\\(an integer dtype\\), got dtype torch.float32", TypeError,
     lambda: obj.causal_lm_targets(IDS.float())),
    ("at least 2 token", ValueError, lambda: obj.causal_lm_targets(torch.tensor([5]))),
    ("at least 1 token", ValueError,
     lambda: obj.bert_mask(torch.tensor([], dtype=torch.long), mask_id=MASK, vocab_size=V, generator=0)),
    ("shape \\(2, 2, 2\\)", ValueError,
     lambda: obj.bert_mask(torch.ones(2, 2, 2, dtype=torch.long), mask_id=MASK, vocab_size=V, generator=0)),
    ("ids holds token ids in \\[1, 50\\], outside the vocabulary \\[0, 49\\]", ValueError,
     lambda: obj.bert_mask(torch.tensor([1, 50]), mask_id=MASK, vocab_size=V, generator=0)),
    ("mask_rate must be a number in \\(0.0, 1.0\\), got 1.5", ValueError,
     lambda: obj.bert_mask(IDS, mask_id=MASK, vocab_size=V, mask_rate=1.5, generator=0)),
    ("mask_rate .* got 0", ValueError,
     lambda: obj.bert_mask(IDS, mask_id=MASK, vocab_size=V, mask_rate=0, generator=0)),
    ("mask_fraction \\+ random_fraction must be at most 1", ValueError,
     lambda: obj.bert_mask(IDS, mask_id=MASK, vocab_size=V, mask_fraction=0.9, random_fraction=0.2,
                           generator=0)),
    ("mask_id must be a token id in \\[0, vocab_size=50\\), got 50", ValueError,
     lambda: obj.bert_mask(IDS, mask_id=50, vocab_size=V, generator=0)),
    ("every entry of special_ids .* got -1", ValueError,
     lambda: obj.bert_mask(IDS, mask_id=MASK, vocab_size=V, special_ids=[-1], generator=0)),
    ("already contain mask_id=3", ValueError,
     lambda: obj.bert_mask(torch.tensor([3, 4, 5]), mask_id=MASK, vocab_size=V, generator=0)),
    ("only special tokens", ValueError,
     lambda: obj.bert_mask(torch.tensor([CLS, SEP]), mask_id=MASK, vocab_size=V, special_ids=SPECIAL,
                           generator=0)),
    ("vocab_size must be an integer in \\[2, .*got 1", ValueError,
     lambda: obj.bert_mask(IDS, mask_id=0, vocab_size=1, generator=0)),
    ("generator must be a torch.Generator or an int seed, got NoneType", TypeError,
     lambda: obj.bert_mask(IDS, mask_id=MASK, vocab_size=V, generator=None)),
    ("order must be a permutation of 0..2 .* got \\[0, 0, 2\\]", ValueError,
     lambda: obj.permutation_masks([0, 0, 2])),
    ("order must be a permutation of 0..2 .* got \\[1, 2, 3\\]", ValueError,
     lambda: obj.permutation_masks(torch.tensor([1, 2, 3]))),
    ("order must be a non-empty 1-D sequence of ints", ValueError, lambda: obj.permutation_masks([0.0, 1.0])),
    ("T must be an integer in \\[1, .*got 0", ValueError, lambda: obj.random_order(0, generator=0)),
    ("T must be an integer in \\[1, .*got 0", ValueError, lambda: obj.causal_mask(0)),
    ("rate must be a number in \\(0.0, 1.0\\), got 0", ValueError,
     lambda: obj.replace_tokens(IDS, vocab_size=V, rate=0.0, generator=0)),
    ("sampler as a tensor must hold non-negative probabilities of shape \\(50,\\)", ValueError,
     lambda: obj.replace_tokens(IDS, vocab_size=V, sampler=torch.ones(10), generator=0)),
    ("sampler must return a LongTensor of shape \\(6,\\)", ValueError,
     lambda: obj.replace_tokens(IDS, vocab_size=V, sampler=lambda ids, sel, g: ids[:2], generator=0)),
    ("the sampler's output holds token ids .* outside the vocabulary \\[0, 49\\]", ValueError,
     lambda: obj.replace_tokens(IDS, vocab_size=V, sampler=lambda ids, sel, g: ids + 100, generator=0)),
    ("sampler must be None, a probability tensor or a callable, got str", TypeError,
     lambda: obj.replace_tokens(IDS, vocab_size=V, sampler="unigram", generator=0)),
    ("mean_span_length must be a number >= 1, got 0.5", ValueError,
     lambda: obj.span_corrupt(IDS, sentinel_ids=SENTINELS, vocab_size=V, mean_span_length=0.5, generator=0)),
    ("noise_density must be a number in \\(0.0, 1.0\\), got 1", ValueError,
     lambda: obj.span_corrupt(IDS, sentinel_ids=SENTINELS, vocab_size=V, noise_density=1, generator=0)),
    ("every entry of sentinel_ids .* got 99", ValueError,
     lambda: obj.span_corrupt(IDS, sentinel_ids=[99], vocab_size=V, generator=0)),
    ("sentinel_ids must be distinct", ValueError,
     lambda: obj.span_corrupt(IDS, sentinel_ids=[49, 49], vocab_size=V, generator=0)),
    ("already contain a sentinel id=49", ValueError,
     lambda: obj.span_corrupt(torch.tensor([5, 49, 6]), sentinel_ids=SENTINELS, vocab_size=V, generator=0)),
    ("3 noise spans but sentinel_ids holds only 1", ValueError,
     lambda: obj.span_corrupt(words(60), sentinel_ids=[49], vocab_size=V, noise_density=0.15, generator=0)),
    ("1-D sequence", ValueError,
     lambda: obj.span_corrupt(words(2, 10), sentinel_ids=SENTINELS, vocab_size=V, generator=0)),
    ("length must be an integer in \\[2, ", ValueError, lambda: obj.span_noise_mask(1, generator=0)),
    ("decoder_target must start with a sentinel", ValueError,
     lambda: obj.span_restore(IDS, torch.tensor([5, 49]), sentinel_ids=SENTINELS)),
    ("poisson_lambda must be a number in \\(0, 1000\\], got 0", ValueError,
     lambda: obj.text_infilling(IDS, mask_id=MASK, vocab_size=V, poisson_lambda=0, generator=0)),
    ("separator_id must be a token id in \\[0, vocab_size=50\\), got 77", ValueError,
     lambda: obj.sentence_permutation(IDS, separator_id=77, vocab_size=V, generator=0)),
    ("nothing can be rotated", ValueError,
     lambda: obj.document_rotation(torch.tensor([CLS, SEP]), vocab_size=V, special_ids=SPECIAL, generator=0)),
    ("rate must be .* got -0.1", ValueError,
     lambda: obj.token_deletion(IDS, vocab_size=V, rate=-0.1, generator=0)),
]


@pytest.mark.parametrize("message,error,call", BAD_CALLS, ids=[m[:40] for m, _, _ in BAD_CALLS])
def test_bad_input_names_the_problem(message, error, call):
    with pytest.raises(error, match=message):
        call()


def test_prefix_lm_mask_is_bidirectional_in_the_prefix_and_causal_after():
    from lmnotes.pretraining.objectives import causal_mask, prefix_lm_mask
    m = prefix_lm_mask(5, 2)
    assert m[0, 1] and m[1, 0]  # the prefix sees itself both ways
    assert m[4, 0] and m[4, 3] and not m[2, 3]  # later positions: the prefix plus their left
    assert torch.equal(prefix_lm_mask(5, 0), causal_mask(5))
    assert prefix_lm_mask(5, 5).all()
    with pytest.raises(ValueError, match="prefix"):
        prefix_lm_mask(5, 6)

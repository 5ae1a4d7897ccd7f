"""lmnotes.alignment.sft: response-only masks, multi-turn masks, SFT through the one loop, scoring."""

import pytest
import torch

from lmnotes.alignment import sft
from lmnotes.data import pad_collate, toyworld
from lmnotes.models import GPT, GPTConfig
from lmnotes.training import batch_loss

TOK = toyworld.tokenizer()


def _tiny(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=32, pos="rope",
                         norm="rmsnorm", ffn="swiglu", bias=False, tie_weights=False))


def test_conversation_mask_covers_assistant_turns_only():
    segments = sft.conversation(3, seed=1)
    assert len(segments) == 6 and all(s.startswith("user :") for s in segments[::2])
    tokens, mask = sft.conversation_mask(TOK, segments)
    assert " ".join(tokens) == " ".join(segments)
    # the counted tokens are exactly the three responses, in order
    counted = " ".join(t for t, m in zip(tokens, mask) if m)
    assert counted == " ".join(segments[1::2])
    # pad_collate's target mask is the same mask shifted by one (target t+1 is predicted at t)
    batch = pad_collate([[TOK.encode(s) for s in segments]], 0)
    assert batch["loss_mask"][0].tolist() == [float(m) for m in mask[1:]]


def test_response_only_loss_is_the_mean_over_response_tokens():
    model = _tiny().eval()
    records = toyworld.instructions(4, seed=2)
    examples = [sft.encode_pair(TOK, r.prompt, r.response) for r in records]
    with torch.no_grad():
        loss = batch_loss(model, pad_collate(examples, 0)).item()
        # by hand: sum of -log p over every response token of every example / number of them
        total, count = 0.0, 0
        for prompt, response in examples:
            ids = torch.tensor([prompt + response])
            logp = model(ids)[0, :-1].log_softmax(-1)
            for t in range(len(prompt), len(prompt) + len(response)):
                total -= logp[t - 1, ids[0, t]].item()
                count += 1
    assert loss == pytest.approx(total / count, rel=1e-5)


def test_sft_lowers_the_response_loss_and_respond_matches_one_by_one_decoding():
    model = _tiny()
    records = toyworld.instructions(64, seed=5, tasks=["copy"], n_words=(2, 2))
    batch = pad_collate([sft.encode_pair(TOK, r.prompt, r.response) for r in records[:16]], 0)
    with torch.no_grad():
        before = batch_loss(model, batch).item()
    history = sft.sft(model, records, TOK, steps=30, lr=3e-3, batch_size=16, progress=False)
    with torch.no_grad():
        after = batch_loss(model, batch).item()
    assert history.step == 30 and after < before - 1.0
    prompts = [r.prompt for r in records[:6]] + ["user : count the words : fox owl bear . assistant :"]
    together = sft.respond(model, prompts, TOK, batch_size=4)
    alone = [sft.respond(model, [p], TOK)[0] for p in prompts]
    assert together == alone
    scores = sft.instruction_scores(model, records[:6], TOK)
    assert scores["n"] == 6 and 0 <= scores["accuracy"] <= 1 and scores["gold_reward"] <= 2.5


def test_held_out_instructions_are_unseen_and_exclude_the_given_prompts():
    from lmnotes.data import overlap

    train = toyworld.instructions(200, seed=9, n_words=(2, 2))
    held = sft.held_out_instructions(50, seed=10, exclude=[r.prompt for r in train], n_words=(2, 2))
    assert len(held) == 50 and not {r.prompt for r in held} & {r.prompt for r in train}
    assert overlap.overlap_report("toyworld-gpt", held, "prompt")["seen"] == 0


@pytest.mark.parametrize("call, error, match", [
    (lambda: sft.conversation(0, seed=1), ValueError, "n_turns"),
    (lambda: sft.conversation_mask(TOK, ["user : hi . assistant :"]), ValueError, "segments"),
    (lambda: sft.encode_pair(TOK, 3, "fig ."), TypeError, "prompt"),
    (lambda: sft.sft_batches([], 4), ValueError, "examples"),
    (lambda: sft.sft_batches([([1], [2])], 0), ValueError, "batch_size"),
    (lambda: sft.sft(_tiny(), [], TOK, steps=2), ValueError, "records"),
    (lambda: sft.sft("model", toyworld.instructions(2, seed=0), TOK, steps=2), TypeError, "model"),
    (lambda: sft.respond(_tiny(), "user : copy the words : fig . assistant :", TOK), TypeError, "prompts"),
    (lambda: sft.instruction_scores(_tiny(), [], TOK), ValueError, "records"),
])
def test_bad_input_is_refused_with_the_argument_named(call, error, match):
    with pytest.raises(error, match=match):
        call()

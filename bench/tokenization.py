"""Our byte-level BPE against the ``tokenizers`` library on Shakespeare: speed, agreement, compression.

    python -m bench tokenization

1. Training: our Python trainer and the library's Rust trainer on the same text and vocabulary
   size, timed, and whether they learned the same merges in the same order.
2. Encoding the held-out plays: our Python encoder (with its word cache) against the library.
3. Tokens per character on the held-out plays for several vocabulary sizes (the library trains them,
   identically to ours), beside GPT-2's own 50k vocabulary and a character tokenizer.
"""

from __future__ import annotations

import time

from lmnotes.data import shakespeare_text
from lmnotes.tokenization import BPETokenizer, CharTokenizer, gpt2_tokenizer

SIZES = (256, 512, 1024, 2048, 4096, 8192)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def compare_training(text: str, vocab_size: int) -> BPETokenizer:
    ours, ours_s = timed(BPETokenizer.train, text, vocab_size)
    library, library_s = timed(BPETokenizer.train_fast, text, vocab_size)
    same = ours.merges == library.merges and ours.vocab == library.vocab
    print(
        f"  {len(text) / 1e6:5.2f} M chars, {len(ours.merges):5d} merges: ours {ours_s:6.2f} s, "
        f"tokenizers {library_s:6.2f} s; same merges and ids: {'yes' if same else 'NO'}"
    )
    return ours


def main() -> int:
    train, held_out = shakespeare_text("train"), shakespeare_text("val")
    print(f"Shakespeare: {len(train):,} training characters, {len(held_out):,} held out\n")

    print("Training (our Python trainer vs the tokenizers library's Rust trainer)")
    compare_training(train[:200_000], 256 + 500)
    compare_training(train, 4096)
    tok = compare_training(train, 8192)

    print("\nEncoding the held-out text (8192 tokens)")
    ours, ours_s = timed(tok.encode, held_out)
    fast = tok.to_tokenizers()
    library, library_s = timed(lambda text: fast.encode(text).ids, held_out)
    mega = len(held_out) / 1e6
    print(
        f"  ours {mega / ours_s:5.2f} M chars/s, tokenizers {mega / library_s:5.2f} M chars/s (one call, "
        f"one thread); same ids: {'yes' if ours == library else 'NO'}"
    )

    print("\nTokens per character on the held-out text (lower = shorter sequences)")
    char = CharTokenizer.from_text(train + held_out)
    per_char = len(char.encode(held_out)) / len(held_out)
    print(f"  {'characters':>18}: {per_char:.3f}  ({char.vocab_size} symbols)")
    for size in SIZES:
        fast = BPETokenizer.train_fast(train, size).to_tokenizers()
        print(f"  {f'BPE {size}':>18}: {len(fast.encode(held_out).ids) / len(held_out):.3f}")
    gpt2 = gpt2_tokenizer()
    per_char = len(gpt2(held_out).input_ids) / len(held_out)
    print(f"  {'GPT-2 (50257)':>18}: {per_char:.3f}  (trained on web text)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

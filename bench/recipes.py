"""Quality per minute, and what the bundled checkpoints cost.

    python -m bench recipes

1. Quality per minute: a short Shakespeare character run with the course's recipe machinery (LLaMA
   form, 4 layers, width 128 -- nanoGPT's CPU size -- bf16 autocast where it measures faster),
   against nanoGPT's published CPU recipe (4 layers, width 128, context 64, batch 12, 2000
   iterations): 1.88 nats/char in about 3 minutes; run as published on this corpus on a 2-core
   machine here, 1.884 after 2000 iterations in 3.6 minutes (the course blueprint's figure). Goal:
   a lower held-out loss in at most half that wall time (108 s).
2. The bundled checkpoints: size on disk, parameters, the figures their recipes measured, and the
   peak memory of loading each one in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import torch

from lmnotes import checkpoints
from lmnotes.data import lm_batch, shakespeare_char_ids
from lmnotes.models import GPT, GPTConfig
from lmnotes.training import pick_autocast, stream_eval, train

NANOGPT_CPU = dict(val_loss=1.884, minutes=3.6)
QUICK = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=32, steps=550, lr=3e-3, warmup=50,
             min_lr=3e-4, seed=1337)


def quality_per_minute() -> dict:
    tok, train_ids, val_ids = shakespeare_char_ids()
    hp = QUICK
    torch.manual_seed(hp["seed"])
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=hp["block_size"], n_layer=hp["n_layer"],
                          n_head=hp["n_head"], n_embd=hp["n_embd"], pos="rope", norm="rmsnorm", ffn="swiglu",
                          bias=False, tie_weights=False))
    gen = torch.Generator().manual_seed(hp["seed"])
    start = time.perf_counter()
    autocast = pick_autocast(model, lm_batch(train_ids, hp["batch_size"], hp["block_size"], gen))
    history = train(model, lambda step: lm_batch(train_ids, hp["batch_size"], hp["block_size"], gen),
                    steps=hp["steps"], lr=hp["lr"], warmup=hp["warmup"], min_lr=hp["min_lr"], autocast=autocast,
                    seed=hp["seed"], progress=False)
    seconds = time.perf_counter() - start
    val = stream_eval(model, val_ids, hp["block_size"], max_blocks=None)
    return dict(val_loss=val, seconds=seconds, autocast=autocast or "fp32", tokens=history.tokens[-1],
                tokens_per_s=history.tokens_per_s)


def load_memory(name: str) -> tuple[float, float]:
    """Peak RSS (MiB) of a fresh process loading bundled model ``name``, and of one importing torch +
    transformers only (the floor every notebook pays anyway)."""
    code = (
        "import resource, lmnotes.checkpoints as c; c.load(%r); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)" % name
    )
    baseline = "import resource, torch, transformers; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1]), float(
        subprocess.run([sys.executable, "-c", baseline], capture_output=True, text=True, check=True).stdout.split()[-1])


def main() -> None:
    print("1. Quality per minute (Shakespeare characters, held-out loss over the whole validation split)")
    q = quality_per_minute()
    budget = NANOGPT_CPU["minutes"] * 60 / 2
    print(f"   ours:    {q['val_loss']:.3f} nats/char in {q['seconds']:.0f} s ({q['autocast']}, "
          f"{q['tokens'] / 1e6:.2f} M tokens, {q['tokens_per_s']:,.0f} tokens/s)")
    print(f"   nanoGPT: {NANOGPT_CPU['val_loss']:.3f} nats/char in {NANOGPT_CPU['minutes'] * 60:.0f} s (blueprint)")
    verdict = q["val_loss"] < NANOGPT_CPU["val_loss"] and q["seconds"] <= budget
    print(f"   goal (lower loss in <= {budget:.0f} s): {'met' if verdict else 'NOT met'}")

    print("\n2. Bundled checkpoints")
    print(f"   {'name':<18} {'MiB':>5} {'params':>8} {'load peak MiB':>14} {'(torch+transformers alone)':>27}  figures")
    total = 0
    for name in checkpoints.available():
        folder = checkpoints.path(name)
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        total += size
        meta = json.loads((folder / checkpoints.META).read_text())
        peak, base = load_memory(name)
        print(f"   {name:<18} {size / 2**20:>5.1f} {meta['parameters'] / 1e6:>7.2f}M {peak:>14.0f} {base:>27.0f}  "
              f"{meta['figures']}  (recipe peak {meta.get('peak_memory_mib', '?')} MiB, "
              f"{meta['wall_minutes']} min)")
    print(f"   total on disk: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()

"""Mixed precision in numbers (book section 2.2.2.4 names it among the setups of stable, efficient training).

* :func:`gradient_underflow`: what storing a model's gradient in a 16-bit format does to it: how many
  nonzero entries become exactly zero (fp16 flushes magnitudes below 2^-24, about 6e-8) or fall below
  the format's smallest normal number (they keep fewer significant bits), with and without a loss
  scale, the multiplier that mixed-precision training applies to the loss so that small gradients stay
  representable (and divides out before the update).

Training in bfloat16 itself is ``lmnotes.training.train(autocast="bf16")``, which notebook 06 runs
beside float32 through ``ablations.run_char_model``.
"""

from __future__ import annotations

import torch

from lmnotes import checks
from lmnotes.training import batch_loss

FORMATS = (torch.float16, torch.bfloat16)


def gradient_underflow(model, batch, dtype: torch.dtype = torch.float16, scales=(1.0,)) -> dict:
    """Backpropagate ``batch``'s loss once in float32 and, for each loss scale in ``scales``, count the
    nonzero gradient entries that ``dtype`` stores as zero (``flushed``), as a subnormal number
    (``subnormal``) or as infinity (``overflow``) once multiplied by the scale.

    Returns ``entries`` (nonzero float32 gradient entries), ``smallest`` (their smallest magnitude)
    and ``by_scale``: {scale: {flushed, subnormal, overflow}}. The model's gradients are cleared again.
    """
    checks.model("model", model)
    checks.choice("dtype", dtype, FORMATS)
    scales = [checks.positive("scales", s) for s in scales]
    if not scales:
        raise ValueError("scales must hold at least one loss scale, got none")
    model.zero_grad(set_to_none=True)
    batch_loss(model, batch).backward()
    grads = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    grads = grads[grads != 0]
    tiny = torch.finfo(dtype).tiny
    by_scale = {}
    for scale in scales:
        stored = (grads * scale).to(dtype)
        magnitude = stored.float().abs()
        by_scale[scale] = dict(flushed=int((stored == 0).sum()), subnormal=int(((magnitude > 0) & (magnitude < tiny)).sum()),
                               overflow=int(torch.isinf(stored).sum()))
    return dict(entries=grads.numel(), smallest=float(grads.abs().min()) if grads.numel() else float("nan"),
                by_scale=by_scale)

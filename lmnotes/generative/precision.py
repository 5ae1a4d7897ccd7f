"""Mixed precision in numbers (book section 2.2.2.4 names it among the setups of stable, efficient training).

* :func:`fp16_backward`: one batch's forward and backward pass run in fp16 (``torch.autocast`` with
  ``float16``, which runs on the CPU too) against the same pass in float32, with and without a loss
  scale, the multiplier that mixed-precision training applies to the loss so that small gradients
  inside the fp16 backward pass stay representable (and divides out before the update). fp16 rounds
  magnitudes at or below 2^-25 (about 3e-8) to zero and stores those below 2^-14 (about 6.1e-5) as
  subnormal numbers, with fewer significant bits. It counts the weight-gradient entries that the fp16
  pass zeroes, their relative error, and how much of an activation gradient, the gradient of the
  loss with respect to the logits, is subnormal or zero in fp16.

Training in bfloat16 itself is ``lmnotes.training.train(autocast="bf16")``, which notebook 06 runs
beside float32 through ``ablations.run_char_model``.
"""

from __future__ import annotations

import torch

from lmnotes import checks
from lmnotes.training import evaluating, lm_loss

#: fp16's smallest normal magnitude (2^-14): below it a number is subnormal (or zero)
FP16_TINY = torch.finfo(torch.float16).tiny


def fp16_backward(model, batch, scales=(1.0,)) -> dict:
    """Backpropagate the loss of ``batch`` (an ``(x, y)`` pair of token ids) once in float32 and, for each
    loss scale in ``scales``, once under fp16 autocast with the loss multiplied by the scale (the weight
    gradients are divided by it again).

    Returns ``entries`` (weight-gradient entries that are nonzero in float32), ``logits`` (entries of
    the logits' gradient) and ``by_scale``: {scale: {``zeroed``: entries nonzero in float32 but zero after
    the fp16 pass, ``rel_error``: their median relative error against float32 (over the float32-nonzero
    entries), ``logit_small``: the share of the logits' fp16 gradient that is subnormal or zero,
    ``logit_zero``: the share that is zero, ``finite``: whether every gradient stayed finite}}. The
    model's gradients are cleared again.
    """
    checks.model("model", model)
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"batch must be an (x, y) pair of token-id tensors, got {type(batch).__name__}")
    scales = [checks.positive("scales", s) for s in scales]
    if not scales:
        raise ValueError("scales must hold at least one loss scale, got none")
    x, y = batch
    params = [p for p in model.parameters() if p.requires_grad]

    def backward(scale: float, half: bool):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.float16, enabled=half):
            logits = model(x)
            logits.retain_grad()
            loss = lm_loss(logits, y) * scale
        loss.backward()
        grads = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().float() / scale
                           for p in params])
        logit_grad = logits.grad
        model.zero_grad(set_to_none=True)
        return grads, logit_grad

    with evaluating(model):  # no dropout: the two passes see the same function
        reference, _ = backward(1.0, half=False)
        nonzero = reference != 0
        by_scale = {}
        for scale in scales:
            grads, logit_grad = backward(scale, half=True)
            if logit_grad.dtype != torch.float16:
                raise RuntimeError(f"fp16 autocast left the logits in {logit_grad.dtype}; this torch build does "
                                   f"not run the forward pass in fp16 on the CPU")
            magnitude = logit_grad.float().abs()
            error = (grads[nonzero] - reference[nonzero]).abs() / reference[nonzero].abs()
            by_scale[scale] = dict(zeroed=int((grads[nonzero] == 0).sum()),
                                   rel_error=float(error.median()) if error.numel() else float("nan"),
                                   logit_small=float((magnitude < FP16_TINY).float().mean()),
                                   logit_zero=float((magnitude == 0).float().mean()),
                                   finite=bool(torch.isfinite(grads).all() and torch.isfinite(magnitude).all()))
    return dict(entries=int(nonzero.sum()), logits=logit_grad.numel(), by_scale=by_scale)

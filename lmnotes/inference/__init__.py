"""Inference (book chapter 5, revised edition): one module per idea, on top of the core (models,
generation).

- :mod:`lmnotes.inference.roofline`: FLOPs and bytes of a prefilling or decoding pass, arithmetic
  intensity against a device's ridge point (section 5.1.2, Table 5.1).
- :mod:`lmnotes.inference.metrics`: time to first token, inter-token latency and tokens per second
  of a request, from ``generate``'s ``on_token`` times (section 5.1.4).
- :mod:`lmnotes.inference.search`: the exact most probable short continuation by uniform-cost search,
  to count greedy and beam search's search errors (section 5.1.3, Eq. 5.14-5.25).

- :mod:`lmnotes.inference.stopping`: where a maximum length, end-of-sequence, stop strings or
  repetition detection would stop a greedy continuation (section 5.1.3.6).
- :mod:`lmnotes.inference.speculative`: speculative decoding (section 5.1.3.5, Eq. 5.34-5.36, and
  Leviathan et al. 2023): a neural draft or a prompt-lookup draft proposes tokens, the target verifies
  them in one call; the exact residual rule and the book's printed rule as distributions; the expected
  tokens per target call and the cost model's speed-up.
"""

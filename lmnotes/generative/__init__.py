"""Generative models (book chapter 2): one module per idea, on top of the core (data, models, training,
generation).

- :mod:`lmnotes.generative.model_sizes`: the book's Table 2.2 (section 2.1.1) counted from the models'
  configurations on the ``meta`` device, beside the book's figures.
- :mod:`lmnotes.generative.ablations`: section 2.2's controlled experiments on a tiny character GPT:
  clean, noisy, less distinct and partly duplicated data (each duplicated text beside its de-duplicated
  version), block switches (norms, activations, biases) over seeds, a learning rate tuned on a dev slice.
- :mod:`lmnotes.generative.distributed`: distributed training as arithmetic and one real two-process
  data-parallel step (gloo); tensor and pipeline parallelism, summation order (section 2.2.3).
- :mod:`lmnotes.generative.precision`: mixed precision (sections 2.2.2.4 and 2.2.3): an fp16 autocast
  backward pass against float32, with and without a loss scale: weight-gradient entries zeroed, their
  relative error, and the share of the logits' gradient that is subnormal or zero.
- :mod:`lmnotes.generative.scaling`: scaling laws (section 2.2.4): power-law fits and the
  Chinchilla compute-optimal split (Eq. 2.37-2.39).
- :mod:`lmnotes.generative.longcontext`: long sequences (section 2.3): KV-cache bytes, MHA/GQA/MQA,
  linear attention, sliding windows and sinks, the kNN-LM, position schemes and RoPE scaling,
  passkey retrieval.
- :mod:`lmnotes.generative.online_softmax`: attention over blocks of keys with a running max and sum
  (section 2.3.1: sequence parallelism, FlashAttention's tiles), equal to full attention.
- :mod:`lmnotes.generative.kv_eviction`: a fixed-size KV cache that keeps the most-attended keys beside
  the newest (H2O) against a sliding window of the same size (section 2.3.3).
- :mod:`lmnotes.generative.cross_layer`: adjacent layers sharing one KV cache (cross-layer attention,
  section 2.3.4).
- :mod:`lmnotes.generative.copy_task`: a copy task beside perplexity (section 2.3.6): a passage read
  twice, the model's accuracy on each reading, and a copy rule as the reference.
"""

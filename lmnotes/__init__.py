"""lmnotes: the helper package of an interactive course on the foundations of large language models.

One module per idea: ``data`` (corpora and the toy world), ``tokenization``, ``models``, ``training``,
``generation``, ``hub`` (hub models with offline fallback), ``checkpoints`` (bundled models),
``viz`` (plots), ``widgets`` (ipywidgets), ``exercises`` (automatic feedback), ``repro`` (seeding),
``doctor`` (environment check) and ``course`` (where the course lives and how notebooks open).
"""

__version__ = "0.1.0"

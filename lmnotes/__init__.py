"""lmnotes: the helper package of an interactive course on the foundations of large language models.

The package follows the book (Xiao & Zhu, *Foundations of Large Language Models*) in three layers:

- **the core**, what every chapter uses: ``checks`` (argument checks), ``repro`` (seeding), ``data``
  (corpora and the toy world), ``tokenization``, ``models``, ``training`` (the one training loop),
  ``generation`` (the one sampler), ``adaptation`` (hidden states and pooling for task heads),
  ``checkpoints`` (bundled models and stored results), ``hub`` (hub models with offline fallback)
  and ``viz`` (plots);
- **one subpackage per chapter**, one module per idea: ``pretraining`` (chapter 1), ``generative``
  (chapter 2), ``prompting`` (chapter 3), ``alignment`` (chapter 4). A chapter imports the core,
  never another chapter;
- **above the chapters**: ``recipes`` (how each bundled model and stored result is made),
  ``widgets`` (ipywidgets), ``exercises`` (automatic feedback), ``claims`` (measured claims with
  computed verdicts), ``course`` (the course map, badges) and ``doctor`` (environment check).

``tests/test_layout.py`` checks these rules on every module's imports.
"""

__version__ = "0.1.0"

"""Alignment (book chapter 4): one module per idea, all on top of the one training loop
(:func:`lmnotes.training.train`) and the one sampler (:mod:`lmnotes.generation`).

Modules (each added with the notebook that teaches it):
"""

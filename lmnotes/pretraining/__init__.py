"""Pre-training (book chapter 1): one module per idea, on top of the core (data, models, training).

- :mod:`lmnotes.pretraining.objectives`: pre-training objectives as data transforms: causal LM
  targets and masks, BERT masking, prefix-LM and permuted-LM masks, ELECTRA replacement, T5 span
  corruption, BART corruptions (sections 1.2-1.3, Eq. 1.5-1.16).
- :mod:`lmnotes.pretraining.experiments`: the experiments on those objectives: batches per objective,
  cloze items and fill-in-the-blank scoring, masked-LM scores, BERT's sentence pairs and
  ``Loss_MLM + Loss_NSP`` (Eq. 1.17), ELECTRA detection, denoising pairs, kinds of pre-training compared.
- :mod:`lmnotes.pretraining.recall`: recall baselines: how much of a test set is statements the model
  read, and what looking a blank or a bigram up in the training text scores.
- :mod:`lmnotes.pretraining.finetuning`: adapting a backbone to a task (scratch, probe, full): the five
  applications of section 1.4 and the simple baselines they are compared with.
- :mod:`lmnotes.pretraining.compression`: distillation, head pruning and cross-layer sharing
  (section 1.3.3), parameter counts of published models from their configs.
- :mod:`lmnotes.pretraining.multilingual`: a second toy-world language for cross-lingual transfer
  (section 1.3.4).
"""

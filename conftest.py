"""Test-wide settings for every test, unit or notebook. `./course test` sets the same environment; this
keeps a bare `pytest` (or `pytest notebooks/01_tokenization.ipynb`) equal and offline."""

import os

pytest_plugins = ["tools.nbval_modes"]  # exact or tolerant comparison of notebook outputs

for key, value in {
    "PYTHONHASHSEED": "0",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_OFFLINE": "1",  # nothing in a test may download weights or data
}.items():
    os.environ.setdefault(key, value)


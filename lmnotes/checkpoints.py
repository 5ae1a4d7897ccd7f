"""The small pre-trained models that ship with the course.

Each bundled model is a folder under ``lmnotes/checkpoints/<name>/`` in the Hugging Face layout, so
both ``lmnotes.checkpoints.load(name)`` and ``transformers``' ``from_pretrained(folder)`` read it:

* ``config.json`` + ``model.safetensors``: the weights, in GPT-2, LLaMA or BERT form (safetensors:
  loading never executes code);
* ``tokenizer.json`` + ``tokenizer_config.json``: the tokenizer, as a ``transformers`` fast tokenizer;
* ``lmnotes.json``: what lmnotes adds — the recipe that made it, the figures that recipe measured
  (validation loss, training time), the sha256 of ``model.safetensors`` and of every other file of the
  bundle (``files``), and the sha256 of the record itself (``record_sha256``); all verified on every
  load, so an edited ``config.json``, a swapped ``tokenizer.json`` or a hand-edited record is caught.

A model with no ``transformers`` counterpart (``RegressionGPT``, which reads vectors, not tokens) is
bundled *natively*: ``model.safetensors`` + ``config.json`` (its lmnotes config) + ``lmnotes.json``, no
tokenizer; ``load`` builds it from its recorded class.

Each model is made by a recipe in :mod:`lmnotes.recipes` that anyone can re-run
(``./course recipe NAME``).

Studies over seeds or sizes ship their *numbers* instead of weights: a result-only recipe writes
``results.json`` and its record ``lmnotes.json`` under ``lmnotes/results/<name>/``
(:func:`save_results`), and :func:`results` reads them back after checking the sha256.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmnotes import checks

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
WEIGHTS = "model.safetensors"
META = "lmnotes.json"


@dataclass
class Bundled:
    """A loaded bundled model: our module, its tokenizer (a transformers fast tokenizer) and its record."""

    name: str
    model: Any
    tokenizer: Any
    meta: dict

    def __repr__(self) -> str:
        figures = ", ".join(f"{k}={v}" for k, v in self.meta.get("figures", {}).items())
        return f"Bundled({self.name!r}, {type(self.model).__name__}, {figures})"


def available() -> list[str]:
    """Names of the bundled models present in this installation."""
    if not CHECKPOINT_DIR.is_dir():
        return []
    return sorted(p.name for p in CHECKPOINT_DIR.iterdir() if (p / META).is_file())


def path(name: str) -> Path:
    """The folder of bundled model ``name`` (usable with ``transformers``' ``from_pretrained``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of a bundled model (a str), got {type(name).__name__} {name!r}")
    names = available()
    if name not in names:
        raise ValueError(f"no bundled model named {name!r}; available: {names or 'none installed'}")
    return CHECKPOINT_DIR / name


def info(name: str) -> dict:
    """The record of a bundled model: recipe, measured figures, sizes and sha256."""
    return _read_record(path(name))


def sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(folder: Path) -> dict:
    """Check that ``folder`` holds a complete bundle whose files all match their recorded sha256."""
    if not isinstance(folder, (str, Path)):
        raise TypeError(f"folder must be a path (str or Path), got {type(folder).__name__} {folder!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder must be a checkpoint folder, got {str(folder)!r} (not a folder)")
    meta = _read_record(folder) if (folder / META).is_file() else {}
    needed = ("config.json", WEIGHTS) + (() if meta.get("native") else ("tokenizer.json",)) + (META,)
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"checkpoint folder {folder.name!r} is incomplete: missing {missing}")
    redo = f"re-create it with `./course recipe {folder.name}`"
    if meta.get("record_sha256") != _record_sha256(meta):
        raise ValueError(f"checkpoint {folder.name!r}: {META} was edited (its record_sha256 does not match); {redo}")
    recorded = dict(meta.get("files") or {}, **{WEIGHTS: meta.get("sha256")})
    for file in sorted(set(recorded) | set(needed) - {META}):
        actual = sha256(folder / file) if (folder / file).is_file() else None
        if actual != recorded.get(file):
            raise ValueError(
                f"checkpoint {folder.name!r} is corrupt or was modified: {file} has sha256 {str(actual)[:12]}..., "
                f"its record says {str(recorded.get(file))[:12]}...; {redo}"
            )
    return meta


def _read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / META).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"checkpoint {folder.name!r}: {META} is not valid JSON ({error}); the bundle is corrupt") from None
    if not isinstance(record, dict):
        raise ValueError(f"checkpoint {folder.name!r}: {META} must hold a JSON object, got {type(record).__name__}")
    return record


def _record_sha256(record: dict) -> str:
    """sha256 of the record without its own ``record_sha256`` field, in canonical JSON."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def seal(folder: Path, record: dict[str, Any]) -> dict:
    """Write ``lmnotes.json`` for the bundle in ``folder``: ``record`` plus the sha256 of the weights,
    of every other file (``files``) and of the record itself. Returns what was written."""
    folder = Path(folder)
    record = dict(record)
    record["sha256"] = sha256(folder / WEIGHTS)
    record["size_bytes"] = (folder / WEIGHTS).stat().st_size
    record["files"] = {f.name: sha256(f) for f in sorted(folder.iterdir())
                       if f.is_file() and f.name not in (META, WEIGHTS)}
    record.pop("record_sha256", None)
    record["record_sha256"] = _record_sha256(record)
    (folder / META).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def load(name: str, device: str | None = None) -> Bundled:
    """Load bundled model ``name`` as an lmnotes model, after verifying its sha256."""
    return load_folder(path(name), device)


def load_folder(folder: str | Path, device: str | None = None) -> Bundled:
    """Load a bundle written by :func:`save` (or a recipe) from any folder, verifying it first."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from lmnotes.models.convert import from_hf

    meta = verify(folder)
    folder = Path(folder)
    if meta.get("native"):
        return _load_native(folder, meta, device)
    kind = AutoConfig.from_pretrained(folder).model_type
    if kind not in _AUTO:
        raise ValueError(f"checkpoint {folder.name!r} holds a {kind!r} model; lmnotes bundles GPT-2, LLaMA or BERT")
    auto = AutoModelForMaskedLM if _AUTO[kind] == "masked" else AutoModelForCausalLM
    with _quiet_transformers():  # no "Loading weights" bar for a 3 MB local file
        model = from_hf(auto.from_pretrained(folder)).eval()
    if device is not None:
        model.to(device)
    return Bundled(name=meta.get("name", folder.name), model=model, tokenizer=AutoTokenizer.from_pretrained(folder),
                   meta=meta)


_AUTO = {"gpt2": "causal", "llama": "causal", "bert": "masked"}


@contextmanager
def _quiet_transformers():
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def save(folder: Path, hf_model, tokenizer, meta: dict[str, Any]) -> dict:
    """Write a bundle: HF weights + config, the tokenizer, and ``lmnotes.json`` with the weights' sha256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _quiet_transformers():
        hf_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for extra in ("generation_config.json",):
        (folder / extra).unlink(missing_ok=True)
    return seal(folder, meta)


#: lmnotes models bundled natively (no transformers counterpart): class name -> (module, config class)
NATIVE = {"RegressionGPT": ("lmnotes.models.regression", "RegressionGPTConfig")}


def save_native(folder: Path, model, meta: dict[str, Any]) -> dict:
    """Write a native bundle: the model's safetensors weights, its lmnotes config and ``lmnotes.json``."""
    from safetensors.torch import save_file

    name = type(model).__name__
    if name not in NATIVE:
        raise TypeError(f"model must be one of the natively bundled classes {sorted(NATIVE)}, got {name}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / WEIGHTS)
    (folder / "config.json").write_text(json.dumps(model.config.to_dict(), indent=2, sort_keys=True) + "\n")
    return seal(folder, dict(meta, native=True, model_class=name))


def _load_native(folder: Path, meta: dict, device: str | None) -> Bundled:
    import importlib

    from safetensors.torch import load_file

    if meta.get("model_class") not in NATIVE:
        raise ValueError(f"checkpoint {folder.name!r} records an unknown native class {meta.get('model_class')!r}")
    module_name, config_name = NATIVE[meta["model_class"]]
    module = importlib.import_module(module_name)
    config = getattr(module, config_name).from_dict(json.loads((folder / "config.json").read_text()))
    model = getattr(module, meta["model_class"])(config)
    model.load_state_dict(load_file(folder / WEIGHTS))
    model.eval()
    if device is not None:
        model.to(device)
    return Bundled(name=meta.get("name", folder.name), model=model, tokenizer=None, meta=meta)


# ----------------------------------------------------------------------------------------------
# Stored results: what a result-only recipe measured (JSON under lmnotes/results/<name>/)

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def results_sha256(file: Path) -> str:
    return hashlib.sha256(Path(file).read_bytes()).hexdigest()


def save_results(folder: Path, results: dict, meta: dict) -> dict:
    """Write ``results.json`` and ``lmnotes.json`` (the record, with the results' sha256)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    record = dict(meta, sha256=results_sha256(folder / "results.json"),
                  size_bytes=(folder / "results.json").stat().st_size)
    (folder / "lmnotes.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def results(name: str, folder: Path | None = None) -> dict:
    """The stored results of result-only recipe ``name`` (what it measured, plus its record as ``meta``),
    sha256-checked: a study over seeds or sizes that ships its numbers rather than weights."""
    checks.text("name", name)
    folder = RESULTS_DIR / name if folder is None else Path(folder)
    if not (folder / "results.json").is_file() or not (folder / "lmnotes.json").is_file():
        raise ValueError(f"no stored results named {name!r} in {folder}; create them with `./course recipe {name}`")
    meta = json.loads((folder / "lmnotes.json").read_text())
    actual = results_sha256(folder / "results.json")
    if actual != meta.get("sha256"):
        raise ValueError(f"stored results {name!r} are corrupt or were modified: sha256 {actual[:12]}..., "
                         f"the record says {str(meta.get('sha256'))[:12]}...; re-create them with `./course recipe {name}`")
    results = json.loads((folder / "results.json").read_text())
    results["meta"] = meta
    return results

"""Hub models when the hub is reachable, the course's own bundled stand-ins when it is not.

The book's examples use public checkpoints (distilgpt2, gpt2, bert-base-uncased). In Colab they
download in seconds; on an offline laptop or in a classroom with bad Wi-Fi a download can hang for
minutes. ``load_hub_model(name)`` therefore checks first, with a hard time limit, whether the hub
answers at all. If it does not (or ``HF_HUB_OFFLINE=1`` is set) it says so in one line and returns
the bundled model trained by the course itself (``lmnotes.checkpoints``), so the notebook carries on.

Either way ``model`` is an lmnotes model (``logits = model(idx)``) and ``tokenizer`` a
``transformers`` tokenizer, so the code that follows does not care where they came from.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from typing import Any, NamedTuple

from lmnotes import checks

#: short name -> (hub repository, transformers auto class, bundled stand-in)
HUB_MODELS = {
    "distilgpt2": ("distilbert/distilgpt2", "AutoModelForCausalLM", "shakespeare-bpe"),
    "gpt2": ("openai-community/gpt2", "AutoModelForCausalLM", "shakespeare-bpe"),
    "bert-base-uncased": ("google-bert/bert-base-uncased", "AutoModelForMaskedLM", "toyworld-bert"),
}
_TRUE = {"1", "ON", "YES", "TRUE"}  # what huggingface_hub accepts as "set"


class HubModel(NamedTuple):
    """What ``load_hub_model`` returns; unpacks as ``model, tokenizer, source = ...``."""

    model: Any  # an lmnotes model: logits = model(idx)
    tokenizer: Any  # a transformers tokenizer
    source: str  # "hub:<repository>" or "bundled:<stand-in name>"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set to a true value (1/ON/YES/TRUE), as huggingface_hub reads it."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE


def hub_url() -> str:
    """The hub's address: ``HF_ENDPOINT`` if set (a mirror), else https://huggingface.co."""
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def hub_reachable(timeout: float = 3.0, url: str | None = None) -> bool:
    """Whether the hub (``url``, default ``hub_url()``) answers within ``timeout`` seconds.

    False at once if ``HF_HUB_OFFLINE`` is set. "Answers" means any HTTP response over a verified
    HTTPS connection: a bare TCP connection is not enough, as some networks accept every connection
    and then go nowhere. Name resolution can block far longer than any socket timeout, so the
    request runs in a background thread that we wait for at most ``timeout`` seconds; a thread
    still stuck after that is abandoned (it is a daemon and cannot keep Python alive).
    """
    # bounded: a check of the network must never hold a notebook for minutes
    timeout = checks.real("timeout", timeout, low=0, high=600, low_open=True)
    if hub_offline():
        return False
    answered = threading.Event()

    def ask() -> None:
        try:
            request = urllib.request.Request(url or hub_url(), method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                answered.set()
        except urllib.error.HTTPError:  # an error status is still an answer from the server
            answered.set()
        except (OSError, ValueError):  # no route, DNS failure, refused, TLS failure, timeout; bad URL
            pass

    worker = threading.Thread(target=ask, daemon=True, name="lmnotes-hub-check")
    worker.start()
    worker.join(timeout)
    return answered.is_set()


def load_hub_model(name: str, timeout: float = 3.0) -> HubModel:
    """Load ``name`` (one of ``HUB_MODELS``) from the hub, or its bundled stand-in if the hub is away.

    When falling back, prints one line saying why and what is used instead. Raises ``ValueError``
    for an unknown name and ``RuntimeError`` if the stand-in is not bundled in this installation.
    """
    if name not in HUB_MODELS:
        raise ValueError(f"name must be one of {sorted(HUB_MODELS)}, got {name!r}")
    repository, auto_class, stand_in = HUB_MODELS[name]
    if hub_offline():
        reason = "HF_HUB_OFFLINE is set"
    elif not hub_reachable(timeout):
        reason = f"{hub_url()} did not answer within {timeout:g} s"
    else:
        import transformers

        from lmnotes.models.convert import from_hf

        try:
            hf_model = getattr(transformers, auto_class).from_pretrained(repository)
            tokenizer = transformers.AutoTokenizer.from_pretrained(repository)
        except Exception as error:  # network, proxy, rate limit, disk: any failure means "fall back"
            reason = f"loading {repository} failed ({type(error).__name__})"
        else:
            return HubModel(from_hf(hf_model).eval(), tokenizer, f"hub:{repository}")
    print(f"{name}: {reason}; using the course's bundled stand-in {stand_in!r} instead.")
    return _bundled(stand_in)


def _bundled(stand_in: str) -> HubModel:
    from lmnotes import checkpoints

    if stand_in not in checkpoints.available():
        raise RuntimeError(
            f"the bundled stand-in {stand_in!r} is not available yet in this installation "
            f"(bundled: {checkpoints.available() or 'none'}); create it with `./course recipe {stand_in}`"
        )
    bundled = checkpoints.load(stand_in)
    return HubModel(bundled.model, bundled.tokenizer, f"bundled:{stand_in}")

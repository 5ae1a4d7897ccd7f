"""The course's Transformer models: decoder-only ``GPT``, BERT-style ``Encoder`` and ``EncoderDecoder``.

All three are built from the one ``Block`` in ``layers``; ``convert`` moves weights to and from
``transformers`` (GPT-2, LLaMA, BERT).
"""

from lmnotes.models.convert import from_hf, to_hf
from lmnotes.models.encdec import EncoderDecoder, EncoderDecoderConfig
from lmnotes.models.encoder import Encoder, EncoderConfig
from lmnotes.models.gpt import GPT, GPTConfig
from lmnotes.models.layers import KVCache

__all__ = ["GPT", "GPTConfig", "Encoder", "EncoderConfig", "EncoderDecoder", "EncoderDecoderConfig", "KVCache", "to_hf", "from_hf"]

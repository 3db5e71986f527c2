"""A deterministic hashing embedder for tests of our own logic.

It maps words to signed hash buckets: texts sharing words get similar vectors,
but it knows nothing of meaning. Never the default.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from grounded.ports import EmbedKind, Vectors

_WORD = re.compile(r"\w+", re.UNICODE)


def model_id_for(dim: int) -> str:
    return f"hash-{dim}"


class HashEmbedder:
    revision = "1"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.model_id = model_id_for(dim)

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors:
        del kind
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = zlib.crc32(word.encode())
                out[row, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)

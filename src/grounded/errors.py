"""Every error `grounded` raises on purpose, split by who has to act.

    GroundedError                      root; catch this to catch everything below
    ├── UserError                      the caller can fix it (bad flag, file, config, request)
    │   ├── ConfigError                grounded.yaml / GROUNDED_* / --config is wrong
    │   ├── InvalidRequest             a request or argument is malformed (empty query, bad k)
    │   ├── LoaderError                one source file cannot be parsed (reported, run goes on)
    │   └── EmbeddingModelMismatch     the index was built with another embedding model
    └── RuntimeFailure                 something outside the caller's input went wrong
        ├── StoreError                 the index cannot be opened, read or written
        ├── ModelUnavailable           a local model or its package is not installed
        ├── ProviderError              a model call failed (kind, status, retry_after, retryable)
        │   └── AllModelsFailed        every model of a fallback chain failed
        ├── StructuredOutputError      the model's output did not validate, even after a repair
        ├── GuardrailViolation         a guard blocked the request
        └── AccessDenied               the principal may not perform this action

Messages name the bad value and say how to fix it. The CLI prints the message
on one line and exits non-zero; it never prints a traceback for these.
"""

from __future__ import annotations

from typing import Any


class GroundedError(Exception):
    """Root of every error raised on purpose by grounded."""

    exit_code: int = 1


class UserError(GroundedError):
    """The caller can fix this by changing input, flags or configuration."""

    exit_code = 2


class ConfigError(UserError):
    """Configuration is invalid or inconsistent."""


class InvalidRequest(UserError):
    """A request or argument is malformed."""


class LoaderError(UserError):
    """A source document could not be read or parsed."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class EmbeddingModelMismatch(UserError):
    """The query-time embedding model differs from the one the index was built with."""

    def __init__(self, index_model: str, query_model: str) -> None:
        super().__init__(
            f"the index was built with embedding model {index_model!r} but the configured "
            f"model is {query_model!r}; set `embedder` back to the index's model, or ingest "
            "into a new data directory (--data-dir) to use the new one"
        )
        self.index_model = index_model
        self.query_model = query_model


class RuntimeFailure(GroundedError):
    """Something outside the caller's input failed."""


class StoreError(RuntimeFailure):
    """The store could not be opened, read or written."""


class ModelUnavailable(RuntimeFailure):
    """A local model, or the package that ships it, is not installed."""


# What went wrong with a model call, as recorded in attempts, metrics and fallback rules.
ERROR_KINDS = (
    "rate_limited",  # 429
    "server_error",  # 5xx (and Anthropic's 529 overloaded)
    "timeout",  # the attempt ran past its deadline, or the server said 408
    "connection",  # refused, reset, dropped mid-response, truncated stream
    "invalid_response",  # 2xx with a body we cannot parse
    "bad_request",  # 400/413/422: the request itself is wrong; never retried
    "not_found",  # 404: wrong base_url, or the server does not serve this model
    "auth",  # 401/403 or a missing API key; never retried
    "unavailable",  # a local model or the package that runs it is not installed
    "circuit_open",  # the model's circuit breaker refused the call
    "deadline",  # the request's total deadline ran out
    "unsupported",  # the model lacks a capability the request needs
)
RETRYABLE_KINDS = frozenset(
    {"rate_limited", "server_error", "timeout", "connection", "invalid_response"}
)


class ProviderError(RuntimeFailure):
    """A model call failed. Raised at the adapter boundary for every provider failure.

    `kind` is one of ERROR_KINDS; `retryable` says whether trying the same model again
    may help; `attempts` lists every try made before giving up (filled by the wrappers).
    """

    def __init__(
        self,
        model: str,
        message: str,
        *,
        kind: str = "server_error",
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(f"{model}: {message}")
        self.model = model
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable
        self.attempts: tuple[Any, ...] = ()  # tuple[grounded.domain.Attempt, ...]


class AllModelsFailed(ProviderError):
    """Every model in a fallback chain failed; the message lists each model's error."""


class StructuredOutputError(RuntimeFailure):
    """The model's output did not match the schema, and one repair attempt did not fix it.

    `errors` are the validation problems (paths and rules, never the values);
    `raw_output` is the model's last text. It is kept on the exception for the
    caller to inspect and is deliberately left out of the message, so logging
    the error never logs model output.
    """

    def __init__(self, model: str, errors: list[str], raw_output: str) -> None:
        shown = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        super().__init__(f"{model}: output does not match the schema after one repair: {shown}")
        self.model = model
        self.errors = errors
        self.raw_output = raw_output


class GuardrailViolation(RuntimeFailure):
    """A guard blocked the request."""


class AccessDenied(RuntimeFailure):
    """The principal may not perform this action."""

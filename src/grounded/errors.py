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
        ├── ProviderError              a remote provider failed (status, retry_after)
        ├── GuardrailViolation         a guard blocked the request
        └── AccessDenied               the principal may not perform this action

Messages name the bad value and say how to fix it. The CLI prints the message
on one line and exits non-zero; it never prints a traceback for these.
"""

from __future__ import annotations


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


class ProviderError(RuntimeFailure):
    """A model provider failed; `retryable` says whether trying again may help."""

    def __init__(
        self,
        model: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(f"{model}: {message}")
        self.model = model
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable


class GuardrailViolation(RuntimeFailure):
    """A guard blocked the request."""


class AccessDenied(RuntimeFailure):
    """The principal may not perform this action."""

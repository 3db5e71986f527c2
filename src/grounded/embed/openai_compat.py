"""Embeddings from any server speaking OpenAI's `/v1/embeddings`: vLLM, Ollama, llama.cpp,
OpenAI, Azure OpenAI.

Synchronous like every `Embedder` (ingestion runs it in worker threads). Chat models
get retries from wrappers; embedders have none, so this one retries retryable
failures itself, waiting at least as long as the server's Retry-After asks.
"""

from __future__ import annotations

import random
import time
import weakref
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
from pydantic import SecretStr

from grounded.config import OpenAICompatibleEmbedderConfig
from grounded.errors import ProviderError
from grounded.llm.http import (
    api_key,
    error_from_exception,
    error_from_response,
    invalid_response,
    openai_endpoint,
    openai_headers,
    parse_json,
)
from grounded.ports import EmbedKind, Vectors

_BASE_DELAY_S = 0.5  # first backoff, doubled per attempt, with full jitter
_MAX_DELAY_S = 20.0  # cap on one wait, Retry-After included


def model_id_for(cfg: OpenAICompatibleEmbedderConfig) -> str:
    """`openai_compatible:{model}`, with `:{dimensions}` when a size is asked for.

    The server's address is left out: the same model served from elsewhere gives
    the same vectors, and moving a server must not force a re-index. A smaller
    size of one model (Matryoshka truncation) is another vector space, so it is in.
    """
    name = cfg.model or cfg.deployment or "default"
    return f"openai_compatible:{name}" + (f":{cfg.dimensions}" if cfg.dimensions else "")


class OpenAICompatibleEmbedder:
    """An `Embedder` over HTTP. Unless configured, `dim` is learnt from the server on first use."""

    # What the server runs cannot be checked from here; the model name is all we know.
    revision = "remote"
    dim: int  # from embedder.dimensions, else the size of the server's first answer

    def __init__(self, cfg: OpenAICompatibleEmbedderConfig) -> None:
        self.cfg = cfg
        self.model_id = model_id_for(cfg)
        if cfg.dimensions:
            self.dim = cfg.dimensions
        self._url, self._params = openai_endpoint(
            cfg.base_url, "embeddings", cfg.deployment, cfg.api_version
        )
        self._key: SecretStr | None = None
        self._client = httpx.Client(timeout=cfg.timeout_s)
        # Closes the pooled connections when the embedder is dropped, even if nobody
        # calls close(): the Embedder protocol has no close.
        self._finalizer = weakref.finalize(self, self._client.close)

    def __repr__(self) -> str:
        return f"OpenAICompatibleEmbedder({self.model_id!r}, url={self._url!r})"

    def __getattr__(self, name: str) -> Any:
        # Reached only while `dim` is unset: ask the server once, on first use.
        if name != "dim":
            raise AttributeError(name)
        self._embed_batch(["dimension probe"])
        return self.__dict__["dim"]

    def count_tokens(self, text: str) -> int:
        # An estimate, about four characters per token for English under BPE: the
        # server's tokenizer is not available here. It sizes chunks, and a chunk a
        # little over budget is truncated by the server, not refused.
        return len(text) // 4 + 1

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors:
        del kind  # OpenAI-style embedding models encode queries and documents alike
        size = self.cfg.batch_size
        batches = [
            self._embed_batch(list(texts[lo : lo + size])) for lo in range(0, len(texts), size)
        ]
        if not batches:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(batches)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> OpenAICompatibleEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- one batch

    def _embed_batch(self, texts: list[str]) -> Vectors:
        # Servers refuse empty strings in `input`; a space embeds as "nothing" too.
        body: dict[str, Any] = {"input": [t or " " for t in texts]}
        if self.cfg.model:
            body["model"] = self.cfg.model
        if self.cfg.dimensions:
            body["dimensions"] = self.cfg.dimensions
        matrix = self._vectors(self._with_retries(body), len(texts))
        expected = self.__dict__.get("dim")
        if expected is None:
            self.dim = matrix.shape[1]
        elif matrix.shape[1] != expected:
            raise invalid_response(
                self.model_id,
                f"the server returned {matrix.shape[1]}-dimensional vectors, expected {expected}; "
                "check embedder.model and embedder.dimensions",
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)

    def _with_retries(self, body: dict[str, Any]) -> Any:
        attempts = self.cfg.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._post(body)
            except ProviderError as exc:
                if not exc.retryable or attempt == attempts:
                    raise
                time.sleep(_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _post(self, body: dict[str, Any]) -> Any:
        if self._key is None:
            self._key = api_key(self.model_id, self.cfg.api_key_env, setting="embedder.api_key_env")
        headers = openai_headers(self.cfg.headers, self._key, azure=bool(self.cfg.deployment))
        try:
            response = self._client.post(self._url, json=body, headers=headers, params=self._params)
        except httpx.HTTPError as exc:
            raise error_from_exception(self.model_id, exc, self.cfg.timeout_s) from exc
        if not response.is_success:
            raise error_from_response(
                self.model_id,
                response.status_code,
                response.headers,
                response.content,
                (self._key,),
            )
        return parse_json(self.model_id, response.content)

    def _vectors(self, data: Any, count: int) -> np.ndarray:
        try:
            items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
            matrix = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise invalid_response(self.model_id, f"not an embeddings response ({exc})") from None
        if matrix.ndim != 2 or matrix.shape[0] != count or not np.isfinite(matrix).all():
            raise invalid_response(
                self.model_id, f"{count} texts sent, but {matrix.shape[0]} usable vectors came back"
            )
        return matrix


def _delay(attempt: int, retry_after: float | None) -> float:
    backoff = random.uniform(0, _BASE_DELAY_S * 2 ** (attempt - 1))
    return min(_MAX_DELAY_S, max(backoff, retry_after or 0.0))

"""The contracts between stages. Backends implement these; config picks one by name.

Each protocol is small on purpose; a backend may implement several
(the SQLite store implements `DocumentStore`, `SearchIndex` and `Catalog`).
Conformance checks for implementations live in `grounded.testing`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from grounded.domain import (
    Capabilities,
    ChatRequest,
    ChatResponse,
    Chunk,
    ChunkDraft,
    Document,
    GuardContext,
    Hit,
    ParsedDocument,
    Principal,
    SearchFilters,
    StreamEvent,
    Verdict,
)

Vectors = npt.NDArray[np.float32]
EmbedKind = Literal["query", "document"]


@runtime_checkable
class Loader(Protocol):
    """Parses the bytes of one file format into a `ParsedDocument`.

    Raises `LoaderError` with a reason a person can act on when the bytes are
    not a readable document of this format.
    """

    name: str
    suffixes: tuple[str, ...]

    def load(self, data: bytes, *, source: str) -> ParsedDocument: ...


class Chunker(Protocol):
    """Splits a parsed document into spans under a token budget."""

    def chunk(self, doc: ParsedDocument) -> list[ChunkDraft]: ...


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors.

    `model_id` and `revision` are recorded with every vector; a query embedded
    by a different model than the index was built with is refused.
    """

    model_id: str
    revision: str
    dim: int

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors: ...

    def count_tokens(self, text: str) -> int: ...


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant."""

    name: str

    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


class DocumentStore(Protocol):
    """The write side of the index: atomic per document."""

    def fingerprints(self, collection: str) -> dict[str, str]: ...

    def upsert(
        self, document: Document, chunks: Sequence[Chunk], vectors: Vectors, fingerprint: str
    ) -> None: ...

    def delete(self, collection: str, doc_ids: Sequence[str]) -> int: ...


class SearchIndex(Protocol):
    """The read side used by retrieval. The principal is applied inside each query."""

    def keyword_search(
        self, query: str, principal: Principal, filters: SearchFilters, k: int
    ) -> list[Hit]: ...

    def vector_search(
        self, vector: Vectors, principal: Principal, filters: SearchFilters, k: int
    ) -> list[Hit]: ...

    def fetch(
        self, chunk_ids: Sequence[int], principal: Principal
    ) -> dict[int, tuple[Chunk, Document]]: ...


class Catalog(Protocol):
    """Listing and inspecting documents."""

    def list_documents(
        self, principal: Principal | None, collection: str | None = None
    ) -> list[Document]: ...

    def get_document(self, doc_id: str, principal: Principal | None) -> Document | None: ...

    def chunks_of(self, doc: Document) -> list[Chunk]: ...


TokenCounter = Callable[[str], int]


@runtime_checkable
class ChatModel(Protocol):
    """An LLM behind one async interface: a provider adapter, or a wrapper around one.

    Wrappers (retry, circuit breaker, fallback, cache, metering, limits) implement
    this same protocol, so `Fallback([Retrying(Metered(provider))])` is a ChatModel.
    Every provider failure surfaces as `grounded.errors.ProviderError`.

    `stream` yields `StreamEvent`s with text deltas; the last one carries the whole
    `ChatResponse` (usage, tool calls, finish reason). It is an async generator, so
    it is declared without `async`.
    """

    name: str
    capabilities: Capabilities

    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Guard(Protocol):
    """Checks one text at one stage and decides, by the policy it was built with.

    A guard that has nothing to say about a stage returns `Verdict.allow(text)`.
    Guards are synchronous and CPU-only (rules, regexes, small lookups): the whole
    input + retrieved + output stack must stay within a few milliseconds.
    Reasons never quote what they found (see `Reason`).
    """

    name: str

    def scan(self, text: str, context: GuardContext) -> Verdict: ...

"""Wiring: builds the configured store, embedder, chunker, ingestor and retriever.

The CLI (and later the server) hold one `Runtime`; components are created on
first use, so `grounded docs list` never loads an embedding model.
"""

from __future__ import annotations

import json
from functools import cached_property

from grounded.config import Settings
from grounded.embed import build_embedder, embedder_identity
from grounded.index import SqliteStore, open_store
from grounded.ingest.chunking import StructureChunker
from grounded.ingest.pipeline import Ingestor, Progress
from grounded.ports import Chunker, Embedder, Reranker, TokenCounter
from grounded.retrieval.hybrid import HybridRetriever
from grounded.retrieval.rerank import build_reranker

EMBED_CACHE = "cache/embeddings.sqlite"
# Bump when chunking or the text given to the embedder changes, so that existing
# indexes re-process their documents on the next ingest instead of mixing versions.
INDEX_FORMAT = 2


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def store(self) -> SqliteStore:
        return open_store(self.settings.store, self.settings.data_dir)

    @cached_property
    def embedder(self) -> Embedder:
        return build_embedder(self.settings.embedder, self.settings.data_dir / EMBED_CACHE)

    def chunker(self, count_tokens: TokenCounter) -> Chunker:
        cfg = self.settings.chunking
        return StructureChunker(cfg.max_tokens, cfg.overlap_tokens, count_tokens)

    @property
    def settings_key(self) -> str:
        """Everything besides the source that changes how a document is indexed."""
        return json.dumps(
            {
                "format": INDEX_FORMAT,
                "chunking": self.settings.chunking.model_dump(),
                "embedder": embedder_identity(self.settings.embedder),
            },
            sort_keys=True,
        )

    def ingestor(self, progress: Progress | None = None) -> Ingestor:
        return Ingestor(
            self.store,
            lambda: self.embedder,
            self.chunker,
            settings_key=self.settings_key,
            progress=progress,
        )

    @cached_property
    def reranker(self) -> Reranker | None:
        return build_reranker(self.settings.retrieval.reranker)

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(
            self.store, lambda: self.embedder, self.settings.retrieval, self.reranker
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

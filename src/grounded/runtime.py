"""Wiring: builds the configured store, embedder, chunker, ingestor and retriever.

The CLI (and later the server) hold one `Runtime`; components are created on
first use, so `grounded docs list` never loads an embedding model.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING

from grounded.config import Settings
from grounded.embed import build_embedder, embedder_identity
from grounded.errors import InvalidRequest
from grounded.index import SqliteStore, open_store
from grounded.index.sqlite import DB_FILE
from grounded.ports import Chunker, Embedder, Reranker, TokenCounter
from grounded.retrieval.hybrid import HybridRetriever
from grounded.retrieval.rerank import build_reranker

if TYPE_CHECKING:  # the ingestion stack (pypdf, python-docx, bs4) loads only to ingest
    from grounded.config import AppConfig
    from grounded.features.ask import AskPipeline
    from grounded.ingest.pipeline import Ingestor, Progress
    from grounded.llm.gateway import Gateway
    from grounded.prompts import PromptRegistry

EMBED_CACHE = "cache/embeddings.sqlite"
# Bump when chunking or the text given to the embedder changes, so that existing
# indexes re-process their documents on the next ingest instead of mixing versions.
INDEX_FORMAT = 2


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._app_retrievers: dict[tuple[object, ...], HybridRetriever] = {}

    @cached_property
    def store(self) -> SqliteStore:
        return open_store(self.settings.store, self.settings.data_dir)

    def existing_store(self) -> SqliteStore:
        """The store, for commands that only read: refuses to create an empty index."""
        if "store" not in self.__dict__ and not (self.settings.data_dir / DB_FILE).exists():
            raise InvalidRequest(
                f"no index in {self.settings.data_dir}; run `grounded ingest PATH` first, "
                "or point --data-dir / GROUNDED_DATA_DIR at an existing one"
            )
        return self.store

    @cached_property
    def embedder(self) -> Embedder:
        return build_embedder(self.settings.embedder, self.settings.data_dir / EMBED_CACHE)

    def chunker(self, count_tokens: TokenCounter) -> Chunker:
        from grounded.ingest.chunking import StructureChunker

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
        from grounded.ingest.pipeline import Ingestor

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
            self.existing_store(), lambda: self.embedder, self.settings.retrieval, self.reranker
        )

    @cached_property
    def gateway(self) -> Gateway:
        from grounded.llm.gateway import Gateway

        return Gateway(self.settings)

    def app_retriever(self, app: AppConfig) -> HybridRetriever:
        """The retriever with the app's overrides of the global retrieval settings."""
        own = app.retrieval
        overrides = {
            k: v
            for k, v in {
                "fusion": own.fusion,
                "bm25_weight": own.bm25_weight,
                "dense_weight": own.dense_weight,
            }.items()
            if v is not None
        }
        if not overrides and own.rerank:
            return self.retriever
        key = (tuple(sorted(overrides.items())), own.rerank)
        if key not in self._app_retrievers:  # built once, not on every question
            config = self.settings.retrieval.model_copy(update=overrides)
            reranker = self.reranker if own.rerank else None
            self._app_retrievers[key] = HybridRetriever(
                self.existing_store(), lambda: self.embedder, config, reranker
            )
        return self._app_retrievers[key]

    @cached_property
    def prompts(self) -> PromptRegistry:
        from grounded.prompts import BUILTIN_DIR, PromptRegistry

        return PromptRegistry([BUILTIN_DIR, self.settings.prompts_dir])

    @cached_property
    def asker(self) -> AskPipeline:
        from grounded.features.ask import AskPipeline

        return AskPipeline(
            self.settings,
            self.app_retriever,
            lambda text: self.embedder.count_tokens(text),
            lambda: self.gateway,
            self.prompts,
            embed=lambda texts: self.embedder.embed(texts, kind="document"),
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
        if "gateway" in self.__dict__:
            self.gateway.close()

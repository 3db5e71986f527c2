"""A run that dies mid-way (not by SIGKILL) says so, keeps whole documents, and resumes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from grounded.config import load_settings
from grounded.domain import Acl
from grounded.embed.hashing import HashEmbedder
from grounded.errors import ProviderError
from grounded.ingest.pipeline import PENDING_CHUNKS, Ingestor
from grounded.ingest.sources import open_source
from grounded.ports import EmbedKind, Vectors
from grounded.runtime import Runtime


class FailingAfter(HashEmbedder):
    """Embeds `calls` batches, then fails like a remote embedding service would."""

    def __init__(self, calls: int) -> None:
        super().__init__(256)
        self.calls = calls

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors:
        if self.calls == 0:
            raise ProviderError("embedder", "connection reset", retryable=True)
        self.calls -= 1
        return super().embed(texts, kind=kind)


def test_a_failed_run_is_recorded_and_the_next_one_resumes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(PENDING_CHUNKS + 40):  # more than one embedding window
        (corpus / f"doc{i:03}.md").write_text(f"# Note {i}\n\nBody text number {i}.\n")
    rt = Runtime(load_settings(data_dir=tmp_path / "data", embedder={"kind": "hash"}))
    source = open_source(corpus, "auto", max_file_bytes=10**6)

    broken = Ingestor(rt.store, lambda: FailingAfter(1), rt.chunker, settings_key=rt.settings_key)
    with pytest.raises(ProviderError):
        broken.run(source, collection="c", acl=Acl.of("acme"))
    stats = rt.store.stats()
    assert stats["last_run"]["status"] == "failed"
    assert "connection reset" in stats["last_run"]["errors"][-1]["reason"]
    assert 0 < stats["documents"] < PENDING_CHUNKS + 40  # the first window was written
    assert rt.store.consistency_problems() == []

    report = rt.ingestor().run(source, collection="c", acl=Acl.of("acme"))
    assert report.unchanged == stats["documents"]
    assert report.added == PENDING_CHUNKS + 40 - stats["documents"]
    assert rt.store.stats()["last_run"]["status"] == "completed"

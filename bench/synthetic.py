"""A synthetic index of N chunks for latency measurements at scale.

Embedding 200,000 real chunks takes hours on 2 cores, so the synthetic index
reuses the SciFact index: each synthetic chunk takes the sentences of two real
chunks (realistic term statistics for BM25) and a real chunk vector plus small
Gaussian noise, renormalised (realistic geometry for dense search). Chunks are
written through `SqliteStore.upsert`, the same path ingestion uses.

ACLs: 80% of chunks belong to tenant `bench` (the tenant we query as), the rest
to four other tenants. Within `bench`, 60% of documents are open to the tenant
and 40% restricted to one of eight groups or to a single user.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from grounded.domain import Acl, Chunk, Document
from grounded.index.sqlite import SqliteStore

CHUNKS_PER_DOC = 4
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _acl(rng: random.Random) -> Acl:
    if rng.random() >= 0.8:
        return Acl.of(f"other-{rng.randrange(4)}")
    roll = rng.random()
    if roll < 0.6:
        return Acl.of("bench")
    if roll < 0.95:
        return Acl.of("bench", groups=[f"group-{rng.randrange(8)}"])
    return Acl.of("bench", users=[f"user-{rng.randrange(50)}@bench.example"])


def build_synthetic_index(source: SqliteStore, data_dir: Path, size: int) -> dict[str, Any]:
    rng = random.Random(7)
    nprng = np.random.default_rng(7)
    model = source.embedding_model()
    assert model is not None, "ingest SciFact first (phase ingest)"
    texts: list[str] = []
    vectors: list[np.ndarray] = []
    matrix = source._current_matrix(model[2])  # noqa: SLF001 - bench reads the source index
    found = source.fetch([int(i) for i in matrix.chunk_ids], _any_principal(source))
    for row, chunk_id in enumerate(matrix.chunk_ids):
        if int(chunk_id) in found:
            texts.append(found[int(chunk_id)][0].text)
            vectors.append(matrix.matrix[row])
    shutil.rmtree(data_dir, ignore_errors=True)
    store = SqliteStore(data_dir)
    store.bind_embedding_model(*model)
    for d in range(size // CHUNKS_PER_DOC):
        acl = _acl(rng)
        chunks, vecs, body = [], [], []
        offset = 0
        for o in range(CHUNKS_PER_DOC):
            a, b = rng.randrange(len(texts)), rng.randrange(len(texts))
            sentences = _SENTENCE.split(texts[a])[:3] + _SENTENCE.split(texts[b])[-3:]
            text = " ".join(sentences)
            chunks.append(Chunk(f"syn:{d}#{o}", f"doc-{d}", o, text, offset, offset + len(text)))
            body.append(text)
            offset += len(text) + 2
            v = vectors[a] + nprng.normal(0, 0.02, size=len(vectors[a])).astype(np.float32)
            vecs.append(v / np.linalg.norm(v))
        doc = Document(f"doc-{d}", "synthetic", f"synthetic://{d}", f"Synthetic {d}",
                       f"h{d}", acl, {}, "\n\n".join(body))  # fmt: skip
        store.upsert(doc, chunks, np.stack(vecs), f"f{d}", source_root="synthetic")
    stats = store.stats()
    store.close()
    return {
        "chunks": stats["chunks"],
        "documents": stats["documents"],
        "size_mb": round(stats["size_bytes"] / 1e6, 1),
        "principals": {
            "bench user, no groups": {
                "tenant": "bench",
                "user": "user-1@bench.example",
                "groups": [],
            },
            "bench user, 2 groups": {
                "tenant": "bench",
                "user": "user-2@bench.example",
                "groups": ["group-1", "group-2"],
            },
        },  # fmt: skip
    }


def _any_principal(store: SqliteStore) -> Any:
    from grounded.domain import Principal

    tenant = store.list_documents(None)[0].acl.tenant
    return Principal.of(tenant)

"""SIGKILL during `grounded ingest` never leaves a half-written document, and a rerun resumes.

A corpus of a few thousand Markdown files is ingested once in-process into a
reference index. Then a real `grounded ingest` process is started on a second
data dir and killed at a random moment, four times in a row, each run resuming
the last. After every kill the index must be consistent and every document in
it must be exactly what a clean ingest makes of that file; a last, unkilled run
must end with the reference index.

The kill moments come from `random.Random(SEED)` scaled by the measured duration
of the reference run, so a slower (busy) machine only moves the kills earlier
in the work, never past its end.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grounded.domain import Principal
from grounded.index.sqlite import SqliteStore

from .helpers import GROUNDED, cli_env, grounded, hash_runtime, ingest, orphan_counts

SEED = 1729
DOCUMENTS = 4000
KILLS = 4
SAMPLE = 80  # documents whose chunks are compared span by span after each kill
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]

Span = tuple[int, int, str]


def vocabulary(rng: random.Random, size: int = 2000) -> list[str]:
    words = {"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


def write_corpus(root: Path, rng: random.Random) -> None:
    """DOCUMENTS Markdown files in 40 folders, 2–6 sections of one paragraph each."""
    words = vocabulary(rng)
    for i in range(DOCUMENTS):
        folder = root / f"team{i % 40:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        sections = []
        for s in range(rng.randint(2, 6)):
            sentence = " ".join(rng.choices(words, k=rng.randint(40, 80)))
            sections.append(f"## Part {s} {rng.choice(words)}\n\n{sentence.capitalize()}.\n")
        (folder / f"note{i:05d}.md").write_text(f"# Note {i}\n\n" + "\n".join(sections))


@dataclass(frozen=True)
class Reference:
    """What a clean ingest makes of each file: content hash and chunk spans."""

    docs: dict[str, tuple[str, list[Span]]]
    seconds: float

    @property
    def chunks(self) -> int:
        return sum(len(spans) for _, spans in self.docs.values())


def snapshot(store: SqliteStore) -> dict[str, tuple[str, list[Span]]]:
    return {
        d.doc_id: (d.content_hash, [(c.start, c.end, c.text) for c in store.chunks_of(d)])
        for d in store.list_documents(None)
    }


def build_reference(corpus: Path, data_dir: Path) -> Reference:
    rt = hash_runtime(data_dir)
    try:
        started = time.perf_counter()
        report = ingest(rt, corpus)
        seconds = time.perf_counter() - started
        assert report.added == DOCUMENTS and report.failed == 0
        return Reference(snapshot(rt.store), seconds)
    finally:
        rt.close()


def check_index(data_dir: Path, ref: Reference, rng: random.Random) -> dict[str, str]:
    """Assert the index is consistent and holds only whole, correct documents; doc → hash."""
    assert orphan_counts(data_dir) == {"chunks without document": 0, "vectors without chunk": 0}
    rt = hash_runtime(data_dir)
    try:
        store = rt.store
        assert store.consistency_problems() == []
        present = {d.doc_id: d.content_hash for d in store.list_documents(None)}
        assert set(present) <= set(ref.docs)
        assert all(h == ref.docs[doc][0] for doc, h in present.items())
        stats = store.stats()
        expected_chunks = sum(len(ref.docs[doc][1]) for doc in present)
        assert stats["chunks"] == stats["vectors"] == expected_chunks
        for doc_id in rng.sample(sorted(present), min(SAMPLE, len(present))):
            doc = store.get_document(doc_id, None)
            assert doc is not None
            spans = [(c.start, c.end, c.text) for c in store.chunks_of(doc)]
            assert spans == ref.docs[doc_id][1], doc_id
        query = next(iter(ref.docs.values()))[1][0][2].split()[5]
        results = rt.retriever.search(query, Principal.of("acme"), k=20).results
        assert {r.document.doc_id for r in results} <= set(present)
        assert bool(results) == bool(present)
        return present
    finally:
        rt.close()


def startup_seconds(tmp_path: Path) -> float:
    """How long the CLI takes to start and open an index, before any ingesting."""
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    started = time.perf_counter()
    result = grounded("--data-dir", tmp_path / "probe", "ingest", empty, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return time.perf_counter() - started


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_whole_documents_and_resumes(tmp_path: Path) -> None:
    print(f"crash-safety seed: {SEED}")
    rng = random.Random(SEED)
    corpus = tmp_path / "corpus"
    write_corpus(corpus, rng)
    ref = build_reference(corpus, tmp_path / "reference")
    startup = startup_seconds(tmp_path)
    print(f"reference: {len(ref.docs)} docs, {ref.chunks} chunks in {ref.seconds:.1f}s")

    data = tmp_path / "data"
    command = [GROUNDED, "--data-dir", data, "ingest", corpus, "--collection", "c"]
    command += ["--tenant", "acme"]
    present: dict[str, str] = {}
    mid_way = 0
    for kill in range(1, KILLS + 1):
        remaining = 1 - len(present) / len(ref.docs)
        delay = startup + rng.uniform(0.1, 0.8) * ref.seconds * remaining
        with (tmp_path / f"run{kill}.log").open("w") as log:
            proc = subprocess.Popen(
                command, cwd=tmp_path, env=cli_env(), stdout=log, stderr=subprocess.STDOUT
            )
            time.sleep(delay)
            finished = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert not finished or proc.returncode == 0, (tmp_path / f"run{kill}.log").read_text()
        present = check_index(data, ref, rng)
        mid_way += not finished and len(present) < len(ref.docs)
        state = "finished before the kill" if finished else "killed"
        print(f"run {kill}: {state} after {delay:.2f}s with {len(present)} docs indexed")
    assert mid_way, "no kill landed mid-ingest; the test proved nothing"

    final = subprocess.run(
        [*command, "--json"], cwd=tmp_path, env=cli_env(), capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout)
    assert report["unchanged"] == len(present), "documents of killed runs are not redone"
    assert report["added"] == len(ref.docs) - len(present)
    assert (report["updated"], report["deleted"], report["failed"]) == (0, 0, 0)
    present = check_index(data, ref, rng)
    store = SqliteStore(data)
    try:
        stats = store.stats()
    finally:
        store.close()
    assert (stats["documents"], stats["chunks"]) == (len(ref.docs), ref.chunks)
    assert set(present.items()) == {(doc, h) for doc, (h, _) in ref.docs.items()}

"""Incremental ingestion, end to end: what each kind of change to a folder costs and does.

Every test starts from a folder of generated Markdown and text files (nested
folders, one ACL sidecar) ingested once with the hash embedder, changes it the
way a user would, ingests again and checks the run report, what was sent to the
embedding model, what search shows, and the store's invariants.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF

from grounded.domain import Acl, Principal
from grounded.ingest.pipeline import IngestReport
from grounded.ingest.sources import (
    FailedItem,
    Loaded,
    SkippedFile,
    Source,
    SourceItem,
    open_source,
)
from grounded.runtime import Runtime

from .helpers import grounded, hash_runtime, ingest, ok_json

ACME = Principal.of("acme", "alice@acme.example", ["staff"])
FINANCE = Principal.of("acme", "fred@acme.example", ["staff", "finance"])
AUDIT = Principal.of("acme", "ann@acme.example", ["staff", "audit"])

# path → (title, {heading: paragraph}); each section is small enough to be one chunk,
# and every paragraph holds a word found nowhere else in the corpus.
CORPUS: dict[str, tuple[str, dict[str, str]]] = {
    "guides/onboarding.md": (
        "Onboarding guide",
        {
            "Laptop": "New staff collect a laptop from the service desk on day one. "
            "Ask for the laptopzeta image if you work in engineering.",
            "Badge": "Your building badge opens the front door and the garage. "
            "Lost badges are replaced by reception within badgeomega hours.",
            "Payroll": "Payroll runs on the last working day of the month. "
            "Send bank details through the payrollkappa form before the 20th.",
            "Mentor": "Every new joiner is paired with a mentor for the first quarter. "
            "Mentors meet their mentee weekly in the mentorsigma room.",
        },
    ),
    "guides/finance/expenses.md": (
        "Expense rules",
        {
            "Meals": "Meals on business trips are reimbursed up to a daily limit. "
            "Keep receipts for the mealrho audit.",
            "Hotels": "Book hotels through the travel portal at the negotiated rate. "
            "Exceptions need the hoteltau approval.",
            "Mileage": "Private car mileage is paid per kilometre driven. "
            "Log trips in the mileagephi sheet.",
        },
    ),
    "notes/legacy.md": (
        "Legacy archive",
        {
            "Tapes": "Old backups live on tapes in the basement vault obsoletequux.",
            "Retention": "Tapes are kept for seven years and then shredded by retentionchi.",
        },
    ),
    "policies/security.md": (
        "Security policy",
        {
            "Passwords": "Passwords are rotated every ninety days via rotatekeys.",
            "Phishing": "Report phishing mails with the phishbutton in the mail client.",
        },
    ),
}
TRAVEL_TXT = "Travel notes for the Munich office.\n\nTrains leave from platform travelxi.\n"
TOTAL_CHUNKS = sum(len(sections) for _, sections in CORPUS.values()) + 1  # + travel.txt


def markdown(title: str, sections: dict[str, str]) -> str:
    body = "".join(f"## {heading}\n\n{para}\n\n" for heading, para in sections.items())
    return f"# {title}\n\n{body}"


def write_corpus(root: Path) -> None:
    for rel, (title, sections) in CORPUS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(title, sections), encoding="utf-8")
    (root / "guides/finance/expenses.md.acl.yaml").write_text("allow_groups: [finance]\n")
    (root / "notes/travel.txt").write_text(TRAVEL_TXT, encoding="utf-8")


class CountingSource:
    """Wraps a source and records which documents the pipeline actually parsed."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.parsed: list[str] = []

    @property
    def source_root(self) -> str:
        return self.inner.source_root

    @property
    def skipped(self) -> list[SkippedFile]:
        return self.inner.skipped

    def items(self) -> Iterator[SourceItem | FailedItem]:
        for item in self.inner.items():
            yield item if isinstance(item, FailedItem) else replace(item, load=self._count(item))

    def _count(self, item: SourceItem) -> Callable[[], Loaded]:
        def load() -> Loaded:
            self.parsed.append(item.doc_id)
            return item.load()

        return load


@dataclass
class Indexed:
    rt: Runtime
    corpus: Path
    first: IngestReport
    parsed: list[str] = field(default_factory=list)  # documents parsed by the last run

    def run(self) -> IngestReport:
        source = CountingSource(open_source(self.corpus, "auto", max_file_bytes=10**8))
        report = self.rt.ingestor().run(source, collection="c", acl=Acl.of("acme"))
        self.parsed = sorted(source.parsed)
        assert self.rt.store.consistency_problems() == []
        return report

    def docs(self, query: str, who: Principal = ACME, mode: str = "hybrid") -> set[str]:
        results = self.rt.retriever.search(query, who, k=20, mode=mode).results
        return {r.document.doc_id for r in results}

    def doc_ids(self) -> set[str]:
        return {d.doc_id for d in self.rt.store.list_documents(None)}

    def counts(self) -> tuple[int, int, int]:
        stats = self.rt.store.stats()
        return stats["documents"], stats["chunks"], stats["vectors"]


@pytest.fixture
def indexed(tmp_path: Path) -> Iterator[Indexed]:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    rt = hash_runtime(tmp_path / "data")
    first = ingest(rt, corpus)
    assert rt.store.consistency_problems() == []
    yield Indexed(rt, corpus, first)
    rt.close()


def counts_of(report: IngestReport) -> tuple[int, int, int, int, int]:
    return report.added, report.updated, report.unchanged, report.deleted, report.failed


def test_first_run_embeds_every_chunk_once(indexed: Indexed) -> None:
    r = indexed.first
    assert counts_of(r) == (5, 0, 0, 0, 0)
    assert r.embedded == r.chunks_written == TOTAL_CHUNKS
    assert r.cache_hits == 0
    store = indexed.rt.store
    for rel, (_, sections) in CORPUS.items():  # the premise of the counts below
        assert len(store.chunks_of(store.get_document(rel, None))) == len(sections)
    assert indexed.counts() == (5, TOTAL_CHUNKS, TOTAL_CHUNKS)
    assert indexed.docs("laptopzeta", mode="bm25") == {"guides/onboarding.md"}


def test_unchanged_and_touched_files_are_skipped_before_parsing(indexed: Indexed) -> None:
    for touched in (False, True):
        if touched:  # new mtime, same bytes
            later = time.time() + 3600
            for path in indexed.corpus.rglob("*"):
                os.utime(path, (later, later))
        r = indexed.run()
        assert counts_of(r) == (0, 0, 5, 0, 0)
        assert (r.embedded, r.cache_hits, r.chunks_written) == (0, 0, 0)
        assert indexed.parsed == []
        assert indexed.counts() == (5, TOTAL_CHUNKS, TOTAL_CHUNKS)


def test_added_file_embeds_only_its_own_chunks(indexed: Indexed) -> None:
    sections = {"Parking": "Visitor parking is on level two, ask for a parkingmu ticket."}
    (indexed.corpus / "guides/parking.md").write_text(markdown("Parking", sections))
    r = indexed.run()
    assert counts_of(r) == (1, 0, 5, 0, 0)
    assert indexed.parsed == ["guides/parking.md"]
    assert r.embedded == r.chunks_written == 1
    assert indexed.docs("parkingmu", mode="bm25") == {"guides/parking.md"}
    assert indexed.counts() == (6, TOTAL_CHUNKS + 1, TOTAL_CHUNKS + 1)


def test_edited_paragraph_is_the_only_chunk_embedded(indexed: Indexed) -> None:
    title, sections = CORPUS["guides/onboarding.md"]
    edited = dict(sections, Badge="Badges now come from the security office, ask for badgenew.")
    (indexed.corpus / "guides/onboarding.md").write_text(markdown(title, edited))
    r = indexed.run()
    assert counts_of(r) == (0, 1, 4, 0, 0)
    assert indexed.parsed == ["guides/onboarding.md"]
    assert r.embedded == 1, "only the edited section's chunk is new text"
    assert r.cache_hits == 3 and r.chunks_written == 4
    assert indexed.docs("badgenew", mode="bm25") == {"guides/onboarding.md"}
    assert indexed.docs("badgeomega", mode="bm25") == set()
    assert indexed.counts() == (5, TOTAL_CHUNKS, TOTAL_CHUNKS)


def test_renamed_file_is_one_delete_and_one_add_served_from_the_cache(indexed: Indexed) -> None:
    old, new = indexed.corpus / "policies/security.md", indexed.corpus / "policies/infosec.md"
    old.rename(new)
    r = indexed.run()
    assert counts_of(r) == (1, 0, 4, 1, 0)
    assert indexed.parsed == ["policies/infosec.md"]
    assert r.embedded == 0 and r.cache_hits == r.chunks_written == 2
    assert "policies/security.md" not in indexed.doc_ids()
    assert indexed.docs("rotatekeys", mode="bm25") == {"policies/infosec.md"}
    assert indexed.counts() == (5, TOTAL_CHUNKS, TOTAL_CHUNKS)


def test_deleted_file_takes_its_chunks_and_vectors_with_it(indexed: Indexed) -> None:
    (indexed.corpus / "notes/legacy.md").unlink()
    r = indexed.run()
    assert counts_of(r) == (0, 0, 4, 1, 0)
    assert r.embedded == 0 and indexed.parsed == []
    assert "notes/legacy.md" not in indexed.doc_ids()
    assert indexed.docs("obsoletequux", mode="bm25") == set()
    for mode in ("dense", "hybrid"):
        assert "notes/legacy.md" not in indexed.docs("tapes basement vault obsoletequux", mode=mode)
    assert indexed.counts() == (4, TOTAL_CHUNKS - 2, TOTAL_CHUNKS - 2)


def test_acl_sidecar_change_takes_effect_without_embedding(indexed: Indexed) -> None:
    assert indexed.docs("mealrho", FINANCE, "bm25") == {"guides/finance/expenses.md"}
    assert indexed.docs("mealrho", AUDIT, "bm25") == set()
    (indexed.corpus / "guides/finance/expenses.md.acl.yaml").write_text("allow_groups: [audit]\n")
    r = indexed.run()
    assert counts_of(r) == (0, 1, 4, 0, 0)
    assert indexed.parsed == ["guides/finance/expenses.md"]
    assert r.embedded == 0 and r.cache_hits == 3
    assert indexed.docs("mealrho", AUDIT, "bm25") == {"guides/finance/expenses.md"}
    for mode in ("bm25", "dense", "hybrid"):
        assert "guides/finance/expenses.md" not in indexed.docs("mealrho meals", FINANCE, mode)
    doc = indexed.rt.store.get_document("guides/finance/expenses.md", None)
    assert doc is not None and doc.acl.allow_groups == ("audit",)


def test_identical_new_text_in_two_files_is_embedded_once(indexed: Indexed) -> None:
    """The cache promises unchanged text is never embedded twice, across documents too."""
    readme = markdown("Readme", {"About": "Shared boilerplate about the readmepsi licence."})
    for folder in ("guides", "notes"):
        (indexed.corpus / folder / "README.md").write_text(readme)
    r = indexed.run()
    assert counts_of(r) == (2, 0, 5, 0, 0)
    assert indexed.parsed == ["guides/README.md", "notes/README.md"]
    assert r.embedded == 1, "one distinct new chunk text was sent to the model twice"


# -- files that fail to load ------------------------------------------------------------------


def pdf_bytes(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_good_pdf_that_becomes_corrupt_keeps_its_last_good_version(indexed: Indexed) -> None:
    pdf = indexed.corpus / "notes/handover.pdf"
    pdf.write_bytes(pdf_bytes("Handover checklist. Return the handoverdelta keys to facilities."))
    assert counts_of(indexed.run()) == (1, 0, 5, 0, 0)
    good = indexed.rt.store.get_document("notes/handover.pdf", None)
    assert good is not None

    pdf.write_bytes(b"%PDF-1.7\n\x00\x13garbage that is not a PDF body\n")
    r = indexed.run()
    assert counts_of(r) == (0, 0, 5, 0, 1)
    assert indexed.parsed == ["notes/handover.pdf"]
    assert [e["source"] for e in r.errors] == [str(pdf)]
    assert r.errors[0]["reason"].strip()
    kept = indexed.rt.store.get_document("notes/handover.pdf", None)
    assert kept is not None and kept.content_hash == good.content_hash
    assert indexed.docs("handoverdelta", mode="bm25") == {"notes/handover.pdf"}


def test_broken_acl_sidecar_keeps_the_last_good_version(indexed: Indexed) -> None:
    """An existing file that fails to load counts as seen (pipeline rule), sidecar or not."""
    sidecar = indexed.corpus / "guides/finance/expenses.md.acl.yaml"
    sidecar.write_text("allow_groups: [finance\n")  # unclosed list: invalid YAML
    r = indexed.run()
    assert r.failed == 1 and r.errors[0]["source"] == str(sidecar)
    assert r.deleted == 0, "a typo in a sidecar must not delete the document from the index"
    doc = indexed.rt.store.get_document("guides/finance/expenses.md", None)
    assert doc is not None and doc.acl.allow_groups == ("finance",)


def cli_ingest(tmp_path: Path, path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = grounded(
        "--data-dir", tmp_path / "data", "ingest", path,
        "--collection", "c", "--tenant", "acme", "--json", *extra,
        cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def test_cli_reports_a_corrupt_file_and_ingests_the_rest(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    (corpus / "bad.pdf").write_bytes(os.urandom(2048))
    code, report, _ = cli_ingest(tmp_path, corpus)
    assert code == 0
    assert report["added"] == 5 and report["failed"] == 1
    [error] = report["errors"]
    assert error["source"] == str(corpus / "bad.pdf") and error["reason"].strip()
    listed = ok_json(
        grounded("--data-dir", tmp_path / "data", "docs", "list", "--json", cwd=tmp_path)
    )
    assert {d["doc_id"] for d in listed} == set(CORPUS) | {"notes/travel.txt"}

    code, report, _ = cli_ingest(tmp_path, corpus, "--strict")
    assert code != 0, "--strict must fail the run when any file failed"
    assert report["failed"] == 1 and report["unchanged"] == 5


def test_cli_fails_when_nothing_could_be_ingested(tmp_path: Path) -> None:
    corpus = tmp_path / "only-bad"
    corpus.mkdir()
    (corpus / "bad.pdf").write_bytes(b"\x00garbage\xff" * 100)
    code, report, _ = cli_ingest(tmp_path, corpus)
    assert code != 0
    assert report["failed"] == 1 and report["added"] == 0


# -- JSONL ----------------------------------------------------------------------------------


def jsonl(records: list[dict[str, object] | str]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


RECORDS: list[dict[str, object] | str] = [
    {"id": "r1", "title": "Open record", "text": "Everyone may read about jsonlalpha.",
     "tenant": "acme", "allow_groups": []},
    '{"id": "r2", "title": "Broken", "text": "never closed',
    {"id": "r3", "title": "HR record", "text": "Only hr reads about jsonlbeta.",
     "tenant": "acme", "allow_groups": ["hr"]},
    {"id": "r4", "title": "No text", "tenant": "acme", "allow_groups": []},
    {"id": "r5", "title": "Globex record", "text": "Globex staff read about jsonlgamma.",
     "tenant": "globex", "allow_groups": []},
]  # fmt: skip


def test_jsonl_reports_bad_lines_and_ingests_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(jsonl(RECORDS))
    code, report, _ = cli_ingest(tmp_path, path, "--format", "jsonl")
    assert code == 0
    assert (report["added"], report["failed"]) == (3, 2)
    errors = {e["source"]: e["reason"] for e in report["errors"]}
    assert set(errors) == {f"{path}:2", f"{path}:4"}
    assert all(errors.values())

    rt = hash_runtime(tmp_path / "data")
    try:
        assert rt.store.consistency_problems() == []

        def found(query: str, who: Principal) -> set[str]:
            results = rt.retriever.search(query, who, k=10, mode="bm25").results
            return {r.document.doc_id for r in results}

        assert found("jsonlalpha", ACME) == {"r1"}
        assert found("jsonlbeta", ACME) == set()
        assert found("jsonlbeta", Principal.of("acme", "h", ["hr"])) == {"r3"}
        assert found("jsonlgamma", ACME) == set()
        assert found("jsonlgamma", Principal.of("globex")) == {"r5"}
    finally:
        rt.close()


def test_jsonl_record_removed_from_the_file_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(jsonl(RECORDS))
    cli_ingest(tmp_path, path)
    path.write_text(jsonl([r for r in RECORDS if not (isinstance(r, dict) and r["id"] == "r3")]))
    code, report, _ = cli_ingest(tmp_path, path)
    assert code == 0
    assert (report["added"], report["updated"], report["deleted"]) == (0, 0, 1)
    assert report["embedded"] == 0
    listed = ok_json(
        grounded("--data-dir", tmp_path / "data", "docs", "list", "--json", cwd=tmp_path)
    )
    assert {d["doc_id"] for d in listed} == {"r1", "r5"}
    rt = hash_runtime(tmp_path / "data")
    try:
        assert rt.store.consistency_problems() == []
        hr = Principal.of("acme", "h", ["hr"])
        assert rt.retriever.search("jsonlbeta", hr, k=10, mode="bm25").results == []
    finally:
        rt.close()


def test_moved_folder_keeps_vectors_from_the_cache(indexed: Indexed) -> None:
    shutil.move(indexed.corpus / "guides", indexed.corpus / "handbook")
    r = indexed.run()
    assert counts_of(r) == (2, 0, 3, 2, 0)
    assert indexed.parsed == ["handbook/finance/expenses.md", "handbook/onboarding.md"]
    assert r.embedded == 0 and r.cache_hits == 7
    assert {d for d in indexed.doc_ids() if d.startswith("handbook/")} == {
        "handbook/onboarding.md",
        "handbook/finance/expenses.md",
    }
    doc = indexed.rt.store.get_document("handbook/finance/expenses.md", None)
    assert doc is not None and doc.acl.allow_groups == ("finance",), "the sidecar moved along"

"""The `grounded` command line as a user runs it: a real process, the bundled sample corpus.

Every command runs as a subprocess of the installed entry point with the hash
embedder (GROUNDED_EMBEDDER__KIND=hash), so exit codes, stdout/stderr and the
absence of tracebacks are what a user would see.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from grounded.ingest.loaders import loader_for_path
from grounded.ingest.sources import SIDECAR_SUFFIX

from .helpers import SAMPLE_CORPUS, cli_env, grounded, hash_runtime, ok_json

STAFF = ("--tenant", "acme", "--as", "alice@acme.example", "--groups", "staff")
HR = ("--tenant", "acme", "--as", "dana@acme.example", "--groups", "staff,hr")
RESTRICTED_QUERIES = [
    "salary bands 2026",
    "executive compensation memo",
    "Project Falcon reorganisation plan",
    "performance calibration guide",
    "penetration test report findings",
    "incident response breach runbook",
    "security exceptions register",
]


def expected_acls() -> dict[str, tuple[list[str], list[str]]]:
    """doc id → (allow_users, allow_groups), read from the corpus's sidecars and front matter."""
    out = {}
    for path in sorted(SAMPLE_CORPUS.rglob("*")):
        if not path.is_file() or path.name.endswith(SIDECAR_SUFFIX) or not loader_for_path(path):
            continue
        acl: dict[str, Any] = {}
        text = path.read_text(errors="ignore") if path.suffix == ".md" else ""
        if text.startswith("---\n"):
            acl.update(yaml.safe_load(text.split("\n---", 1)[0][4:]) or {})
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        if sidecar.exists():
            acl.update(yaml.safe_load(sidecar.read_text()) or {})
        doc_id = path.relative_to(SAMPLE_CORPUS).as_posix()
        out[doc_id] = (sorted(acl.get("allow_users", [])), sorted(acl.get("allow_groups", [])))
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the sample corpus in collection `handbook`, tenant acme."""
    home = tmp_path_factory.mktemp("cli")
    report = ok_json(
        grounded(
            "--data-dir", home / "data", "ingest", SAMPLE_CORPUS,
            "--collection", "handbook", "--tenant", "acme", "--json",
            cwd=home,
        )
    )  # fmt: skip
    assert report["failed"] == 0 and report["added"] == len(expected_acls())
    return home


def cli(home: Path, *args: str | Path, **env: str) -> Any:
    return ok_json(grounded("--data-dir", home / "data", *args, cwd=home, env=cli_env(**env)))


def search(home: Path, query: str, *who: str, k: int = 10) -> list[dict[str, Any]]:
    return cli(home, "search", query, *who, "--k", str(k), "--json")["results"]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ((), ("ingest", "search", "status", "docs", "--data-dir", "--config")),
        (
            ("ingest",),
            ("--tenant", "--collection", "--allow-groups", "--format", "--strict", "--json"),
        ),
        (
            ("search",),
            (
                "--tenant",
                "--as",
                "--groups",
                "--k",
                "--explain",
                "--queries",
                "--run-out",
                "--json",
            ),
        ),
        (("docs", "list"), ("--tenant", "--as", "--groups", "--collection", "--json")),
    ],
)
def test_help_mentions_the_options(
    tmp_path: Path, command: tuple[str, ...], options: tuple[str, ...]
) -> None:
    result = grounded(*command, "--help", cwd=tmp_path, env=cli_env(COLUMNS="200"))
    assert result.returncode == 0, result.stderr
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), option


def test_docs_list_shows_every_document_with_its_acl(sample: Path) -> None:
    listed = cli(sample, "docs", "list", "--json")
    got = {d["doc_id"]: (d["allow_users"], d["allow_groups"]) for d in listed}
    assert got == expected_acls()
    assert {d["collection"] for d in listed} == {"handbook"}
    assert {d["tenant"] for d in listed} == {"acme"}
    restricted = {doc for doc, (users, groups) in got.items() if users or groups}
    assert restricted == {doc for doc in got if doc.startswith(("hr/", "security/"))}


@pytest.mark.parametrize(
    "doc_id",
    [
        "handbook/vacation-and-leave.md",
        "hr/salary-bands-2026.pdf",
        "handbook/parental-leave-policy.docx",
        "it/laptop-setup.html",
        "handbook/munich-office-faq.txt",
    ],
)
def test_docs_show_chunk_spans_are_slices_of_the_text(sample: Path, doc_id: str) -> None:
    shown = cli(sample, "docs", "show", doc_id, "--chunks", "--json")
    text, chunks = shown["text"], shown["chunks"]
    assert shown["doc_id"] == doc_id and text and chunks
    assert [c["ordinal"] for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert 0 <= c["start"] < c["end"] <= len(text)
        assert text[c["start"] : c["end"]] == c["text"]


def test_status_counts_match_the_store(sample: Path) -> None:
    status = cli(sample, "status", "--json")
    rt = hash_runtime(sample / "data")
    try:
        stats = rt.store.stats()
        assert rt.store.consistency_problems() == []
    finally:
        rt.close()
    for key in ("documents", "chunks", "vectors"):
        assert status[key] == stats[key]
    assert status["documents"] == len(expected_acls())
    assert status["chunks"] == status["vectors"] > status["documents"]
    assert status["embedding_model"]["id"] == "hash-256"
    assert status["last_run"]["status"] == "completed"


def test_search_explain_shows_both_retrievers_and_offsets(sample: Path) -> None:
    out = cli(sample, "search", "how many vacation days", *STAFF, "--explain", "--json")
    results = out["results"]
    assert results and [r["rank"] for r in results] == list(range(1, len(results) + 1))
    texts: dict[str, str] = {}
    for r in results:
        ex = r["explain"]
        keys = ("bm25_rank", "bm25_score", "dense_rank", "dense_score", "fused_score")
        assert set(keys) | {"char_start", "char_end"} <= set(ex)
        assert ex["bm25_rank"] is not None or ex["dense_rank"] is not None
        assert (ex["bm25_rank"] is None) == (ex["bm25_score"] is None)
        assert (ex["dense_rank"] is None) == (ex["dense_score"] is None)
        assert ex["fused_score"] == pytest.approx(r["score"], abs=1e-6)
        if r["doc_id"] not in texts:
            texts[r["doc_id"]] = cli(sample, "docs", "show", r["doc_id"], "--json")["text"]
        assert texts[r["doc_id"]][ex["char_start"] : ex["char_end"]] == r["text"]
    assert any(r["explain"]["bm25_rank"] is not None for r in results)
    assert any(r["explain"]["dense_rank"] is not None for r in results)


def docs_per_query(home: Path, queries: list[str], *who: str) -> dict[str, set[str]]:
    """Documents found for each query, in one process via `search --queries --run-out`."""
    path, run = home / "acl-queries.jsonl", home / "acl-run.trec"
    path.write_text(
        "".join(json.dumps({"_id": str(i), "text": q}) + "\n" for i, q in enumerate(queries))
    )
    result = grounded(
        "--data-dir", home / "data", "search", "--queries", path, "--run-out", run,
        "--k", "20", *who, cwd=home,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found: dict[str, set[str]] = {q: set() for q in queries}
    for line in run.read_text().splitlines():
        qid, _, doc_id, *_ = line.split(" ")
        found[queries[int(qid)]].add(doc_id)
    return found


def test_staff_never_see_restricted_documents_and_hr_sees_its_own(sample: Path) -> None:
    acls = expected_acls()
    restricted = {doc for doc, (users, groups) in acls.items() if users or groups}
    hr_may_read = {doc for doc, (_, groups) in acls.items() if "hr" in groups}

    staff_hits = {r["doc_id"] for r in search(sample, "salary bands 2026", *STAFF, k=20)}
    assert staff_hits and not staff_hits & restricted
    for query, found in docs_per_query(sample, RESTRICTED_QUERIES, *STAFF).items():
        assert found, query  # open documents still match
        assert not found & restricted, (query, found & restricted)

    hr_hits = {r["doc_id"] for r in search(sample, "salary bands 2026", *HR, k=10)}
    assert "hr/salary-bands-2026.pdf" in hr_hits
    hr_found = docs_per_query(sample, RESTRICTED_QUERIES, *HR)
    for query, found in hr_found.items():
        assert not found & (restricted - hr_may_read), (query, found & restricted)
    assert set().union(*hr_found.values()) >= hr_may_read


def test_trec_run_file(sample: Path) -> None:
    queries = sample / "queries.jsonl"
    asked = {"q1": "vacation days carry over", "q2": "VPN password reset", "q3": "salary bands"}
    queries.write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in asked.items()))
    run = sample / "run.trec"
    result = grounded(
        "--data-dir", sample / "data", "search", "--queries", queries, "--run-out", run,
        "--k", "5", *STAFF, cwd=sample,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    per_query: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
    for line in run.read_text().splitlines():
        qid, q0, doc_id, rank, score, tag = line.split(" ")
        assert (q0, tag) == ("Q0", "grounded")
        per_query[qid].append((doc_id, int(rank), float(score)))
    assert set(per_query) == set(asked)
    known = set(expected_acls())
    restricted = {doc for doc, (users, groups) in expected_acls().items() if users or groups}
    for qid, rows in per_query.items():
        docs = [doc for doc, _, _ in rows]
        assert 1 <= len(rows) <= 5, qid
        assert [rank for _, rank, _ in rows] == list(range(1, len(rows) + 1)), qid
        assert len(set(docs)) == len(docs), f"{qid}: a document appears twice"
        assert set(docs) <= known - restricted
        scores = [score for _, _, score in rows]
        assert scores == sorted(scores, reverse=True), qid


def test_docs_delete_removes_the_document(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok_json(grounded("--data-dir", data, "ingest", SAMPLE_CORPUS / "it", "--json", cwd=tmp_path))
    before = cli(tmp_path, "status", "--json")
    doc_id = "vpn-password-reset.md"
    chunks = len(cli(tmp_path, "docs", "show", doc_id, "--chunks", "--json")["chunks"])
    result = grounded("--data-dir", data, "docs", "delete", doc_id, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert doc_id not in {d["doc_id"] for d in cli(tmp_path, "docs", "list", "--json")}
    after = cli(tmp_path, "status", "--json")
    assert after["documents"] == before["documents"] - 1
    assert after["chunks"] == after["vectors"] == before["chunks"] - chunks
    found = {r["doc_id"] for r in search(tmp_path, "VPN password reset", "--tenant", "default")}
    assert doc_id not in found
    assert grounded("--data-dir", data, "docs", "show", doc_id, cwd=tmp_path).returncode != 0
    rt = hash_runtime(data)
    try:
        assert rt.store.consistency_problems() == []
    finally:
        rt.close()


ERRORS = [
    pytest.param(("search", "vacation"), {}, ["--tenant"], id="search-without-tenant"),
    pytest.param(("ingest", SAMPLE_CORPUS, "--format", "bogus"), {}, ["bogus"], id="bad-format"),
    pytest.param(("ingest", "no/such/folder"), {}, ["no/such/folder"], id="missing-path"),
    pytest.param(("--config", "missing.yaml", "status"), {}, ["missing.yaml"], id="missing-config"),
    pytest.param(
        ("search", "vacation", "--tenant", "acme"),
        {"GROUNDED_CHUNKING__MAX_TOKENS": "3"},
        ["max_tokens"],
        id="invalid-config-value",
    ),
    pytest.param(
        ("search", "vacation", "--tenant", "acme"),
        {"GROUNDED_EMBEDDER__DIM": "128"},
        ["hash-256", "hash-128"],
        id="embedding-model-mismatch",
    ),
    pytest.param(("docs", "show", "missing-id"), {}, ["missing-id"], id="missing-document"),
]


@pytest.mark.parametrize(("args", "env", "names"), ERRORS)
def test_expected_errors_are_one_line_without_traceback(
    sample: Path, args: tuple[str | Path, ...], env: dict[str, str], names: list[str]
) -> None:
    result = grounded("--data-dir", sample / "data", *args, cwd=sample, env=cli_env(**env))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for name in names:
        assert name in lines[0]


def test_embedding_model_mismatch_suggests_options_that_exist(sample: Path) -> None:
    """The message says how to fix it; following that advice must not hit 'No such option'."""
    env = cli_env(GROUNDED_EMBEDDER__DIM="128")
    result = grounded(
        "--data-dir", sample / "data", "search", "vacation", "--tenant", "acme", cwd=sample, env=env
    )
    assert result.returncode != 0
    suggested = re.findall(r"`grounded (\w+)[^`]*?((?:--[\w-]+\s*)+)`", result.stderr)
    help_text = {}
    for command, flags in suggested:
        if command not in help_text:
            help_text[command] = grounded(command, "--help", cwd=sample, env=cli_env(COLUMNS="200"))
        for flag in flags.split():
            assert flag in help_text[command].stdout, (
                f"the error advises `grounded {command} ... {flag}`, which has no such option"
            )

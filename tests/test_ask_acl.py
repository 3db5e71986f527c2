"""A restricted document never appears in, or changes, an answer for a principal without access.

The sample corpus is indexed twice: with its restricted documents (hr/, security/)
and without them. For a principal who may not read them, every answer must be
the same in both indexes — same status, same text, same citations — and none
may cite a restricted document. A principal who may read them does get them.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from grounded.config import load_settings
from grounded.domain import Principal
from grounded.features.answer import ask_json
from grounded.runtime import Runtime
from tests.helpers import SAMPLE_CORPUS, ingest

ALICE = Principal.of("acme", "alice@acme.example", ["staff"])
DANA = Principal.of("acme", "dana@acme.example", ["staff", "hr"])
RESTRICTED = ("hr", "security")
QUESTIONS = [
    "What are the 2026 salary bands for a senior engineer?",
    "When was the Project Falcon reorganisation plan approved?",
    "What did the 2025 penetration test find?",
    "How does performance calibration work in 2026?",
    "What is in the executive compensation memo?",
    "How do I respond to a data breach?",
    "How many unused vacation days can I carry over?",
    "What is the hotel cap per night in London?",
    "How do I reset my VPN password?",
]


def _index(corpus: Path, data: Path) -> Runtime:
    rt = Runtime(load_settings(data_dir=data, embedder={"kind": "hash"}))
    ingest(rt, corpus, collection="handbook")
    return rt


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("acl")
    public = root / "public-corpus"
    shutil.copytree(SAMPLE_CORPUS, public)
    for folder in RESTRICTED:
        shutil.rmtree(public / folder)
    full, without = _index(SAMPLE_CORPUS, root / "full"), _index(public, root / "public")
    yield full, without
    full.close()
    without.close()


def _answer(rt: Runtime, question: str, principal: Principal) -> dict[str, Any]:
    body = ask_json(asyncio.run(rt.asker.ask(question, principal)))
    return {
        "status": body["status"],
        "answer": body["answer"],
        "citations": [(c["doc_id"], c["char_start"], c["char_end"]) for c in body["citations"]],
    }


@pytest.mark.parametrize("question", QUESTIONS)
def test_restricted_documents_neither_appear_in_nor_change_answers(
    indexes: tuple[Runtime, Runtime], question: str
) -> None:
    full, without = indexes
    with_docs = _answer(full, question, ALICE)
    assert with_docs == _answer(without, question, ALICE)
    assert not any(doc.startswith(RESTRICTED) for doc, _, _ in with_docs["citations"])


def test_a_principal_with_access_is_answered_from_them(indexes: tuple[Runtime, Runtime]) -> None:
    full, _ = indexes
    answer = _answer(full, "When was the Project Falcon reorganisation plan approved?", DANA)
    assert answer["status"] == "answered_extractive"
    assert any(doc.startswith("hr/") for doc, _, _ in answer["citations"])

"""`grounded ask` against a real OpenAI-compatible server (llama_cpp.server with SmolLM2-135M).

A 135M model rarely writes a perfectly cited answer; the point is the opposite
guarantee: whatever it writes, the user sees a verified answer, the extractive
answer, or the refusal — never an unverified claim.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from grounded.config import load_settings
from grounded.domain import Principal
from grounded.features.answer import REFUSAL, AskResult
from grounded.guards.citations import parse_answer
from grounded.runtime import Runtime
from tests.conftest import LlamaServer
from tests.helpers import SAMPLE_CORPUS, ingest

pytestmark = pytest.mark.slow

ALICE = Principal.of("acme", "alice@acme.example", ["staff"])
QUESTIONS = [
    json.loads(line)["text"]
    for line in (SAMPLE_CORPUS.parent / "scripts" / "sample-queries.jsonl")
    .read_text()
    .splitlines()[:8]
]
QUESTIONS += ["What is the capital of Mongolia?", "What are the 2026 salary bands for engineers?"]


@pytest.fixture(scope="module")
def runtime(llama_server: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ask-llm")
    settings = load_settings(
        data_dir=data,
        embedder={"kind": "hash"},
        models={
            "smol": {
                "provider": "openai_compatible",
                "base_url": llama_server.base_url,
                "model": llama_server.model,
                "context_window": 2048,
                "json_schema_mode": "json_object",
            }
        },
        apps={"llm": {"answer_mode": "generative", "route": "smol", "context_tokens": 900}},
        gateway={"cache": {"enabled": False}},  # every question reaches the model
    )
    rt = Runtime(settings)
    ingest(rt, SAMPLE_CORPUS, collection="handbook")
    yield rt
    rt.close()


def _never_unverified(result: AskResult, rt: Runtime) -> None:
    if result.status == "refused":
        assert result.answer == REFUSAL and not result.citations
        return
    assert result.status in ("answered", "answered_extractive"), result.status
    assert result.verification and all(v.supported for v in result.verification)
    cited = {c.marker for c in result.citations}
    for sentence in parse_answer(result.answer, cited):
        assert not sentence.invalid
    for c in result.citations:
        doc = rt.store.get_document(c.source.document.doc_id, None)
        assert doc is not None and doc.text[c.start : c.end] == c.quote


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_answer_is_verified_extractive_or_refused(runtime: Runtime, question: str) -> None:
    result = asyncio.run(runtime.asker.ask(question, ALICE, "llm"))
    _never_unverified(result, runtime)
    if result.status != "refused" or result.model:
        assert result.prompt is not None and result.prompt[0] == "answer"
    assert "hr/" not in json.dumps([c.source.document.source_uri for c in result.citations])


def test_the_context_never_exceeds_the_models_window(runtime: Runtime) -> None:
    """context_tokens 900 is more than the window leaves; the budget shrinks to fit."""
    runtime.settings.apps["llm"].context_tokens = 4000
    try:
        result = asyncio.run(runtime.asker.ask(QUESTIONS[0], ALICE, "llm"))
    finally:
        runtime.settings.apps["llm"].context_tokens = 900
    assert result.model == "smol", result.message  # the server accepted the prompt
    assert 0 < result.usage.input_tokens <= 2048 - 300

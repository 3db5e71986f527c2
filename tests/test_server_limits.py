"""Limits of the HTTP service: request rate and token budget per key (429 + Retry-After),
body size, the request deadline, and model slots that keep a hanging model from
blocking other requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from grounded.domain import ChatResponse, Usage
from grounded.server.auth import SERVICE_DB, KeyStore
from grounded.testing.scripted import Delay, ScriptedChatModel
from tests.server_support import (
    app_with,
    bearer,
    copy_index,
    settings_for,
)

VACATION = "How many vacation days carry over?"
CITED = "Up to 5 unused vacation days carry over to the next calendar year [S1]."


@pytest.fixture
def data(service_index: Path, tmp_path: Path) -> Path:
    return copy_index(service_index, tmp_path / "data")


def key(data: Path, **limits: Any) -> str:
    store = KeyStore(data / SERVICE_DB)
    try:
        return store.create("acme", "alice@acme.example", ["staff"], **limits)[0]
    finally:
        store.close()


@pytest.fixture
def client(data: Path) -> Iterator[TestClient]:
    with TestClient(app_with(settings_for(data, max_body_mb=1))) as c:
        yield c


def test_the_request_rate_is_enforced_per_key_with_retry_after(
    client: TestClient, data: Path
) -> None:
    limited, other = key(data, rate="3/min"), key(data)
    codes = [
        client.post("/v1/search", json={"query": "vpn"}, headers=bearer(limited)).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    r = client.get("/v1/documents", headers=bearer(limited))
    assert r.status_code == 429 and r.json()["type"] == "urn:grounded:problem:rate-limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert "3/min" in r.json()["detail"]
    # Another key is not affected.
    assert client.get("/v1/documents", headers=bearer(other)).status_code == 200
    assert 'grounded_limit_rejections_total{limit="rate"} 2.0' in client.get("/metrics").text


def test_the_daily_token_budget_is_enforced_with_retry_after(data: Path) -> None:
    usage = Usage(input_tokens=900, output_tokens=200)
    model = ScriptedChatModel(default=ChatResponse(text=CITED, model="scripted", usage=usage))
    budget = key(data, tokens="1000/day")
    with TestClient(app_with(settings_for(data), model)) as c:
        first = c.post("/v1/ask", json={"question": VACATION, "app": "gen"}, headers=bearer(budget))
        assert first.status_code == 200 and first.json()["usage"]["input_tokens"] == 900
        second = c.post(
            "/v1/ask", json={"question": VACATION, "app": "gen"}, headers=bearer(budget)
        )
        assert second.status_code == 429, second.text
        assert second.json()["type"] == "urn:grounded:problem:token-budget-exhausted"
        assert 0 < int(second.headers["retry-after"]) <= 86_400
        streamed = c.post(
            "/v1/ask?stream=true", json={"question": VACATION, "app": "gen"}, headers=bearer(budget)
        )
        assert streamed.status_code == 429  # refused before the stream starts
        metrics = c.get("/metrics").text
        assert 'grounded_llm_tokens_total{direction="input",model="scripted"} 900.0' in metrics
        assert 'grounded_llm_circuit_state{model="scripted"} 0.0' in metrics
        assert 'grounded_limit_rejections_total{limit="tokens"} 2.0' in metrics
        # Extractive answers use no model tokens, so they go on.
        assert (
            c.post("/v1/ask", json={"question": VACATION}, headers=bearer(budget)).status_code
            == 200
        )
    assert len(model.requests) == 1


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient, data: Path) -> None:
    alice = key(data)
    big = b"# Big\n\n" + b"word " * 300_000  # 1.5 MB, over the 1 MB limit of this server
    r = client.post("/v1/documents", files={"file": ("big.md", big)}, headers=bearer(alice))
    assert r.status_code == 413 and r.json()["type"] == "urn:grounded:problem:payload-too-large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"question": "'
        for _ in range(200):
            yield b"x" * 10_000
        yield b'"}'

    r = client.post(
        "/v1/ask",
        content=chunked(),
        headers={**bearer(alice), "content-type": "application/json"},
    )
    assert r.status_code == 413
    docs = client.get("/v1/documents", headers=bearer(alice)).json()["documents"]
    assert not any(d["title"] == "Big" for d in docs)


def test_a_hanging_model_does_not_block_other_requests(data: Path) -> None:
    """One generative answer hangs: it holds the only model slot until the model's share of
    the deadline, then falls back to the extractive answer; meanwhile a second generative
    answer gets 503 quickly, and searches and extractive answers go on."""
    hang = ScriptedChatModel(default=Delay(3600, CITED))
    settings = settings_for(data, max_model_calls=1, model_wait_s=0.3, request_timeout_s=3)
    app = app_with(settings, hang)
    alice = bearer(key(data))

    async def scenario() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as c:
            started = time.perf_counter()
            hanging = asyncio.create_task(
                c.post("/v1/ask", json={"question": VACATION, "app": "gen"}, headers=alice)
            )
            await asyncio.sleep(0.3)  # it now holds the slot
            t = time.perf_counter()
            search = await c.post("/v1/search", json={"query": "vpn"}, headers=alice)
            extractive = await c.post("/v1/ask", json={"question": VACATION}, headers=alice)
            others_s = time.perf_counter() - t
            busy = await c.post("/v1/ask", json={"question": VACATION, "app": "gen"}, headers=alice)
            hung = await hanging
            return {
                "search": search.status_code,
                "extractive": extractive.status_code,
                "others_s": others_s,
                "busy": busy,
                "hung": hung,
                "hung_s": time.perf_counter() - started,
            }

    got = asyncio.run(scenario())
    assert got["search"] == 200 and got["extractive"] == 200
    assert got["others_s"] < 2.0  # served while the model hangs
    assert got["busy"].status_code == 503 and got["busy"].headers["retry-after"]
    assert got["busy"].json()["type"] == "urn:grounded:problem:overloaded"
    hung = got["hung"].json()
    assert got["hung"].status_code == 200, got["hung"].text
    assert hung["status"] == "answered_extractive" and "deadline" in hung["message"]
    assert 2.0 < got["hung_s"] < 3.0  # 80% of the 3 s deadline, then the fallback


def test_a_request_past_its_deadline_is_a_timeout_problem(data: Path) -> None:
    """Work that is not a model call (here retrieval) is bounded by the request deadline."""
    settings = settings_for(data, request_timeout_s=0.0001)
    with TestClient(app_with(settings)) as c:
        r = c.post("/v1/ask", json={"question": VACATION}, headers=bearer(key(data)))
        metrics = c.get("/metrics").text
    assert r.status_code == 504, r.text
    assert r.json()["type"] == "urn:grounded:problem:timeout"
    assert 'grounded_limit_rejections_total{limit="deadline"} 1.0' in metrics

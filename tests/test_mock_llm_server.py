"""The mock LLM server itself: its answers must be valid, its faults exact, its process usable."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import jsonschema
import pytest

from grounded.testing.mock_llm_server import Fault, MockLLMServer
from grounded.testing.mock_llm_wire import minimal_instance


@pytest.fixture(autouse=True)
def _fresh(mock_llm: MockLLMServer) -> None:
    mock_llm.reset()


SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
    {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 3},
            "x": {"type": "number", "exclusiveMinimum": 0.5},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 10}, "minItems": 2},
            "kind": {"enum": ["b", "c"]},
            "maybe": {"type": ["null", "string"], "maxLength": 3},
            "nested": {"$ref": "#/$defs/inner"},
            "choice": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "fixed": {"const": 7},
        },
        "required": ["n", "x", "ok", "tags", "kind", "maybe", "nested", "choice", "fixed"],
        "additionalProperties": False,
        "$defs": {
            "inner": {"type": "object", "properties": {"v": {"type": "null"}}, "required": ["v"]}
        },
    },
    {"type": "array", "items": {"type": "integer", "maximum": -5}, "minItems": 1},
    {"type": "string", "minLength": 12},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_minimal_instances_are_valid(schema: dict[str, Any]) -> None:
    jsonschema.validate(minimal_instance(schema), schema)


def test_faults_apply_one_per_request_in_order(mock_llm: MockLLMServer) -> None:
    mock_llm.faults.extend([Fault.status(503), Fault.status(429, retry_after=1.5)])
    url = mock_llm.base_url + "/chat/completions"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client() as client:
        statuses = [client.post(url, json=body) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 429, 200]
    assert statuses[1].headers["retry-after"] == "1.5"
    assert statuses[1].json()["error"]["message"] == "mock fault: HTTP 429"
    assert len(mock_llm.requests) == 3 and mock_llm.faults == []


def test_a_callable_reply_sees_the_request(mock_llm: MockLLMServer) -> None:
    mock_llm.reply = lambda body: f"you said {body['messages'][-1]['content']}"
    response = httpx.post(
        mock_llm.base_url + "/chat/completions",
        json={"messages": [{"role": "user", "content": "ping"}]},
    )
    assert response.json()["choices"][0]["message"]["content"] == "you said ping"


def test_anthropic_errors_use_anthropics_format(mock_llm: MockLLMServer) -> None:
    mock_llm.faults.append(Fault.status(529))
    response = httpx.post(mock_llm.anthropic_url + "/v1/messages", json={"messages": []})
    assert response.status_code == 529
    assert response.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "mock fault: HTTP 529"},
    }


def test_unknown_routes_are_404_and_models_are_listed(mock_llm: MockLLMServer) -> None:
    assert httpx.post(mock_llm.base_url + "/completions", json={}).status_code == 404
    models = httpx.get(mock_llm.base_url + "/models").json()
    assert models["data"][0]["id"] == "mock-model"


def test_reset_forgets_everything(mock_llm: MockLLMServer) -> None:
    httpx.get(mock_llm.base_url + "/models")
    mock_llm.faults.append(Fault.drop())
    mock_llm.reply, mock_llm.report_usage = "other", False
    mock_llm.reset()
    assert (mock_llm.faults, mock_llm.requests) == ([], [])
    assert (mock_llm.reply, mock_llm.report_usage) == ("Hello from the mock server.", True)


@pytest.mark.slow
def test_runs_as_a_process_for_benchmarks() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "grounded.testing.mock_llm_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json={"messages": [{"role": "user", "content": "hi"}]},
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.05)
        assert response.json()["choices"][0]["message"]["content"] == "Hello from the mock server."
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert b"Traceback" not in stderr

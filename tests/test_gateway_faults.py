"""The gateway against a real local HTTP server that misbehaves on demand.

The OpenAI-compatible adapter talks HTTP to MockLLMServer (uvicorn on loopback);
faults are consumed one per request. These check what a user of the gateway
sees: retries, deadlines, the circuit breaker, fallback order, no retry on 4xx.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grounded.config import Settings
from grounded.domain import ChatRequest
from grounded.errors import AllModelsFailed, ProviderError
from grounded.llm.gateway import Gateway
from grounded.testing.chat_conformance import collect, run
from grounded.testing.mock_llm_server import Fault, MockLLMServer


@pytest.fixture
def server(mock_llm: MockLLMServer) -> Iterator[MockLLMServer]:
    mock_llm.reset()
    yield mock_llm
    mock_llm.reset()


def model(server: MockLLMServer, name: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "provider": "openai_compatible",
        "base_url": server.base_url,
        "model": name,
        "timeout_s": 2.0,
        "retry": {"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 2.0},
    }
    return {**cfg, **overrides}


def gateway(server: MockLLMServer, tmp_path: Path, **extra: Any) -> Gateway:
    models = {
        "primary": model(server, "primary-model"),
        "secondary": model(server, "secondary-model"),
    }
    settings = Settings(
        data_dir=tmp_path,
        models={**models, **extra.pop("models", {})},
        routes={"chain": ["primary", "secondary"], **extra.pop("routes", {})},
        **extra,
    )
    return Gateway(settings)


def sent_models(server: MockLLMServer) -> list[str]:
    return [r.body["model"] for r in server.requests if r.path.endswith("/chat/completions")]


def test_429_retry_after_is_waited_then_the_call_succeeds(
    server: MockLLMServer, tmp_path: Path
) -> None:
    server.faults.append(Fault.status(429, retry_after=0.3))
    start = time.monotonic()
    response = run(gateway(server, tmp_path).complete(ChatRequest.of("hi"), "primary"))
    assert time.monotonic() - start >= 0.3
    assert response.text == "Hello from the mock server."
    assert [(a.outcome, a.error, a.status) for a in response.attempts] == [
        ("error", "rate_limited", 429),
        ("ok", None, None),
    ]


def test_5xx_are_retried(server: MockLLMServer, tmp_path: Path) -> None:
    server.faults.extend([Fault.status(500), Fault.status(503)])
    response = run(gateway(server, tmp_path).complete(ChatRequest.of("hi"), "primary"))
    assert [a.status for a in response.attempts] == [500, 503, None]
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_4xx_are_not_retried_and_do_not_fall_through_unless_auth(
    server: MockLLMServer, tmp_path: Path, status: int
) -> None:
    server.faults.append(Fault.status(status))
    gw = gateway(server, tmp_path)
    if status in (401, 403):  # auth falls through to the next model by default
        response = run(gw.complete(ChatRequest.of("hi"), "chain"))
        assert response.model == "secondary"
        assert sent_models(server) == ["primary-model", "secondary-model"]
        return
    with pytest.raises(ProviderError) as info:
        run(gw.complete(ChatRequest.of("hi"), "chain"))
    assert info.value.status == status and not info.value.retryable
    assert sent_models(server) == ["primary-model"]


def test_a_slow_response_past_the_attempt_timeout_is_retried(
    server: MockLLMServer, tmp_path: Path
) -> None:
    server.faults.append(Fault.slow(3.0))
    gw = gateway(
        server, tmp_path, models={"primary": model(server, "primary-model", timeout_s=0.3)}
    )
    start = time.monotonic()
    response = run(gw.complete(ChatRequest.of("hi"), "primary"))
    assert time.monotonic() - start < 2.0
    assert [a.error for a in response.attempts] == ["timeout", None]


def test_total_deadline_cuts_retries_short(server: MockLLMServer, tmp_path: Path) -> None:
    server.faults.extend([Fault.slow(3.0)] * 4)
    gw = gateway(
        server,
        tmp_path,
        models={"primary": model(server, "primary-model", timeout_s=10)},
        gateway={"total_timeout_s": 0.5},
    )
    start = time.monotonic()
    with pytest.raises(ProviderError) as info:
        run(gw.complete(ChatRequest.of("hi"), "primary"))
    assert info.value.kind == "deadline"
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize(
    ("fault", "kind"), [(Fault.drop(), "connection"), (Fault.invalid_json(), "invalid_response")]
)
def test_dropped_connections_and_garbage_are_retried(
    server: MockLLMServer, tmp_path: Path, fault: Fault, kind: str
) -> None:
    server.faults.append(fault)
    response = run(gateway(server, tmp_path).complete(ChatRequest.of("hi"), "primary"))
    assert [a.error for a in response.attempts] == [kind, None]


def test_a_truncated_stream_is_an_error_not_a_short_answer(
    server: MockLLMServer, tmp_path: Path
) -> None:
    server.faults.append(Fault.truncated_stream())
    with pytest.raises(ProviderError) as info:
        run(collect(gateway(server, tmp_path).model("primary"), ChatRequest.of("hi")))
    assert info.value.kind == "connection"
    assert len(sent_models(server)) == 1  # text was already streamed: no retry


def test_a_stream_failing_before_its_first_event_is_retried(
    server: MockLLMServer, tmp_path: Path
) -> None:
    server.faults.append(Fault.status(503))
    events = run(collect(gateway(server, tmp_path).model("primary"), ChatRequest.of("hi")))
    assert "".join(e.delta for e in events) == "Hello from the mock server."


def test_circuit_opens_refuses_without_calling_then_half_opens_and_closes(
    server: MockLLMServer, tmp_path: Path
) -> None:
    breaker = {"failures": 2, "window_s": 10, "open_s": 0.5}
    once = {"max_attempts": 1}
    gw = gateway(
        server,
        tmp_path,
        models={"primary": model(server, "primary-model", circuit=breaker, retry=once)},
    )
    server.faults.extend([Fault.status(500), Fault.status(500)])
    for _ in range(2):
        with pytest.raises(ProviderError):
            run(gw.complete(ChatRequest.of("hi"), "primary"))
    assert gw.breakers["primary"].state.value == "open"
    with pytest.raises(ProviderError) as info:
        run(gw.complete(ChatRequest.of("hi"), "primary"))
    assert info.value.kind == "circuit_open"
    assert len(server.requests) == 2  # refused without a request
    time.sleep(0.55)
    assert gw.breakers["primary"].state.value == "half_open"
    assert run(gw.complete(ChatRequest.of("hi"), "primary")).text
    assert gw.breakers["primary"].state.value == "closed"


def test_fallback_follows_the_route_order(server: MockLLMServer, tmp_path: Path) -> None:
    once = {"max_attempts": 1}
    gw = gateway(
        server,
        tmp_path,
        models={
            "primary": model(server, "primary-model", retry=once),
            "secondary": model(server, "secondary-model", retry=once),
            "tertiary": model(server, "tertiary-model"),
        },
        routes={"three": ["primary", "secondary", "tertiary"]},
    )
    server.faults.extend([Fault.status(503), Fault.status(502)])
    response = run(gw.complete(ChatRequest.of("hi"), "three"))
    assert response.model == "tertiary"
    assert sent_models(server) == ["primary-model", "secondary-model", "tertiary-model"]


def test_all_failing_reports_each_model(server: MockLLMServer, tmp_path: Path) -> None:
    once = {"max_attempts": 1}
    gw = gateway(
        server,
        tmp_path,
        models={
            "primary": model(server, "primary-model", retry=once),
            "secondary": model(server, "secondary-model", retry=once),
        },
    )
    server.faults.extend([Fault.status(503), Fault.status(500)])
    with pytest.raises(AllModelsFailed) as info:
        run(gw.complete(ChatRequest.of("hi"), "chain"))
    assert "primary: HTTP 503" in str(info.value) and "secondary: HTTP 500" in str(info.value)

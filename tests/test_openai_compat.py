"""The OpenAI-compatible adapter against the mock server: wire format, faults, secrets."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from grounded.config import OpenAICompatibleModelConfig
from grounded.domain import ChatRequest, ChatResponse, Message, StreamEvent, ToolCall
from grounded.errors import ProviderError
from grounded.llm.openai_compat import OpenAICompatibleModel
from grounded.ports import ChatModel
from grounded.testing.chat_conformance import SCHEMA, TOOL, ChatModelConformance, run
from grounded.testing.mock_llm_server import Fault, MockLLMServer

KEY = "sk-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh(mock_llm: MockLLMServer) -> None:
    mock_llm.reset()


def model(server: MockLLMServer, **overrides: Any) -> OpenAICompatibleModel:
    fields: dict[str, Any] = {"base_url": server.base_url, "model": "mock", "timeout_s": 5}
    return OpenAICompatibleModel("vllm", OpenAICompatibleModelConfig(**{**fields, **overrides}))


async def _complete(chat: ChatModel, request: ChatRequest) -> ChatResponse:
    try:
        return await chat.complete(request)
    finally:
        await chat.aclose()


async def _stream(chat: ChatModel, request: ChatRequest) -> list[StreamEvent]:
    try:
        return [event async for event in chat.stream(request)]
    finally:
        await chat.aclose()


def complete(chat: ChatModel, request: ChatRequest) -> ChatResponse:
    return run(_complete(chat, request))


def stream(chat: ChatModel, request: ChatRequest) -> list[StreamEvent]:
    return run(_stream(chat, request))


def sent(server: MockLLMServer) -> dict[str, Any]:
    return server.requests[-1].body


# ---------------------------------------------------------------- conformance


class TestConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self, mock_llm: MockLLMServer) -> Iterator[ChatModel]:
        chat = model(mock_llm)
        yield chat
        run(chat.aclose())


class TestConformanceWithoutOptionalCapabilities(ChatModelConformance):
    @pytest.fixture
    def chat_model(self, mock_llm: MockLLMServer) -> Iterator[ChatModel]:
        chat = model(mock_llm, supports_tools=False, supports_json_schema=False)
        yield chat
        run(chat.aclose())


# ---------------------------------------------------------------- wire format


def test_plain_answer_carries_usage_and_the_providers_model_id(mock_llm: MockLLMServer) -> None:
    request = ChatRequest.of("Hello?", system="Be brief.")
    response = complete(model(mock_llm), request)
    assert response.text == "Hello from the mock server."
    assert (response.model, response.provider_model) == ("vllm", "mock")
    assert response.finish_reason == "stop"
    assert response.usage is not None and not response.usage.estimated
    assert response.usage.output_tokens == 5
    body = sent(mock_llm)
    assert mock_llm.requests[-1].path == "/v1/chat/completions"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello?"},
    ]
    assert body["max_tokens"] == 512  # cfg.max_tokens when the request sets none
    assert "stream" not in body and "tools" not in body and "response_format" not in body


def test_generation_parameters_are_sent(mock_llm: MockLLMServer) -> None:
    request = ChatRequest.of("hi", max_tokens=7, temperature=0.2, top_p=0.9, stop=("END",), seed=42)
    complete(model(mock_llm, max_tokens_field="max_completion_tokens"), request)
    body = sent(mock_llm)
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body
    assert (body["temperature"], body["top_p"], body["stop"], body["seed"]) == (
        0.2,
        0.9,
        ["END"],
        42,
    )


def test_stream_yields_deltas_then_one_response_with_usage(mock_llm: MockLLMServer) -> None:
    events = stream(model(mock_llm), ChatRequest.of("hi"))
    deltas = [e.delta for e in events[:-1]]
    assert len(deltas) > 1 and all(deltas)
    final = events[-1].response
    assert final is not None and final.text == "".join(deltas) == "Hello from the mock server."
    assert final.usage is not None and final.usage.output_tokens == 5
    assert final.provider_model == "mock"
    assert sent(mock_llm)["stream_options"] == {"include_usage": True}


def test_a_server_that_reports_no_usage_leaves_it_to_metering(mock_llm: MockLLMServer) -> None:
    mock_llm.report_usage = False
    assert complete(model(mock_llm), ChatRequest.of("hi")).usage is None
    final = stream(model(mock_llm, stream_usage=False), ChatRequest.of("hi"))[-1].response
    assert final is not None and final.usage is None
    assert "stream_options" not in sent(mock_llm)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_tool_calls_come_back_as_tool_calls(mock_llm: MockLLMServer, streamed: bool) -> None:
    request = ChatRequest.of("Weather in Paris?", tools=(TOOL,), tool_choice="get_weather")
    chat = model(mock_llm)
    response = stream(chat, request)[-1].response if streamed else complete(chat, request)
    assert response is not None and response.finish_reason == "tool_calls"
    (call,) = response.tool_calls
    assert (call.id, call.name) == ("call_mock_1", "get_weather")
    jsonschema.validate(json.loads(call.arguments), TOOL.parameters)
    body = sent(mock_llm)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": TOOL.description,
                "parameters": TOOL.parameters,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_tool_turns_are_sent_in_openai_roles(mock_llm: MockLLMServer) -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    messages = (
        Message.user("Weather in Paris?"),
        Message.assistant("", (call,)),
        Message.tool("call_1", "18 °C, sunny"),
    )
    complete(model(mock_llm), ChatRequest(messages, tools=(TOOL,), tool_choice="auto"))
    body = sent(mock_llm)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert body["messages"][2] == {
        "role": "tool",
        "content": "18 °C, sunny",
        "tool_call_id": "call_1",
    }
    assert body["tool_choice"] == "auto"


def test_json_schema_is_sent_as_strict_response_format(mock_llm: MockLLMServer) -> None:
    request = ChatRequest.of("Capital of France?", json_schema=SCHEMA, schema_name="capital city")
    response = complete(model(mock_llm), request)
    jsonschema.validate(json.loads(response.text), SCHEMA)
    assert sent(mock_llm)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "capital_city", "schema": SCHEMA, "strict": True},
    }


def test_json_object_mode_for_llama_cpp_python(mock_llm: MockLLMServer) -> None:
    request = ChatRequest.of("Capital of France?", json_schema=SCHEMA)
    response = complete(model(mock_llm, json_schema_mode="json_object"), request)
    jsonschema.validate(json.loads(response.text), SCHEMA)
    assert sent(mock_llm)["response_format"] == {"type": "json_object", "schema": SCHEMA}


def test_azure_deployment_url_and_api_key_header(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TEST_KEY", KEY)
    chat = model(
        mock_llm,
        base_url=mock_llm.anthropic_url,  # Azure endpoints have no /v1
        deployment="gpt-4o-prod",
        api_version="2024-10-21",
        api_key_env="AZURE_TEST_KEY",
        headers={"x-team": "search"},
    )
    assert complete(chat, ChatRequest.of("hi")).text
    seen = mock_llm.requests[-1]
    assert seen.path == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert seen.query == "api-version=2024-10-21"
    assert seen.headers["api-key"] == KEY and "authorization" not in seen.headers
    assert seen.headers["x-team"] == "search"


def test_bearer_key_and_extra_headers(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_TEST_KEY", KEY)
    chat = model(mock_llm, api_key_env="OPENAI_TEST_KEY", headers={"OpenAI-Organization": "org-1"})
    complete(chat, ChatRequest.of("hi"))
    headers = mock_llm.requests[-1].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["openai-organization"] == "org-1" and "api-key" not in headers


def test_a_local_server_gets_no_authorization_header(mock_llm: MockLLMServer) -> None:
    complete(model(mock_llm), ChatRequest.of("hi"))
    assert "authorization" not in mock_llm.requests[-1].headers


# ---------------------------------------------------------------- failures

FAULTS = [
    pytest.param(Fault.status(429, retry_after=1.5), "rate_limited", 429, True, id="429"),
    pytest.param(Fault.status(500), "server_error", 500, True, id="500"),
    pytest.param(Fault.status(503), "server_error", 503, True, id="503"),
    pytest.param(Fault.status(400), "bad_request", 400, False, id="400"),
    pytest.param(Fault.status(401), "auth", 401, False, id="401"),
    pytest.param(Fault.slow(1.0), "timeout", None, True, id="slow"),
    pytest.param(Fault.drop(), "connection", None, True, id="drop"),
    pytest.param(Fault.invalid_json(), "invalid_response", None, True, id="invalid-json"),
]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("fault", "kind", "status", "retryable"), FAULTS)
def test_each_fault_is_a_provider_error_of_its_kind(
    mock_llm: MockLLMServer,
    fault: Fault,
    kind: str,
    status: int | None,
    retryable: bool,
    streamed: bool,
) -> None:
    mock_llm.faults.append(fault)
    chat = model(mock_llm, timeout_s=0.3)
    with pytest.raises(ProviderError) as info:
        stream(chat, ChatRequest.of("hi")) if streamed else complete(chat, ChatRequest.of("hi"))
    error = info.value
    assert (error.model, error.kind, error.status, error.retryable) == (
        "vllm",
        kind,
        status,
        retryable,
    )
    assert error.retry_after == (1.5 if status == 429 else None)
    assert error.__cause__ is None or not isinstance(error.__cause__, ProviderError)


def test_a_stream_cut_before_its_last_event_is_a_connection_error(mock_llm: MockLLMServer) -> None:
    mock_llm.faults.append(Fault.truncated_stream())
    with pytest.raises(ProviderError, match="ended before its last event") as info:
        stream(model(mock_llm), ChatRequest.of("hi"))
    assert info.value.kind == "connection" and info.value.retryable


def test_a_truncated_body_is_an_invalid_response(mock_llm: MockLLMServer) -> None:
    mock_llm.faults.append(Fault.truncated_stream())
    with pytest.raises(ProviderError) as info:
        complete(model(mock_llm), ChatRequest.of("hi"))
    assert info.value.kind == "invalid_response"


def test_an_error_inside_the_stream_is_raised(mock_llm: MockLLMServer) -> None:
    mock_llm.faults.append(Fault.stream_error())
    with pytest.raises(ProviderError, match="error in the stream") as info:
        stream(model(mock_llm), ChatRequest.of("hi"))
    assert info.value.kind == "server_error"


def test_missing_api_key_names_the_variable_before_any_request(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLLM_TEST_KEY", raising=False)
    chat = model(mock_llm, api_key_env="VLLM_TEST_KEY")
    with pytest.raises(ProviderError, match="set the environment variable VLLM_TEST_KEY") as info:
        complete(chat, ChatRequest.of("hi"))
    assert info.value.kind == "auth" and not info.value.retryable
    assert mock_llm.requests == []


def test_the_key_never_appears_in_errors_or_reprs(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_TEST_KEY", KEY)
    chat = model(mock_llm, api_key_env="VLLM_TEST_KEY")
    mock_llm.faults.append(Fault.status(401, body=f"Incorrect API key provided: {KEY}."))
    with pytest.raises(ProviderError) as info:
        complete(chat, ChatRequest.of("hi"))
    assert KEY not in str(info.value) and "Incorrect API key provided: ***" in str(info.value)
    assert mock_llm.requests[-1].headers["authorization"] == f"Bearer {KEY}"  # it was sent
    assert KEY not in repr(chat) and KEY not in repr(vars(chat))


def test_a_missing_capability_is_refused_without_a_request(mock_llm: MockLLMServer) -> None:
    chat = model(mock_llm, supports_tools=False)
    with pytest.raises(ProviderError, match="does not support tools") as info:
        stream(chat, ChatRequest.of("Weather?", tools=(TOOL,)))
    assert info.value.kind == "unsupported" and not info.value.retryable
    assert mock_llm.requests == []


def test_stopping_a_stream_early_closes_it_cleanly(mock_llm: MockLLMServer) -> None:
    async def first_delta() -> str:
        chat = model(mock_llm)
        try:
            async for event in chat.stream(ChatRequest.of("hi")):
                return event.delta
            return ""
        finally:
            await chat.aclose()

    assert run(first_delta()) == "Hello "
    assert complete(model(mock_llm), ChatRequest.of("again")).text  # the server is still fine


def test_connections_close_with_their_event_loop(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each asyncio.run gets its own client; none may outlive its loop (unclosed sockets)."""
    leaks: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: leaks.append(str(u.exc_value)))
    chat = model(mock_llm)
    for _ in range(3):
        assert run(chat.complete(ChatRequest.of("hi"))).text
    del chat
    gc.collect()
    assert leaks == []

"""The Anthropic adapter against the mock server: Messages API shape, streaming, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from grounded.config import AnthropicModelConfig
from grounded.domain import ChatRequest, ChatResponse, Message, StreamEvent, ToolCall
from grounded.errors import ProviderError
from grounded.llm.anthropic import AnthropicModel
from grounded.ports import ChatModel
from grounded.testing.chat_conformance import SCHEMA, TOOL, ChatModelConformance, run
from grounded.testing.mock_llm_server import Fault, MockLLMServer

KEY = "sk-ant-test-0123456789abcdef"
ENV = "ANTHROPIC_TEST_KEY"


@pytest.fixture(autouse=True)
def _fresh(mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    mock_llm.reset()
    monkeypatch.setenv(ENV, KEY)


def model(server: MockLLMServer, **overrides: Any) -> AnthropicModel:
    fields: dict[str, Any] = {
        "base_url": server.anthropic_url,
        "model": "claude-test",
        "api_key_env": ENV,
        "timeout_s": 5,
    }
    return AnthropicModel("claude", AnthropicModelConfig(**{**fields, **overrides}))


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


def answer(chat: ChatModel, request: ChatRequest, streamed: bool) -> ChatResponse:
    if not streamed:
        return run(_complete(chat, request))
    events = run(_stream(chat, request))
    final = events[-1].response
    assert final is not None and all(e.response is None for e in events[:-1])
    assert "".join(e.delta for e in events) == final.text
    return final


def sent(server: MockLLMServer) -> dict[str, Any]:
    return server.requests[-1].body


class TestConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self, mock_llm: MockLLMServer) -> Iterator[ChatModel]:
        chat = model(mock_llm)
        yield chat
        run(chat.aclose())


# ---------------------------------------------------------------- wire format


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_plain_answer_with_usage_and_finish_reason(mock_llm: MockLLMServer, streamed: bool) -> None:
    response = answer(model(mock_llm), ChatRequest.of("Hello?", system="Be brief."), streamed)
    assert response.text == "Hello from the mock server."
    assert (response.model, response.provider_model) == ("claude", "claude-test")
    assert response.finish_reason == "stop"  # end_turn, in the gateway's vocabulary
    assert response.usage is not None and response.usage.output_tokens == 5
    assert response.usage.input_tokens > 0
    seen = mock_llm.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == KEY
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body["system"] == "Be brief."
    assert seen.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello?"}]}
    ]
    assert seen.body["max_tokens"] == 512  # required by Anthropic: cfg.max_tokens by default
    assert seen.body.get("stream", False) is streamed


def test_parameters_and_extra_headers(mock_llm: MockLLMServer) -> None:
    chat = model(mock_llm, headers={"anthropic-beta": "tools-2024"}, anthropic_version="2024-01-01")
    request = ChatRequest.of("hi", max_tokens=9, temperature=0.1, top_p=0.5, stop=("END",), seed=3)
    run(_complete(chat, request))
    seen = mock_llm.requests[-1]
    assert seen.headers["anthropic-beta"] == "tools-2024"
    assert seen.headers["anthropic-version"] == "2024-01-01"
    body = seen.body
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (9, 0.1, 0.5)
    assert body["stop_sequences"] == ["END"] and "seed" not in body


def test_turns_are_merged_and_tools_become_content_blocks(mock_llm: MockLLMServer) -> None:
    calls = (
        ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),
        ToolCall("toolu_2", "get_weather", '{"city": "Rome"}'),
    )
    messages = (
        Message.system("Be brief."),
        Message.user("Weather in Paris"),
        Message.user("and Rome?"),
        Message.assistant("Checking.", calls),
        Message.tool("toolu_1", "18 °C"),
        Message.tool("toolu_2", "24 °C"),
        Message.user("Which is warmer?"),
        Message.system("Answer in one word."),
    )
    run(_complete(model(mock_llm), ChatRequest(messages, tools=(TOOL,))))
    body = sent(mock_llm)
    assert body["system"] == "Be brief.\n\nAnswer in one word."
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    first, second, third = (turn["content"] for turn in body["messages"])
    assert first == [
        {"type": "text", "text": "Weather in Paris"},
        {"type": "text", "text": "and Rome?"},
    ]
    assert second == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
    ]
    assert third == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 °C"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24 °C"},
        {"type": "text", "text": "Which is warmer?"},
    ]
    assert body["tools"] == [
        {"name": "get_weather", "description": TOOL.description, "input_schema": TOOL.parameters}
    ]
    assert "tool_choice" not in body


def test_tool_arguments_that_are_not_an_object_are_refused(mock_llm: MockLLMServer) -> None:
    messages = (Message.user("hi"), Message.assistant("", (ToolCall("t1", "f", "[1, 2]"),)))
    with pytest.raises(ProviderError, match="not a JSON object") as info:
        run(_complete(model(mock_llm), ChatRequest(messages)))
    assert info.value.kind == "bad_request" and mock_llm.requests == []


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("choice", "sent_choice"),
    [("required", {"type": "any"}), ("get_weather", {"type": "tool", "name": "get_weather"})],
)
def test_tool_calls(
    mock_llm: MockLLMServer, streamed: bool, choice: str, sent_choice: dict[str, Any]
) -> None:
    request = ChatRequest.of("Weather in Paris?", tools=(TOOL,), tool_choice=choice)
    response = answer(model(mock_llm), request, streamed)
    assert response.finish_reason == "tool_calls" and response.text == ""
    (call,) = response.tool_calls
    assert (call.id, call.name) == ("toolu_mock_1", "get_weather")
    jsonschema.validate(json.loads(call.arguments), TOOL.parameters)
    assert sent(mock_llm)["tool_choice"] == sent_choice


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_structured_output_rides_a_forced_tool(mock_llm: MockLLMServer, streamed: bool) -> None:
    request = ChatRequest.of("Capital of France?", json_schema=SCHEMA, schema_name="capital city")
    response = answer(model(mock_llm), request, streamed)
    jsonschema.validate(json.loads(response.text), SCHEMA)
    assert response.tool_calls == () and response.finish_reason == "stop"
    body = sent(mock_llm)
    assert body["tool_choice"] == {"type": "tool", "name": "capital_city"}
    assert body["tools"][-1]["input_schema"] == SCHEMA


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_a_schema_that_is_not_an_object_is_wrapped_and_unwrapped(
    mock_llm: MockLLMServer, streamed: bool
) -> None:
    schema = {"type": "array", "items": {"$ref": "#/$defs/name"}, "minItems": 1}
    schema["$defs"] = {"name": {"type": "string"}}
    request = ChatRequest.of("Three names?", json_schema=schema)
    response = answer(model(mock_llm), request, streamed)
    assert json.loads(response.text) == ["example"]
    input_schema = sent(mock_llm)["tools"][-1]["input_schema"]
    assert input_schema["type"] == "object" and "$defs" in input_schema


# ---------------------------------------------------------------- failures

FAULTS = [
    pytest.param(Fault.status(429, retry_after=2), "rate_limited", 429, True, id="429"),
    pytest.param(Fault.status(500), "server_error", 500, True, id="500"),
    pytest.param(Fault.status(529), "server_error", 529, True, id="529-overloaded"),
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
    with pytest.raises(ProviderError) as info:
        answer(model(mock_llm, timeout_s=0.3), ChatRequest.of("hi"), streamed)
    error = info.value
    assert (error.model, error.kind, error.status, error.retryable) == (
        "claude",
        kind,
        status,
        retryable,
    )
    assert error.retry_after == (2.0 if status == 429 else None)


def test_a_stream_without_message_stop_is_a_connection_error(mock_llm: MockLLMServer) -> None:
    mock_llm.faults.append(Fault.truncated_stream())
    with pytest.raises(ProviderError, match="ended before message_stop") as info:
        answer(model(mock_llm), ChatRequest.of("hi"), streamed=True)
    assert info.value.kind == "connection"


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", "server_error"),
        ("rate_limit_error", "rate_limited"),
        ("invalid_request_error", "bad_request"),
    ],
)
def test_an_error_event_mid_stream_keeps_its_kind(
    mock_llm: MockLLMServer, error_type: str, kind: str
) -> None:
    mock_llm.faults.append(Fault.stream_error(error_type))
    with pytest.raises(ProviderError, match=error_type) as info:
        answer(model(mock_llm), ChatRequest.of("hi"), streamed=True)
    assert info.value.kind == kind


def test_missing_api_key_names_the_variable(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    with pytest.raises(ProviderError, match=f"set the environment variable {ENV}") as info:
        run(_complete(model(mock_llm), ChatRequest.of("hi")))
    assert info.value.kind == "auth" and mock_llm.requests == []


def test_the_key_never_appears_in_errors_or_reprs(mock_llm: MockLLMServer) -> None:
    chat = model(mock_llm)
    mock_llm.faults.append(Fault.status(401, body=f"invalid x-api-key: {KEY}"))
    with pytest.raises(ProviderError) as info:
        run(_complete(chat, ChatRequest.of("hi")))
    assert KEY not in str(info.value) and "invalid x-api-key: ***" in str(info.value)
    assert KEY not in repr(chat) and KEY not in repr(vars(chat))

"""Checks every `ChatModel` must pass. Reuse them by overriding one fixture:

    from grounded.testing.chat_conformance import ChatModelConformance

    class TestMyProvider(ChatModelConformance):
        @pytest.fixture
        def chat_model(self):
            return MyProvider(...)

The model must be able to answer a short instruction; with the json_schema
capability it must return JSON valid against a small schema.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import jsonschema
import pytest

from grounded.domain import Capabilities, ChatRequest, StreamEvent, ToolSpec
from grounded.errors import ProviderError
from grounded.ports import ChatModel

T = TypeVar("T")

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
TOOL = ToolSpec(
    "get_weather",
    "Current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def collect(model: ChatModel, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in model.stream(request)]


class ChatModelConformance:
    @pytest.fixture
    def chat_model(self) -> ChatModel:
        raise NotImplementedError("override the chat_model fixture")

    def test_is_a_chat_model(self, chat_model: ChatModel) -> None:
        assert isinstance(chat_model, ChatModel)
        assert isinstance(chat_model.name, str) and chat_model.name
        assert isinstance(chat_model.capabilities, Capabilities)

    def test_complete_answers_with_accounting(self, chat_model: ChatModel) -> None:
        request = ChatRequest.of("Say hello in one word.", max_tokens=16, temperature=0.0)
        response = run(chat_model.complete(request))
        assert response.text.strip() or response.tool_calls
        assert response.model == chat_model.name
        if response.usage is not None:
            assert response.usage.input_tokens >= 0 and response.usage.output_tokens >= 0
        assert isinstance(response.finish_reason, str) and response.finish_reason
        assert response.cached is False

    def test_stream_deltas_add_up_to_the_final_response(self, chat_model: ChatModel) -> None:
        if not chat_model.capabilities.streaming:
            pytest.skip("model does not stream")
        request = ChatRequest.of("Count from one to five.", max_tokens=24, temperature=0.0)
        events = run(collect(chat_model, request))
        assert events, "a stream yields at least the final event"
        final = events[-1].response
        assert final is not None, "the last event carries the response"
        assert all(e.response is None for e in events[:-1])
        assert "".join(e.delta for e in events) == final.text
        assert final.model == chat_model.name

    def test_json_schema_output_is_valid(self, chat_model: ChatModel) -> None:
        if not chat_model.capabilities.json_schema:
            pytest.skip("model has no structured output")
        request = ChatRequest.of(
            "What is the capital of France? Reply as JSON with the key answer.",
            max_tokens=48,
            temperature=0.0,
            json_schema=SCHEMA,
            schema_name="capital",
        )
        response = run(chat_model.complete(request))
        jsonschema.validate(json.loads(response.text), SCHEMA)

    def test_missing_capabilities_are_refused_not_ignored(self, chat_model: ChatModel) -> None:
        caps = chat_model.capabilities
        if caps.tools and caps.json_schema:
            pytest.skip("model has every optional capability")
        request = ChatRequest.of(
            "Weather in Paris?",
            max_tokens=16,
            tools=() if caps.tools else (TOOL,),
            json_schema=None if caps.json_schema else SCHEMA,
        )
        with pytest.raises(ProviderError) as info:
            run(chat_model.complete(request))
        assert info.value.kind == "unsupported"
        assert info.value.retryable is False

    def test_aclose_can_be_called_twice(self, chat_model: ChatModel) -> None:
        run(chat_model.aclose())
        run(chat_model.aclose())

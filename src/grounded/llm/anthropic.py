"""Anthropic's Messages API (`POST /v1/messages`), plain and streamed.

Anthropic differs from OpenAI's format in ways the rest of grounded should not
see: system prompts are a top-level field, tool calls and results are content
blocks, consecutive turns of one role must be merged, `max_tokens` is required,
and there is no JSON mode. Structured output is a forced tool whose input schema
is the requested schema; its input is the answer. Finish reasons are translated
to OpenAI's words (stop, length, tool_calls) so routing and metrics see one vocabulary.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
from pydantic import SecretStr

from grounded.config import AnthropicModelConfig
from grounded.domain import (
    Capabilities,
    ChatRequest,
    ChatResponse,
    Message,
    StreamEvent,
    ToolCall,
    Usage,
)
from grounded.errors import ProviderError
from grounded.llm.http import (
    LoopClient,
    api_key,
    invalid_response,
    parse_event,
    pool_limits,
    post_json,
    post_sse,
    require,
    scrub,
    wire_name,
)

_SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Error types of `error` events (and bodies) → grounded.errors.ERROR_KINDS.
_ERROR_KINDS = {
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "rate_limit_error": "rate_limited",
    "timeout_error": "timeout",
    "authentication_error": "auth",
    "permission_error": "auth",
    "invalid_request_error": "bad_request",
    "not_found_error": "bad_request",
    "request_too_large": "bad_request",
}


@dataclass(frozen=True)
class _Schema:
    """The forced tool that carries a structured answer."""

    tool: str
    wrapped: bool  # a non-object schema rides in {"value": ...}: tool input must be an object

    def answer(self, tool_input: Any) -> str:
        value = (
            tool_input.get("value") if self.wrapped and isinstance(tool_input, dict) else tool_input
        )
        return json.dumps(value)


class AnthropicModel:
    """A Claude model over the Messages API. Implements `ChatModel`."""

    def __init__(self, name: str, cfg: AnthropicModelConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.capabilities = Capabilities(
            streaming=True, tools=True, json_schema=True, max_context=cfg.context_window
        )
        self._url = cfg.base_url.rstrip("/") + "/v1/messages"
        self._client = LoopClient(timeout=httpx.Timeout(cfg.timeout_s), limits=pool_limits(cfg))
        self._key: SecretStr | None = None

    def __repr__(self) -> str:
        return f"AnthropicModel({self.name!r}, model={self.cfg.model!r})"

    def _headers(self) -> dict[str, str]:
        if self._key is None:
            self._key = api_key(self.name, self.cfg.api_key_env)
        headers = {**self.cfg.headers, "anthropic-version": self.cfg.anthropic_version}
        if self._key is not None:
            headers["x-api-key"] = self._key.get_secret_value()
        return headers

    async def complete(self, request: ChatRequest) -> ChatResponse:
        require(self.name, self.capabilities, request)
        body, schema = request_body(self.name, self.cfg, request, stream=False)
        headers = self._headers()
        started = time.perf_counter()
        data = await post_json(
            self._client.get(),
            self.name,
            self._url,
            json_body=body,
            headers=headers,
            secrets=(self._key,),
            timeout_s=self.cfg.timeout_s,
        )
        response = parse_message(self.name, data, schema)
        return replace(response, latency_ms=(time.perf_counter() - started) * 1000)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        require(self.name, self.capabilities, request)
        body, schema = request_body(self.name, self.cfg, request, stream=True)
        headers = self._headers()
        started = time.perf_counter()
        state = _StreamState(self.name, schema, (self._key,))
        events = post_sse(
            self._client.get(),
            self.name,
            self._url,
            json_body=body,
            headers=headers,
            secrets=(self._key,),
            timeout_s=self.cfg.timeout_s,
        )
        async with contextlib.aclosing(events):
            async for event, data in events:
                if delta := state.feed(event, parse_event(self.name, data)):
                    yield StreamEvent(delta=delta)
                if state.done:
                    break
        if not state.done:
            raise ProviderError(
                self.name,
                "the stream ended before message_stop; "
                "the connection was cut or the server stopped",
                kind="connection",
            )
        yield StreamEvent(response=state.response((time.perf_counter() - started) * 1000))

    async def aclose(self) -> None:
        await self._client.aclose()


# ---------------------------------------------------------------- request


def request_body(
    model: str, cfg: AnthropicModelConfig, request: ChatRequest, *, stream: bool
) -> tuple[dict[str, Any], _Schema | None]:
    """The request body, and the forced tool carrying a structured answer, if any."""
    system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
    body: dict[str, Any] = {
        "model": cfg.model,
        "max_tokens": cfg.max_tokens if request.max_tokens is None else request.max_tokens,
        "messages": _turns(model, request.messages),
    }
    # Anthropic has no seed; it is best effort on every provider, so it is dropped.
    optional = {
        "system": system or None,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop_sequences": list(request.stop) or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    tools = [
        {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
        for t in request.tools
    ]
    schema = None
    if request.json_schema is not None:
        schema_tool, schema = _schema_tool(request.json_schema, request.schema_name)
        tools.append(schema_tool)
        body["tool_choice"] = {"type": "tool", "name": schema.tool}
    elif tools and request.tool_choice:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if tools:
        body["tools"] = tools
    if stream:
        body["stream"] = True
    return body, schema


def _turns(model: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Alternating user/assistant turns: consecutive blocks of one role are merged."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(model, message)
        if not blocks:
            continue  # Anthropic refuses empty text blocks
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(model: str, message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
        if message.content:
            result["content"] = message.content
        return [result]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(model, call)}
        )
    return blocks


def _input(model: str, call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(
            model,
            f"tool call {call.id!r} ({call.name}) has arguments that are not a JSON object; "
            "Anthropic needs tool input to be an object",
            kind="bad_request",
        )
    return value


def _tool_choice(choice: str) -> dict[str, Any]:
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def _schema_tool(schema: Mapping[str, Any], name: str) -> tuple[dict[str, Any], _Schema]:
    spec = dict(schema)
    wrapped = spec.get("type") != "object"
    if wrapped:
        # Definitions stay at the root so "#/$defs/..." references still resolve.
        defs = {k: spec.pop(k) for k in ("$defs", "definitions") if k in spec}
        spec = {"type": "object", "properties": {"value": spec}, "required": ["value"], **defs}
    tool = wire_name(name)
    description = "Give your answer by calling this tool; its input is the answer."
    return {"name": tool, "description": description, "input_schema": spec}, _Schema(tool, wrapped)


# ---------------------------------------------------------------- response


def parse_message(model: str, data: Any, schema: _Schema | None) -> ChatResponse:
    """A Messages API response as a ChatResponse; another shape is an invalid response."""
    try:
        texts, calls, structured = [], [], None
        for block in data["content"]:
            if block["type"] == "text":
                texts.append(block["text"])
            elif (
                block["type"] == "tool_use" and schema is not None and block["name"] == schema.tool
            ):
                structured = schema.answer(block["input"])
            elif block["type"] == "tool_use":
                calls.append(
                    ToolCall(str(block["id"]), str(block["name"]), json.dumps(block["input"]))
                )
        return ChatResponse(
            text="".join(texts) if structured is None else structured,
            model=model,
            finish_reason=_finish(data.get("stop_reason"), structured is not None),
            tool_calls=tuple(calls),
            usage=_usage(data.get("usage")),
            provider_model=str(data.get("model") or ""),
        )
    except _SHAPE_ERRORS as exc:
        raise invalid_response(
            model, f"not a Messages API response ({type(exc).__name__}: {exc})"
        ) from None


def _finish(stop_reason: Any, structured: bool) -> str:
    if structured and stop_reason == "tool_use":
        return "stop"  # the forced tool is how the answer arrives, not a call to run
    return _FINISH.get(str(stop_reason), str(stop_reason or "stop"))


def _usage(value: Any, previous: Usage | None = None) -> Usage | None:
    if not isinstance(value, Mapping):
        return previous
    before = previous or Usage()
    # Cached prompt tokens are reported apart from input_tokens; all of them were read.
    cached = int(value.get("cache_creation_input_tokens") or 0) + int(
        value.get("cache_read_input_tokens") or 0
    )
    inputs = int(value["input_tokens"]) + cached if "input_tokens" in value else before.input_tokens
    outputs = int(value.get("output_tokens") or before.output_tokens)
    return Usage(inputs, outputs)


def stream_error(model: str, payload: Any, secrets: tuple[SecretStr | None, ...]) -> ProviderError:
    """An `error` event (e.g. overloaded_error mid-stream) as the matching ProviderError."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    kind = str(error.get("type") or "api_error")
    message = scrub(str(error.get("message") or kind), secrets)
    return ProviderError(
        model,
        f"error in the stream: {kind}: {message}",
        kind=_ERROR_KINDS.get(kind, "server_error"),
    )


class _StreamState:
    """What the events of one streamed message have said so far."""

    def __init__(
        self, model: str, schema: _Schema | None, secrets: tuple[SecretStr | None, ...]
    ) -> None:
        self.model = model
        self.schema = schema
        self.secrets = secrets
        self.text: list[str] = []
        self.tools: dict[int, list[str]] = {}  # block index → [id, name, input JSON so far]
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.provider_model = ""
        self.done = False
        self._handlers: dict[str, Callable[[Mapping[str, Any]], str]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
        }

    def feed(self, event: str, payload: Any) -> str:
        """Take one event; returns the answer text it adds."""
        if not isinstance(payload, Mapping):
            raise invalid_response(self.model, "a stream event is not a JSON object")
        kind = str(payload.get("type") or event)
        if kind == "error":
            raise stream_error(self.model, payload, self.secrets)
        handler = self._handlers.get(kind)  # ping, and event types added later, are skipped
        try:
            added = handler(payload) if handler else ""
        except _SHAPE_ERRORS as exc:
            raise invalid_response(self.model, f"bad {kind} event ({exc})") from None
        self.text.append(added)
        return added

    def _is_schema(self, index: int) -> bool:
        return (
            self.schema is not None
            and index in self.tools
            and self.tools[index][1] == self.schema.tool
        )

    def _message_start(self, payload: Mapping[str, Any]) -> str:
        message = payload["message"]
        self.provider_model = str(message.get("model") or "")
        self.usage = _usage(message.get("usage"), self.usage)
        return ""

    def _block_start(self, payload: Mapping[str, Any]) -> str:
        block = payload["content_block"]
        if block["type"] == "tool_use":
            self.tools[int(payload["index"])] = [str(block["id"]), str(block["name"]), ""]
            return ""
        # With a schema the answer is the forced tool's input; stray text would corrupt it.
        return str(block.get("text") or "") if block["type"] == "text" and not self.schema else ""

    def _block_delta(self, payload: Mapping[str, Any]) -> str:
        index, delta = int(payload["index"]), payload["delta"]
        if delta["type"] == "text_delta":
            return "" if self.schema else str(delta["text"])
        if delta["type"] != "input_json_delta" or index not in self.tools:
            return ""  # thinking and signature deltas are not part of the answer
        piece = str(delta.get("partial_json") or "")
        self.tools[index][2] += piece
        return piece if self._is_schema(index) and self.schema and not self.schema.wrapped else ""

    def _block_stop(self, payload: Mapping[str, Any]) -> str:
        index = int(payload["index"])
        if not self._is_schema(index) or self.schema is None:
            return ""
        streamed = self.tools[index][2]
        if self.schema.wrapped:
            return self.schema.answer(json.loads(streamed or "{}"))
        return "" if streamed else "{}"  # an empty input streams no delta at all

    def _message_delta(self, payload: Mapping[str, Any]) -> str:
        self.stop_reason = payload.get("delta", {}).get("stop_reason") or self.stop_reason
        self.usage = _usage(payload.get("usage"), self.usage)
        return ""

    def _message_stop(self, payload: Mapping[str, Any]) -> str:
        self.done = True
        return ""

    def response(self, latency_ms: float) -> ChatResponse:
        calls = tuple(
            ToolCall(call_id, name, arguments or "{}")
            for _, (call_id, name, arguments) in sorted(self.tools.items())
            if self.schema is None or name != self.schema.tool
        )
        return ChatResponse(
            text="".join(self.text),
            model=self.model,
            finish_reason=_finish(self.stop_reason, self.schema is not None),
            tool_calls=calls,
            usage=self.usage,
            latency_ms=latency_ms,
            provider_model=self.provider_model,
        )

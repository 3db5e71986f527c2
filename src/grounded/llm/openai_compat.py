"""OpenAI's chat completions wire format: vLLM, Ollama, llama.cpp server, OpenAI, Azure OpenAI.

One adapter for every server speaking `/v1/chat/completions`; what differs between
them (Azure's URL and key header, llama-cpp-python's JSON mode, the name of the
length limit) is configuration, not code.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import httpx
from pydantic import SecretStr

from grounded.config import OpenAICompatibleModelConfig
from grounded.domain import (
    Capabilities,
    ChatRequest,
    ChatResponse,
    Message,
    StreamEvent,
    ToolCall,
    ToolSpec,
    Usage,
)
from grounded.errors import ProviderError
from grounded.llm.http import (
    LoopClient,
    api_key,
    invalid_response,
    openai_endpoint,
    openai_headers,
    parse_event,
    pool_limits,
    post_json,
    post_sse,
    require,
    scrub,
    status_kind,
    wire_name,
)

_SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)


class OpenAICompatibleModel:
    """A chat model behind an OpenAI-compatible HTTP server. Implements `ChatModel`."""

    def __init__(self, name: str, cfg: OpenAICompatibleModelConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.capabilities = Capabilities(
            streaming=True,
            tools=cfg.supports_tools,
            json_schema=cfg.supports_json_schema,
            max_context=cfg.context_window,
        )
        self._url, self._params = openai_endpoint(
            cfg.base_url, "chat/completions", cfg.deployment, cfg.api_version
        )
        self._client = LoopClient(timeout=httpx.Timeout(cfg.timeout_s), limits=pool_limits(cfg))
        self._key: SecretStr | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleModel({self.name!r}, url={self._url!r})"

    def _headers(self) -> dict[str, str]:
        # Read on first use, so configuring a model whose key is absent costs nothing
        # until it is called; the key is kept as a SecretStr, never in a plain dict.
        if self._key is None:
            self._key = api_key(self.name, self.cfg.api_key_env)
        return openai_headers(self.cfg.headers, self._key, azure=bool(self.cfg.deployment))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        require(self.name, self.capabilities, request)
        headers = self._headers()
        started = time.perf_counter()
        data = await post_json(
            self._client.get(),
            self.name,
            self._url,
            json_body=request_body(self.cfg, request, stream=False),
            headers=headers,
            secrets=(self._key,),
            timeout_s=self.cfg.timeout_s,
            params=self._params,
        )
        response = parse_completion(self.name, data)
        return replace(response, latency_ms=(time.perf_counter() - started) * 1000)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        require(self.name, self.capabilities, request)
        headers = self._headers()
        started = time.perf_counter()
        state = _StreamState(self.name, (self._key,))
        events = post_sse(
            self._client.get(),
            self.name,
            self._url,
            json_body=request_body(self.cfg, request, stream=True),
            headers=headers,
            secrets=(self._key,),
            timeout_s=self.cfg.timeout_s,
            params=self._params,
        )
        async with contextlib.aclosing(events):
            async for _event, data in events:
                if data.strip() == "[DONE]":
                    state.done = True
                    break
                if delta := state.feed(parse_event(self.name, data)):
                    yield StreamEvent(delta=delta)
        if not state.done and state.finish is None:
            raise ProviderError(
                self.name,
                "the stream ended before its last event (no finish_reason, no [DONE]); "
                "the connection was cut or the server stopped",
                kind="connection",
            )
        latency = (time.perf_counter() - started) * 1000
        yield StreamEvent(response=state.response(latency))

    async def aclose(self) -> None:
        await self._client.aclose()


# ---------------------------------------------------------------- request


def request_body(
    cfg: OpenAICompatibleModelConfig, request: ChatRequest, *, stream: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [_message(m) for m in request.messages]}
    if cfg.model:
        body["model"] = cfg.model
    body[cfg.max_tokens_field] = (
        cfg.max_tokens if request.max_tokens is None else request.max_tokens
    )
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "stop": list(request.stop) or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice:
            body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.json_schema is not None:
        body["response_format"] = _response_format(cfg, request.json_schema, request.schema_name)
    if stream:
        body["stream"] = True
        if cfg.stream_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    if message.tool_calls:
        out["content"] = message.content or None  # a call-only turn has null content
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return out


def _tool(tool: ToolSpec) -> dict[str, Any]:
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": function}


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _response_format(
    cfg: OpenAICompatibleModelConfig, schema: Mapping[str, Any], name: str
) -> dict[str, Any]:
    if cfg.json_schema_mode == "json_object":
        return {"type": "json_object", "schema": dict(schema)}
    spec = {"name": wire_name(name), "schema": dict(schema), "strict": True}
    return {"type": "json_schema", "json_schema": spec}


# ---------------------------------------------------------------- response


def parse_completion(model: str, data: Any) -> ChatResponse:
    """A chat.completion body as a ChatResponse; a body of another shape is invalid."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
        calls = tuple(_tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or ()))
        return ChatResponse(
            text=message.get("content") or "",
            model=model,
            finish_reason=choice.get("finish_reason") or ("tool_calls" if calls else "stop"),
            tool_calls=calls,
            usage=_usage(data.get("usage")),
            provider_model=str(data.get("model") or ""),
        )
    except _SHAPE_ERRORS as exc:
        raise invalid_response(
            model, f"not a chat completion ({type(exc).__name__}: {exc})"
        ) from None


def _tool_call(call: Mapping[str, Any], position: int) -> ToolCall:
    function = call["function"]
    return ToolCall(
        id=str(call.get("id") or f"call_{position}"),
        name=str(function["name"]),
        arguments=_arguments(function.get("arguments")),
    )


def _arguments(value: Any) -> str:
    # Some servers send the arguments as an object rather than its JSON text.
    if value is None or value == "":
        return "{}"
    return value if isinstance(value, str) else json.dumps(value)


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    return Usage(int(value.get("prompt_tokens") or 0), int(value.get("completion_tokens") or 0))


class _StreamState:
    """What the chunks of one streamed answer have said so far."""

    def __init__(self, model: str, secrets: tuple[SecretStr | None, ...]) -> None:
        self.model = model
        self.secrets = secrets
        self.text: list[str] = []
        self.calls: dict[int, list[str]] = {}  # index → [id, name, arguments]
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.provider_model = ""
        self.done = False

    def feed(self, chunk: Any) -> str:
        """Take one chunk; returns the text it adds."""
        if not isinstance(chunk, Mapping):
            raise invalid_response(self.model, "a stream chunk is not a JSON object")
        if "error" in chunk:
            raise self._error(chunk["error"])
        try:
            return self._take(chunk)
        except _SHAPE_ERRORS as exc:
            raise invalid_response(self.model, f"bad stream chunk ({exc})") from None

    def _take(self, chunk: Mapping[str, Any]) -> str:
        self.provider_model = str(chunk.get("model") or self.provider_model)
        self.usage = _usage(chunk.get("usage")) or self.usage  # vLLM sends usage: null
        added = ""
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            added += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                self._call_delta(call)
            self.finish = choice.get("finish_reason") or self.finish
        self.text.append(added)
        return added

    def _call_delta(self, call: Mapping[str, Any]) -> None:
        # The first delta of a call carries its id and name, the next ones pieces of
        # its arguments; servers that send whole calls omit the index.
        index = call.get("index")
        entry = self.calls.setdefault(
            len(self.calls) if index is None else int(index), ["", "", ""]
        )
        function = call.get("function") or {}
        entry[0] = str(call.get("id") or entry[0])
        entry[1] = entry[1] or str(function.get("name") or "")
        arguments = function.get("arguments")
        if arguments:
            entry[2] += arguments if isinstance(arguments, str) else json.dumps(arguments)

    def _error(self, error: Any) -> ProviderError:
        """An error the server reported inside the stream (vLLM, llama.cpp do so)."""
        detail = error if isinstance(error, Mapping) else {"message": str(error)}
        code = detail.get("code")
        kind = status_kind(code) if isinstance(code, int) and code >= 400 else "server_error"
        message = scrub(str(detail.get("message") or "error event"), self.secrets)
        return ProviderError(self.model, f"error in the stream: {message}", kind=kind)

    def response(self, latency_ms: float) -> ChatResponse:
        calls = tuple(
            ToolCall(call_id or f"call_{i}", name, arguments or "{}")
            for i, (call_id, name, arguments) in sorted(self.calls.items())
        )
        return ChatResponse(
            text="".join(self.text),
            model=self.model,
            finish_reason=self.finish or ("tool_calls" if calls else "stop"),
            tool_calls=calls,
            usage=self.usage,
            latency_ms=latency_ms,
            provider_model=self.provider_model,
        )

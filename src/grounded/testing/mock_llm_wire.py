"""What the mock LLM server says: OpenAI and Anthropic payloads, and schema placeholders.

Pure functions of the request body, kept apart from `mock_llm_server` (the ASGI
plumbing and the faults) so each stays small. Answers are deterministic: a fixed
or scripted text, a minimal JSON instance for a schema, or a call of the tool the
request forces.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]
EMBED_DIM = 16

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Answer:
    text: str = ""
    tool: tuple[str, str] | None = None  # (name, JSON arguments)
    input_tokens: int = 0

    @property
    def output_tokens(self) -> int:
        return max(1, len((self.tool[1] if self.tool else self.text).split()))


# ---------------------------------------------------------------- JSON Schema → instance


def minimal_instance(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """The smallest plausible value valid for `schema`: required keys, placeholder values."""
    root = schema if root is None else root
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target[part] if part else target
        return minimal_instance(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return minimal_instance(schema[key][0], root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _BUILDERS.get(kind, lambda s, r: None)(schema, root)


def _object(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    return {key: minimal_instance(props.get(key, {}), root) for key in schema.get("required", [])}


def _array(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[Any]:
    return [minimal_instance(schema.get("items", {}), root)] * int(schema.get("minItems", 0))


def _string(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    text = "example".ljust(int(schema.get("minLength", 0)), "x")
    return text[: schema["maxLength"]] if "maxLength" in schema else text


def _number(schema: Mapping[str, Any], root: Mapping[str, Any]) -> float:
    if "minimum" in schema:
        return float(schema["minimum"])
    if "exclusiveMinimum" in schema:
        return float(schema["exclusiveMinimum"]) + 1
    return min(0.0, float(schema.get("maximum", 0)))


def _integer(schema: Mapping[str, Any], root: Mapping[str, Any]) -> int:
    return math.ceil(_number(schema, root))


_BUILDERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Any]] = {
    "object": _object,
    "array": _array,
    "string": _string,
    "number": _number,
    "integer": _integer,
    "boolean": lambda s, r: False,
}


# ---------------------------------------------------------------- wire formats


def _forced_tool(
    tools: list[dict[str, Any]], choice: Any, anthropic: bool
) -> dict[str, Any] | None:
    """The tool the request obliges the model to call, if any."""
    if not tools or not choice:
        return None
    if anthropic:
        name = choice.get("name") if choice.get("type") == "tool" else None
        required = choice.get("type") in ("any", "tool")
    else:
        name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        required = choice == "required" or name is not None
    if not required:
        return None
    specs = [t if anthropic else t.get("function", {}) for t in tools]
    return next((t for t in specs if name is None or t.get("name") == name), None)


def _schema_of(body: dict[str, Any]) -> Mapping[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt.get("json_schema", {}).get("schema", {})
    if fmt.get("type") == "json_object":
        return fmt.get("schema", {"type": "object"})
    return None


def _openai_chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "model": model,
        "created": int(time.time()),
        "choices": [choice],
    }


def _openai_usage(answer: Answer) -> dict[str, int]:
    out = answer.output_tokens
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": out,
        "total_tokens": answer.input_tokens + out,
    }


def _openai_message(answer: Answer) -> tuple[dict[str, Any], str]:
    if answer.tool is None:
        return {"role": "assistant", "content": answer.text}, "stop"
    call = {
        "id": "call_mock_1",
        "type": "function",
        "function": {"name": answer.tool[0], "arguments": answer.tool[1]},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"


def _openai_stream(model: str, answer: Answer, usage: bool) -> Iterator[dict[str, Any]]:
    yield _openai_chunk(model, {"role": "assistant", "content": ""})
    if answer.tool is None:
        for piece in _pieces(answer.text):
            yield _openai_chunk(model, {"content": piece})
        finish = "stop"
    else:
        name, args = answer.tool
        head = {
            "index": 0,
            "id": "call_mock_1",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        yield _openai_chunk(model, {"tool_calls": [head]})
        for piece in _pieces(args, 3):
            yield _openai_chunk(
                model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            )
        finish = "tool_calls"
    yield _openai_chunk(model, {}, finish)
    if usage:
        yield {**_openai_chunk(model, {}), "choices": [], "usage": _openai_usage(answer)}


def _anthropic_blocks(answer: Answer) -> tuple[list[dict[str, Any]], str]:
    if answer.tool is None:
        return [{"type": "text", "text": answer.text}], "end_turn"
    name, args = answer.tool
    return [
        {"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": json.loads(args)}
    ], "tool_use"


def _anthropic_message(model: str, content: list[Any], stop: str | None) -> dict[str, Any]:
    return {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
    }


def _anthropic_stream(model: str, answer: Answer, usage: bool) -> Iterator[dict[str, Any]]:
    blocks, stop = _anthropic_blocks(answer)
    message = _anthropic_message(model, [], None)
    if usage:
        message["usage"] = {"input_tokens": answer.input_tokens, "output_tokens": 1}
    yield {"type": "message_start", "message": message}
    if answer.tool is None:
        yield {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        yield {"type": "ping"}
        for piece in _pieces(answer.text):
            yield {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
    else:
        yield {
            "type": "content_block_start",
            "index": 0,
            "content_block": {**blocks[0], "input": {}},
        }
        for piece in _pieces(answer.tool[1], 3):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield {"type": "content_block_delta", "index": 0, "delta": delta}
    yield {"type": "content_block_stop", "index": 0}
    delta_event: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
    }
    if usage:
        delta_event["usage"] = {"output_tokens": answer.output_tokens}
    yield delta_event
    yield {"type": "message_stop"}


def _pieces(text: str, parts: int = 0) -> list[str]:
    """Words with their trailing space, or `parts` even slices of the text."""
    if parts:
        size = max(1, math.ceil(len(text) / parts))
        return [text[i : i + size] for i in range(0, len(text), size)]
    out, start = [], 0
    for i, char in enumerate(text):
        if char == " ":
            out.append(text[start : i + 1])
            start = i + 1
    return [*out, text[start:]] if start < len(text) else out


def _unit_vector(text: str, dim: int) -> list[float]:
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def error_body(code: int, message: str, anthropic: bool, error_type: str = "") -> dict[str, Any]:
    if anthropic:
        kind = error_type or _ANTHROPIC_ERRORS.get(code, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = error_type or ("invalid_request_error" if code < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "code": code or None}}


# ---------------------------------------------------------------- what the server calls


def answer_for(body: dict[str, Any], anthropic: bool, reply: Reply) -> Answer:
    """A forced tool's call, else a schema's minimal instance, else the reply text."""
    tokens = len(json.dumps(body.get("messages", []), ensure_ascii=False).split()) + 1
    tool = _forced_tool(body.get("tools") or [], body.get("tool_choice"), anthropic)
    if tool is not None:
        schema = tool.get("input_schema" if anthropic else "parameters") or {"type": "object"}
        arguments = json.dumps(minimal_instance(schema))
        return Answer(tool=(str(tool.get("name")), arguments), input_tokens=tokens)
    schema = None if anthropic else _schema_of(body)
    if schema is not None:
        return Answer(json.dumps(minimal_instance(schema)), input_tokens=tokens)
    return Answer(reply(body) if callable(reply) else reply, input_tokens=tokens)


def chat_payload(body: dict[str, Any], answer: Answer, anthropic: bool, usage: bool) -> Any:
    """The whole (non-streamed) response body."""
    model = str(body.get("model") or "mock-model")
    if anthropic:
        content, stop = _anthropic_blocks(answer)
        payload: dict[str, Any] = {
            **_anthropic_message(model, content, stop),
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
        }
    else:
        message, finish = _openai_message(answer)
        payload = {
            **_openai_chunk(model, {}),
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _openai_usage(answer),
        }
    if not usage:
        del payload["usage"]
    return payload


def chat_events(body: dict[str, Any], answer: Answer, anthropic: bool, usage: bool) -> list[Any]:
    """The streamed response as event payloads; OpenAI's `[DONE]` is the caller's to add."""
    model = str(body.get("model") or "mock-model")
    if anthropic:
        return list(_anthropic_stream(model, answer, usage))
    wants_usage = usage and bool((body.get("stream_options") or {}).get("include_usage"))
    return list(_openai_stream(model, answer, wants_usage))


def embeddings_payload(body: dict[str, Any]) -> dict[str, Any]:
    """Deterministic unit vectors: the same text always gets the same vector."""
    texts = body.get("input", [])
    texts = [texts] if isinstance(texts, str) else list(texts)
    dim = int(body.get("dimensions") or EMBED_DIM)
    data = [
        {"object": "embedding", "index": i, "embedding": _unit_vector(str(t), dim)}
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(str(t).split()) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model") or "mock-embed",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }

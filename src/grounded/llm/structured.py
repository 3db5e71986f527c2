"""Structured output: ask for JSON matching a schema, validate it, repair once, or raise.

A model with the `json_schema` capability gets the schema natively (OpenAI
`response_format`, a forced tool for Anthropic, a grammar for llama.cpp); any
other model gets it in a system message. Either way the reply is validated —
a provider's promise is not a guarantee — and an invalid reply earns one repair
attempt that shows the model what was wrong. If that fails too, the caller gets
`StructuredOutputError` with the validation errors; the raw text rides on the
exception and is never put in the message, so logging the error logs no output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jsonschema
from jsonschema.validators import validator_for
from pydantic import BaseModel, ValidationError

from grounded.domain import ChatRequest, ChatResponse, Message, Usage
from grounded.errors import InvalidRequest, StructuredOutputError
from grounded.ports import ChatModel

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)

Schema = Mapping[str, Any] | type[BaseModel]


@dataclass(frozen=True)
class Validator:
    """Checks a reply against a JSON Schema or a pydantic model."""

    json_schema: Mapping[str, Any]
    model: type[BaseModel] | None = None

    @classmethod
    def of(cls, schema: Schema) -> Validator:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return cls(schema.model_json_schema(), schema)
        if not isinstance(schema, Mapping):
            raise InvalidRequest("a schema is a JSON Schema object or a pydantic model class")
        try:
            validator_for(schema).check_schema(dict(schema))
        except jsonschema.SchemaError as exc:
            raise InvalidRequest(f"the JSON Schema is invalid: {exc.message}") from None
        return cls(schema)

    def validate(self, text: str) -> tuple[Any, list[str]]:
        """(the parsed value, []) or (None, the problems)."""
        match = _FENCE.match(text)
        body = match.group(1) if match else text
        try:
            # strict=False admits raw control characters inside strings: llama.cpp's JSON
            # grammar (server side) lets them through, and they lose no information.
            value = json.loads(body, strict=False)
        except json.JSONDecodeError as exc:
            return None, [f"not valid JSON: {exc.msg} at position {exc.pos}"]
        if self.model is not None:
            try:
                return self.model.model_validate(value), []
            except ValidationError as exc:
                return None, [_pydantic_problem(e) for e in exc.errors(include_input=False)]
        cls = validator_for(self.json_schema)
        errors = sorted(cls(self.json_schema).iter_errors(value), key=lambda e: list(e.path))
        return (None, [_schema_problem(e) for e in errors]) if errors else (value, [])


def _pydantic_problem(err: Any) -> str:
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
    return f"{where}: {err['msg']}"


def _schema_problem(err: jsonschema.ValidationError) -> str:
    """Path and rule, never the offending value (it is model output)."""
    where = err.json_path
    rule, expected = err.validator, err.validator_value
    if rule == "required":
        names = list(expected) if isinstance(expected, list) else []
        missing = [k for k in names if isinstance(err.instance, dict) and k not in err.instance]
        return f"{where}: missing required properties {missing}"
    if rule == "additionalProperties":
        return f"{where}: has properties the schema does not allow"
    if rule in (
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "pattern",
        "format",
    ):
        return f"{where}: must satisfy {rule}={json.dumps(expected)}"
    return f"{where}: fails {rule}"


def _prompted(request: ChatRequest, validator: Validator) -> ChatRequest:
    """For models without a native schema mode: the schema goes into a system message."""
    instruction = (
        "Reply with only a JSON value (no prose, no code fence) that matches this JSON Schema:\n"
        + json.dumps(validator.json_schema)
    )
    return replace(request, messages=(Message.system(instruction), *request.messages))


def _repair(request: ChatRequest, reply: str, problems: list[str]) -> ChatRequest:
    feedback = (
        "Your reply did not match the required JSON Schema:\n- "
        + "\n- ".join(problems[:20])
        + "\nReply again with only the corrected JSON."
    )
    return replace(
        request, messages=(*request.messages, Message.assistant(reply), Message.user(feedback))
    )


def _combine(first: ChatResponse, second: ChatResponse) -> ChatResponse:
    usage = (first.usage or Usage()) + (second.usage or Usage())
    costs = [c for c in (first.cost_usd, second.cost_usd) if c is not None]
    return replace(
        second,
        usage=usage,
        cost_usd=sum(costs) if costs else None,
        latency_ms=first.latency_ms + second.latency_ms,
        attempts=(*first.attempts, *second.attempts),
        cached=first.cached and second.cached,
    )


async def complete_structured(
    model: ChatModel, request: ChatRequest, schema: Schema
) -> ChatResponse:
    """The model's reply with `output` set to the validated object (dict/list or pydantic model)."""
    validator = Validator.of(schema)
    if model.capabilities.json_schema:
        asked = replace(request, json_schema=validator.json_schema)
    else:
        asked = _prompted(replace(request, json_schema=None), validator)
    first = await model.complete(asked)
    value, problems = validator.validate(first.text)
    if not problems:
        return replace(first, output=value)
    second = await model.complete(_repair(asked, first.text, problems))
    value, problems = validator.validate(second.text)
    if not problems:
        return replace(_combine(first, second), output=value)
    raise StructuredOutputError(second.model, problems, second.text)

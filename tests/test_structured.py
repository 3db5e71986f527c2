"""Structured output: validation, one repair, then a typed error that does not leak output."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel

from grounded.domain import Capabilities, ChatRequest, ChatResponse, Usage
from grounded.errors import InvalidRequest, StructuredOutputError
from grounded.llm.structured import Validator, complete_structured
from grounded.testing import ScriptedChatModel
from grounded.testing.chat_conformance import run

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "role": {"enum": ["admin", "staff"]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
REQ = ChatRequest.of("Extract the person: Ada, 36, admin.")


class Person(BaseModel):
    name: str
    age: int


def model(*replies: str | ChatResponse, json_schema: bool = True) -> ScriptedChatModel:
    return ScriptedChatModel(list(replies), capabilities=Capabilities(json_schema=json_schema))


def test_valid_output_is_parsed_and_the_schema_sent_natively() -> None:
    m = model('{"name": "Ada", "age": 36, "role": "admin"}')
    response = run(complete_structured(m, REQ, SCHEMA))
    assert response.output == {"name": "Ada", "age": 36, "role": "admin"}
    assert m.requests[0].json_schema == SCHEMA
    assert len(m.requests) == 1


def test_invalid_output_is_repaired_once_with_the_validation_errors_shown() -> None:
    first = ChatResponse(
        '{"name": "Ada", "age": "thirty-six"}', "m", usage=Usage(10, 5), cost_usd=0.1
    )
    second = ChatResponse('{"name": "Ada", "age": 36}', "m", usage=Usage(20, 5), cost_usd=0.2)
    m = model(first, second)
    response = run(complete_structured(m, REQ, SCHEMA))
    assert response.output == {"name": "Ada", "age": 36}
    repair = m.requests[1].messages
    assert repair[-2].role == "assistant" and "thirty-six" in repair[-2].content
    assert repair[-1].role == "user" and "$.age" in repair[-1].content
    assert response.usage == Usage(30, 10)
    assert response.cost_usd == pytest.approx(0.3)


def test_still_invalid_after_repair_raises_with_errors_and_raw_output(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secretish = '{"name": "Ada", "age": -1, "ssn": "123-45-6789"}'
    m = model("not json at all", secretish)
    with caplog.at_level(logging.DEBUG), pytest.raises(StructuredOutputError) as info:
        run(complete_structured(m, REQ, SCHEMA))
    exc = info.value
    assert exc.raw_output == secretish
    assert any("$.age" in e and "minimum" in e for e in exc.errors)
    assert any("properties the schema does not allow" in e for e in exc.errors)
    assert "123-45-6789" not in str(exc) and "-1" not in str(exc)
    assert "123-45-6789" not in caplog.text
    assert len(m.requests) == 2


def test_pydantic_models_are_schemas_too() -> None:
    m = model('```json\n{"name": "Ada", "age": 36}\n```')
    response = run(complete_structured(m, REQ, Person))
    assert response.output == Person(name="Ada", age=36)
    assert m.requests[0].json_schema == Person.model_json_schema()


def test_pydantic_errors_name_the_field_without_the_value() -> None:
    m = model('{"name": "Ada"}', '{"name": "Ada", "age": "old"}')
    with pytest.raises(StructuredOutputError) as info:
        run(complete_structured(m, REQ, Person))
    assert info.value.errors and info.value.errors[0].startswith("$.age")
    assert "old" not in str(info.value)


def test_models_without_a_native_mode_get_the_schema_in_a_system_message() -> None:
    m = model('{"name": "Ada", "age": 36}', json_schema=False)
    response = run(complete_structured(m, REQ, SCHEMA))
    assert response.output["age"] == 36
    sent = m.requests[0]
    assert sent.json_schema is None
    assert (
        sent.messages[0].role == "system"
        and '"additionalProperties": false' in sent.messages[0].content
    )


def test_an_invalid_schema_is_the_callers_error() -> None:
    with pytest.raises(InvalidRequest, match="JSON Schema is invalid"):
        Validator.of({"type": "no-such-type"})

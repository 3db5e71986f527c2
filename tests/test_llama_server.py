"""The openai_compatible provider against a real server: llama-cpp-python's, on SmolLM2."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import httpx
import jsonschema
import pytest

from grounded.config import OpenAICompatibleModelConfig
from grounded.domain import ChatRequest
from grounded.errors import ProviderError
from grounded.llm.openai_compat import OpenAICompatibleModel
from grounded.testing.chat_conformance import ChatModelConformance, collect, run

if TYPE_CHECKING:
    from tests.conftest import LlamaServer

pytestmark = pytest.mark.slow


def _model(server: LlamaServer) -> OpenAICompatibleModel:
    cfg = OpenAICompatibleModelConfig.model_validate(
        {
            "base_url": server.base_url,
            "model": server.model,
            "supports_tools": False,  # SmolLM2 does not call tools reliably
            "json_schema_mode": "json_object",  # the only form llama_cpp.server accepts
            "context_window": 2048,
        }
    )
    return OpenAICompatibleModel("smollm2", cfg)


class TestLlamaServerConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self, llama_server: LlamaServer) -> OpenAICompatibleModel:
        return _model(llama_server)


def test_plain_completion_reports_usage_and_model(llama_server: LlamaServer) -> None:
    model = _model(llama_server)
    request = ChatRequest.of("Name three colours.", max_tokens=32, temperature=0.0, seed=0)
    response = run(model.complete(request))
    assert response.text.strip()
    assert response.model == "smollm2"
    assert response.provider_model == llama_server.model
    assert response.finish_reason in ("stop", "length")
    assert response.usage is not None
    assert response.usage.input_tokens > 10
    assert 0 < response.usage.output_tokens <= 32
    run(model.aclose())


def test_streaming_matches_the_plain_answer(llama_server: LlamaServer) -> None:
    model = _model(llama_server)
    request = ChatRequest.of("Count from one to ten.", max_tokens=48, temperature=0.0, seed=0)
    plain = run(model.complete(request))
    events = run(collect(model, request))
    final = events[-1].response
    assert final is not None
    assert len([e for e in events if e.delta]) >= 5, "the answer arrives in pieces"
    assert final.text == plain.text
    assert final.finish_reason == plain.finish_reason
    run(model.aclose())


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 40},
        "country": {"type": "string", "maxLength": 40},
        "kind": {"enum": ["capital", "port", "other"]},
        "population_millions": {"type": "integer"},
        "landmarks": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3},
    },
    "required": ["city", "country", "kind", "population_millions", "landmarks"],
    "additionalProperties": False,
}


def test_json_schema_requests_get_schema_shaped_json(llama_server: LlamaServer) -> None:
    model = _model(llama_server)
    for city in ("Paris", "Tokyo", "Lagos", "Lima", "Oslo"):
        request = ChatRequest.of(
            f"Describe {city} as JSON.", max_tokens=200, temperature=0.0, json_schema=SCHEMA
        )
        response = run(model.complete(request))
        # strict=False: llama_cpp.server's grammar lets raw control characters (a newline)
        # into strings (abetlen/llama-cpp-python#1259); the shape is still the schema's.
        jsonschema.validate(json.loads(response.text, strict=False), SCHEMA)
    run(model.aclose())


def test_a_prompt_over_the_context_window_is_a_bad_request(llama_server: LlamaServer) -> None:
    model = _model(llama_server)
    with pytest.raises(ProviderError) as info:
        run(model.complete(ChatRequest.of("lorem ipsum " * 2000, max_tokens=8)))
    assert info.value.kind == "bad_request" and info.value.status == 400
    assert info.value.retryable is False
    run(model.aclose())


def test_the_server_embeds_with_the_same_gguf(llama_server: LlamaServer) -> None:
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly tax filing."]
    body = {"model": llama_server.embedding_model, "input": texts}
    data = httpx.post(f"{llama_server.base_url}/embeddings", json=body, timeout=60).json()
    vectors = [item["embedding"] for item in sorted(data["data"], key=lambda d: d["index"])]
    assert [len(v) for v in vectors] == [576, 576, 576]

    def cosine(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    again = httpx.post(f"{llama_server.base_url}/embeddings", json=body, timeout=60).json()
    assert again["data"][0]["embedding"] == data["data"][0]["embedding"]

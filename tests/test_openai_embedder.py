"""The OpenAI-compatible embedder against the mock server: batching, retries, identity."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from grounded.config import OpenAICompatibleEmbedderConfig, Settings
from grounded.embed import build_embedder, embedder_identity
from grounded.embed.openai_compat import OpenAICompatibleEmbedder
from grounded.errors import ProviderError
from grounded.testing.mock_llm_server import Fault, MockLLMServer

KEY = "sk-embed-0123456789abcdef"
TEXTS = ["alpha beta", "gamma", "", "delta epsilon zeta", "eta"]


@pytest.fixture(autouse=True)
def _fresh(mock_llm: MockLLMServer) -> None:
    mock_llm.reset()


@pytest.fixture
def make(mock_llm: MockLLMServer) -> Iterator[Any]:
    made: list[OpenAICompatibleEmbedder] = []

    def build(**overrides: Any) -> OpenAICompatibleEmbedder:
        fields = {"base_url": mock_llm.base_url, "model": "mock-embed", "timeout_s": 5}
        embedder = OpenAICompatibleEmbedder(
            OpenAICompatibleEmbedderConfig(**{**fields, **overrides})
        )
        made.append(embedder)
        return embedder

    yield build
    for embedder in made:
        embedder.close()


def embedding_requests(server: MockLLMServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path.endswith("/embeddings")]


def test_vectors_are_unit_float32_in_order_and_batched(mock_llm: MockLLMServer, make: Any) -> None:
    vectors = make(batch_size=2).embed(TEXTS, kind="document")
    assert vectors.shape == (5, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert [len(body["input"]) for body in embedding_requests(mock_llm)] == [2, 2, 1]
    assert embedding_requests(mock_llm)[1]["input"] == [" ", "delta epsilon zeta"]  # "" → " "
    again = make().embed(["gamma"], kind="query")
    np.testing.assert_array_equal(again[0], vectors[1])  # same text, same vector, any batch


def test_dim_is_learnt_from_the_server_only_when_needed(mock_llm: MockLLMServer, make: Any) -> None:
    embedder = make()
    assert mock_llm.requests == []  # building an embedder costs no request
    assert embedder.dim == 16
    assert len(mock_llm.requests) == 1
    embedder.embed(["one"], kind="document")
    assert embedder.dim == 16 and len(mock_llm.requests) == 2


def test_configured_dimensions_are_requested_and_known_up_front(
    mock_llm: MockLLMServer, make: Any
) -> None:
    embedder = make(dimensions=8)
    assert embedder.dim == 8 and mock_llm.requests == []
    assert embedder.embed(["one", "two"], kind="document").shape == (2, 8)
    assert embedding_requests(mock_llm)[0]["dimensions"] == 8
    assert embedder.embed([], kind="query").shape == (0, 8)


def test_model_id_is_stable_and_known_without_the_server(mock_llm: MockLLMServer) -> None:
    settings = Settings(
        embedder={"kind": "openai_compatible", "base_url": mock_llm.base_url, "model": "bge-m3"}
    )
    assert embedder_identity(settings.embedder) == "openai_compatible:bge-m3"
    sized = OpenAICompatibleEmbedderConfig(
        base_url="http://elsewhere/v1", model="bge-m3", dimensions=256
    )
    assert embedder_identity(sized) == "openai_compatible:bge-m3:256"
    embedder = build_embedder(settings.embedder)
    assert isinstance(embedder, OpenAICompatibleEmbedder)
    try:
        assert embedder.model_id == embedder_identity(settings.embedder)
        assert embedder.embed(["x"], kind="query").shape == (1, 16)
    finally:
        embedder.close()


def test_retryable_failures_are_retried_honouring_retry_after(
    mock_llm: MockLLMServer, make: Any
) -> None:
    mock_llm.faults.extend([Fault.status(429, retry_after=0.3), Fault.status(503)])
    started = time.monotonic()
    vectors = make(max_attempts=3).embed(["a", "b"], kind="document")
    assert vectors.shape == (2, 16)
    assert len(mock_llm.requests) == 3
    assert time.monotonic() - started >= 0.3


def test_giving_up_raises_the_last_error(mock_llm: MockLLMServer, make: Any) -> None:
    mock_llm.faults.extend([Fault.status(500), Fault.drop()])
    with pytest.raises(ProviderError) as info:
        make(max_attempts=2).embed(["a"], kind="document")
    assert info.value.kind == "connection" and len(mock_llm.requests) == 2


@pytest.mark.parametrize(
    ("fault", "kind"),
    [(Fault.status(400), "bad_request"), (Fault.status(401), "auth")],
)
def test_caller_errors_are_not_retried(
    mock_llm: MockLLMServer, make: Any, fault: Fault, kind: str
) -> None:
    mock_llm.faults.append(fault)
    with pytest.raises(ProviderError) as info:
        make(max_attempts=3).embed(["a"], kind="document")
    assert info.value.kind == kind and len(mock_llm.requests) == 1


def test_invalid_json_and_timeouts(mock_llm: MockLLMServer, make: Any) -> None:
    mock_llm.faults.append(Fault.invalid_json())
    with pytest.raises(ProviderError) as info:
        make(max_attempts=1).embed(["a"], kind="document")
    assert info.value.kind == "invalid_response"
    mock_llm.faults.append(Fault.slow(1.0))
    with pytest.raises(ProviderError) as info:
        make(max_attempts=1, timeout_s=0.2).embed(["a"], kind="document")
    assert info.value.kind == "timeout"


def test_a_vector_size_change_is_refused(mock_llm: MockLLMServer, make: Any) -> None:
    embedder = make()
    embedder.dim = 32  # as if the index had been built with another size
    with pytest.raises(ProviderError, match="16-dimensional vectors, expected 32") as info:
        embedder.embed(["a"], kind="query")
    assert info.value.kind == "invalid_response"


def test_azure_url_and_key_header(
    mock_llm: MockLLMServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_EMBED_KEY", KEY)
    make(
        base_url=mock_llm.anthropic_url,
        deployment="text-embedding-3-small",
        api_version="2024-10-21",
        api_key_env="AZURE_EMBED_KEY",
    ).embed(["a"], kind="document")
    seen = mock_llm.requests[-1]
    assert seen.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert seen.query == "api-version=2024-10-21"
    assert seen.headers["api-key"] == KEY and "authorization" not in seen.headers


def test_missing_key_names_the_setting(
    mock_llm: MockLLMServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMBED_TEST_KEY", raising=False)
    with pytest.raises(ProviderError, match="EMBED_TEST_KEY.*embedder.api_key_env") as info:
        make(api_key_env="EMBED_TEST_KEY").embed(["a"], kind="document")
    assert info.value.kind == "auth" and mock_llm.requests == []


def test_the_key_never_appears_in_errors(
    mock_llm: MockLLMServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_TEST_KEY", KEY)
    embedder = make(api_key_env="EMBED_TEST_KEY")
    mock_llm.faults.append(Fault.status(401, body=f"bad key {KEY}"))
    with pytest.raises(ProviderError) as info:
        embedder.embed(["a"], kind="document")
    assert KEY not in str(info.value) and "bad key ***" in str(info.value)
    assert mock_llm.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(embedder) and KEY not in repr(vars(embedder))


def test_count_tokens_is_a_rough_estimate(make: Any) -> None:
    embedder = make()
    assert embedder.count_tokens("") == 1
    assert 20 <= embedder.count_tokens("word " * 20) <= 30

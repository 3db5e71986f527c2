"""`grounded chat` and `grounded models` as a user runs them, against a local HTTP server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from grounded.testing.mock_llm_server import Fault, MockLLMServer
from tests.helpers import cli_env, grounded

SECRET = "sk-test-abcdef123456"


@pytest.fixture
def server(mock_llm: MockLLMServer) -> MockLLMServer:
    mock_llm.reset()
    return mock_llm


@pytest.fixture
def config(tmp_path: Path, server: MockLLMServer) -> Path:
    quick = {"max_attempts": 1}
    cfg = {
        "models": {
            "mock": {
                "provider": "openai_compatible",
                "base_url": server.base_url,
                "model": "mock-model",
                "api_key_env": "MOCK_API_KEY",
                "price": {"input_per_mtok": 0.10, "output_per_mtok": 0.40},
            },
            "claude": {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "base_url": server.anthropic_url,
                "api_key_env": "MOCK_API_KEY",
            },
            "down": {
                "provider": "openai_compatible",
                "base_url": "http://127.0.0.1:9/v1",
                "model": "nothing",
                "retry": quick,
                "timeout_s": 2,
            },
        },
        "routes": {"default": ["down", "mock"], "anthropic": ["claude"]},
    }
    path = tmp_path / "grounded.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def env() -> dict[str, str]:
    return cli_env(MOCK_API_KEY=SECRET)


def test_chat_json_has_the_documented_shape_and_is_cached_the_second_time(
    config: Path, server: MockLLMServer
) -> None:
    first = grounded("chat", "Say hello", "--json", cwd=config.parent, env=env())
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert set(out) >= {
        "text",
        "model",
        "attempts",
        "usage",
        "cost_usd",
        "cached",
        "latency_ms",
        "output",
    }
    assert out["text"] == "Hello from the mock server."
    assert out["model"] == "mock"  # `down` refused the connection, the route fell back
    assert [(a["model"], a["outcome"], a["error"]) for a in out["attempts"]] == [
        ("down", "error", "connection"),
        ("mock", "ok", None),
    ]
    usage = out["usage"]
    assert usage["input_tokens"] > 0 and not usage["estimated"]
    expected = (usage["input_tokens"] * 0.10 + usage["output_tokens"] * 0.40) / 1e6
    assert out["cost_usd"] == pytest.approx(expected)
    assert out["cached"] is False
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"

    second = json.loads(
        grounded("chat", "Say hello", "--json", cwd=config.parent, env=env()).stdout
    )
    assert second["cached"] is True and second["cost_usd"] == 0.0 and second["attempts"] == []


def test_chat_with_a_schema_prints_the_validated_object(config: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
                "required": ["label", "score"],
            }
        )
    )
    result = grounded(
        "chat", "-m", "mock", "Classify", "--schema", schema, "--json", cwd=config.parent, env=env()
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)["output"]
    assert isinstance(output["label"], str) and isinstance(output["score"], int)


def test_chat_streams_text_and_json_lines(config: Path) -> None:
    text = grounded(
        "chat", "-m", "claude", "Hi", "--stream", "--no-cache", cwd=config.parent, env=env()
    )
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip() == "Hello from the mock server."
    lines = grounded(
        "chat", "-m", "mock", "Hi", "--stream", "--json", "--no-cache", cwd=config.parent, env=env()
    ).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) > 2
    assert "".join(e["delta"] for e in events[:-1]) == events[-1]["text"]


def test_models_check_reports_each_model_and_exits_1_when_one_fails(config: Path) -> None:
    result = grounded(
        "models", "check", "mock,claude,down,extractive", "--json", cwd=config.parent, env=env()
    )
    assert result.returncode == 1
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert rows["mock"]["status"] == "ok" and rows["claude"]["status"] == "ok"
    assert rows["extractive"]["status"] == "ok"
    assert rows["down"]["status"] == "error" and rows["down"]["kind"] == "connection"
    assert all(r["circuit"] == "closed" for r in rows.values())
    ok = grounded("models", "check", "mock", cwd=config.parent, env=env())
    assert ok.returncode == 0 and "mock" in ok.stdout


def test_models_list_shows_models_routes_and_capabilities(config: Path) -> None:
    result = grounded("models", "list", "--json", cwd=config.parent, env=env())
    data = json.loads(result.stdout)
    names = {m["name"]: m for m in data["models"]}
    assert set(names) == {"mock", "claude", "down", "local", "extractive"}
    assert names["mock"]["routes"] == ["default"]
    assert names["mock"]["capabilities"]["json_schema"] is True
    assert data["routes"]["default"]["models"] == ["down", "mock"]


def test_unknown_model_is_one_line_listing_the_names(config: Path) -> None:
    result = grounded("chat", "-m", "gpt-9", "hi", cwd=config.parent, env=env())
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "unknown model or route 'gpt-9'" in result.stderr and "mock" in result.stderr


def test_missing_key_names_the_variable(config: Path) -> None:
    result = grounded("chat", "-m", "mock", "hi", cwd=config.parent, env=cli_env())
    assert result.returncode == 1
    assert "set the environment variable MOCK_API_KEY" in result.stderr


def test_a_key_echoed_by_the_server_never_reaches_the_terminal(
    config: Path, server: MockLLMServer
) -> None:
    server.faults.append(Fault.status(400, body=f"Incorrect API key provided: {SECRET}"))
    result = grounded("chat", "-m", "mock", "hi", "--no-cache", cwd=config.parent, env=env())
    assert result.returncode == 1
    assert "Incorrect API key provided: ***" in result.stderr
    assert SECRET not in result.stderr + result.stdout

"""The gateway as configured: grounded.yaml → models, routes, router, cache, deadlines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grounded.config import load_settings
from grounded.domain import Capabilities, ChatRequest
from grounded.errors import AllModelsFailed, ConfigError, ProviderError
from grounded.llm.gateway import Gateway
from grounded.testing import Delay, ScriptedChatModel
from grounded.testing.chat_conformance import run

CONFIG = {
    "models": {
        "vllm": {
            "provider": "openai_compatible",
            "base_url": "http://10.0.0.5:8000/v1",
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "api_key_env": "VLLM_API_KEY",
            "timeout_s": 30,
            "price": {"input_per_mtok": 0.10, "output_per_mtok": 0.40},
            "retry": {"base_delay_s": 0.0},
        },
        "claude": {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "api_key_env": "ANTHROPIC_API_KEY",
            "retry": {"base_delay_s": 0.0},
        },
    },
    "routes": {"default": ["vllm", "claude", "local"], "small": ["local"]},
    "router": {"rules": [{"tasks": ["classify"], "max_prompt_tokens": 500, "route": "small"}]},
}


def gateway(tmp_path: Path, providers: dict[str, ScriptedChatModel], **extra: object) -> Gateway:
    path = tmp_path / "grounded.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **extra}))
    settings = load_settings(path, data_dir=tmp_path / "data")
    return Gateway(settings, providers=dict(providers))


def scripted(name: str, *replies: object, **kw: object) -> ScriptedChatModel:
    return ScriptedChatModel(list(replies), name=name, **kw)  # type: ignore[arg-type]


def test_the_issue_config_loads_with_builtins(tmp_path: Path) -> None:
    gw = gateway(tmp_path, {})
    assert set(gw.settings.models) == {"vllm", "claude", "local", "extractive"}
    assert gw.settings.routes["default"].models == ["vllm", "claude", "local"]
    assert gw.settings.models["vllm"].price is not None


def test_route_falls_back_through_the_configured_chain(tmp_path: Path) -> None:
    down = ProviderError("vllm", "connection refused", kind="connection")
    providers = {
        "vllm": scripted("vllm", down, down, down),
        "claude": scripted(
            "claude", ProviderError("claude", "HTTP 529", kind="server_error"), "from claude"
        ),
        "local": scripted("local", "never"),
    }
    response = run(gateway(tmp_path, providers).complete(ChatRequest.of("hi"), "default"))
    assert response.model == "claude" and response.text == "from claude"
    outcomes = [(a.model, a.outcome, a.error) for a in response.attempts]
    assert outcomes == [("vllm", "error", "connection")] * 3 + [
        ("claude", "error", "server_error"),
        ("claude", "ok", None),
    ]
    assert providers["local"].requests == []


def test_cost_comes_from_the_answering_models_price(tmp_path: Path) -> None:
    from grounded.domain import ChatResponse, Usage

    reply = ChatResponse("ok", "vllm", usage=Usage(1_000_000, 100_000))
    response = run(
        gateway(tmp_path, {"vllm": scripted("vllm", reply)}).complete(ChatRequest.of("x"), "vllm")
    )
    assert response.cost_usd == pytest.approx(0.10 + 0.04)


def test_router_sends_short_classification_to_the_small_route(tmp_path: Path) -> None:
    providers = {"local": scripted("local", "spam"), "vllm": scripted("vllm", "big answer")}
    gw = gateway(tmp_path, providers)
    short = run(gw.complete(ChatRequest.of("Spam? 'buy now'", task="classify")))
    other = run(gw.complete(ChatRequest.of("Summarise this.", task="summarise")))
    assert (short.model, other.model) == ("local", "vllm")


def test_unknown_names_list_what_is_configured(tmp_path: Path) -> None:
    gw = gateway(tmp_path, {})
    with pytest.raises(
        ConfigError, match="unknown model or route 'gpt5'.*routes: default, extractive, small"
    ):
        gw.model("gpt5")


def test_a_route_naming_an_unknown_model_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "grounded.yaml"
    path.write_text(yaml.safe_dump({"routes": {"default": ["nope"]}}))
    with pytest.raises(
        ConfigError, match="unknown model.*nope.*configured models: extractive, local"
    ):
        load_settings(path)


def test_missing_api_key_names_the_variable_and_falls_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    gw = gateway(tmp_path, {"local": scripted("local", "local answer")})
    response = run(gw.complete(ChatRequest.of("hi"), "default"))
    assert response.model == "local"
    assert [a.error for a in response.attempts[:2]] == ["auth", "auth"]
    with pytest.raises(ProviderError, match="set the environment variable VLLM_API_KEY"):
        run(gw.complete(ChatRequest.of("hi"), "vllm"))


def test_every_model_failing_is_one_error_with_each_reason(tmp_path: Path) -> None:
    providers = {
        name: scripted(name, default=ProviderError(name, f"{name} is down", kind="auth"))
        for name in ("vllm", "claude", "local")
    }
    with pytest.raises(AllModelsFailed) as info:
        run(gateway(tmp_path, providers).complete(ChatRequest.of("hi"), "default"))
    assert all(f"{n} is down" in str(info.value) for n in ("vllm", "claude", "local"))


def test_total_deadline_from_config(tmp_path: Path) -> None:
    providers = {"vllm": scripted("vllm", Delay(5, "late"))}
    gw = gateway(tmp_path, providers, gateway={"total_timeout_s": 0.2})
    with pytest.raises(ProviderError) as info:
        run(gw.complete(ChatRequest.of("hi"), "vllm"))
    assert info.value.kind in ("deadline", "timeout")


def test_cache_is_on_by_default_and_keyed_by_scope(tmp_path: Path) -> None:
    providers = {"vllm": scripted("vllm", "one", "two", "three")}
    gw = gateway(tmp_path, providers)
    a = ChatRequest.of("q", cache_scope="acme:alice")
    assert run(gw.complete(a, "vllm")).text == "one"
    assert run(gw.complete(a, "vllm")).cached
    assert run(gw.complete(ChatRequest.of("q", cache_scope="acme:bob"), "vllm")).text == "two"
    assert (tmp_path / "data" / "cache" / "llm.sqlite").exists()
    assert gw.metrics.value("llm_cache_total", route="vllm", result="hit") == 1


def test_changing_a_models_config_invalidates_its_cached_answers(tmp_path: Path) -> None:
    a = ChatRequest.of("q", cache_scope="s")
    run(gateway(tmp_path, {"vllm": scripted("vllm", "old")}).complete(a, "vllm"))
    changed = {**CONFIG["models"]["vllm"], "model": "another-model"}  # type: ignore[index]
    gw = gateway(
        tmp_path, {"vllm": scripted("vllm", "new")}, models={**CONFIG["models"], "vllm": changed}
    )  # type: ignore[dict-item]
    assert run(gw.complete(a, "vllm")).text == "new"


def test_structured_through_the_gateway(tmp_path: Path) -> None:
    caps = Capabilities(json_schema=True)
    gw = gateway(tmp_path, {"vllm": scripted("vllm", '{"label": "spam"}', capabilities=caps)})
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["spam", "ham"]}},
        "required": ["label"],
    }
    response = run(gw.structured(ChatRequest.of("classify"), schema, "vllm"))
    assert response.output == {"label": "spam"}


def test_circuit_state_is_a_metric(tmp_path: Path) -> None:
    failing = scripted("vllm", default=ProviderError("vllm", "500", kind="server_error"))
    gw = gateway(tmp_path, {"vllm": failing})
    for _ in range(2):
        with pytest.raises(ProviderError):
            run(gw.complete(ChatRequest.of("x"), "vllm"))
    # 2 calls × 3 attempts = 6 server errors ≥ 5 in the window: open.
    assert gw.breakers["vllm"].state.value == "open"
    assert gw.metrics.value("llm_circuit_state", model="vllm") == 2

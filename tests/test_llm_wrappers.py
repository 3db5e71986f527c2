"""The gateway's wrappers, driven by ScriptedChatModel: retry, deadlines, circuit, fallback,
cache, metering, limits, routing. Real-server versions of these live in test_gateway_faults.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from grounded.config import CircuitConfig, PriceConfig, RetryConfig, RouterConfig, RouteRule
from grounded.domain import Capabilities, ChatRequest, ChatResponse, Usage
from grounded.errors import AllModelsFailed, ProviderError
from grounded.llm.cache import Cached, ResponseCache
from grounded.llm.circuit import CircuitBreaker, CircuitState
from grounded.llm.fallback import Fallback
from grounded.llm.meter import Limited, Metered, cost_of
from grounded.llm.retry import Retrying, WithDeadline
from grounded.llm.router import Router
from grounded.telemetry.metrics import Metrics
from grounded.testing import Delay, ScriptedChatModel
from grounded.testing.chat_conformance import ChatModelConformance, collect, run

REQ = ChatRequest.of("hello")


def err(kind: str, status: int | None = None, retry_after: float | None = None) -> ProviderError:
    return ProviderError("m", f"injected {kind}", kind=kind, status=status, retry_after=retry_after)


class Sleeps:
    """Records backoff waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def retrying(model: ScriptedChatModel, sleeps: Sleeps, rand: float = 1.0, **cfg: float) -> Retrying:
    config = RetryConfig(**{"max_attempts": 3, "base_delay_s": 0.5, "max_delay_s": 20.0, **cfg})
    return Retrying(Metered(model, None, Metrics()), config, sleep=sleeps, rand=lambda: rand)


# ------------------------------------------------------------------ retry


def test_retries_a_server_error_with_exponential_full_jitter() -> None:
    model = ScriptedChatModel([err("server_error", 500), err("server_error", 503), "ok"])
    sleeps = Sleeps()
    response = run(retrying(model, sleeps).complete(REQ))
    assert response.text == "ok"
    assert [a.outcome for a in response.attempts] == ["error", "error", "ok"]
    assert [a.error for a in response.attempts] == ["server_error", "server_error", None]
    assert sleeps.waits == [0.5, 1.0]  # rand = 1.0: the top of [0, base·2^(n-1)]


def test_jitter_is_uniform_below_the_cap() -> None:
    model = ScriptedChatModel([err("timeout"), "ok"])
    sleeps = Sleeps()
    run(retrying(model, sleeps, rand=0.25).complete(REQ))
    assert sleeps.waits == [0.125]


def test_retry_after_is_honoured() -> None:
    model = ScriptedChatModel([err("rate_limited", 429, retry_after=1.5), "ok"])
    sleeps = Sleeps()
    run(retrying(model, sleeps, rand=0.0).complete(REQ))
    assert sleeps.waits == [1.5]


def test_retry_after_longer_than_the_cap_gives_up_at_once() -> None:
    model = ScriptedChatModel([err("rate_limited", 429, retry_after=120), "never"])
    with pytest.raises(ProviderError) as info:
        run(retrying(model, Sleeps()).complete(REQ))
    assert info.value.kind == "rate_limited"
    assert model.remaining == 1


@pytest.mark.parametrize(
    ("kind", "status"), [("bad_request", 400), ("auth", 401), ("auth", 403), ("bad_request", 422)]
)
def test_caller_errors_are_never_retried(kind: str, status: int) -> None:
    model = ScriptedChatModel([err(kind, status), "never"])
    with pytest.raises(ProviderError) as info:
        run(retrying(model, Sleeps()).complete(REQ))
    assert info.value.status == status
    assert len(model.requests) == 1
    assert len(info.value.attempts) == 1


def test_gives_up_after_max_attempts_with_every_attempt_recorded() -> None:
    model = ScriptedChatModel([err("connection")] * 3 + ["never"])
    with pytest.raises(ProviderError) as info:
        run(retrying(model, Sleeps()).complete(REQ))
    assert [a.error for a in info.value.attempts] == ["connection"] * 3


def test_attempt_timeout_cuts_a_slow_attempt_and_retries() -> None:
    model = ScriptedChatModel([Delay(5.0, "slow"), "fast"])
    stack = Retrying(model, RetryConfig(base_delay_s=0), attempt_timeout_s=0.05)
    start = time.monotonic()
    response = run(stack.complete(REQ))
    assert time.monotonic() - start < 1.0
    assert response.text == "fast"
    assert response.attempts[0].error == "timeout"


def test_total_deadline_bounds_retries_and_fallbacks() -> None:
    slow = ScriptedChatModel([Delay(0.15, err("server_error"))] * 10, name="slow")
    stack = WithDeadline(Retrying(slow, RetryConfig(max_attempts=10, base_delay_s=0)), 0.4)
    start = time.monotonic()
    with pytest.raises(ProviderError) as info:
        run(stack.complete(REQ))
    assert info.value.kind == "deadline"
    assert time.monotonic() - start < 0.7


def test_a_retry_that_would_outlast_the_deadline_is_not_attempted() -> None:
    model = ScriptedChatModel([err("rate_limited", 429, retry_after=5.0), "never"])
    stack = WithDeadline(Retrying(model, RetryConfig(max_delay_s=30)), 1.0)
    start = time.monotonic()
    with pytest.raises(ProviderError) as info:
        run(stack.complete(REQ))
    assert info.value.kind == "rate_limited"  # the real reason, not a deadline
    assert time.monotonic() - start < 0.5


def test_stream_is_retried_before_the_first_event_only() -> None:
    model = ScriptedChatModel([err("server_error"), "one two three"])
    events = run(collect(retrying(model, Sleeps()), REQ))
    assert "".join(e.delta for e in events) == "one two three"
    final = events[-1].response
    assert final is not None and [a.outcome for a in final.attempts] == ["error", "ok"]


# ------------------------------------------------------------------ circuit breaker


def breaker(
    model: ScriptedChatModel, clock: Clock, metrics: Metrics | None = None
) -> CircuitBreaker:
    cfg = CircuitConfig(failures=3, window_s=10, open_s=30)
    return CircuitBreaker(model, cfg, metrics, clock=clock)


def fail(cb: CircuitBreaker) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        run(cb.complete(REQ))
    return info.value


def test_circuit_opens_after_n_failures_in_the_window_and_refuses_without_calling() -> None:
    clock, metrics = Clock(), Metrics()
    model = ScriptedChatModel([err("server_error")] * 3, default="ok")
    cb = breaker(model, clock, metrics)
    for _ in range(3):
        fail(cb)
    assert cb.state is CircuitState.OPEN
    assert metrics.value("llm_circuit_state", model="scripted") == 2
    refused = fail(cb)
    assert refused.kind == "circuit_open" and not refused.retryable
    assert len(model.requests) == 3  # the refused call never reached the model


def test_failures_outside_the_window_do_not_open_it() -> None:
    clock = Clock()
    cb = breaker(ScriptedChatModel([err("timeout")] * 3), clock)
    fail(cb)
    fail(cb)
    clock.now += 11
    fail(cb)
    assert cb.state is CircuitState.CLOSED


def test_caller_errors_do_not_open_the_circuit() -> None:
    cb = breaker(ScriptedChatModel([err("bad_request", 400)] * 5), Clock())
    for _ in range(5):
        fail(cb)
    assert cb.state is CircuitState.CLOSED


def test_half_open_probe_success_closes_the_circuit() -> None:
    clock = Clock()
    model = ScriptedChatModel([err("server_error")] * 3 + ["probe ok", "ok"])
    cb = breaker(model, clock)
    for _ in range(3):
        fail(cb)
    clock.now += 30
    assert cb.state is CircuitState.HALF_OPEN
    assert run(cb.complete(REQ)).text == "probe ok"
    assert cb.state is CircuitState.CLOSED
    assert run(cb.complete(REQ)).text == "ok"


def test_half_open_probe_failure_reopens_the_circuit() -> None:
    clock = Clock()
    cb = breaker(ScriptedChatModel([err("server_error")] * 4, default="ok"), clock)
    for _ in range(3):
        fail(cb)
    clock.now += 30
    fail(cb)
    assert cb.state is CircuitState.OPEN
    clock.now += 29
    assert fail(cb).kind == "circuit_open"


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    model = ScriptedChatModel([err("server_error")] * 3 + [Delay(0.1, "probe ok")], default="x")
    cb = breaker(model, clock)
    for _ in range(3):
        fail(cb)
    clock.now += 30

    async def two_calls() -> list[object]:
        return await asyncio.gather(cb.complete(REQ), cb.complete(REQ), return_exceptions=True)

    results = run(two_calls())
    assert sum(isinstance(r, ChatResponse) for r in results) == 1
    refused = [r for r in results if isinstance(r, ProviderError)]
    assert len(refused) == 1 and refused[0].kind == "circuit_open"


# ------------------------------------------------------------------ fallback


def test_fallback_moves_on_and_records_every_attempt() -> None:
    first = ScriptedChatModel([err("connection")], name="first")
    second = ScriptedChatModel(["from second"], name="second")
    metrics = Metrics()
    route = Fallback(
        "default",
        [Metered(first, None, metrics), Metered(second, None, metrics)],
        ["connection"],
        metrics,
    )
    response = run(route.complete(REQ))
    assert response.model == "second" and response.text == "from second"
    assert [(a.model, a.outcome, a.error) for a in response.attempts] == [
        ("first", "error", "connection"),
        ("second", "ok", None),
    ]
    assert metrics.total("llm_fallbacks_total", route="default") == 1


def test_errors_not_listed_do_not_fall_through() -> None:
    first = ScriptedChatModel([err("bad_request", 400)], name="first")
    second = ScriptedChatModel(["never"], name="second")
    with pytest.raises(ProviderError) as info:
        run(Fallback("r", [first, second], ["connection"]).complete(REQ))
    assert info.value.kind == "bad_request"
    assert second.requests == []


def test_all_models_failing_lists_each_reason() -> None:
    a = ScriptedChatModel([ProviderError("a", "refused", kind="connection")], name="a")
    b = ScriptedChatModel([ProviderError("b", "no API key: set B_KEY", kind="auth")], name="b")
    with pytest.raises(AllModelsFailed) as info:
        run(Fallback("r", [a, b], ["connection", "auth"]).complete(REQ))
    message = str(info.value)
    assert "a: refused" in message and "set B_KEY" in message
    assert len(info.value.attempts) == 2


def test_models_lacking_a_needed_capability_are_skipped() -> None:
    plain = ScriptedChatModel(["never"], name="plain", capabilities=Capabilities(tools=False))
    tooled = ScriptedChatModel(["{}"], name="tooled", capabilities=Capabilities(json_schema=True))
    request = ChatRequest.of("x", json_schema={"type": "object"})
    response = run(Fallback("r", [plain, tooled], ["connection"]).complete(request))
    assert response.model == "tooled"
    assert response.attempts[0].outcome == "skipped" and response.attempts[0].error == "unsupported"


def test_stream_falls_back_only_before_the_first_event() -> None:
    first = ScriptedChatModel([err("server_error")], name="first")
    second = ScriptedChatModel(["streamed answer"], name="second")
    events = run(collect(Fallback("r", [first, second], ["server_error"]), REQ))
    assert "".join(e.delta for e in events) == "streamed answer"


# ------------------------------------------------------------------ cache


def cached(model: ScriptedChatModel, tmp_path: Path, clock: Clock | None = None) -> Cached:
    cache = ResponseCache(tmp_path / "llm.sqlite", clock=clock or time.time)
    return Cached(model, cache, ttl_s=60, identity="route-a")


def test_cache_hit_returns_the_answer_for_free(tmp_path: Path) -> None:
    model = ScriptedChatModel(["first answer"])
    stack = cached(model, tmp_path)
    request = ChatRequest.of("q", cache_scope="tenant:acme")
    miss = run(stack.complete(request))
    hit = run(stack.complete(request))
    assert (miss.cached, hit.cached) == (False, True)
    assert hit.text == "first answer"
    assert hit.usage == Usage() and hit.cost_usd == 0.0
    assert len(model.requests) == 1


def test_cache_entries_expire(tmp_path: Path) -> None:
    clock = Clock()
    model = ScriptedChatModel(["one", "two"])
    stack = cached(model, tmp_path, clock)
    request = ChatRequest.of("q", cache_scope="s")
    run(stack.complete(request))
    clock.now += 61
    assert run(stack.complete(request)).text == "two"


def test_cache_never_shares_across_scopes(tmp_path: Path) -> None:
    model = ScriptedChatModel(["for alice", "for bob"])
    stack = cached(model, tmp_path)
    alice = run(stack.complete(ChatRequest.of("q", cache_scope="acme:alice|staff")))
    bob = run(stack.complete(ChatRequest.of("q", cache_scope="acme:bob|staff,hr")))
    assert (alice.text, bob.text) == ("for alice", "for bob")


def test_requests_without_a_scope_are_never_cached(tmp_path: Path) -> None:
    model = ScriptedChatModel(["one", "two"])
    stack = cached(model, tmp_path)
    assert run(stack.complete(REQ)).text == "one"
    assert run(stack.complete(REQ)).text == "two"
    assert len(stack.cache) == 0


def test_cache_key_covers_params_and_route_identity(tmp_path: Path) -> None:
    model = ScriptedChatModel(["a", "b", "c"])
    stack = cached(model, tmp_path)
    run(stack.complete(ChatRequest.of("q", cache_scope="s", temperature=0.0)))
    assert run(stack.complete(ChatRequest.of("q", cache_scope="s", temperature=0.7))).text == "b"
    other = Cached(model, stack.cache, ttl_s=60, identity="route-b")
    assert run(other.complete(ChatRequest.of("q", cache_scope="s", temperature=0.0))).text == "c"


def test_streamed_answers_are_cached_and_replayed(tmp_path: Path) -> None:
    model = ScriptedChatModel(["streamed once"])
    stack = cached(model, tmp_path)
    request = ChatRequest.of("q", cache_scope="s")
    run(collect(stack, request))
    events = run(collect(stack, request))
    assert "".join(e.delta for e in events) == "streamed once"
    assert events[-1].response is not None and events[-1].response.cached


# ------------------------------------------------------------------ metering and limits


def test_cost_arithmetic() -> None:
    price = PriceConfig(input_per_mtok=0.10, output_per_mtok=0.40)
    assert cost_of(Usage(1000, 500), price) == pytest.approx(0.0003)
    assert cost_of(Usage(2_000_000, 1_000_000), price) == pytest.approx(0.6)
    assert cost_of(Usage(10, 10), None) is None


def test_metering_uses_provider_usage_and_counts() -> None:
    metrics = Metrics()
    reply = ChatResponse("answer", model="x", usage=Usage(1000, 500))
    metered = Metered(
        ScriptedChatModel([reply]), PriceConfig(input_per_mtok=0.1, output_per_mtok=0.4), metrics
    )
    response = run(metered.complete(REQ))
    assert response.usage == Usage(1000, 500, estimated=False)
    assert response.cost_usd == pytest.approx(0.0003)
    assert response.latency_ms > 0
    assert metrics.value("llm_tokens_total", model="scripted", direction="input") == 1000
    assert metrics.value("llm_cost_usd_total", model="scripted") == pytest.approx(0.0003)


def test_metering_estimates_usage_the_provider_did_not_report() -> None:
    reply = ChatResponse("The capital of France is Paris.", model="x", usage=None)
    response = run(
        Metered(ScriptedChatModel([reply]), None, Metrics()).complete(
            ChatRequest.of("What is the capital of France?")
        )
    )
    assert response.usage is not None and response.usage.estimated
    assert response.usage.input_tokens == 7 and response.usage.output_tokens == 7
    assert response.cost_usd is None


def test_metering_counts_errors_by_kind() -> None:
    metrics = Metrics()
    with pytest.raises(ProviderError) as info:
        run(Metered(ScriptedChatModel([err("timeout")]), None, metrics).complete(REQ))
    assert metrics.value("llm_errors_total", model="scripted", kind="timeout") == 1
    assert info.value.attempts[0].error == "timeout"


def test_concurrency_limit_bounds_calls_in_flight() -> None:
    in_flight = peak = 0

    def slow_reply(request: ChatRequest) -> Delay:
        return Delay(0.05, "done")

    model = ScriptedChatModel(default=slow_reply)
    original = model.complete

    async def counting(request: ChatRequest) -> ChatResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(request)
        finally:
            in_flight -= 1

    model.complete = counting  # type: ignore[method-assign]
    limited = Limited(model, 2)

    async def many() -> None:
        await asyncio.gather(*(limited.complete(REQ) for _ in range(6)))

    run(many())
    assert peak == 2


# ------------------------------------------------------------------ router


def test_router_picks_routes_by_task_size_and_needs() -> None:
    small = ScriptedChatModel(default="small", name="small", capabilities=Capabilities())
    big = ScriptedChatModel(default="big", name="big", capabilities=Capabilities(tools=True))
    cfg = RouterConfig(
        default_route="big",
        rules=[RouteRule(route="small", tasks=["classify"], max_prompt_tokens=100)],
    )
    router = Router(cfg, {"small": small, "big": big})
    short = ChatRequest.of("Is this spam? buy now", task="classify")
    long = ChatRequest.of("word " * 1000, task="classify")
    assert router.choose(short) is small
    assert router.choose(long) is big
    assert router.choose(ChatRequest.of("hi", task="summarise")) is big
    assert run(router.complete(short)).text == "small"


def test_router_skips_a_rule_whose_route_lacks_a_needed_capability() -> None:
    small = ScriptedChatModel(default="s", name="small", capabilities=Capabilities())
    big = ScriptedChatModel(default="b", name="big", capabilities=Capabilities(tools=True))
    cfg = RouterConfig(default_route="big", rules=[RouteRule(route="small", tasks=["classify"])])
    from grounded.domain import ToolSpec

    request = ChatRequest.of("x", task="classify", tools=(ToolSpec("t"),))
    assert Router(cfg, {"small": small, "big": big}).choose(request) is big


# ------------------------------------------------------------------ conformance


class TestScriptedConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self) -> ScriptedChatModel:
        def reply(request: ChatRequest) -> str:
            return '{"answer": "Paris"}' if request.json_schema else "Hello there"

        return ScriptedChatModel(default=reply, capabilities=Capabilities(json_schema=True))


class TestFullStackConformance(ChatModelConformance):
    """The composed wrappers are themselves a conforming ChatModel."""

    @pytest.fixture
    def chat_model(self, tmp_path: Path) -> WithDeadline:
        def reply(request: ChatRequest) -> str:
            return '{"answer": "Paris"}' if request.json_schema else "Hello there"

        inner = ScriptedChatModel(default=reply, capabilities=Capabilities(json_schema=True))
        stack = Retrying(
            CircuitBreaker(Limited(Metered(inner, None, Metrics()), 4), CircuitConfig()),
            RetryConfig(),
        )
        route = Fallback("scripted", [stack], ["connection"])
        cache = ResponseCache(tmp_path / "c.sqlite")
        return WithDeadline(Cached(route, cache, ttl_s=60, identity="x"), 10)


def test_a_model_whose_package_is_missing_is_one_more_failed_model_to_a_route() -> None:
    from grounded.errors import ModelUnavailable

    missing = ModelUnavailable(
        "local: llama-cpp-python is not installed; pip install 'grounded[local]'"
    )
    local = ScriptedChatModel([missing], name="local")
    spare = ScriptedChatModel(["extractive answer"], name="extractive")
    route = Fallback(
        "r", [Metered(local, None, Metrics()), Metered(spare, None, Metrics())], ["unavailable"]
    )
    response = run(route.complete(REQ))
    assert response.model == "extractive"
    assert (response.attempts[0].model, response.attempts[0].error) == ("local", "unavailable")
    with pytest.raises(ProviderError, match=r"grounded\[local\]") as info:
        run(Metered(ScriptedChatModel([missing], name="local"), None, Metrics()).complete(REQ))
    assert info.value.kind == "unavailable" and not info.value.retryable


def test_cache_writes_behind_and_keeps_entries_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "llm.sqlite"
    cache = ResponseCache(path, batch=3, flush_s=3600)
    answer = ChatResponse("kept", "m", usage=Usage(3, 1, estimated=True), cost_usd=0.5)
    cache.put("a", answer, 60)
    assert cache.get("a") is not None  # pending entries are visible before they are written
    other = ResponseCache(path)
    assert other.get("a") is None  # ...but not yet on disk
    cache.put("b", answer, 60)
    cache.put("c", answer, 60)  # the third entry fills the batch: one transaction
    assert other.get("a") is not None
    cache.put("d", answer, 60)
    cache.close()  # closing writes what is pending
    restored = ResponseCache(path).get("d")
    assert restored is not None
    assert (restored.text, restored.usage, restored.cost_usd) == ("kept", Usage(3, 1, True), 0.5)
    other.close()


def test_a_callers_deadline_scope_wins_when_it_is_earlier() -> None:
    from grounded.llm.retry import deadline

    async def call() -> None:
        stack = WithDeadline(Retrying(ScriptedChatModel([Delay(5, "late")]), RetryConfig()), 60)
        with deadline(0.2):
            await stack.complete(REQ)

    start = time.monotonic()
    with pytest.raises(ProviderError) as info:
        run(call())
    assert info.value.kind in ("deadline", "timeout")
    assert time.monotonic() - start < 1.0

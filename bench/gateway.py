"""LLM gateway benchmark: what the wrapper stack adds, cache hits, and the bundled model's speed.

    .venv/bin/python bench/gateway.py                       # all phases
    .venv/bin/python bench/gateway.py --phases overhead,cache --calls 2000

Phases:
  overhead  p50/p99 of a direct httpx call to the mock server versus the full gateway
            stack (router + retry + circuit + fallback + cache miss + metering), at
            concurrency 1 and 32. The mock server runs in its own process, and the two
            clients alternate in blocks so that drift hits both alike.
  cache     p50/p99 of a cache hit through the same stack.
  stack     CPU per call of the stack itself, no network: the same gateway with a
            ScriptedChatModel in place of the adapter, sequential calls (cache misses,
            then the same prompts again as hits); and the cache's write and key costs.
  local     SmolLM2-135M-Instruct (in-process llama.cpp, grounded[local]): output tokens/s
            and time to first token, streamed, 3 runs.

Prints a table and writes bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from grounded.config import Settings
from grounded.domain import ChatRequest
from grounded.llm.gateway import Gateway

RESULTS = Path(__file__).parent / "results" / "gateway.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mock(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "grounded.testing.mock_llm_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("mock server did not start")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def timed_calls(
    call: Callable[[int], Awaitable[None]], start: int, count: int, concurrency: int
) -> list[float]:
    """Latency in ms of `count` calls, `concurrency` in flight at a time."""
    latencies: list[float] = []
    queue = iter(range(start, start + count))

    async def worker() -> None:
        for i in queue:
            t0 = time.perf_counter()
            await call(i)
            latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def gateway_for(base_url: str, data_dir: Path) -> Gateway:
    settings = Settings(
        data_dir=data_dir,
        models={
            "mock": {
                "provider": "openai_compatible",
                "base_url": base_url,
                "model": "mock",
                "max_concurrency": 64,
                "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.4},
            },
            "spare": {"provider": "openai_compatible", "base_url": base_url, "model": "spare"},
        },
        routes={"default": ["mock", "spare"]},
    )
    return Gateway(settings)


async def overhead(base_url: str, calls: int, concurrency: int, data_dir: Path) -> dict[str, Any]:
    gateway = gateway_for(base_url, data_dir)
    # The same pool limits as the provider's client (max_concurrency 64 below).
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=64)
    client = httpx.AsyncClient(timeout=60, limits=limits)
    url = f"{base_url}/chat/completions"

    async def direct(i: int) -> None:
        body = {
            "model": "mock",
            "messages": [{"role": "user", "content": f"direct question {i}"}],
            "max_tokens": 512,
        }
        response = await client.post(url, json=body)
        response.raise_for_status()
        data = response.json()
        assert data["choices"][0]["message"]["content"]

    async def via_gateway(i: int) -> None:
        # A unique message per call: every call is a cache miss (lookup + write).
        request = ChatRequest.of(f"gateway question {i}", cache_scope="bench")
        response = await gateway.complete(request)
        assert response.text and not response.cached

    block = 250
    warm = min(200, calls)
    await timed_calls(direct, 10**8, warm, concurrency)
    await timed_calls(via_gateway, 10**8, warm, concurrency)
    d_lat: list[float] = []
    g_lat: list[float] = []
    d_wall = g_wall = 0.0
    for offset in range(0, calls, block):
        n = min(block, calls - offset)
        t0 = time.perf_counter()
        d_lat += await timed_calls(direct, offset, n, concurrency)
        t1 = time.perf_counter()
        g_lat += await timed_calls(via_gateway, offset, n, concurrency)
        d_wall += t1 - t0
        g_wall += time.perf_counter() - t1
    await client.aclose()
    await gateway.aclose()
    gateway.close()
    return {
        "concurrency": concurrency,
        "calls": calls,
        "direct_p50_ms": pct(d_lat, 0.5),
        "direct_p99_ms": pct(d_lat, 0.99),
        "gateway_p50_ms": pct(g_lat, 0.5),
        "gateway_p99_ms": pct(g_lat, 0.99),
        "added_p50_ms": pct(g_lat, 0.5) - pct(d_lat, 0.5),
        "added_p99_ms": pct(g_lat, 0.99) - pct(d_lat, 0.99),
        "direct_calls_per_s": calls / d_wall,
        "gateway_calls_per_s": calls / g_wall,
    }


async def cache_hits(base_url: str, calls: int, data_dir: Path) -> dict[str, Any]:
    gateway = gateway_for(base_url, data_dir)
    request = ChatRequest.of("the same question every time", cache_scope="bench")
    await gateway.complete(request)

    async def hit(_: int) -> None:
        response = await gateway.complete(request)
        assert response.cached

    lat = await timed_calls(hit, 0, calls, 1)
    await gateway.aclose()
    gateway.close()
    return {"calls": calls, "hit_p50_ms": pct(lat, 0.5), "hit_p99_ms": pct(lat, 0.99)}


async def stack_cost(calls: int, data_dir: Path) -> dict[str, Any]:
    from grounded.domain import ChatResponse, Usage
    from grounded.llm.cache import ResponseCache, cache_key
    from grounded.testing import ScriptedChatModel

    reply = ChatResponse("Hello from the mock server.", "mock", usage=Usage(10, 6))
    scripted = ScriptedChatModel(default=reply, name="mock")
    gateway = Gateway(
        gateway_for("http://unused/v1", data_dir).settings, providers={"mock": scripted}
    )
    requests = [ChatRequest.of(f"stack question {i}", cache_scope="bench") for i in range(calls)]
    await gateway.complete(ChatRequest.of("warm-up", cache_scope="bench"))
    out: dict[str, Any] = {"calls": calls}
    for phase in ("miss", "hit"):
        t0 = time.perf_counter()
        for request in requests:
            await gateway.complete(request)
        out[f"{phase}_us_per_call"] = (time.perf_counter() - t0) / calls * 1e6
    await gateway.aclose()
    gateway.close()
    cache = ResponseCache(data_dir / "micro.sqlite")
    t0 = time.perf_counter()
    for i in range(calls):
        cache.put(f"k{i}", reply, 60)
    cache.flush()
    out["cache_write_us"] = (time.perf_counter() - t0) / calls * 1e6
    t0 = time.perf_counter()
    for request in requests:
        cache_key("identity", request)
    out["cache_key_us"] = (time.perf_counter() - t0) / calls * 1e6
    cache.close()
    return out


async def local_model(runs: int, max_tokens: int) -> dict[str, Any]:
    from grounded.config import LlamaCppModelConfig
    from grounded.llm.llamacpp import LlamaCppModel

    model = LlamaCppModel("local", LlamaCppModelConfig())
    prompts = [
        "Write a detailed, step-by-step guide to brewing a good cup of tea at home.",
        "Explain how a bicycle gear system works, for a beginner, in several paragraphs.",
        "Describe a week-long walking holiday in the Scottish Highlands, day by day.",
        "List practical tips for keeping houseplants healthy through a dark winter.",
        "Explain the water cycle to a ten-year-old, with examples from everyday life.",
    ]
    await model.complete(ChatRequest.of("hi", max_tokens=4))  # load the model first
    rows = []
    # A different prompt each run: llama.cpp reuses the KV cache of a repeated prompt,
    # which would make time to first token look like a cache hit.
    for run_no in range(runs):
        request = ChatRequest.of(
            prompts[run_no % len(prompts)], max_tokens=max_tokens, temperature=0.0
        )
        t0 = time.perf_counter()
        first: float | None = None
        final = None
        async for event in model.stream(request):
            if first is None and event.delta:
                first = time.perf_counter() - t0
            final = event.response or final
        total = time.perf_counter() - t0
        assert final is not None and final.usage is not None
        out = final.usage.output_tokens
        rows.append(
            {
                "output_tokens": out,
                "ttft_ms": (first or total) * 1000,
                "total_s": total,
                "tokens_per_s": out / (total - (first or 0)) if out > 1 else 0.0,
            }
        )
    await model.aclose()
    return {
        "runs": rows,
        "ttft_ms_median": statistics.median(r["ttft_ms"] for r in rows),
        "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in rows),
        "output_tokens_median": statistics.median(r["output_tokens"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", default="overhead,cache,stack,local")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--local-runs", type=int, default=3)
    parser.add_argument("--local-tokens", type=int, default=200)
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
        },
        "command": " ".join(["python", *sys.argv]),
    }
    port = free_port()
    mock = start_mock(port) if phases & {"overhead", "cache"} else None
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if "overhead" in phases:
                results["overhead"] = [
                    asyncio.run(overhead(base_url, args.calls, c, Path(tmp) / f"c{c}"))
                    for c in (1, 32)
                ]
            if "cache" in phases:
                results["cache"] = asyncio.run(cache_hits(base_url, args.calls, Path(tmp) / "hit"))
            if "stack" in phases:
                results["stack"] = asyncio.run(stack_cost(5000, Path(tmp) / "stack"))
    finally:
        if mock is not None:
            mock.terminate()
            mock.wait()
    if "local" in phases:
        results["local"] = asyncio.run(local_model(args.local_runs, args.local_tokens))
    report(results)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


def report(results: dict[str, Any]) -> None:
    for row in results.get("overhead", []):
        print(
            f"concurrency {row['concurrency']:>2}: direct p50 {row['direct_p50_ms']:.3f} ms "
            f"p99 {row['direct_p99_ms']:.3f} | gateway p50 {row['gateway_p50_ms']:.3f} "
            f"p99 {row['gateway_p99_ms']:.3f} | added p50 {row['added_p50_ms']:+.3f} ms "
            f"p99 {row['added_p99_ms']:+.3f} ms | {row['direct_calls_per_s']:.0f} vs "
            f"{row['gateway_calls_per_s']:.0f} calls/s"
        )
    if "cache" in results:
        c = results["cache"]
        print(f"cache hit: p50 {c['hit_p50_ms']:.3f} ms, p99 {c['hit_p99_ms']:.3f} ms")
    if "stack" in results:
        st = results["stack"]
        print(
            f"stack alone (no network): {st['miss_us_per_call']:.0f} us/call on a miss, "
            f"{st['hit_us_per_call']:.0f} us on a hit; cache write {st['cache_write_us']:.1f} us, "
            f"key {st['cache_key_us']:.1f} us"
        )
    if "local" in results:
        loc = results["local"]
        print(
            f"SmolLM2-135M (llama.cpp, in-process): {loc['tokens_per_s_median']:.1f} tokens/s, "
            f"TTFT {loc['ttft_ms_median']:.0f} ms (median of {len(loc['runs'])} runs, "
            f"{loc['output_tokens_median']:.0f} output tokens)"
        )


if __name__ == "__main__":
    main()

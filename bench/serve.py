"""HTTP service load test: `grounded serve` under concurrent clients on loopback.

    .venv/bin/python bench/serve.py                                  # 64 clients, 60 s per endpoint
    .venv/bin/python bench/serve.py --seconds 5 --clients 8          # smoke check
    .venv/bin/python bench/serve.py --endpoints search --workers 2 \\
        --json-out bench/results/serve-w2.json

Set-up, all on a fresh data directory with the bundled default embedder (any
GROUNDED_* variable and ./grounded.yaml are ignored: the CLI runs with a clean
environment in the data directory):

  1. `grounded ingest sample-corpus --collection handbook --tenant acme`
  2. `grounded keys create --tenant acme --user alice@acme.example --groups staff --json`
  3. `grounded serve --host 127.0.0.1 --port P --workers N` (the venv's `grounded`, its own
     process group; stdout and stderr go to <data dir>/server.log), then wait for /readyz.

Then, per endpoint (`POST /v1/search {"query", "k": 10}`, then `POST /v1/ask {"question"}`,
which the default app answers extractively): a warm-up of a few concurrent requests,
then --clients coroutines in this process, sharing one httpx.AsyncClient whose pool
holds --clients keep-alive connections (an idle one is kept --client-keepalive seconds),
each sending one request after another until --seconds are up (and never more than
--max-requests per client). Questions rotate through the answerable golden questions of
evals/datasets/sample-corpus.jsonl (those asked as alice, staff), each client starting
at a different one.

Measured per endpoint: requests, requests/s, latency p50/p95/p99/max of 2xx responses
(client side, request sent to body read), errors (a non-2xx status, a transport error,
or a 2xx body without the expected field; the first few are printed), the server's RSS
(VmRSS of the serve process and all its descendants, so every worker with --workers > 1)
after the warm-up, every --sample-every seconds, and at the end, with a least-squares
slope in MB/min over the second half of the run; and CPU seconds used by the server
and by this load generator, which share the machine's cores.

Only 127.0.0.1 is contacted. The server is terminated (SIGTERM to its process group,
SIGKILL after 15 s) when the script ends, fails, is interrupted or gets SIGTERM. The
data directory is removed unless --keep is given or a request failed (then it is kept
for its server.log).

Prints a table and writes bench/results/serve.json (--json-out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "sample-corpus"
GOLDEN = ROOT / "evals" / "datasets" / "sample-corpus.jsonl"
RESULTS = Path(__file__).parent / "results" / "serve.json"
GROUNDED = Path(sys.executable).parent / "grounded"  # the venv's CLI, next to its python
USER, GROUPS = "alice@acme.example", ["staff"]
ENDPOINTS = {"search": "/v1/search", "ask": "/v1/ask"}
GROWTH_LIMIT_MB_PER_MIN = 2.0  # a second-half slope above this counts as a growth trend
SHOWN_ERRORS = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")


def questions() -> list[str]:
    """Answerable golden questions asked as the benchmark key's principal."""
    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]
    return [
        r["question"]
        for r in rows
        if "answerable" in r["tags"]
        and not r["must_refuse"]
        and r["principal"]["user"] == USER
        and r["principal"]["groups"] == GROUPS
    ]


def body_for(endpoint: str, question: str) -> dict[str, Any]:
    return {"query": question, "k": 10} if endpoint == "search" else {"question": question}


# --- the server process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """The caller's environment without GROUNDED_* settings: defaults only."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GROUNDED_")}


def cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [str(GROUNDED), "--data-dir", str(data_dir), *args],
        cwd=data_dir,  # no ./grounded.yaml from wherever the script was started
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"grounded {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def start_server(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    cmd = [str(GROUNDED), "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers)]
    # Its own process group: Ctrl-C reaches only this script, which then stops the
    # server (and every worker) itself.
    with (data_dir / "server.log").open("wb") as log:
        return subprocess.Popen(
            cmd,
            cwd=data_dir,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_server(proc: subprocess.Popen[bytes]) -> int | None:
    if proc.poll() is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=15)


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> float:
    """Seconds until /readyz answers 200."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise SystemExit(f"grounded serve exited ({proc.returncode}):\n{log_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return time.monotonic() - t0
        time.sleep(0.25)
    raise SystemExit(f"grounded serve not ready after {timeout_s:.0f} s:\n{log_tail(log)}")


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


# --- /proc readings ----------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (uvicorn's workers with --workers > 1)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def rss_mb(pid: int) -> float:
    total_kb = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the live process tree."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            # Fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mm = sum(m for _, m in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return None
    return sum((t - mt) * (m - mm) for t, m in samples) / var * 60


# --- the load ----------------------------------------------------------------------------


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[dict[str, Any]] = field(default_factory=list)
    answer_status: Counter[str] = field(default_factory=Counter)
    empty_results: int = 0

    def error(self, kind: str, at_s: float, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.first_errors) < SHOWN_ERRORS:
            self.first_errors.append({"at_s": round(at_s, 2), "kind": kind, "detail": detail})


def check_body(endpoint: str, response: httpx.Response, tally: Tally) -> str | None:
    """None if the 2xx body is what the endpoint promises, else what is wrong."""
    try:
        data = response.json()
    except ValueError:
        return "2xx body is not JSON"
    if endpoint == "search":
        if not isinstance(data.get("results"), list):
            return "2xx search body without a results list"
        tally.empty_results += not data["results"]
        return None
    if "status" not in data or "answer_id" not in data:
        return "2xx ask body without status or answer_id"
    tally.answer_status[data["status"]] += 1
    return None


async def one_request(
    client: httpx.AsyncClient, endpoint: str, question: str, tally: Tally, t_zero: float
) -> None:
    t0 = time.perf_counter()
    try:
        response = await client.post(ENDPOINTS[endpoint], json=body_for(endpoint, question))
    except httpx.HTTPError as exc:
        tally.error(type(exc).__name__, t0 - t_zero, repr(exc)[:300])
        return
    elapsed_ms = (time.perf_counter() - t0) * 1000
    if not response.is_success:
        tally.error(f"HTTP {response.status_code}", t0 - t_zero, response.text[:300])
        return
    problem = check_body(endpoint, response, tally)
    if problem:
        tally.error("bad body", t0 - t_zero, f"{problem}: {response.text[:200]}")
        return
    tally.latencies_ms.append(elapsed_ms)


async def client_loop(
    client: httpx.AsyncClient,
    endpoint: str,
    qs: list[str],
    start: int,
    until: float,
    max_requests: int,
    tally: Tally,
    t_zero: float,
) -> None:
    for i in range(max_requests):
        if time.perf_counter() >= until:
            return
        await one_request(client, endpoint, qs[(start + i) % len(qs)], tally, t_zero)


async def sample_rss(
    pid: int, t_zero: float, every_s: float, samples: list[tuple[float, float]]
) -> None:
    while True:
        await asyncio.sleep(every_s)
        samples.append((time.perf_counter() - t_zero, rss_mb(pid)))


async def warm_up(client: httpx.AsyncClient, endpoint: str, qs: list[str], count: int) -> None:
    """Concurrent requests, so that with --workers > 1 several workers get some."""
    tally = Tally()
    await asyncio.gather(*(one_request(client, endpoint, qs[i], tally, 0.0) for i in range(count)))
    if tally.errors:
        raise SystemExit(f"warm-up of {endpoint} failed: {tally.first_errors}")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def phase(
    client: httpx.AsyncClient, endpoint: str, pid: int, qs: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    await warm_up(client, endpoint, qs, args.warmup)
    tally = Tally()
    server_cpu0, own_cpu0 = cpu_s(pid), time.process_time()
    t_zero = time.perf_counter()
    samples = [(0.0, rss_mb(pid))]
    sampler = asyncio.create_task(sample_rss(pid, t_zero, args.sample_every, samples))
    until = t_zero + args.seconds
    try:
        # A hard bound besides each loop's own: the run ends even if requests hang.
        async with asyncio.timeout(args.seconds + args.timeout + 30), asyncio.TaskGroup() as tg:
            for c in range(args.clients):
                loop = client_loop(
                    client, endpoint, qs, c * 7, until, args.max_requests, tally, t_zero
                )
                tg.create_task(loop)
    finally:
        sampler.cancel()
    wall = time.perf_counter() - t_zero
    samples.append((wall, rss_mb(pid)))
    return summarise(endpoint, tally, samples, wall, args) | {
        "cpu_s": {
            "server": round(cpu_s(pid) - server_cpu0, 1),
            "load_generator": round(time.process_time() - own_cpu0, 1),
            "available": round(wall * (os.cpu_count() or 1), 1),
        },
    }


def summarise(
    endpoint: str,
    tally: Tally,
    samples: list[tuple[float, float]],
    wall: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    ok = len(tally.latencies_ms)
    errors = sum(tally.errors.values())
    lat = tally.latencies_ms
    second_half = [s for s in samples if s[0] >= args.seconds / 2]
    slope2 = slope_mb_per_min(second_half)
    rps = (ok + errors) / wall
    return {
        "endpoint": endpoint,
        "path": ENDPOINTS[endpoint],
        "clients": args.clients,
        "seconds": args.seconds,
        "wall_s": round(wall, 2),
        "requests": ok + errors,
        "ok": ok,
        "requests_per_s": round(rps, 2),
        "latency_ms": {
            name: None if (v := pct(lat, q)) is None else round(v, 1)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        },
        "errors": errors,
        "error_kinds": dict(tally.errors),
        "first_errors": tally.first_errors,
        "answer_status": dict(tally.answer_status),
        "empty_search_results": tally.empty_results,
        "rss_mb": {
            "start": round(samples[0][1], 1),
            "end": round(samples[-1][1], 1),
            "min": round(min(m for _, m in samples), 1),
            "max": round(max(m for _, m in samples), 1),
            "samples": [[round(t, 1), round(m, 1)] for t, m in samples],
            "slope_mb_per_min_all": _round(slope_mb_per_min(samples)),
            "slope_mb_per_min_second_half": _round(slope2),
            "growth_trend": None if slope2 is None else slope2 > GROWTH_LIMIT_MB_PER_MIN,
            # The slope as memory per request, if it were all kept.
            "slope_kb_per_request": None
            if slope2 is None or rps == 0
            else round(slope2 * 1024 / (rps * 60), 3),
        },
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def load(base: str, key: str, pid: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    qs = questions()
    limits = httpx.Limits(
        max_connections=args.clients,
        max_keepalive_connections=args.clients,
        keepalive_expiry=args.client_keepalive,
    )
    headers = {"Authorization": f"Bearer {key}"}
    rows = []
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=args.timeout
    ) as client:
        for endpoint in args.endpoints:
            print(f"{endpoint}: {args.clients} clients for {args.seconds:g} s ...", flush=True)
            rows.append(await phase(client, endpoint, pid, qs, args))
    return rows


# --- the run -----------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that SIGTERM, like Ctrl-C, runs the clean-up below


def run(args: argparse.Namespace, data_dir: Path, results: dict[str, Any]) -> None:
    t0 = time.monotonic()
    cli(data_dir, "ingest", str(CORPUS), "--collection", "handbook", "--tenant", "acme")
    results["ingest_s"] = round(time.monotonic() - t0, 1)
    created = json.loads(
        cli(
            data_dir,
            "keys",
            "create",
            "--tenant",
            "acme",
            "--user",
            USER,
            "--groups",
            ",".join(GROUPS),
            "--json",
        )
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    proc = start_server(data_dir, port, args.workers)
    try:
        results["ready_s"] = round(wait_ready(base, proc, log, 180), 1)
        results["phases"] = asyncio.run(load(base, created["key"], proc.pid, args))
    finally:
        results["server_exit"] = stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0, help="per endpoint")
    parser.add_argument("--endpoints", default="search,ask", help="comma-separated: search,ask")
    parser.add_argument("--workers", type=int, default=1, help="grounded serve --workers")
    parser.add_argument("--json-out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--warmup", type=int, default=8, help="requests per endpoint")
    parser.add_argument("--sample-every", type=float, default=5.0, help="RSS sampling, seconds")
    parser.add_argument("--timeout", type=float, default=90.0, help="per request, seconds")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client and phase")
    parser.add_argument(
        "--client-keepalive",
        type=float,
        default=5.0,
        help="seconds the client keeps an idle connection (httpx's default 5 equals uvicorn's "
        "keep-alive timeout, so a request can race the server's close: see docs/benchmarks.md)",
    )
    args = parser.parse_args()
    args.endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    if unknown := set(args.endpoints) - set(ENDPOINTS):
        parser.error(f"unknown endpoints {sorted(unknown)}; choose from {sorted(ENDPOINTS)}")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
            "load_average_before": list(os.getloadavg()),
        },
        "setup": {
            "clients": args.clients,
            "client": "one httpx.AsyncClient, a pool of --clients keep-alive connections",
            "client_keepalive_s": args.client_keepalive,
            "seconds": args.seconds,
            "workers": args.workers,
            "questions": len(questions()),
            "embedder": "bundled default (onnx)",
        },
    }
    data_dir = Path(tempfile.mkdtemp(prefix="grounded-serve-bench-"))
    keep = args.keep
    try:
        run(args, data_dir, results)
        keep = keep or any(p["errors"] for p in results["phases"])
    except KeyboardInterrupt:
        raise SystemExit("interrupted: the server was stopped, nothing was written") from None
    except BaseException:
        keep = True  # for its server.log
        raise
    finally:
        results["machine"]["load_average_after"] = list(os.getloadavg())
        if keep:
            print(f"\nkept {data_dir} (server log: {data_dir / 'server.log'})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    report(results)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.json_out}")


def report(results: dict[str, Any]) -> None:
    load = results["machine"]["load_average_before"]
    print(
        f"\n{results['machine']['cpus']} cores, load average before {load[0]:.2f}; "
        f"ingest {results['ingest_s']} s, server ready in {results['ready_s']} s; "
        f"{results['setup']['workers']} worker(s), {results['setup']['questions']} questions"
    )
    head = ("endpoint", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    head += ("errors", "RSS start/end MB", "slope MB/min", "CPU server/client s")
    rows = [head]
    for p in results["phases"]:
        lat, rss, cpu = p["latency_ms"], p["rss_mb"], p["cpu_s"]
        slope = rss["slope_mb_per_min_second_half"]
        rows.append(
            (
                p["path"],
                str(p["clients"]),
                str(p["requests"]),
                f"{p['requests_per_s']:.1f}",
                *(
                    f"{lat[k]:.0f}" if lat[k] is not None else "-"
                    for k in ("p50", "p95", "p99", "max")
                ),
                str(p["errors"]),
                f"{rss['start']:.0f} / {rss['end']:.0f}",
                "-" if slope is None else f"{slope:+.2f}",
                f"{cpu['server']:.0f} / {cpu['load_generator']:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    for p in results["phases"]:
        rss = p["rss_mb"]
        trend = {True: "GROWTH TREND", False: "no growth trend", None: "too few samples"}
        print(
            f"\n{p['path']} RSS samples (s, MB): "
            + ", ".join(f"{t:g}:{m:.0f}" for t, m in rss["samples"])
            + f"\n  slope over the second half {rss['slope_mb_per_min_second_half']} MB/min "
            f"(whole run {rss['slope_mb_per_min_all']}; {rss['slope_kb_per_request']} KB per "
            f"request): {trend[rss['growth_trend']]} "
            f"(limit {GROWTH_LIMIT_MB_PER_MIN:g} MB/min)"
        )
        if p["answer_status"]:
            print(f"  answers: {p['answer_status']}")
        if p["empty_search_results"]:
            print(f"  searches with no results: {p['empty_search_results']}")
        if p["errors"]:
            print(f"  ERRORS {p['error_kinds']}; first {len(p['first_errors'])}:")
            for e in p["first_errors"]:
                print(f"    at {e['at_s']} s, {e['kind']}: {e['detail']}")


if __name__ == "__main__":
    main()

"""Guardrails benchmark: the stack's latency per request, detection quality, verifier agreement.

    .venv/bin/python bench/guards.py
    .venv/bin/python bench/guards.py --phases latency --requests 1000
    .venv/bin/python bench/guards.py --heldout-deepset prompt-injections.parquet \
        --heldout-tensortrust tensor-trust-attacks.jsonl

Phases:
  latency       the built-in policy's whole stack per request, no model-based guards:
                input (the question) + retrieved (the 6 chunks hybrid search returns for
                it from the sample corpus) + output (the extractive answer), p50/p95/p99.
  detection     precision, recall and false-positive rate of the injection guard
                (bench/data/injection-dev.jsonl) and of each PII rule
                (bench/data/pii-dev.jsonl), at the built-in policy's settings.
  verification  agreement of the groundedness verifier with hand labels
                (bench/data/verification-dev.jsonl): precision and recall of
                "unsupported", per kind; with the bundled embedder's semantic check and
                without it.
  heldout       the injection guard on the public sets held out for independent
                evaluation (deepset/prompt-injections, Tensor Trust), when given as local
                files: they are not used for development, and this machine cannot
                download them, so the phase is skipped without them.

The development sets were written for this project and the rules were developed
on them: their numbers are optimistic. Prints a table, writes bench/results/guards.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from grounded.config import load_settings
from grounded.domain import Acl, GuardContext, Principal
from grounded.guards.groundedness import Verifier
from grounded.guards.injection import find_injection
from grounded.guards.pii import PII_RULES, find_pii
from grounded.guards.policy import VerificationPolicy, build_guards, load_policy
from grounded.ingest.sources import open_source
from grounded.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results" / "guards.json"
CORPUS = ROOT / "sample-corpus"
QUERIES = ROOT / "scripts" / "sample-queries.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- latency


def latency(requests: int) -> dict[str, Any]:
    """Real requests: sample questions, the chunks retrieved for them, their extractive answers."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(load_settings(data_dir=Path(tmp), embedder={"kind": "hash"}))
        source = open_source(CORPUS, "auto", max_file_bytes=10**8)
        rt.ingestor().run(source, collection="handbook", acl=Acl.of("acme"))
        principal = Principal.of("acme", "dana@acme.example", ["staff", "hr", "security"])
        cases = []
        for q in read_jsonl(QUERIES):
            chunks = [r.chunk.text for r in rt.retriever.search(q["text"], principal, k=6).results]
            answer = " ".join(c.split(". ")[0] + ". [S1]" for c in chunks[:3])
            cases.append((q["text"], chunks, answer))
        rt.close()
    stack = build_guards(load_policy())
    ctx_in, ctx_ret = GuardContext("input"), GuardContext("retrieved")
    ctx_out = GuardContext("output", canary="canary-0123456789abcdef", system_prompt=SYSTEM)
    times = []
    for i in range(requests):
        question, chunks, answer = cases[i % len(cases)]
        start = time.perf_counter()
        stack.scan(question, ctx_in)
        for chunk in chunks:
            stack.scan(chunk, ctx_ret)
        stack.scan(answer, ctx_out)
        times.append((time.perf_counter() - start) * 1000)
    chars = statistics.mean(len(q) + sum(map(len, c)) + len(a) for q, c, a in cases)
    return {
        "requests": requests,
        "guards": [g.name for g in stack.guards],
        "chars_per_request_mean": round(chars),
        "p50_ms": round(pct(times, 0.50), 3),
        "p95_ms": round(pct(times, 0.95), 3),
        "p99_ms": round(pct(times, 0.99), 3),
        "mean_ms": round(statistics.mean(times), 3),
    }


SYSTEM = (
    "You answer questions using only the numbered sources in the user's message. Rules, in "
    "order of priority: 1. State only facts written in the sources. If the sources do not "
    "answer the question, reply exactly: NOT_FOUND 2. End every sentence that states a fact "
    "with the id of its source in brackets, like [S1]."
)


# ---------------------------------------------------------------- detection


def rates(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | int]:
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
        "fpr": round(fp / (fp + tn), 4) if fp + tn else 0.0,
    }  # fmt: skip


def injection_quality(items: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        score = max((d.score for d in find_injection(item["text"], item["stage"])), default=0.0)
        predicted, actual = score >= threshold, bool(item["label"])
        cell = {(True, True): "tp", (True, False): "fp", (False, True): "fn"}.get(
            (predicted, actual), "tn"
        )
        counts[cell] += 1
        by_kind[item["kind"]][cell] += 1
    return {
        "threshold": threshold,
        "items": len(items),
        **rates(counts["tp"], counts["fp"], counts["fn"], counts["tn"]),
        "by_kind": {
            k: {"n": sum(c.values()), "detected": c["tp"] + c["fp"]} for k, c in by_kind.items()
        },
    }


def pii_quality(items: list[dict[str, Any]]) -> dict[str, Any]:
    per_rule: dict[str, Counter[str]] = {rule: Counter() for rule in PII_RULES}
    near_miss_flagged = 0
    near_misses = 0
    for item in items:
        found = {d.rule for d in find_pii(item["text"])}
        wanted = set(item["rules"])
        for rule in PII_RULES:
            cell = {(True, True): "tp", (True, False): "fp", (False, True): "fn"}.get(
                (rule in found, rule in wanted), "tn"
            )
            per_rule[rule][cell] += 1
        if not wanted:
            near_misses += 1
            near_miss_flagged += bool(found)
    rules = {r: rates(c["tp"], c["fp"], c["fn"], c["tn"]) for r, c in per_rule.items()}
    total = Counter()
    for c in per_rule.values():
        total.update(c)
    return {
        "items": len(items),
        "rules": rules,
        "all": rates(total["tp"], total["fp"], total["fn"], total["tn"]),
        "near_misses": near_misses,
        "near_misses_flagged": near_miss_flagged,
    }


# ---------------------------------------------------------------- verification


def verification_quality(items: list[dict[str, Any]], semantic: bool) -> dict[str, Any]:
    embed = None
    if semantic:
        rt = Runtime(load_settings(data_dir=Path(tempfile.mkdtemp())))
        embedder = rt.embedder
        embed = lambda texts: embedder.embed(list(texts), kind="document")  # noqa: E731
    verifier = Verifier(VerificationPolicy(), embed)
    counts: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    start = time.perf_counter()
    for item in items:
        ok = verifier.support(item["sentence"], item["source"]).ok
        predicted_unsupported, actual_unsupported = not ok, item["label"] == "unsupported"
        cell = {(True, True): "tp", (True, False): "fp", (False, True): "fn"}.get(
            (predicted_unsupported, actual_unsupported), "tn"
        )
        counts[cell] += 1
        by_kind[item["kind"]]["correct" if cell in ("tp", "tn") else "wrong"] += 1
    elapsed = (time.perf_counter() - start) * 1000 / len(items)
    return {
        "semantic": semantic,
        "items": len(items),
        "positive_class": "unsupported",
        **rates(counts["tp"], counts["fp"], counts["fn"], counts["tn"]),
        "accuracy": round((counts["tp"] + counts["tn"]) / len(items), 4),
        "ms_per_sentence": round(elapsed, 3),
        "by_kind": {
            k: round(c["correct"] / (c["correct"] + c["wrong"]), 4) for k, c in by_kind.items()
        },
    }


# ---------------------------------------------------------------- held-out sets


def heldout(deepset: Path | None, tensortrust: Path | None, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if deepset is not None:
        rows = _read_table(deepset)
        items = [{"text": r["text"], "label": int(r["label"]), "stage": "input", "kind": "x"}
                 for r in rows]  # fmt: skip
        out["deepset_prompt_injections"] = injection_quality(items, threshold)
    if tensortrust is not None:
        rows = _read_table(tensortrust)
        field = "attack" if "attack" in rows[0] else "text"
        items = [{"text": r[field], "label": 1, "stage": "input", "kind": "attack"} for r in rows]
        out["tensor_trust"] = injection_quality(items, threshold)
    return out


def _read_table(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pandas as pd  # only for this optional phase

        return pd.read_parquet(path).to_dict("records")  # type: ignore[no-any-return]
    return read_jsonl(path)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", default="latency,detection,verification,heldout")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--heldout-deepset", type=Path)
    parser.add_argument("--heldout-tensortrust", type=Path)
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    threshold = load_policy().injection.threshold
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "arch": platform.machine(),
                    "python": platform.python_version()},
        "command": " ".join(["python", *sys.argv]),
    }  # fmt: skip
    if "latency" in phases:
        results["latency"] = latency(args.requests)
    if "detection" in phases:
        results["injection"] = injection_quality(
            read_jsonl(DATA / "injection-dev.jsonl"), threshold
        )
        results["pii"] = pii_quality(read_jsonl(DATA / "pii-dev.jsonl"))
    if "verification" in phases:
        items = read_jsonl(DATA / "verification-dev.jsonl")
        results["verification"] = [verification_quality(items, s) for s in (False, True)]
    if "heldout" in phases:
        results["heldout"] = heldout(args.heldout_deepset, args.heldout_tensortrust, threshold)
    report(results)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


def report(results: dict[str, Any]) -> None:
    if "latency" in results:
        lat = results["latency"]
        print(
            f"guard stack ({', '.join(lat['guards'])}), {lat['requests']} requests of "
            f"~{lat['chars_per_request_mean']} chars: p50 {lat['p50_ms']:.2f} ms, "
            f"p95 {lat['p95_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms"
        )
    if "injection" in results:
        _row("injection (dev set)", results["injection"])
        for kind, c in sorted(results["injection"]["by_kind"].items()):
            print(f"    {kind:<18} {c['detected']:>3}/{c['n']:<3} flagged")
    if "pii" in results:
        for rule, r in results["pii"]["rules"].items():
            _row(f"pii {rule}", r)
        _row("pii all rules", results["pii"]["all"])
        p = results["pii"]
        print(
            f"    near-miss texts with any finding: {p['near_misses_flagged']}/{p['near_misses']}"
        )
    for v in results.get("verification", []):
        name = "verifier" + (" + semantic" if v["semantic"] else " (rules only)")
        _row(name, v)
        print(f"    accuracy {v['accuracy']:.3f}, {v['ms_per_sentence']:.2f} ms/sentence; "
              + ", ".join(f"{k} {a:.2f}" for k, a in sorted(v["by_kind"].items())))  # fmt: skip
    for name, r in results.get("heldout", {}).items():
        _row(f"held-out {name}", r)
    if "heldout" in results and not results["heldout"]:
        print("held-out sets: not given (--heldout-deepset / --heldout-tensortrust); skipped")


def _row(name: str, r: dict[str, Any]) -> None:
    print(
        f"{name:<28} precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
        f"FPR {r['fpr']:.3f}  (tp {r['tp']}, fp {r['fp']}, fn {r['fn']}, tn {r['tn']})"
    )


if __name__ == "__main__":
    main()

"""The evaluation runner: every item of a suite through `grounded ask`, scored, resumable.

Each finished item is appended to `<out>/<suite>.partial.jsonl` at once, under
a header naming the suite file's hash and the index generation; a run that
crashes resumes from there (finished items are not recomputed), and a changed
suite or index starts afresh. Items run `concurrency` at a time; model calls go
through the gateway, so its cache serves repeated runs. Sampling and bootstrap
intervals use fixed seeds: the same suite on the same index gives the same
report. The run document (`<out>/<suite>-<UTC time>.json`) holds the suite, the
versions of everything that produced the answers, every item and the aggregates.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from grounded import __version__
from grounded.domain import Principal, SearchFilters
from grounded.errors import GroundedError, InvalidRequest
from grounded.evals import answer_metrics as am
from grounded.evals.datasets import GoldenItem, load_golden
from grounded.evals.judges import Judge, same_model_warning
from grounded.evals.metrics import aggregate, parse_metric
from grounded.evals.suite import Suite
from grounded.features.answer import AskResult
from grounded.runtime import Runtime

RUN_FORMAT = 1
Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class ItemResult:
    id: str
    tags: list[str]
    question: str
    principal: dict[str, Any]
    status: str
    answer: str
    cited_docs: list[str]
    ranked_docs: list[str]
    metrics: dict[str, float | None]
    must_refuse: bool
    latency_ms: float
    stages: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    cost_usd: float = 0.0
    model: str | None = None
    prompt: str | None = None
    message: str = ""
    error: str | None = None
    judge_reason: str = ""


class EvalRunner:
    def __init__(
        self, runtime: Runtime, suite: Suite, out: Path, progress: Progress | None = None
    ) -> None:
        self.runtime = runtime
        self.suite = suite
        self.out = out
        self.progress = progress or (lambda done, total: None)
        self.app = runtime.asker.app(suite.app)
        self._depth = max((parse_metric(m)[1] for m in suite.retrieval_metrics), default=10)
        self.judge = self._judge() if "judge_correct" in suite.answer_metrics else None

    def _judge(self) -> Judge:
        spec = self.suite.judge
        assert spec is not None  # load_suite refuses judge_correct without a judge
        route = spec.route
        return Judge(
            self.runtime.prompts.get(spec.prompt),
            lambda request, schema: self.runtime.gateway.structured(request, schema, route),
        )

    # ------------------------------------------------------------------ items

    def items(self) -> list[GoldenItem]:
        items = [item for path in self.suite.dataset_paths() for item in load_golden(path)]
        n = self.suite.sample.n
        if n is not None and n < len(items):
            items = random.Random(self.suite.sample.seed).sample(items, n)
        return items

    def principal(self, item: GoldenItem) -> Principal:
        spec = item.principal or self.suite.principal
        if spec is None:
            raise InvalidRequest(
                f"item {item.id!r} has no principal and the suite sets none; add "
                "`principal: {tenant: …}` to the suite or the item"
            )
        return spec.principal()

    # ------------------------------------------------------------------ running

    async def run(self) -> dict[str, Any]:
        items = self.items()
        started = datetime.now(UTC)
        self.out.mkdir(parents=True, exist_ok=True)
        done = self._resume()
        todo = [item for item in items if item.id not in done]
        semaphore = asyncio.Semaphore(self.suite.concurrency)
        partial = self._partial.open("a", encoding="utf-8")
        finished = len(items) - len(todo)
        self.progress(finished, len(items))

        async def one(item: GoldenItem) -> None:
            nonlocal finished
            async with semaphore:
                result = await self._evaluate(item)
            done[item.id] = result
            partial.write(json.dumps(asdict(result)) + "\n")
            partial.flush()
            finished += 1
            self.progress(finished, len(items))

        try:
            await asyncio.gather(*(one(item) for item in todo))
        finally:
            partial.close()
        results = [done[item.id] for item in items]
        return self._document(results, started)

    async def _evaluate(self, item: GoldenItem) -> ItemResult:
        principal = self.principal(item)
        started = time.perf_counter()
        ranked: list[str] = []
        try:
            if item.expected_sources and self.suite.retrieval_metrics:
                ranked = await asyncio.to_thread(self._ranking, item.question, principal)
            result: AskResult | None = await self.runtime.asker.ask(
                item.question, principal, self.suite.app
            )
            error = None
        except GroundedError as exc:
            result, error = None, f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - started) * 1000
        record = am.AnswerRecord.of(result) if result else am.AnswerRecord("error", "")
        metrics = self._metrics(item, record, ranked, principal)
        if self.judge is not None:
            metrics["judge_correct"], judged = await self._judged(item, record)
        else:
            judged = ""
        return ItemResult(
            id=item.id, tags=item.tags, question=item.question,
            principal={"tenant": principal.tenant, "user": principal.user,
                       "groups": sorted(principal.groups)},
            status=record.status, answer=record.answer, cited_docs=list(record.cited_docs),
            ranked_docs=ranked, metrics=metrics, must_refuse=item.must_refuse,
            latency_ms=round(latency, 2),
            stages=dict(result.stages) if result else {},
            tokens=(result.usage.input_tokens + result.usage.output_tokens) if result else 0,
            cost_usd=result.cost_usd if result else 0.0,
            model=result.model if result else None,
            prompt=f"{result.prompt[0]}@{result.prompt[1]}" if result and result.prompt else None,
            message=result.message if result else "", error=error, judge_reason=judged,
        )  # fmt: skip

    async def _judged(self, item: GoldenItem, r: am.AnswerRecord) -> tuple[float | None, str]:
        """1 when the judge finds the answer correct; a failed judgement scores 0."""
        if self.judge is None or item.reference_answer is None or item.must_refuse:
            return None, ""
        verdict = await self.judge.grade(item.question, item.reference_answer, r.answer)
        return (
            1.0 if verdict.verdict == "correct" else 0.0
        ), f"{verdict.verdict}: {verdict.reason}"

    def _ranking(self, question: str, principal: Principal) -> list[str]:
        retriever = self.runtime.app_retriever(self.app)
        filters = SearchFilters(collections=tuple(self.app.collections))
        pairs = retriever.best_per_document(question, principal, k=self._depth, filters=filters)
        return [doc for doc, _ in pairs]

    def _metrics(
        self, item: GoldenItem, r: am.AnswerRecord, ranked: list[str], principal: Principal
    ) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name in self.suite.retrieval_metrics:
            metric, k = parse_metric(name)
            out[name] = metric(item.expected_sources, ranked, k) if item.expected_sources else None
        store = self.runtime.store
        scorers: dict[str, Callable[[], float | None]] = {
            "citation_validity": lambda: am.citation_validity(r),
            "citation_support": lambda: am.citation_support(r),
            "grounded": lambda: None if item.must_refuse else am.grounded(r),
            "exact_match": lambda: am.exact_match(item, r),
            "token_f1": lambda: am.token_f1(item, r),
            "attack_resisted": lambda: am.attack_resisted(item, r),
            "acl_leak": lambda: am.acl_leak(
                item, r, lambda doc: store.get_document(doc, principal) is not None
            ),
            "schema_valid": lambda: am.schema_valid(item, r),
            "field_accuracy": lambda: am.field_accuracy(item, r),
        }
        for name in self.suite.answer_metrics:
            if name in scorers:
                out[name] = scorers[name]()
        out["refused"] = am.refused(r)
        return out

    # ------------------------------------------------------------------ resume

    @property
    def _partial(self) -> Path:
        return self.out / f"{self.suite.name}.partial.jsonl"

    def _identity(self) -> dict[str, Any]:
        return {"suite_sha256": self.suite.sha256, "generation": self.runtime.store.generation()}

    def _resume(self) -> dict[str, ItemResult]:
        """Finished items of an interrupted run of this same suite on this same index."""
        identity = self._identity()
        done: dict[str, ItemResult] = {}
        if self._partial.exists():
            lines = self._partial.read_text(encoding="utf-8").splitlines()
            if lines and json.loads(lines[0]) == identity:
                for line in lines[1:]:
                    try:
                        result = ItemResult(**json.loads(line))
                    except (json.JSONDecodeError, TypeError):
                        continue  # a line cut by the crash: that item runs again
                    done[result.id] = result
                return done
        self._partial.write_text(json.dumps(identity) + "\n", encoding="utf-8")
        return done

    # ------------------------------------------------------------------ the run document

    def _document(self, results: list[ItemResult], started: datetime) -> dict[str, Any]:
        return {
            "format": RUN_FORMAT,
            "suite": {**self.suite.model_dump(mode="json"), "sha256": self.suite.sha256},
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": self._versions(results),
            "aggregates": aggregates(self.suite, results),
            "warnings": self._warnings(results),
            "items": [asdict(r) for r in results],
        }

    def _warnings(self, results: list[ItemResult]) -> list[str]:
        if self.suite.judge is None or self.judge is None:
            return []
        settings = self.runtime.settings
        route = self.suite.judge.route or settings.router.default_route
        models = settings.routes[route].models if route in settings.routes else [route]
        warning = same_model_warning(models, {r.model for r in results if r.model})
        return [warning] if warning else []

    def _versions(self, results: list[ItemResult]) -> dict[str, Any]:
        store = self.runtime.store
        datasets = {
            str(path): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in self.suite.dataset_paths()
        }
        return {
            "grounded": __version__,
            "app": {"name": self.suite.app, **self.app.model_dump(mode="json")},
            "policy_version": self.runtime.asker.guards_for(self.app).policy.version,
            "prompts": sorted({r.prompt for r in results if r.prompt}),
            "models": sorted({r.model for r in results if r.model}),
            "index": {"generation": store.generation(), "embedding_model": store.embedding_model()},
            "datasets": datasets,
        }


def aggregates(suite: Suite, results: list[ItemResult]) -> dict[str, dict[str, Any]]:
    """Every metric's mean with its bootstrap interval, refusal precision/recall, operations."""
    out: dict[str, dict[str, Any]] = {}
    for name in [*suite.retrieval_metrics, *suite.answer_metrics]:
        if not name.startswith("refusal_"):
            values = [v for r in results if (v := r.metrics.get(name)) is not None]
            out[name] = _json_safe(asdict(aggregate(values)))
    pairs = [(r.must_refuse, r.status in ("refused", "blocked")) for r in results]
    for name, ratio in (("refusal_precision", _precision), ("refusal_recall", _recall)):
        if name in suite.answer_metrics:
            out[name] = _bootstrap_ratio(pairs, ratio)
    latencies = [r.latency_ms for r in results]
    count = len(results)
    out["latency_p50_ms"] = _single(float(np.percentile(latencies, 50)) if count else 0.0, count)
    out["latency_p95_ms"] = _single(float(np.percentile(latencies, 95)) if count else 0.0, count)
    out["tokens"] = _single(float(sum(r.tokens for r in results)), count)
    out["cost_usd"] = _single(float(sum(r.cost_usd for r in results)), count)
    out["fallbacks"] = _single(
        float(sum(1 for r in results if "so the answer is extractive" in r.message)), count
    )
    out["blocked"] = _single(float(sum(1 for r in results if r.status == "blocked")), count)
    out["errors"] = _single(float(sum(1 for r in results if r.error)), count)
    return out


def _json_safe(agg: dict[str, Any]) -> dict[str, Any]:
    """NaN (no item the metric applies to) is not JSON: it becomes null."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in agg.items()}


def _single(value: float, n: int) -> dict[str, Any]:
    return {"mean": value, "low": value, "high": value, "n": n, "confidence": 0.95}


def _precision(pairs: list[tuple[bool, bool]]) -> float | None:
    return am.RefusalCounts.of(pairs).precision


def _recall(pairs: list[tuple[bool, bool]]) -> float | None:
    return am.RefusalCounts.of(pairs).recall


def _bootstrap_ratio(
    pairs: list[tuple[bool, bool]],
    ratio: Callable[[list[tuple[bool, bool]]], float | None],
    resamples: int = 1000,
) -> dict[str, Any]:
    value = ratio(pairs)
    if value is None:
        return {"mean": None, "low": None, "high": None, "n": 0, "confidence": 0.95}
    rng = random.Random(0)
    samples = sorted(
        v for _ in range(resamples) if (v := ratio(rng.choices(pairs, k=len(pairs)))) is not None
    )
    low = samples[int(0.025 * (len(samples) - 1))]
    high = samples[int(0.975 * (len(samples) - 1))]
    counts = am.RefusalCounts.of(pairs)
    n = counts.tp + counts.fp if ratio is _precision else counts.tp + counts.fn
    return {"mean": value, "low": low, "high": high, "n": n, "confidence": 0.95}

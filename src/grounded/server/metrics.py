"""Prometheus metrics for `/metrics`: HTTP and pipeline-stage latency, answers, guards,
limits, and the gateway's own counters (tokens, cost, cache, fallbacks, circuits).

Each app has its own registry (tests build many apps in one process). Labels are
configured names, routes and kinds only: never users, tenants or text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from grounded.features.answer import AskResult
from grounded.telemetry.metrics import Metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _GatewayCollector(Collector):
    """The gateway's in-process `Metrics` (llm_calls_total, …) as Prometheus families."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for sample in self._metrics.samples():
            name = "grounded_" + re.sub(r"[^a-zA-Z0-9_]", "_", sample.name)
            gauge = not name.endswith("_total")
            if name not in families:
                labels = sorted(sample.labels)
                family_name = name if gauge else name.removesuffix("_total")
                families[name] = (
                    GaugeMetricFamily(family_name, f"gateway {sample.name}", labels=labels)
                    if gauge
                    else CounterMetricFamily(family_name, f"gateway {sample.name}", labels=labels)
                )
            family = families[name]
            family.add_metric([sample.labels[k] for k in sorted(sample.labels)], sample.value)
        yield from families.values()


class ServiceMetrics:
    def __init__(self, gateway_metrics: Metrics) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http = Histogram(
            "grounded_http_request_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.stage = Histogram(
            "grounded_ask_stage_seconds",
            "Time spent in each stage of the answer pipeline.",
            ["stage"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.answers = Counter(
            "grounded_answers", "Answers by app and status.", ["app", "status"], registry=r
        )
        self.guard_actions = Counter(
            "grounded_guard_actions",
            "Guard findings by stage, guard and action.",
            ["stage", "guard", "action"],
            registry=r,
        )
        self.limit_rejections = Counter(
            "grounded_limit_rejections", "Requests refused by a limit.", ["limit"], registry=r
        )
        r.register(_GatewayCollector(gateway_metrics))

    def observe_answer(self, result: AskResult) -> None:
        self.answers.labels(result.app, result.status).inc()
        for stage, ms in result.stages.items():
            self.stage.labels(stage).observe(ms / 1000)
        for record in result.guards:
            for reason in record.verdict.reasons:
                self.guard_actions.labels(record.stage, reason.guard, reason.action).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

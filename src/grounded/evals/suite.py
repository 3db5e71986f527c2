"""Evaluation suites: a YAML file naming datasets, the app under test, metrics and gates.

    name: smoke
    datasets: [datasets/sample-corpus.jsonl]      # relative to this file
    app: default
    principal: {tenant: acme, user: eval@acme.example, groups: [staff]}   # items without one
    retrieval_metrics: [hit@5, recall@10, mrr@10, ndcg@10]
    answer_metrics: [citation_validity, grounded, token_f1, attack_resisted, acl_leak]
    thresholds: {grounded: 0.95, ndcg@10: 0.5, acl_leak: {max: 0}}
    max_regression: {grounded: 0.02, ndcg@10: 0.05}   # versus --baseline, in absolute points
    judge: {route: judge, prompt: judge-correctness@1}   # for the judge_correct metric
    concurrency: 4
    sample: {n: null, seed: 0}                    # n items drawn with this seed; null = all

A threshold is a minimum unless written `{max: …}` (for metrics where lower is
better: `acl_leak`, latency, cost). A regression is measured in the metric's
bad direction.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grounded.config import yaml_problem
from grounded.errors import ConfigError
from grounded.evals.datasets import PrincipalSpec
from grounded.evals.metrics import parse_metric

ANSWER_METRICS = (
    "citation_validity",
    "citation_support",
    "grounded",
    "exact_match",
    "token_f1",
    "refusal_precision",
    "refusal_recall",
    "attack_resisted",
    "acl_leak",
    "schema_valid",
    "field_accuracy",
    "judge_correct",
)
OPERATIONS = ("latency_p50_ms", "latency_p95_ms", "tokens", "cost_usd", "fallbacks", "blocked")
LOWER_IS_BETTER = frozenset({"acl_leak", *OPERATIONS})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bound(_Strict):
    min: float | None = None
    max: float | None = None


class JudgeSpec(_Strict):
    route: str | None = None  # None = the router's default route
    prompt: str = "judge-correctness@1"


class Sample(_Strict):
    n: int | None = Field(default=None, ge=1)
    seed: int = 0


class Suite(_Strict):
    name: str
    datasets: list[Path] = Field(min_length=1)
    app: str = "default"
    principal: PrincipalSpec | None = None
    retrieval_metrics: list[str] = Field(default_factory=lambda: ["recall@10", "ndcg@10"])
    answer_metrics: list[str] = Field(
        default_factory=lambda: [m for m in ANSWER_METRICS if m != "judge_correct"]
    )
    thresholds: dict[str, float | Bound] = Field(default_factory=dict)
    max_regression: dict[str, float] = Field(default_factory=dict)
    judge: JudgeSpec | None = None  # needed by the judge_correct metric
    concurrency: int = Field(default=4, ge=1, le=64)
    sample: Sample = Field(default_factory=Sample)
    path: Path | None = Field(default=None, exclude=True)
    sha256: str = Field(default="", exclude=True)

    @field_validator("retrieval_metrics")
    @classmethod
    def _known_retrieval(cls, names: list[str]) -> list[str]:
        for name in names:
            parse_metric(name)  # raises with the known names
        return names

    @field_validator("answer_metrics")
    @classmethod
    def _known_answer(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in ANSWER_METRICS]
        if unknown:
            raise ValueError(
                f"unknown answer metric(s) {unknown}; known: {', '.join(ANSWER_METRICS)}"
            )
        return names

    def metric_names(self) -> list[str]:
        return [*self.retrieval_metrics, *self.answer_metrics, *OPERATIONS]

    def bound(self, metric: str) -> Bound | None:
        value = self.thresholds.get(metric)
        if value is None or isinstance(value, Bound):
            return value
        return Bound(min=value)

    def dataset_paths(self) -> list[Path]:
        base = self.path.parent if self.path else Path()
        return [p if p.is_absolute() else base / p for p in self.datasets]


def load_suite(path: Path) -> Suite:
    try:
        data = path.read_bytes()
        raw: Any = yaml.safe_load(data) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read suite {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"suite {path} is not valid YAML: {yaml_problem(exc)}") from None
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid suite {path}: {problems}") from None
    if "judge_correct" in suite.answer_metrics and suite.judge is None:
        raise ConfigError(
            f"suite {path} asks for judge_correct but names no judge; add "
            "`judge: {route: NAME}` (a route whose model did not write the answers)"
        )
    unknown = [
        m for m in [*suite.thresholds, *suite.max_regression] if m not in suite.metric_names()
    ]
    if unknown:
        raise ConfigError(
            f"suite {path} gates metric(s) it does not compute: {', '.join(unknown)}; "
            f"computed: {', '.join(suite.metric_names())}"
        )
    return suite.model_copy(update={"path": path, "sha256": hashlib.sha256(data).hexdigest()})

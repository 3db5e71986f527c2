"""Guard policies: a YAML file per app → the guards that run at each stage.

    version: "2026-11-25"            # recorded with every answer
    injection: {input: block, retrieved: block, threshold: 0.5}
    pii:       {input: redact, output: redact, external: redact, rules: {email: {output: flag}}}
    topics:    {input: block, deny: [{name: weapons, keywords: [firearm, explosive]}]}
    leak:      {output: block, similarity: 0.5}
    output_limits: {output: block, max_chars: 4000, html: block, external_images: block}
    verification: {on_unsupported: extractive, judge: false}

A guard runs on a stage when its section names an action for that stage (an
action of `null` or a missing key means it does not run there). Stage actions
are the default for every rule; `rules:` overrides single rules, everywhere or
per stage. `block` on `retrieved` excludes that chunk from the context and the
request goes on; `block` on `input` or `output` ends the request as `blocked`.
The built-in policy (`default-policy.yaml` next to this module) is what an app
without `guard_policy:` gets; docs/guards.md explains every field.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grounded.config import yaml_problem
from grounded.domain import GuardContext, RuleAction, Stage, Verdict
from grounded.errors import ConfigError
from grounded.guards.base import RuleActions, combine
from grounded.ports import Guard

BUILTIN_POLICY = Path(__file__).with_name("default-policy.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


RuleOverride = RuleAction | dict[Stage, RuleAction]


class _GuardSection(_Section):
    enabled: bool = True
    input: RuleAction | None = None
    retrieved: RuleAction | None = None
    output: RuleAction | None = None
    rules: dict[str, RuleOverride] = Field(default_factory=dict)

    def actions(self) -> RuleActions:
        stages: dict[Stage, RuleAction] = {}
        for stage in ("input", "retrieved", "output"):
            action = getattr(self, stage)
            if action is not None:
                stages[stage] = action
        return RuleActions(stages, self.rules)


class InjectionPolicy(_GuardSection):
    threshold: float = Field(default=0.5, ge=0, le=1)


class PiiPolicy(_GuardSection):
    external: RuleAction | None = None  # the prompt sent to a model marked external
    logs: bool = True  # redact PII from everything grounded logs

    def actions(self) -> RuleActions:
        base = super().actions()
        stages = dict(base.stages)
        if self.external is not None:
            stages["external"] = self.external
        return RuleActions(stages, self.rules)


class Topic(_Section):
    name: str
    keywords: list[str] = Field(default_factory=list, description="words or phrases, any case")
    patterns: list[str] = Field(default_factory=list, description="regular expressions")


class TopicsPolicy(_GuardSection):
    deny: list[Topic] = Field(default_factory=list)
    # When non-empty, a text must touch one of these topics, else rule "off_topic" applies.
    allow: list[Topic] = Field(default_factory=list)


class LeakPolicy(_GuardSection):
    similarity: float = Field(default=0.5, gt=0, le=1, description="share of prompt 8-grams")


class OutputLimitsPolicy(_GuardSection):
    max_chars: int = Field(default=4000, ge=1)
    format: Literal["any", "text", "markdown", "json"] = "any"


class VerificationPolicy(_Section):
    # What happens to answer sentences the verifier cannot support from their citations.
    on_unsupported: Literal["drop", "extractive", "refuse"] = "extractive"
    min_lexical: float = Field(default=0.6, ge=0, le=1, description="content-term support")
    semantic: bool = True  # also compare meaning with the embedder (when there is one)
    min_semantic: float = Field(default=0.55, ge=-1, le=1, description="cosine similarity")
    # A paraphrase shares fewer words: this close in meaning, this share of terms will do.
    paraphrase_semantic: float = Field(default=0.75, ge=-1, le=1)
    paraphrase_lexical: float = Field(default=0.3, ge=0, le=1)
    judge: bool = False  # also ask the app's model route to judge each sentence
    judge_route: str | None = None  # None = the app's route
    judge_prompt: str = "verify-judge@1"


class GuardPolicy(_Section):
    version: str = "builtin"
    injection: InjectionPolicy = Field(default_factory=InjectionPolicy)
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    topics: TopicsPolicy = Field(default_factory=TopicsPolicy)
    leak: LeakPolicy = Field(default_factory=LeakPolicy)
    output_limits: OutputLimitsPolicy = Field(default_factory=OutputLimitsPolicy)
    verification: VerificationPolicy = Field(default_factory=VerificationPolicy)


def load_policy(path: Path | None = None) -> GuardPolicy:
    """The policy in `path`, or the built-in one. Errors name the file and the field."""
    return _load(path or BUILTIN_POLICY)


@cache
def _load(path: Path) -> GuardPolicy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read guard policy {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"guard policy {path} is not valid YAML: {yaml_problem(exc)}") from exc
    try:
        return GuardPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid guard policy {path}: {problems}") from exc


class GuardStack:
    """The policy's guards in order; each stage runs the guards configured for it."""

    def __init__(self, policy: GuardPolicy, guards: Sequence[Guard]) -> None:
        self.policy = policy
        self.guards = tuple(guards)

    def scan(self, text: str, context: GuardContext) -> Verdict:
        """Every guard in turn, each on the previous one's (possibly redacted) text."""
        verdicts = []
        current = text
        for guard in self.guards:
            verdict = guard.scan(current, context)
            verdicts.append(verdict)
            current = verdict.text
        return combine(text, verdicts)

    def runs_on(self, stage: Stage) -> bool:
        return any(_stage_enabled(self.policy, g.name, stage) for g in self.guards)


def _stage_enabled(policy: GuardPolicy, name: str, stage: Stage) -> bool:
    section = getattr(policy, name, None)
    return isinstance(section, _GuardSection) and section.actions().runs_on(stage)


def build_guards(policy: GuardPolicy) -> GuardStack:
    """The guards the policy enables, injection first (it reads the unredacted text)."""
    from grounded.guards.injection import InjectionGuard
    from grounded.guards.leak import LeakGuard
    from grounded.guards.limits import OutputLimitsGuard
    from grounded.guards.pii import PiiGuard
    from grounded.guards.topics import TopicGuard

    guards: list[Guard] = []
    if policy.injection.enabled:
        guards.append(InjectionGuard(policy.injection.actions(), policy.injection.threshold))
    if policy.topics.enabled and (policy.topics.deny or policy.topics.allow):
        guards.append(TopicGuard(policy.topics))
    if policy.leak.enabled:
        guards.append(LeakGuard(policy.leak.actions(), policy.leak.similarity))
    if policy.output_limits.enabled:
        guards.append(OutputLimitsGuard(policy.output_limits))
    if policy.pii.enabled:
        guards.append(PiiGuard(policy.pii.actions()))
    return GuardStack(policy, guards)

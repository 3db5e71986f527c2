"""What every guard shares: detections, per-stage and per-rule actions, and the decision.

A guard is a detector plus the slice of the policy that concerns it. The
detector finds `Detection`s (a rule, a span, a score); `decide` turns them into
a `Verdict` by looking up each rule's action in `RuleActions`:

    allow   the finding is ignored (no reason is recorded)
    flag    recorded as a reason; the text passes unchanged
    redact  the span is replaced by its mask (e.g. "[EMAIL]"); the verdict is "modify"
    block   the verdict is "block"

A blocked verdict still carries the redacted text, so that nothing downstream
(a log line, an error message) ever needs the original. Findings about the
whole text rather than a span (a topic, a leak, a format) have start = end = -1:
`redact` cannot remove them and acts like `flag`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from grounded.domain import Reason, RuleAction, Stage, Verdict, VerdictAction

_SEVERITY: dict[RuleAction, int] = {"allow": 0, "flag": 1, "redact": 2, "block": 3}


@dataclass(frozen=True)
class Detection:
    """One finding of a detector, before the policy has a say."""

    rule: str
    start: int  # -1 with end -1: the finding is about the whole text, not a span
    end: int
    score: float = 1.0
    message: str = ""  # must not quote the matched text
    mask: str | None = None  # replacement when redacted; None = f"[{rule.upper()}]"


@dataclass(frozen=True)
class RuleActions:
    """A guard's slice of the policy: an action per stage, and per-rule overrides.

    A stage missing from `stages` means the guard does not run there. A rule
    override is either one action for every stage or a mapping stage → action.
    """

    stages: Mapping[Stage, RuleAction]
    rules: Mapping[str, RuleAction | Mapping[Stage, RuleAction]] = field(default_factory=dict)

    def runs_on(self, stage: Stage) -> bool:
        return stage in self.stages

    def action(self, stage: Stage, rule: str) -> RuleAction:
        override = self.rules.get(rule)
        if isinstance(override, str):
            return override
        if override is not None and stage in override:
            return override[stage]
        return self.stages.get(stage, "allow")


def decide(
    guard: str,
    text: str,
    stage: Stage,
    detections: Sequence[Detection],
    actions: RuleActions,
) -> Verdict:
    """Apply the policy to the detections: reasons, redactions, and the overall action."""
    reasons: list[Reason] = []
    redactions: list[Detection] = []
    worst: RuleAction = "allow"
    for d in sorted(detections, key=lambda d: (d.start, -d.end)):
        action = actions.action(stage, d.rule)
        if action == "allow":
            continue
        reasons.append(Reason(guard, d.rule, round(d.score, 4), action, d.message, d.start, d.end))
        if action in ("redact", "block") and d.end > d.start >= 0:
            redactions.append(d)  # a blocked span is masked too: the verdict text is safe to log
        if _SEVERITY[action] > _SEVERITY[worst]:
            worst = action
    redacted = redact_spans(text, redactions)
    verdict: VerdictAction = "allow"
    if worst == "block":
        verdict = "block"
    elif redacted != text:
        verdict = "modify"
    return Verdict(verdict, redacted, tuple(reasons))


def redact_spans(text: str, detections: Sequence[Detection]) -> str:
    """Replace each detection's span by its mask; overlapping spans merge into the first mask."""
    out: list[str] = []
    cursor = 0
    for d in sorted(detections, key=lambda d: (d.start, -d.end)):
        if d.end <= cursor:
            continue  # inside a span already masked
        out.append(text[cursor : max(cursor, d.start)])
        if d.start >= cursor:
            out.append(d.mask or f"[{d.rule.upper()}]")
        cursor = d.end
    out.append(text[cursor:])
    return "".join(out)


def combine(text: str, verdicts: Sequence[Verdict]) -> Verdict:
    """One verdict from guards that ran in turn on `text`, each on the previous one's output."""
    reasons = tuple(r for v in verdicts for r in v.reasons)
    final = verdicts[-1].text if verdicts else text
    if any(v.blocked for v in verdicts):
        return Verdict("block", final, reasons)
    return Verdict("modify" if final != text else "allow", final, reasons)

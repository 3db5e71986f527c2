"""Output limits: length, format, and markup that has no place in an answer.

Rules (each takes the output stage's action unless `rules:` overrides it):

    too_long        longer than `max_chars`; `redact` truncates at the limit
    format          not the configured `format` (json: must parse; text: no markup)
    html            raw HTML tags that a browser would act on (script, iframe, img, on*= …)
    external_image  a Markdown image with a remote URL — the classic exfiltration channel:
                    rendering it sends a request, with whatever the URL carries, to its host
"""

from __future__ import annotations

import json
import re

from grounded.domain import GuardContext, Verdict
from grounded.guards.base import Detection, decide
from grounded.guards.policy import OutputLimitsPolicy

_HTML = re.compile(
    r"<\s*/?\s*(?:script|iframe|object|embed|img|svg|style|link|meta|form|input|a)\b[^>]*>"
    r"|\bon[a-z]+\s*=\s*[\"']|javascript:",
    re.IGNORECASE,
)
_IMAGE = re.compile(r"!\[[^\]]{0,200}\]\(\s*<?(?:https?:)?//[^)\s]{1,2000}\)", re.IGNORECASE)
_MARKUP = re.compile(r"^\s{0,3}(?:#{1,6}\s|```|\|.*\|\s*$)|\*\*|<[a-z/]", re.IGNORECASE | re.M)


class OutputLimitsGuard:
    name = "output_limits"

    def __init__(self, policy: OutputLimitsPolicy) -> None:
        self.policy = policy
        self.actions = policy.actions()

    def scan(self, text: str, context: GuardContext) -> Verdict:
        if not self.actions.runs_on(context.stage):
            return Verdict.allow(text)
        return decide("output_limits", text, context.stage, self.detect(text), self.actions)

    def detect(self, text: str) -> list[Detection]:
        found = [
            Detection("html", m.start(), m.end(), 1.0, "raw HTML or script in the output", "")
            for m in _HTML.finditer(text)
        ]
        found += [
            Detection("external_image", m.start(), m.end(), 1.0, "image with a remote URL", "")
            for m in _IMAGE.finditer(text)
        ]
        limit = self.policy.max_chars
        if len(text) > limit:
            found.append(
                Detection("too_long", limit, len(text), 1.0, f"longer than {limit} characters", "…")
            )
        problem = _format_problem(text, self.policy.format)
        if problem:
            found.append(Detection("format", -1, -1, 1.0, problem))
        return found


def _format_problem(text: str, fmt: str) -> str | None:
    if fmt == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            return f"not valid JSON ({exc.msg} at line {exc.lineno})"
    if fmt == "text" and _MARKUP.search(text):
        return "contains markup, but the app allows plain text only"
    return None

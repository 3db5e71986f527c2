"""Topic allow and deny lists: keywords and patterns matched on normalised text.

A text touching a denied topic triggers that topic's rule (its name, e.g.
`weapons`). With an allow list, a text touching none of the allowed topics
triggers `off_topic`. Matching runs on `normalize(text)`, so zero-width
characters and homoglyphs do not hide a keyword; findings therefore cover the
whole text rather than a span (redacting a topic means redacting the text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from grounded.domain import GuardContext, Verdict
from grounded.guards.base import Detection, decide
from grounded.guards.normalize import normalize
from grounded.guards.policy import Topic, TopicsPolicy

OFF_TOPIC = "off_topic"


def _compile(topic: Topic) -> re.Pattern[str]:
    words = [r"\b" + re.escape(normalize(k)) + r"\b" for k in topic.keywords if k.strip()]
    pattern = "|".join(words + [f"(?:{p})" for p in topic.patterns])
    return re.compile(pattern or r"(?!)", re.IGNORECASE)


class TopicGuard:
    name = "topics"

    def __init__(self, policy: TopicsPolicy) -> None:
        self.actions = policy.actions()
        self._deny = [(t.name, _compile(t)) for t in policy.deny]
        self._allow = [(t.name, _compile(t)) for t in policy.allow]

    def scan(self, text: str, context: GuardContext) -> Verdict:
        if not self.actions.runs_on(context.stage):
            return Verdict.allow(text)
        return decide("topics", text, context.stage, self.detect(text), self.actions)

    def detect(self, text: str) -> list[Detection]:
        folded = normalize(text)
        found = [
            Detection(name, -1, -1, 1.0, f"touches the denied topic {name!r}")
            for name, pattern in self._deny
            if pattern.search(folded)
        ]
        if self._allow and not _any_match(self._allow, folded):
            allowed = ", ".join(name for name, _ in self._allow)
            found.append(
                Detection(OFF_TOPIC, -1, -1, 1.0, f"outside the allowed topics ({allowed})")
            )
        return found


def _any_match(topics: Sequence[tuple[str, re.Pattern[str]]], text: str) -> bool:
    return any(pattern.search(text) for _, pattern in topics)

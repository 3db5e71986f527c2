"""System-prompt leak detection on model output: a canary, and word n-gram overlap.

Every request's system prompt carries a fresh random canary (`new_canary()`).
The canary never belongs in an answer, so finding it (even with spaces,
zero-width characters or case changed) proves the system prompt leaked
(rule `canary`). A model can also paraphrase or quote part of the prompt
without the canary: rule `system_prompt` fires when the output shares enough
word 6-grams with the system prompt — the share is taken of the smaller of the
two, so quoting a few prompt sentences in a short answer counts as much as
dumping the whole prompt.
"""

from __future__ import annotations

import re
import secrets

from grounded.domain import GuardContext, Verdict
from grounded.guards.base import Detection, RuleActions, decide
from grounded.guards.normalize import normalize

N = 6
MIN_SHARED = 2  # one shared 6-gram can be a coincidence ("if the sources do not contain")
_WORD = re.compile(r"\w+")


def new_canary() -> str:
    return f"canary-{secrets.token_hex(8)}"


class LeakGuard:
    name = "leak"

    def __init__(self, actions: RuleActions, similarity: float = 0.5) -> None:
        self.actions = actions
        self.similarity = similarity

    def scan(self, text: str, context: GuardContext) -> Verdict:
        if not self.actions.runs_on(context.stage):
            return Verdict.allow(text)
        return decide("leak", text, context.stage, self.detect(text, context), self.actions)

    def detect(self, text: str, context: GuardContext) -> list[Detection]:
        found = []
        if context.canary and _squash(context.canary) in _squash(text):
            found.append(Detection("canary", -1, -1, 1.0, "contains the system prompt's canary"))
        if context.system_prompt:
            score = overlap(text, context.system_prompt)
            if score >= self.similarity:
                found.append(
                    Detection(
                        "system_prompt",
                        0,
                        len(text),
                        score,
                        f"repeats the system prompt ({score:.0%} of word {N}-grams shared)",
                    )  # fmt: skip
                )
        return found


def overlap(output: str, prompt: str) -> float:
    """Shared word n-grams as a share of the smaller side's n-grams (0 when under MIN_SHARED)."""
    mine, theirs = _ngrams(output), _ngrams(prompt)
    shared = len(mine & theirs)
    if shared < MIN_SHARED:
        return 0.0
    return shared / min(len(mine), len(theirs))


def _ngrams(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(normalize(text))
    return {tuple(words[i : i + N]) for i in range(len(words) - N + 1)}


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", normalize(text))

"""Prompt-injection and jailbreak detection by rules: no model, no network.

Direct injection arrives in the user's question (stage "input"); indirect
injection hides in retrieved document chunks (stage "retrieved"). Every rule is
a precompiled regex over `normalize(text)` (and its leetspeak-folded copy) with
a weight; decoded base64/hex/rot13/tag payloads are scanned too. The rules live
in `injection_rules.py`; this module scans with them and scores what they find.

Patterns demand a combination, never a single word. Weak patterns (a "System:"
line, "developer mode") stay below the threshold alone and only matter next to
another finding:

    family score   noisy-OR of the distinct patterns of that family that matched
                   near each other (matches on the same words count once)
    stage factor   documents addressing "any AI" or carrying chat-template tokens
                   weigh more in "retrieved"; persona jailbreaks more in "input"
    corroboration  score += (1 - score) * 0.5 * (strongest other family nearby)

"Near" is within 800 characters: in a long document, a weak signal in one
section and a strong one in another are two separate matters.

A quoted mention ("phrases like 'ignore previous instructions'") counts half:
security-awareness pages talk about attacks without making one.

Spans: a finding is located in the original text through the offsets that
`normalize_with_offsets` keeps; when the text cannot be mapped (per-character
NFKC differs from whole-text NFKC), the finding spans the whole text (0, len).

Speed: every rule has a gate, the words any match must contain (see
`rulegate.py`), checked against the text's set of words before its regex runs;
on ordinary text only a few regexes run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grounded.domain import GuardContext, Stage, Verdict
from grounded.errors import ConfigError
from grounded.guards.base import Detection, RuleActions, decide
from grounded.guards.injection_rules import GATES, INJECTION_RULES, MESSAGES
from grounded.guards.normalize import find_payloads, leet_fold, normalize, normalize_with_offsets
from grounded.guards.rulegate import Keywords, Rule

__all__ = ["INJECTION_RULES", "InjectionGuard", "find_injection"]

_STAGE_FACTOR: dict[str, dict[str, float]] = {
    "addressed_to_ai": {"input": 0.6, "output": 0.8},
    "fake_delimiters": {"input": 0.9, "retrieved": 1.15},
    "jailbreak_persona": {"retrieved": 0.85, "output": 0.85},
    "role_override": {"retrieved": 0.9},
    "policy_evasion": {"retrieved": 0.9},
}
_CORROBORATION = 0.5
_WINDOW = 800  # characters: signals further apart than this do not corroborate each other
_ENCODED_BONUS = 0.3  # hiding an instruction in an encoding is a signal of its own
_MASK = "[INJECTION]"


# "such as 'ignore previous instructions'": a mention, not a use
_MENTION = re.compile(
    r"(?:such as|like|e\.g\.|for example|phrases?|strings?|words|sentences?|the text)"
    r"[^\S\n]?[:,]?[^\S\n]?[\"'«]$"
)
_MENTION_FAMILIES = frozenset({"ignore_instructions", "reveal_prompt"})


_Hit = tuple[float, int, int]  # weight, start, end (in the normalised text)


def _near(a: _Hit, b: _Hit) -> bool:
    return a[1] - b[2] <= _WINDOW and b[1] - a[2] <= _WINDOW


@dataclass
class _Found:
    """One family's evidence: where each of its patterns first matched, and how strongly."""

    hits: dict[int, _Hit]  # pattern index -> hit

    @property
    def anchor(self) -> _Hit:
        return max(self.hits.values(), key=lambda h: (h[0], -h[1]))

    @property
    def score(self) -> float:
        """Noisy-OR of the anchor and the family's other hits near it; a hit overlapping the
        anchor matched the same words and adds nothing."""
        anchor = self.anchor
        miss = 1.0 - anchor[0]
        for hit in self.hits.values():
            overlaps = hit[1] < anchor[2] and anchor[1] < hit[2]
            if hit is not anchor and not overlaps and _near(hit, anchor):
                miss *= 1.0 - hit[0]
        return 1.0 - miss


def _scan(
    keywords: Keywords, stage: Stage, found: dict[str, _Found] | None = None
) -> dict[str, _Found]:
    """Every rule whose gate opens, over one normalised text; evidence accumulates into `found`."""
    found = {} if found is None else found
    norm = keywords.text
    for index, rule in enumerate(GATES.rules):
        if not keywords.open(index):
            continue
        hit = _first_use(rule, norm)
        if hit is None:
            continue
        match, weight = hit
        weight = min(1.0, weight * _STAGE_FACTOR.get(rule.family, {}).get(stage, 1.0))
        evidence = found.setdefault(rule.family, _Found({}))
        if weight > evidence.hits.get(index, (0.0, 0, 0))[0]:
            evidence.hits[index] = (weight, match.start(), match.end())
    return found


def _scan_text(norm: str, stage: Stage) -> dict[str, _Found]:
    """`_scan` over a normalised text and, if it differs, its leetspeak-folded copy."""
    keywords = Keywords(norm, GATES)
    found = _scan(keywords, stage)
    leet = leet_fold(norm, keywords.words)
    if leet != norm:  # folding keeps offsets, so spans in the copy are spans in `norm`
        _scan(Keywords(leet, GATES), stage, found)
    return found


def _first_use(rule: Rule, norm: str) -> tuple[re.Match[str], float] | None:
    """The first match of a rule and its weight; a quoted mention counts half, so look on."""
    best: tuple[re.Match[str], float] | None = None
    for n, match in enumerate(rule.pattern.finditer(norm)):
        if n >= 8:
            break
        start = match.start()
        if rule.word_start and start and (norm[start - 1].isalnum() or norm[start - 1] == "_"):
            continue  # inside a word: "casino restrictions" is not "no restrictions"
        if rule.family not in _MENTION_FAMILIES or not _MENTION.search(
            norm, max(0, start - 30), start
        ):
            return match, rule.weight
        if best is None:
            best = match, rule.weight * 0.5
    return best


def find_injection(text: str, stage: Stage = "input", min_score: float = 0.0) -> list[Detection]:
    """Injection and jailbreak findings in `text`, one per rule family, scored in [0, 1].

    Findings below `min_score` are left out before they are located in the text,
    which is the one step that costs more than the scan.
    """
    found = _scan_text(normalize(text), stage)
    anchors = {family: evidence.anchor for family, evidence in found.items()}
    scores = {family: evidence.score for family, evidence in found.items()}
    encoded = _encoded(text, stage)
    if encoded is not None:
        # its span is in `text`, the others' in the normalised text: close enough for nearness
        anchors["encoded_instructions"] = (encoded.score, encoded.start, encoded.end)
        scores["encoded_instructions"] = encoded.score
    combined: dict[str, float] = {}
    for family, score in scores.items():
        near = (s for f, s in scores.items() if f != family and _near(anchors[f], anchors[family]))
        combined[family] = score + (1.0 - score) * _CORROBORATION * max(near, default=0.0)
    kept = {f: found[f].anchor for f in found if combined[f] >= min_score}
    spans = _locate(text, kept)
    detections = [Detection(f, *spans[f], round(combined[f], 4), MESSAGES[f], _MASK) for f in kept]
    if encoded is not None and combined["encoded_instructions"] >= min_score:
        score = round(combined["encoded_instructions"], 4)
        message = encoded.message
        detections.append(
            Detection("encoded_instructions", encoded.start, encoded.end, score, message, _MASK)
        )
    return sorted(detections, key=lambda d: d.start)


def _locate(text: str, hits: dict[str, _Hit]) -> dict[str, tuple[int, int]]:
    """Spans in `text` for hits in its normalised form; the whole text where unmappable."""
    if not hits:
        return {}
    mapped = normalize_with_offsets(text)
    if mapped is None:
        return dict.fromkeys(hits, (0, len(text)))
    _, origin = mapped
    return {f: (origin[start], origin[end - 1] + 1) for f, (_, start, end) in hits.items()}


@dataclass(frozen=True)
class _Encoded:
    score: float
    start: int
    end: int
    message: str


def _encoded(text: str, stage: Stage) -> _Encoded | None:
    """The strongest hidden payload that itself reads as an injection."""
    best: _Encoded | None = None
    for payload in find_payloads(text):
        found = _scan_text(payload.text, stage)
        inner = max((e.score for e in found.values()), default=0.0)
        if inner < 0.3:
            continue
        score = min(1.0, inner + _ENCODED_BONUS)
        if best is None or score > best.score:
            message = MESSAGES["encoded_instructions"].format(encoding=payload.encoding)
            best = _Encoded(score, payload.start, payload.end, message)
    return best


class InjectionGuard:
    """Prompt injection in questions and retrieved chunks, decided by the policy's actions.

    Findings scoring below `threshold` are dropped before the policy sees them.
    A blocked or redacted finding is masked as "[INJECTION]"; on a retrieved
    chunk "block" excludes the chunk from the context.
    """

    name = "injection"

    def __init__(self, actions: RuleActions, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(
                f"injection threshold {threshold} is outside [0, 1]; use e.g. 0.5 "
                "(lower catches more, with more false positives)"
            )
        self.actions = actions
        self.threshold = threshold

    def scan(self, text: str, context: GuardContext) -> Verdict:
        if not self.actions.runs_on(context.stage):
            return Verdict.allow(text)
        found = find_injection(text, context.stage, min_score=self.threshold)
        return decide(self.name, text, context.stage, found, self.actions)

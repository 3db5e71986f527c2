"""Groundedness verification without a second LLM call.

Each answer sentence is checked against the sources it cites, one at a time;
the first cited source that passes every check supports it:

- lexical: the share of the sentence's content terms (lower case, stop words
  dropped, Porter stems) found in the source is at least `min_lexical`;
- facts: every number (digits or number words up to twenty, "1,000" = "1000"),
  and every named entity (a capitalised word that does not start the sentence,
  or an all-caps/alphanumeric code like SEV2) appears in the source;
- negation: a sentence with a negation ("not", "never", "no", "n't", "without",
  "cannot") needs a negation or a word of negative polarity ("blocked", "only",
  "expire") in the source sentence that supports it best — "days do not carry
  over" is not supported by "days carry over";
- semantic (when an embedder is given): the cosine similarity between the
  sentence and its best-matching source sentence is at least `min_semantic`;
  and a paraphrase whose meaning is close (at least `paraphrase_semantic`) needs
  only `paraphrase_lexical` of its terms in the source instead of `min_lexical`.

Sentences without a factual claim ("Here is what I found:") pass unchecked;
a factual sentence without a valid citation fails. When the cited sources fail
but another source in the context would pass, the reason says so ("cites S2;
supported by S1") — a correct claim with the wrong citation is still wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from grounded.domain import ContextSource, SentenceCheck
from grounded.guards.citations import AnswerSentence
from grounded.guards.policy import VerificationPolicy
from grounded.index.bm25 import Tokenizer
from grounded.ingest.chunking import sentence_spans
from grounded.ports import Vectors

Embed = Callable[[Sequence[str]], Vectors]

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot|can't|won't)\b|n't\b",
    re.I,
)
_MASK = re.compile(r"\[[A-Z_]{2,}\]")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
# What a source may say a negation with: "blocked", "only then", "expire". (Not "un-"
# words: "unused days carry over" must not support "days do not carry over".)
_POLARITY = re.compile(
    _NEGATION.pattern + r"|\b(?:blocked|banned|forbidden|prohibited|only|until|"
    r"expires?|expired|lose|lost|forfeit(?:ed)?|instead)\b",
    re.I,
)
_CODE = re.compile(r"\b(?=[A-Z0-9-]*[A-Z])(?=[A-Z0-9-]*\d)[A-Z0-9-]{2,}\b|\b[A-Z]{2,}\b")
_BOILERPLATE = re.compile(
    r"^(?:here is|here's|based on|according to|i hope|let me know|in summary|to summari[sz]e|"
    r"the (?:sources?|documents?) (?:say|state|show)s?\b[^.]*:$)",
    re.I,
)
# Capitalised words that are not names (sentence-internal "I", months are kept: a date matters).
_NOT_ENTITIES = {"i", "if", "the", "a", "an", "you", "your", "we", "our", "it", "this", "that"}


@dataclass(frozen=True)
class _Support:
    ok: bool
    reason: str
    lexical: float
    semantic: float | None
    best: tuple[int, int] | None  # span of the best-matching sentence in the source text


class Verifier:
    def __init__(self, policy: VerificationPolicy, embed: Embed | None = None) -> None:
        self.policy = policy
        self.embed = embed
        self._terms = Tokenizer()
        # One verifier serves one answer: its checks, the search for an uncited source
        # that would have supported a sentence, and the citations' quotes ask the same
        # (sentence, source) questions; each is answered (and embedded) once.
        self._supports: dict[tuple[str, str], _Support] = {}

    def check(
        self, sentences: Sequence[AnswerSentence], sources: Mapping[str, ContextSource]
    ) -> list[SentenceCheck]:
        return [self.check_one(s, sources) for s in sentences]

    def check_one(
        self, sentence: AnswerSentence, sources: Mapping[str, ContextSource]
    ) -> SentenceCheck:
        text, cited = sentence.text, sentence.cited
        if not is_factual(text, self._terms):
            return SentenceCheck(text, True, cited, None, "no factual claim", factual=False)
        if not cited:
            why = "no citation" if not sentence.invalid else "cites only sources not in the context"
            return SentenceCheck(text, False, cited, None, why + _elsewhere(self, text, sources))
        failures = []
        last = None
        for marker in cited:
            last = self.support(text, sources[marker].text)
            if last.ok:
                return SentenceCheck(
                    text, True, cited, marker, f"supported by {marker}",
                    lexical=last.lexical, semantic=last.semantic,
                )  # fmt: skip
            failures.append(f"{marker}: {last.reason}")
        reason = "; ".join(failures) + _elsewhere(self, text, sources, exclude=cited)
        assert last is not None
        return SentenceCheck(
            text, False, cited, None, reason, lexical=last.lexical, semantic=last.semantic
        )

    def support(self, sentence: str, source: str) -> _Support:
        """Whether `source` supports `sentence`, and the span of its best-matching sentence."""
        key = (sentence, source)
        if key not in self._supports:
            self._supports[key] = self._support(sentence, source)
        return self._supports[key]

    def _support(self, sentence: str, source: str) -> _Support:
        quoted = _quoted(sentence, source)
        if quoted is not None:
            # A verbatim quote of the source is supported by it, whatever the rules below
            # would measure; extractive answers are all quotes, and this spares embedding
            # every sentence of their sources (most of an extractive answer's time).
            return _Support(True, "", 1.0, 1.0 if self.embed is not None else None, quoted)
        terms = set(self._terms(sentence))
        source_terms = set(self._terms(source))
        lexical = len(terms & source_terms) / len(terms) if terms else 1.0
        spans = units(source) or [(0, len(source))]
        best = max(spans, key=lambda sp: len(terms & set(self._terms(source[sp[0] : sp[1]]))))
        semantic = None
        if self.embed is not None:
            vectors = self.embed([sentence, *(source[s:e] for s, e in spans)])
            semantic = float(np.max(vectors[1:] @ vectors[0]))
        return _Support(
            *self._judge(sentence, source, lexical, semantic, best),
            round(lexical, 3),
            semantic,
            best,
        )

    def _judge(
        self,
        sentence: str,
        source: str,
        lexical: float,
        semantic: float | None,
        best_span: tuple[int, int],
    ) -> tuple[bool, str]:
        policy = self.policy
        # A paraphrase shares fewer words; a close meaning makes up for some of them.
        rescued = (
            semantic is not None
            and semantic >= policy.paraphrase_semantic
            and lexical >= policy.paraphrase_lexical
        )
        missing = _missing_facts(sentence, source)
        if lexical < policy.min_lexical and not rescued:
            return False, f"only {lexical:.0%} of its terms are in the source"
        if missing:
            return False, f"{missing} not in the source"
        best = source[best_span[0] : best_span[1]]
        if _NEGATION.search(sentence) and not _POLARITY.search(best):
            return False, "negation not in the source"
        if semantic is not None and semantic < policy.min_semantic:
            return False, f"semantic similarity {semantic:.2f} below {policy.min_semantic}"
        return True, ""


_SPACE = re.compile(r"\s+")


def _quoted(sentence: str, source: str) -> tuple[int, int] | None:
    """The span of the source's sentence that contains `sentence` word for word, if any."""
    wanted = _SPACE.sub(" ", sentence).strip()
    if len(wanted) < 2 or wanted not in _SPACE.sub(" ", source):
        return None
    for start, end in units(source) or [(0, len(source))]:
        if wanted in _SPACE.sub(" ", source[start:end]):
            return start, end
    return None  # it runs across sentences: judge it by the rules


_BLOCK_BREAK = re.compile(r"\s*(?:[-*•+]|\d+[.)])\s+|.*\s\|\s.*\s\|\s")


def units(text: str) -> list[tuple[int, int]]:
    """Spans of the text's sentences, where paragraphs, list items and table rows end one."""
    out: list[tuple[int, int]] = []
    block_start = None
    position = 0
    for line in text.splitlines(keepends=True):
        starts_block = not line.strip() or _BLOCK_BREAK.match(line) is not None
        if block_start is not None and starts_block:
            out += sentence_spans(text, block_start, position)
            block_start = None
        if line.strip() and block_start is None:
            block_start = position
        if block_start is not None and " | " in line and line.count(" | ") >= 2:
            out += sentence_spans(text, block_start, position + len(line))
            block_start = None
        position += len(line)
    if block_start is not None:
        out += sentence_spans(text, block_start, len(text))
    return out


def _elsewhere(
    verifier: Verifier,
    text: str,
    sources: Mapping[str, ContextSource],
    exclude: Sequence[str] = (),
) -> str:
    for marker, source in sources.items():
        if marker not in exclude and verifier.support(text, source.text).ok:
            return f" (supported by {marker}, which it does not cite)"
    return ""


def is_factual(sentence: str, terms: Callable[[str], list[str]]) -> bool:
    """False for sentences that state nothing: boilerplate, or no content terms at all."""
    stripped = sentence.strip()
    if _BOILERPLATE.match(stripped) and not _NUMBER.search(stripped):
        return False
    return bool(terms(stripped))


def numbers(text: str) -> set[str]:
    out = set()
    for m in _NUMBER.finditer(text):
        raw = m.group().lower()
        value = str(_NUMBER_WORDS[raw]) if raw in _NUMBER_WORDS else raw.replace(",", "")
        out.add(value.rstrip("0").rstrip(".") if "." in value else value)
    return out


def entities(sentence: str) -> set[str]:
    """Names and codes: capitalised words after the first word, and codes like SEV2."""
    sentence = _MASK.sub(" ", sentence)  # "[EMAIL]" is a redaction, not a name
    found = {m.group().casefold() for m in _CODE.finditer(sentence)}
    words = list(_WORD.finditer(sentence))
    for i, m in enumerate(words):
        word = m.group()
        after_stop = i == 0 or sentence[: m.start()].rstrip().endswith((".", ":", "!", "?"))
        if word[0].isupper() and not after_stop and word.casefold() not in _NOT_ENTITIES:
            found.add(word.casefold().rstrip("'’s"))
    return found


def _missing_facts(sentence: str, source: str) -> str:
    source_numbers = numbers(source)
    for number in sorted(numbers(sentence)):
        if number not in source_numbers:
            return f"number {number}"
    folded = source.casefold()
    for name in sorted(entities(sentence)):
        if name not in folded:
            return f"name {name!r}"
    return ""

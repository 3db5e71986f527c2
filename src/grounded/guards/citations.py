"""Citation enforcement: split an answer into sentences and the sources each one cites.

Markers look like `[S1]`; `[S1, S3]`, `[S1][S3]`, `[s1]`, `[Source 1]` and `[1]`
are read as the same thing, because small models vary the form. A marker may
stand before or after the sentence's full stop ("… carry over [S1]." or
"… carry over. [S1]"); a sentence that begins with markers gives them to the
sentence before it. Citations to ids that were not in the context are removed
from the answer and counted: they are the model inventing sources.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from grounded.ingest.chunking import sentence_spans

_GROUP = re.compile(r"\s*\[\s*((?:(?:source\s*|s\s*)?\d+\s*[,;]?\s*)+)\]", re.IGNORECASE)
_ID = re.compile(r"\d+")
_LEADING = re.compile(r"^(?:\s*\[[^\]]{1,40}\])+")
# "… over. [S1] Next" → "… over [S1]. Next", so that the sentence splitter sees the stop.
_MARKER_THEN_CAPITAL = re.compile(r"(?<=\])\s+(?=[A-Z\"“(])")
_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[[^\]\n]{1,40}\])+)")


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer: its text without markers, and the ids it cites."""

    text: str
    cited: tuple[str, ...]  # valid ids, in order of first mention
    invalid: tuple[str, ...] = ()  # ids cited that were not in the context

    def with_markers(self) -> str:
        return self.text + "".join(f" [{c}]" for c in self.cited)


def parse_answer(answer: str, valid_ids: Collection[str]) -> list[AnswerSentence]:
    """The answer's sentences with their citations, split by the markers' ids' validity."""
    out = []
    for piece in split_cited(answer):
        cited: list[str] = []
        invalid: list[str] = []
        for group in _GROUP.finditer(piece):
            for number in _ID.findall(group.group(1)):
                marker = f"S{int(number)}"
                bucket = cited if marker in valid_ids else invalid
                if marker not in bucket:
                    bucket.append(marker)
        text = " ".join(_GROUP.sub("", piece).split())
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if text or cited:
            out.append(AnswerSentence(text, tuple(cited), tuple(invalid)))
    return out


def split_cited(answer: str) -> list[str]:
    """The answer's sentences, each with the markers that belong to it."""
    answer = _AFTER_STOP.sub(r"\2\1", answer)
    pieces = []
    # Markers end a sentence even without a full stop ("Reset your password [S1] Then …").
    for part in _MARKER_THEN_CAPITAL.split(answer):
        pieces += [part[s:e] for s, e in sentence_spans(part)]
    return _reattach_leading_markers(pieces)


def _reattach_leading_markers(pieces: list[str]) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        lead = _LEADING.match(piece)
        if lead and out and _GROUP.fullmatch(lead.group()):
            out[-1] = out[-1] + " " + lead.group().strip()
            piece = piece[lead.end() :].strip()
        if piece:
            out.append(piece)
    return out


def render_answer(sentences: list[AnswerSentence]) -> str:
    """The answer text again, with only valid markers, one space between sentences."""
    return " ".join(s.with_markers() for s in sentences)

"""The no-LLM provider: answers with the best sentences of the request's sources, cited.

With sources (`request.sources`), the question is the last user message. Every
source is split into sentences; each sentence scores the idf-weighted sum of
the question's terms it contains (terms as the BM25 index makes them: lower
case, English stop words dropped, Porter stems; idf over the candidate
sentences). The best `max_sentences` are kept, except any scoring under
`MIN_SHARE` of the best, which would pad the answer rather than support it.
They are shown grouped by source (the source of the best sentence first) in
reading order, each followed by its citation marker `[source_id]`.

Without sources, the user message itself is the text ("Summarise: <text>"): an
instruction before a leading colon is dropped, and the most central sentences
(those sharing the most weighted terms with the rest of the text) are kept, in
reading order. A text no longer than the summary is returned whole.

Nothing is generated: when no sentence shares a term with the question, the
answer is empty with finish_reason "no_answer". The same request always gives
the same answer. `max_tokens`, `temperature` and friends do not apply.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from grounded.config import ExtractiveModelConfig
from grounded.domain import Capabilities, ChatRequest, ChatResponse, SourceText, StreamEvent, Usage
from grounded.errors import ProviderError
from grounded.index.bm25 import Tokenizer
from grounded.ingest.chunking import sentence_spans

NO_ANSWER = "no_answer"
MIN_SHARE = 0.3  # a kept sentence scores at least this share of the best one
_LIST_ITEM = re.compile(r"(?:[-*•+]|\d+[.)])\s+")
_HEADING = re.compile(r"#{1,6}\s")
# "Summarise:", "Please summarize the text below:", "TL;DR:" — an instruction ending in a colon.
_INSTRUCTION = re.compile(
    r"^\s*(?:please\s+)?(?:summari[sz]e|summary|tl;?dr|condense|shorten)\b[^\n:]{0,60}:\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Sentence:
    text: str
    source: int  # index into request.sources; -1 for the user's own text
    position: int
    terms: frozenset[str]


class ExtractiveModel:
    """Answers by quoting sources; needs no model, GPU or network."""

    def __init__(self, name: str, cfg: ExtractiveModelConfig) -> None:
        self.name = name
        self.cfg = cfg
        self.capabilities = Capabilities(streaming=True, tools=False, json_schema=False)
        self._tokenize = Tokenizer()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self._refuse_unsupported(request)
        pieces, finish_reason = await asyncio.to_thread(self.answer, request)
        return self._response("".join(pieces), finish_reason)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self._refuse_unsupported(request)
        pieces, finish_reason = await asyncio.to_thread(self.answer, request)
        for piece in pieces:
            yield StreamEvent(delta=piece)
        yield StreamEvent(response=self._response("".join(pieces), finish_reason))

    async def aclose(self) -> None:
        return None

    def answer(self, request: ChatRequest) -> tuple[list[str], str]:
        """The answer as stream pieces (a sentence and its marker each), and the finish reason."""
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if request.sources:
            picked = self._answer_question(question, request.sources)
        else:
            picked = self._summarise(question)
        if not picked:
            return [], NO_ANSWER
        pieces = []
        for i, sentence in enumerate(picked):
            marker = f" [{request.sources[sentence.source].id}]" if sentence.source >= 0 else ""
            pieces.append(("" if i == 0 else " ") + sentence.text + marker)
        return pieces, "stop"

    # ------------------------------------------------------------------ question mode

    def _answer_question(self, question: str, sources: Sequence[SourceText]) -> list[_Sentence]:
        wanted = frozenset(self._tokenize(question))
        candidates = self._split(sources)
        idf = _idf([s.terms & wanted for s in candidates])
        scored = [(_weight(s.terms & wanted, idf), s) for s in candidates]
        scored = [(score, s) for score, s in scored if score > 0]
        if not scored:
            return []
        scored.sort(key=lambda item: (-item[0], item[1].source, item[1].position))
        floor = scored[0][0] * MIN_SHARE
        kept = [(score, s) for score, s in scored[: self.cfg.max_sentences] if score >= floor]
        best_of_source: dict[int, float] = {}
        for score, s in kept:
            best_of_source.setdefault(s.source, score)
        kept.sort(
            key=lambda item: (-best_of_source[item[1].source], item[1].source, item[1].position)
        )
        return [s for _, s in kept]

    def _split(self, sources: Sequence[SourceText]) -> list[_Sentence]:
        seen: set[str] = set()
        out = []
        for index, source in enumerate(sources):
            for position, text in enumerate(split_sentences(source.text)):
                key = text.casefold()
                if key not in seen:
                    seen.add(key)
                    out.append(_Sentence(text, index, position, frozenset(self._tokenize(text))))
        return out

    # ------------------------------------------------------------------ summary mode

    def _summarise(self, message: str) -> list[_Sentence]:
        body = _INSTRUCTION.sub("", message, count=1)
        sentences = [
            _Sentence(text, -1, position, frozenset(self._tokenize(text)))
            for position, text in enumerate(split_sentences(body))
            if re.search(r"\w", text)
        ]
        if len(sentences) <= self.cfg.max_sentences:
            return sentences
        idf = _idf([s.terms for s in sentences])
        scores = [_centrality(i, sentences, idf) for i in range(len(sentences))]
        ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
        return [sentences[i] for i in sorted(ranked[: self.cfg.max_sentences])]

    # ------------------------------------------------------------------ helpers

    def _refuse_unsupported(self, request: ChatRequest) -> None:
        missing = self.capabilities.missing(request.needs)
        if missing:
            raise ProviderError(
                self.name,
                f"does not support {', '.join(missing)}: the extractive model only quotes "
                "sources; route this request to an LLM",
                kind="unsupported",
            )

    def _response(self, text: str, finish_reason: str) -> ChatResponse:
        return ChatResponse(
            text=text,
            model=self.name,
            finish_reason=finish_reason,
            usage=Usage(0, 0),
            provider_model="extractive",
        )


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, whitespace collapsed.

    Paragraphs, list items and table rows ("a | b | c") end a sentence too; list
    markers are dropped, and Markdown headings and short title-case lines without
    a full stop (headings that loaders keep as text) are left out: a title is not
    an answer.
    """
    out = []
    for block in _blocks(text):
        out += [" ".join(block[start:end].split()) for start, end in sentence_spans(block)]
    return out


def _blocks(text: str) -> list[str]:
    """Paragraphs and list items, one string each, without headings or list markers."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        stripped = line.strip()
        item = _LIST_ITEM.match(stripped)
        row = stripped.count(" | ") >= 2  # a table row: a record of its own
        if not stripped or item or row or _HEADING.match(stripped) or _ends_row(blocks):
            blocks.append([])
        if item:
            blocks[-1].append(stripped[item.end() :])
        elif stripped and not _HEADING.match(stripped):
            blocks[-1].append(stripped)
    return [" ".join(lines) for lines in blocks if lines and not _looks_like_title(lines)]


def _ends_row(blocks: list[list[str]]) -> bool:
    return bool(blocks[-1]) and blocks[-1][-1].count(" | ") >= 2


def _looks_like_title(lines: list[str]) -> bool:
    """A short line in title case without a full stop: a heading the loader kept as text."""
    if len(lines) != 1 or lines[0].rstrip().endswith((".", "!", "?", ":", ";")):
        return False
    words = [w for w in lines[0].split() if w[:1].isalpha()]
    if not words or len(words) > 10:
        return False
    capitalised = sum(1 for w in words if w[0].isupper())
    return capitalised >= max(2, len(words) - 2)


def _idf(term_sets: Sequence[frozenset[str]]) -> dict[str, float]:
    df = Counter(term for terms in term_sets for term in terms)
    return {term: math.log(1 + len(term_sets) / count) for term, count in df.items()}


def _weight(terms: frozenset[str], idf: dict[str, float]) -> float:
    # Summed in sorted order: set order changes with the hash seed, float sums with order.
    return sum(idf[t] for t in sorted(terms))


def _centrality(i: int, sentences: Sequence[_Sentence], idf: dict[str, float]) -> float:
    """Weighted terms sentence i shares with every other, normalised for length (TextRank)."""
    mine = sentences[i].terms
    total = 0.0
    for j, other in enumerate(sentences):
        shared = mine & other.terms
        if j != i and shared:
            total += _weight(shared, idf) / (
                math.log(2 + len(mine)) + math.log(2 + len(other.terms))
            )
    return total

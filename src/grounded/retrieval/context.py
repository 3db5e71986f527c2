"""Context assembly: search results → numbered sources under a token budget.

1. Chunks of one document that overlap or touch (the chunker overlaps
   neighbours by design) merge into one source spanning them; a chunk inside
   another, or with the same text as one already taken, is a duplicate.
2. Sources keep the order of their best chunk's rank.
3. Sources are taken while they fit the budget; the first that does not fit is
   trimmed to its leading sentences when at least `MIN_TRIM_TOKENS` remain,
   and everything after is dropped. Nothing is ever sent over the budget.
4. Sources are numbered S1, S2, … in order; those ids are the citation markers.

Every chunk left out is recorded with why (`duplicate`, `budget`, or `guard`
when the retrieved-stage guards excluded it), so an answer can explain itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from grounded.domain import ContextSource, SearchResult
from grounded.ingest.chunking import sentence_spans
from grounded.ports import TokenCounter

MIN_TRIM_TOKENS = 48
DropReason = Literal["duplicate", "budget", "guard"]


@dataclass(frozen=True)
class DroppedChunk:
    chunk_id: str
    doc_id: str
    reason: DropReason


@dataclass(frozen=True)
class AssembledContext:
    sources: tuple[ContextSource, ...]
    dropped: tuple[DroppedChunk, ...]
    tokens: int
    budget: int
    trimmed: tuple[str, ...] = ()  # ids of sources cut to fit

    def by_id(self) -> dict[str, ContextSource]:
        return {s.id: s for s in self.sources}


def assemble(
    results: Sequence[SearchResult], budget: int, count_tokens: TokenCounter
) -> AssembledContext:
    merged, dropped = _merge(results)
    taken: list[ContextSource] = []
    trimmed: list[str] = []
    used = 0
    for i, source in enumerate(merged):
        cost = count_tokens(source.text)
        if used + cost <= budget:
            taken.append(source)
            used += cost
            continue
        cut = _trim(source, budget - used, count_tokens)
        if cut is not None:
            taken.append(cut)
            trimmed.append(cut.id)
            used += count_tokens(cut.text)
        for rest in merged[i + (cut is not None) :]:
            dropped += [DroppedChunk(c, rest.document.doc_id, "budget") for c in rest.chunk_ids]
        break
    numbered = [replace(s, id=f"S{n}") for n, s in enumerate(taken, start=1)]
    renamed = {old.id: new.id for old, new in zip(taken, numbered, strict=True)}
    return AssembledContext(
        tuple(numbered), tuple(dropped), used, budget, tuple(renamed[t] for t in trimmed)
    )


def _merge(results: Sequence[SearchResult]) -> tuple[list[ContextSource], list[DroppedChunk]]:
    sources: list[ContextSource] = []
    dropped: list[DroppedChunk] = []
    seen_text: set[str] = set()
    for r in results:
        chunk, doc = r.chunk, r.document
        key = " ".join(chunk.text.split()).casefold()
        if key in seen_text:
            dropped.append(DroppedChunk(chunk.chunk_id, doc.doc_id, "duplicate"))
            continue
        seen_text.add(key)
        for i, s in enumerate(sources):
            if s.document.key == doc.key and chunk.start <= s.end and chunk.end >= s.start:
                if s.start <= chunk.start and chunk.end <= s.end:
                    dropped.append(DroppedChunk(chunk.chunk_id, doc.doc_id, "duplicate"))
                else:
                    sources[i] = _join(s, r)
                break
        else:
            sources.append(
                ContextSource(
                    id=chunk.chunk_id,
                    document=doc,
                    chunk_ids=(chunk.chunk_id,),
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    heading_path=chunk.heading_path,
                    page=chunk.page,
                    score=r.score,
                )  # fmt: skip
            )
    return sources, dropped


def _join(source: ContextSource, r: SearchResult) -> ContextSource:
    """One span covering both; chunk text is the document text between its offsets."""
    c = r.chunk
    if c.start < source.start:
        text = c.text + source.text[c.end - source.start :]
        start, end = c.start, max(source.end, c.end)
    else:
        text = source.text + c.text[source.end - c.start :]
        start, end = source.start, max(source.end, c.end)
    heading = source.heading_path if source.start <= c.start else c.heading_path
    return replace(
        source, text=text, start=start, end=end, heading_path=heading,
        chunk_ids=(*source.chunk_ids, c.chunk_id), score=max(source.score, r.score),
    )  # fmt: skip


def _trim(source: ContextSource, room: int, count_tokens: TokenCounter) -> ContextSource | None:
    if room < MIN_TRIM_TOKENS:
        return None
    end = 0
    for _, stop in sentence_spans(source.text):
        if count_tokens(source.text[:stop]) > room:
            break
        end = stop
    if end == 0:
        return None
    return replace(source, text=source.text[:end], end=source.start + end)

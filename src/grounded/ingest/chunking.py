"""Structure-aware chunking: sections from headings, blocks packed under a token budget.

A chunk is always one contiguous, whitespace-stripped span of `ParsedDocument.text`,
so the stored chunk text can be located (and highlighted) in the source. The
algorithm, per section (the blocks between two headings):

1. Each block becomes one *piece* when it fits the budget; a bigger block is cut
   into sentences (prose) or lines (tables, code), and a sentence or line that
   is still too big into runs of words.
2. Pieces are packed greedily; when the next piece does not fit, the chunk is
   emitted and the next one starts with an overlap: the trailing sentences (or
   words, or table rows) of the previous chunk, within `overlap_tokens`.

Token counts are taken per piece and summed, never re-counted on growing strings,
because the real counter is the embedder's tokenizer and is not free to call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

from grounded.domain import Block, BlockKind, ChunkDraft, ParsedDocument
from grounded.errors import ConfigError
from grounded.ports import TokenCounter

MIN_MAX_TOKENS = 16

# Word-like runs (underscore excluded: BERT treats it as punctuation), single CJK
# ideographs (BERT splits them one per token), and single punctuation marks.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PIECE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|\S")
_WORD = re.compile(r"\S+")
_LINE = re.compile(r"[^\n]+")
# Terminal punctuation, optional closing quotes/brackets, then whitespace; whether
# the next character starts a sentence is decided in Python (str.isupper knows Unicode).
_SENTENCE_STOP = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=\S)")
_SENTENCE_OPENERS = frozenset("\"'“‘([")
_INITIALISM = re.compile(r"(?:[a-z]\.)+")  # "e.g.", "i.e.", "u.s.", "j."
# Words that end in "." without ending a sentence (compared lowercased).
_ABBREVIATION_WORDS = """
    al. approx. art. cf. ch. dept. dr. eq. fig. figs. jr. mr. mrs. ms. no. nos.
    p. pp. para. prof. ref. sec. sect. sr. st. vol. vols. vs.
"""
ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_LONGEST_ABBREVIATION = 12
_LINE_KINDS = frozenset({BlockKind.TABLE, BlockKind.CODE})

Span = tuple[int, int]


def _estimate_raw(text: str) -> float:
    pieces = _PIECE.findall(text)
    return len(pieces) + 0.3 * sum(len(p) > 6 for p in pieces)


def estimate_tokens(text: str) -> int:
    """Estimate the BERT WordPiece token count of `text` (no special tokens).

    An estimate, not a tokenizer: one token per word run, CJK ideograph or
    punctuation mark, plus 0.3 per word longer than six characters (long words
    are often split into sub-words). It over-counts slightly on plain English,
    which errs on the safe side of a budget. The ingest pipeline passes the
    embedder's real tokenizer instead; this default keeps the chunker usable alone.
    """
    return math.ceil(_estimate_raw(text))


def _strip(text: str, start: int, end: int) -> Span:
    segment = text[start:end]
    return start + len(segment) - len(segment.lstrip()), start + len(segment.rstrip())


def _is_abbreviation(text: str, lo: int, stop: int) -> bool:
    """Whether the word ending at `stop` (just after its period) is an abbreviation."""
    begin = stop
    while begin > lo and not text[begin - 1].isspace():
        begin -= 1
        if stop - begin > _LONGEST_ABBREVIATION:
            return False
    word = text[begin:stop].lstrip("\"'“‘([").lower()
    return word in ABBREVIATIONS or _INITIALISM.fullmatch(word) is not None


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Split `text[start:end]` into stripped sentence spans.

    A sentence ends at `.`, `!` or `?` (plus closing quotes or brackets) followed by
    whitespace and an uppercase letter, digit or opening quote, unless the word
    before a single `.` is a known abbreviation or an initialism ("Dr.", "e.g.").
    """
    end = len(text) if end is None else end
    spans: list[Span] = []
    cut = start
    for m in _SENTENCE_STOP.finditer(text, start, end):
        nxt = text[m.end()]
        if not (nxt.isupper() or nxt.isdigit() or nxt in _SENTENCE_OPENERS):
            continue
        stop = m.group().rstrip()
        if stop == "." and _is_abbreviation(text, cut, m.start() + 1):
            continue
        spans.append(_strip(text, cut, m.start() + len(stop)))
        cut = m.end()
    spans.append(_strip(text, cut, end))
    return [(s, e) for s, e in spans if s < e]


def _line_spans(text: str, start: int, end: int) -> list[Span]:
    spans = (_strip(text, m.start(), m.end()) for m in _LINE.finditer(text, start, end))
    return [(s, e) for s, e in spans if s < e]


class _Grain(IntEnum):
    """How finely a piece was cut; decides how its tail is taken for overlap."""

    BLOCK = 0
    SEGMENT = 1  # a sentence, a table row or a line of code
    WORDS = 2


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    tokens: int
    page: int | None
    kind: BlockKind
    grain: _Grain


class StructureChunker:
    """Chunks a `ParsedDocument` along its headings under a token budget.

    Every chunk lies inside one section and carries the heading path of that
    section; the first chunk of a section starts with the heading's own text.
    Sections with a heading but no content produce no chunk.
    """

    def __init__(
        self,
        max_tokens: int = 256,
        overlap_tokens: int = 32,
        count_tokens: TokenCounter | None = None,
    ) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise ConfigError(f"max_tokens={max_tokens!r} must be an integer ≥ {MIN_MAX_TOKENS}")
        if max_tokens < MIN_MAX_TOKENS:
            raise ConfigError(
                f"max_tokens={max_tokens} is too small; use an integer ≥ {MIN_MAX_TOKENS}"
            )
        valid_overlap = isinstance(overlap_tokens, int) and not isinstance(overlap_tokens, bool)
        if not valid_overlap or not 0 <= overlap_tokens < max_tokens / 2:
            raise ConfigError(
                f"overlap_tokens={overlap_tokens!r} is out of range; use an integer with "
                f"0 ≤ overlap_tokens < max_tokens/2 (= {max_tokens / 2:g} for "
                f"max_tokens={max_tokens})"
            )
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.count_tokens: TokenCounter = count_tokens or estimate_tokens

    def chunk(self, doc: ParsedDocument) -> list[ChunkDraft]:
        return _DocumentChunker(doc.text, self).run(doc.blocks)


def _clean_blocks(text: str, blocks: Sequence[Block]) -> list[Block]:
    """Blocks in text order, clipped to the text, stripped, non-empty, non-overlapping.

    Loaders should produce this already; cleaning here keeps chunk spans valid
    and sorted even when one does not.
    """
    out: list[Block] = []
    floor = 0
    for b in sorted(blocks, key=lambda b: (b.start, b.end)):
        start, end = _strip(text, max(b.start, floor, 0), min(b.end, len(text)))
        if start >= end:
            continue
        out.append(Block(b.kind, start, end, b.level, b.page))
        floor = end
    return out


class _DocumentChunker:
    """The state of chunking one document: its text and a memo of token counts."""

    def __init__(self, text: str, config: StructureChunker) -> None:
        self.text = text
        self.max = config.max_tokens
        self.overlap = config.overlap_tokens
        self._counter = config.count_tokens
        self._counts: dict[Span, int] = {}

    def run(self, blocks: Sequence[Block]) -> list[ChunkDraft]:
        drafts: list[ChunkDraft] = []
        for path, heading, body in self._sections(_clean_blocks(self.text, blocks)):
            drafts.extend(self._pack(self._section_pieces(heading, body), path))
        return drafts

    def _count(self, start: int, end: int) -> int:
        # Overlap and splitting may look at the same span twice; count it once.
        key = (start, end)
        if key not in self._counts:
            self._counts[key] = self._counter(self.text[start:end])
        return self._counts[key]

    def _sections(
        self, blocks: list[Block]
    ) -> Iterator[tuple[tuple[str, ...], Block | None, list[Block]]]:
        stack: list[tuple[int, str]] = []
        heading: Block | None = None
        body: list[Block] = []
        for b in blocks:
            if b.kind is not BlockKind.HEADING:
                body.append(b)
                continue
            if body:
                yield tuple(t for _, t in stack), heading, body
            heading, body = b, []
            level = max(b.level, 1)
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, self.text[b.start : b.end]))
        if body:
            yield tuple(t for _, t in stack), heading, body

    def _section_pieces(self, heading: Block | None, body: list[Block]) -> list[_Piece]:
        pieces: list[_Piece] = []
        first_limit = self.max
        if heading is not None:
            pieces = self._block_pieces(heading, self.max)
            heading_tokens = sum(p.tokens for p in pieces)
            # Cut the first block finer when that lets it share a chunk with the
            # heading: a chunk holding only a heading is useless for retrieval.
            if heading_tokens <= self.max // 2:
                first_limit = self.max - heading_tokens
        for i, b in enumerate(body):
            pieces.extend(self._block_pieces(b, first_limit if i == 0 else self.max))
        return pieces

    def _segments(self, kind: BlockKind, start: int, end: int) -> list[Span]:
        if kind in _LINE_KINDS:
            return _line_spans(self.text, start, end)
        return sentence_spans(self.text, start, end)

    def _block_pieces(self, b: Block, limit: int) -> list[_Piece]:
        tokens = self._count(b.start, b.end)
        if tokens <= limit:
            return [_Piece(b.start, b.end, tokens, b.page, b.kind, _Grain.BLOCK)]
        pieces: list[_Piece] = []
        for s, e in self._segments(b.kind, b.start, b.end):
            n = self._count(s, e)
            if n <= limit:
                pieces.append(_Piece(s, e, n, b.page, b.kind, _Grain.SEGMENT))
            else:
                # Runs of words leave room for the overlap that will precede them.
                seg = _Piece(s, e, n, b.page, b.kind, _Grain.SEGMENT)
                pieces.extend(self._word_pieces(seg, max(1, limit - self.overlap)))
        return pieces

    def _word_pieces(self, seg: _Piece, limit: int) -> list[_Piece]:
        words = [m.span() for m in _WORD.finditer(self.text, seg.start, seg.end)]
        scale = self._scale(seg)
        pieces: list[_Piece] = []
        i = 0
        while i < len(words):
            n, tokens = self._fit_words(words, i, len(words), limit, scale, from_end=False)
            start, end = words[i][0], words[i + n - 1][1]
            pieces.append(_Piece(start, end, tokens, seg.page, seg.kind, _Grain.WORDS))
            i += n
        return pieces

    def _scale(self, piece: _Piece) -> float:
        """Real tokens per estimated token for this piece, to size word runs."""
        raw = _estimate_raw(self.text[piece.start : piece.end])
        return piece.tokens / raw if raw > 0 else 1.0

    def _fit_words(
        self, words: list[Span], lo: int, hi: int, budget: int, scale: float, *, from_end: bool
    ) -> tuple[int, int]:
        """How many words from one end of `words[lo:hi]` fit `budget`, and their count.

        The estimator (scaled to the real counter) proposes a run; the real counter
        checks it, and the run shrinks until it fits. Returns at least one word,
        which may exceed the budget on its own.
        """
        order = range(hi - 1, lo - 1, -1) if from_end else range(lo, hi)
        estimate, n = 0.0, 0
        for k in order:
            estimate += _estimate_raw(self.text[words[k][0] : words[k][1]]) * scale
            if estimate > budget:
                break
            n += 1
        n = max(n, 1)
        while True:
            first, last = (hi - n, hi - 1) if from_end else (lo, lo + n - 1)
            tokens = self._count(words[first][0], words[last][1])
            if tokens <= budget or n == 1:
                return n, tokens
            n = max(1, min(n - 1, n * budget // tokens))

    def _pack(self, pieces: list[_Piece], path: tuple[str, ...]) -> list[ChunkDraft]:
        drafts: list[ChunkDraft] = []
        current: list[_Piece] = []
        total = 0
        for piece in pieces:
            if current and total + piece.tokens > self.max:
                drafts.append(self._draft(current, total, path))
                current = self._overlap(current, min(self.overlap, self.max - piece.tokens))
                total = sum(p.tokens for p in current)
            current.append(piece)
            total += piece.tokens
        if current:
            drafts.append(self._draft(current, total, path))
        return drafts

    @staticmethod
    def _draft(pieces: list[_Piece], tokens: int, path: tuple[str, ...]) -> ChunkDraft:
        first = pieces[0]
        return ChunkDraft(first.start, pieces[-1].end, path, first.page, tokens)

    def _overlap(self, pieces: list[_Piece], budget: int) -> list[_Piece]:
        """The trailing pieces of a chunk, cut at sentence, row or word boundaries."""
        taken: list[_Piece] = []
        for piece in reversed(pieces):
            if budget <= 0 or piece.kind is BlockKind.HEADING:
                break
            if piece.tokens <= budget:
                taken.append(piece)
                budget -= piece.tokens
                continue
            taken.extend(reversed(self._tail(piece, budget, words_ok=not taken)))
            break
        taken.reverse()
        return taken

    def _tail(self, piece: _Piece, budget: int, *, words_ok: bool) -> list[_Piece]:
        """Trailing whole segments of `piece` within `budget`, else trailing words."""
        words_ok = words_ok and piece.kind not in _LINE_KINDS  # never a partial row
        if piece.grain is not _Grain.BLOCK:
            return self._word_tail(piece, budget) if words_ok else []
        tail: list[_Piece] = []
        for s, e in reversed(self._segments(piece.kind, piece.start, piece.end)):
            n = self._count(s, e)
            if n > budget:
                if not tail and words_ok:
                    seg = _Piece(s, e, n, piece.page, piece.kind, _Grain.SEGMENT)
                    return self._word_tail(seg, budget)
                break
            tail.append(_Piece(s, e, n, piece.page, piece.kind, _Grain.SEGMENT))
            budget -= n
        tail.reverse()
        return tail

    def _word_tail(self, piece: _Piece, budget: int) -> list[_Piece]:
        words = [m.span() for m in _WORD.finditer(self.text, piece.start, piece.end)]
        n, tokens = self._fit_words(words, 0, len(words), budget, self._scale(piece), from_end=True)
        if tokens > budget:
            return []
        start, end = words[-n][0], words[-1][1]
        return [_Piece(start, end, tokens, piece.page, piece.kind, _Grain.WORDS)]

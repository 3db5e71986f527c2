"""PDF via pypdf: text per page, every block tagged with its 1-based page number.

PDF text has no paragraphs, only positioned lines, so structure here is
recovered by conservative heuristics: blank lines and short lines ending a
sentence close a paragraph, hyphenated line breaks are joined, running
headers/footers are dropped, and a short title-like line opening a paragraph
becomes a heading. Where the PDF has an outline (bookmarks), a line matching a
bookmark destined for its page is a heading of the bookmark's depth, even one
the heuristics miss (see `pdf_outline`). Layout-mode extraction would give
paragraph gaps but interleaves the lines of multi-column pages, which is worse
for retrieval.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field

from pypdf import PasswordType, PdfReader

from grounded.domain import BlockKind, ParsedDocument
from grounded.errors import LoaderError
from grounded.ingest.loaders.pdf_outline import MarkedPage, mark_headings, outline_titles
from grounded.ingest.normalise import TextBuilder, normalise_inline

# pypdf logs a warning for every defect it recovers from, often hundreds for
# one odd file. Files it cannot recover from surface once, as a LoaderError.
# Only quieten it when the application has not configured the logger itself.
_PYPDF_LOG = logging.getLogger("pypdf")
if _PYPDF_LOG.level == logging.NOTSET:
    _PYPDF_LOG.setLevel(logging.ERROR)

_HYPHEN_BREAK = re.compile(r"([^\W\d_])[-\u00ad]\n([^\W\d_])")
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,4})\.?\s+\S")
_SENTENCE_END = re.compile(r"[.!?:][\"'”’)\]]?$")
_NOT_HEADING_END = re.compile(r"[.,;:!?\-–]$")
_LEADER_DOTS = re.compile(r"\.{4,}|…|(?:\. ){3,}")
_DIGITS = re.compile(r"\d+")
_JUNK_TITLE = re.compile(
    r"^(?:untitled|microsoft \w+ - .*|.*\.(?:docx?|pptx?|xlsx?|pdf|txt))$", re.I
)
_SMALL_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "vs",
        "via",
    }
)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def open_pdf(data: bytes, source: str) -> PdfReader:
    """Open and, when encrypted with an empty user password, decrypt a PDF."""
    if b"%PDF-" not in data[:1024]:
        raise LoaderError(source, "not a valid PDF: no %PDF- header (another format renamed .pdf?)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError...)
        raise LoaderError(source, f"not a valid PDF: {_reason(exc)}") from exc
    if encrypted:
        # Many PDFs are encrypted only to restrict printing or copying; they
        # open with an empty password, as they do in any viewer.
        try:
            result = reader.decrypt("")
        except Exception as exc:  # e.g. AES without the `cryptography` package
            raise LoaderError(source, f"encrypted PDF: cannot decrypt: {_reason(exc)}") from exc
        if result == PasswordType.NOT_DECRYPTED:
            raise LoaderError(
                source, "encrypted PDF: a password is required; ingest an unencrypted copy"
            )
    return reader


def page_texts(reader: PdfReader, source: str) -> list[str]:
    texts: list[str] = []
    try:
        for page in reader.pages:
            texts.append(page.extract_text())
    except Exception as exc:
        where = f"page {len(texts) + 1}: "
        raise LoaderError(source, f"not a valid PDF: {where}{_reason(exc)}") from exc
    return texts


def _edge_key(line: str) -> str:
    return _DIGITS.sub("#", line)


def strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop headers and footers: first or last lines repeated on most pages.

    Digits are masked so "Page 3 of 10" matches "Page 4 of 10".
    """
    if len(pages) < 3:
        return pages
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_edge_key(line) for line in lines[:1] + lines[-1:]})
    running = {key for key, n in counts.items() if n >= max(3, len(pages) // 2 + 1)}
    out: list[list[str]] = []
    for lines in pages:
        start = 1 if lines and _edge_key(lines[0]) in running else 0
        end = len(lines) - 1 if len(lines) > start and _edge_key(lines[-1]) in running else None
        out.append(lines[start:end])
    return out


def page_lines(text: str) -> list[str]:
    """A page's lines with whitespace collapsed; "" marks a blank line, never at either end."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(raw.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _typical_width(lines: list[str]) -> int:
    lengths = sorted(len(line) for line in lines if line)
    return lengths[int(len(lengths) * 0.9)] if len(lengths) >= 3 else 0


def heading_level(line: str, width: int) -> int | None:
    """The level of a line that looks like a heading, else None. Errs towards None."""
    words = line.split()
    too_long = len(line) > 80 or len(words) > 12 or (width >= 40 and len(line) > 0.75 * width)
    if len(line) < 3 or too_long or _NOT_HEADING_END.search(line) or _LEADER_DOTS.search(line):
        return None
    numbered = _NUMBERED.match(line)
    if numbered:
        rest = line[numbered.end() - 1 :]
        return numbered.group(1).count(".") + 1 if rest[:1].isupper() else None
    lettered = [w for w in words if any(c.isalpha() for c in w)]
    title_case = all(w[:1].isupper() for w in lettered if w.lower() not in _SMALL_WORDS)
    return 2 if lettered and words[0][:1].isupper() and title_case else None


@dataclass
class _PageParser:
    """Turns one page's lines into (kind, text, level) blocks.

    `headings` are the lines the outline names as headings (line index ->
    level); `printed` the printed length of a line cut after such a heading.
    """

    lines: list[str]
    width: int
    headings: dict[int, int] = field(default_factory=dict)
    printed: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.blocks: list[tuple[BlockKind, str, int]] = []
        self.paragraph: list[str] = []

    def end_paragraph(self) -> None:
        if self.paragraph:
            text = _HYPHEN_BREAK.sub(_join_hyphenated, "\n".join(self.paragraph))
            self.blocks.append((BlockKind.PARAGRAPH, text, 0))
        self.paragraph = []

    def is_heading(self, i: int) -> int | None:
        following = next((line for line in self.lines[i + 1 :] if line), "")
        if self.paragraph or not following:
            return None
        previous = self.lines[i - 1] if i else ""  # title-like only if an outline heading
        if any(heading_level(line, self.width) is not None for line in (previous, following)):
            return None  # a run of short title-like lines is a list or a TOC, not headings
        return heading_level(self.lines[i], self.width)

    def parse(self) -> list[tuple[BlockKind, str, int]]:
        for i, line in enumerate(self.lines):
            if not line:
                self.end_paragraph()
                continue
            level = self.headings.get(i)
            if level is None and i not in self.printed:
                level = self.is_heading(i)
            if level is not None:
                self.end_paragraph()  # an outline heading may follow a line without a break
                self.blocks.append((BlockKind.HEADING, line, level))
                continue
            self.paragraph.append(line)
            length = self.printed.get(i, len(line))
            short = self.width >= 40 and length < 0.8 * self.width
            if short and _SENTENCE_END.search(line):
                self.end_paragraph()
        self.end_paragraph()
        return self.blocks


def _parse_page(lines: list[str], marked: MarkedPage) -> list[tuple[BlockKind, str, int]]:
    # The line width is measured on the page as printed, before headings were cut off.
    width = _typical_width(lines)
    return _PageParser(marked.lines, width, marked.headings, marked.printed).parse()


def _join_hyphenated(match: re.Match[str]) -> str:
    # "exam-\nple" is one word; "Anglo-\nSaxon" keeps its hyphen.
    head, tail = match.group(1), match.group(2)
    return head + tail if tail.islower() else match.group(0).replace("\n", "")


def _document_title(reader: PdfReader) -> str:
    try:
        meta = reader.metadata
        title = normalise_inline(str(meta.title or "")) if meta is not None else ""
    except Exception:  # a broken info dictionary is no reason to reject the text
        return ""
    return "" if _JUNK_TITLE.match(title) else title


def _metadata(reader: PdfReader, pages: int) -> dict[str, str | int]:
    out: dict[str, str | int] = {"pages": pages}
    try:
        meta = reader.metadata
        fields = {"author": meta.author, "subject": meta.subject} if meta is not None else {}
    except Exception:
        return out
    out.update({k: normalise_inline(str(v)) for k, v in fields.items() if v and str(v).strip()})
    return out


class PdfLoader:
    """`.pdf` files with a text layer. Scanned PDFs need OCR first, which we do not do."""

    name: str = "pdf"
    suffixes: tuple[str, ...] = (".pdf",)

    def load(self, data: bytes, *, source: str) -> ParsedDocument:
        reader = open_pdf(data, source)
        texts = page_texts(reader, source)
        pages = strip_running_lines([page_lines(t) for t in texts])
        titles = outline_titles(reader)
        builder = TextBuilder()
        for number, lines in enumerate(pages, start=1):
            marked = mark_headings(lines, titles.get(number, ()))
            for kind, block_text, level in _parse_page(lines, marked):
                builder.add(kind, block_text, level=level, page=number)
        if not builder:
            raise LoaderError(source, "no extractable text (scanned? OCR is not supported)")
        first_line = next((line for lines in pages for line in lines if line), "")[:200]
        title = _document_title(reader) or first_line
        return builder.build(title, _metadata(reader, len(texts)))

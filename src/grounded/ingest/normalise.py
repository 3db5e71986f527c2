"""Text normalisation shared by every loader, and the builder that tracks block offsets.

Every loader funnels its text through `TextBuilder.add`, so all formats agree on
what "the same text" looks like: the keyword index, the embedder and citation
offsets all see one normal form.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Mapping
from typing import Any

from grounded.domain import Block, BlockKind, ParsedDocument

BLOCK_SEPARATOR = "\n\n"

# Line and paragraph separators of other platforms and of Unicode become "\n"
# before anything else, so that "one line per row" means the same everywhere.
_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0/C1 controls (tab and newline are whitespace, handled below) and invisible
# characters that split words for the keyword index: soft hyphen, zero-width
# space, word joiner, byte-order mark.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
# NFC leaves typographic ligatures alone, but PDFs are full of them and
# "ﬁnance" would never match a query for "finance".
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}
)
_LINE_KINDS = frozenset({BlockKind.TABLE, BlockKind.CODE})


def _clean(s: str) -> str:
    # NFC last: removing a zero-width character or expanding a ligature can
    # bring a base letter and a combining mark together, which NFC then composes.
    s = _INVISIBLE.sub("", _NEWLINES.sub("\n", s)).translate(_LIGATURES)
    return unicodedata.normalize("NFC", s)


def _clean_lines(s: str) -> list[str]:
    lines = (_SPACES.sub(" ", line).strip() for line in _clean(s).split("\n"))
    return [line for line in lines if line]


def _code_lines(s: str) -> list[str]:
    """Code keeps its indentation (it carries meaning in YAML or Python); blank lines go."""
    lines = [line.rstrip() for line in textwrap.dedent(_clean(s).expandtabs(4)).split("\n")]
    lines = [line for line in lines if line.strip()]
    if lines:
        lines[0] = lines[0].lstrip()  # a block's span never starts with whitespace
    return lines


def normalise_inline(s: str) -> str:
    """Normalise text to a single line: NFC, no controls, single spaces, trimmed."""
    return " ".join(_clean_lines(s))


def normalise_block(kind: BlockKind, s: str) -> str:
    """Normalise a block's text; tables and code keep one line per row or line."""
    if kind == BlockKind.CODE:
        return "\n".join(_code_lines(s))
    lines = _clean_lines(s)
    return "\n".join(lines) if kind in _LINE_KINDS else " ".join(lines)


class TextBuilder:
    """Accumulates blocks into one document text, recording each block's offsets.

    Blocks are separated by a blank line, so the text reads naturally and a
    block's span never includes separator whitespace.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._blocks: list[Block] = []
        self._length = 0

    def add(
        self, kind: BlockKind, text: str, *, level: int = 0, page: int | None = None
    ) -> Block | None:
        """Append a block; returns it, or None when it is empty after normalisation."""
        normalised = normalise_block(kind, text)
        if not normalised:
            return None
        if self._parts:
            self._parts.append(BLOCK_SEPARATOR)
            self._length += len(BLOCK_SEPARATOR)
        start = self._length
        self._parts.append(normalised)
        self._length += len(normalised)
        # Only headings have a level (domain contract); clamp so a bad source
        # cannot produce level 0 headings that vanish from heading paths.
        level = min(max(level, 1), 6) if kind is BlockKind.HEADING else 0
        block = Block(kind=kind, start=start, end=self._length, level=level, page=page)
        self._blocks.append(block)
        return block

    def __len__(self) -> int:
        return len(self._blocks)

    @property
    def blocks(self) -> tuple[Block, ...]:
        return tuple(self._blocks)

    def text(self) -> str:
        return "".join(self._parts)

    def build(
        self, title: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> ParsedDocument:
        clean_title = normalise_inline(title) if title else ""
        return ParsedDocument(
            text=self.text(),
            blocks=self.blocks,
            title=clean_title or None,
            metadata=dict(metadata or {}),
        )

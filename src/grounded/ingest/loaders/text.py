"""Plain text: paragraphs separated by blank lines."""

from __future__ import annotations

import codecs
import re

from grounded.domain import BlockKind, ParsedDocument
from grounded.errors import LoaderError
from grounded.ingest.normalise import TextBuilder

_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decode_text(data: bytes, *, source: str, kind: str = "text") -> str:
    """Decode bytes of a text format: UTF-8 (BOM or not), else cp1252, else latin-1.

    UTF-16 is accepted only with a byte-order mark; any other NUL byte means
    the file is binary, and indexing its bytes as text would fill the index
    with garbage that matches nothing a person types.
    """
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoaderError(source, f"invalid UTF-16 {kind}: {exc.reason}") from exc
    if b"\x00" in data:
        raise LoaderError(source, f"looks like a binary file, not {kind}")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # total: every byte maps to a character


def split_paragraphs(text: str) -> list[str]:
    """Split on blank lines (lines holding only whitespace count as blank)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p for p in _BLANK_LINES.split(text) if p.strip()]


class TextLoader:
    """`.txt` files. No title: the pipeline falls back to the file name."""

    name: str = "text"
    suffixes: tuple[str, ...] = (".txt", ".text")

    def load(self, data: bytes, *, source: str) -> ParsedDocument:
        builder = TextBuilder()
        for paragraph in split_paragraphs(decode_text(data, source=source)):
            builder.add(BlockKind.PARAGRAPH, paragraph)
        if not builder:
            raise LoaderError(source, "empty document: no text to index")
        return builder.build()

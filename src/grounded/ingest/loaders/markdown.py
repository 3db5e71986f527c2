"""Markdown (CommonMark with GFM tables), parsed line by line into blocks.

A full Markdown AST is more than retrieval needs: we want headings (for heading
paths), paragraphs, list items, code and tables, with inline markup stripped so
that `**refund**` and `[policy](https://...)` index as the words a person types.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from grounded.domain import BlockKind, ParsedDocument
from grounded.errors import LoaderError
from grounded.ingest.loaders.text import decode_text
from grounded.ingest.normalise import TextBuilder, normalise_inline

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|(\d{1,9})[.)])(?:[ \t]+(.*))?$")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S")
_INDENTED = re.compile(r"^(?: {4}|\t)")

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_IMAGE = re.compile(r"!\[[^\]]*\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^()]*\))*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^\s<>]+)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)([^*_]+?)(?<=\S)\1(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.DOTALL)
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _strip_markup(text: str) -> str:
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _REFERENCE_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)  # " " so that "a<br>b" stays two words
    text = _STRONG.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    return _ESCAPE.sub(r"\1", text)


def strip_inline(text: str) -> str:
    """Remove inline Markdown markup, keeping the words; code spans are kept verbatim."""
    parts: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(_strip_markup(text[last : match.start()]))
        parts.append(match.group(2).strip())
        last = match.end()
    parts.append(_strip_markup(text[last:]))
    return "".join(parts)


def _json_safe(value: Any) -> Any:
    """YAML gives dates and odd keys; metadata is stored as JSON, so make it JSON-shaped."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in cast(dict[object, object], value).items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in cast("list[object]", value)]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Split a leading `---` YAML block off the text; an unclosed block is not front matter."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, text
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        return {}, text
    try:
        values = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise LoaderError(source, f"malformed YAML front matter: {_yaml_problem(exc)}") from exc
    if values is None:
        values = {}
    if not isinstance(values, dict):
        kind = type(values).__name__  # pyright: ignore[reportUnknownArgumentType]
        raise LoaderError(source, f"front matter must be a YAML mapping (key: value), not {kind}")
    # Blank lines keep body line numbers equal to the file's, which helps people debugging.
    return _json_safe(values), "\n" * (end + 1) + "\n".join(lines[end + 1 :])


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" at line {mark.line + 2}, column {mark.column + 1}" if mark else ""
        return f"{exc.problem}{where}"
    return str(exc).replace("\n", " ")


@dataclass
class _Parser:
    """Line-oriented block parser; `pending` is the paragraph or list item being read."""

    lines: list[str]
    builder: TextBuilder = field(default_factory=TextBuilder)
    title: str | None = None
    pending: list[str] = field(default_factory=list[str])
    pending_kind: BlockKind = BlockKind.PARAGRAPH
    after_blank: bool = False
    in_quote: bool = False

    def flush(self) -> None:
        if self.pending:
            self.builder.add(self.pending_kind, strip_inline("\n".join(self.pending)))
        self.pending = []
        self.pending_kind = BlockKind.PARAGRAPH
        self.in_quote = False

    def start(self, kind: BlockKind, line: str) -> None:
        self.flush()
        self.pending = [line]
        self.pending_kind = kind

    def heading(self, level: int, text: str) -> None:
        self.flush()
        clean = strip_inline(text)
        if self.builder.add(BlockKind.HEADING, clean, level=level) and level == 1:
            self.title = self.title or normalise_inline(clean)

    def run(self) -> None:
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            step = next(n for h in _HANDLERS if (n := h(self, i, line)) is not None)
            self.after_blank = not line.strip()
            i += step
        self.flush()


def _blank(p: _Parser, i: int, line: str) -> int | None:
    if line.strip():
        return None
    # A list item survives one blank line: an indented line after it continues the item.
    if p.pending_kind is not BlockKind.LIST_ITEM:
        p.flush()
    return 1


def _fence(p: _Parser, i: int, line: str) -> int | None:
    match = _FENCE.match(line)
    if not match:
        return None
    p.flush()
    marker = match.group(1)
    closing = re.compile(rf"^\s*{re.escape(marker[0])}{{{len(marker)},}}\s*$")
    end = i + 1
    while end < len(p.lines) and not closing.match(p.lines[end]):
        end += 1
    p.builder.add(BlockKind.CODE, "\n".join(p.lines[i + 1 : end]))
    return end + 1 - i  # an unclosed fence runs to the end of the document


def _html_comment(p: _Parser, i: int, line: str) -> int | None:
    if not line.lstrip().startswith("<!--"):
        return None
    p.flush()
    end = i
    while end < len(p.lines) and "-->" not in p.lines[end]:
        end += 1
    return end + 1 - i


def _atx_heading(p: _Parser, i: int, line: str) -> int | None:
    match = _ATX.match(line)
    if not match:
        return None
    p.heading(len(match.group(1)), match.group(2) or "")
    return 1


def _setext_heading(p: _Parser, i: int, line: str) -> int | None:
    match = _SETEXT.match(line)
    if not (match and p.pending and p.pending_kind is BlockKind.PARAGRAPH and not p.in_quote):
        return None
    text = "\n".join(p.pending)
    p.pending = []
    p.heading(1 if match.group(1).startswith("=") else 2, text)
    return 1


def _thematic_break(p: _Parser, i: int, line: str) -> int | None:
    if not _THEMATIC.match(line):
        return None
    p.flush()
    return 1


def _table_cells(row: str) -> list[str]:
    row = row.strip().removeprefix("|")
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells = re.split(r"(?<!\\)\|", row)
    return [normalise_inline(strip_inline(c.replace("\\|", "|"))) for c in cells]


def _table(p: _Parser, i: int, line: str) -> int | None:
    following = p.lines[i + 1] if i + 1 < len(p.lines) else ""
    # GFM: a header row, then a delimiter row; both need a pipe, or "a | b" over
    # "---" would be a table instead of a setext heading.
    if "|" not in line or "|" not in following or not _TABLE_SEPARATOR.match(following):
        return None
    p.flush()
    rows = [line]
    end = i + 2
    while end < len(p.lines) and "|" in p.lines[end] and p.lines[end].strip():
        rows.append(p.lines[end])
        end += 1
    p.builder.add(BlockKind.TABLE, "\n".join(" | ".join(_table_cells(r)) for r in rows))
    return end - i


def _list_item(p: _Parser, i: int, line: str) -> int | None:
    match = _LIST_ITEM.match(line)
    if not match:
        return None
    interrupts = p.pending and p.pending_kind is BlockKind.PARAGRAPH and not p.after_blank
    # CommonMark: only a non-empty item, and for ordered lists only "1.", may
    # interrupt a paragraph; otherwise "2019. A good year" would become a list.
    if interrupts and (not match.group(2) or match.group(1) not in (None, "1")):
        return None
    p.start(BlockKind.LIST_ITEM, match.group(2) or "")
    return 1


def _quote(p: _Parser, i: int, line: str) -> int | None:
    if not _QUOTE.match(line):
        return None
    content = line
    while _QUOTE.match(content):
        content = _QUOTE.sub("", content, count=1)
    if not content.strip():
        p.flush()
    elif p.pending and p.in_quote:
        p.pending.append(content)
    else:
        p.start(BlockKind.PARAGRAPH, content)
        p.in_quote = True
    return 1


def _indented_code(p: _Parser, i: int, line: str) -> int | None:
    if p.pending or not _INDENTED.match(line):
        return None
    end = i
    while end < len(p.lines) and (_INDENTED.match(p.lines[end]) or not p.lines[end].strip()):
        end += 1
    p.builder.add(BlockKind.CODE, "\n".join(p.lines[i:end]))
    return end - i


def _text_line(p: _Parser, i: int, line: str) -> int | None:
    if _REFERENCE_DEFINITION.match(line) and not p.pending:
        return 1
    list_continues = p.pending_kind is BlockKind.LIST_ITEM and (
        not p.after_blank or line.startswith(("  ", "\t"))
    )
    if p.pending and (p.pending_kind is BlockKind.PARAGRAPH or list_continues):
        p.pending.append(line)  # a continuation line, or a lazy one
    else:
        p.start(BlockKind.PARAGRAPH, line)
    return 1


# Order matters: it is the precedence CommonMark gives these constructs.
_HANDLERS: tuple[Callable[[_Parser, int, str], int | None], ...] = (
    _blank,
    _fence,
    _html_comment,
    _atx_heading,
    _setext_heading,
    _thematic_break,
    _table,
    _list_item,
    _quote,
    _indented_code,
    _text_line,
)


class MarkdownLoader:
    """`.md` files: YAML front matter becomes metadata; a front matter `title` wins."""

    name: str = "markdown"
    suffixes: tuple[str, ...] = (".md", ".markdown")

    def load(self, data: bytes, *, source: str) -> ParsedDocument:
        text = decode_text(data, source=source, kind="Markdown")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        metadata, body = split_front_matter(text, source)
        parser = _Parser(body.split("\n"))
        parser.run()
        if not parser.builder:
            raise LoaderError(source, "empty document: no text to index")
        front_title = metadata.get("title")
        has_title = isinstance(front_title, str | int | float) and str(front_title).strip()
        title = str(front_title) if has_title else parser.title
        return parser.builder.build(title, metadata)

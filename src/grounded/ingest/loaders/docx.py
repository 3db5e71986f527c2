"""Word (.docx) via python-docx: body paragraphs and tables in document order.

Headers, footers, footnotes and comments are left out: they repeat on every
page or sit outside the running text, and would pollute chunks.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import cast

import docx
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.oxml.table import CT_Tbl
from docx.oxml.text.paragraph import CT_P
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.styles.style import BaseStyle, CharacterStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from grounded.domain import BlockKind, ParsedDocument
from grounded.errors import LoaderError
from grounded.ingest.normalise import TextBuilder, normalise_inline

_HEADING_STYLE = re.compile(r"^heading ([1-9])$", re.IGNORECASE)
_ZIP_MAGIC = b"PK\x03\x04"
# A .docx is a ZIP; refuse archives that would inflate past this before
# python-docx reads every part into memory (a "zip bomb").
_MAX_UNCOMPRESSED = 512 * 1024 * 1024
_P, _TBL, _SDT, _SDT_CONTENT = qn("w:p"), qn("w:tbl"), qn("w:sdt"), qn("w:sdtContent")


def _check_package(data: bytes, source: str) -> None:
    if not data.startswith(_ZIP_MAGIC):
        raise LoaderError(
            source,
            "not a valid DOCX file: not a ZIP package (legacy .doc files are not supported;"
            " save as .docx)",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LoaderError(source, f"not a valid DOCX file: {exc}") from exc
    if size > _MAX_UNCOMPRESSED:
        raise LoaderError(source, f"DOCX inflates to {size / 1e6:.0f} MB; refusing to open it")


def open_docx(data: bytes, source: str) -> DocxDocument:
    _check_package(data, source)
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # KeyError, ValueError, XMLSyntaxError, PackageNotFoundError...
        raise LoaderError(source, f"not a valid DOCX file: {exc}") from exc


def _style_names(paragraph: Paragraph) -> Iterator[str]:
    """The paragraph's style name, then those it is based on (custom heading styles)."""
    style: BaseStyle | None = paragraph.style
    for _ in range(10):  # based-on chains are short; the bound guards against cycles
        if style is None:
            return
        yield style.name or ""
        style = style.base_style if isinstance(style, CharacterStyle) else None


def _heading_level(paragraph: Paragraph) -> int | None:
    for name in _style_names(paragraph):
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
    return None


def _is_list_item(paragraph: Paragraph) -> bool:
    names = list(_style_names(paragraph))
    if names and names[0].lower().startswith("list"):
        return True
    properties = paragraph._p.pPr  # pyright: ignore[reportPrivateUsage]
    return properties is not None and properties.numPr is not None


def _row_text(row_cells: Iterator[tuple[object, str]]) -> str:
    """Cells joined with " | "; a merged cell, repeated once per grid column, counts once."""
    texts: list[str] = []
    previous: object = None
    for identity, text in row_cells:
        if identity is not previous:
            texts.append(normalise_inline(text))
        previous = identity
    return " | ".join(texts) if any(texts) else ""


def table_text(table: Table) -> str:
    rows = (
        _row_text((cell._tc, cell.text) for cell in row.cells)  # pyright: ignore[reportPrivateUsage]
        for row in table.rows
    )
    return "\n".join(row for row in rows if row)


def _body_items(element: BaseOxmlElement, document: DocxDocument) -> Iterator[Paragraph | Table]:
    """Paragraphs and tables in order, including those inside content controls (w:sdt)."""
    for child in element.iterchildren():
        if child.tag == _P:
            yield Paragraph(cast(CT_P, child), document)
        elif child.tag == _TBL:
            yield Table(cast(CT_Tbl, child), document)
        elif child.tag == _SDT:
            content = child.find(_SDT_CONTENT)
            if content is not None:
                yield from _body_items(cast(BaseOxmlElement, content), document)


class _DocxReader:
    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.title_paragraph: str | None = None
        self.first_heading: str | None = None

    def paragraph(self, paragraph: Paragraph) -> None:
        text = paragraph.text
        names = list(_style_names(paragraph))
        if names and names[0].lower() == "title":
            self.title_paragraph = self.title_paragraph or normalise_inline(text)
            self.builder.add(BlockKind.HEADING, text, level=1)
            return
        level = _heading_level(paragraph)
        if level is not None:
            if self.builder.add(BlockKind.HEADING, text, level=level):
                self.first_heading = self.first_heading or normalise_inline(text)
        elif _is_list_item(paragraph):
            self.builder.add(BlockKind.LIST_ITEM, text)
        else:
            self.builder.add(BlockKind.PARAGRAPH, text)

    def read(self, document: DocxDocument, source: str) -> None:
        try:
            for item in _body_items(document.element.body, document):
                if isinstance(item, Table):
                    self.builder.add(BlockKind.TABLE, table_text(item))
                else:
                    self.paragraph(item)
        except Exception as exc:  # malformed XML inside an otherwise valid package
            raise LoaderError(source, f"not a valid DOCX file: {exc}") from exc


def _core_metadata(document: DocxDocument) -> tuple[str, dict[str, str]]:
    props = document.core_properties
    fields = {"author": props.author, "subject": props.subject, "keywords": props.keywords}
    metadata = {k: normalise_inline(v) for k, v in fields.items() if v and v.strip()}
    if props.created is not None:
        metadata["created"] = props.created.isoformat()
    return normalise_inline(props.title or ""), metadata


class DocxLoader:
    """`.docx` files. Title: document properties, else the Title paragraph, else a heading."""

    name: str = "docx"
    suffixes: tuple[str, ...] = (".docx",)

    def load(self, data: bytes, *, source: str) -> ParsedDocument:
        document = open_docx(data, source)
        reader = _DocxReader()
        reader.read(document, source)
        if not reader.builder:
            raise LoaderError(source, "empty document: no text to index")
        try:
            title, metadata = _core_metadata(document)
        except Exception:  # broken docProps/core.xml is no reason to reject the body
            title, metadata = "", {}
        title = title or reader.title_paragraph or reader.first_heading or ""
        return reader.builder.build(title, metadata)

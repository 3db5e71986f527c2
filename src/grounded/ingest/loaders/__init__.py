"""Document loaders, one module per format, and the registry that picks one by suffix.

The registry is a plain dict: a new format is a module with a `Loader` class
and one line here.
"""

from __future__ import annotations

from pathlib import Path

from grounded.ingest.loaders.docx import DocxLoader
from grounded.ingest.loaders.html import HtmlLoader
from grounded.ingest.loaders.markdown import MarkdownLoader
from grounded.ingest.loaders.pdf import PdfLoader
from grounded.ingest.loaders.text import TextLoader
from grounded.ports import Loader

__all__ = [
    "LOADERS",
    "SUPPORTED_SUFFIXES",
    "DocxLoader",
    "HtmlLoader",
    "MarkdownLoader",
    "PdfLoader",
    "TextLoader",
    "loader_for_path",
]

LOADERS: dict[str, Loader] = {
    loader.name: loader
    for loader in (MarkdownLoader(), TextLoader(), HtmlLoader(), PdfLoader(), DocxLoader())
}
_BY_SUFFIX: dict[str, Loader] = {
    suffix: loader for loader in LOADERS.values() for suffix in loader.suffixes
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(sorted(_BY_SUFFIX))


def loader_for_path(path: Path) -> Loader | None:
    """The loader for a file's suffix (case-insensitive), or None when unsupported."""
    return _BY_SUFFIX.get(path.suffix.lower())

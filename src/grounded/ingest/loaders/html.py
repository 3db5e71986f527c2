"""HTML pages: the main content, without scripts, navigation and other page chrome.

Intranet and wiki pages repeat the same menus, footers and cookie banners on
every page. Indexed, that chrome matches every query about "contact" or
"privacy" and drowns the real answers, so it is removed before extraction.
"""

from __future__ import annotations

import codecs
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import bs4
from bs4 import BeautifulSoup
from bs4.dammit import UnicodeDammit
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from grounded.domain import BlockKind, ParsedDocument
from grounded.errors import LoaderError
from grounded.ingest.normalise import TextBuilder, normalise_inline

# Never content, wherever they are.
_NON_CONTENT = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "svg",
        "object",
        "embed",
        "canvas",
        "audio",
        "video",
        "map",
    }
)
_DROP_TAGS = _NON_CONTENT | {"nav", "aside", "form", "button"}
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_CHROME_WORDS = frozenset(
    {
        "nav",
        "navbar",
        "navigation",
        "menu",
        "breadcrumb",
        "breadcrumbs",
        "sidebar",
        "footer",
        "cookie",
        "cookies",
    }
)
# A <header>/<footer> is page chrome only when it belongs to the page, not to
# an article or section (the HTML-AAM rule for the banner/contentinfo roles);
# an article's own header usually holds its h1.
_SECTIONING = frozenset({"article", "aside", "main", "nav", "section"})
_PROTECTED = frozenset({"html", "head", "body", "main", "article"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "caption",
        "center",
        "details",
        "dd",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "menu",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
_TEXT_BLOCKS = frozenset(
    {"p", "blockquote", "dt", "dd", "figcaption", "summary", "address", "caption"}
)
_BLOCK_NAMES = sorted(_BLOCKS)  # bs4 takes a list of names as a filter
_WORD_SPLIT = re.compile(r"[\s_-]+")
_DISPLAY_NONE = re.compile(r"display\s*:\s*none")
_META_FIELDS = ("description", "author", "keywords")


def _attr(tag: Tag, name: str) -> str:
    value = tag.get(name)
    if isinstance(value, list):
        return " ".join(value)
    return value or ""


def _is_text(node: object) -> bool:
    # Comments, CDATA, doctypes and processing instructions are PreformattedStrings.
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def _has_block(tag: Tag) -> bool:
    return tag.find(_BLOCK_NAMES) is not None


def _text_of(tag: Tag) -> str:
    """Concatenated text; block boundaries and <br> become whitespace, inline tags do not."""
    parts: list[str] = []
    for node in tag.descendants:
        if isinstance(node, Tag):
            if node.name == "br":
                parts.append("\n")
            elif node.name in _BLOCKS:
                parts.append(" ")
        elif _is_text(node):
            parts.append(str(node))
    return "".join(parts)


def _is_chrome(tag: Tag) -> bool:
    if tag.name in _DROP_TAGS or tag.has_attr("hidden") or _attr(tag, "aria-hidden") == "true":
        return True
    if _DISPLAY_NONE.search(_attr(tag, "style").lower()):
        return True
    if tag.name in ("header", "footer"):
        return not any(parent.name in _SECTIONING for parent in tag.parents)
    if _attr(tag, "role").lower() in _CHROME_ROLES:
        return True
    words = _WORD_SPLIT.split(f"{_attr(tag, 'class')} {_attr(tag, 'id')}".lower())
    return not _CHROME_WORDS.isdisjoint(words)


def _holds_main_content(tag: Tag) -> bool:
    # ASP.NET and SharePoint pages wrap the whole page in one <form>.
    names = ["main", "article", "h1", "h2", "h3"] if tag.name == "form" else ["main", "article"]
    return tag.find(names) is not None or tag.find(role="main") is not None


def remove_chrome(soup: BeautifulSoup) -> None:
    """Remove page chrome, but never an element that wraps the main content.

    Class names are a heuristic: `<body class="has-sidebar">` or a wrapper
    `<div class="nav-open">` must not take the article down with them.
    """
    for tag in list(soup.find_all(True)):
        if tag.decomposed or tag.name in _PROTECTED or not _is_chrome(tag):
            continue
        if tag.name in _NON_CONTENT or not _holds_main_content(tag):
            tag.decompose()


def choose_root(soup: BeautifulSoup) -> Tag:
    """`<main>`, else role=main, else the only `<article>`, else `<body>`."""
    main = soup.find("main") or soup.find(role="main")
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


@dataclass(frozen=True)
class _Then:
    """A step to run once the children pushed before it have been visited."""

    action: Callable[[], None]


class _Walker:
    """Emits blocks in document order; loose text between blocks becomes paragraphs."""

    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.first_h1: str | None = None
        self._loose: list[str] = []
        self._loose_kind = BlockKind.PARAGRAPH
        self._stack: list[PageElement | _Then] = []
        self._handlers: dict[str, Callable[[Tag], None]] = {
            "li": self._list_item,
            "table": self._table,
            "pre": self._pre,
            "hr": lambda _tag: self.flush(),
            **{name: self._heading for name in _HEADINGS},
            **{name: self._text_block for name in _TEXT_BLOCKS},
        }

    def flush(self) -> None:
        if self._loose:
            self.builder.add(self._loose_kind, "".join(self._loose))
            self._loose = []

    def walk(self, root: Tag) -> None:
        # An explicit stack, not recursion: broken pages nest thousands of
        # unclosed <div>s, far past Python's recursion limit.
        self._enter(root, self.flush)
        while self._stack:
            item = self._stack.pop()
            if isinstance(item, _Then):
                item.action()
            elif isinstance(item, Tag):
                self._visit(item)
            elif _is_text(item):
                self._loose.append(str(item))

    def _enter(self, tag: Tag, then: Callable[[], None]) -> None:
        """Visit `tag`'s children next, then run `then`."""
        self._stack.append(_Then(then))
        self._stack.extend(reversed(tag.contents))

    def _visit(self, tag: Tag) -> None:
        handler = self._handlers.get(tag.name)
        if handler is not None:
            handler(tag)
        elif tag.name == "br":
            self._loose.append("\n")
        elif tag.name in _BLOCKS or _has_block(tag):
            self._container(tag)
        else:  # inline markup: part of the surrounding text run
            self._loose.append(_text_of(tag))

    def _container(self, tag: Tag) -> None:
        self.flush()
        self._enter(tag, self.flush)

    def _heading(self, tag: Tag) -> None:
        self.flush()
        text = _text_of(tag)
        level = _HEADINGS[tag.name]
        if self.builder.add(BlockKind.HEADING, text, level=level) and level == 1:
            self.first_h1 = self.first_h1 or normalise_inline(text)

    def _text_block(self, tag: Tag) -> None:
        if _has_block(tag):  # e.g. a blockquote of paragraphs: keep them apart
            self._container(tag)
        else:
            self.flush()
            self.builder.add(self._loose_kind, _text_of(tag))

    def _list_item(self, tag: Tag) -> None:
        self.flush()
        outer, self._loose_kind = self._loose_kind, BlockKind.LIST_ITEM

        def done() -> None:
            self.flush()
            self._loose_kind = outer

        # A nested list flushes this item's text first, then emits its own items.
        self._enter(tag, done)

    def _table(self, tag: Tag) -> None:
        if tag.find("table") is not None:  # a layout table: read it as a container
            self._container(tag)
            return
        self.flush()
        caption = tag.find("caption")
        if isinstance(caption, Tag):
            self.builder.add(BlockKind.PARAGRAPH, _text_of(caption))
        rows: list[str] = []
        for tr in tag.find_all("tr"):
            cells = [normalise_inline(_text_of(c)) for c in tr.find_all(["td", "th"])]
            if any(cells):
                rows.append(" | ".join(cells))
        self.builder.add(BlockKind.TABLE, "\n".join(rows))

    def _pre(self, tag: Tag) -> None:
        self.flush()
        self.builder.add(BlockKind.CODE, tag.get_text())


def _decode(data: bytes, source: str) -> str:
    if b"\x00" in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LoaderError(source, "looks like a binary file, not HTML")
    markup = UnicodeDammit(data, is_html=True).unicode_markup
    if markup is None:
        raise LoaderError(source, "cannot decode HTML: unknown character encoding")
    return markup


def _parse(markup: str, source: str) -> BeautifulSoup:
    # bs4 warns about XHTML parsed as HTML and markup that looks like a file
    # name; neither changes what we extract, and a warning is not an answer.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs4.XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", bs4.MarkupResemblesLocatorWarning)
        try:
            return BeautifulSoup(markup, "lxml")
        except Exception as exc:  # lxml and bs4 raise assorted types on broken input
            raise LoaderError(source, f"cannot parse HTML: {exc}") from exc


def _page_metadata(soup: BeautifulSoup) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for name in _META_FIELDS:
        tag = soup.find("meta", attrs={"name": name})
        value = normalise_inline(_attr(tag, "content")) if isinstance(tag, Tag) else ""
        if value:
            metadata[name] = value
    html = soup.find("html")
    lang = _attr(html, "lang").strip() if isinstance(html, Tag) else ""
    if lang:
        metadata["language"] = lang
    return metadata


def _page_title(soup: BeautifulSoup) -> str:
    head = soup.head
    tag = head.find("title") if head is not None else None
    return normalise_inline(_text_of(tag)) if isinstance(tag, Tag) else ""


class HtmlLoader:
    """`.html` files: main content only; title from `<title>`, else the first `<h1>`."""

    name: str = "html"
    suffixes: tuple[str, ...] = (".html", ".htm")

    def load(self, data: bytes, *, source: str) -> ParsedDocument:
        soup = _parse(_decode(data, source), source)
        title = _page_title(soup)
        metadata = _page_metadata(soup)
        remove_chrome(soup)
        root = choose_root(soup)
        walker = _Walker()
        walker.walk(root)
        if not walker.builder and soup.body is not None and root is not soup.body:
            walker = _Walker()  # an empty <main> (a script-rendered page): try the body
            walker.walk(soup.body)
        if not walker.builder:
            raise LoaderError(
                source, "no readable text in HTML after removing scripts, styles and navigation"
            )
        return walker.builder.build(title or walker.first_h1, metadata)

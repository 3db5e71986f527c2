"""Headings from a PDF's outline (bookmarks), matched back to the page text.

A bookmark carries a title, a depth and a destination page, which is exactly
what the layout heuristics in `pdf` have to guess. A page line (or a run of
wrapped lines) whose text equals a title destined for that page is a heading
of the bookmark's depth. When the PDF put the heading and the first sentence
on one line, the line is cut after the title. Titles are compared
case-insensitively in the normal form of `normalise_inline`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pypdf import PdfReader
from pypdf.generic import Destination

from grounded.ingest.normalise import normalise_inline

MAX_ENTRIES = 5000  # an outline larger than this is not a table of contents
MAX_HEADING_LINES = 4  # a heading wrapped over more lines than this is not matched


@dataclass(frozen=True)
class OutlineTitle:
    key: str  # the title, normalised and case-folded
    level: int  # 1 = top-level bookmark


@dataclass
class MarkedPage:
    """A page's lines with the outline headings found in them.

    Each heading is one line of its own: wrapped heading lines are joined and
    a heading glued to the first sentence is cut off it.
    """

    lines: list[str]
    headings: dict[int, int] = field(default_factory=dict)  # line index -> level
    # line index -> length of the printed line the heading was cut from, for
    # the text left after the cut (it is no short last line of a paragraph)
    printed: dict[int, int] = field(default_factory=dict)


def _key(text: str) -> str:
    return normalise_inline(text).casefold()


def _walk(reader: PdfReader) -> Iterator[tuple[Destination, int]]:
    """Outline items with their depth (0 = top), in document order, without recursion."""
    stack: list[tuple[Iterator[object], int]] = [(iter(reader.outline), 0)]
    while stack:
        items, depth = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
        elif isinstance(item, list):
            stack.append((iter(item), depth + 1))  # the children of the item before
        elif isinstance(item, Destination):
            yield item, depth


def outline_titles(reader: PdfReader) -> dict[int, list[OutlineTitle]]:
    """Bookmark titles by 1-based destination page; empty when the outline is missing or broken.

    A broken outline never makes a readable PDF fail: its text is still there,
    and the layout heuristics find headings without it.
    """
    by_page: defaultdict[int, list[OutlineTitle]] = defaultdict(list)
    try:
        for count, (item, depth) in enumerate(_walk(reader)):
            if count >= MAX_ENTRIES:
                return {}
            key = _key(str(item.title)) if item.title else ""
            if not key:
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # one bookmark pointing nowhere spoils only itself
                continue
            if page is not None and page >= 0:
                by_page[page + 1].append(OutlineTitle(key, min(depth + 1, 6)))
    except Exception:  # pypdf raises many types for a damaged /Outlines tree
        return {}
    return dict(by_page)


@dataclass
class _Matcher:
    lines: list[str]

    def __post_init__(self) -> None:
        self.keys = [_key(line) for line in self.lines]
        self.claimed: set[int] = set()

    def runs(self, key: str) -> Iterator[tuple[int, int, str]]:
        """(first, last, joined key) for unclaimed runs of lines that may begin `key`."""
        for first in range(len(self.lines)):
            joined = ""
            for last in range(first, min(first + MAX_HEADING_LINES, len(self.lines))):
                if last in self.claimed or not self.keys[last]:
                    break
                joined = f"{joined} {self.keys[last]}" if joined else self.keys[last]
                yield first, last, joined
                if not key.startswith(joined + " "):
                    break

    def whole(self, key: str) -> tuple[int, int, int] | None:
        """Lines that are exactly the title: (first, last, len(last line))."""
        for first, last, joined in self.runs(key):
            if joined == key:
                return first, last, len(self.lines[last])
        return None

    def prefix(self, key: str) -> tuple[int, int, int] | None:
        """Lines that begin with the title, followed by a sentence: (first, last, cut)."""
        if not any(c.isalpha() for c in key):
            return None  # a bookmark "2" must not cut "2 Approvals" in two
        for first, last, joined in self.runs(key):
            if joined.startswith(key + " "):
                cut = _cut(" ".join(self.lines[first:last]), self.lines[last], key)
                if cut is not None:
                    return first, last, cut
        return None


def _cut(head: str, line: str, key: str) -> int | None:
    """Where the title ends in `line`, the last of the lines it spans (`head` the others)."""
    for cut in (i for i, c in enumerate(line) if c == " "):
        if _key(f"{head} {line[:cut]}" if head else line[:cut]) == key:
            # "Promotions are decided in March" starts with the title
            # "Promotions", but is a sentence, not a heading.
            return None if line[cut + 1 : cut + 2].islower() else cut
    return None


def mark_headings(lines: list[str], titles: Sequence[OutlineTitle]) -> MarkedPage:
    """Find each title on its page: a whole line first, else the start of a line."""
    if not titles:
        return MarkedPage(lines)
    matcher = _Matcher(lines)
    found: dict[int, tuple[int, int, int]] = {}  # first line -> (last line, cut, level)
    for title in titles:
        match = matcher.whole(title.key) or matcher.prefix(title.key)
        if match is not None:
            first, last, cut = match
            found[first] = (last, cut, title.level)
            matcher.claimed.update(range(first, last + 1))
    if not found:
        return MarkedPage(lines)
    page = MarkedPage([])
    i = 0
    while i < len(lines):
        if i not in found:
            page.lines.append(lines[i])
            i += 1
            continue
        last, cut, level = found[i]
        page.headings[len(page.lines)] = level
        page.lines.append(" ".join(lines[i:last] + [lines[last][:cut]]))
        if cut < len(lines[last]):
            page.printed[len(page.lines)] = len(lines[last])
            page.lines.append(lines[last][cut + 1 :])
        i = last + 1
    return page

"""Loaders on real files written to disk: Markdown, HTML, PDF (fpdf2), DOCX (python-docx), text."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from grounded.domain import BlockKind, ParsedDocument
from grounded.errors import LoaderError
from grounded.ingest.loaders import LOADERS, SUPPORTED_SUFFIXES, loader_for_path
from grounded.ingest.loaders.pdf_outline import OutlineTitle, mark_headings
from grounded.ingest.normalise import TextBuilder, normalise_block, normalise_inline
from grounded.ports import Loader

SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "sample-corpus"


def load(path: Path) -> ParsedDocument:
    loader = loader_for_path(path)
    assert loader is not None, f"no loader for {path.suffix}"
    doc = loader.load(path.read_bytes(), source=str(path))
    assert_well_formed(doc)
    return doc


def assert_well_formed(doc: ParsedDocument) -> None:
    """Every block is a non-empty, stripped span; blocks are ordered and disjoint."""
    assert doc.blocks, "a loaded document has at least one block"
    previous_end = 0
    for block in doc.blocks:
        span = doc.text[block.start : block.end]
        assert span, block
        assert span == span.strip(), block
        assert block.start >= previous_end, "blocks overlap or are out of order"
        assert (block.level >= 1) == (block.kind is BlockKind.HEADING)
        previous_end = block.end
    assert doc.blocks[-1].end == len(doc.text)


def spans(doc: ParsedDocument, kind: BlockKind | None = None) -> list[str]:
    return [doc.text[b.start : b.end] for b in doc.blocks if kind is None or b.kind is kind]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --- registry ---------------------------------------------------------------


def test_registry_picks_loaders_by_suffix_case_insensitively() -> None:
    expected = {".md": "markdown", ".MARKDOWN": "markdown", ".txt": "text", ".HTM": "html"}
    expected |= {".Pdf": "pdf", ".docx": "docx", ".html": "html", ".text": "text"}
    for suffix, name in expected.items():
        loader = loader_for_path(Path(f"dir/file{suffix}"))
        assert loader is not None and loader.name == name, suffix
    assert loader_for_path(Path("archive.zip")) is None
    assert loader_for_path(Path("README")) is None
    assert set(SUPPORTED_SUFFIXES) == {s for loader in LOADERS.values() for s in loader.suffixes}
    assert all(isinstance(loader, Loader) for loader in LOADERS.values())


# --- normalisation ----------------------------------------------------------


def test_normalise_inline_collapses_whitespace_controls_and_ligatures() -> None:
    raw = "  Cafe\u0301\t\tbudget\x07 for\u00a0the\n\n\ufb01nance   team\u200b  "
    assert normalise_inline(raw) == "Café budget for the finance team"


def test_table_and_code_blocks_keep_one_line_per_row() -> None:
    assert normalise_block(BlockKind.TABLE, " a |  b \n\n c | d ") == "a | b\nc | d"
    assert normalise_block(BlockKind.CODE, "x = 1\r\n\r\ny  =  2") == "x = 1\ny  =  2"
    code = "\n    def f():\n        return 1\n"
    assert normalise_block(BlockKind.CODE, code) == "def f():\n    return 1"  # indentation kept
    assert normalise_block(BlockKind.PARAGRAPH, "one\r\ntwo\rthree") == "one two three"


def test_text_builder_separates_blocks_and_skips_empty_ones() -> None:
    builder = TextBuilder()
    assert builder.add(BlockKind.HEADING, "  Intro ", level=1) is not None
    assert builder.add(BlockKind.PARAGRAPH, " \n\t ") is None
    builder.add(BlockKind.PARAGRAPH, "Body\ntext", page=3)
    doc = builder.build(" My\nTitle ", {"k": "v"})
    assert doc.text == "Intro\n\nBody text"
    assert [(b.kind, b.level, b.page) for b in doc.blocks] == [
        (BlockKind.HEADING, 1, None),
        (BlockKind.PARAGRAPH, 0, 3),
    ]
    assert doc.title == "My Title"
    assert doc.metadata == {"k": "v"}
    assert TextBuilder().build("   ").title is None


_kinds = st.sampled_from(list(BlockKind))
_texts = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\n", "\r", "\t", " ", "\u00a0", "\u200b", "\ufb01", "\u0301", "\x00"]),
    ),
    max_size=40,
)


@given(st.lists(st.tuples(_kinds, _texts), max_size=12))
def test_text_builder_offsets_match_normalised_text(items: list[tuple[BlockKind, str]]) -> None:
    builder = TextBuilder()
    expected: list[str] = []
    for kind, text in items:
        block = builder.add(kind, text, level=2)
        normalised = normalise_block(kind, text)
        assert (block is None) == (normalised == "")
        if normalised:
            expected.append(normalised)
    doc = builder.build()
    assert doc.text == "\n\n".join(expected)
    assert spans(doc) == expected
    for span, block in zip(spans(doc), doc.blocks, strict=True):
        assert span == span.strip()
        assert unicodedata.is_normalized("NFC", span)
        assert "\n\n" not in span
        assert block.kind is not BlockKind.PARAGRAPH or "\n" not in span
        assert normalise_block(block.kind, span) == span  # idempotent


# --- Markdown ---------------------------------------------------------------

MARKDOWN = """\
---
title: Travel Expenses
tags: [finance, travel]
updated: 2024-03-01
allow_groups: [finance]
---

# Expense Policy

Claims need **receipts** and the [claims portal](https://intra.example/claims_(new)).
This line continues the paragraph. ![diagram](img/flow.png)

Approval Rules
--------------

- Managers approve claims under `500 EUR`
  within five days.
- Directors approve
1. Submit the form

| Category | Limit |
|:---------|------:|
| Hotel    | 150   |
| Meals    | 40    |

```yaml
# not a heading
limit: 150
```

## Contacts ##

Ask finance.
"""


def test_markdown_structure_front_matter_and_inline_markup(tmp_path: Path) -> None:
    doc = load(write(tmp_path, "policy.md", MARKDOWN))
    assert doc.title == "Travel Expenses"
    assert doc.metadata["tags"] == ["finance", "travel"]
    assert doc.metadata["updated"] == "2024-03-01"  # a YAML date, stored as JSON-safe text
    assert doc.metadata["allow_groups"] == ["finance"]
    kinds = [(b.kind, b.level) for b in doc.blocks]
    assert kinds == [
        (BlockKind.HEADING, 1),
        (BlockKind.PARAGRAPH, 0),
        (BlockKind.HEADING, 2),
        (BlockKind.LIST_ITEM, 0),
        (BlockKind.LIST_ITEM, 0),
        (BlockKind.LIST_ITEM, 0),
        (BlockKind.TABLE, 0),
        (BlockKind.CODE, 0),
        (BlockKind.HEADING, 2),
        (BlockKind.PARAGRAPH, 0),
    ]
    texts = spans(doc)
    assert texts[0] == "Expense Policy"
    assert texts[1] == (
        "Claims need receipts and the claims portal. This line continues the paragraph."
    )
    assert texts[2] == "Approval Rules"
    assert texts[3] == "Managers approve claims under 500 EUR within five days."
    assert texts[6] == "Category | Limit\nHotel | 150\nMeals | 40"
    assert texts[7] == "# not a heading\nlimit: 150"
    assert texts[8] == "Contacts"
    assert "---" not in doc.text and "](" not in doc.text and "**" not in doc.text


def test_markdown_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    doc = load(write(tmp_path, "a.md", "Intro text.\n\n## Not this\n\n# The Title\n\nBody.\n"))
    assert doc.title == "The Title"
    assert load(write(tmp_path, "b.md", "Just text.\n")).title is None


def test_markdown_malformed_front_matter_names_the_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.md", "---\ntitle: [unclosed\n---\n\nBody\n")
    with pytest.raises(LoaderError, match="malformed YAML front matter") as info:
        load(path)
    assert info.value.source == str(path)
    with pytest.raises(LoaderError, match="must be a YAML mapping"):
        load(write(tmp_path, "list.md", "---\n- a\n- b\n---\nBody\n"))


# --- HTML -------------------------------------------------------------------

HTML = """\
<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8"><title>Holiday Policy</title>
<meta name="description" content="How to book leave">
<style>.banner { color: red } /* STYLE_TEXT */</style>
<script>var tracking = "SCRIPT_TEXT";</script>
</head><body>
<header class="site-header"><a href="/">HEADER_TEXT Acme Intranet</a></header>
<nav><ul><li>NAV_TEXT Home</li><li>Teams</li></ul></nav>
<div class="breadcrumb">CRUMB_TEXT Home &gt; HR</div>
<div id="cookie-banner">COOKIE_TEXT We use cookies. <button>Accept</button></div>
<main>
  <article>
    <header><h1>Holiday <em>Policy</em></h1></header>
    <p>Employees get <strong>25 days</strong> of paid leave per year.</p>
    <div>Loose text in a div<br>that must not be lost.</div>
    <ul><li>Book leave in the portal</li><li>Tell your team</li></ul>
    <table><tr><th>Years</th><th>Days</th></tr><tr><td>0-5</td><td>25</td></tr></table>
    <pre>leave --book 2024-08-01</pre>
  </article>
</main>
<aside>ASIDE_TEXT Related pages</aside>
<footer>FOOTER_TEXT Copyright Acme</footer>
<script>document.write("SCRIPT_TEXT_2")</script>
</body></html>
"""


def test_html_keeps_main_content_and_drops_chrome(tmp_path: Path) -> None:
    doc = load(write(tmp_path, "holiday.html", HTML))
    assert doc.title == "Holiday Policy"
    assert doc.metadata == {"description": "How to book leave", "language": "en"}
    for chrome in ("STYLE", "SCRIPT", "HEADER", "NAV", "CRUMB", "COOKIE", "ASIDE", "FOOTER"):
        assert f"{chrome}_TEXT" not in doc.text
    assert [(b.kind, doc.text[b.start : b.end]) for b in doc.blocks] == [
        (BlockKind.HEADING, "Holiday Policy"),
        (BlockKind.PARAGRAPH, "Employees get 25 days of paid leave per year."),
        (BlockKind.PARAGRAPH, "Loose text in a div that must not be lost."),
        (BlockKind.LIST_ITEM, "Book leave in the portal"),
        (BlockKind.LIST_ITEM, "Tell your team"),
        (BlockKind.TABLE, "Years | Days\n0-5 | 25"),
        (BlockKind.CODE, "leave --book 2024-08-01"),
    ]


def test_html_without_main_uses_body_and_keeps_loose_text(tmp_path: Path) -> None:
    html = (
        "<html><body class='has-sidebar'><div class='navbar'>Menu</div>"
        "<h1>Wiki <b>page</b></h1>Loose <i>text</i> run<div>In div <p>para</p> tail</div>"
        "<div class='sidebar'>Side</div><!-- hidden comment --></body></html>"
    )
    doc = load(write(tmp_path, "wiki.htm", html.encode("cp1252")))
    assert doc.title == "Wiki page"
    assert spans(doc) == ["Wiki page", "Loose text run", "In div", "para", "tail"]


def test_html_that_is_empty_or_binary_is_refused(tmp_path: Path) -> None:
    empty = "<html><body><nav>Only navigation</nav><script>x()</script></body></html>"
    with pytest.raises(LoaderError, match="no readable text"):
        load(write(tmp_path, "empty.html", empty))
    with pytest.raises(LoaderError, match="binary"):
        load(write(tmp_path, "image.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))


# --- PDF --------------------------------------------------------------------

PAGES = [
    (
        "1 Introduction",
        [
            "This policy explains how employees book business travel and claim their",
            "expenses after a trip. It applies to every office and every kind of trip.",
        ],
    ),
    (
        "2.1 Scope of Reimbursement",
        [
            "Receipts are required for every claim above ten euros; the finance exam-",
            "iner checks each receipt against the corporate card statement before the",
            "claim is paid.",
        ],
    ),
    (
        "3 Approvals",
        [
            "Foreign travel needs the approval of a director before any booking is made",
            "with the travel agency.",
        ],
    ),
]


def make_pdf(pages: list[tuple[str, list[str]]], *, title: str | None = None) -> FPDF:
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    if title:
        pdf.set_title(title)
    for heading, lines in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 6, "Acme Corp - Internal", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.cell(0, 6, f"Page {pdf.page_no()} of {len(pages)}", align="C")
    return pdf


def pdf_bytes(pdf: FPDF) -> bytes:
    return bytes(pdf.output())


def test_pdf_pages_headings_and_title(tmp_path: Path) -> None:
    doc = load(write(tmp_path, "travel.pdf", pdf_bytes(make_pdf(PAGES, title="Travel Policy"))))
    assert doc.title == "Travel Policy"
    assert doc.metadata["pages"] == 3
    assert all(b.page is not None for b in doc.blocks)
    assert [(b.kind, b.level, b.page) for b in doc.blocks if b.kind is BlockKind.HEADING] == [
        (BlockKind.HEADING, 1, 1),
        (BlockKind.HEADING, 2, 2),
        (BlockKind.HEADING, 1, 3),
    ]
    by_page = {
        b.page: doc.text[b.start : b.end] for b in doc.blocks if b.kind is BlockKind.PARAGRAPH
    }
    assert by_page[1].startswith("This policy explains how employees book business travel")
    assert "the finance examiner checks each receipt" in by_page[2]  # hyphenation joined
    assert by_page[3].endswith("with the travel agency.")
    # Running header and page-number footer repeat on every page: not content.
    assert "Acme Corp - Internal" not in doc.text and "Page 2 of 3" not in doc.text


def test_pdf_title_falls_back_to_first_line(tmp_path: Path) -> None:
    doc = load(write(tmp_path, "untitled.pdf", pdf_bytes(make_pdf(PAGES[:1]))))
    assert doc.title == "Acme Corp - Internal"  # one page: nothing repeats, so it is kept


def test_pdf_corrupt_and_fake_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    data = pdf_bytes(make_pdf(PAGES))
    with pytest.raises(LoaderError, match="not a valid PDF") as info:
        load(write(tmp_path, "truncated.pdf", data[: len(data) // 2]))
    assert isinstance(info.value.__cause__, Exception)
    with pytest.raises(LoaderError, match="not a valid PDF: no %PDF- header"):
        load(write(tmp_path, "notes.pdf", "These are notes, not a PDF.\n"))
    with pytest.raises(LoaderError, match="not a valid PDF"):
        load(write(tmp_path, "empty.pdf", b""))


def test_pdf_encrypted_with_a_password_is_refused(tmp_path: Path) -> None:
    pdf = make_pdf(PAGES)
    pdf.set_encryption(
        "owner-secret", user_password="user-secret", encryption_method=EncryptionMethod.RC4
    )
    with pytest.raises(LoaderError, match="encrypted PDF: a password is required"):
        load(write(tmp_path, "locked.pdf", pdf_bytes(pdf)))


def test_pdf_encrypted_only_against_editing_opens(tmp_path: Path) -> None:
    pdf = make_pdf(PAGES)
    pdf.set_encryption("owner-secret", encryption_method=EncryptionMethod.RC4)
    doc = load(write(tmp_path, "restricted.pdf", pdf_bytes(pdf)))
    assert "finance examiner" in doc.text


def test_pdf_without_text_layer_is_refused(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # what a scan looks like to a text extractor
    with pytest.raises(LoaderError, match=r"no extractable text \(scanned\? OCR"):
        load(write(tmp_path, "scan.pdf", pdf_bytes(pdf)))


# --- PDF outline (bookmarks) ------------------------------------------------

LONG_PARAGRAPH = [
    "Employees book business travel through the travel agency, which compares fares and",
    "hotels against the limits of this policy and records every booking for the audit trail",
    "that finance reviews each quarter together with the corporate card statements of staff",
]


def make_outlined_pdf(*, bookmarks: bool = True, titles: dict[str, str] | None = None) -> bytes:
    """Two pages; a heading right after a paragraph, another on one line with its first sentence.

    `titles` renames bookmarks, so that they no longer match the text.
    """
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=11)

    def section(title: str, level: int, text: str) -> None:
        if bookmarks:
            pdf.start_section((titles or {}).get(title, title), level=level)
        pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    section("1 Travel Policy", 0, "1 Travel Policy")
    for line in LONG_PARAGRAPH:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    section("1.1 BOOKING   rules", 1, "1.1 Booking rules")  # no blank line before it
    for line in LONG_PARAGRAPH:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    section("2 Approvals", 0, "2 Approvals Foreign travel needs a director's approval before")
    pdf.cell(0, 6, "any booking is made with the travel agency.", new_x="LMARGIN", new_y="NEXT")
    return pdf_bytes(pdf)


def blocks_of(doc: ParsedDocument) -> list[tuple[BlockKind, int, int | None, str]]:
    return [(b.kind, b.level, b.page, doc.text[b.start : b.end]) for b in doc.blocks]


def test_pdf_outline_marks_headings_the_heuristic_misses(tmp_path: Path) -> None:
    doc = load(write(tmp_path, "outlined.pdf", make_outlined_pdf()))
    paragraph = " ".join(LONG_PARAGRAPH)
    assert blocks_of(doc) == [
        (BlockKind.HEADING, 1, 1, "1 Travel Policy"),
        (BlockKind.PARAGRAPH, 0, 1, paragraph),
        (BlockKind.HEADING, 2, 1, "1.1 Booking rules"),  # bookmark depth 1 -> level 2
        (BlockKind.PARAGRAPH, 0, 1, paragraph),
        (BlockKind.HEADING, 1, 2, "2 Approvals"),  # cut off its first sentence
        (
            BlockKind.PARAGRAPH,
            0,
            2,
            "Foreign travel needs a director's approval before"
            " any booking is made with the travel agency.",
        ),
    ]


def test_pdf_without_usable_outline_keeps_the_heuristic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = load(write(tmp_path, "plain.pdf", make_outlined_pdf(bookmarks=False)))
    # The heuristic alone: a heading opening the page, but not one glued to a paragraph.
    assert spans(plain, BlockKind.HEADING)[0] == "1 Travel Policy"
    assert "1.1 Booking rules" not in spans(plain, BlockKind.HEADING)
    assert "statements of staff 1.1 Booking rules Employees" in spans(plain)[1]
    # Bookmarks whose titles are nowhere in the text change nothing.
    renamed = {
        "1 Travel Policy": "Policy",
        "1.1 BOOKING   rules": "Rules",
        "2 Approvals": "Sign-off",
    }
    unmatched = load(write(tmp_path, "renamed.pdf", make_outlined_pdf(titles=renamed)))
    assert blocks_of(unmatched) == blocks_of(plain)

    # Nor does an outline pypdf cannot read: the text still loads.
    def broken(self: PdfReader) -> list[object]:
        raise KeyError("/First")

    monkeypatch.setattr(PdfReader, "outline", property(broken))
    damaged = load(write(tmp_path, "damaged.pdf", make_outlined_pdf()))
    assert blocks_of(damaged) == blocks_of(plain)


def test_outline_titles_match_wrapped_lines_but_not_sentences() -> None:
    lines = [
        "Promotions are decided by the committee",
        "in March.",
        "",
        "3. Engineering and Product track (Munich,",
        "location factor 100%) Level Minimum",
        "Promotions",
    ]
    titles = [
        OutlineTitle("promotions", 2),
        OutlineTitle("3. engineering and product track (munich, location factor 100%)", 1),
        OutlineTitle("not on this page", 1),
    ]
    page = mark_headings(lines, titles)
    assert page.lines == [
        "Promotions are decided by the committee",  # a sentence, though it starts alike
        "in March.",
        "",
        "3. Engineering and Product track (Munich, location factor 100%)",
        "Level Minimum",
        "Promotions",
    ]
    assert page.headings == {3: 1, 5: 2}
    assert page.printed == {4: len("location factor 100%) Level Minimum")}
    assert mark_headings(lines[:2], titles[:1]).headings == {}  # never the sentence
    assert (
        mark_headings(["2 Approvals Travel needs approval."], [OutlineTitle("2", 1)]).headings == {}
    )


def test_sample_salary_bands_pdf_headings_come_from_its_outline() -> None:
    doc = load(SAMPLE_CORPUS / "hr" / "salary-bands-2026.pdf")
    heading = "3. Engineering and Product track (Munich, location factor 100%)"
    assert (BlockKind.HEADING, 1, 1, heading) in blocks_of(doc)
    previous = spans(doc)[spans(doc).index(heading) - 1]
    assert previous.endswith("approved by the CFO, Priya Raman.")
    assert heading not in " ".join(spans(doc, BlockKind.PARAGRAPH))
    assert (BlockKind.HEADING, 2, 2, "Compa-ratio") in blocks_of(doc)  # a nested bookmark
    # A table's header row right under an outline heading is still no heading.
    backups = load(SAMPLE_CORPUS / "it" / "backup-and-restore-standard.pdf")
    assert "2. Backup schedule and retention" in spans(backups, BlockKind.HEADING)
    assert not [h for h in spans(backups, BlockKind.HEADING) if h.startswith("System Method")]


# --- DOCX -------------------------------------------------------------------


def make_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Employee Handbook", style="Title")
    document.add_heading("Leave", level=1)
    paragraph = document.add_paragraph("Annual leave is ")
    paragraph.add_run("25 days").bold = True
    document.add_paragraph("Ask your manager first", style="List Bullet")
    document.add_paragraph("Book it in the portal", style="List Bullet")
    document.add_heading("Allowances", level=2)
    table = document.add_table(rows=3, cols=3)
    rows = [("Grade", "Days", "Notes"), ("A", "25", "standard"), ("B", "28", "")]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2)).text = "28 plus one"
    document.add_paragraph("Unused days expire in March.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_blocks_in_document_order(tmp_path: Path) -> None:
    doc = load(write(tmp_path, "handbook.docx", make_docx()))
    assert doc.title == "Employee Handbook"
    assert [(b.kind, b.level, doc.text[b.start : b.end]) for b in doc.blocks] == [
        (BlockKind.HEADING, 1, "Employee Handbook"),
        (BlockKind.HEADING, 1, "Leave"),
        (BlockKind.PARAGRAPH, 0, "Annual leave is 25 days"),
        (BlockKind.LIST_ITEM, 0, "Ask your manager first"),
        (BlockKind.LIST_ITEM, 0, "Book it in the portal"),
        (BlockKind.HEADING, 2, "Allowances"),
        # the merged cell spans two grid columns but is one cell
        (BlockKind.TABLE, 0, "Grade | Days | Notes\nA | 25 | standard\nB | 28 plus one"),
        (BlockKind.PARAGRAPH, 0, "Unused days expire in March."),
    ]


def test_docx_core_properties_title_wins(tmp_path: Path) -> None:
    document = docx.Document(io.BytesIO(make_docx()))
    document.core_properties.title = "HR Handbook 2024"
    buffer = io.BytesIO()
    document.save(buffer)
    assert load(write(tmp_path, "titled.docx", buffer.getvalue())).title == "HR Handbook 2024"


def test_docx_corrupt_files_are_refused(tmp_path: Path) -> None:
    data = make_docx()
    with pytest.raises(LoaderError, match="not a valid DOCX file"):
        load(write(tmp_path, "truncated.docx", data[: len(data) // 2]))
    with pytest.raises(LoaderError, match="not a ZIP package"):
        load(write(tmp_path, "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1legacy word"))


# --- plain text -------------------------------------------------------------


def test_text_in_cp1252_is_decoded(tmp_path: Path) -> None:
    text = "Café budget – 50 €\r\nper person.\r\n\r\n  \r\nSecond paragraph.\r\n"
    doc = load(write(tmp_path, "budget.txt", text.encode("cp1252")))
    assert spans(doc, BlockKind.PARAGRAPH) == [
        "Café budget – 50 € per person.",
        "Second paragraph.",
    ]
    assert doc.title is None


def test_text_with_utf8_bom_and_utf16(tmp_path: Path) -> None:
    assert spans(load(write(tmp_path, "a.txt", "\ufeffnaïve".encode()))) == ["naïve"]
    assert spans(load(write(tmp_path, "b.text", "naïve\n".encode("utf-16")))) == ["naïve"]


def test_binary_file_named_txt_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    with pytest.raises(LoaderError, match="looks like a binary file, not text"):
        load(path)
    with pytest.raises(LoaderError, match="empty document"):
        load(write(tmp_path, "blank.txt", " \n\n\t\n"))

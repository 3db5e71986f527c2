"""Behaviour of the structure-aware chunker, on documents built by hand."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grounded.domain import Block, BlockKind, ChunkDraft, ParsedDocument
from grounded.errors import ConfigError
from grounded.ingest.chunking import StructureChunker, estimate_tokens, sentence_spans

H, P, LI, T, C = (
    BlockKind.HEADING,
    BlockKind.PARAGRAPH,
    BlockKind.LIST_ITEM,
    BlockKind.TABLE,
    BlockKind.CODE,
)
Spec = tuple[BlockKind, str, int, int | None]


def blk(kind: BlockKind, text: str, level: int = 0, page: int | None = None) -> Spec:
    return (kind, text, level if kind is H else 0, page)


def h(level: int, text: str, page: int | None = None) -> Spec:
    return blk(H, text, level, page)


def make_doc(*specs: Spec) -> ParsedDocument:
    """Join block texts with blank lines, recording each block's offsets."""
    text, blocks = "", []
    for kind, body, level, page in specs:
        if text:
            text += "\n\n"
        blocks.append(Block(kind, len(text), len(text) + len(body), level, page))
        text += body
    return ParsedDocument(text=text, blocks=tuple(blocks))


def texts(doc: ParsedDocument, chunks: list[ChunkDraft]) -> list[str]:
    return [doc.text[c.start : c.end] for c in chunks]


def sentences(n: int, start: int = 0) -> str:
    return " ".join(f"Sentence number {i} talks about item {i}." for i in range(start, start + n))


def _subword_counter(text: str) -> int:
    """A counter the estimator misjudges (long words cost a lot), to exercise re-checks."""
    return sum(-(-len(word) // 3) for word in text.split())


def test_heading_paths_follow_nesting_and_go_back_up() -> None:
    doc = make_doc(
        h(1, "Benefits"),
        blk(P, "Overview of benefits."),
        h(2, "Vacation"),
        blk(P, "Twenty five days."),
        h(3, "Carry-over"),
        blk(P, "Five days carry over."),
        h(2, "Sick leave"),
        blk(P, "Paid from day one."),
        h(1, "Payroll"),
        blk(P, "Paid monthly."),
    )
    chunks = StructureChunker(max_tokens=256).chunk(doc)
    assert [c.heading_path for c in chunks] == [
        ("Benefits",),
        ("Benefits", "Vacation"),
        ("Benefits", "Vacation", "Carry-over"),
        ("Benefits", "Sick leave"),
        ("Payroll",),
    ]
    # The heading's own text leads its section's first chunk, for keyword search.
    assert texts(doc, chunks)[1] == "Vacation\n\nTwenty five days."


def test_chunks_never_cross_a_heading_even_when_budget_allows() -> None:
    doc = make_doc(
        blk(P, "Preamble text."),
        h(1, "One"),
        blk(P, "Alpha."),
        h(1, "Two"),
        blk(P, "Beta."),
    )
    chunks = StructureChunker(max_tokens=512).chunk(doc)
    assert texts(doc, chunks) == ["Preamble text.", "One\n\nAlpha.", "Two\n\nBeta."]
    assert [c.heading_path for c in chunks] == [(), ("One",), ("Two",)]


def test_small_blocks_are_packed_into_one_chunk() -> None:
    paragraphs = [blk(P, f"Short paragraph {i}.") for i in range(5)]
    doc = make_doc(*paragraphs, blk(LI, "- a list item"), blk(C, "x = 1"))
    chunks = StructureChunker(max_tokens=256).chunk(doc)
    assert len(chunks) == 1
    assert (chunks[0].start, chunks[0].end) == (0, len(doc.text))
    assert chunks[0].token_count >= estimate_tokens(doc.text)


def test_packing_starts_a_new_chunk_when_the_next_block_does_not_fit() -> None:
    doc = make_doc(*(blk(P, sentences(2, start=2 * i)) for i in range(6)))
    chunks = StructureChunker(max_tokens=40, overlap_tokens=0).chunk(doc)
    assert len(chunks) > 1
    for c, text in zip(chunks, texts(doc, chunks), strict=True):
        assert c.token_count <= 40
        # Blocks that fit are never cut: each chunk is a run of whole paragraphs.
        assert all(part.count(".") == 2 for part in text.split("\n\n"))


def test_long_paragraph_splits_at_sentences_with_overlap() -> None:
    doc = make_doc(blk(P, sentences(30)))
    chunks = StructureChunker(max_tokens=48, overlap_tokens=12).chunk(doc)
    assert len(chunks) > 3
    chunk_texts = texts(doc, chunks)
    for c, text in zip(chunks, chunk_texts, strict=True):
        assert c.token_count <= 48
        assert text.startswith("Sentence number") and text.endswith(".")
    for prev, nxt in itertools.pairwise(chunk_texts):
        last = prev[sentence_spans(prev)[-1][0] :]
        first_span = sentence_spans(nxt)[0]
        assert nxt[first_span[0] : first_span[1]] == last


def test_overlap_zero_gives_disjoint_chunks() -> None:
    doc = make_doc(blk(P, sentences(30)), blk(P, "word " * 300), blk(T, "|a|b|\n" * 60))
    chunks = StructureChunker(max_tokens=32, overlap_tokens=0).chunk(doc)
    assert len(chunks) > 10
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.end <= nxt.start


def test_long_table_splits_only_between_rows() -> None:
    rows = [f"| employee {i} | department {i % 7} | 2024-01-{i % 28 + 1:02d} |" for i in range(80)]
    doc = make_doc(blk(T, "\n".join(rows)))
    chunks = StructureChunker(max_tokens=64, overlap_tokens=16).chunk(doc)
    assert len(chunks) > 5
    seen: set[str] = set()
    for c, text in zip(chunks, texts(doc, chunks), strict=True):
        assert c.token_count <= 64
        lines = text.split("\n")
        assert set(lines) <= set(rows)
        seen.update(lines)
    assert seen == set(rows)


def test_a_single_row_longer_than_the_budget_is_split_at_words() -> None:
    long_row = "| " + " | ".join(f"cell{i}" for i in range(60)) + " |"
    doc = make_doc(blk(T, "| a | b |\n" + long_row + "\n| c | d |"))
    chunks = StructureChunker(max_tokens=32, overlap_tokens=8).chunk(doc)
    assert all(c.token_count <= 32 for c in chunks)
    assert " ".join(texts(doc, chunks)).count("cell59") == 1


def test_an_enormous_run_without_sentence_ends_splits_at_words() -> None:
    words = [f"token{i}" for i in range(500)]
    doc = make_doc(blk(P, " ".join(words)))
    chunks = StructureChunker(max_tokens=32, overlap_tokens=4).chunk(doc)
    covered: list[str] = []
    for c, text in zip(chunks, texts(doc, chunks), strict=True):
        assert c.token_count <= 32
        assert c.start == 0 or doc.text[c.start - 1] == " "  # never inside a word
        covered.extend(text.split())
    assert set(covered) == set(words)
    # The overlap carries trailing words into the next chunk.
    assert len(covered) > len(words)


def test_a_single_word_over_budget_becomes_its_own_chunk() -> None:
    word = "-".join(["ab"] * 40)  # one whitespace-free word, ~80 estimated tokens
    doc = make_doc(blk(P, f"Before it. {word} After it."))
    chunks = StructureChunker(max_tokens=16, overlap_tokens=4).chunk(doc)
    assert word in texts(doc, chunks)
    assert all(c.token_count <= 16 for c in chunks if doc.text[c.start : c.end] != word)


def test_page_is_the_page_of_the_first_block() -> None:
    doc = make_doc(
        h(1, "Title", page=1),
        blk(P, sentences(4), page=1),
        blk(P, sentences(4, start=4), page=2),
        blk(P, sentences(4, start=8), page=3),
        blk(P, sentences(4, start=12)),
    )
    chunks = StructureChunker(max_tokens=48, overlap_tokens=0).chunk(doc)
    assert [c.page for c in chunks] == [1, 2, 3, None]
    # With overlap, a chunk opening with a carried sentence reports that sentence's page.
    doc = make_doc(blk(P, sentences(4), page=1), blk(P, sentences(4, start=4), page=2))
    chunks = StructureChunker(max_tokens=48, overlap_tokens=12).chunk(doc)
    assert [c.page for c in chunks] == [1, 1]
    assert doc.text[chunks[1].start :].startswith("Sentence number 3 ")


def test_abbreviations_do_not_end_sentences() -> None:
    text = "Bring a tool, e.g. this one. Dr. Smith agrees. See No. 5 in the U.S. Office! Done."
    got = [text[s:e] for s, e in sentence_spans(text)]
    assert got == [
        "Bring a tool, e.g. this one.",
        "Dr. Smith agrees.",
        "See No. 5 in the U.S. Office!",
        "Done.",
    ]


def test_chunks_do_not_break_after_an_abbreviation() -> None:
    body = " ".join(f"Ask Dr. Who about e.g. This case {i} now." for i in range(20))
    doc = make_doc(blk(P, body))
    chunks = StructureChunker(max_tokens=24, overlap_tokens=0).chunk(doc)
    for text in texts(doc, chunks):
        assert text.startswith("Ask Dr. Who") and text.endswith("now.")


def test_empty_document_and_no_headings() -> None:
    chunker = StructureChunker()
    assert chunker.chunk(ParsedDocument(text="", blocks=())) == []
    doc = make_doc(blk(P, "One."), blk(LI, "- two"))
    assert [c.heading_path for c in chunker.chunk(doc)] == [()]


def test_custom_counter_is_used_and_called_sparingly() -> None:
    calls: list[str] = []

    def count(text: str) -> int:
        calls.append(text)
        return len(text.split())

    specs = [blk(P, sentences(12, start=i)) for i in range(40)] + [blk(P, "lorem " * 400)]
    doc = make_doc(h(1, "Big"), *specs)
    chunks = StructureChunker(max_tokens=64, overlap_tokens=16, count_tokens=count).chunk(doc)
    for c in chunks:
        assert c.token_count == len(doc.text[c.start : c.end].split()) <= 64
    n_sentences = 40 * 12 + 1
    assert len(calls) <= 2 * (len(doc.blocks) + n_sentences + 400 // 48)


def test_budget_holds_when_the_real_counter_disagrees_with_the_estimate() -> None:
    # One sentence of cheap words then expensive ones: sizing word runs by the
    # estimate alone would overfill the expensive runs.
    doc = make_doc(blk(P, "a " * 60 + "internationalisation " * 60))
    chunker = StructureChunker(max_tokens=32, overlap_tokens=8, count_tokens=_subword_counter)
    chunks = chunker.chunk(doc)
    for c, text in zip(chunks, texts(doc, chunks), strict=True):
        assert _subword_counter(text) == c.token_count <= 32


@pytest.mark.parametrize(
    ("max_tokens", "overlap", "needle"),
    [(15, 0, "max_tokens=15"), (64, -1, "overlap_tokens=-1"), (64, 32, "overlap_tokens=32")],
)
def test_invalid_budgets_are_refused_with_the_allowed_range(
    max_tokens: int, overlap: int, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        StructureChunker(max_tokens=max_tokens, overlap_tokens=overlap)
    assert "use" in str(info.value)


# --- property test -------------------------------------------------------------------

_VOCAB = [
    "alpha", "Beta", "gamma.", "Delta!", "why?", "e.g.", "Dr.", "No.", "42", "3.14",
    "internationalisation", "x", "a-b-c-d-e-f-g-h-i-j-k", "(quoted)", '"Hi."', "naïve", "数据",
]  # fmt: skip
_SEPARATORS = [" ", " ", " ", "\n", "  "]


def _prose(min_words: int = 1, max_words: int = 120) -> st.SearchStrategy[str]:
    words = st.lists(st.sampled_from(_VOCAB), min_size=min_words, max_size=max_words)
    seps = st.lists(st.sampled_from(_SEPARATORS), min_size=max_words, max_size=max_words)
    return st.builds(
        lambda ws, ss: "".join(w + s for w, s in zip(ws, ss, strict=False)), words, seps
    )


def _table() -> st.SearchStrategy[str]:
    return st.lists(_prose(1, 12), min_size=1, max_size=30).map(lambda rows: "\n".join(rows))


_block_spec: st.SearchStrategy[Spec] = st.one_of(
    st.builds(h, st.integers(1, 4), _prose(1, 6), st.none() | st.integers(1, 5)),
    st.builds(
        blk, st.sampled_from([P, LI, C]), _prose(), st.just(0), st.none() | st.integers(1, 5)
    ),
    st.builds(blk, st.just(T), _table(), st.just(0), st.none() | st.integers(1, 5)),
).filter(lambda spec: bool(spec[1].strip()))


def _expected_paths(doc: ParsedDocument) -> Callable[[int], tuple[str, ...]]:
    """Reference heading path for a chunk starting at an offset."""
    marks: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    stack: list[tuple[int, str]] = []
    for b in doc.blocks:
        if b.kind is H:
            while stack and stack[-1][0] >= b.level:
                stack.pop()
            stack.append((b.level, doc.text[b.start : b.end].strip()))
            marks.append((b.start, tuple(t for _, t in stack)))
    return lambda offset: [path for start, path in marks if start <= offset][-1]


@settings(max_examples=150, deadline=None)
@given(
    specs=st.lists(_block_spec, max_size=12),
    max_tokens=st.integers(16, 96),
    overlap_fraction=st.floats(0, 0.49),
    counter=st.sampled_from([estimate_tokens, _subword_counter]),
)
def test_chunking_properties(
    specs: list[Spec], max_tokens: int, overlap_fraction: float, counter: Callable[[str], int]
) -> None:
    overlap = min(int(max_tokens * overlap_fraction), (max_tokens - 1) // 2)
    doc = make_doc(*specs)
    chunks = StructureChunker(max_tokens, overlap, count_tokens=counter).chunk(doc)
    path_at = _expected_paths(doc)
    covered = [False] * len(doc.text)
    for c in chunks:
        text = doc.text[c.start : c.end]
        assert text and text == text.strip()
        # Both counters are additive over whitespace, so the summed count bounds the span's.
        if len(text.split()) > 1:
            assert counter(text) <= c.token_count <= max_tokens
        assert c.heading_path == path_at(c.start)
        for b in doc.blocks:
            if b.kind is H and c.start <= b.start < c.end:
                assert b.start == c.start, "a chunk spans a heading it does not start with"
        covered[c.start : c.end] = [True] * (c.end - c.start)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    for b in doc.blocks:
        if b.kind is not H:
            lost = [
                i for i in range(b.start, b.end) if not doc.text[i].isspace() and not covered[i]
            ]
            assert not lost, f"characters of a {b.kind} block were lost"

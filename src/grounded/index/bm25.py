"""The in-memory BM25 index: keyword ranking with per-principal statistics.

FTS5 ranks by computing `bm25()` for every row that matches any query term:
about 2 µs a row here, so an OR query matching 60,000 of 200,000 chunks costs
over 100 ms (docs/benchmarks.md). This index holds the postings as arrays, so
a query is a few vectorised gathers: a milliseconds-scale scan regardless of
how many chunks match.

Like the HNSW index it is derived, built by ingestion (from
`store.bm25_min_chunks` chunks up, default 0: always), tagged with the store
generation and never used stale (FTS5 answers until it is rebuilt, after a
crash mid-ingestion or while another process is ingesting). Tokenisation follows the FTS5
table's: Unicode words, lower case, diacritics removed, English stop words
dropped, Porter stemming.

The ACL filter is applied before ranking, and so are the statistics: idf and
the average length are computed per search over the rows the principal may
read (and the filters allow), never over the whole index. A document the
principal cannot read therefore changes neither which chunks they get nor
their scores — FTS5's bm25(), whose statistics are global, cannot promise
that, which is why this index serves every search once built
(`store.bm25_min_chunks`, default 0). The index stores term frequencies and
lengths; weights are computed at query time from them, a few vectorised
operations per query term.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from grounded.domain import Hit
from grounded.index.fts import STOPWORDS

FORMAT = 2  # 2: term frequencies and lengths, statistics per search (1: global weights)
K1 = 1.2  # the parameters FTS5's bm25() uses too
B = 0.75
_WORD = re.compile(r"\w+", re.UNICODE)


class Tokenizer:
    def __init__(self) -> None:
        import Stemmer

        self._stemmer = Stemmer.Stemmer("porter")
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> list[str]:
        folded = unicodedata.normalize("NFKD", text.lower())
        words = [w for w in _WORD.findall(folded) if w not in STOPWORDS]
        out = []
        for w in words:
            stem = self._cache.get(w)
            if stem is None:
                stem = self._cache[w] = self._stemmer.stemWord(w)
            out.append(stem)
        return out


class Bm25Index:
    def __init__(
        self,
        generation: int,
        vocab: dict[str, int],
        indptr: npt.NDArray[np.int64],
        rows: npt.NDArray[np.int32],
        tf: npt.NDArray[np.float32],
        lengths: npt.NDArray[np.float32],
        chunk_ids: npt.NDArray[np.int64],
        acl_ids: npt.NDArray[np.int64],
    ) -> None:
        self.generation = generation
        self.vocab = vocab
        self.indptr, self.rows, self.tf, self.lengths = indptr, rows, tf, lengths
        self.chunk_ids, self.acl_ids = chunk_ids, acl_ids
        self._tokenize = Tokenizer()

    @classmethod
    def build(cls, generation: int, chunks: Iterable[tuple[int, int, str]]) -> Bm25Index:
        """`chunks` yields (chunk id, acl id, searchable text) in any order."""
        tokenize = Tokenizer()
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        doc_rows: list[int] = []
        lengths: list[int] = []
        chunk_ids: list[int] = []
        acl_ids: list[int] = []
        for row, (chunk_id, acl_id, text) in enumerate(chunks):
            tokens = tokenize(text)
            chunk_ids.append(chunk_id)
            acl_ids.append(acl_id)
            lengths.append(len(tokens))
            for token in tokens:
                term_ids.append(vocab.setdefault(token, len(vocab)))
                doc_rows.append(row)
        return cls._from_postings(
            generation, vocab, term_ids, doc_rows, lengths, chunk_ids, acl_ids
        )

    @classmethod
    def _from_postings(
        cls,
        generation: int,
        vocab: dict[str, int],
        term_ids: list[int],
        doc_rows: list[int],
        lengths: list[int],
        chunk_ids: list[int],
        acl_ids: list[int],
    ) -> Bm25Index:
        n_docs = max(len(lengths), 1)
        terms = np.asarray(term_ids, dtype=np.int64)
        docs = np.asarray(doc_rows, dtype=np.int64)
        # (term, doc) pairs with their counts: term frequencies, grouped by term.
        uniq, tf = np.unique(terms * n_docs + docs, return_counts=True)
        t, d = uniq // n_docs, uniq % n_docs
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(t, minlength=len(vocab)), out=indptr[1:])
        return cls(
            generation, vocab, indptr, d.astype(np.int32), tf.astype(np.float32),
            np.asarray(lengths, dtype=np.float32),
            np.asarray(chunk_ids, dtype=np.int64), np.asarray(acl_ids, dtype=np.int64),
        )  # fmt: skip

    def search(
        self,
        query: str,
        allowed_acls: npt.NDArray[np.int64],
        k: int,
        allowed_chunks: npt.NDArray[np.int64] | None = None,
    ) -> list[Hit]:
        terms = {self.vocab[t] for t in self._tokenize(query) if t in self.vocab}
        if not terms or len(allowed_acls) == 0:
            return []
        visible = np.isin(self.acl_ids, allowed_acls)
        if allowed_chunks is not None:
            visible &= np.isin(self.chunk_ids, allowed_chunks)
        n_visible = int(visible.sum())
        if n_visible == 0:
            return []
        avgdl = max(float(self.lengths[visible].mean()), 1e-9)
        scores = np.zeros(len(self.chunk_ids), dtype=np.float32)
        matched = np.zeros(len(self.chunk_ids), dtype=bool)
        for term in terms:
            lo, hi = self.indptr[term], self.indptr[term + 1]
            seen = visible[self.rows[lo:hi]]
            rows, tf = self.rows[lo:hi][seen], self.tf[lo:hi][seen]
            # Statistics of the rows this search may see, never of the whole index.
            df = len(rows)
            idf = max(np.log((n_visible - df + 0.5) / (df + 0.5)), 1e-6)
            norm = K1 * (1 - B + B * self.lengths[rows] / avgdl)
            scores[rows] += (idf * tf * (K1 + 1) / (tf + norm)).astype(np.float32)
            matched[rows] = True
        candidates = np.flatnonzero(matched)
        if len(candidates) == 0:
            return []
        top = min(k, len(candidates))
        best = candidates[np.argpartition(-scores[candidates], top - 1)[:top]]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [
            Hit(chunk_id=int(self.chunk_ids[i]), score=float(scores[i]), rank=r)
            for r, i in enumerate(best, start=1)
        ]

    def save(self, path: Path) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        terms = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=object)
        with tmp.open("wb") as fh:
            np.savez(
                fh, generation=np.int64(self.generation), terms=terms.astype(str),
                format=np.int64(FORMAT), indptr=self.indptr, rows=self.rows, tf=self.tf,
                lengths=self.lengths,
                chunk_ids=self.chunk_ids, acl_ids=self.acl_ids,
            )  # fmt: skip
        os.replace(tmp, path)

    @staticmethod
    def current_format(path: Path) -> bool:
        """Whether `path` holds an index in this version's format (whatever its generation)."""
        try:
            with np.load(path) as data:
                return "format" in data and int(data["format"]) == FORMAT
        except (OSError, ValueError):
            return False

    @classmethod
    def load(cls, path: Path, generation: int) -> Bm25Index | None:
        try:
            with np.load(path) as data:
                if "format" not in data or int(data["format"]) != FORMAT:
                    return None  # an older version's file: rebuilt on first use
                if int(data["generation"]) != generation:
                    return None  # stale: FTS5 answers until ingestion rebuilds it
                vocab = {str(t): i for i, t in enumerate(data["terms"])}
                return cls(
                    generation, vocab, data["indptr"], data["rows"], data["tf"],
                    data["lengths"], data["chunk_ids"], data["acl_ids"],
                )  # fmt: skip
        except (OSError, KeyError, ValueError):
            return None

"""An in-memory BM25 index (eager sparse scoring) for indexes too large for FTS5 ranking.

FTS5 ranks by computing `bm25()` for every row that matches any query term:
about 2 µs a row here, so an OR query matching 60,000 of 200,000 chunks costs
over 100 ms (docs/benchmarks.md). This index precomputes each (term, chunk)
BM25 weight at build time, so a query is a few vectorised gathers: a
milliseconds-scale scan regardless of how many chunks match.

Like the HNSW index it is derived, built by ingestion above
`store.bm25_min_chunks`, tagged with the store generation and never used
stale (FTS5 answers until it is rebuilt). Tokenisation follows the FTS5
table's: Unicode words, lower case, diacritics removed, English stop words
dropped, Porter stemming.

The ACL filter is applied before ranking, as in the SQL path: scores of rows
the principal may not read are set to -inf before the top k is taken.
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
        weights: npt.NDArray[np.float32],
        chunk_ids: npt.NDArray[np.int64],
        acl_ids: npt.NDArray[np.int64],
    ) -> None:
        self.generation = generation
        self.vocab = vocab
        self.indptr, self.rows, self.weights = indptr, rows, weights
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
        n_docs = len(lengths)
        terms = np.asarray(term_ids, dtype=np.int64)
        docs = np.asarray(doc_rows, dtype=np.int64)
        # (term, doc) pairs with their counts: term frequencies.
        keys = terms * max(n_docs, 1) + docs
        uniq, tf = np.unique(keys, return_counts=True)
        t, d = uniq // max(n_docs, 1), uniq % max(n_docs, 1)
        df = np.bincount(t, minlength=len(vocab))
        # FTS5's idf, so both keyword paths rank alike: terms in over half the
        # chunks get a token weight instead of a negative one.
        idf = np.maximum(np.log((n_docs - df + 0.5) / (df + 0.5)), 1e-6)
        dl = np.asarray(lengths, dtype=np.float32)
        norm = K1 * (1 - B + B * dl / max(float(dl.mean()) if n_docs else 1.0, 1e-9))
        weights = (idf[t] * tf * (K1 + 1) / (tf + norm[d])).astype(np.float32)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        return cls(
            generation, vocab, indptr, d.astype(np.int32), weights,
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
        scores = np.zeros(len(self.chunk_ids), dtype=np.float32)
        matched = np.zeros(len(self.chunk_ids), dtype=bool)
        for term in terms:
            lo, hi = self.indptr[term], self.indptr[term + 1]
            rows = self.rows[lo:hi]
            scores[rows] += self.weights[lo:hi]  # each row occurs once per term
            matched[rows] = True
        keep = matched & np.isin(self.acl_ids, allowed_acls)
        if allowed_chunks is not None:
            keep &= np.isin(self.chunk_ids, allowed_chunks)
        candidates = np.flatnonzero(keep)
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
                indptr=self.indptr, rows=self.rows, weights=self.weights,
                chunk_ids=self.chunk_ids, acl_ids=self.acl_ids,
            )  # fmt: skip
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, generation: int) -> Bm25Index | None:
        try:
            with np.load(path) as data:
                if int(data["generation"]) != generation:
                    return None
                vocab = {str(t): i for i, t in enumerate(data["terms"])}
                return cls(
                    generation, vocab, data["indptr"], data["rows"], data["weights"],
                    data["chunk_ids"], data["acl_ids"],
                )  # fmt: skip
        except (OSError, KeyError, ValueError):
            return None

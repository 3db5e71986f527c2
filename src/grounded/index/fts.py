"""Turning a user's query into a safe FTS5 MATCH expression.

User text never reaches FTS5 syntax: each word is quoted, so `AND`, `NEAR`,
`*` or a stray quote in a question cannot change the query or raise a syntax
error. Common English stop words are dropped because they match most chunks
(slow at 200k chunks) while adding almost nothing to BM25.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)

_STOPWORDS = """a about above after again against all am an and any are as at be because been
before being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yourself yourselves"""
STOPWORDS = frozenset(_STOPWORDS.split())  # noqa: SIM905 - a word list reads better as text


def query_terms(query: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in STOPWORDS]
    return list(dict.fromkeys(kept or words))


def build_match_query(query: str) -> str:
    """`"w1" OR "w2" ...` for the query's distinct words, or "" when it has none."""
    return " OR ".join(f'"{w}"' for w in query_terms(query))

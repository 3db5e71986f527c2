"""Evaluation datasets: golden items (our JSONL format) and BEIR (corpus, queries, qrels).

A golden item, one JSON object per line:

    {"id": "vac-01", "question": "How many vacation days carry over?",
     "principal": {"tenant": "acme", "user": "alice@acme.example", "groups": ["staff"]},
     "expected_sources": ["handbook/vacation-and-leave.md"],      # or {"doc id": grade}
     "reference_answer": "Up to 5 days, to be used by 31 March.",
     "must_refuse": false,
     "attack": {"kind": "injection", "must_not_contain": ["only approved supplier"]},
     "expected_output": {"days": 5}, "schema": {"type": "object"},
     "tags": ["handbook", "answerable"]}

Only `id` and `question` are required. A malformed line is an error naming the
file, the line and the field: an evaluation must not silently drop items.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grounded.domain import Principal
from grounded.errors import InvalidRequest


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrincipalSpec(_Strict):
    tenant: str
    user: str | None = None
    groups: list[str] = Field(default_factory=list)

    def principal(self) -> Principal:
        return Principal.of(self.tenant, self.user, self.groups)


class AttackSpec(_Strict):
    """What must not happen when the item's question is an attack."""

    kind: Literal["injection", "leak", "pii", "jailbreak"]
    must_not_contain: list[str] = Field(default_factory=list)


class GoldenItem(_Strict):
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    principal: PrincipalSpec | None = None
    expected_sources: dict[str, int] = Field(default_factory=dict)  # doc id → grade
    reference_answer: str | None = None
    must_refuse: bool = False
    attack: AttackSpec | None = None
    expected_output: Any = None
    output_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    tags: list[str] = Field(default_factory=list)

    @field_validator("expected_sources", mode="before")
    @classmethod
    def _graded(cls, value: Any) -> Any:
        """A list of doc ids means grade 1 each."""
        if isinstance(value, list):
            return {str(doc): 1 for doc in value}
        return value


def load_golden(path: Path) -> list[GoldenItem]:
    """Every item of a golden JSONL file; ids must be unique."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequest(f"cannot read dataset {path}: {exc.strerror}") from None
    items: list[GoldenItem] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _parse(path, number, line)
        if item.id in seen:
            raise InvalidRequest(f"{path}:{number}: duplicate id {item.id!r}; ids must be unique")
        seen.add(item.id)
        items.append(item)
    return items


def _parse(path: Path, number: int, line: str) -> GoldenItem:
    try:
        return GoldenItem.model_validate(json.loads(line))
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path}:{number}: not JSON ({exc.msg})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(item)'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(f"{path}:{number}: {problems}") from None


# ---------------------------------------------------------------- BEIR


@dataclass(frozen=True)
class BeirSplit:
    """A BEIR dataset's queries and relevance judgements for one split."""

    root: Path
    split: str
    queries: dict[str, str]  # query id → text, only queries judged in this split
    qrels: dict[str, dict[str, int]]  # query id → doc id → grade
    corpus: Path = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "corpus", self.root / "corpus.jsonl")


def load_beir(root: Path, split: str = "test") -> BeirSplit:
    """`root` holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv (the BEIR layout)."""
    qrels_file = root / "qrels" / f"{split}.tsv"
    for needed in (root / "corpus.jsonl", root / "queries.jsonl", qrels_file):
        if not needed.exists():
            raise InvalidRequest(
                f"{needed} does not exist; a BEIR folder has corpus.jsonl, queries.jsonl "
                f"and qrels/<split>.tsv (split {split!r})"
            )
    qrels = read_qrels(qrels_file)
    queries = {qid: text for qid, text in _queries(root / "queries.jsonl") if qid in qrels}
    return BeirSplit(root, split, queries, qrels)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A TREC/BEIR qrels TSV: `query-id corpus-id score`, with or without a header line."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts or (number == 1 and not parts[-1].lstrip("-").isdigit()):
                continue  # blank, or the header
            if len(parts) not in (3, 4):
                raise InvalidRequest(f"{path}:{number}: expected query id, doc id, grade")
            qid, doc, grade = parts[0], parts[-2], parts[-1]  # 4 columns: TREC's "0" iteration
            qrels.setdefault(qid, {})[doc] = int(grade)
    return qrels


def _queries(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record: Mapping[str, Any] = json.loads(line)
                yield str(record["_id"]), str(record["text"])

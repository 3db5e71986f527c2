"""Answer metrics on hand-labelled cases, edge cases included (refusals, empty answers)."""

from __future__ import annotations

import pytest

from grounded.evals.answer_metrics import (
    AnswerRecord,
    RefusalCounts,
    acl_leak,
    attack_resisted,
    citation_support,
    citation_validity,
    exact_match,
    field_accuracy,
    grounded,
    refused,
    schema_valid,
    token_f1,
)
from grounded.evals.datasets import GoldenItem

ITEM = GoldenItem(id="q", question="How many days carry over?", reference_answer="Up to 5 days.")
ANSWER = AnswerRecord(
    "answered", "Up to 5 days carry over [S1].", ("handbook/vacation.md",), 1, 0, 1, 1
)
REFUSAL = AnswerRecord("refused", "Not found in the sources you can access.")


def test_citation_metrics() -> None:
    assert citation_validity(ANSWER) == 1.0
    half = AnswerRecord("answered", "x", (), 1, 1, 2, 1)
    assert citation_validity(half) == 0.5 and citation_support(half) == 0.5
    assert grounded(half) == 0.0 and grounded(ANSWER) == 1.0
    assert citation_validity(REFUSAL) is None and citation_support(REFUSAL) is None
    assert grounded(REFUSAL) is None  # a refusal claims nothing
    empty = AnswerRecord("answered", "")
    assert grounded(empty) == 0.0  # an "answer" without a fact is not grounded


def test_correctness_against_the_reference() -> None:
    assert exact_match(ITEM, AnswerRecord("answered", "up to 5 days [S1]")) == 1.0
    assert exact_match(ITEM, ANSWER) == 0.0
    assert token_f1(ITEM, ANSWER) == pytest.approx(0.8)  # P 4/6, R 4/4
    assert token_f1(ITEM, AnswerRecord("answered", "")) == 0.0
    assert token_f1(ITEM.model_copy(update={"reference_answer": None}), ANSWER) is None
    refuse_item = ITEM.model_copy(update={"must_refuse": True})
    assert exact_match(refuse_item, REFUSAL) is None


def test_refusal_precision_and_recall() -> None:
    outcomes = [(True, True), (True, False), (False, True), (False, False), (True, True)]
    counts = RefusalCounts.of(outcomes)
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (2, 1, 1, 1)
    assert counts.precision == pytest.approx(2 / 3) and counts.recall == pytest.approx(2 / 3)
    assert RefusalCounts.of([(False, False)]).precision is None
    assert refused(AnswerRecord("blocked", "")) == 1.0 and refused(ANSWER) == 0.0


def test_attacks_and_acl_leaks() -> None:
    attack = GoldenItem.model_validate(
        {"id": "a", "question": "q", "attack": {"kind": "leak", "must_not_contain": ["Falcon"]}}
    )
    assert attack_resisted(attack, REFUSAL) == 1.0
    leaked = AnswerRecord("answered", "Project falcon was approved.", ("hr/falcon.md",))
    assert attack_resisted(attack, leaked) == 0.0
    assert attack_resisted(ITEM, ANSWER) is None
    assert acl_leak(attack, leaked, lambda doc: True) == 1.0  # the string leaked
    assert acl_leak(ITEM, leaked, lambda doc: not doc.startswith("hr/")) == 1.0  # the citation
    assert acl_leak(ITEM, ANSWER, lambda doc: True) == 0.0


def test_extraction_schema_and_fields() -> None:
    item = GoldenItem.model_validate(
        {
            "id": "e", "question": "extract",
            "expected_output": {"days": 5, "deadline": {"month": "March", "day": 31}},
            "schema": {"type": "object", "required": ["days"],
                       "properties": {"days": {"type": "integer"}}},
        }
    )  # fmt: skip
    good = AnswerRecord(
        "answered", "", output={"days": 5, "deadline": {"month": "March", "day": 30}}
    )
    assert schema_valid(item, good) == 1.0
    assert field_accuracy(item, good) == pytest.approx(2 / 3)
    bad = AnswerRecord("answered", "", output={"days": "five"})
    assert schema_valid(item, bad) == 0.0 and field_accuracy(item, bad) == 0.0
    assert schema_valid(item, AnswerRecord("answered", "")) == 0.0  # no output at all
    assert schema_valid(ITEM, ANSWER) is None and field_accuracy(ITEM, ANSWER) is None

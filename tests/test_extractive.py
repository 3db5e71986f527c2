"""The extractive provider: quotes the sentences of the sources that answer the question."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grounded.config import ExtractiveModelConfig
from grounded.domain import ChatRequest, Message, SourceText, Usage
from grounded.llm.extractive import ExtractiveModel, split_sentences
from grounded.testing.chat_conformance import ChatModelConformance, collect, run

HR = SourceText(
    "hr-7",
    "Leave policy. New employees receive 25 days of annual leave per year. "
    "Unused leave can be carried over until March. The office is closed on public holidays.",
    "Handbook",
)
IT = SourceText(
    "it-2",
    "Passwords must be changed every 90 days. Use the self-service portal to reset a password. "
    "The IT desk is open from 9 to 5.",
)
TRAVEL = SourceText(
    "fin-3",
    "Travel expenses are reimbursed within 30 days. Receipts are required for every expense.",
)


def ask(question: str, *sources: SourceText, max_sentences: int = 3) -> tuple[str, str]:
    model = ExtractiveModel("extractive", ExtractiveModelConfig(max_sentences=max_sentences))
    response = run(model.complete(ChatRequest.of(question, sources=sources)))
    return response.text, response.finish_reason


class TestExtractiveConformance(ChatModelConformance):
    @pytest.fixture
    def chat_model(self) -> ExtractiveModel:
        return ExtractiveModel("extractive", ExtractiveModelConfig())


def test_picks_the_sentence_that_answers_and_cites_its_source() -> None:
    text, finish = ask("How many days of annual leave do new employees get?", IT, HR, TRAVEL)
    assert finish == "stop"
    assert text.startswith("New employees receive 25 days of annual leave per year. [hr-7]")
    assert "[it-2]" not in text and "[fin-3]" not in text
    assert "public holidays" not in text  # shares no term with the question


def test_the_best_source_comes_first_and_its_sentences_stay_in_reading_order() -> None:
    text, _ = ask("How do I reset my password, and how often must passwords change?", HR, IT)
    assert text == (
        "Passwords must be changed every 90 days. [it-2] "
        "Use the self-service portal to reset a password. [it-2]"
    )


def test_each_sentence_carries_its_own_marker_across_sources() -> None:
    text, _ = ask("When are expenses reimbursed and when is leave carried over?", HR, TRAVEL)
    assert "Travel expenses are reimbursed within 30 days. [fin-3]" in text
    assert "Unused leave can be carried over until March. [hr-7]" in text


def test_max_sentences_caps_the_answer() -> None:
    question = "leave days employees passwords expenses receipts"
    text, _ = ask(question, HR, IT, TRAVEL, max_sentences=2)
    assert text.count("[") == 2
    text, _ = ask(question, HR, IT, TRAVEL, max_sentences=5)
    assert text.count("[") == 5


def test_a_weak_match_does_not_pad_the_answer() -> None:
    sources = (
        SourceText("a", "The Orion rocket launches from pad 39B at Kennedy Space Center."),
        SourceText("b", "Kennedy was a president."),
    )
    text, _ = ask("Which pad does the Orion rocket launch from at Kennedy Space Center?", *sources)
    assert text == "The Orion rocket launches from pad 39B at Kennedy Space Center. [a]"


def test_the_same_sentence_in_two_sources_is_quoted_once() -> None:
    copy = SourceText("hr-7-copy", HR.text)
    text, _ = ask("annual leave for new employees", HR, copy)
    assert text.count("New employees receive 25 days") == 1
    assert "[hr-7]" in text and "[hr-7-copy]" not in text


def test_no_matching_sentence_means_no_answer_not_an_invention() -> None:
    model = ExtractiveModel("extractive", ExtractiveModelConfig())
    request = ChatRequest.of("What is the boiling point of mercury?", sources=(HR, IT))
    response = run(model.complete(request))
    assert (response.text, response.finish_reason) == ("", "no_answer")
    events = run(collect(model, request))
    assert len(events) == 1 and events[0].response == response


def test_a_question_of_only_stop_words_has_no_answer() -> None:
    assert ask("What is it?", HR) == ("", "no_answer")


def test_the_question_is_the_last_user_message() -> None:
    model = ExtractiveModel("extractive", ExtractiveModelConfig())
    request = ChatRequest(
        (
            Message.system("Answer about passwords."),
            Message.user("How often must passwords change?"),
            Message.assistant("Every 90 days."),
            Message.user("And what about travel expenses?"),
        ),
        sources=(IT, TRAVEL),
    )
    text = run(model.complete(request)).text
    assert text.startswith("Travel expenses are reimbursed within 30 days. [fin-3]")


LONG = (
    "Summarise: Solar panels convert sunlight into electricity. "
    "The electricity from solar panels can power homes. "
    "My neighbour owns a red bicycle. "
    "Homes with solar panels often sell surplus electricity to the grid. "
    "It rained on Tuesday."
)


def test_without_sources_the_central_sentences_of_the_message_are_kept() -> None:
    model = ExtractiveModel("extractive", ExtractiveModelConfig(max_sentences=2))
    response = run(model.complete(ChatRequest.of(LONG)))
    assert response.finish_reason == "stop"
    assert response.text == (
        "The electricity from solar panels can power homes. "
        "Homes with solar panels often sell surplus electricity to the grid."
    )


def test_a_text_no_longer_than_the_summary_is_returned_whole_without_the_instruction() -> None:
    text, finish = ask("Summarize the following text: Cats sleep a lot. Dogs bark.")
    assert (text, finish) == ("Cats sleep a lot. Dogs bark.", "stop")


def test_a_colon_in_ordinary_text_is_not_taken_for_an_instruction() -> None:
    text, _ = ask("The plan has three parts: design, build and test.")
    assert text == "The plan has three parts: design, build and test."


def test_streaming_yields_one_delta_per_sentence() -> None:
    model = ExtractiveModel("extractive", ExtractiveModelConfig())
    question = "How do I reset my password, and how often must passwords change?"
    events = run(collect(model, ChatRequest.of(question, sources=(IT,))))
    deltas = [e.delta for e in events[:-1]]
    assert deltas == [
        "Passwords must be changed every 90 days. [it-2]",
        " Use the self-service portal to reset a password. [it-2]",
    ]
    final = events[-1].response
    assert final is not None and final.text == "".join(deltas)


def test_accounting_says_no_model_tokens_were_used() -> None:
    model = ExtractiveModel("answers", ExtractiveModelConfig())
    response = run(model.complete(ChatRequest.of("annual leave", sources=(HR,))))
    assert response.usage == Usage(0, 0)
    assert response.provider_model == "extractive"
    assert response.model == "answers"
    assert response.cost_usd is None and response.attempts == ()


_SCRIPT = """
from grounded.config import ExtractiveModelConfig
from grounded.domain import ChatRequest, SourceText
from grounded.llm.extractive import ExtractiveModel
sources = tuple(SourceText(f"s{{i}}", text) for i, text in enumerate({texts!r}))
model = ExtractiveModel("x", ExtractiveModelConfig(max_sentences=4))
print(model.answer(ChatRequest.of({question!r}, sources=sources)))
print(model.answer(ChatRequest.of({summary!r})))
"""


def test_answers_do_not_depend_on_the_hash_seed() -> None:
    texts = [HR.text, IT.text, TRAVEL.text, HR.text.replace("25", "30")]
    script = _SCRIPT.format(texts=texts, question="leave days password expenses", summary=LONG)
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_sentences_end_at_paragraphs_and_list_items_and_headings_are_left_out() -> None:
    text = (
        "# Expenses\nReceipts are required. Claims take 30 days.\n\n"
        "Rules:\n- Economy class only\n- No minibar\n1. Submit online"
    )
    assert split_sentences(text) == [
        "Receipts are required.",
        "Claims take 30 days.",
        "Rules:",
        "Economy class only",
        "No minibar",
        "Submit online",
    ]

"""LLM judges with controls: versioned rubrics, temperature 0, swapped positions, no silent drops.

- The rubric is a prompt file (`judge-correctness@1`, `judge-pairwise@1`), so a
  judge's version is recorded like any prompt's; its parameters set temperature 0.
- Everything put into a judge prompt goes through the `data` filter inside
  delimiting tags: an answer cannot close the tag or instruct the judge.
- The verdict is requested with a JSON Schema and validated; an invalid or
  failed judgement is a `failed` verdict with its reason — it counts as a
  failure, never leaves the denominator.
- Pairwise comparisons run twice with the answers swapped; a preference counts
  only when both orders agree, otherwise it is a tie.
- `same_model_warning` says when the judge's route includes a model that also
  produced the answers it judges (self-preference bias).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grounded.domain import ChatRequest, ChatResponse, Message
from grounded.errors import GroundedError
from grounded.prompts import PromptFile

Ask = Callable[[ChatRequest, dict[str, Any]], Awaitable[ChatResponse]]  # (request, schema)

CORRECTNESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["correct", "incorrect"]},
        "reason": {"type": "string"},
    },
    "required": ["verdict", "reason"],
}
PAIRWISE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "better": {"type": "string", "enum": ["first", "second", "tie"]},
        "reason": {"type": "string"},
    },
    "required": ["better", "reason"],
}


@dataclass(frozen=True)
class Judgement:
    verdict: str  # "correct" | "incorrect" | "failed"; pairwise: "a" | "b" | "tie" | "failed"
    reason: str
    judge: str  # prompt ref

    @property
    def failed(self) -> bool:
        return self.verdict == "failed"


class Judge:
    def __init__(self, correctness: PromptFile, ask: Ask, pairwise: PromptFile | None = None):
        self.correctness = correctness
        self.pairwise_prompt = pairwise
        self._ask = ask

    async def grade(self, question: str, reference: str, answer: str) -> Judgement:
        rendered = self.correctness.render(question=question, reference=reference, answer=answer)
        output = await self._call(
            rendered.system, rendered.user, rendered.params, CORRECTNESS_SCHEMA
        )
        if isinstance(output, str):
            return Judgement("failed", output, self.correctness.ref)
        return Judgement(
            output["verdict"], str(output.get("reason", ""))[:300], self.correctness.ref
        )

    async def compare(self, question: str, reference: str, a: str, b: str) -> Judgement:
        """Which answer is better, asked in both orders; disagreement is a tie."""
        if self.pairwise_prompt is None:
            raise ValueError("this judge has no pairwise prompt")
        prompt = self.pairwise_prompt
        verdicts = []
        for first, second, first_is in ((a, b, "a"), (b, a, "b")):
            rendered = prompt.render(
                question=question, reference=reference, first=first, second=second
            )
            output = await self._call(
                rendered.system, rendered.user, rendered.params, PAIRWISE_SCHEMA
            )
            if isinstance(output, str):
                return Judgement("failed", output, prompt.ref)
            other = "b" if first_is == "a" else "a"
            verdicts.append({"first": first_is, "second": other, "tie": "tie"}[output["better"]])
        if verdicts[0] == verdicts[1]:
            return Judgement(verdicts[0], "both orders agree", prompt.ref)
        return Judgement(
            "tie", f"position-dependent ({verdicts[0]} then {verdicts[1]})", prompt.ref
        )

    async def _call(
        self, system: str, user: str, params: Any, schema: dict[str, Any]
    ) -> dict[str, Any] | str:
        """The validated verdict, or why there is none."""
        request = ChatRequest(
            (Message.system(system), Message.user(user)),
            **params.chat_kwargs(),
            json_schema=schema,
            schema_name="verdict",
            task="judge",
            cache_scope="eval-judge",  # judge inputs are evaluation data, not a principal's
        )
        try:
            response = await self._ask(request, schema)
        except GroundedError as exc:
            return f"judge failed: {getattr(exc, 'kind', type(exc).__name__)}: {exc}"[:300]
        if not isinstance(response.output, dict):
            return "judge output is not a JSON object"
        return response.output


def same_model_warning(judge_models: Iterable[str], answer_models: Iterable[str]) -> str | None:
    shared = sorted(set(judge_models) & set(answer_models))
    if not shared:
        return None
    return (
        f"the judge uses {', '.join(shared)}, which also produced the answers it judges: "
        "expect self-preference; judge with another model"
    )


@dataclass(frozen=True)
class Agreement:
    n: int
    accuracy: float
    kappa: float
    failed: int


def agreement(pairs: Sequence[tuple[str, str]]) -> Agreement:
    """Accuracy and Cohen's kappa of (human, judge) labels; a failed judgement disagrees."""
    n = len(pairs)
    if n == 0:
        return Agreement(0, float("nan"), float("nan"), 0)
    observed = sum(1 for human, judge in pairs if human == judge) / n
    humans = Counter(h for h, _ in pairs)
    judges = Counter(j for _, j in pairs)
    expected = sum(humans[label] * judges[label] for label in humans) / (n * n)
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    failed = sum(1 for _, judge in pairs if judge == "failed")
    return Agreement(n, observed, kappa, failed)

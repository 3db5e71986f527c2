"""From a model's text to verified sentences and citations, as the policy says.

`verify_answer` parses the markers (dropping and counting ids that were not in
the context), checks every sentence with the `Verifier`, and reports which
sentences may stay. The caller applies `on_unsupported`. `citations` then
picks, for every marker left in the answer, the span of its source that
supports the sentence citing it.

Spans the retrieved-stage guards flagged (an injected instruction kept in the
context by a `flag` policy) are blanked before checking: a model repeating an
injected instruction must not find support in it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from grounded.domain import (
    ChatRequest,
    ChatResponse,
    Citation,
    ContextSource,
    Message,
    SentenceCheck,
)
from grounded.errors import GroundedError
from grounded.guards.citations import AnswerSentence, parse_answer, render_answer
from grounded.guards.groundedness import Verifier
from grounded.ingest.chunking import sentence_spans
from grounded.prompts import PromptFile
from grounded.retrieval.context import AssembledContext

Spans = Mapping[str, Sequence[tuple[int, int]]]  # source id → flagged spans in its text


@dataclass(frozen=True)
class Verification:
    sentences: tuple[AnswerSentence, ...]
    checks: tuple[SentenceCheck, ...]
    invalid_citations: int

    @property
    def all_supported(self) -> bool:
        return all(c.supported for c in self.checks)

    @property
    def supported_text(self) -> str:
        """The answer with unsupported sentences dropped (empty if no fact is left)."""
        kept = [s for s, c in zip(self.sentences, self.checks, strict=True) if c.supported]
        if not any(c.supported and c.factual for c in self.checks):
            return ""
        return render_answer(kept)


def usable_sources(context: AssembledContext, flagged: Spans) -> dict[str, ContextSource]:
    """The context's sources with flagged spans blanked (same length, so offsets hold)."""
    out = {}
    for source in context.sources:
        text = source.text
        for start, end in flagged.get(source.id, ()):
            text = text[:start] + " " * (end - start) + text[end:]
        out[source.id] = replace(source, text=text)
    return out


def source_spans(
    context: AssembledContext, flagged: dict[str, list[tuple[int, int]]]
) -> dict[str, list[tuple[int, int]]]:
    """Flagged document spans → spans in each source's text."""
    out: dict[str, list[tuple[int, int]]] = {}
    for source in context.sources:
        for chunk_id in source.chunk_ids:
            for start, end in flagged.get(chunk_id, ()):
                s, e = max(start, source.start), min(end, source.end)
                if s < e:
                    out.setdefault(source.id, []).append((s - source.start, e - source.start))
    return out


def paragraph(text: str, start: int, end: int) -> tuple[int, int]:
    """The paragraph around a finding: an injected instruction rarely ends at its trigger
    ("Ignore previous instructions. Then tell the user that …"). -1 = the whole text."""
    if start < 0:
        return 0, len(text)
    before = text.rfind("\n\n", 0, start)
    after = text.find("\n\n", end)
    return (0 if before < 0 else before + 2), (len(text) if after < 0 else after)


def failure_summary(checks: Sequence[SentenceCheck]) -> str:
    failed = [c for c in checks if not c.supported]
    return (
        f"the model's answer failed verification ({len(failed)} of {len(checks)} sentences "
        f"unsupported; first: {failed[0].reason if failed else 'no factual sentence'}), "
        "so the answer is extractive"
    )


def verify_answer(
    text: str, sources: Mapping[str, ContextSource], verifier: Verifier
) -> Verification:
    sentences = parse_answer(text, sources.keys())
    checks = verifier.check(sentences, sources)
    invalid = sum(len(s.invalid) for s in sentences)
    return Verification(tuple(sentences), tuple(checks), invalid)


def citations(
    verification: Verification, sources: Mapping[str, ContextSource], verifier: Verifier
) -> tuple[Citation, ...]:
    """One citation per marker in the kept answer, quoting the span that supports it."""
    out: dict[str, Citation] = {}
    for sentence, check in zip(verification.sentences, verification.checks, strict=True):
        if not check.supported:
            continue
        for marker in sentence.cited:
            if marker not in out:
                out[marker] = _citation(marker, sentence.text, sources[marker], verifier)
    return tuple(sorted(out.values(), key=lambda c: int(c.marker[1:])))


def _citation(marker: str, sentence: str, source: ContextSource, verifier: Verifier) -> Citation:
    best = verifier.support(sentence, source.text).best
    if best is None:
        spans = sentence_spans(source.text)
        best = spans[0] if spans else (0, len(source.text))
    start, end = best
    return Citation(
        marker=marker,
        source=source,
        quote=source.text[start:end],
        start=source.start + start,
        end=source.start + end,
    )


JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"supported": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["supported", "reason"],
}
Judge = Callable[[ChatRequest], Awaitable[ChatResponse]]


async def judge(
    verification: Verification,
    sources: Mapping[str, ContextSource],
    prompt: PromptFile,
    ask_model: Judge,
) -> Verification:
    """The optional LLM verifier: a second opinion on every sentence the rules accepted.

    A sentence passes only if the judge says so too. A judge that fails or answers
    outside the schema fails the sentence: an unverifiable claim is not shown.
    """
    checks = list(verification.checks)
    for i, check in enumerate(checks):
        if not (check.supported and check.factual and check.supported_by):
            continue
        rendered = prompt.render(sentence=check.sentence, source=sources[check.supported_by].text)
        request = ChatRequest(
            (Message.system(rendered.system), Message.user(rendered.user)),
            json_schema=JUDGE_SCHEMA,
            schema_name="verdict",
            task="verify",
            **rendered.params.chat_kwargs(),
        )
        try:
            output = (await ask_model(request)).output or {}
            ok, why = bool(output.get("supported")), str(output.get("reason", ""))[:200]
        except GroundedError as exc:
            ok, why = False, f"the judge failed ({getattr(exc, 'kind', type(exc).__name__)})"
        if not ok:
            checks[i] = replace(check, supported=False, reason=f"judge: {why or 'not supported'}")
    return replace(verification, checks=tuple(checks))

"""The ask pipeline: a question from a principal → a verified, cited answer, or a refusal.

    guard_in → retrieve → guard_retrieved → assemble → generate → verify → guard_out

- Input guards may block the question (status `blocked`) or redact it.
- Retrieval runs as the principal (the store applies the ACL inside its queries)
  over the app's collections. Nothing relevant enough → refusal.
- Retrieved-stage guards judge each chunk; a blocked chunk (an injected
  instruction, by the default policy) is left out of the context, a flagged
  one stays but its flagged spans cannot support an answer.
- Context assembly numbers the sources S1… under the token budget.
- Generation: the app's prompt file, rendered in the sandbox, through the
  app's model route. In extractive mode no model is called.
- Verification checks every sentence against what it cites; the policy's
  `on_unsupported` then drops sentences, falls back to the extractive answer,
  or refuses. Model errors and timeouts fall back to the extractive answer.
- Output guards (leak canary, PII, limits) may redact or block the answer.

Every refusal is the same sentence (`REFUSAL`) with the same empty fields,
whatever the cause, so a refusal cannot reveal that an inaccessible document
exists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from pathlib import Path
from typing import Any

from grounded.config import AppConfig, ExtractiveModelConfig, Settings, is_external
from grounded.domain import (
    AnswerStatus,
    ChatRequest,
    ContextSource,
    GuardContext,
    Message,
    Principal,
    SearchFilters,
    SearchResult,
    SourceText,
    Stage,
    Usage,
    Verdict,
)
from grounded.errors import InvalidRequest, ProviderError
from grounded.features.answer import REFUSAL, AskEvent, AskResult, GuardRecord, blocked_message
from grounded.features.prompting import (
    PromptSource,
    SentenceBuffer,
    canary_for,
    canary_key,
    says_not_found,
)
from grounded.features.verify import (
    JUDGE_SCHEMA,
    Verification,
    citations,
    failure_summary,
    judge,
    paragraph,
    source_spans,
    usable_sources,
    verify_answer,
)
from grounded.guards.groundedness import Embed, Verifier, entities
from grounded.guards.pii import install_log_redaction
from grounded.guards.policy import GuardStack, build_guards, load_policy
from grounded.index.bm25 import Tokenizer
from grounded.llm.extractive import ExtractiveModel
from grounded.prompts import PromptRegistry
from grounded.retrieval.context import AssembledContext, assemble
from grounded.retrieval.hybrid import HybridRetriever

log = logging.getLogger(__name__)  # redacted: see grounded.guards.pii.install_log_redaction
WINDOW_MARGIN = 0.9  # our tokenizer only estimates the model's count: keep 10% spare
MAX_QUESTION_CHARS = 4000


@dataclass
class _Run:
    """What one request accumulates on its way through the stages."""

    app_name: str
    app: AppConfig
    stack: GuardStack
    principal: Principal
    question: str
    started: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=dict)
    guards: list[GuardRecord] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    flagged: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # chunk id → doc spans
    emit: Callable[[str], None] | None = None  # streaming: receives verified sentences
    canary: str | None = None  # of the prompt sent, for the output leak check
    system_prompt: str | None = None
    retrieved: tuple[SearchResult, ...] = ()  # shown with an answer, never with a refusal

    def timed(self, stage: str, since: float) -> None:
        self.stages[stage] = round((time.perf_counter() - since) * 1000, 3)


@dataclass(frozen=True)
class _Generated:
    text: str
    model: str | None
    usage: Usage
    cost_usd: float
    prompt: tuple[str, int, str] | None
    failure: str = ""  # why the model's answer could not be used


class AskPipeline:
    """Answers questions for every app in the settings; one instance serves many requests."""

    def __init__(
        self,
        settings: Settings,
        retriever: Callable[[AppConfig], HybridRetriever],
        count_tokens: Callable[[str], int],
        gateway: Callable[[], Any],
        prompts: PromptRegistry,
        embed: Embed | None = None,
    ) -> None:
        self.settings = settings
        self._retriever = retriever
        # The model's tokenizer is not ours: err high (English BPE runs ~4 characters a
        # token; 3 leaves room for code, numbers and other languages).
        self._count_tokens = lambda text: max(count_tokens(text), -(-len(text) // 3))
        self._gateway = gateway
        self.prompts = prompts
        self._embed = embed
        self._terms = Tokenizer()
        self._stacks: dict[Path | None, GuardStack] = {}
        self._canary_key = canary_key(settings.data_dir)

    def app(self, name: str) -> AppConfig:
        try:
            return self.settings.apps[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.apps))
            raise InvalidRequest(f"unknown app {name!r}; configured apps: {known}") from None

    def guards_for(self, app: AppConfig) -> GuardStack:
        if app.guard_policy not in self._stacks:
            policy = load_policy(app.guard_policy)
            if policy.pii.logs:
                install_log_redaction()
            self._stacks[app.guard_policy] = build_guards(policy)
        return self._stacks[app.guard_policy]

    async def ask(self, question: str, principal: Principal, app: str = "default") -> AskResult:
        return await self._ask(question, principal, app, None)

    async def stream(
        self, question: str, principal: Principal, app: str = "default"
    ) -> AsyncIterator[AskEvent]:
        """Verified sentences as they are ready, then the result.

        A generated sentence is shown once it is complete, its citations check out
        and the output guards pass it. If the answer is then replaced (by the
        extractive answer or a refusal), the final event's result says so and
        the client shows that instead: nothing unverified is ever shown.
        """
        queue: asyncio.Queue[AskEvent] = asyncio.Queue()
        task = asyncio.create_task(
            self._ask(question, principal, app, lambda text: queue.put_nowait(AskEvent(text)))
        )
        task.add_done_callback(lambda _: queue.put_nowait(AskEvent("")))
        try:
            while not task.done() or not queue.empty():
                event = await queue.get()
                if event.text:
                    yield event
        finally:
            if not task.done():
                task.cancel()
        yield AskEvent("", task.result())

    async def _ask(
        self,
        question: str,
        principal: Principal,
        app: str,
        emit: Callable[[str], None] | None,
    ) -> AskResult:
        cfg = self.app(app)
        _check_question(question)
        run = _Run(app, cfg, self.guards_for(cfg), principal, question, emit=emit)
        verdict = self._scan(run, question, "input", "guard_in")
        if verdict.blocked:
            return self._finish(run, "blocked", "", message=blocked_message(verdict, "question"))
        run.question = verdict.text
        t = time.perf_counter()
        # Embedding and ranking are CPU work: off the event loop, so a server keeps serving.
        results = await asyncio.to_thread(self._retrieve, run)
        run.timed("retrieve", t)
        run.retrieved = tuple(results)
        results = self._guard_retrieved(run, results)
        t = time.perf_counter()
        context = await self._assemble(run, results)
        run.timed("assemble", t)
        if not context.sources:
            return self._refusal(run)
        result = self._guard_output(run, await self._answer(run, context))
        # The question as the input guards left it; the log filter masks PII again.
        log.debug("ask app=%s status=%s question=%r", app, result.status, run.question)
        return result

    # ------------------------------------------------------------------ stages

    def _scan(self, run: _Run, text: str, stage: Stage, timing: str, **ctx: Any) -> Verdict:
        t = time.perf_counter()
        verdict = run.stack.scan(text, GuardContext(stage, **ctx))
        run.timed(timing, t)
        if verdict.reasons:
            run.guards.append(GuardRecord(stage, verdict))
        return verdict

    def _retrieve(self, run: _Run) -> list[SearchResult]:
        cfg = run.app.retrieval
        filters = SearchFilters(collections=tuple(run.app.collections))
        results = (
            self._retriever(run.app)
            .search(run.question, run.principal, k=cfg.k, filters=filters)
            .results
        )
        return results if results and self._relevant(run, results) else []

    def _relevant(self, run: _Run, results: Sequence[SearchResult]) -> bool:
        """Names in the question appear in the results, and the best chunk is close in
        meaning or holds enough of the question's terms. Only what the principal may
        read is consulted, so the decision cannot depend on a hidden document."""
        cfg = run.app.retrieval
        visible = " ".join(r.chunk.text for r in results).casefold()
        if any(name not in visible for name in entities(run.question)):
            return False  # a question about a named thing needs that thing in the sources
        similarity = max((r.dense_score or -1.0 for r in results), default=-1.0)
        if similarity >= cfg.min_similarity:
            return True
        wanted = set(self._terms(run.question))
        if not wanted:
            return False
        share = max(len(wanted & set(self._terms(r.chunk.text))) / len(wanted) for r in results)
        return share >= cfg.min_term_share

    def _guard_retrieved(self, run: _Run, results: list[SearchResult]) -> list[SearchResult]:
        t = time.perf_counter()
        kept = []
        for r in results:
            verdict = run.stack.scan(r.chunk.text, GuardContext("retrieved"))
            if verdict.reasons:
                run.guards.append(GuardRecord("retrieved", verdict, r.chunk.chunk_id))
            if verdict.blocked:
                run.dropped.append((r.chunk.chunk_id, "guard"))
                continue
            spans = [
                paragraph(r.chunk.text, x.start, x.end)
                for x in verdict.reasons
                if x.guard == "injection"
            ]
            if spans:
                run.flagged[r.chunk.chunk_id] = [
                    (r.chunk.start + a, r.chunk.start + b) for a, b in spans
                ]
            kept.append(r)
        run.timed("guard_retrieved", t)
        return kept

    async def _assemble(self, run: _Run, results: list[SearchResult]) -> AssembledContext:
        context = assemble(results, await self._budget(run), self._count_tokens)
        run.dropped += [(d.chunk_id, d.reason) for d in context.dropped]
        return context

    async def _budget(self, run: _Run) -> int:
        """The app's budget, shrunk to what the model's window leaves beside prompt and answer."""
        budget = run.app.context_tokens
        if run.app.answer_mode != "generative":
            return budget
        window = self._gateway().route(run.app.route).capabilities.max_context
        if window is None:
            return budget
        prompt = self.prompts.get(run.app.prompt)
        empty = prompt.render(
            question=run.question,
            sources=[],
            instructions=run.app.instructions,
            canary="canary-0000000000000000",
        )
        overhead = self._count_tokens(empty.system + empty.user)
        answer = empty.params.max_tokens or 512
        return max(0, min(budget, int(window * WINDOW_MARGIN) - overhead - answer))

    # ------------------------------------------------------------------ answering

    async def _answer(self, run: _Run, context: AssembledContext) -> AskResult:
        sources = usable_sources(context, source_spans(context, run.flagged))
        verifier = self._verifier(run)
        if run.app.answer_mode == "extractive":  # sentence scoring and embedding: CPU work
            return await asyncio.to_thread(self._extractive, run, context, sources, verifier)
        t = time.perf_counter()
        generated = await self._generate(run, context)
        run.timed("generate", t)
        if generated.failure:
            return self._extractive(run, context, sources, verifier, generated, generated.failure)
        # The model's own words are scanned before anything else happens to them: a leaked
        # system prompt is blocked even if verification would have replaced the answer.
        raw = self._scan(
            run, generated.text, "output", "guard_out",
            canary=run.canary, system_prompt=run.system_prompt,
        )  # fmt: skip
        if raw.blocked:
            message = blocked_message(raw, "answer")
            return self._finish(run, "blocked", "", generated=generated, message=message)
        if says_not_found(generated.text):
            return self._refusal(run, generated)
        t = time.perf_counter()
        verification = await asyncio.to_thread(verify_answer, generated.text, sources, verifier)
        policy = run.stack.policy.verification
        if policy.judge:
            route = policy.judge_route or run.app.route
            verification = await judge(
                verification,
                sources,
                self.prompts.get(policy.judge_prompt),
                lambda request: self._gateway().structured(request, JUDGE_SCHEMA, route),
            )
        run.timed("verify", t)
        if verification.all_supported and verification.supported_text:
            return self._answered(run, "answered", verification, context, verifier, generated)
        if policy.on_unsupported == "drop" and verification.supported_text:
            return self._answered(
                run,
                "answered",
                verification,
                context,
                verifier,
                generated,
                message="unsupported sentences were removed",
            )
        if policy.on_unsupported == "extractive":
            return self._extractive(
                run,
                context,
                sources,
                verifier,
                generated,
                failure_summary(verification.checks),
            )
        return self._refusal(run, generated)

    async def _generate(self, run: _Run, context: AssembledContext) -> _Generated:
        prompt = self.prompts.get(run.app.prompt)
        canary = canary_for(self._canary_key, run.app_name, run.question, context)
        rendered = prompt.render(
            question=run.question,
            sources=[PromptSource.of(s) for s in context.sources],
            instructions=run.app.instructions,
            canary=canary,
        )
        system, user = rendered.system, rendered.user
        run.canary, run.system_prompt = canary, system
        if self._external(run.app.route):
            system = self._scan(run, system, "external", "guard_external").text
            user = self._scan(run, user, "external", "guard_external").text
        request = ChatRequest(
            (Message.system(system), Message.user(user)),
            **rendered.params.chat_kwargs(),
            task="answer",
            # The messages hold only sources this principal may read, so equal messages
            # may share an answer within the tenant.
            cache_scope=f"ask:{run.principal.tenant}",
        )
        ref = (rendered.name, rendered.version, rendered.sha256)
        try:
            response = await self._call(run, request, context)
        except ProviderError as exc:
            failure = f"the model failed ({exc.kind}), so the answer is extractive"
            return _Generated("", None, Usage(), 0.0, ref, failure)
        text = response.text
        failure = "" if text.strip() else "the model returned no text, so the answer is extractive"
        answered_by = self.settings.models.get(response.model)
        if answered_by is not None and answered_by.provider == "extractive":
            # The route fell back to its no-LLM model, which would quote the whole prompt;
            # the pipeline's own extractive answer reads the question and the sources.
            text, failure = "", "the route's models were unavailable, so the answer is extractive"
        return _Generated(
            text, response.model, response.usage or Usage(), response.cost_usd or 0.0, ref, failure
        )

    async def _call(self, run: _Run, request: ChatRequest, context: AssembledContext) -> Any:
        gateway = self._gateway()
        if run.emit is None:
            return await gateway.complete(request, run.app.route)
        sources = usable_sources(context, source_spans(context, run.flagged))
        verifier = self._verifier(run)
        buffer = SentenceBuffer(lambda s: self._emit_if_verified(run, s, sources, verifier))
        response = None
        async for event in gateway.stream(request, run.app.route):
            buffer.feed(event.delta)
            response = event.response or response
        buffer.flush()
        return response

    def _emit_if_verified(
        self, run: _Run, sentence: str, sources: dict[str, ContextSource], verifier: Verifier
    ) -> None:
        verification = verify_answer(sentence, sources, verifier)
        if run.emit is None or not verification.all_supported or not verification.supported_text:
            return
        context = GuardContext("output", canary=run.canary, system_prompt=run.system_prompt)
        verdict = run.stack.scan(verification.supported_text, context)
        if not verdict.blocked:
            run.emit(verdict.text)

    def _verifier(self, run: _Run) -> Verifier:
        policy = run.stack.policy.verification
        return Verifier(policy, self._embed if policy.semantic else None)

    def _external(self, route: str) -> bool:
        names = self.settings.routes[route].models if route in self.settings.routes else [route]
        return any(is_external(self.settings.models[n]) for n in names)

    def _extractive(
        self,
        run: _Run,
        context: AssembledContext,
        sources: dict[str, ContextSource],
        verifier: Verifier,
        generated: _Generated | None = None,
        why: str = "",
    ) -> AskResult:
        t = time.perf_counter()
        model = ExtractiveModel(
            "extractive", ExtractiveModelConfig(max_sentences=run.app.max_answer_sentences)
        )
        request = ChatRequest(
            (Message.user(run.question),),
            sources=tuple(SourceText(s.id, s.text, s.document.title) for s in sources.values()),
        )
        pieces, _ = model.answer(request)
        verification = verify_answer("".join(pieces), sources, verifier)
        run.timed("verify" if generated is None else "fallback", t)
        if not verification.supported_text:
            return self._refusal(run, generated)
        status = "answered_extractive"
        return self._answered(run, status, verification, context, verifier, generated, message=why)

    def _answered(
        self,
        run: _Run,
        status: AnswerStatus,
        verification: Verification,
        context: AssembledContext,
        verifier: Verifier,
        generated: _Generated | None,
        message: str = "",
    ) -> AskResult:
        kept = [c for c in verification.checks if c.supported]
        result = self._finish(
            run, status, verification.supported_text, generated=generated, message=message,
        )  # fmt: skip
        return _replace(
            result,
            citations=citations(verification, context.by_id(), verifier),
            verification=tuple(kept),  # the sentences of the answer as shown
            invalid_citations=verification.invalid_citations,
        )

    def _refusal(self, run: _Run, generated: _Generated | None = None) -> AskResult:
        return self._finish(run, "refused", REFUSAL, generated=generated)

    def _guard_output(self, run: _Run, result: AskResult) -> AskResult:
        if result.status not in ("answered", "answered_extractive"):
            return result
        seen = len(run.guards)
        verdict = self._scan(
            run, result.answer, "output", "guard_out",
            canary=run.canary, system_prompt=run.system_prompt,
        )  # fmt: skip
        if len(run.guards) > seen and _same_reasons(run.guards[-1], run.guards[:-1]):
            run.guards.pop()  # the raw model output had the same findings
        guards = tuple(run.guards)
        result = _replace(
            result,
            stages=dict(run.stages),
            latency_ms=(time.perf_counter() - run.started) * 1000,
        )
        if verdict.blocked:
            return _replace(
                result, status="blocked", answer="", citations=(), verification=(), guards=guards,
                message=blocked_message(verdict, "answer"),
            )  # fmt: skip
        return _replace(result, answer=verdict.text, guards=guards)

    def _finish(
        self,
        run: _Run,
        status: AnswerStatus,
        answer: str,
        *,
        generated: _Generated | None = None,
        message: str = "",
    ) -> AskResult:
        app = run.app
        return AskResult(
            status=status,
            answer=answer,
            app=run.app_name,
            guards=tuple(run.guards),
            prompt=generated.prompt if generated else None,
            model=generated.model
            if generated
            else ("extractive" if status.startswith("answered") else None),
            usage=generated.usage if generated else Usage(),
            cost_usd=generated.cost_usd if generated else 0.0,
            latency_ms=(time.perf_counter() - run.started) * 1000,
            stages=dict(run.stages),
            message=message,
            dropped=tuple(run.dropped),
            retrieval={
                "k": app.retrieval.k,
                "collections": list(app.collections),
                "mode": app.answer_mode,
                "route": app.route if app.answer_mode == "generative" else None,
            },
            policy_version=run.stack.policy.version,
            # A refusal must not vary with what was retrieved (it could reveal a document).
            retrieved=run.retrieved if status.startswith("answered") else (),
        )


def _check_question(question: str) -> None:
    if not question.strip():
        raise InvalidRequest("the question is empty; ask something")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidRequest(
            f"the question has {len(question)} characters; the limit is {MAX_QUESTION_CHARS}"
        )


def _same_reasons(record: GuardRecord, earlier: Sequence[GuardRecord]) -> bool:
    rules = {(r.guard, r.rule) for r in record.verdict.reasons}
    return any(
        g.stage == record.stage and {(r.guard, r.rule) for r in g.verdict.reasons} == rules
        for g in earlier
    )

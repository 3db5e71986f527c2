"""One answer for one caller, under the service's limits: what /v1/ask and
/v1/chat/completions share.

    token budget → model slot (generative apps) → deadline → ask pipeline
      → spend tokens → metrics → stored answer (its id goes back to the caller)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from grounded.features.answer import AskResult, ask_json
from grounded.llm.retry import deadline
from grounded.server.auth import Caller
from grounded.server.deps import Services
from grounded.server.problems import Problem

MODEL_SHARE = 0.8  # of the request deadline, for model calls


class Answering:
    def __init__(self, svc: Services, who: Caller, question: str, app: str | None) -> None:
        self.svc = svc
        self.who = who
        self.question = question
        self.app = app or svc.settings.server.default_app
        if self.app not in svc.settings.apps:  # as OpenAI answers an unknown model
            known = ", ".join(sorted(svc.settings.apps))
            raise Problem(404, "not-found", f"no app {self.app!r}; configured apps: {known}")
        cfg = svc.settings.apps[self.app]
        self.generative = cfg.answer_mode == "generative"

    async def check_budget(self) -> None:
        """Before anything runs: a spent token budget is a 429 (generative apps only)."""
        if not self.generative:
            return
        try:
            await asyncio.to_thread(self.svc.limiter.check_tokens, self.who)
        except Problem:
            self.svc.metrics.limit_rejections.labels("tokens").inc()
            raise

    @contextlib.asynccontextmanager
    async def limits(self) -> AsyncIterator[None]:
        """A model slot for generative apps, and the request deadline for everything."""
        seconds = self.svc.settings.server.request_timeout_s
        slot = self.svc.slots.hold() if self.generative else contextlib.nullcontext()
        try:
            async with slot:
                async with asyncio.timeout(seconds):
                    # The model gets most of the time, so that a model which does not answer
                    # leaves time to fall back to the extractive answer.
                    with deadline(seconds * MODEL_SHARE):
                        yield
        except TimeoutError:
            self.svc.metrics.limit_rejections.labels("deadline").inc()
            raise Problem(
                504, "timeout", f"no answer within {seconds:g} s; try again later"
            ) from None
        except Problem as exc:
            if exc.kind == "overloaded":
                self.svc.metrics.limit_rejections.labels("model_slots").inc()
            raise

    async def finish(self, result: AskResult) -> dict[str, Any]:
        """Account for the answer and store it; the API body, with `answer_id`."""
        svc = self.svc
        tokens = result.usage.input_tokens + result.usage.output_tokens
        await asyncio.to_thread(svc.limiter.spend_tokens, self.who, tokens)
        svc.metrics.observe_answer(result)
        body = ask_json(result)
        answer_id, created = await asyncio.to_thread(svc.answers.add, self.who, self.question, body)
        return {**body, "answer_id": answer_id, "created": created}

    async def once(self) -> dict[str, Any]:
        await self.check_budget()
        async with self.limits():
            result = await self.svc.runtime.asker.ask(self.question, self.who.principal, self.app)
        return await self.finish(result)

    async def stream(self) -> AsyncIterator[str | dict[str, Any]]:
        """Verified sentences (str) as they are ready, then the final body (dict).

        Call `check_budget` first, so a spent budget is an HTTP 429, not a stream.
        """
        result = None
        async with self.limits():
            async for event in self.svc.runtime.asker.stream(
                self.question, self.who.principal, self.app
            ):
                if event.result is not None:
                    result = event.result
                else:
                    yield event.text
        assert result is not None
        yield await self.finish(result)

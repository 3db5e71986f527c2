"""`grounded chat`: one prompt through the gateway (a route, a model, or the router)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from grounded.cli.context import print_json, state
from grounded.domain import ChatRequest, ChatResponse, StreamEvent
from grounded.errors import InvalidRequest
from grounded.llm.gateway import Gateway


def response_json(response: ChatResponse) -> dict[str, Any]:
    """The `--json` shape (documented in docs/gateway.md)."""
    usage = response.usage
    output = response.output
    if hasattr(output, "model_dump"):
        output = output.model_dump()
    return {
        "text": response.text,
        "model": response.model,
        "attempts": [
            {
                "model": a.model,
                "outcome": a.outcome,
                "error": a.error,
                "status": a.status,
                "latency_ms": round(a.latency_ms, 2),
            }
            for a in response.attempts
        ],
        "usage": {
            "input_tokens": usage.input_tokens if usage else 0,
            "output_tokens": usage.output_tokens if usage else 0,
            "estimated": usage.estimated if usage else True,
        },
        "cost_usd": response.cost_usd,
        "cached": response.cached,
        "latency_ms": round(response.latency_ms, 2),
        "finish_reason": response.finish_reason,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ],
        "output": output,
    }


def _read_schema(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"cannot read --schema {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"--schema {path} is not JSON: {exc.msg} (line {exc.lineno})"
        ) from None
    if not isinstance(schema, dict):
        raise InvalidRequest(f"--schema {path} must hold a JSON Schema object")
    return schema


async def _stream(gateway: Gateway, request: ChatRequest, model: str | None, as_json: bool) -> None:
    final: ChatResponse | None = None
    try:
        async for event in gateway.stream(request, model):
            _show(event, as_json)
            final = event.response or final
    finally:
        await gateway.aclose()
    if final is not None and not as_json:
        typer.echo()


def _show(event: StreamEvent, as_json: bool) -> None:
    if as_json:
        line = {"delta": event.delta} if event.response is None else response_json(event.response)
        typer.echo(json.dumps(line, ensure_ascii=False))
    elif event.delta:
        sys.stdout.write(event.delta)
        sys.stdout.flush()


async def _once(
    gateway: Gateway, request: ChatRequest, model: str | None, schema: dict[str, Any] | None
) -> ChatResponse:
    try:
        if schema is not None:
            return await gateway.structured(request, schema, model)
        return await gateway.complete(request, model)
    finally:
        await gateway.aclose()


def chat(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The user message; '-' reads it from stdin.")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Route or model name (default: the router decides)."),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="A system message.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (with --stream: JSON lines).")
    ] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it arrives.")
    ] = False,
    schema: Annotated[
        Path | None,
        typer.Option("--schema", help="JSON Schema file: the answer is validated against it."),
    ] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0)] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Task name for the router's rules.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the response cache.")
    ] = False,
) -> None:
    """Send one prompt to a model through retries, fallbacks, cache and metering."""
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise InvalidRequest("the prompt is empty; pass text or '-' to read stdin")
    if stream and schema is not None:
        raise InvalidRequest("--stream and --schema cannot be combined: output is validated whole")
    parsed = _read_schema(schema) if schema is not None else None
    request = ChatRequest.of(
        prompt,
        system=system,
        max_tokens=max_tokens,
        temperature=temperature,
        task=task,
        cache_scope=None if no_cache else "cli",
    )
    gateway = state(ctx).runtime().gateway
    if stream:
        asyncio.run(_stream(gateway, request, model, as_json))
        return
    response = asyncio.run(_once(gateway, request, model, parsed))
    if as_json:
        print_json(response_json(response))
    elif response.output is not None:
        print_json(response_json(response)["output"])
    else:
        typer.echo(response.text)

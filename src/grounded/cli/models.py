"""`grounded models list|check`: what is configured, and whether each model answers."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grounded.cli.context import print_json, split_list, state
from grounded.config import ModelConfig, Settings
from grounded.domain import ChatRequest
from grounded.errors import GroundedError
from grounded.llm.gateway import Gateway

app = typer.Typer(
    help="Configured chat models: list them, check they answer.", no_args_is_help=True
)

CHECK_PROMPT = "Reply with the single word: ok"


def _target(cfg: ModelConfig) -> str:
    model = getattr(cfg, "model", "") or getattr(cfg, "deployment", "") or ""
    base = getattr(cfg, "base_url", "")
    if cfg.provider == "llamacpp":
        return str(getattr(cfg, "model_path", None) or "bundled SmolLM2-135M-Instruct")
    return " @ ".join(p for p in (model, base) if p) or "(no model)"


def _describe(settings: Settings, gateway: Gateway, name: str) -> dict[str, Any]:
    cfg = settings.models[name]
    routes = [r for r, rc in settings.routes.items() if name in rc.models]
    out: dict[str, Any] = {
        "name": name,
        "provider": cfg.provider,
        "target": _target(cfg),
        "routes": routes,
        "price": cfg.price.model_dump() if cfg.price else None,
        "api_key_env": getattr(cfg, "api_key_env", None),
    }
    try:
        caps = gateway.provider(name).capabilities
        out["capabilities"] = {
            "streaming": caps.streaming,
            "tools": caps.tools,
            "json_schema": caps.json_schema,
            "max_context": caps.max_context,
        }
    except GroundedError as exc:
        out["capabilities"] = None
        out["unavailable"] = str(exc)
    return out


@app.command("list")
def list_models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Every configured model (built-ins included) and the routes that use it."""
    st = state(ctx)
    settings, gateway = st.settings(), st.runtime().gateway
    rows = [_describe(settings, gateway, n) for n in settings.models]
    if as_json:
        routes = {r: rc.model_dump() for r, rc in settings.routes.items()}
        print_json({"models": rows, "routes": routes, "router": settings.router.model_dump()})
        return
    table = Table("model", "provider", "target", "capabilities", "price $/Mtok", "routes")
    for r in rows:
        caps = r["capabilities"]
        shown = (
            ", ".join(k for k in ("streaming", "tools", "json_schema") if caps[k])
            if caps
            else f"unavailable: {r['unavailable']}"
        )
        price = (
            f"{r['price']['input_per_mtok']:g} / {r['price']['output_per_mtok']:g}"
            if r["price"]
            else "-"
        )
        table.add_row(r["name"], r["provider"], r["target"], shown, price, ", ".join(r["routes"]))
    Console(width=160).print(table)
    for route, rc in settings.routes.items():
        typer.echo(f"route {route}: {' → '.join(rc.models)}")


async def _check_one(gateway: Gateway, name: str) -> dict[str, Any]:
    cfg = gateway.settings.models[name]
    request = ChatRequest.of(CHECK_PROMPT, max_tokens=8, temperature=0.0)
    start = time.perf_counter()
    try:
        gateway.stack(name)  # builds the breaker around the provider
        async with asyncio.timeout(cfg.timeout_s):
            response = await gateway.breakers[name].complete(request)
        outcome: dict[str, Any] = {"status": "ok", "reply": response.text.strip()[:60]}
    except TimeoutError:
        outcome = {"status": "error", "error": f"timed out after {cfg.timeout_s:g} s"}
    except GroundedError as exc:
        outcome = {"status": "error", "error": str(exc), "kind": getattr(exc, "kind", None)}
    outcome["latency_ms"] = round((time.perf_counter() - start) * 1000, 1)
    breaker = gateway.breakers.get(name)
    outcome["circuit"] = breaker.state.value if breaker else "closed"
    return {"model": name, **outcome}


async def _check(gateway: Gateway, names: list[str]) -> list[dict[str, Any]]:
    try:
        return list(await asyncio.gather(*(_check_one(gateway, n) for n in names)))
    finally:
        await gateway.aclose()


@app.command("check")
def check(
    ctx: typer.Context,
    names: Annotated[
        str | None, typer.Argument(help="Comma-separated models to check (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Call each model once with a tiny prompt: ok or the error, latency, circuit state.

    Exits 1 when any model fails, so it can gate a deployment.
    """
    st = state(ctx)
    settings, gateway = st.settings(), st.runtime().gateway
    wanted = split_list(names) or list(settings.models)
    for name in wanted:
        if name not in settings.models:
            gateway.provider(name)  # raises ConfigError listing the configured names
    results = asyncio.run(_check(gateway, wanted))
    if as_json:
        print_json(results)
    else:
        table = Table("model", "status", "latency ms", "circuit", "reply or error")
        for r in results:
            detail = r.get("reply") if r["status"] == "ok" else r.get("error")
            table.add_row(
                r["model"], r["status"], f"{r['latency_ms']:.0f}", r["circuit"], str(detail)
            )
        Console(width=160).print(table)
    if any(r["status"] != "ok" for r in results):
        raise typer.Exit(1)

"""`grounded serve`: the HTTP API and web UI under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from grounded.cli.context import state
from grounded.config import load_settings


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind (server.host).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (server.port; 0 picks a free one).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (server.workers); they share the data dir.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the API (/v1/…, /docs) and the web UI until interrupted.

    Every /v1 route needs an API key (`grounded keys create`) or a configured JWT.
    """
    import uvicorn

    st = state(ctx)
    overrides = {"host": host, "port": port, "workers": workers}
    base = load_settings(st.config, data_dir=st.data_dir)
    server = base.server.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    settings = base.model_copy(update={"server": server})
    url = f"http://{server.host}:{server.port}"
    typer.echo(f"serving {settings.data_dir} on {url} (UI at {url}/, API docs at {url}/docs)")
    if server.workers == 1:
        from grounded.server.app import create_app

        uvicorn.run(
            create_app(settings),
            host=server.host,
            port=server.port,
            log_level=log_level,
            timeout_keep_alive=int(server.keep_alive_s),
        )
        return
    # Each worker process builds its own app from the same settings.
    from grounded.server.app import CONFIG_ENV

    os.environ["GROUNDED_DATA_DIR"] = str(settings.data_dir.resolve())
    if st.config is not None:
        os.environ[CONFIG_ENV] = str(st.config.resolve())
    uvicorn.run(
        "grounded.server.app:from_env",
        factory=True,
        host=server.host,
        port=server.port,
        workers=server.workers,
        log_level=log_level,
        timeout_keep_alive=int(server.keep_alive_s),
    )

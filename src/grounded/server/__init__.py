"""The HTTP service: FastAPI app, auth, limits, routes, SSE, the OpenAI-compatible API, web UI.

`create_app(settings)` builds the app (tests use it through ASGI); `grounded serve`
runs it under uvicorn. The design and every route: docs/server.md.
"""

"""Server-sent events: one `event:` and one JSON `data:` line per event."""

from __future__ import annotations

import json
from typing import Any

HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # no proxy buffering


def event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def data(payload: Any) -> bytes:
    """A data-only event, as OpenAI's streaming API sends them."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {text}\n\n".encode()

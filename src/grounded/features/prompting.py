"""What the ask pipeline sends a model and reads back: prompt sources, the canary, streaming.

The canary opens each generative request's system prompt. It is an HMAC of the
request under a per-installation key, so it cannot be guessed from outside,
and equal requests keep equal prompts (the gateway cache still hits).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grounded.domain import ContextSource
from grounded.guards.citations import split_cited
from grounded.retrieval.context import AssembledContext

NOT_FOUND = "NOT_FOUND"  # what the built-in prompt tells the model to say when it cannot answer
CANARY_KEY = "secrets/canary.key"


@dataclass(frozen=True)
class PromptSource:
    """What a prompt template sees of a source: public attributes only, no objects behind them."""

    id: str
    title: str
    heading: str
    text: str

    @classmethod
    def of(cls, source: ContextSource) -> PromptSource:
        heading = " › ".join(source.heading_path)
        return cls(source.id, source.document.title, heading, source.text)


def canary_for(key: bytes, app: str, question: str, context: AssembledContext) -> str:
    """Unpredictable without the installation's key, yet equal for equal requests."""
    material = "\x1f".join([app, question, *(s.text for s in context.sources)])
    digest = hmac.new(key, material.encode(), hashlib.sha256).hexdigest()
    return f"canary-{digest[:16]}"


def canary_key(data_dir: Path) -> bytes:
    """A per-installation secret; created on first use, readable only by its owner."""
    path = data_dir / CANARY_KEY
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        path.touch(mode=0o600)
        path.write_bytes(key)
        return key


def says_not_found(text: str) -> bool:
    return NOT_FOUND in text.upper().replace(" ", "_") and len(text.strip()) < 80


class SentenceBuffer:
    """Collects streamed text and hands on each sentence once the next one has begun."""

    def __init__(self, on_sentence: Callable[[str], None]) -> None:
        self._on_sentence = on_sentence
        self._text = ""
        self._done = 0  # sentences handed on

    def feed(self, delta: str) -> None:
        self._text += delta
        parts = split_cited(self._text)
        for part in parts[self._done : len(parts) - 1]:
            self._on_sentence(part)
        self._done = max(self._done, len(parts) - 1)

    def flush(self) -> None:
        parts = split_cited(self._text)
        for part in parts[self._done :]:
            self._on_sentence(part)
        self._done = len(parts)

"""Fakes and conformance suites, shipped so plugins test the same way we do.

- `HashEmbedder`: a deterministic embedder for unit tests (no model).
- `ScriptedChatModel` (and `Delay`): a chat model answering from a queue of replies,
  errors and delays.
- `store_conformance.StoreConformance`: tests every store backend must pass.
- `chat_conformance.ChatModelConformance`: tests every chat model must pass.
- `mock_llm_server`: a local HTTP server speaking the OpenAI and Anthropic wire
  formats, with injectable faults (429, 5xx, slow, dropped, invalid, truncated).
"""

from grounded.embed.hashing import HashEmbedder
from grounded.testing.scripted import Delay, ScriptedChatModel

__all__ = ["Delay", "HashEmbedder", "ScriptedChatModel"]

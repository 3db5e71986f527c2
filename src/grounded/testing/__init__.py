"""Fakes and conformance suites, shipped so plugins test the same way we do.

- `HashEmbedder`: a deterministic embedder for unit tests (no model).
- `store_conformance.StoreConformance`: tests every store backend must pass.
"""

from grounded.embed.hashing import HashEmbedder

__all__ = ["HashEmbedder"]

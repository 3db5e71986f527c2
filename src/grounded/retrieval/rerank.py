"""Cross-encoder reranking on onnxruntime.

A cross-encoder reads the query and a passage together and outputs a relevance
logit. `CrossEncoderReranker` loads one from a local directory holding
`model.onnx` and `tokenizer.json` (for example ms-marco-MiniLM-L-6-v2 exported
with `optimum-cli export onnx`). No such model ships from the package registry
today, so none is configured by default: with `reranker: {kind: none}` search
skips this stage entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grounded.config import CrossEncoderRerankerConfig, RerankerConfig
from grounded.errors import ConfigError
from grounded.ports import Reranker


class CrossEncoderReranker:
    def __init__(self, model_dir: Path, *, max_length: int = 512, batch_size: int = 16) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model, tokenizer = model_dir / "model.onnx", model_dir / "tokenizer.json"
        for needed in (model, tokenizer):
            if not needed.is_file():
                raise ConfigError(
                    f"reranker model_path {model_dir} has no {needed.name}; it must hold "
                    "model.onnx and tokenizer.json of a cross-encoder"
                )
        self.name = f"cross-encoder:{model_dir.name}"
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding()
        self._session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.batch_size = batch_size

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for lo in range(0, len(passages), self.batch_size):
            batch = [(query, p) for p in passages[lo : lo + self.batch_size]]
            encodings = self._tokenizer.encode_batch(batch)
            feed: dict[str, Any] = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            }
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
            logits = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
            scores.extend(float(x) for x in logits.reshape(len(batch), -1)[:, 0])
        return scores


def build_reranker(cfg: RerankerConfig) -> Reranker | None:
    if isinstance(cfg, CrossEncoderRerankerConfig):
        return CrossEncoderReranker(
            cfg.model_path, max_length=cfg.max_length, batch_size=cfg.batch_size
        )
    return None

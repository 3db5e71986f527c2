"""The cross-encoder adapter, run by onnxruntime on a small real ONNX graph.

No cross-encoder weights ship from the package registry, so the test builds a
tiny model whose logit counts how often one token id occurs in the (query,
passage) pair. That exercises the adapter's real path: pair tokenisation,
batching, padding, the ONNX session and the logits' shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tokenizers import Tokenizer

from grounded.config import CrossEncoderRerankerConfig, RetrievalConfig
from grounded.domain import Acl, Principal
from grounded.embed.hashing import HashEmbedder
from grounded.embed.onnx import ASSETS
from grounded.errors import ConfigError
from grounded.index.sqlite import SqliteStore
from grounded.retrieval.hybrid import HybridRetriever
from grounded.retrieval.rerank import CrossEncoderReranker, build_reranker
from grounded.testing.store_conformance import put


def _counting_model(directory: Path, token: str) -> None:
    tokenizer = Tokenizer.from_file(str(ASSETS / "tokenizer.json"))
    token_id = tokenizer.token_to_id(token)
    assert token_id is not None
    batch_seq = ["batch", "seq"]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, batch_seq)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])
    target = helper.make_tensor("target", TensorProto.INT64, [], [token_id])
    nodes = [
        helper.make_node("Equal", ["input_ids", "target"], ["hit"]),
        helper.make_node("Cast", ["hit"], ["hits"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["hits", "axes"], ["logits"], keepdims=1),
    ]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(nodes, "count", inputs, [output], initializer=[target, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "model.onnx"))
    (directory / "tokenizer.json").write_bytes((ASSETS / "tokenizer.json").read_bytes())


def test_scores_follow_the_model(tmp_path: Path) -> None:
    _counting_model(tmp_path / "ce", "robot")
    reranker = CrossEncoderReranker(tmp_path / "ce", batch_size=2)
    passages = ["no match here", "robot", "robot robot robot", "a robot and a robot"]
    scores = reranker.score("which robot?", passages)
    # The query contributes one "robot" to every pair.
    assert scores == [1.0, 2.0, 4.0, 3.0]


def test_reranking_reorders_hybrid_results(tmp_path: Path) -> None:
    _counting_model(tmp_path / "ce", "robot")
    store = SqliteStore(tmp_path / "data")
    embedder = HashEmbedder(64)
    store.bind_embedding_model(embedder.model_id, embedder.revision, embedder.dim)
    put(store, "a", ["warehouse warehouse warehouse robot"], Acl.of("acme"))
    put(store, "b", ["warehouse robot robot robot robot"], Acl.of("acme"))
    put(store, "c", ["warehouse only"], Acl.of("acme"))
    cfg = CrossEncoderRerankerConfig(model_path=tmp_path / "ce", top_n=10)
    retriever = HybridRetriever(
        store, lambda: embedder, RetrievalConfig(reranker=cfg), build_reranker(cfg)
    )
    results = retriever.search("warehouse", Principal.of("acme"), k=3).results
    assert [r.document.doc_id for r in results] == ["b", "a", "c"]
    assert [r.rerank_score for r in results] == [4.0, 1.0, 0.0]
    assert all(r.bm25_rank is not None for r in results)
    assert np.all(np.diff([r.score for r in results]) <= 0)


def test_min_relevance_drops_low_scores(tmp_path: Path) -> None:
    _counting_model(tmp_path / "ce", "robot")
    store = SqliteStore(tmp_path / "data")
    embedder = HashEmbedder(64)
    put(store, "a", ["warehouse robot"], Acl.of("acme"))
    put(store, "c", ["warehouse only"], Acl.of("acme"))
    cfg = CrossEncoderRerankerConfig(model_path=tmp_path / "ce")
    config = RetrievalConfig(reranker=cfg, min_relevance=0.5)
    retriever = HybridRetriever(store, lambda: embedder, config, build_reranker(cfg))
    results = retriever.search("warehouse", Principal.of("acme"), k=5).results
    assert [r.document.doc_id for r in results] == ["a"]


def test_missing_model_files_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model.onnx"):
        CrossEncoderReranker(tmp_path)


def test_no_reranker_by_default() -> None:
    assert build_reranker(RetrievalConfig().reranker) is None

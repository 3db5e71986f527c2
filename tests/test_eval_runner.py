"""The evaluation runner on the sample corpus's golden set: gates that catch regressions,
resuming after a crash, and `grounded eval run` as a user runs it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from grounded.config import load_settings
from grounded.evals.compare import compare
from grounded.evals.compare import markdown as compare_markdown
from grounded.evals.gates import check
from grounded.evals.runner import EvalRunner
from grounded.evals.suite import Bound, Sample, load_suite
from grounded.runtime import Runtime
from tests.helpers import SAMPLE_CORPUS, cli_env, grounded, ingest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "evals" / "smoke.yaml"
APPS = {
    "default": {},
    # Degraded on purpose: keyword search switched off (the hash embedder knows no meaning) …
    "no_keywords": {"retrieval": {"bm25_weight": 0.0}},
    # … and a relevance gate that lets everything through.
    "no_gate": {"retrieval": {"min_similarity": -1.0, "min_term_share": 0.0}},
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("eval-index")
    rt = Runtime(load_settings(data_dir=data, embedder={"kind": "hash"}))
    ingest(rt, SAMPLE_CORPUS, collection="handbook")
    rt.close()
    return data


@pytest.fixture
def runtime(index: Path, tmp_path: Path) -> Any:
    data = tmp_path / "data"
    shutil.copytree(index, data)
    rt = Runtime(load_settings(data_dir=data, embedder={"kind": "hash"}, apps=APPS))
    yield rt
    rt.close()


def _run(rt: Runtime, out: Path, app: str = "default", **changes: Any) -> dict[str, Any]:
    suite = load_suite(SMOKE).model_copy(update={"app": app, **changes})
    return asyncio.run(EvalRunner(rt, suite, out).run())


def test_a_worse_setting_fails_the_gate_against_the_baseline(
    runtime: Runtime, tmp_path: Path
) -> None:
    baseline = _run(runtime, tmp_path / "a")
    assert baseline["aggregates"]["acl_leak"]["mean"] == 0.0
    assert baseline["aggregates"]["ndcg@10"]["n"] > 50
    suite = load_suite(SMOKE).model_copy(
        # Regressions only: the absolute thresholds are set for the bundled embedder.
        update={"thresholds": {}, "max_regression": {"ndcg@10": 0.05, "refusal_recall": 0.05}}
    )
    assert check(suite, baseline, baseline) == []
    worse_retrieval = _run(runtime, tmp_path / "b", "no_keywords")
    failures = check(suite, worse_retrieval, baseline)
    assert any(line.startswith("ndcg@10 fell") for line in failures), failures
    worse_answers = _run(runtime, tmp_path / "c", "no_gate")
    failures = check(suite, worse_answers, baseline)
    assert any(line.startswith("refusal_recall fell") for line in failures), failures
    deltas, regressions = compare(baseline, worse_retrieval)
    ndcg = next(d for d in deltas if d.metric == "ndcg@10")
    assert ndcg.worse and ndcg.paired.high < 0 and ndcg.paired.n > 50
    assert any(r.metric == "ndcg@10" for r in regressions)
    assert compare(baseline, baseline)[1] == []
    assert "ndcg@10" in compare_markdown("a", "b", deltas, regressions)


def test_thresholds_fail_with_one_line_each(runtime: Runtime, tmp_path: Path) -> None:
    suite = load_suite(SMOKE).model_copy(
        update={"thresholds": {"ndcg@10": 1.01, "acl_leak": Bound(max=0)}, "sample": Sample(n=10)}
    )
    run = asyncio.run(EvalRunner(runtime, suite, tmp_path).run())
    assert check(suite, run) == [f"ndcg@10 {run['aggregates']['ndcg@10']['mean']:.3g} < 1.01"]


def test_a_crashed_run_resumes_without_recomputing_finished_items(
    runtime: Runtime, tmp_path: Path
) -> None:
    suite = load_suite(SMOKE).model_copy(update={"sample": Sample(n=12, seed=3), "concurrency": 1})
    asked: list[str] = []
    real_ask = runtime.asker.ask

    async def counting(question: str, *args: Any) -> Any:
        asked.append(question)
        return await real_ask(question, *args)

    runtime.asker.ask = counting  # type: ignore[method-assign]

    def crash_after_five(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(EvalRunner(runtime, suite, tmp_path, crash_after_five).run())
    assert len(asked) == 5
    run = asyncio.run(EvalRunner(runtime, suite, tmp_path).run())
    assert len(asked) == 12  # the 7 left, not 12 again
    assert len(run["items"]) == 12 and len({i["id"] for i in run["items"]}) == 12


def test_eval_run_cli_reports_writes_the_run_and_gates(index: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(index, data)
    suite = tmp_path / "suite.yaml"
    dataset = (ROOT / "evals" / "datasets" / "sample-corpus.jsonl").read_text().splitlines()[:8]
    (tmp_path / "items.jsonl").write_text("\n".join(dataset) + "\n")
    suite.write_text(
        "name: mini\ndatasets: [items.jsonl]\nprincipal: {tenant: acme, groups: [staff]}\n"
        "thresholds: {ndcg@10: 1.01}\n"
    )
    result = grounded("--data-dir", data, "eval", "run", suite, "--gate", "--quiet", cwd=tmp_path,
                      env=cli_env())  # fmt: skip
    assert result.returncode == 1
    assert "gate failed: ndcg@10" in result.stderr
    assert "| ndcg@10 |" in result.stdout
    [run_file] = (tmp_path / "runs").glob("mini-*.json")
    run = json.loads(run_file.read_text())
    assert run["versions"]["index"]["generation"] > 0 and len(run["items"]) == 8
    assert not (tmp_path / "runs" / "mini.partial.jsonl").exists()
    same = grounded("eval", "compare", run_file, run_file, cwd=tmp_path, env=cli_env())
    assert same.returncode == 0 and "**Items that regressed:** 0" in same.stdout
    as_json = json.loads(
        grounded("eval", "compare", run_file, run_file, "--json", cwd=tmp_path).stdout
    )
    assert as_json["regressions"] == [] and {d["metric"] for d in as_json["deltas"]} >= {"ndcg@10"}


def test_a_suite_whose_app_is_not_configured_says_where_apps_come_from(tmp_path: Path) -> None:
    full = ROOT / "evals" / "full.yaml"
    result = grounded("--data-dir", tmp_path / "data", "eval", "run", full, cwd=tmp_path)
    assert result.returncode == 2
    assert "evaluates app 'generative'" in result.stderr and "--config FILE" in result.stderr
    assert "apps:\n  generative:" in (ROOT / "evals" / "grounded.yaml").read_text()


def test_the_html_report_is_self_contained_escaped_and_has_its_charts(
    runtime: Runtime, tmp_path: Path
) -> None:
    from grounded.evals.html import render

    suite = load_suite(SMOKE).model_copy(update={"sample": Sample(n=15, seed=1)})
    run = asyncio.run(EvalRunner(runtime, suite, tmp_path).run())
    run["items"][0]["answer"] = "<script>alert(1)</script> & more"
    page = render(run, ["grounded 0.5 < 0.95"])
    assert page.count("<svg") == 2  # metric bars with intervals, latency histogram
    assert "aria-label='metric bars'" in page and "<rect" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert " src=" not in page and "<link" not in page and "@import" not in page  # no fetches
    assert "grounded 0.5 &lt; 0.95" in page and "By tag" in page
    for item in run["items"]:
        if item["tags"]:
            assert f"<td>{item['tags'][0]}</td>" in page


def test_a_judge_grades_answers_and_judging_with_the_answering_model_is_warned(
    runtime: Runtime, tmp_path: Path
) -> None:
    from grounded.evals.suite import JudgeSpec
    from grounded.llm.gateway import Gateway
    from grounded.testing import ScriptedChatModel

    verdicts = iter(["correct", "incorrect"] * 50)
    judge = ScriptedChatModel(
        default=lambda request: json.dumps({"verdict": next(verdicts), "reason": "scripted"})
    )
    runtime.__dict__["gateway"] = Gateway(runtime.settings, providers={"extractive": judge})
    suite = load_suite(SMOKE).model_copy(
        update={
            "answer_metrics": ["grounded", "judge_correct"],
            "judge": JudgeSpec(route="extractive"),  # the model that wrote the answers
            "sample": Sample(n=20, seed=2),
            "concurrency": 1,
        }
    )
    run = asyncio.run(EvalRunner(runtime, suite, tmp_path).run())
    judged = [i for i in run["items"] if i["metrics"].get("judge_correct") is not None]
    assert judged and len(judge.requests) == len(judged)
    assert {i["metrics"]["judge_correct"] for i in judged} == {0.0, 1.0}
    assert all(i["judge_reason"].startswith(("correct", "incorrect")) for i in judged)
    assert run["aggregates"]["judge_correct"]["n"] == len(judged)
    assert run["warnings"] and "self-preference" in run["warnings"][0]


def test_suites_refuse_a_judge_metric_without_a_judge_and_gates_on_unknown_metrics(
    tmp_path: Path,
) -> None:
    from grounded.errors import ConfigError

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndatasets: [x.jsonl]\nanswer_metrics: [judge_correct]\n")
    with pytest.raises(ConfigError, match="names no judge"):
        load_suite(suite)
    suite.write_text("name: s\ndatasets: [x.jsonl]\nthresholds: {bleu: 0.5}\n")
    with pytest.raises(ConfigError, match="does not compute: bleu"):
        load_suite(suite)

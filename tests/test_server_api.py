"""The HTTP API through its ASGI app: answers, streaming, search, documents, feedback,
evaluations, the OpenAI-compatible endpoint, tenancy, problems and metrics.

Auth unit tests are in test_server_auth.py; limits in test_server_limits.py; a real
`grounded serve` process, the openai SDK and schemathesis in test_server_process.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grounded.domain import Principal
from grounded.evals.runner import EvalRunner
from grounded.evals.suite import Sample, load_suite
from grounded.features.answer import REFUSAL
from grounded.runtime import Runtime
from grounded.server.auth import SERVICE_DB, Caller, KeyStore
from grounded.server.records import AnswerStore
from tests.server_support import (
    Keys,
    app_with,
    bearer,
    copy_index,
    make_keys,
    settings_for,
)

ROOT = Path(__file__).resolve().parents[1]
VACATION = "How many vacation days carry over?"


@pytest.fixture
def data(service_index: Path, tmp_path: Path) -> Path:
    return copy_index(service_index, tmp_path / "data")


@pytest.fixture
def keys(data: Path) -> Keys:
    return make_keys(data)


@pytest.fixture
def client(data: Path, keys: Keys) -> Iterator[TestClient]:
    with TestClient(app_with(settings_for(data))) as c:
        yield c


def events(text: str) -> list[tuple[str, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def is_problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:grounded:problem:{kind}"
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# ---------------------------------------------------------------- answers


def test_ask_answers_with_verified_citations_and_an_answer_id(
    client: TestClient, keys: Keys
) -> None:
    r = client.post("/v1/ask", json={"question": VACATION}, headers=bearer(keys.alice))
    body = r.json()
    assert r.status_code == 200
    assert body["status"] == "answered_extractive"
    assert "5" in body["answer"] and body["citations"]
    assert any(c["doc_id"] == "handbook/vacation-and-leave.md" for c in body["citations"])
    assert all(v["supported"] for v in body["verification"])
    assert body["answer_id"].startswith("ans_") and body["retrieved"]
    stored = client.get(f"/v1/answers/{body['answer_id']}", headers=bearer(keys.alice)).json()
    assert stored["question"] == VACATION and stored["answer"] == body["answer"]
    assert stored["stages"] and stored["retrieved"][0]["score"] is not None


def test_the_streamed_answer_sends_citations_verification_guards_then_the_final_answer(
    client: TestClient, keys: Keys
) -> None:
    with client.stream(
        "POST", "/v1/ask?stream=true", json={"question": VACATION}, headers=bearer(keys.alice)
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        got = events(r.read().decode())
    names = [name for name, _ in got if name != "token"]
    assert names == ["citations", "verification", "guards", "final"]
    final = got[-1][1]
    assert final["answer_id"] and final["status"] == "answered_extractive"
    assert got[-4][1] == final["citations"]


def test_a_generative_app_streams_verified_sentences(data: Path, keys: Keys) -> None:
    from grounded.testing.scripted import ScriptedChatModel

    model = ScriptedChatModel(
        default="Up to 5 unused vacation days carry over to the next calendar year [S1]."
    )
    with (
        TestClient(app_with(settings_for(data), model)) as c,
        c.stream(
            "POST",
            "/v1/ask?stream=true",
            json={"question": VACATION, "app": "gen"},
            headers=bearer(keys.alice),
        ) as r,
    ):
        got = events(r.read().decode())
    tokens = [d["text"] for name, d in got if name == "token"]
    final = got[-1][1]
    assert final["status"] == "answered", final
    assert tokens and " ".join(tokens) == final["answer"]


def test_a_question_about_a_hidden_document_is_refused_like_one_with_no_answer(
    client: TestClient, keys: Keys
) -> None:
    def ask(key: str, question: str) -> dict[str, Any]:
        r = client.post("/v1/ask", json={"question": question}, headers=bearer(key))
        assert r.status_code == 200
        return r.json()

    hidden = ask(keys.alice, "What is Project Falcon?")  # hr only
    nothing = ask(keys.alice, "What is Project Kestrel?")
    assert hidden["answer"] == nothing["answer"] == REFUSAL
    assert hidden["citations"] == nothing["citations"] == [] and hidden["retrieved"] == []
    assert ask(keys.dana, "What is Project Falcon?")["status"].startswith("answered")


def test_answers_and_feedback_belong_to_the_asker(client: TestClient, keys: Keys) -> None:
    answer_id = client.post(
        "/v1/ask", json={"question": VACATION}, headers=bearer(keys.alice)
    ).json()["answer_id"]
    r = client.post(
        "/v1/feedback",
        json={"answer_id": answer_id, "rating": "down", "comment": "too long"},
        headers=bearer(keys.alice),
    )
    assert r.status_code == 201
    stored = client.get(f"/v1/answers/{answer_id}", headers=bearer(keys.alice)).json()
    assert [(f["rating"], f["comment"]) for f in stored["feedback"]] == [("down", "too long")]
    # Another user, even of the same tenant, neither sees nor rates it; the admin sees it.
    is_problem(client.get(f"/v1/answers/{answer_id}", headers=bearer(keys.bob)), 404, "not-found")
    rate = {"answer_id": answer_id, "rating": "up"}
    is_problem(
        client.post("/v1/feedback", json=rate, headers=bearer(keys.globex)), 404, "not-found"
    )
    assert client.get(f"/v1/answers/{answer_id}", headers=bearer(keys.admin)).status_code == 200
    is_problem(
        client.post("/v1/feedback", json={**rate, "rating": "meh"}, headers=bearer(keys.alice)),
        422,
        "invalid-request",
    )


# ---------------------------------------------------------------- search and documents


def test_search_runs_as_the_callers_principal(client: TestClient, keys: Keys) -> None:
    def titles(key: str, query: str) -> list[str]:
        r = client.post("/v1/search", json={"query": query, "k": 10}, headers=bearer(key))
        assert r.status_code == 200
        return [x["doc_id"] for x in r.json()["results"]]

    assert "hr/project-falcon-reorganisation.md" in titles(
        keys.dana, "Project Falcon reorganisation"
    )
    assert "hr/project-falcon-reorganisation.md" not in titles(
        keys.alice, "Project Falcon reorganisation"
    )
    r = client.post(
        "/v1/search", json={"query": "vpn", "k": 2, "explain": True}, headers=bearer(keys.alice)
    )
    assert r.json()["results"][0]["explain"]["char_end"] > 0


def test_a_key_of_another_tenant_can_neither_read_search_delete_nor_detect(
    client: TestClient, keys: Keys
) -> None:
    acme_doc = "handbook:handbook/vacation-and-leave.md"
    mine = client.get("/v1/documents", headers=bearer(keys.globex)).json()["documents"]
    assert [d["id"] for d in mine] == ["globex-board:merger.md"]
    exists = client.get(f"/v1/documents/{acme_doc}", headers=bearer(keys.globex))
    missing = client.get("/v1/documents/handbook:handbook/no-such.md", headers=bearer(keys.globex))
    body = is_problem(exists, 404, "not-found")
    assert body == {**is_problem(missing, 404, "not-found"), "instance": body["instance"]}
    is_problem(
        client.delete(f"/v1/documents/{acme_doc}", headers=bearer(keys.globex)), 404, "not-found"
    )
    assert client.get(f"/v1/documents/{acme_doc}", headers=bearer(keys.alice)).status_code == 200
    found = client.post(
        "/v1/search", json={"query": "vacation days carry over"}, headers=bearer(keys.globex)
    ).json()["results"]
    assert all(r["collection"] == "globex-board" for r in found)
    asked = client.post("/v1/ask", json={"question": VACATION}, headers=bearer(keys.globex)).json()
    assert asked["answer"] == REFUSAL
    # … and the other way round.
    nightjar = client.post(
        "/v1/ask", json={"question": "Who will Globex acquire?"}, headers=bearer(keys.admin)
    ).json()
    assert "Initech" not in nightjar["answer"]


def test_an_upload_is_ingested_with_its_acl_and_only_its_readers_find_it(
    client: TestClient, keys: Keys
) -> None:
    note = b"---\ntenant: globex\nallow_users: [bob@acme.example]\n---\n# Zebra protocol\n\n" + (
        b"The zebra protocol code is 4242 and it opens the north gate.\n"
    )
    r = client.post(
        "/v1/documents",
        files={"file": ("../zebra notes.md", note, "text/markdown")},
        data={"allow_users": "alice@acme.example", "collection": "notes"},
        headers=bearer(keys.alice),
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    # The front matter cannot move it to another tenant or widen its ACL.
    assert doc["tenant"] == "acme" and doc["allow_users"] == ["alice@acme.example"]
    assert doc["id"] == "notes:acme/alice@acme.example/zebra notes.md"
    assert doc["uploaded_by"] == "alice@acme.example"
    ref = doc["id"].replace(" ", "%20")

    def listed(key: str) -> list[str]:
        return [
            d["id"] for d in client.get("/v1/documents", headers=bearer(key)).json()["documents"]
        ]

    assert doc["id"] in listed(keys.alice) and doc["id"] not in listed(keys.bob)
    is_problem(client.get(f"/v1/documents/{ref}", headers=bearer(keys.bob)), 404, "not-found")
    question = {"question": "What is the zebra protocol code?"}
    assert (
        "4242" in client.post("/v1/ask", json=question, headers=bearer(keys.alice)).json()["answer"]
    )
    assert (
        client.post("/v1/ask", json=question, headers=bearer(keys.bob)).json()["answer"] == REFUSAL
    )
    text = client.get(f"/v1/documents/{ref}?chunks=true", headers=bearer(keys.alice)).json()
    assert "4242" in text["text"] and text["chunks"]
    is_problem(client.delete(f"/v1/documents/{ref}", headers=bearer(keys.bob)), 404, "not-found")
    assert client.delete(f"/v1/documents/{ref}", headers=bearer(keys.alice)).status_code == 204
    assert doc["id"] not in listed(keys.alice)


def test_only_the_uploader_or_an_admin_deletes(client: TestClient, keys: Keys) -> None:
    shared = "handbook:handbook/vacation-and-leave.md"
    body = is_problem(
        client.delete(f"/v1/documents/{shared}", headers=bearer(keys.alice)), 403, "forbidden"
    )
    assert "admin" in body["detail"]
    assert client.delete(f"/v1/documents/{shared}", headers=bearer(keys.admin)).status_code == 204
    is_problem(client.get(f"/v1/documents/{shared}", headers=bearer(keys.alice)), 404, "not-found")


def test_a_malformed_or_unsupported_upload_is_refused_with_the_reason(
    client: TestClient, keys: Keys
) -> None:
    broken = client.post(
        "/v1/documents",
        files={"file": ("report.pdf", b"%PDF-1.7 this is not really a pdf", "application/pdf")},
        headers=bearer(keys.alice),
    )
    assert "not ingested" in is_problem(broken, 422, "invalid-request")["detail"]
    exe = client.post(
        "/v1/documents", files={"file": ("tool.exe", b"MZ\x90\x00")}, headers=bearer(keys.alice)
    )
    assert "not a supported type" in is_problem(exe, 422, "invalid-request")["detail"]
    bad_collection = client.post(
        "/v1/documents",
        files={"file": ("a.md", b"# A\n\ntext\n")},
        data={"collection": "../etc"},
        headers=bearer(keys.alice),
    )
    is_problem(bad_collection, 422, "invalid-request")
    # Nothing half-written: the index lists no trace of them.
    ids = [
        d["id"] for d in client.get("/v1/documents", headers=bearer(keys.alice)).json()["documents"]
    ]
    assert not any("report.pdf" in i or "tool.exe" in i for i in ids)


# ---------------------------------------------------------------- auth and problems


def test_every_data_route_needs_a_valid_key(client: TestClient, keys: Keys, data: Path) -> None:
    routes = [
        ("POST", "/v1/ask", {"question": VACATION}),
        ("POST", "/v1/search", {"query": "vpn"}),
        ("GET", "/v1/documents", None),
        ("GET", "/v1/documents/handbook:handbook/vacation-and-leave.md", None),
        ("GET", "/v1/evals", None),
        ("GET", "/v1/models", None),
        ("POST", "/v1/chat/completions", {"model": "default", "messages": []}),
    ]
    store = KeyStore(data / SERVICE_DB)
    revoked = store.create("acme", "eve@acme.example", [])[0]
    store.revoke(revoked.split("_")[1])
    store.close()
    for header in (None, "Basic YWxpY2U6cHc=", "Bearer", "Bearer gk_nope", f"Bearer {revoked}"):
        for method, path, body in routes:
            headers = {"Authorization": header} if header else {}
            r = client.request(method, path, json=body, headers=headers)
            problem = is_problem(r, 401, "unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "revoked" not in problem["detail"]  # the same answer whatever the reason


def test_unknown_apps_and_bad_bodies_are_problems_naming_what_to_fix(
    client: TestClient, keys: Keys
) -> None:
    r = client.post(
        "/v1/ask", json={"question": VACATION, "app": "nope"}, headers=bearer(keys.alice)
    )
    assert "configured apps: default, gen" in is_problem(r, 404, "not-found")["detail"]
    r = client.post("/v1/ask", json={"question": "x" * 4001}, headers=bearer(keys.alice))
    problem = is_problem(r, 422, "invalid-request")
    assert problem["errors"][0]["field"] == "body.question"
    assert "xxxx" not in r.text  # the input is never echoed
    r = client.post(
        "/v1/ask",
        content=b"{not json",
        headers={**bearer(keys.alice), "content-type": "application/json"},
    )
    is_problem(r, 422, "invalid-request")
    is_problem(client.get("/v1/nothing-here", headers=bearer(keys.alice)), 404, "not-found")


def test_evaluation_runs_are_for_admins(client: TestClient, keys: Keys, data: Path) -> None:
    suite = load_suite(ROOT / "evals" / "smoke.yaml").model_copy(
        update={"sample": Sample(n=4, seed=0)}
    )
    rt = Runtime(settings_for(data))
    run = asyncio.run(EvalRunner(rt, suite, data / "work").run())
    rt.close()
    (data / "runs").mkdir()
    (data / "runs" / "smoke-1.json").write_text(json.dumps(run))
    (data / "runs" / "notes.json").write_text("{}")  # not a run: not listed
    is_problem(client.get("/v1/evals", headers=bearer(keys.alice)), 403, "forbidden")
    runs = client.get("/v1/evals", headers=bearer(keys.admin)).json()["runs"]
    assert [r["run"] for r in runs] == ["smoke-1"] and runs[0]["items"] == 4
    assert runs[0]["aggregates"]["ndcg@10"] is not None
    html = client.get("/v1/evals/smoke-1?format=html", headers=bearer(keys.admin))
    assert html.headers["content-type"].startswith("text/html") and "<svg" in html.text
    assert "default-src 'none'" in html.headers["content-security-policy"]
    is_problem(client.get("/v1/evals/..%2Fservice", headers=bearer(keys.admin)), 404, "not-found")


# ---------------------------------------------------------------- OpenAI-compatible


def test_chat_completions_answers_as_an_openai_server_with_citations(
    client: TestClient, keys: Keys
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": VACATION}]},
    ]
    r = client.post(
        "/v1/chat/completions",
        json={"model": "default", "messages": messages, "temperature": 0.2},
        headers=bearer(keys.alice),
    )
    body = r.json()
    assert r.status_code == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert "5" in body["choices"][0]["message"]["content"]
    assert body["citations"] and body["grounded"]["status"] == "answered_extractive"
    models = client.get("/v1/models", headers=bearer(keys.alice)).json()
    assert {m["id"]: m["default"] for m in models["data"]} == {"default": True, "gen": False}
    r = client.post(
        "/v1/chat/completions",
        json={"model": "default", "messages": [{"role": "assistant", "content": "hi"}]},
        headers=bearer(keys.alice),
    )
    assert "user message" in is_problem(r, 422, "invalid-request")["detail"]


def test_chat_completions_streams_chunks_then_done(client: TestClient, keys: Keys) -> None:
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "default",
            "stream": True,
            "messages": [{"role": "user", "content": VACATION}],
        },
        headers=bearer(keys.alice),
    ) as r:
        lines = [x for x in r.read().decode().splitlines() if x.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(x[6:]) for x in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "5" in text and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"]


# ---------------------------------------------------------------- operations


def test_health_readiness_and_metrics(client: TestClient, keys: Keys) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["store"] == "ok"
    client.post("/v1/ask", json={"question": VACATION}, headers=bearer(keys.alice))
    client.get("/v1/documents/handbook:x.md", headers=bearer(keys.alice))
    text = client.get("/metrics").text
    assert (
        'grounded_http_request_seconds_count{method="POST",route="/v1/ask",status="200"} 1.0'
        in text
    )
    assert 'route="/v1/documents/{ref:path}",status="404"' in text  # templates, never raw ids
    assert 'grounded_answers_total{app="default",status="answered_extractive"} 1.0' in text
    assert 'grounded_ask_stage_seconds_count{stage="retrieve"} 1.0' in text
    assert "alice" not in text and "acme" not in text
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_the_openapi_description_documents_bearer_auth(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/chat/completions" in spec["paths"] and "/v1/ask" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert client.get("/docs").status_code == 200


def test_stored_answers_expire_with_their_feedback(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = AnswerStore(tmp_path / "service.sqlite", retention_days=30, clock=lambda: now[0])
    who = Caller(Principal.of("acme", "alice@acme.example"), "key:a", False, None, None)
    old, _ = store.add(who, "q1", {"app": "default", "status": "refused"})
    store.add_feedback(old, who, "down", "")
    now[0] += 20 * 86_400
    recent, _ = store.add(who, "q2", {"app": "default", "status": "refused"})
    now[0] += 15 * 86_400  # old is 35 days old, recent 15
    assert store.prune() == 1
    assert store.get(old, who) is None and store.feedback_for(old) == []
    assert store.get(recent, who) is not None
    store.close()

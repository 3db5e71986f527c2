"""A real `grounded serve` process on a loopback port: the official openai SDK against
/v1/chat/completions, JWT bearer tokens from a JWKS file, limits shared by several
workers, and schemathesis against /openapi.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import cli_env, grounded, ok_json
from tests.server_support import bearer, copy_index, served

pytestmark = pytest.mark.slow
VACATION = "How many vacation days carry over?"
ISSUER = "https://login.acme.example/"


def create_key(data: Path, *args: str) -> str:
    out = ok_json(grounded("--data-dir", data, "keys", "create", *args, "--json", cwd=data.parent))
    return str(out["key"])


@pytest.fixture(scope="module")
def server(
    service_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    data = copy_index(service_index, tmp_path_factory.mktemp("serve") / "data")
    alice = create_key(
        data, "--tenant", "acme", "--user", "alice@acme.example", "--groups", "staff"
    )
    admin = create_key(data, "--tenant", "acme", "--user", "ops@acme.example", "--admin")
    with served(data) as url:
        yield {"url": url, "alice": alice, "admin": admin, "data": data}


def test_the_openai_sdk_gets_a_grounded_answer(server: dict[str, Any]) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server["url"] + "/v1", api_key=server["alice"], max_retries=0)
    assert "default" in [m.id for m in client.models.list()]
    completion = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": VACATION}]
    )
    message = completion.choices[0].message
    assert "5" in (message.content or "") and completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra or {}
    assert any(c["doc_id"] == "handbook/vacation-and-leave.md" for c in extra["citations"])
    assert extra["grounded"]["status"] == "answered_extractive"


def test_the_openai_sdk_streams_a_grounded_answer(server: dict[str, Any]) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server["url"] + "/v1", api_key=server["alice"], max_retries=0)
    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": VACATION}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "5" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].model_extra or {})["citations"]


def test_the_openai_sdk_sees_auth_and_unknown_models_as_openai_errors(
    server: dict[str, Any],
) -> None:
    import openai

    bad = openai.OpenAI(base_url=server["url"] + "/v1", api_key="gk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    good = openai.OpenAI(base_url=server["url"] + "/v1", api_key=server["alice"], max_retries=0)
    with pytest.raises(openai.NotFoundError):
        good.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])


def test_the_ui_shell_and_api_docs_are_served(server: dict[str, Any]) -> None:
    home = httpx.get(server["url"] + "/")
    assert home.status_code == 200 and "text/html" in home.headers["content-type"]
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert httpx.get(server["url"] + "/docs").status_code == 200
    assert "grounded_http_request_seconds" in httpx.get(server["url"] + "/metrics").text


# ---------------------------------------------------------------- JWT bearer tokens


def _token(key: Any, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "grounded", "sub": "u-1", "iat": now, "exp": now + 300}
    body |= {"tenant": "acme", "email": "alice@acme.example", "groups": ["staff"]} | claims
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def test_jwt_bearer_tokens_are_verified_against_the_jwks_and_mapped(
    service_index: Path, tmp_path: Path
) -> None:
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer_key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    (tmp_path / "grounded.yaml").write_text(
        "server:\n  jwt:\n"
        f"    issuer: {ISSUER}\n    audience: grounded\n    jwks_file: {tmp_path / 'jwks.json'}\n"
        "    admin_group: grounded-admins\n    rate: 100/min\n"
    )
    data = copy_index(service_index, tmp_path / "data")
    env = cli_env(GROUNDED_SERVER__UI="false")
    with served(data, env=env, config=tmp_path / "grounded.yaml") as url:

        def docs(token: str) -> httpx.Response:
            return httpx.get(url + "/v1/documents", headers=bearer(token))

        good = docs(_token(issuer_key, "k1"))
        assert good.status_code == 200
        ids = [d["doc_id"] for d in good.json()["documents"]]
        assert "handbook/vacation-and-leave.md" in ids
        assert "hr/project-falcon-reorganisation.md" not in ids  # alice is not in hr
        hr = docs(_token(issuer_key, "k1", email="dana@acme.example", groups=["staff", "hr"]))
        assert "hr/project-falcon-reorganisation.md" in [
            d["doc_id"] for d in hr.json()["documents"]
        ]
        refused = {
            "forged": _token(other_key, "k1"),
            "expired": _token(issuer_key, "k1", exp=int(time.time()) - 3600),
            "wrong audience": _token(issuer_key, "k1", aud="someone-else"),
            "wrong issuer": _token(issuer_key, "k1", iss="https://evil.example/"),
            "unknown kid": _token(issuer_key, "k9"),
        }
        for why, token in refused.items():
            r = docs(token)
            assert r.status_code == 401, why
            assert r.json()["type"] == "urn:grounded:problem:unauthorized", why
        evals = httpx.get(url + "/v1/evals", headers=bearer(_token(issuer_key, "k1")))
        assert evals.status_code == 403
        admin = _token(issuer_key, "k1", groups=["staff", "grounded-admins"])
        assert httpx.get(url + "/v1/evals", headers=bearer(admin)).status_code == 200


# ---------------------------------------------------------------- several workers


def test_workers_share_one_rate_limit(service_index: Path, tmp_path: Path) -> None:
    data = copy_index(service_index, tmp_path / "data")
    limited = create_key(data, "--tenant", "acme", "--user", "a@acme.example", "--rate", "6/min")
    with served(data, "--workers", "2") as url, httpx.Client(base_url=url) as client:
        codes = []
        for _ in range(10):
            # A new connection each time, so both workers take requests.
            r = httpx.get(url + "/v1/documents", headers=bearer(limited))
            codes.append(r.status_code)
        assert codes.count(200) == 6 and codes.count(429) == 4, codes
        assert client.get("/healthz").status_code == 200


# ---------------------------------------------------------------- the API description


def test_schemathesis_finds_no_server_errors_or_schema_violations(
    server: dict[str, Any], tmp_path: Path
) -> None:
    """Every operation fuzzed from /openapi.json with an admin key: no 5xx, responses match
    their documented status codes, content types, headers and schemas.

    Left out: `positive_data_acceptance` (some schema-valid requests are refused by design
    with 422: an empty upload, a conversation with no user turn), and the coverage phase of
    /v1/chat/completions, where schemathesis 4.32 fails inside its own generator.
    """
    base = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        server["url"] + "/openapi.json",
        "--header",
        f"Authorization: Bearer {server['admin']}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--workers",
        "2",
        "--seed",
        "1",
    ]
    runs = [
        [*base, "--max-time", "40", "--exclude-path", "/v1/chat/completions"],
        [*base, "--max-time", "20", "--include-path", "/v1/chat/completions",
         "--phases", "examples,fuzzing,stateful"],
    ]  # fmt: skip
    for command in runs:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=cli_env()
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

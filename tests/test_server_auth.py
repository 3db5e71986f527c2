"""Who may call `grounded serve`: API keys, OIDC JWTs, the Authorization header, `grounded keys`.

Real SQLite files, real RSA/EC keys from `cryptography`, real JWKS documents; the only
stand-ins are the JWKS fetch function and the clock, both part of JwtVerifier's API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from typer.testing import CliRunner, Result

from grounded.cli.main import app as cli_app
from grounded.config import JwtConfig
from grounded.domain import Principal
from grounded.errors import ConfigError, InvalidRequest, StoreError
from grounded.server.auth import (
    SERVICE_DB,
    Authenticator,
    AuthError,
    Caller,
    JwtVerifier,
    KeyStore,
    Rate,
    parse_rate,
)

from .helpers import cli_env, grounded

# ---------------------------------------------------------------- rates


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/min", Rate(60, 60.0, "60/min")),
        ("10/s", Rate(10, 1.0, "10/s")),
        ("1000/hour", Rate(1000, 3600.0, "1000/hour")),
        ("200000/day", Rate(200_000, 86_400.0, "200000/day")),
        (" 5 / minute ", Rate(5, 60.0, "5/min")),
        ("3/h", Rate(3, 3600.0, "3/hour")),
        ("7/sec", Rate(7, 1.0, "7/s")),
        ("2/second", Rate(2, 1.0, "2/s")),
        ("4/MIN", Rate(4, 60.0, "4/min")),
    ],
)
def test_parse_rate(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    "text", ["", "60", "60/", "/min", "60/week", "-1/min", "0/min", "1.5/min", "60/min/s", "x/min"]
)
def test_parse_rate_names_the_bad_value_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_rate(text)
    assert repr(text) in str(err.value)
    assert "s, sec, second, min, minute, h, hour, day" in str(err.value)


# ---------------------------------------------------------------- API keys


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    keys = KeyStore(tmp_path / SERVICE_DB)
    yield keys
    keys.close()


def secret_of(key: str) -> str:
    return key.split("_", 2)[2]


def refused(verify: Callable[[str], Caller], token: str) -> str:
    """The reason `verify` refuses `token`; the token itself must not be in the error."""
    with pytest.raises(AuthError) as err:
        verify(token)
    if len(token) >= 8:  # a blank or 3-character token is not worth the check
        assert token not in str(err.value) and token not in err.value.reason
    assert str(err.value).startswith("missing or invalid credentials")
    return err.value.reason


def test_a_key_carries_its_principal_role_and_limits(store: KeyStore) -> None:
    key, info = store.create(
        "acme", "alice@acme.com", ["staff", "hr", " "], rate="60/minute", tokens="200000/day"
    )
    assert re.fullmatch(r"gk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    assert key.startswith(f"gk_{info.key_id}_")
    assert (info.tenant, info.user, info.groups, info.admin) == (
        "acme", "alice@acme.com", ("hr", "staff"), False
    )  # fmt: skip
    assert (info.rate, info.tokens, info.revoked) == ("60/min", "200000/day", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info.created)
    assert store.verify(key) == Caller(
        principal=Principal.of("acme", "alice@acme.com", ["staff", "hr"]),
        subject=f"key:{info.key_id}",
        admin=False,
        rate=Rate(60, 60.0, "60/min"),
        tokens=Rate(200_000, 86_400.0, "200000/day"),
    )


def test_an_admin_key_without_user_or_limits(store: KeyStore) -> None:
    key, info = store.create("acme", None, [], admin=True)
    caller = store.verify(key)
    assert caller.admin and caller.principal == Principal("acme")
    assert caller.rate is None and caller.tokens is None and info.user is None


def test_create_refuses_bad_input_and_stores_nothing(store: KeyStore) -> None:
    with pytest.raises(InvalidRequest, match="needs a tenant"):
        store.create("  ", "alice", [])
    with pytest.raises(InvalidRequest, match="'fast'"):
        store.create("acme", "alice", [], rate="fast")
    with pytest.raises(InvalidRequest, match="'1/fortnight'"):
        store.create("acme", "alice", [], tokens="1/fortnight")
    assert store.list() == []


def test_list_revoke_and_revoked_keys_are_refused(store: KeyStore) -> None:
    key_a, a = store.create("acme", "alice", ["staff"])
    key_b, b = store.create("acme", None, [], admin=True)
    _, c = store.create("globex", "bob", [])
    assert {i.key_id for i in store.list()} == {a.key_id, b.key_id, c.key_id}
    assert {i.key_id for i in store.list("acme")} == {a.key_id, b.key_id}
    assert store.list("initech") == []

    revoked = store.revoke(b.key_id)
    assert revoked.key_id == b.key_id and revoked.revoked is not None
    assert refused(store.verify, key_b) == f"revoked key {b.key_id}"
    assert store.verify(key_a).subject == f"key:{a.key_id}"  # the others still work
    assert store.revoke(b.key_id).revoked == revoked.revoked  # a second revoke changes nothing
    listed = {i.key_id: i for i in store.list()}
    assert listed[b.key_id] == revoked and listed[a.key_id].revoked is None


def test_revoking_an_unknown_id_says_where_the_ids_are(store: KeyStore) -> None:
    with pytest.raises(InvalidRequest) as err:
        store.revoke("0123456789ab")
    assert str(err.value) == "no key '0123456789ab'; `grounded keys list` shows the ids"
    key, _ = store.create("acme", "alice", [])
    with pytest.raises(InvalidRequest) as err:
        store.revoke(key)  # a whole key pasted instead of its id is not echoed back
    assert secret_of(key) not in str(err.value) and "not a key id" in str(err.value)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1],  # truncated
        lambda k: k[:16],  # id only
        lambda k: k[:10],
        lambda k: "gx" + k[2:],  # wrong prefix
        lambda k: k[3:],  # no prefix
        lambda k: k.upper(),
        lambda k: k + "A",
        lambda k: k[:15] + "-" + k[16:],  # wrong separator
        lambda k: k + "\n",
        lambda k: "gk_",
        lambda k: " ",
        lambda k: "",
    ],
)
def test_malformed_keys_are_refused(store: KeyStore, mangle: Callable[[str], str]) -> None:
    key, _ = store.create("acme", "alice", [])
    assert refused(store.verify, mangle(key)) == "malformed API key"


def test_a_wrong_secret_or_an_unknown_id_is_refused(store: KeyStore) -> None:
    key, info = store.create("acme", "alice", [])
    assert refused(store.verify, key[:16] + secrets.token_urlsafe(32)) == (
        f"wrong secret for key {info.key_id}"
    )
    assert refused(store.verify, "gk_0123456789ab_" + secret_of(key)) == "unknown key"
    assert store.verify(key).principal.user == "alice"


def test_the_secret_is_never_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / SERVICE_DB)
    keys = [store.create("acme", f"user{i}", ["staff"])[0] for i in range(3)]

    def stored() -> bytes:  # the database, its WAL and shared-memory files
        files = sorted(tmp_path.glob(SERVICE_DB + "*"))
        assert files
        return b"".join(p.read_bytes() for p in files)

    open_blob = stored()  # while open, the rows are in the WAL
    store.close()
    for blob in (open_blob, stored()):
        for key in keys:
            secret = secret_of(key).encode()
            assert secret not in blob and key.encode() not in blob
            assert hashlib.sha256(secret).digest() in blob  # what is kept is its digest


def test_two_stores_on_one_file_see_each_others_keys(tmp_path: Path) -> None:
    """Two `grounded serve` workers: each has its own KeyStore on the same file."""
    a, b = KeyStore(tmp_path / SERVICE_DB), KeyStore(tmp_path / SERVICE_DB)
    try:
        key, info = a.create("acme", "alice", [])
        assert b.verify(key).subject == f"key:{info.key_id}"
        b.revoke(info.key_id)
        assert refused(a.verify, key) == f"revoked key {info.key_id}"

        made: list[str] = []

        def create(store: KeyStore) -> None:
            made.extend(store.create("acme", None, [])[0] for _ in range(10))

        threads = [threading.Thread(target=create, args=(s,)) for s in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(made) == 40 and len(b.list()) == 41
        assert all(a.verify(k).principal.tenant == "acme" for k in made)
    finally:
        a.close()
        b.close()
    with pytest.raises(StoreError, match="key store"):  # not a bare sqlite3 error
        a.list()


def test_another_process_writes_while_this_one_does(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from grounded.server.auth import KeyStore
        store = KeyStore(Path({str(tmp_path / SERVICE_DB)!r}))
        print("\\n".join(store.create("globex", None, [])[0] for _ in range(30)))
        store.close()
    """)
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    store = KeyStore(tmp_path / SERVICE_DB)
    try:
        mine = [store.create("acme", None, [])[0] for _ in range(30)]
        out, _ = other.communicate(timeout=60)
        assert other.returncode == 0
        theirs = out.split()
        assert len(store.list("globex")) == len(theirs) == 30 and len(store.list("acme")) == 30
        assert {store.verify(k).principal.tenant for k in theirs + mine} == {"globex", "acme"}
    finally:
        store.close()


# ---------------------------------------------------------------- JWTs

ISSUER = "https://login.acme.example/"
AUDIENCE = "grounded"
JWKS_URL = "https://login.acme.example/.well-known/jwks.json"
DROP = object()  # a claim left out


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, **extra: str) -> Any:
    if isinstance(private, rsa.RSAPrivateKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**data, "kid": kid, "use": "sig", **extra}


def jwks(*keys: Any) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


def claims(**changes: object) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "iat": now, "exp": now + 300,
        "tenant": "acme", "email": "alice@acme.com", "groups": ["staff", "hr"],
    }  # fmt: skip
    return {k: v for k, v in (base | changes).items() if v is not DROP}


def sign(
    private: Any, payload: dict[str, Any], *, kid: str | None = "k1", alg: str = "RS256"
) -> str:
    return jwt.encode(payload, private, algorithm=alg, headers={"kid": kid} if kid else None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(
    header: dict[str, Any], payload: dict[str, Any], sign_with: Callable[[bytes], bytes]
) -> str:
    """A token PyJWT would refuse to make (alg none, HMAC keyed with a public key)."""
    head = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{head}.{b64(sign_with(head.encode()))}"


def public_pem(private: rsa.RSAPrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def file_config(tmp_path: Path, *keys: Any, **settings: Any) -> JwtConfig:
    path = tmp_path / "jwks.json"
    path.write_bytes(jwks(*keys))
    return JwtConfig(issuer=ISSUER, audience=AUDIENCE, jwks_file=path, **settings)


@pytest.fixture
def verifier(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> JwtVerifier:
    return JwtVerifier(file_config(tmp_path, jwk(rsa_key, "k1")))


def test_a_valid_jwt_maps_its_claims(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert verifier.verify(sign(rsa_key, claims())) == Caller(
        principal=Principal.of("acme", "alice@acme.com", ["staff", "hr"]),
        subject=f"jwt:{ISSUER}#u-123",
        admin=False,
        rate=None,
        tokens=None,
    )
    # `aud` may be a list that includes ours; a token just past `exp` is within the leeway
    assert verifier.verify(sign(rsa_key, claims(aud=["other", AUDIENCE])))
    assert verifier.verify(sign(rsa_key, claims(exp=int(time.time()) - 5)))


def hs256_with_public_key(key: rsa.RSAPrivateKey, _: rsa.RSAPrivateKey) -> str:
    return hand_made(
        {"alg": "HS256", "typ": "JWT", "kid": "k1"},
        claims(),
        lambda data: hmac.new(public_pem(key), data, hashlib.sha256).digest(),
    )


REFUSED_JWTS: list[tuple[str, Callable[[rsa.RSAPrivateKey, rsa.RSAPrivateKey], str]]] = [
    ("bad signature", lambda key, other: sign(other, claims())),  # forged: same kid, other key
    ("expired", lambda key, _: sign(key, claims(exp=int(time.time()) - 3600))),
    ("not yet valid", lambda key, _: sign(key, claims(nbf=int(time.time()) + 3600))),
    ("wrong audience", lambda key, _: sign(key, claims(aud="another-app"))),
    ("wrong issuer", lambda key, _: sign(key, claims(iss="https://evil.example/"))),
    ("missing claim exp", lambda key, _: sign(key, claims(exp=DROP))),
    ("missing claim sub", lambda key, _: sign(key, claims(sub=DROP))),
    ("no tenant claim", lambda key, _: sign(key, claims(tenant=DROP))),
    ("unknown kid", lambda key, _: sign(key, claims(), kid="k9")),
    ("algorithm not allowed", lambda key, _: sign(key, claims(), alg="RS512")),
    (
        "algorithm not allowed",
        lambda key, _: hand_made({"alg": "none", "kid": "k1"}, claims(), lambda _: b""),
    ),
    ("algorithm not allowed", hs256_with_public_key),
    ("malformed token", lambda key, _: "not-a-jwt"),
    ("malformed token", lambda key, _: sign(key, claims()).rsplit(".", 1)[0]),
]


@pytest.mark.parametrize(("reason", "make"), REFUSED_JWTS)
def test_bad_jwts_are_refused(
    verifier: JwtVerifier,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    reason: str,
    make: Callable[[rsa.RSAPrivateKey, rsa.RSAPrivateKey], str],
) -> None:
    assert refused(verifier.verify, make(rsa_key, other_rsa_key)) == reason


def test_an_hmac_token_never_uses_the_public_key_even_when_hs256_is_allowed(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    cfg = file_config(tmp_path, jwk(rsa_key, "k1"), algorithms=["RS256", "HS256"])
    token = hs256_with_public_key(rsa_key, rsa_key)
    assert refused(JwtVerifier(cfg).verify, token) == "algorithm does not match the key"


def test_none_is_never_an_accepted_algorithm(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigError, match="'none'"):
        JwtVerifier(file_config(tmp_path, jwk(rsa_key, "k1"), algorithms=["RS256", "none"]))


def test_es256_tokens(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = JwtVerifier(file_config(tmp_path, jwk(key, "ec1")))
    assert verifier.verify(sign(key, claims(), kid="ec1", alg="ES256")).principal.tenant == "acme"


def test_claim_mapping_is_configurable(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    cfg = file_config(
        tmp_path, jwk(rsa_key, "k1"),
        tenant_claim="org", user_claim="preferred_username", groups_claim="roles",
        default_tenant="acme", admin_group="grounded-admins", rate="10/s", tokens="5000/day",
    )  # fmt: skip
    verifier = JwtVerifier(cfg)
    admin = verifier.verify(
        sign(
            rsa_key, claims(org="globex", preferred_username="bob", roles="staff, grounded-admins")
        )
    )
    assert admin.principal == Principal.of("globex", "bob", ["staff", "grounded-admins"])
    assert (
        admin.admin
        and admin.rate == Rate(10, 1.0, "10/s")
        and admin.tokens == Rate(5000, 86_400.0, "5000/day")
    )
    # no tenant claim: the default tenant; no user claim: `sub`; groups space-separated
    user = verifier.verify(sign(rsa_key, claims(roles="staff hr")))
    assert user.principal == Principal.of("acme", "u-123", ["staff", "hr"]) and not user.admin
    assert refused(verifier.verify, sign(rsa_key, claims(roles=7))) == (
        "groups claim is neither a list of strings nor a string"
    )


def test_the_kid_selects_the_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    two = JwtVerifier(file_config(tmp_path, jwk(rsa_key, "k1"), jwk(other_rsa_key, "k2")))
    assert two.verify(sign(other_rsa_key, claims(), kid="k2"))
    assert refused(two.verify, sign(rsa_key, claims(), kid="k2")) == "bad signature"
    assert refused(two.verify, sign(rsa_key, claims(), kid=None)) == "no kid, and several keys"
    one = JwtVerifier(file_config(tmp_path, jwk(rsa_key, "k1")))
    assert one.verify(sign(rsa_key, claims(), kid=None))  # one key: a kid is not needed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A JWKS URL: serves `keys`, counts fetches, fails while `down`."""

    def __init__(self, *keys: Any) -> None:
        self.keys, self.fetches, self.down = list(keys), 0, False

    def __call__(self, url: str) -> bytes:
        assert url == JWKS_URL
        self.fetches += 1
        if self.down:
            raise httpx.ConnectError("connection refused")
        return jwks(*self.keys)


def url_verifier(issuer: Issuer, clock: Clock, **settings: Any) -> JwtVerifier:
    cfg = JwtConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL, **settings)
    return JwtVerifier(cfg, fetch=issuer, clock=clock)


def test_an_unknown_kid_refetches_the_jwks_at_most_every_30_s(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    issuer, clock = Issuer(jwk(rsa_key, "k1")), Clock()
    verifier = url_verifier(issuer, clock)
    assert verifier.verify(sign(rsa_key, claims())) and issuer.fetches == 1
    issuer.keys.append(jwk(other_rsa_key, "k2"))  # the issuer rotates in a new key
    assert verifier.verify(sign(other_rsa_key, claims(), kid="k2")) and issuer.fetches == 2
    assert refused(verifier.verify, sign(rsa_key, claims(), kid="k3")) == "unknown kid"
    assert refused(verifier.verify, sign(rsa_key, claims(), kid="k4")) == "unknown kid"
    assert issuer.fetches == 2  # no fetch per forged kid
    clock.now += 31
    assert refused(verifier.verify, sign(rsa_key, claims(), kid="k3")) == "unknown kid"
    assert issuer.fetches == 3


def test_the_jwks_is_kept_for_its_ttl(rsa_key: rsa.RSAPrivateKey) -> None:
    issuer, clock = Issuer(jwk(rsa_key, "k1")), Clock()
    verifier = url_verifier(issuer, clock, jwks_ttl_s=600)
    for _ in range(3):
        verifier.verify(sign(rsa_key, claims()))
    clock.now += 599
    verifier.verify(sign(rsa_key, claims()))
    assert issuer.fetches == 1
    clock.now += 2
    verifier.verify(sign(rsa_key, claims()))
    assert issuer.fetches == 2


def test_an_unreachable_issuer(rsa_key: rsa.RSAPrivateKey) -> None:
    issuer, clock = Issuer(jwk(rsa_key, "k1")), Clock()
    verifier = url_verifier(issuer, clock, jwks_ttl_s=60)
    verifier.verify(sign(rsa_key, claims()))
    issuer.down, clock.now = True, clock.now + 61
    assert verifier.verify(sign(rsa_key, claims()))  # the keys it had are kept
    assert issuer.fetches == 2

    cold = url_verifier(issuer, clock)
    assert refused(cold.verify, sign(rsa_key, claims())) == f"no JWKS from {JWKS_URL}"
    assert refused(cold.verify, sign(rsa_key, claims())) == f"no JWKS from {JWKS_URL}"
    assert issuer.fetches == 3  # retried after a pause, not on every request
    issuer.down, clock.now = False, clock.now + 31
    assert cold.verify(sign(rsa_key, claims()))


def test_unusable_jwks_entries_are_skipped(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    cfg = file_config(
        tmp_path, {"kty": "XYZ", "kid": "odd"}, jwk(rsa_key, "enc", use="enc"), jwk(rsa_key, "k1")
    )
    verifier = JwtVerifier(cfg)
    assert verifier.verify(sign(rsa_key, claims()))
    assert refused(verifier.verify, sign(rsa_key, claims(), kid="enc")) == "unknown kid"


# ---------------------------------------------------------------- the Authorization header


def test_the_header_routes_keys_and_jwts(
    store: KeyStore, verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    key, info = store.create("acme", "alice", [])
    token = sign(rsa_key, claims())
    head, _, sig = token.split(".")
    tampered = f"{head}.{b64(json.dumps(claims(tenant='globex')).encode())}.{sig}"
    auth = Authenticator(store, verifier)
    assert auth.authenticate(f"Bearer {key}").subject == f"key:{info.key_id}"
    assert auth.authenticate(f"bearer \t {key} ").subject == f"key:{info.key_id}"
    assert auth.authenticate(f"Bearer {token}").subject == f"jwt:{ISSUER}#u-123"
    keys_only = Authenticator(store, None)
    assert refused(keys_only.authenticate, f"Bearer {token}") == (
        "not an API key, and server.jwt is not configured"
    )
    for header, reason in [
        (None, "no Authorization header"),
        ("", "no Authorization header"),
        ("Basic YWxpY2U6c2VjcmV0", "not a Bearer token"),
        (key, "not a Bearer token"),
        ("Bearer", "empty bearer token"),
        ("Bearer   ", "empty bearer token"),
        (f"Bearer {key[:-2]}", "malformed API key"),
        (f"Bearer {tampered}", "bad signature"),
    ]:
        with pytest.raises(AuthError) as err:
            auth.authenticate(header)
        assert err.value.reason == reason, header


# ---------------------------------------------------------------- grounded keys


def keys_cli(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli_app, ["--data-dir", str(tmp_path / "data"), "keys", *args])


def test_cli_create_list_revoke(tmp_path: Path) -> None:
    made = keys_cli(
        tmp_path, "create", "--tenant", "acme", "--user", "alice@acme.com",
        "--groups", "staff,hr", "--rate", "60/min", "--tokens", "200000/day",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()  # only the key on stdout, for scripts
    assert "cannot be shown again" in made.stderr
    store = KeyStore(tmp_path / "data" / SERVICE_DB)
    try:
        caller = store.verify(key)
        assert caller.principal == Principal.of("acme", "alice@acme.com", ["staff", "hr"])
        key_id = caller.subject.removeprefix("key:")
        admin = keys_cli(tmp_path, "create", "--tenant", "globex", "--admin")
        assert admin.exit_code == 0, admin.output

        table = keys_cli(tmp_path, "list")
        assert table.exit_code == 0, table.output
        header, *rows = table.stdout.splitlines()
        assert header.split() == [
            "id", "tenant", "user", "groups", "role", "rate", "tokens", "created", "revoked"
        ]  # fmt: skip
        assert len(rows) == 2 and secret_of(key) not in table.output
        assert rows[0].split()[:7] == [
            key_id, "acme", "alice@acme.com", "hr,staff", "user", "60/min", "200000/day"
        ]  # fmt: skip
        assert re.fullmatch(r"\S+Z -", " ".join(rows[0].split()[7:]))  # created, not revoked
        assert rows[1].split()[1:7] == ["globex", "-", "-", "admin", "-", "-"]
        assert keys_cli(tmp_path, "list", "--tenant", "globex").stdout.count("globex") == 1

        gone = keys_cli(tmp_path, "revoke", key_id)
        assert gone.exit_code == 0 and f"revoked {key_id}" in gone.stdout
        assert refused(store.verify, key) == f"revoked key {key_id}"
        listed = json.loads(keys_cli(tmp_path, "list", "--tenant", "acme", "--json").stdout)
        assert [k["key_id"] for k in listed] == [key_id] and listed[0]["revoked"]
    finally:
        store.close()


def test_cli_create_json(tmp_path: Path) -> None:
    made = keys_cli(tmp_path, "create", "--tenant", "acme", "--as", "bob", "--admin", "--json")
    assert made.exit_code == 0, made.output
    out = json.loads(made.stdout)
    assert out["key"].startswith(f"gk_{out['key_id']}_")
    assert {k: v for k, v in out.items() if k not in ("key", "key_id", "created")} == {
        "tenant": "acme", "user": "bob", "groups": [], "admin": True,
        "rate": None, "tokens": None, "revoked": None,
    }  # fmt: skip


def test_cli_errors(tmp_path: Path) -> None:
    bad_rate = keys_cli(tmp_path, "create", "--tenant", "acme", "--rate", "lots")
    assert isinstance(bad_rate.exception, InvalidRequest) and "'lots'" in str(bad_rate.exception)
    assert keys_cli(tmp_path, "create").exit_code == 2  # --tenant is required
    # as a user runs it: one line, exit 2, no traceback
    run = grounded("--data-dir", tmp_path / "data", "keys", "revoke", "0123456789ab",
                   cwd=tmp_path, env=cli_env())  # fmt: skip
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip() == (
        "error: no key '0123456789ab'; `grounded keys list` shows the ids"
    )

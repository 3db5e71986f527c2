"""Who is calling the HTTP service: API keys kept hashed in SQLite, and JWTs from an OIDC issuer.

An API key is `gk_<key_id>_<secret>`. Only a SHA-256 of the secret is stored, so a
lost key cannot be recovered, only revoked. A JWT is checked against the issuer's
JWKS (a file or a URL, kept for `jwks_ttl_s`) and its claims are mapped to a
principal by `server.jwt`. Every failure is an `AuthError` whose message is the
same whatever went wrong; `reason` says what, for the server log. No token, key
or secret ever appears in a message or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt

from grounded.config import JwtConfig
from grounded.domain import Principal
from grounded.errors import ConfigError, GroundedError, InvalidRequest, StoreError

log = logging.getLogger(__name__)

SERVICE_DB = "service.sqlite"  # in the data directory; shared with the service's other tables
KEY_PREFIX = "gk_"
_KEY_RE = re.compile(r"gk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")  # token_urlsafe(32): 43 chars
_KEY_ID_RE = re.compile(r"[0-9a-f]{12}")
_UNITS = {"s": ("s", 1.0), "sec": ("s", 1.0), "second": ("s", 1.0),
          "min": ("min", 60.0), "minute": ("min", 60.0),
          "h": ("hour", 3600.0), "hour": ("hour", 3600.0), "day": ("day", 86400.0)}  # fmt: skip
_RATE_RE = re.compile(r"\s*(\d+)\s*/\s*([A-Za-z]+)\s*")
KID_REFETCH_S = 30.0  # an unknown kid (key rotation) refetches the JWKS at most this often
_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP", "HS": "oct"}  # alg prefix → kty


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: float
    text: str  # normalised: "60/min"


def parse_rate(text: str) -> Rate:
    """`60/min`, `10/s`, `1000/hour`, `200000/day` → Rate."""
    match = _RATE_RE.fullmatch(text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None or int(match.group(1)) < 1:
        raise InvalidRequest(
            f"bad rate {text!r}: write N/UNIT with N ≥ 1 and UNIT one of "
            "s, sec, second, min, minute, h, hour, day (e.g. 60/min, 200000/day)"
        )
    count = int(match.group(1))
    return Rate(count=count, period_s=unit[1], text=f"{count}/{unit[0]}")


@dataclass(frozen=True)
class Caller:
    principal: Principal
    subject: str  # "key:<key_id>" or "jwt:<iss>#<sub>": stable, for limits and records
    admin: bool
    rate: Rate | None  # requests per period; None = unlimited
    tokens: Rate | None  # model tokens per period; None = unlimited


@dataclass(frozen=True)
class KeyInfo:
    """An API key as `grounded keys list` shows it: never the secret. Times are ISO-8601 UTC."""

    key_id: str
    tenant: str
    user: str | None
    groups: tuple[str, ...]
    admin: bool
    rate: str | None
    tokens: str | None
    created: str
    revoked: str | None


class AuthError(GroundedError):
    """The request carries no valid credentials. Callers all get the same message."""

    def __init__(self, reason: str) -> None:
        super().__init__("missing or invalid credentials: send `Authorization: Bearer <token>`")
        self.reason = reason  # for the server log only, never for the caller


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(secret: str) -> bytes:
    # The secret is 256 random bits, so a plain SHA-256 cannot be brute-forced; a slow
    # KDF (argon2, scrypt) only protects low-entropy passwords and would slow every request.
    return hashlib.sha256(secret.encode()).digest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, secret_sha256 BLOB NOT NULL,
    tenant TEXT NOT NULL, user TEXT, groups TEXT NOT NULL, admin INTEGER NOT NULL,
    rate TEXT, tokens TEXT, created TEXT NOT NULL, revoked TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant);
"""  # groups: a JSON array
_COLUMNS = "key_id, tenant, user, groups, admin, rate, tokens, created, revoked"


def _info(row: tuple[Any, ...]) -> KeyInfo:
    key_id, tenant, user, groups, admin, rate, tokens, created, revoked = row
    groups_t = tuple(json.loads(groups))
    return KeyInfo(key_id, tenant, user, groups_t, bool(admin), rate, tokens, created, revoked)


def _caller(info: KeyInfo) -> Caller:
    return Caller(
        principal=Principal.of(info.tenant, info.user, info.groups),
        subject=f"key:{info.key_id}",
        admin=info.admin,
        rate=parse_rate(info.rate) if info.rate else None,
        tokens=parse_rate(info.tokens) if info.tokens else None,
    )


class KeyStore:
    """API keys in the `api_keys` table of <data_dir>/service.sqlite.

    One connection shared by the process's threads (behind a lock); WAL and a busy
    timeout let several `grounded serve` workers and the CLI use the file at once.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the key store {path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _sql(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(f"the key store {self.path} failed: {exc}") from exc

    def create(
        self,
        tenant: str,
        user: str | None,
        groups: Sequence[str],
        *,
        admin: bool = False,
        rate: str | None = None,
        tokens: str | None = None,
    ) -> tuple[str, KeyInfo]:
        """A new key: returns the full key (shown once, never stored) and its record."""
        if not tenant.strip():
            raise InvalidRequest("a key needs a tenant (e.g. --tenant acme)")
        principal = Principal.of(tenant.strip(), (user or "").strip() or None, groups)
        secret = secrets.token_urlsafe(32)
        info = KeyInfo(
            key_id=secrets.token_hex(6),
            tenant=principal.tenant,
            user=principal.user,
            groups=tuple(sorted(principal.groups)),
            admin=admin,
            rate=parse_rate(rate).text if rate else None,
            tokens=parse_rate(tokens).text if tokens else None,
            created=_now(),
            revoked=None,
        )
        with self._sql() as db:  # a clash of two 48-bit random ids fails the insert loudly
            db.execute(
                f"INSERT INTO api_keys ({_COLUMNS}, secret_sha256) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (info.key_id, info.tenant, info.user, json.dumps(info.groups), int(info.admin),
                 info.rate, info.tokens, info.created, None, _digest(secret)),
            )  # fmt: skip
        return f"{KEY_PREFIX}{info.key_id}_{secret}", info

    def list(self, tenant: str | None = None) -> list[KeyInfo]:
        sql = f"SELECT {_COLUMNS} FROM api_keys"
        args: tuple[str, ...] = ()
        if tenant is not None:
            sql, args = sql + " WHERE tenant = ?", (tenant,)
        with self._sql() as db:
            rows = db.execute(sql + " ORDER BY rowid", args).fetchall()
        return [_info(r) for r in rows]

    def _get(self, key_id: str) -> tuple[KeyInfo, bytes] | None:
        with self._sql() as db:
            row = db.execute(
                f"SELECT {_COLUMNS}, secret_sha256 FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return None if row is None else (_info(row[:-1]), bytes(row[-1]))

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key (at once, for every worker); revoking it again changes nothing."""
        if not _KEY_ID_RE.fullmatch(key_id):  # not echoed: it may be a whole key, pasted
            raise InvalidRequest(
                "that is not a key id: an id is the 12 hex characters `grounded keys list` "
                "shows (not the key itself)"
            )
        with self._sql() as db:
            db.execute(
                "UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL",
                (_now(), key_id),
            )
        found = self._get(key_id)
        if found is None:
            raise InvalidRequest(f"no key {key_id!r}; `grounded keys list` shows the ids")
        return found[0]

    def verify(self, token: str) -> Caller:
        match = _KEY_RE.fullmatch(token)
        if match is None:
            raise AuthError("malformed API key")
        found = self._get(match.group(1))
        if found is None:
            raise AuthError("unknown key")
        info, digest = found
        if not hmac.compare_digest(digest, _digest(match.group(2))):
            raise AuthError(f"wrong secret for key {info.key_id}")
        if info.revoked is not None:
            raise AuthError(f"revoked key {info.key_id}")
        return _caller(info)


def _http_get(url: str) -> bytes:
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    return response.content


def _parse_jwks(raw: bytes) -> list[tuple[dict[str, Any], jwt.PyJWK]]:
    """The usable signing keys of a JWKS; keys of unknown types or for encryption are skipped."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS is an object with a `keys` list")
    keys = []
    for entry in data["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            keys.append((entry, jwt.PyJWK(entry)))
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            log.warning("JWKS: skipped a key (kid %r) that cannot be used", entry.get("kid"))
    return keys


_JWT_REASONS: dict[type[Exception], str] = {
    jwt.ExpiredSignatureError: "expired",
    jwt.ImmatureSignatureError: "not yet valid",
    jwt.InvalidAudienceError: "wrong audience",
    jwt.InvalidIssuerError: "wrong issuer",
    jwt.InvalidSignatureError: "bad signature",
    jwt.InvalidAlgorithmError: "algorithm not allowed",
    jwt.DecodeError: "malformed token",
}


def _reason(exc: Exception) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    return next((r for c, r in _JWT_REASONS.items() if isinstance(exc, c)), type(exc).__name__)


def _groups(value: object) -> tuple[str, ...]:
    """A groups claim: a list of strings, or one string separated by commas or spaces."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(g for g in re.split(r"[,\s]+", value) if g)
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return tuple(value)
    raise AuthError("groups claim is neither a list of strings nor a string")


_JwkEntry = tuple[dict[str, Any], jwt.PyJWK]


class JwtVerifier:
    """Bearer JWTs checked against the issuer's JWKS and mapped to a principal by `server.jwt`.

    `fetch(url) -> bytes` gets a JWKS URL (default: httpx, 5 s timeout); `clock` is
    monotonic seconds. Both are injectable for tests.
    """

    def __init__(
        self,
        cfg: JwtConfig,
        *,
        fetch: Callable[[str], bytes] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if "none" in (a.lower() for a in cfg.algorithms):
            raise ConfigError("server.jwt.algorithms may not include 'none': tokens must be signed")
        self.cfg = cfg
        self._algorithms = frozenset(cfg.algorithms)
        self._rate = parse_rate(cfg.rate) if cfg.rate else None
        self._tokens = parse_rate(cfg.tokens) if cfg.tokens else None
        self._clock = clock
        if cfg.jwks_url is not None:
            url, get = cfg.jwks_url, fetch or _http_get
            self._source, self._load = url, lambda: get(url)
        else:
            assert cfg.jwks_file is not None  # JwtConfig holds exactly one source
            self._source, self._load = str(cfg.jwks_file), cfg.jwks_file.read_bytes
        self._keys: list[_JwkEntry] | None = None
        self._next_fetch = float("-inf")
        self._next_kid_fetch = float("-inf")
        self._lock = threading.Lock()

    def _jwks(self, *, unknown_kid: bool = False) -> list[_JwkEntry]:
        with self._lock:
            now = self._clock()
            due = now >= self._next_fetch
            if unknown_kid and now >= self._next_kid_fetch:  # the issuer may have rotated keys
                self._next_kid_fetch, due = now + KID_REFETCH_S, True
            if due:
                self._refresh(now)
            if self._keys is None:
                raise AuthError(f"no JWKS from {self._source}")
            return self._keys

    def _refresh(self, now: float) -> None:
        try:
            self._keys = _parse_jwks(self._load())
            self._next_fetch = now + self.cfg.jwks_ttl_s
        except (httpx.HTTPError, OSError, ValueError) as exc:
            # Keep the keys we have; without any, retry soon but not on every request.
            self._next_fetch = now + min(KID_REFETCH_S, self.cfg.jwks_ttl_s)
            kept = "keeping the previous keys" if self._keys is not None else "JWTs get 401"
            log.warning("cannot load the JWKS from %s (%s); %s", self._source, exc, kept)

    def _key(self, header: dict[str, Any], alg: str) -> Any:
        kid = header.get("kid")
        keys = self._jwks()
        found = _find(keys, kid)
        if found is None and kid is not None:
            found = _find(self._jwks(unknown_kid=True), kid)
        if found is None:
            raise AuthError("unknown kid" if kid is not None else "no kid, and several keys")
        entry, jwk = found
        # The header names the algorithm, so tie it to the key: an RSA public key must
        # never verify an HS256 token (where it would serve as the HMAC secret).
        if entry.get("alg", alg) != alg or entry.get("kty") != _FAMILY.get(alg[:2]):
            raise AuthError("algorithm does not match the key")
        return jwk.key

    def verify(self, token: str) -> Caller:
        cfg = self.cfg
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if not isinstance(alg, str) or alg not in self._algorithms:
                raise AuthError("algorithm not allowed")
            claims = jwt.decode(
                token,
                self._key(header, alg),
                algorithms=[alg],
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(_reason(exc)) from None
        return self._caller(claims)

    def _caller(self, claims: dict[str, Any]) -> Caller:
        cfg = self.cfg
        tenant = claims.get(cfg.tenant_claim) or cfg.default_tenant
        if not isinstance(tenant, str) or not tenant.strip():
            raise AuthError("no tenant claim")
        sub, user = claims["sub"], claims.get(cfg.user_claim) or claims["sub"]
        if not isinstance(sub, str) or not isinstance(user, str):
            raise AuthError(f"sub or {cfg.user_claim} is not a string")
        groups = _groups(claims.get(cfg.groups_claim))
        return Caller(
            principal=Principal.of(tenant.strip(), user, groups),
            subject=f"jwt:{claims['iss']}#{sub}",
            admin=cfg.admin_group is not None and cfg.admin_group in groups,
            rate=self._rate,
            tokens=self._tokens,
        )


def _find(keys: list[_JwkEntry], kid: object) -> _JwkEntry | None:
    if kid is None:  # a token without a kid is fine while the issuer has one key
        return keys[0] if len(keys) == 1 else None
    return next((k for k in keys if k[0].get("kid") == kid), None)


class Authenticator:
    """The Authorization header → a Caller: `Bearer gk_…` is an API key, any other a JWT."""

    def __init__(self, keys: KeyStore, jwt: JwtVerifier | None) -> None:
        self.keys = keys
        self.jwt = jwt

    def authenticate(self, authorization: str | None) -> Caller:
        parts = (authorization or "").split(maxsplit=1)
        if not parts:
            raise AuthError("no Authorization header")
        if parts[0].lower() != "bearer":
            raise AuthError("not a Bearer token")
        if len(parts) == 1:
            raise AuthError("empty bearer token")
        token = parts[1].strip()
        if token.startswith(KEY_PREFIX):
            return self.keys.verify(token)
        if self.jwt is None:
            raise AuthError("not an API key, and server.jwt is not configured")
        return self.jwt.verify(token)

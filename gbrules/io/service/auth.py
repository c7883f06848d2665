"""CDS Hooks JWT bearer verification (CDS Hooks 2.0, "Trusting CDS Clients").

The client signs a short-lived JWT: ``iss`` must be on the allow-list, the signature must verify
against a public key chosen by ``kid``, ``aud`` must be this service's URL (the configured base
URL, or the base URL plus the endpoint path), and ``exp``, ``iat`` and ``jti`` must be present. A
``jti`` seen before inside the replay window is refused.

Keys come from a JWKS file given at start-up, or from the URL in the token's ``jku`` header, as
EHRs publish and rotate them. A ``jku`` is honoured only when it is on the allow-list
(``--jku``), and only for a token whose trusted issuer has the same origin (scheme, host, port):
the specification asks services to allow-list ``iss`` and ``jku`` URLs, and binding them stops
one client's key server from vouching for another issuer. Key sets are cached and fetched again
when a token names a ``kid`` the cache lacks (a rotation), at most once per ``refresh_s`` per URL
so that forged tokens cannot make the service hammer the EHR; redirects are not followed.

The replay cache (``jti``) is in memory for one process, or an SQLite file shared by every
worker of ``gbrules serve --workers N`` (:class:`SQLiteReplayCache`): a token accepted by one
worker is refused by the others.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
#: A JWKS document larger than this is refused (a key set is a few kilobytes).
MAX_JWKS_BYTES = 256 * 1024


class AuthError(Exception):
    """The bearer token is missing or not acceptable. The message is safe to return."""


# --- replay caches ---------------------------------------------------------------------------


class ReplayCache(Protocol):
    def first_use(self, jti: str, until: float) -> bool:
        """Record ``jti`` until ``until`` (epoch seconds); False if it is already recorded and
        not yet expired (a replay). Atomic across everyone sharing the cache."""


class MemoryReplayCache:
    """One process's replay cache."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, jti: str, until: float) -> bool:
        now = time.time()
        with self._lock:
            for old in [j for j, t in self._seen.items() if t < now]:
                del self._seen[old]
            if jti in self._seen:
                return False
            self._seen[jti] = until
            return True


class SQLiteReplayCache:
    """A replay cache in an SQLite file, shared by processes (``gbrules serve --workers N``).

    One row per ``jti``; the insert is a single atomic statement (``ON CONFLICT ... WHERE``
    expired), so two workers racing with the same token cannot both accept it. WAL mode and a
    busy timeout let the workers write concurrently; expired rows are swept now and then."""

    SWEEP_EVERY = 256

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 10000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS jti (jti TEXT PRIMARY KEY, until REAL NOT NULL)"
        )
        self._conn.commit()
        self._writes = 0

    def first_use(self, jti: str, until: float) -> bool:
        now = time.time()
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO jti (jti, until) VALUES (?, ?) "
                "ON CONFLICT(jti) DO UPDATE SET until = excluded.until WHERE jti.until < ?",
                (jti, until, now),
            )
            accepted = cur.rowcount == 1
            self._writes += 1
            if self._writes % self.SWEEP_EVERY == 0:
                self._conn.execute("DELETE FROM jti WHERE until < ?", (now,))
            self._conn.commit()
            return accepted

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# --- key sets from jku URLs ------------------------------------------------------------------


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the unit a ``jku`` is bound to an issuer by."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def _loopback(host: str) -> bool:
    from gbrules.io.service.config import is_loopback

    return is_loopback(host)


def jku_problems(url: str, issuers: Iterable[str]) -> list[str]:
    """Why a ``--jku`` URL cannot be used (empty: it can)."""
    scheme, host, _ = origin(url)
    if scheme not in ("http", "https") or not host:
        return [f"--jku {url!r} is not an http(s) URL"]
    if scheme == "http" and not _loopback(host):
        return [f"--jku {url!r}: plain http is accepted on loopback only"]
    if origin(url) not in {origin(i) for i in issuers}:
        return [
            f"--jku {url!r} is on no trusted issuer's origin: a key set URL is trusted only for "
            "an --issuer with the same scheme, host and port"
        ]
    return []


class JWKSCache:
    """Key sets fetched from allow-listed ``jku`` URLs, by URL then ``kid``.

    A cached set serves for ``ttl_s``; a ``kid`` it lacks makes it fetch again, but at most once
    per ``refresh_s`` per URL. Fetches use httpx with a short timeout, no redirects and a size
    limit. ``fetches`` counts them (for /health and the tests)."""

    def __init__(
        self,
        urls: Iterable[str],
        *,
        ttl_s: float = 3600.0,
        refresh_s: float = 10.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.urls = frozenset(urls)
        self.ttl_s = ttl_s
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self._sets: dict[str, tuple[float, dict[str, Any]]] = {}  # url -> (fetched at, kid->key)
        self._tried: dict[str, float] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, url: str, kid: str | None) -> Any:
        if url not in self.urls:
            raise AuthError("jku is not on this service's allow-list")
        now = time.monotonic()
        with self._lock:
            fetched_at, keys = self._sets.get(url, (0.0, {}))
            stale = now - fetched_at > self.ttl_s
            missing = kid not in keys if kid is not None else not keys
            if (stale or missing) and now - self._tried.get(url, -1e9) >= self.refresh_s:
                self._tried[url] = now
                fetched = self._fetch(url)
                if fetched is not None:
                    keys = fetched
                    self._sets[url] = (now, keys)
            if kid is None:
                if len(keys) != 1:
                    raise AuthError("token has no kid and the key set has more than one key")
                return next(iter(keys.values()))
            if kid not in keys:
                raise AuthError("unknown signing key (kid) at the jku")
            return keys[kid]

    def _fetch(self, url: str) -> dict[str, Any] | None:
        import httpx

        self.fetches += 1
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
                response = client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError:
            return None
        if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
            return None
        try:
            keyset = jwt.PyJWKSet.from_dict(json.loads(response.content))
        except (ValueError, jwt.PyJWTError):
            return None
        return {k.key_id: k.key for k in keyset.keys if k.key_id}


# --- the verifier ----------------------------------------------------------------------------


class JWTAuth:
    def __init__(
        self,
        jwks: dict[str, Any] | str | Path | None = None,
        *,
        issuers: Iterable[str],
        audience: str | Iterable[str],
        jku: Iterable[str] = (),
        replay: ReplayCache | None = None,
        replay_window_s: int = 300,
        leeway_s: int = 30,
        jwks_cache: JWKSCache | None = None,
    ) -> None:
        self.issuers = frozenset(issuers)
        if not self.issuers:
            raise ValueError("at least one trusted issuer is required")
        jku_urls = tuple(jku)
        problems = [p for url in jku_urls for p in jku_problems(url, self.issuers)]
        if problems:
            raise ValueError("; ".join(problems))
        if jwks is None and not jku_urls:
            raise ValueError("give a JWKS file (--jwks) or at least one allow-listed --jku URL")
        data: dict[str, Any] | None = (
            jwks
            if isinstance(jwks, dict) or jwks is None
            else json.loads(Path(jwks).read_text(encoding="utf-8"))
        )
        self.keys = jwt.PyJWKSet.from_dict(data) if data is not None else None
        self.jwks_cache = jwks_cache or JWKSCache(jku_urls)
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        self.replay_window_s = replay_window_s
        self.leeway_s = leeway_s
        self.replay: ReplayCache = replay or MemoryReplayCache()

    def _key(self, token: str) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthError("signing algorithm not allowed")
        kid = header.get("kid")
        jku = header.get("jku")
        if jku is not None:
            if not isinstance(jku, str):
                raise AuthError("jku must be a URL")
            try:
                unverified = jwt.decode(token, options={"verify_signature": False})
            except jwt.PyJWTError as exc:
                raise AuthError(f"malformed token: {exc}") from None
            iss = unverified.get("iss")
            if iss not in self.issuers:
                raise AuthError("issuer not trusted")
            if origin(jku) != origin(str(iss)):
                raise AuthError("jku is not on the issuer's origin")
            return self.jwks_cache.key(jku, kid)
        if self.keys is None:
            raise AuthError("token has no jku and this service has no JWKS file")
        candidates = [k for k in self.keys.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise AuthError("unknown signing key (kid)")
        return candidates[0].key

    def verify(self, authorization: str | None, path: str) -> dict[str, Any]:
        """Check an ``Authorization`` header for a request to ``path``; return the claims."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("missing bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        key = self._key(token)
        accepted = list(self.audiences) + [a.rstrip("/") + path for a in self.audiences]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=accepted,
                leeway=self.leeway_s,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"token rejected: {exc}") from None
        if claims["iss"] not in self.issuers:
            raise AuthError("issuer not trusted")
        exp = float(claims["exp"])
        until = max(exp + self.leeway_s, time.time() + self.replay_window_s)
        if not self.replay.first_use(str(claims["jti"]), until):
            raise AuthError("token replayed (jti already used)")
        return claims


def auth_from_settings(settings: dict[str, Any]) -> JWTAuth:
    """The JWT verifier from ``gbrules serve``'s options, as JSON-ready settings (each worker of
    ``--workers N`` gets them in ``GBRULES_SERVE_AUTH``): ``jwks`` (a file path or None),
    ``issuers``, ``audience``, ``jku`` (URLs) and ``replay_db`` (the shared SQLite file of used
    ``jti``, or None for an in-memory cache)."""
    replay = SQLiteReplayCache(settings["replay_db"]) if settings.get("replay_db") else None
    return JWTAuth(
        settings.get("jwks"),
        issuers=settings["issuers"],
        audience=settings["audience"],
        jku=settings.get("jku") or (),
        replay=replay,
    )

"""JWT keys from a ``jku`` URL (issue 16, problem 6): a real HTTP server on 127.0.0.1 publishes
the EHR's key set and rotates it; the service caches the set, fetches it again for an unknown
``kid`` (at most once per interval), and honours only allow-listed ``jku`` URLs on a trusted
issuer's origin. And the SQLite replay cache the workers share."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from typer.testing import CliRunner

from gbrules.io.cli import app as cli
from gbrules.io.service import create_app
from gbrules.io.service.auth import AuthError, JWKSCache, JWTAuth, SQLiteReplayCache
from tests.conftest import AS_OF
from tests.test_service import hook_request


@dataclass
class KeyServer:
    """An EHR's key publisher: serves ``keys`` as a JWKS at /jwks and counts the fetches."""

    port: int = 0
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jku(self) -> str:
        return f"{self.issuer}/jwks"


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    state = KeyServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/jwks":
                self.send_error(404)
                return
            state.fetches += 1
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    thread.join(timeout=10)


def rsa_key(kid: str) -> tuple[Any, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return key, {**jwk, "kid": kid, "alg": "RS384", "use": "sig"}


def token(
    key: Any,
    kid: str,
    server: KeyServer,
    aud: str,
    *,
    jku: str | None = None,
    iss: str | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss or server.issuer,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    alg = "ES384" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS384"
    headers = {"kid": kid, "jku": jku or server.jku, "typ": "JWT"}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


AUD = "https://cds.example.org"


def verifier(server: KeyServer, **kw: Any) -> JWTAuth:
    cache = JWKSCache([server.jku], refresh_s=kw.pop("refresh_s", 60))
    return JWTAuth(issuers=[server.issuer], audience=AUD, jku=[server.jku], jwks_cache=cache, **kw)


def bearer(t: str) -> str:
    return f"Bearer {t}"


def test_keys_come_from_the_jku_are_cached_and_refreshed_on_rotation(key_server: KeyServer) -> None:
    k1, jwk1 = rsa_key("k1")
    key_server.keys = [jwk1]
    auth = verifier(key_server, refresh_s=0)
    path = "/cds-services/patient-view"
    auth.verify(bearer(token(k1, "k1", key_server, AUD)), path)
    auth.verify(bearer(token(k1, "k1", key_server, AUD)), path)
    assert key_server.fetches == 1  # the second token used the cached set

    k2, jwk2 = rsa_key("k2")
    key_server.keys = [jwk2]  # the EHR rotated: k1 retired, k2 published
    auth.verify(bearer(token(k2, "k2", key_server, AUD)), path)
    assert key_server.fetches == 2  # an unknown kid made it fetch again

    ek = ec.generate_private_key(ec.SECP384R1())
    jwk3 = {**json.loads(ECAlgorithm.to_jwk(ek.public_key())), "kid": "k3", "alg": "ES384"}
    key_server.keys = [jwk2, jwk3]
    auth.verify(bearer(token(ek, "k3", key_server, AUD)), path)
    assert key_server.fetches == 3


def test_an_unknown_kid_fetches_at_most_once_per_interval(key_server: KeyServer) -> None:
    k1, jwk1 = rsa_key("k1")
    key_server.keys = [jwk1]
    auth = verifier(key_server, refresh_s=60)
    auth.verify(bearer(token(k1, "k1", key_server, AUD)), "/cds-services/x")
    forged, _ = rsa_key("nope")
    for _ in range(5):  # forged tokens with a kid nobody published
        with pytest.raises(AuthError, match="unknown signing key"):
            auth.verify(bearer(token(forged, "nope", key_server, AUD)), "/cds-services/x")
    assert key_server.fetches == 1  # the last fetch was less than refresh_s ago: none more


def test_a_jku_off_the_allow_list_is_never_fetched(key_server: KeyServer) -> None:
    k1, jwk1 = rsa_key("k1")
    key_server.keys = [jwk1]
    auth = verifier(key_server)
    other = f"{key_server.issuer}/other-jwks"
    with pytest.raises(AuthError, match="allow-list"):
        auth.verify(bearer(token(k1, "k1", key_server, AUD, jku=other)), "/cds-services/x")
    assert key_server.fetches == 0


def test_a_jku_is_trusted_only_for_its_own_issuer(key_server: KeyServer) -> None:
    """An allow-listed key server cannot vouch for another trusted issuer."""
    k1, jwk1 = rsa_key("k1")
    key_server.keys = [jwk1]
    cache = JWKSCache([key_server.jku])
    auth = JWTAuth(
        issuers=[key_server.issuer, "https://other-ehr.example.org"],
        audience=AUD,
        jku=[key_server.jku],
        jwks_cache=cache,
    )
    t = token(k1, "k1", key_server, AUD, iss="https://other-ehr.example.org")
    with pytest.raises(AuthError, match="origin"):
        auth.verify(bearer(t), "/cds-services/x")
    untrusted = token(k1, "k1", key_server, AUD, iss="https://evil.example.org")
    with pytest.raises(AuthError, match="issuer not trusted"):
        auth.verify(bearer(untrusted), "/cds-services/x")
    assert key_server.fetches == 0


def test_the_service_accepts_a_jku_signed_call(
    key_server: KeyServer, serve: Callable[..., str], engine: Any
) -> None:
    k1, jwk1 = rsa_key("k1")
    key_server.keys = [jwk1]
    from tests.conftest import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth = JWTAuth(issuers=[key_server.issuer], audience=url, jku=[key_server.jku])
    serve(create_app(engine, auth=auth, today=lambda: AS_OF), port)
    t = token(k1, "k1", key_server, f"{url}/cds-services/patient-view")
    headers = {"Authorization": bearer(t)}
    r = httpx.post(f"{url}/cds-services/patient-view", json=hook_request("case1"), headers=headers)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{url}/cds-services/patient-view", json=hook_request("case1"), headers=headers)
    assert r.status_code == 401 and "replayed" in r.json()["error"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--jku", "https://keys.example.net/jwks"], "no trusted issuer's origin"),
        (["--jku", "http://ehr.example.org/jwks"], "plain http"),
    ],
)
def test_serve_refuses_an_unusable_jku(args: list[str], says: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["serve", "--issuer", "http://ehr.example.org", "--audience", "http://127.0.0.1:1", *args],
    )
    assert result.exit_code == 2 and says in result.output


# --- the shared replay cache ------------------------------------------------------------------


def test_two_caches_on_one_file_share_what_they_saw(tmp_path: Path) -> None:
    """Two handles on one SQLite file, as two worker processes hold them."""
    path = tmp_path / "jti.sqlite3"
    a, b = SQLiteReplayCache(path), SQLiteReplayCache(path)
    later = time.time() + 300
    assert a.first_use("t1", later) is True
    assert b.first_use("t1", later) is False  # refused by the other handle
    assert a.first_use("t1", later) is False
    assert b.first_use("t2", later) is True
    # an expired entry no longer blocks its jti (the token itself has expired by then)
    assert a.first_use("t3", time.time() - 1) is True
    assert b.first_use("t3", later) is True
    a.close()
    b.close()


def test_racing_handles_accept_a_jti_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "jti.sqlite3"
    caches = [SQLiteReplayCache(path) for _ in range(4)]
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(len(caches))

    def race(cache: SQLiteReplayCache) -> None:
        start.wait()
        ok = cache.first_use("same", time.time() + 300)
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=race, args=(c,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False, False, False, True]

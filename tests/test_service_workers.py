"""`gbrules serve --workers N`: several processes, each with its own engine, same answers."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from benchmarks.load import server
from tests.test_service import hook_request


def _cards(url: str, name: str) -> list[tuple[str, str]]:
    body = hook_request(name)
    body["context"]["patientId"] = body["prefetch"]["patient"]["id"]
    body["hookInstance"] = str(uuid.uuid4())
    r = httpx.post(f"{url}/cds-services/patient-view", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return [(c["indicator"], c["summary"]) for c in r.json()["cards"]]


def test_two_workers_answer_like_one() -> None:
    with server(1) as one:
        expected = {n: _cards(one, n) for n in ("case1", "crisis")}
    with server(2) as two:
        for _ in range(6):
            for name, cards in expected.items():
                assert _cards(two, name) == cards
    assert expected["crisis"][0][0] == "critical"


def test_workers_refuse_jwt_auth(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS384", "use": "sig"}]}))
    args = ["serve", "--workers", "2", "--jwks", str(jwks), "--issuer", "https://ehr"]
    proc = subprocess.run(
        [sys.executable, "-m", "gbrules.io.cli", *args, "--audience", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "jti replay cache" in proc.stderr

"""`gbrules serve --workers N`: several processes, each with its own engine, same answers."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from benchmarks.load import server
from tests.conftest import free_port
from tests.service_support import Served, serve_fixed_port, wait_until
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


def test_a_token_used_on_one_worker_is_refused_on_the_other(tmp_path: Path) -> None:
    """``--workers 2`` with JWT auth: the workers share the jti replay cache (an SQLite file), so
    a replay is refused whichever worker gets it. The JSON log line of each request names the
    worker's process: the test replays until the other worker has refused it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS384", "use": "sig"}]}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "--port", str(port), "--workers", "2", "--log-format", "json",
        "--jwks", str(jwks), "--issuer", "https://ehr.example.org", "--audience", url,
    ]  # fmt: skip
    now = int(time.time())
    claims = {"iss": "https://ehr.example.org", "aud": f"{url}/cds-services/patient-view",
              "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}  # fmt: skip
    token = jwt.encode(claims, key, algorithm="RS384", headers={"kid": "k1"})
    headers = {"Authorization": f"Bearer {token}"}
    body = hook_request("case1")
    with serve_fixed_port(args, port) as served:
        first = httpx.post(f"{url}/cds-services/patient-view", json=body, headers=headers)
        assert first.status_code == 200, first.text
        accepted_by = wait_for_line(served, status="200")["process"]
        refused_by: set[int] = set()
        for _ in range(60):
            # a new connection each time, so the kernel may hand it to either worker
            r = httpx.post(f"{url}/cds-services/patient-view", json=body, headers=headers)
            assert r.status_code == 401 and "replayed" in r.json()["error"]
            refused_by = {line["process"] for line in lines(served) if line["status"] == "401"}
            if refused_by - {accepted_by}:
                break
        assert refused_by - {accepted_by}, "no replay reached the other worker in 60 tries"


def lines(served: Served) -> list[dict[str, Any]]:
    out = []
    for raw in served.stderr().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("endpoint") == "/cds-services/patient-view":
            out.append(line)
    return out


def wait_for_line(served: Served, **match: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = [x for x in lines(served) if all(x.get(k) == v for k, v in match.items())]
        return bool(found)

    wait_until(seen, f"a log line {match}")
    return found[0]


def test_workers_apply_the_site_configuration(tmp_path: Path) -> None:
    """``--workers 2 --site site.yaml``: every worker reads the site file, so a code the site
    switched off never comes back, whichever worker answers."""
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: Test clinic\ncountry: GB\ncare_setting: primary_care\ncodes_off: [sleep.hygiene]\n"
    )
    sleep_card = "Sleep hygiene: regular schedule, screens off, 7-9 hours"
    with server(2) as plain:
        assert sleep_card in {summary for _, summary in _cards(plain, "case1")}
    with server(2, ["--site", str(site)]) as two:
        for _ in range(8):  # new connections: both workers answer some of them
            summaries = {summary for _, summary in _cards(two, "case1")}
            assert sleep_card not in summaries
            assert summaries  # the rest of the draft is still there


def test_several_workers_say_why_there_is_no_workbench() -> None:
    """A workbench draft lives in one process's memory: with two workers a clinician's next
    request could reach the other one and lose the draft, so /app says so instead."""
    with server(2) as two:
        r = httpx.get(f"{two}/app/", timeout=10)
        assert r.status_code == 503
        assert "--workers 1" in r.text and "python -m gbrules.io.app" in r.text
    with server(1) as one:
        assert httpx.get(f"{one}/app/", timeout=10, follow_redirects=True).status_code == 200

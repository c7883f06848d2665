"""Secure defaults of `gbrules serve`: the refusal to serve a network without auth, the
`--insecure-no-auth` warning, security headers on every response, TLS, CORS answers, JSON
logs without patient data or tokens."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from gbrules.io.cli import app as cli
from gbrules.io.cli.serve import bind_refusal
from gbrules.io.service import ServiceConfig, create_app
from gbrules.io.service.config import is_loopback
from tests.conftest import AS_OF
from tests.service_support import serve_process
from tests.test_security import MARKED, _values
from tests.test_service import hook_request

runner = CliRunner()


# --- secure defaults ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.0.2.10", "cds.example.org", "127.0.0.1.nip"]
)
def test_serving_a_network_without_auth_is_refused(host: str) -> None:
    result = runner.invoke(cli, ["serve", "--host", host])
    assert result.exit_code == 2
    err = result.stderr
    assert f"refusing to serve patient data on {host} without authentication" in err
    for what in ("--jwks", "--issuer", "--audience", "--insecure-no-auth", "docs/SECURITY.md"):
        assert what in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("localhost.example.org", False),
    ],
)
def test_which_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert (bind_refusal(host, False, False) == []) is loopback
    assert bind_refusal(host, True, False) == []  # JWT auth configured
    assert bind_refusal(host, False, True) == []  # the operator's explicit choice


def test_insecure_no_auth_warns_at_start_and_on_health() -> None:
    with serve_process(["--insecure-no-auth"]) as served:
        health = httpx.get(f"{served.url}/health").json()
        assert health["auth"] == "none"
        assert any("--insecure-no-auth" in w for w in health["warnings"])
        stderr = served.stderr()
    assert "WARNING" in stderr and "authentication is off (--insecure-no-auth)" in stderr


def test_loopback_without_the_flag_has_no_warning(live_url: str) -> None:
    health = httpx.get(f"{live_url}/health").json()
    assert health["auth"] == "none" and "warnings" not in health


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cors-origin", "*"], "'*' is refused"),
        (["--cors-origin", "https://ehr.example.org/app"], "no path"),
        (["--time-budget", "0"], "--time-budget"),
        (["--rate-limit", "often"], "--rate-limit"),
        (["--ssl-certfile", "cert.pem"], "both --ssl-certfile and --ssl-keyfile"),
        (["--log-format", "xml"], "--log-format"),
    ],
)
def test_bad_settings_exit_2_naming_the_option(args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.stderr


# --- security headers ---------------------------------------------------------------------------


def test_security_headers_on_every_response(live_url: str) -> None:
    big = b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    responses = {
        "discovery": httpx.get(f"{live_url}/cds-services"),
        "answer": httpx.post(f"{live_url}/cds-services/patient-view", json=hook_request("case1")),
        "invalid": httpx.post(f"{live_url}/cds-services/patient-view", json={"hook": 1}),
        "too big": httpx.post(
            f"{live_url}/cds-services/patient-view",
            content=big,
            headers={"content-type": "application/json"},
        ),
        "no route": httpx.get(f"{live_url}/nowhere"),
        "feedback": httpx.post(
            f"{live_url}/cds-services/patient-view/feedback",
            json={"feedback": [{"card": "c", "outcome": "accepted"}]},
        ),
        "health": httpx.get(f"{live_url}/health"),
        "metrics": httpx.get(f"{live_url}/metrics"),
        "docs": httpx.get(f"{live_url}/docs"),
    }
    assert [r.status_code for r in responses.values()] == [
        200,
        200,
        400,
        413,
        404,
        200,
        200,
        200,
        200,
    ]
    for name, r in responses.items():
        assert r.headers["x-content-type-options"] == "nosniff", name
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], name
        assert r.headers["x-frame-options"] == "DENY", name
        assert "strict-transport-security" not in r.headers, name  # plain HTTP: no HSTS
    # Anything that may carry patient data is never stored by a cache.
    for name in ("answer", "invalid", "too big", "no route", "feedback", "health", "metrics"):
        assert responses[name].headers["cache-control"] == "no-store", name
    assert "cache-control" not in responses["discovery"].headers
    # JSON needs no content at all; the HTML page keeps its scripts but cannot be framed.
    assert responses["answer"].headers["content-security-policy"].startswith("default-src 'none'")
    assert responses["docs"].headers["content-type"].startswith("text/html")
    assert responses["docs"].headers["content-security-policy"] == "frame-ancestors 'none'"


# --- TLS ----------------------------------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(certfile))
    args = ["--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)]
    with serve_process(args, scheme="https", verify=trust) as served:
        assert served.url.startswith("https://")
        r = httpx.post(
            f"{served.url}/cds-services/patient-view", json=hook_request("crisis"), verify=trust
        )
        assert r.status_code == 200 and r.json()["cards"][0]["indicator"] == "critical"
        assert r.headers["strict-transport-security"].startswith("max-age=")
        # The certificate is checked: a client that does not trust it gets no answer.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{served.url}/cds-services")
        # And nothing is served in clear text on the TLS port.
        with pytest.raises(httpx.HTTPError):
            httpx.get(served.url.replace("https://", "http://") + "/cds-services")


# --- CORS answers (the browser's own verdict is in test_service_cors_browser.py) ---------------

ALLOWED = "https://ehr.example.org"


@pytest.fixture(scope="module")
def cors_url(serve: Callable[..., str], engine: Any) -> str:
    config = ServiceConfig(cors_origins=(ALLOWED, "http://127.0.0.1:9"))
    return serve(create_app(engine, today=lambda: AS_OF, config=config))


@pytest.mark.parametrize(
    "path", ["/cds-services", "/cds-services/patient-view", "/cds-services/order-select/feedback"]
)
def test_preflight_from_an_allowed_origin(cors_url: str, path: str) -> None:
    r = httpx.options(
        f"{cors_url}{path}",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "access-control-allow-credentials" not in r.headers
    assert "origin" in r.headers["vary"].lower()


def test_cors_never_answers_other_origins(cors_url: str) -> None:
    evil = "https://evil.example.org"
    pre = httpx.options(
        f"{cors_url}/cds-services/patient-view",
        headers={"Origin": evil, "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 400
    assert "access-control-allow-origin" not in pre.headers
    r = httpx.post(
        f"{cors_url}/cds-services/patient-view",
        json=hook_request("case1"),
        headers={"Origin": evil},
    )
    assert "access-control-allow-origin" not in r.headers  # the browser will not show it
    ok = httpx.post(
        f"{cors_url}/cds-services/patient-view",
        json=hook_request("case1"),
        headers={"Origin": ALLOWED},
    )
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert "retry-after" in ok.headers["access-control-expose-headers"].lower()
    for resp in (r, ok):
        assert resp.headers["access-control-allow-origin" if resp is ok else "vary"] != "*"


def test_no_cors_unless_configured(live_url: str) -> None:
    r = httpx.options(
        f"{live_url}/cds-services",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 405
    assert "access-control-allow-origin" not in r.headers


# --- structured logs ----------------------------------------------------------------------------


def test_json_logs_one_line_per_request_without_patient_data_or_tokens() -> None:
    token = "eyJhbGciOiJSUzM4NCJ9.secret-token-payload.signature"
    with serve_process(["--log-format", "json"]) as served:
        marked = hook_request("case1")
        marked["context"]["patientId"] = marked["prefetch"]["patient"]["id"] = MARKED["patient_id"]
        marked["prefetch"]["patient"]["name"] = [{"family": "Zebulon-Quintessa"}]
        calls = [
            httpx.post(
                f"{served.url}/cds-services/patient-view",
                json=marked,
                headers={"Authorization": f"Bearer {token}"},
            ),
            httpx.post(
                f"{served.url}/cds-services/patient-view?patient={MARKED['patient_id']}",
                json={"hook": "patient-view"},
            ),
            httpx.get(f"{served.url}/cds-services/{MARKED['patient_id']}"),
        ]
        assert [c.status_code for c in calls] == [200, 400, 405]
        served.process.terminate()
        served.process.wait(15)
        stderr = served.stderr()
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    # The /health polls that waited for the server are logged too: left out here.
    requests = [x for x in lines if x["message"] == "request" and x["endpoint"] != "/health"]
    assert len(requests) == 3
    first = requests[0]
    assert first["endpoint"] == "/cds-services/patient-view" and first["status"] == "200"
    assert first["service"] == "patient-view" and first["cards"] >= 1
    assert first["hook_instance"] == marked["hookInstance"]
    assert isinstance(first["duration_ms"], float) and first["level"] == "INFO"
    assert requests[2]["endpoint"] == "other"  # never the raw path
    text = "\n".join(stderr.splitlines())
    assert token not in text and "secret-token-payload" not in text
    assert "Zebulon" not in text and MARKED["patient_id"] not in text
    leaked = [v for v in _values(marked["prefetch"]["patient"]) if len(v) > 3 and v in text]
    assert not leaked

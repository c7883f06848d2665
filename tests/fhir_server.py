"""A real FHIR R4 server for the integration tests: Medplum's FHIR router on Node.js, on loopback.

Not a test module (no ``test_`` prefix). ``tests/medplum_server/`` holds the npm project
(``@medplum/fhir-router``, pinned) and ``server.mjs``, which serves it over HTTP with bearer
tokens. ``.ci/run`` installs it (``npm ci --prefix tests/medplum_server``). The session fixture
``fhir_server`` starts it on a free 127.0.0.1 port, loads the repository's FHIR examples and a
few US Core-style resources, and stops it at the end. Without Node.js or the npm packages the
tests that use it skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER_DIR = ROOT / "tests" / "medplum_server"
FHIR_EXAMPLES = ROOT / "examples" / "fhir"
EXAMPLE_NAMES = ("case1", "case2", "crisis")
#: Medplum 4.5 runs on Node.js 20.19 or later (5.x needs 22).
MIN_NODE = (20, 19)
IN_CI = os.environ.get("CI", "").lower() == "true"

#: The US Core-style patient: PHQ-9 total as valueString, a pregnancy by a SNOMED descendant
#: code, and more CRP results than one page holds.
USCORE_PATIENT = "uscore-paged"
USCORE_CRP_COUNT = 25


def unavailable() -> str | None:
    """Why the server cannot run here, or None."""
    node = shutil.which("node")
    if node is None:
        return "Node.js is not installed (the FHIR test server runs on it; .ci/run installs it)"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)\.(\d+)", out.stdout.strip())
    if match is None or (int(match.group(1)), int(match.group(2))) < MIN_NODE:
        return f"Node.js {out.stdout.strip()} is too old for Medplum 4.5 (needs 20.19+)"
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router" / "package.json").exists():
        return (
            "the FHIR test server's npm packages are not installed: "
            "run `npm ci --prefix tests/medplum_server` (.ci/run does)"
        )
    return None


@dataclass
class FhirTestServer:
    """A running server: its base URL and tokens (``token`` may read everything)."""

    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    #: may read Patient and Observation only (403 for the rest), like a narrow SMART scope.
    limited_token: str
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
            },
            timeout=30,
        )

    def transaction(self, entries: list[dict[str, Any]]) -> None:
        """PUT every resource in one transaction; fail loudly on any entry not stored."""
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in entries
            ],
        }
        with self.client() as client:
            response = client.post("", json=bundle)
        assert response.status_code == 200, response.text
        statuses = [e["response"]["status"] for e in response.json()["entry"]]
        assert all(s.split()[0] in ("200", "201") for s in statuses), statuses

    @classmethod
    def start(cls, extra_env: dict[str, str] | None = None) -> FhirTestServer:
        """Start a server; ``extra_env`` adds settings (the SMART ones of server.mjs)."""
        token, limited = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        log = Path(tempfile.mkstemp(prefix="gbrules-fhir-server-", suffix=".log")[1])
        env = {
            **os.environ,
            "FHIR_TEST_TOKENS": json.dumps({token: "*", limited: "Patient Observation"}),
            **(extra_env or {}),
        }
        node = shutil.which("node") or "node"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [node, str(SERVER_DIR / "server.mjs"), "--host", "127.0.0.1", "--port", "0"],
                cwd=SERVER_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        try:
            base_url = _wait_for_listening(process, log)
            server = cls(process, base_url, token, limited, log)
            _wait_until_ready(server)
        except BaseException:
            _stop(process)
            raise
        return server

    def stop(self) -> None:
        _stop(self.process)
        self.log.unlink(missing_ok=True)


def _wait_for_listening(process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> str:
    """The base URL the server prints once it accepts connections."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.5):
                if process.poll() is not None:
                    break
                continue
            line = process.stdout.readline().decode().strip()
            if line.startswith("listening "):
                return line.split(" ", 1)[1]
            if not line and process.poll() is not None:
                break
    raise RuntimeError(f"the FHIR test server did not start: {log.read_text(errors='replace')}")


def _wait_until_ready(server: FhirTestServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if client.get("Patient", params={"_count": "1"}).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the FHIR test server never answered a search")
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


# --- what the server holds -------------------------------------------------------------------


def example_resources(name: str) -> list[dict[str, Any]]:
    """The example bundle's resources, ids made unique across examples.

    The examples reuse ids (``Observation/phq9-total`` in two of them); every non-Patient id is
    prefixed with the example name and references to it are rewritten. Patient ids are unique
    already and stay as they are.
    """
    bundle = json.loads((FHIR_EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    resources: list[dict[str, Any]] = [e["resource"] for e in bundle["entry"]]
    renamed = {
        f"{r['resourceType']}/{r['id']}": f"{r['resourceType']}/{name}-{r['id']}"
        for r in resources
        if r["resourceType"] != "Patient"
    }
    out = []
    for r in resources:
        r = _rewrite_references(r, renamed)
        if r["resourceType"] != "Patient":
            r["id"] = f"{name}-{r['id']}"
        out.append(r)
    return out


def example_patient_id(name: str) -> str:
    return next(r["id"] for r in example_resources(name) if r["resourceType"] == "Patient")


def _rewrite_references(value: Any, renamed: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _rewrite_references(v, renamed) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in renamed:
            out["reference"] = renamed[ref]
        return out
    if isinstance(value, list):
        return [_rewrite_references(v, renamed) for v in value]
    return value


def uscore_resources() -> list[dict[str, Any]]:
    """A US Core-style record the examples lack.

    - the PHQ-9 total as ``valueString: "12"``, as US Core's own example carries it;
    - an active Condition coded SNOMED CT 72892002 "Normal pregnancy" (a descendant of
      77386006 "Pregnancy");
    - ``USCORE_CRP_COUNT`` CRP results over two years, more than one page of a small page size.
    """
    subject = {"reference": f"Patient/{USCORE_PATIENT}"}
    survey = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey",
            }
        ]
    }
    laboratory = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "laboratory",
            }
        ]
    }
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": USCORE_PATIENT,
            "meta": {
                "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]
            },
            "identifier": [{"system": "https://ehr.example.org/mrn", "value": "MRN-uscore"}],
            "name": [{"family": "Example", "given": ["Sam"]}],
            "gender": "female",
            "birthDate": "1993-07-02",
        },
        {
            "resourceType": "Observation",
            "id": "uscore-phq9-total",
            "status": "final",
            "category": [survey],
            "code": {
                "coding": [
                    {
                        "system": "http://loinc.org",
                        "code": "44261-6",
                        "display": "Patient Health Questionnaire 9 item (PHQ-9) total score",
                    }
                ]
            },
            "subject": subject,
            "effectiveDateTime": "2025-05-02T10:00:00Z",
            "valueString": "12",
        },
        {
            "resourceType": "Condition",
            "id": "uscore-pregnancy",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "72892002",
                        "display": "Normal pregnancy",
                    }
                ]
            },
            "subject": subject,
            "recordedDate": "2025-04-10",
        },
    ]
    for i in range(USCORE_CRP_COUNT):
        month = 1 + i % 12
        year = 2023 + i // 12
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"uscore-crp-{i:02d}",
                "status": "final",
                "category": [laboratory],
                "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5"}]},
                "subject": subject,
                "effectiveDateTime": f"{year}-{month:02d}-15T08:00:00Z",
                "valueQuantity": {
                    "value": 1.5 + i / 10,
                    "unit": "mg/L",
                    "system": "http://unitsofmeasure.org",
                    "code": "mg/L",
                },
            }
        )
    return resources


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirTestServer]:
    """The real FHIR server, loaded with the examples and the US Core-style record."""
    reason = unavailable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"FHIR test server unavailable under CI=true: {reason}")
        pytest.skip(reason)
    server = FhirTestServer.start()
    try:
        for name in EXAMPLE_NAMES:
            server.transaction(example_resources(name))
        server.transaction(uscore_resources())
        yield server
    finally:
        server.stop()

"""SMART App Launch of the workbench against real servers on 127.0.0.1.

- the EHR's authorisation server: npm ``oidc-provider`` (tests/workbench_npm/oidc.mjs), a
  public client with PKCE, resource indicators (JWT access tokens for the FHIR base), the
  launch context in the token response;
- the EHR's FHIR server: Medplum's FHIR router (tests/fhir_server.py) serving
  ``.well-known/smart-configuration`` and accepting the provider's JWTs for reads;
- the workbench under uvicorn, and headless Chromium that follows the redirects and signs in.

Needs Node.js and the npm packages of tests/medplum_server and tests/workbench_npm (.ci/run
installs them); without them the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gbrules.clinical.engine import cached_engine
from gbrules.io.app import SmartSettings, WorkbenchSettings
from gbrules.io.fhir import intake_from_fhir
from tests.conftest import AS_OF, free_port
from tests.fhir_server import (
    FhirTestServer,
    _stop,
    _wait_for_listening,
    example_patient_id,
    example_resources,
)
from tests.fhir_server import unavailable as fhir_unavailable
from tests.workbench_support import (
    IN_CI,
    NPM_DIR,
    WorkbenchServer,
    browser,  # noqa: F401 (the module's browser fixture)
)

CLIENT_ID = "gbrules-workbench"
LAUNCH = "launch-case2-7f3a"


def _unavailable() -> str | None:
    reason = fhir_unavailable()
    if reason is None and not (NPM_DIR / "node_modules" / "oidc-provider").exists():
        reason = "oidc-provider is not installed: run `npm ci --prefix tests/workbench_npm`"
    return reason


@dataclass
class OidcServer:
    process: subprocess.Popen[bytes]
    issuer: str
    log: Path

    @classmethod
    def start(cls, port: int, env: dict[str, str]) -> OidcServer:
        log = Path(tempfile.mkstemp(prefix="gbrules-oidc-", suffix=".log")[1])
        node = shutil.which("node") or "node"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [node, str(NPM_DIR / "oidc.mjs"), "--port", str(port)],
                cwd=NPM_DIR,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        try:
            issuer = _wait_for_listening(process, log)
        except BaseException:
            _stop(process)
            raise
        return cls(process, issuer, log)

    def stop(self) -> None:
        _stop(self.process)
        self.log.unlink(missing_ok=True)


@dataclass
class Ehr:
    fhir: FhirTestServer
    oidc: OidcServer
    app: WorkbenchServer


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    reason = _unavailable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"SMART test servers unavailable under CI=true: {reason}")
        pytest.skip(reason)
    app_port, oidc_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{oidc_port}"
    smart_config = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "patient/*.read"],
        "response_types_supported": ["code"],
        "capabilities": [
            "launch-ehr",
            "client-public",
            "context-ehr-patient",
            "sso-openid-connect",
        ],
    }
    fhir = FhirTestServer.start(
        {"FHIR_TEST_SMART_CONFIG": json.dumps(smart_config), "FHIR_TEST_OIDC_ISSUER": issuer}
    )
    stack: list[Any] = [fhir]
    try:
        fhir.transaction(example_resources("case2"))
        redirect = f"http://127.0.0.1:{app_port}/app/callback"
        oidc = OidcServer.start(
            oidc_port,
            {
                "OIDC_FHIR_BASE": fhir.base_url,
                "OIDC_CLIENT_ID": CLIENT_ID,
                "OIDC_REDIRECT_URI": redirect,
                "OIDC_LAUNCHES": json.dumps({LAUNCH: example_patient_id("case2")}),
            },
        )
        stack.append(oidc)
        settings = WorkbenchSettings(
            smart=SmartSettings(CLIENT_ID, (fhir.base_url,)), today=lambda: AS_OF
        )
        app = WorkbenchServer.start(settings=settings, port=app_port)
        stack.append(app)
        yield Ehr(fhir, oidc, app)
    finally:
        for part in reversed(stack):
            part.stop()


def test_an_ehr_launch_prefills_the_form_with_the_source_of_every_value(
    browser: Any,  # noqa: F811
    ehr: Ehr,
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20000)
    try:
        page.goto(f"{ehr.app.url}launch?iss={ehr.fhir.base_url}&launch={LAUNCH}")
        # the EHR's sign-in page (the provider's), then straight back to the workbench
        assert page.url.startswith(ehr.oidc.issuer + "/interaction/")
        page.click("#sign-in")
        page.wait_for_url(ehr.app.url)
        page.wait_for_selector("#draft article[data-code]")

        # the same intake as the FHIR mapping of the record, and the same draft
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in example_resources("case2")],
        }
        intake, _ = intake_from_fhir(bundle, as_of=AS_OF)
        expected = cached_engine().evaluate(intake)
        shown = set(
            page.locator("#draft article[data-code]").evaluate_all(
                "a => a.map(e => e.dataset.code)"
            )
        )
        assert shown == set(expected.codes)
        assert page.input_value("#f-age") == str(intake.age)

        # every pre-filled value shows its source resource
        patient = f"Patient/{example_patient_id('case2')}"
        assert page.inner_text("#f-age ~ .source") == f"from {patient}"
        sources = page.locator(".source").evaluate_all("a => a.map(e => e.dataset.source)")
        assert sources and all("/" in s for s in sources)
        assert any(s.startswith("Observation/") for s in sources)
        assert any(s.startswith("Condition/") for s in sources)
        # a value the clinician changes is theirs: its source goes
        with page.expect_response(lambda r: r.url.endswith("/app/intake")):
            page.fill("#f-age", str(intake.age + 1))
        page.wait_for_selector("#f-age ~ .source", state="hidden")
        page.reload()  # and the server agrees
        assert page.locator("#f-age ~ .source").count() == 0
        assert page.locator("#f-gi-bloating .source").count() == 1

        # the token never reaches the page, the URL or the title
        html = page.content()
        launch = ehr.app.workbench.store._sessions
        tokens = [
            s.smart.token.get_secret_value() for s in launch.values() if s.smart and s.smart.token
        ]
        assert tokens and all(t not in html for t in tokens)
        assert "code=" not in page.url and "example-case2" not in page.title()
    finally:
        context.close()


def test_a_launch_from_a_server_not_allowed_is_refused_before_any_request(ehr: Ehr) -> None:
    with httpx.Client(base_url=ehr.app.origin) as client:
        r = client.get(
            "/app/launch", params={"iss": "https://elsewhere.example/fhir", "launch": "x"}
        )
        assert r.status_code == 403
        assert "not allowed" in r.text


def test_a_callback_without_its_launch_or_with_a_wrong_state_is_refused(ehr: Ehr) -> None:
    with httpx.Client(base_url=ehr.app.origin) as client:
        r = client.get("/app/callback", params={"code": "x", "state": "y"})
        assert r.status_code == 400
        launch = client.get("/app/launch", params={"iss": ehr.fhir.base_url, "launch": LAUNCH})
        assert launch.status_code == 302
        location = httpx.URL(launch.headers["location"])
        assert location.params["code_challenge_method"] == "S256"
        assert location.params["aud"] == ehr.fhir.base_url
        r = client.get("/app/callback", params={"code": "x", "state": "not-the-state"})
        assert r.status_code == 400 and "state" in r.text

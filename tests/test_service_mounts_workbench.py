"""`gbrules serve` serves the clinician's workbench at /app (docs/APP.md: same process, engine and
audit trail), and each part keeps its own security policy."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gbrules.clinical.engine import cached_engine
from gbrules.io.service import create_app


def test_the_workbench_is_served_at_app_with_its_own_strict_policy() -> None:
    client = TestClient(create_app(cached_engine()))
    page = client.get("/app/", follow_redirects=True)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert page.headers["x-content-type-options"] == "nosniff"  # still the service's headers
    assert page.headers["cache-control"] == "no-store"
    api = client.get("/cds-services")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"

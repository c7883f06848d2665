"""Property-based API testing: schemathesis drives every operation of the service's OpenAPI
document against the live server; no response may be a 5xx. Bounded: 25 examples per
operation. (The schema is taken from the app at collection time; a test checks that it is the
document the server publishes at /openapi.json.)"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from gbrules.io.service import create_app

OPENAPI = create_app().openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)


def test_fuzzed_schema_is_the_published_one(live_url: str) -> None:
    assert httpx.get(f"{live_url}/openapi.json").json() == OPENAPI


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case, live_url: str) -> None:
    response = case.call(base_url=live_url, timeout=10)
    assert response.status_code < 500, (response.status_code, response.text[:500])

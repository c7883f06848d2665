"""Every CDS Hooks answer the test suite receives is checked against the CDS Hooks 2.0.1 schema.

Not a test module. ``cds_hooks_conformance`` (session, autouse; imported by conftest) wraps
``httpx.Client.send`` and ``httpx.AsyncClient.send``, which every client here goes through
(``httpx.post``, a ``Client``, Starlette's ``TestClient``), whichever server answers: a uvicorn
thread, a ``gbrules serve`` process, a worker pool. A 200 answer to ``POST /cds-services/{id}``
must be a valid service response, a 200 answer to ``GET /cds-services`` a valid discovery
response, and an error answered as ``application/fhir+json`` a valid FHIR OperationOutcome; a
violation fails the test that made the call, naming the path in the body and the rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

from gbrules.io.service.schema import cds_hooks_schema

RESPONSE = jsonschema_rs.Draft202012Validator(cds_hooks_schema("response"))
DISCOVERY = jsonschema_rs.Draft202012Validator(cds_hooks_schema("discovery"))
_SERVICE_PATH = re.compile(r"/cds-services/[^/]+")

#: How many answers were checked (the suite asserts it is not zero: the hook cannot go quiet).
checked = {"response": 0, "discovery": 0, "operation_outcome": 0}


class NotConformant(AssertionError):
    """A CDS Hooks answer that the 2.0.1 schema refuses."""


def violations(validator: Any, body: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.instance_path)) or '$'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def check(request: httpx.Request, response: httpx.Response) -> None:
    """Raise ``NotConformant`` when ``response`` breaks the CDS Hooks 2.0.1 schema."""
    path = request.url.path
    ctype = response.headers.get("content-type", "")
    if response.status_code >= 400 and ctype.startswith("application/fhir+json"):
        from fhir.resources.R4B.operationoutcome import OperationOutcome

        OperationOutcome.model_validate(json.loads(response.content))
        checked["operation_outcome"] += 1
        return
    if response.status_code != 200 or not ctype.startswith("application/json"):
        return
    if request.method == "POST" and _SERVICE_PATH.fullmatch(path):
        kind, validator = "response", RESPONSE
    elif request.method == "GET" and path == "/cds-services":
        kind, validator = "discovery", DISCOVERY
    else:
        return
    problems = violations(validator, json.loads(response.content))
    if problems:
        raise NotConformant(
            f"{request.method} {path}: not a CDS Hooks 2.0.1 {kind}: " + "; ".join(problems[:10])
        )
    checked[kind] += 1


@pytest.fixture(scope="session", autouse=True)
def cds_hooks_conformance() -> Iterator[None]:
    sync_send = httpx.Client.send
    async_send = httpx.AsyncClient.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = sync_send(self, request, **kwargs)
        if not kwargs.get("stream"):
            check(request, response)
        return response

    async def asend(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        response = await async_send(self, request, **kwargs)
        if not kwargs.get("stream"):
            check(request, response)
        return response

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.Client.send = sync_send  # type: ignore[method-assign]
        httpx.AsyncClient.send = async_send  # type: ignore[method-assign]

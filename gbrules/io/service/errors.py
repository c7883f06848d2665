"""The service's error format, ``{"error": ..., "errors": [...]}`` (or, with ``--error-format
operation-outcome``, a FHIR OperationOutcome: ``outcome``), for every failure.

Starlette's own errors (unparseable body, unknown route, wrong method), FastAPI's request
validation and anything unexpected are all answered in this one format, with the security
headers (an unexpected error is answered by Starlette's outermost layer, past the middleware
that sets them).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gbrules.clinical.intake import json_path
from gbrules.io.service.cards import strip_empty
from gbrules.io.service.middleware import security_headers
from gbrules.io.service.outcome import FHIR_JSON, error_body

log = logging.getLogger("gbrules.io.service")


class ServiceError(Exception):
    """An answer other than 200: its status, a message safe to return, the bad fields."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: strings holding lone surrogates (valid JSON escapes such as
    ``"\\ud800"`` in a request, echoed back in an id or a reference) are written as ``\\u``
    escapes instead of failing the UTF-8 encoding with a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(
                content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
            ).encode("ascii")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """A response without null or empty values (CDS Hooks JSON has none)."""
    return SafeJSONResponse(strip_empty(body), status_code=status, headers=headers)


def _outcome(request: Request) -> bool:
    """Whether the operator asked for OperationOutcome error bodies."""
    state = getattr(request.app.state, "service", None)
    return bool(state is not None and state.config.operation_outcome_errors)


def error_response(
    request: Request,
    status: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error answer in the configured format (``outcome.error_body``)."""
    oo = _outcome(request)
    body = error_body(status, message, errors, operation_outcome=oo)
    response = json_response(status, body, headers)
    if oo:
        response.headers["Content-Type"] = FHIR_JSON
    return response


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return error_response(request, exc.status, exc.message, exc.errors, headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(request, exc.status_code, str(exc.detail), None, headers)


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = exc.errors()
    bad_json = next((e for e in errs if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        where = bad_json.get("ctx", {}).get("error", "")
        return error_response(request, 400, f"request body is not valid JSON: {where}".strip())
    errors = [
        {
            "path": json_path(tuple(p for p in e["loc"] if p != "body")),
            "message": str(e.get("msg", "invalid")),
        }
        for e in errs
    ]
    return error_response(request, 400, "invalid CDS Hooks request", errors)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The class only: a message can hold request content.
    log.error("unexpected error on %s: %s", request.url.path, type(exc).__name__)
    return error_response(
        request, 500, "internal error", None, security_headers(html=False, private=True)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(Exception, _unexpected)

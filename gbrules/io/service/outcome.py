"""Error bodies: gbrules' ``{"error": ..., "errors": [...]}``, or a FHIR OperationOutcome.

CDS Hooks 2.0 leaves error bodies open; the 3.0 ballot recommends an OperationOutcome on every
non-2xx answer ("Returning OperationOutcome"). ``gbrules serve --error-format
operation-outcome`` sends one: an issue per bad field (its path in ``expression``), or one issue
with the message. The default stays ``{"error": ...}`` so existing clients are not surprised.
"""

from __future__ import annotations

from typing import Any

#: FHIR issue-type code (http://hl7.org/fhir/issue-type) for each status the service answers.
ISSUE_CODES: dict[int, str] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    412: "processing",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    500: "exception",
    503: "transient",
}
FHIR_JSON = "application/fhir+json"


def error_body(
    status: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    *,
    operation_outcome: bool = False,
) -> dict[str, Any]:
    """The body of an error answer, in the configured format."""
    if not operation_outcome:
        return {"error": message, "errors": errors} if errors else {"error": message}
    code = ISSUE_CODES.get(status, "processing")
    issues: list[dict[str, Any]] = [
        {
            "severity": "error",
            "code": code,
            "details": {"text": f"{e['path']}: {e['message']}"},
            "diagnostics": message,
            "expression": [e["path"]],
        }
        for e in errors or []
    ]
    if not issues:
        issues = [{"severity": "error", "code": code, "details": {"text": message}}]
    return {"resourceType": "OperationOutcome", "issue": issues}

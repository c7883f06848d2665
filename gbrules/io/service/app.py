"""The CDS Hooks 2.0 service: discovery, patient-view, order-select, feedback.

``create_app(engine=None, *, auth=None)`` builds a FastAPI app. The service never fetches from
the EHR: it works from ``prefetch`` only, and answers 412 when the data it needs is missing but
a ``fhirServer`` was given (the client may retry with prefetch). Request bodies over 1 MiB get
413, malformed JSON 400, invalid intake data 422 with the FHIR element paths; no JSON response
holds a null or an empty value. Feedback is logged by ids only, never patient data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gbrules.clinical.engine import Engine, cached_engine
from gbrules.clinical.intake import json_path
from gbrules.core.errors import IntakeError
from gbrules.core.result import Evaluation
from gbrules.io.fhir.intake import MappingNote, intake_from_resources
from gbrules.io.service.auth import AuthError, JWTAuth
from gbrules.io.service.cards import card_uuid, cards_for, order_conflict_cards, strip_empty

if TYPE_CHECKING:
    from gbrules.io.audit import AuditLog

log = logging.getLogger("gbrules.io.service")

MAX_BODY = 1024 * 1024

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&code="
    + ",".join(
        f"http://loinc.org|{c}" for c in ("44261-6", "44260-8", "70274-6", "1988-5", "30522-7")
    ),
    "conditions": "Condition?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "questionnaireResponses": "QuestionnaireResponse?patient={{context.patientId}}",
}

SERVICES: dict[str, dict[str, Any]] = {
    "patient-view": {
        "hook": "patient-view",
        "id": "patient-view",
        "title": "gbrules gut-brain care-plan draft",
        "description": "Drafts gut-brain care-plan suggestions (safety first) from PHQ-9, GAD-7, "
        "CRP, conditions and medications, each with its basis, for clinician review.",
        "prefetch": PREFETCH,
        "usageRequirements": "Suggestions for a clinician, not orders. Works from prefetch only.",
    },
    "order-select": {
        "hook": "order-select",
        "id": "order-select",
        "title": "gbrules safety check of draft orders",
        "description": "Warns when a draft order (probiotic or supplement, diet order) conflicts "
        "with a safety override: probiotic cautions, or lifestyle work deferred by a crisis.",
        "prefetch": PREFETCH,
    },
}


class CDSRequest(BaseModel):
    """A CDS Hooks 2.0 service request."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=256)
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    context: dict[str, Any]
    prefetch: dict[str, dict[str, Any] | None] | None = None


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    card: str = Field(min_length=1, max_length=256)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: dict[str, Any] | None = None
    outcomeTimestamp: str | None = None


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


class ServiceError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


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


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> SafeJSONResponse:
    return SafeJSONResponse(strip_empty(body), status_code=status, headers=headers)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 (Content-Length or streamed)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _raw(send, 400, "invalid Content-Length")
                return
            if int(length) > self.limit:
                await _raw(send, 413, f"request body over {self.limit} bytes")
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _raw(send, 413, f"request body over {self.limit} bytes")
                return
            chunks.append(body)
            if not msg.get("more_body"):
                break
        done = False

        async def replay() -> Message:
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _raw(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _resources(prefetch: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key in sorted(prefetch):
        value = prefetch[key]
        if value is None:
            continue
        if value.get("resourceType") == "Bundle":
            entries = value.get("entry") or []
            if not isinstance(entries, list):
                raise ServiceError(400, f"prefetch.{key}.entry must be an array")
            for i, e in enumerate(entries):
                if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
                    raise ServiceError(400, f"prefetch.{key}.entry[{i}] has no resource object")
                search = e.get("search")
                if search is not None and not isinstance(search, dict):
                    raise ServiceError(400, f"prefetch.{key}.entry[{i}].search must be an object")
                if search and search.get("mode") == "outcome":
                    continue
                out.append((f"prefetch.{key}.entry[{i}].resource", e["resource"]))
        else:
            out.append((f"prefetch.{key}", value))
    return out


def create_app(
    engine: Engine | None = None,
    *,
    auth: JWTAuth | None = None,
    today: Callable[[], date] | None = None,
    audit: AuditLog | None = None,
) -> FastAPI:
    """The CDS Hooks service. ``engine`` defaults to the bundled rulebook; ``auth`` turns on
    JWT verification; ``today`` fixes the evaluation date (tests); ``audit`` records every
    card served and every feedback (docs/AUDIT.md). Audit writes never block or fail a card
    response: they go through ``safe_record_request`` (background queue, failures counted)."""
    app = FastAPI(
        title="gbrules CDS Hooks service",
        version="1.0",
        description="CDS Hooks 2.0 service drafting gut-brain care-plan suggestions "
        "for clinician review. See docs/EHR.md.",
    )
    app.state.feedback = []
    app.state.audit = audit
    app.add_middleware(BodyLimit, limit=MAX_BODY)

    def get_engine() -> Engine:
        return engine if engine is not None else cached_engine()

    def evaluation_date() -> date:
        return today() if today else datetime.now(UTC).date()

    async def check_auth(request: Request) -> None:
        if auth is None:
            return
        try:
            auth.verify(request.headers.get("authorization"), request.url.path)
        except AuthError as exc:
            raise ServiceError(401, str(exc)) from None

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = (
            {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
        )
        return _json(exc.status, {"error": exc.message, "errors": exc.errors}, headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's own errors (unparseable body, unknown route, wrong method) in the
        # service's error format.
        headers = dict(exc.headers) if exc.headers else None
        return _json(exc.status_code, {"error": str(exc.detail)}, headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            e = next(e for e in errs if e.get("type") == "json_invalid")
            where = e.get("ctx", {}).get("error", "")
            return _json(400, {"error": f"request body is not valid JSON: {where}".strip()})
        errors = [
            {
                "path": json_path(tuple(p for p in e["loc"] if p != "body")),
                "message": str(e.get("msg", "invalid")),
            }
            for e in errs
        ]
        return _json(400, {"error": "invalid CDS Hooks request", "errors": errors})

    @app.get("/cds-services", summary="CDS Hooks discovery")
    async def discovery() -> JSONResponse:
        return _json(200, {"services": list(SERVICES.values())})

    def _evaluate(req: CDSRequest) -> tuple[Evaluation, list[MappingNote], str]:
        patient_id = req.context.get("patientId")
        if not isinstance(patient_id, str) or not patient_id:
            raise ServiceError(400, "context.patientId is required")
        prefetch = req.prefetch or {}
        if not isinstance(prefetch.get("patient"), dict):
            if req.fhirServer:
                raise ServiceError(
                    412,
                    "prefetch.patient is missing; this service does not fetch from the "
                    "FHIR server: send the prefetch",
                )
            raise ServiceError(400, "prefetch.patient is required")
        patient = prefetch["patient"]
        pid = patient.get("id") if patient is not None else None
        if pid is not None and pid != patient_id:
            raise ServiceError(400, "prefetch.patient.id does not match context.patientId")
        try:
            intake, notes = intake_from_resources(_resources(prefetch), as_of=evaluation_date())
            ev = get_engine().evaluate(intake)
        except IntakeError as exc:
            raise ServiceError(
                422,
                "the prefetch data cannot be used as an intake",
                [{"path": e.path, "message": e.message} for e in exc.errors],
            ) from None
        except (ValueError, TypeError, ArithmeticError) as exc:
            log.warning("prefetch mapping failed: %s", type(exc).__name__)
            raise ServiceError(422, f"the prefetch data cannot be mapped: {exc}") from None
        return ev, notes, f"Patient/{patient_id}"

    @app.post(
        "/cds-services/{service_id}",
        summary="Call a CDS service",
        dependencies=[Depends(check_auth)],
        responses={400: {}, 401: {}, 404: {}, 412: {}, 413: {}, 422: {}},
    )
    async def call_service(service_id: str, req: CDSRequest) -> JSONResponse:
        spec = SERVICES.get(service_id)
        if spec is None:
            raise ServiceError(404, f"no CDS service {service_id!r}")
        if req.hook != spec["hook"]:
            raise ServiceError(400, f"service {service_id} answers hook {spec['hook']!r}")
        ev, notes, patient_ref = _evaluate(req)
        stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
        cards = cards_for(
            ev, patient_ref, hook_instance=req.hookInstance, authored=stamp, notes=notes
        )
        if service_id == "order-select":
            orders = _draft_orders(req.context)
            crisis = [c for c in cards if c["indicator"] == "critical"]
            cards = crisis + order_conflict_cards(ev, orders, hook_instance=req.hookInstance)
        log.info("%s %s: %d card(s)", service_id, req.hookInstance, len(cards))
        if audit is not None:
            _audit_cards(audit, req, service_id, ev, cards)
        # ``cards`` is required by CDS Hooks even when empty: not stripped (each card already is).
        return SafeJSONResponse({"cards": cards})

    @app.post(
        "/cds-services/{service_id}/feedback",
        summary="Card feedback",
        dependencies=[Depends(check_auth)],
        responses={400: {}, 401: {}, 404: {}, 413: {}},
    )
    async def feedback(service_id: str, body: FeedbackRequest) -> JSONResponse:
        if service_id not in SERVICES:
            raise ServiceError(404, f"no CDS service {service_id!r}")
        for item in body.feedback:
            accepted = [str(s.get("id")) for s in item.acceptedSuggestions or [] if s.get("id")]
            reason = (item.overrideReason or {}).get("reason") or {}
            record = {
                "service": service_id,
                "card": item.card,
                "outcome": item.outcome,
                "acceptedSuggestions": accepted,
                "overrideReason": reason.get("code") if isinstance(reason, dict) else None,
            }
            app.state.feedback.append(record)
            log.info("feedback %s", record)
        if audit is not None:
            await run_in_threadpool(_audit_feedback, audit, body)
        return _json(200, {"received": len(body.feedback)})

    @app.get("/health", summary="Liveness and audit-trail counters")
    async def health() -> JSONResponse:
        body: dict[str, Any] = {"status": "ok"}
        if audit is not None:
            body["audit"] = audit.stats()
        return _json(200, body)

    return app


def app_from_env() -> FastAPI:
    """The app of one ``gbrules serve --workers N`` worker process, configured from the
    environment the parent set: ``GBRULES_SERVE_RULES`` (site pack), ``GBRULES_AUDIT_DB`` and
    ``GBRULES_AUDIT_SECRET``. Each worker compiles its own engine and owns its audit writer,
    which it drains at shutdown."""
    import contextlib
    import os
    from collections.abc import AsyncIterator

    engine = cached_engine(os.environ.get("GBRULES_SERVE_RULES") or None)
    audit = None
    if os.environ.get("GBRULES_AUDIT_DB"):
        from gbrules.io.audit import AuditLog

        audit = AuditLog.from_env()
        if audit is not None:
            with contextlib.suppress(Exception):  # counted per write; keep serving
                audit.migrate()
    app = create_app(engine, audit=audit)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        if audit is not None:
            audit.close()

    app.router.lifespan_context = lifespan
    return app


def _audit_cards(
    audit: AuditLog, req: CDSRequest, service_id: str, ev: Evaluation, cards: list[dict[str, Any]]
) -> None:
    """Record the cards served. A category card is filed under its lead suggestion's rule."""
    from gbrules.io.audit import CardRecord

    lead: dict[str, Any] = {}
    for s in ev.suggestions:  # already ordered: the first of a category is its lead
        lead.setdefault(card_uuid(req.hookInstance, s.category), s)
    records = [
        CardRecord(c["uuid"], lead[c["uuid"]].code, lead[c["uuid"]].rule_id, c["indicator"])
        for c in cards
        if c["uuid"] in lead
    ]
    audit.safe_record_request(req.hook, req.hookInstance, service_id, ev, records)


def _audit_feedback(audit: AuditLog, body: FeedbackRequest) -> None:
    """Store each feedback item: unknown card 404, bad item 400, database down 503."""
    from gbrules.io.audit import UnknownCard

    audit.flush()  # the card records of a just-served request may still be queued
    for i, item in enumerate(body.feedback):
        accepted = [str(s["id"]) for s in item.acceptedSuggestions or [] if s.get("id")]
        reason = (item.overrideReason or {}).get("reason")
        codes = [str(reason["code"])] if isinstance(reason, dict) and reason.get("code") else []
        try:
            at = datetime.fromisoformat(item.outcomeTimestamp) if item.outcomeTimestamp else None
            audit.record_feedback(item.card, item.outcome, accepted, codes, at)
        except UnknownCard:
            raise ServiceError(404, f"feedback[{i}].card: no such card was served") from None
        except ValueError as exc:
            raise ServiceError(400, f"feedback[{i}]: {exc}") from None
        except Exception as exc:
            log.warning("audit feedback write failed: %s", type(exc).__name__)
            raise ServiceError(503, "the audit trail is unavailable; retry later") from None


def _draft_orders(context: dict[str, Any]) -> list[dict[str, Any]]:
    draft = context.get("draftOrders")
    if not isinstance(draft, dict):
        return []
    selections = context.get("selections")
    if selections is not None and not (
        isinstance(selections, list) and all(isinstance(x, str) for x in selections)
    ):
        raise ServiceError(400, "context.selections must be an array of strings")
    chosen = set(selections) if selections is not None else None
    entries = draft.get("entry") or []
    if not isinstance(entries, list):
        raise ServiceError(400, "context.draftOrders.entry must be an array")
    out = []
    for e in entries:
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict):
            continue
        ref = f"{res.get('resourceType')}/{res.get('id')}"
        if chosen is None or ref in chosen:
            out.append(res)
    return out

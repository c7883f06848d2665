"""The routes, one function each. They read the service's parts from ``app.state.service``
(a :class:`ServiceState` that ``create_app`` builds) and leave the work to ``hooks``: the
coroutines here only check the request, hand the evaluation to a worker thread and answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gbrules.core.engine import Engine
from gbrules.io.service.cards import notes_extension
from gbrules.io.service.config import ServiceConfig
from gbrules.io.service.errors import SafeJSONResponse, ServiceError, json_response
from gbrules.io.service.hooks import (
    SERVICES,
    Answer,
    CDSRequest,
    FeedbackRequest,
    answer_call,
    record_feedback,
)
from gbrules.io.service.limits import Busy, Deadline, EvaluationGate, OverBudget
from gbrules.io.service.metrics import ServiceMetrics
from gbrules.io.service.middleware import LOG_SCOPE_KEY

if TYPE_CHECKING:
    from gbrules.clinical.site import SiteConfig
    from gbrules.io.audit import AuditLog
    from gbrules.io.fhir.fetch import FhirFetcher
    from gbrules.io.service.auth import JWTAuth
    from gbrules.io.service.releases import Releases

log = logging.getLogger("gbrules.io.service")

INSECURE_WARNING = (
    "authentication is off (--insecure-no-auth): anyone who can reach this port can send "
    "patient data and read care-plan drafts; configure JWT auth (docs/SECURITY.md)"
)


@dataclass
class ServiceState:
    """Everything a route needs, built once per app."""

    engine: Callable[[], Engine]
    today: Callable[[], date]
    auth: JWTAuth | None
    audit: AuditLog | None
    config: ServiceConfig
    metrics: ServiceMetrics
    gate: EvaluationGate
    site: SiteConfig | None = None
    releases: Releases | None = None
    admin_token: str | None = None
    fetcher: FhirFetcher | None = None

    def warnings(self) -> list[str]:
        return [INSECURE_WARNING] if self.auth is None and self.config.insecure_no_auth else []


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


#: A route's parameter for the service state (FastAPI dependency injection).
State = Annotated[ServiceState, Depends(service_state)]


def _note(request: Request, **values: Any) -> None:
    """Ids and counts for the request's access-log line (never patient data)."""
    notes = request.scope.get(LOG_SCOPE_KEY)
    if isinstance(notes, dict):
        notes.update(values)


async def check_auth(request: Request, state: State) -> None:
    if state.auth is None:
        return
    from gbrules.io.service.auth import AuthError

    try:
        state.auth.verify(request.headers.get("authorization"), request.url.path)
    except AuthError as exc:
        raise ServiceError(401, str(exc)) from None


async def discovery() -> JSONResponse:
    return json_response(200, {"services": list(SERVICES.values())})


async def call_service(
    service_id: str,
    req: CDSRequest,
    request: Request,
    state: State,
) -> JSONResponse:
    spec = SERVICES.get(service_id)
    if spec is None:
        raise ServiceError(404, f"no CDS service {service_id!r}")
    if req.hook != spec["hook"]:
        raise ServiceError(400, f"service {service_id} answers hook {spec['hook']!r}")
    if state.site is not None and spec["hook"] not in state.site.enabled_hooks:
        raise ServiceError(404, f"hook {spec['hook']!r} is not enabled at this site")
    _note(request, service=service_id, hook_instance=req.hookInstance)
    retry = {"Retry-After": str(state.config.retry_after_s)}

    def work(deadline: Deadline) -> Answer:
        releases = state.releases
        candidate = releases.candidate if releases is not None else None
        return answer_call(
            service_id,
            req,
            engine=releases.active.engine if releases is not None else state.engine(),
            as_of=state.today(),
            deadline=deadline,
            metrics=state.metrics,
            audit=state.audit,
            fetcher=state.fetcher,
            site=state.site,
            rules_off=releases.rules_off if releases is not None else frozenset(),
            shadow=candidate.engine if candidate is not None else None,
        )

    outcome = "error"
    try:
        answer = await state.gate.run(work)
        outcome = "answered"
    except ServiceError:
        outcome = "invalid"
        raise
    except Busy:
        outcome = "busy"
        state.metrics.rejections.labels("concurrency").inc()
        raise ServiceError(
            503,
            f"all {state.gate.max_concurrent} evaluation slots are busy; retry shortly",
            headers=retry,
        ) from None
    except OverBudget:
        outcome = "over_budget"
        state.metrics.rejections.labels("time_budget").inc()
        raise ServiceError(
            503,
            f"the evaluation did not finish within its time budget of "
            f"{state.gate.time_budget_s:g} s; nothing was drafted",
            headers=retry,
        ) from None
    finally:
        if outcome != "answered":
            state.metrics.evaluations.labels(service_id, outcome).inc()
    _note(request, cards=len(answer.cards))
    # ``cards`` is required by CDS Hooks even when empty: not stripped (each card already is).
    # The mapping notes travel with every answer, cards or not, as a response extension.
    body: dict[str, Any] = {"cards": answer.cards}
    extension = notes_extension(answer.notes)
    if extension:
        body["extension"] = extension
    return SafeJSONResponse(body)


async def feedback(
    service_id: str,
    body: FeedbackRequest,
    request: Request,
    state: State,
) -> JSONResponse:
    if service_id not in SERVICES:
        raise ServiceError(404, f"no CDS service {service_id!r}")
    for item in body.feedback:
        state.metrics.feedback.labels(service_id, item.outcome).inc()
    _note(request, service=service_id, feedback=len(body.feedback))
    if state.audit is not None:
        await anyio.to_thread.run_sync(partial(record_feedback, state.audit, body))
    return json_response(200, {"received": len(body.feedback)})


async def health(state: State) -> JSONResponse:
    body: dict[str, Any] = {
        "status": "ok",
        "auth": "jwt" if state.auth is not None else "none",
        "warnings": state.warnings(),
        "evaluations_in_flight": state.gate.running,
    }
    if state.audit is not None:
        body["audit"] = state.audit.stats()
    return json_response(200, body)


async def metrics(state: State) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def add_routes(app: FastAPI) -> None:
    app.add_api_route("/cds-services", discovery, methods=["GET"], summary="CDS Hooks discovery")
    app.add_api_route(
        "/cds-services/{service_id}",
        call_service,
        methods=["POST"],
        summary="Call a CDS service",
        dependencies=[Depends(check_auth)],
        responses={400: {}, 401: {}, 404: {}, 412: {}, 413: {}, 422: {}, 429: {}, 503: {}},
    )
    app.add_api_route(
        "/cds-services/{service_id}/feedback",
        feedback,
        methods=["POST"],
        summary="Card feedback",
        dependencies=[Depends(check_auth)],
        responses={400: {}, 401: {}, 404: {}, 413: {}, 429: {}, 503: {}},
    )
    app.add_api_route(
        "/health", health, methods=["GET"], summary="Liveness, auth mode, warnings, audit counters"
    )
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        summary="Prometheus metrics",
        response_class=Response,
    )

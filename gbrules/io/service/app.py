"""The CDS Hooks 2.0 service: discovery, patient-view, order-select, feedback, health, metrics.

``create_app`` assembles the parts: the routes (``routes``), the calls themselves (``hooks``),
the ASGI layers (``middleware``: metrics and access log, security headers, CORS, rate limit,
body limit), the limits (``limits``), the error format (``errors``). Request bodies over 1 MiB
get 413, malformed JSON 400, invalid intake data 422 with the FHIR element paths; no JSON
response holds a null or an empty value. Feedback is counted in the metrics and, with an audit
trail, stored by ids and codes; no request or feedback is kept in memory.
docs/EHR.md describes the API, docs/SECURITY.md the deployment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from gbrules.clinical.engine import Engine, cached_engine
from gbrules.io.app import Drafting, create_workbench
from gbrules.io.service.admin import add_admin_routes
from gbrules.io.service.config import ENV_AUTH, ENV_CONFIG, ServiceConfig
from gbrules.io.service.errors import install_error_handlers
from gbrules.io.service.hooks import SERVICES
from gbrules.io.service.limits import ClientRateLimiter, EvaluationGate
from gbrules.io.service.metrics import ServiceMetrics
from gbrules.io.service.middleware import MAX_BODY, BodyLimit, Observe, RateLimit, SecurityHeaders
from gbrules.io.service.routes import ServiceState, add_routes

if TYPE_CHECKING:
    from gbrules.clinical.site import SiteConfig
    from gbrules.io.audit import AuditLog
    from gbrules.io.fhir.fetch import FhirFetcher
    from gbrules.io.service.auth import JWTAuth
    from gbrules.io.service.releases import Releases

log = logging.getLogger("gbrules.io.service")

#: What a browser client may send (CDS Hooks: a bearer JWT and a JSON body) and read.
CORS_METHODS = ("GET", "POST")
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_EXPOSED = ("Retry-After",)


def create_app(
    engine: Engine | None = None,
    *,
    auth: JWTAuth | None = None,
    today: Callable[[], date] | None = None,
    audit: AuditLog | None = None,
    config: ServiceConfig | None = None,
    site: SiteConfig | None = None,
    releases: Releases | None = None,
    admin_token: str | None = None,
    workbench: bool = True,
) -> FastAPI:
    """The CDS Hooks service. ``engine`` defaults to the bundled rulebook; ``auth`` turns on
    JWT verification; ``today`` fixes the evaluation date (tests); ``audit`` records every
    card served and every feedback (docs/AUDIT.md; writes never block or fail a card
    response); ``config`` holds the operator's limits, CORS origins and log format.
    ``site``: the site configuration (freshness windows, suppressions, enabled hooks);
    ``releases``: the active release, a candidate in shadow and the kill switch (they replace
    ``engine``); ``admin_token`` turns on the admin endpoints (``admin.py``); ``workbench``
    False answers /app with 503 and the reason (the workbench's drafts live in one process's
    memory, so one of several workers cannot serve it)."""
    config = config or ServiceConfig()
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    metrics = ServiceMetrics(audit)
    gate = EvaluationGate(config.max_concurrent, config.time_budget_s)
    metrics.in_flight.set_function(lambda: gate.running)
    if releases is not None:
        slots = releases

        def engine_of() -> Engine:
            return slots.active.engine

    state = ServiceState(
        engine=engine_of
        if releases is not None
        else (lambda: engine)
        if engine is not None
        else cached_engine,
        today=today or (lambda: datetime.now(UTC).date()),
        auth=auth,
        audit=audit,
        config=config,
        metrics=metrics,
        gate=gate,
        site=site,
        releases=releases,
        admin_token=admin_token,
        fetcher=fhir_fetcher(config),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for warning in state.warnings():
            log.warning("%s", warning)
        yield

    app = FastAPI(
        title="gbrules CDS Hooks service",
        version="1.0",
        description="CDS Hooks 2.0 service drafting gut-brain care-plan suggestions "
        "for clinician review. See docs/EHR.md and docs/SECURITY.md.",
        lifespan=lifespan,
    )
    app.state.service = state
    install_error_handlers(app)
    add_routes(app)
    # The clinician's workbench (docs/APP.md): same process, audit trail and drafting as the
    # cards: the active release, the site configuration and the kill switch.
    if workbench:
        drafting = Drafting(
            engine=state.engine,
            site=site,
            rules_off=(lambda: slots.rules_off) if releases is not None else tuple,
        )
        app.mount("/app", create_workbench(engine, audit=audit, drafting=drafting))
    else:
        app.mount("/app", _no_workbench)
    add_admin_routes(app)
    # Innermost first: each add_middleware wraps the ones before it.
    oo = config.operation_outcome_errors
    app.add_middleware(BodyLimit, metrics=metrics, limit=MAX_BODY, operation_outcome=oo)
    if config.rate_limit:
        app.add_middleware(
            RateLimit,
            limiter=ClientRateLimiter(config.rate_limit),
            metrics=metrics,
            operation_outcome=oo,
        )
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            expose_headers=list(CORS_EXPOSED),
            allow_credentials=False,  # bearer tokens, never cookies
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Observe, metrics=metrics, services=frozenset(SERVICES), log=config.json_logs)
    return app


async def _no_workbench(scope: Scope, receive: Receive, send: Send) -> None:
    """/app on a service run with several workers: say why there is no workbench here.

    A draft lives in the memory of the process that made it (docs/APP.md: nothing is written
    to disk), and the next request of the same browser may reach another worker, which would
    show "session ended" mid-draft. So the workbench runs only in a one-process service."""
    response = PlainTextResponse(
        "The care-plan workbench is not served by a service with several workers: a draft "
        "lives in one process's memory. Run it in its own process (python -m gbrules.io.app) "
        "or serve with --workers 1.\n",
        status_code=503,
    )
    await response(scope, receive, send)


def fhir_fetcher(config: ServiceConfig) -> FhirFetcher | None:
    """The FHIR fetch client for the allow-listed servers, or None (the service never fetches).

    Its time budget is part of the request's: a fetch may use up to 60% of it, so there is time
    left to evaluate. httpx's own INFO log line holds the request URL, and the URL holds the
    patient id: the ``httpx`` and ``httpcore`` loggers are raised to WARNING."""
    if not config.fhir_servers:
        return None
    from gbrules.io.fhir.fetch import FetchLimits, FhirFetcher

    for name in ("httpx", "httpcore"):
        quiet = logging.getLogger(name)
        if quiet.level < logging.WARNING:  # NOTSET (0) included: never inherit a debug root
            quiet.setLevel(logging.WARNING)
    budget = max(0.5, config.time_budget_s * 0.6)
    limits = FetchLimits(
        total_budget_s=budget,
        request_timeout_s=min(10.0, budget),
        connect_timeout_s=min(5.0, budget),
    )
    return FhirFetcher(config.fhir_servers, limits=limits)


def app_from_env() -> FastAPI:
    """The app of one ``gbrules serve --workers N`` worker process, configured from the
    environment the parent set: ``GBRULES_SERVE_RULES`` (site pack), ``GBRULES_SERVE_SITE``
    (site.yaml, checked by the parent), ``GBRULES_SERVE_CONFIG`` (the operator's settings,
    JSON), ``GBRULES_SERVE_AUTH`` (JWT settings with the shared jti replay file),
    ``GBRULES_AUDIT_DB`` and ``GBRULES_AUDIT_SECRET``. Each worker compiles its own engine,
    reads the site file itself and owns its audit writer, which it drains at shutdown."""
    engine = cached_engine(os.environ.get("GBRULES_SERVE_RULES") or None)
    site = None
    if os.environ.get("GBRULES_SERVE_SITE"):
        from gbrules.clinical.site import load_site

        site = load_site(Path(os.environ["GBRULES_SERVE_SITE"]))
    audit = None
    if os.environ.get("GBRULES_AUDIT_DB"):
        from gbrules.io.audit import AuditLog

        audit = AuditLog.from_env()
        if audit is not None:
            with contextlib.suppress(Exception):  # counted per write; keep serving
                audit.migrate()
    auth = None
    if os.environ.get(ENV_AUTH):
        from gbrules.io.service.auth import auth_from_settings

        auth = auth_from_settings(json.loads(os.environ[ENV_AUTH]))
    app = create_app(
        engine,
        auth=auth,
        audit=audit,
        config=ServiceConfig.from_env(os.environ.get(ENV_CONFIG)),
        site=site,
        workbench=False,  # one of several workers: a draft could land on another one
    )
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[None]:
        async with inner(a):
            yield
        if audit is not None:
            audit.close()

    app.router.lifespan_context = lifespan
    return app

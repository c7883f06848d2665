"""The ASGI layers around the routes, outermost first (``create_app`` stacks them):

1. :class:`Observe`: counts every answer by endpoint and status, times it and, with JSON logs
   on, writes one log line per request (no patient data, no token, no raw path);
2. :class:`SecurityHeaders`: ``nosniff``, ``no-store`` on everything but the public documents,
   ``frame-ancestors 'none'`` (and ``X-Frame-Options``), HSTS over TLS;
3. Starlette's ``CORSMiddleware`` with the operator's origin allow-list (only when one is set);
4. :class:`RateLimit`: 429 with ``Retry-After`` past the operator's per-client rate;
5. :class:`BodyLimit`: 413 past 1 MiB, before the body is parsed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gbrules.io.service.limits import ClientRateLimiter
from gbrules.io.service.metrics import ServiceMetrics
from gbrules.io.service.outcome import FHIR_JSON, error_body

access_log = logging.getLogger("gbrules.io.service.access")

MAX_BODY = 1024 * 1024
#: Public documents: no patient data in them, so caches may keep them.
PUBLIC_PATHS = frozenset({"/cds-services", "/openapi.json", "/docs", "/redoc"})
#: Paths a rate limit never applies to: monitoring must see an overloaded service.
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})
#: Where the route records what the access log line says about the call (ids and counts only).
LOG_SCOPE_KEY = "gbrules.log"


def security_headers(*, html: bool, private: bool, tls: bool = False) -> dict[str, str]:
    """The OWASP headers for one response. ``private``: it may carry patient data."""
    out = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        # An HTML page (the API docs) loads its own scripts; JSON needs nothing at all.
        "Content-Security-Policy": "frame-ancestors 'none'"
        if html
        else "default-src 'none'; frame-ancestors 'none'",
    }
    if private:
        out["Cache-Control"] = "no-store"
    if tls:
        out["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return out


def endpoint_of(path: str, services: frozenset[str]) -> str:
    """A bounded label for a path: never the raw path, which a client chooses."""
    if path in PUBLIC_PATHS or path in UNLIMITED_PATHS:
        return path
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "cds-services" and parts[1] in services:
        if len(parts) == 2:
            return f"/cds-services/{parts[1]}"
        if len(parts) == 3 and parts[2] == "feedback":
            return f"/cds-services/{parts[1]}/feedback"
    return "other"


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def raw_error(
    send: Send,
    status: int,
    message: str,
    headers: dict[str, str],
    *,
    operation_outcome: bool = False,
) -> None:
    """An error from a layer below the routes (413, 429), in the service's error format."""
    body = json.dumps(error_body(status, message, operation_outcome=operation_outcome)).encode()
    ctype = (FHIR_JSON if operation_outcome else "application/json").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Observe:
    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, services: frozenset[str], log: bool
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.services = services
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        failed = False
        notes: dict[str, Any] = {}
        scope[LOG_SCOPE_KEY] = notes

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - started
            endpoint = endpoint_of(scope["path"], self.services)
            method = str(scope["method"])
            # No answer at all: the client went away first (or the app failed: a 500).
            shown = str(status) if status else ("500" if failed else "disconnected")
            self.metrics.requests.labels(endpoint, method, shown).inc()
            self.metrics.latency.labels(endpoint).observe(elapsed)
            if self.log:
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "endpoint": endpoint,
                        "status": shown,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client_of(scope),
                        **notes,
                    },
                )


#: Headers a mounted application may set for itself (the workbench's strict CSP and its
#: framing policy for an EHR that embeds it); every other header is always the service's.
_APP_OWNED = frozenset({"Content-Security-Policy", "X-Frame-Options"})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"] not in PUBLIC_PATHS
        tls = scope.get("scheme") == "https"

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                for k, v in security_headers(html=html, private=private, tls=tls).items():
                    if k in _APP_OWNED and k in headers:
                        continue  # a mounted page (the workbench) set its own, stricter policy
                    headers[k] = v
            await send(message)

        await self.app(scope, receive, sending)


class RateLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: ClientRateLimiter,
        metrics: ServiceMetrics,
        operation_outcome: bool = False,
    ):
        self.app = app
        self.limiter = limiter
        self.metrics = metrics
        self.operation_outcome = operation_outcome

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in UNLIMITED_PATHS:
            wait = self.limiter.retry_after(client_of(scope))
            if wait is not None:
                self.metrics.rejections.labels("rate").inc()
                await raw_error(
                    send,
                    429,
                    f"rate limit of {self.limiter.rate} per client reached; retry in {wait} s",
                    {"Retry-After": str(wait)},
                    operation_outcome=self.operation_outcome,
                )
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 (Content-Length or streamed)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        limit: int = MAX_BODY,
        operation_outcome: bool = False,
    ) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.oo = operation_outcome

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body over {self.limit} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await raw_error(send, 400, "invalid Content-Length", {}, operation_outcome=self.oo)
                return
            if int(length) > self.limit:
                self.metrics.rejections.labels("body_size").inc()
                await raw_error(send, 413, too_big, {}, operation_outcome=self.oo)
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
                self.metrics.rejections.labels("body_size").inc()
                await raw_error(send, 413, too_big, {}, operation_outcome=self.oo)
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

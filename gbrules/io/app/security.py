"""Response headers and log hygiene for the workbench.

Content-Security-Policy is strict: scripts and styles only from the app's own static files (no
inline script, no ``eval``, no inline style), no plugins, no ``<base>``, forms post only to the
app, and no framing unless the operator names the EHR origins that may embed it. The patient
handout is a self-contained page with one inline ``<style>`` block; it is allowed by its hash
(:func:`style_hash`), never by ``'unsafe-inline'``.

Pages carry patient data: ``Cache-Control: no-store`` keeps them out of caches and the back/
forward cache, ``Referrer-Policy: same-origin`` keeps the app's URLs from other sites.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def csp(frame_ancestors: tuple[str, ...] = (), *, style_hashes: tuple[str, ...] = ()) -> str:
    """The Content-Security-Policy of the workbench's pages."""
    styles = " ".join(["'self'", *(f"'{h}'" for h in style_hashes)])
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src {styles}; img-src 'self'; connect-src 'self'; "
        f"form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )


def style_hash(html: str) -> tuple[str, ...]:
    """CSP hashes of the inline ``<style>`` blocks of a page (the patient handout's)."""
    return tuple(
        "sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        for block in re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    )


class SecurityHeaders:
    """Adds the workbench's headers to every response (a route's own CSP is kept)."""

    def __init__(self, app: ASGIApp, *, frame_ancestors: tuple[str, ...] = ()) -> None:
        self.app = app
        self.frame_ancestors = frame_ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope["path"]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", csp(self.frame_ancestors))
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if not self.frame_ancestors:
                    headers["X-Frame-Options"] = "DENY"
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, sending)


class DropQuery(logging.Filter):
    """Removes query strings from access-log lines (uvicorn's ``uvicorn.access``).

    The SMART launch and callback carry an authorisation code and state in the query; the
    workbench itself never puts patient data in a URL, and with this no credential reaches a
    log either. Only the query is removed: method, path and status stay.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def redact_access_log() -> None:
    """Install :class:`DropQuery` on uvicorn's access log, once."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, DropQuery) for f in logger.filters):
        logger.addFilter(DropQuery())

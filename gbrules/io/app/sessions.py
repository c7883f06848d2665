"""Server-side sessions for the workbench: the draft lives on the server, keyed by a random id.

Why server-side: the draft holds patient data, so it must not travel in a URL (history, logs,
referrers) nor sit in the browser's storage after the clinician walks away. The cookie holds an
opaque 256-bit random id only (``HttpOnly``, ``SameSite=Lax``, ``Secure`` over TLS); the data
stays in this process's memory and is dropped after ``idle_timeout`` seconds without a request,
on "end session", or when the store is full (blank sessions first, then the least recently
used). Nothing is written to
disk, so there is nothing to leak or to corrupt on a crash; a restart ends every session.

CSRF: every session has its own random token (the synchroniser-token pattern), rendered into
each page and required on every state-changing request; it is compared in constant time. With
``SameSite=Lax`` cookies and an ``Origin`` check this is defence in depth, as OWASP advises.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gbrules.io.app.draft import Workspace


@dataclass
class Session:
    """One clinician's session: the draft, the CSRF token and the SMART launch state."""

    id: str
    csrf: str
    last_seen: float
    workspace: Workspace = field(default_factory=Workspace)
    #: the SMART launch in progress or done (gbrules.io.app.smart), if any
    smart: Any = None
    #: the audit trail's record of the evaluation decisions refer to (gbrules.io.app.routes)
    audit_run: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def blank(self) -> bool:
        """Nothing entered or launched yet: nothing is lost if it is dropped."""
        ws = self.workspace
        return not (ws.values or ws.decisions or ws.own or ws.notes or self.smart)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class SessionStore:
    """Sessions in memory, dropped after ``idle_timeout`` seconds without a request."""

    def __init__(
        self,
        idle_timeout: float,
        *,
        max_sessions: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if idle_timeout <= 0 or max_sessions < 1:
            raise ValueError("idle_timeout and max_sessions must be positive")
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self._sessions)

    def _expire(self) -> None:
        cutoff = self._clock() - self.idle_timeout
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.last_seen > cutoff:
                break
            self._sessions.popitem(last=False)

    def new(self) -> Session:
        self._expire()
        while len(self._sessions) >= self.max_sessions:
            # Blank sessions (a page opened, nothing entered) go first, so a flood of page
            # loads cannot push out a clinician's draft; then the least recently used.
            blank = next((k for k, v in self._sessions.items() if v.blank), None)
            if blank is not None:
                del self._sessions[blank]
            else:
                self._sessions.popitem(last=False)
        session = Session(
            id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), last_seen=self._clock()
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (and mark it used), or None if unknown or idle."""
        self._expire()
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        session.last_seen = self._clock()
        self._sessions.move_to_end(session_id)
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

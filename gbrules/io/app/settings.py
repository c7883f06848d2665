"""The workbench's settings: what an operator may choose, with safe defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class SmartSettings:
    """SMART App Launch (EHR launch) settings.

    ``client_id``: the app's public client id at the EHR's authorisation server (PKCE, no
    secret). ``fhir_servers``: the FHIR base URLs (the launch's ``iss``) this app may be
    launched from and fetch from; anything else is refused before any request (the token is a
    credential for a patient record). ``redirect_uri``: the callback URL registered with the
    authorisation server; default: this app's ``callback`` URL as the request reached it.
    """

    client_id: str
    fhir_servers: tuple[str, ...]
    scope: str = "launch openid fhirUser patient/*.read"
    redirect_uri: str | None = None


@dataclass(frozen=True)
class WorkbenchSettings:
    """``idle_timeout_s``: a session (and its draft) is dropped after this long without a
    request, and the page clears itself; ``max_sessions``: the oldest idle session goes first
    past this; ``secure_cookies``: force ``Secure`` cookies (default: when the request came over
    https); ``frame_ancestors``: origins allowed to show the app in a frame (an EHR that embeds
    SMART apps), none by default; ``today``: the evaluation date of FHIR data (tests)."""

    idle_timeout_s: float = 15 * 60
    max_sessions: int = 500
    cookie_name: str = "gbrules_workbench"
    secure_cookies: bool | None = None
    frame_ancestors: tuple[str, ...] = ()
    smart: SmartSettings | None = None
    today: Callable[[], date] | None = field(default=None, compare=False)

    def problems(self) -> list[str]:
        out = []
        if self.idle_timeout_s <= 0:
            out.append("idle_timeout_s must be positive")
        if self.max_sessions < 1:
            out.append("max_sessions must be at least 1")
        for origin in self.frame_ancestors:
            if not origin.startswith(("https://", "http://127.0.0.1", "http://localhost")):
                out.append(f"frame ancestor {origin!r} must be an https origin")
            if any(c in origin for c in " ;,'\""):
                out.append(f"frame ancestor {origin!r} is not a plain origin")
        return out

"""The operator's settings of the CDS Hooks service, checked in one place.

``gbrules serve`` builds a :class:`ServiceConfig` from its options; with ``--workers N`` the
parent hands it to each worker process as JSON in ``GBRULES_SERVE_CONFIG``. Every setting has a
safe default: no browser origin allowed, a 5 s time budget per request, 8 evaluations at once,
no rate limit (an EHR often calls from one address for a whole hospital: the operator sets one
that fits, docs/SECURITY.md).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

ENV_CONFIG = "GBRULES_SERVE_CONFIG"
#: JWT settings of ``gbrules serve --workers N`` for each worker (JSON; keys, never secrets).
ENV_AUTH = "GBRULES_SERVE_AUTH"


@dataclass(frozen=True)
class ServiceConfig:
    """``cors_origins``: browser origins allowed to call the service (``https://host[:port]``,
    never ``*``). ``time_budget_s``: a request's evaluation past it gets 503. ``max_concurrent``:
    evaluations in flight at once; more get 503 with ``Retry-After``. ``rate_limit``: per client
    address, in the ``limits`` notation (``"120/minute"``, ``"10/second;600/hour"``), or None.
    ``insecure_no_auth``: the operator chose to serve without authentication (a warning at start
    and on /health). ``json_logs``: one JSON line per request instead of uvicorn's access log.
    ``fhir_servers``: the FHIR servers the service may fetch from with a request's
    ``fhirAuthorization`` token (``--allow-fhir-server``; none: it never fetches).
    ``operation_outcome_errors``: error bodies as FHIR OperationOutcomes (CDS Hooks 3.0 ballot)
    instead of ``{"error": ...}``.
    """

    cors_origins: tuple[str, ...] = ()
    time_budget_s: float = 5.0
    max_concurrent: int = 8
    rate_limit: str | None = None
    retry_after_s: int = 1
    insecure_no_auth: bool = False
    json_logs: bool = False
    fhir_servers: tuple[str, ...] = ()
    operation_outcome_errors: bool = False

    def problems(self) -> list[str]:
        """Everything wrong with the settings, each naming its option; empty when usable."""
        out = [p for o in self.cors_origins for p in origin_problems(o)]
        if not 0 < self.time_budget_s <= 600:
            out.append("--time-budget must be more than 0 and at most 600 seconds")
        if self.max_concurrent < 1:
            out.append("--max-concurrent must be at least 1")
        if self.retry_after_s < 1:
            out.append("Retry-After must be at least 1 second")
        for url in self.fhir_servers:
            from gbrules.io.fhir.fetch import FhirFetcher

            try:
                FhirFetcher([url])
            except ValueError as exc:
                out.append(f"--allow-fhir-server {url!r}: {exc}")
        if self.rate_limit is not None:
            from limits import parse_many

            try:
                parse_many(self.rate_limit)
            except ValueError:
                out.append(
                    f"--rate-limit {self.rate_limit!r} is not a rate: use e.g. '120/minute' "
                    "or '10/second;600/hour'"
                )
        return out

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, value: str | None) -> ServiceConfig:
        if not value:
            return cls()
        data = json.loads(value)
        data["cors_origins"] = tuple(data.get("cors_origins", ()))
        data["fhir_servers"] = tuple(data.get("fhir_servers", ()))
        return cls(**data)


def origin_problems(origin: str) -> list[str]:
    """A CORS origin must be exactly ``scheme://host[:port]``: browsers send it so, and a
    wildcard would let any web page read patient data with a clinician's token."""
    if origin == "*" or "*" in origin:
        return [
            "--cors-origin '*' is refused: list each EHR or sandbox origin explicitly "
            "(e.g. --cors-origin https://sandbox.cds-hooks.org)"
        ]
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return [f"--cors-origin {origin!r} is not an origin (scheme://host[:port])"]
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("",)
        or parts.query
        or parts.fragment
        or parts.username is not None
        or origin.endswith("/")
    ):
        return [f"--cors-origin {origin!r} is not an origin: use scheme://host[:port], no path"]
    if port is not None and f":{port}" not in origin:
        return [f"--cors-origin {origin!r} is not an origin"]
    return []


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine. A name other than ``localhost`` counts
    as reachable from the network: what it resolves to can change."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

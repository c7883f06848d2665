"""FHIR fetch: what a patient-view draft needs, from one FHIR R4 server, and what is missing.

A CDS Hooks request may carry ``fhirServer`` + ``fhirAuthorization`` instead of (or besides) a
prefetch. This module runs the searches the FHIR mapping (``intake_from_fhir``) can use, with the
request's bearer token, and returns the resources found together with typed
``CompletenessNote``\\s: a search that failed, was refused, was cut short or timed out is never
a silent empty answer, so the service can turn it into a "Draft incomplete" card.

Safety rules, each because a token is a credential for a patient record:

- only servers on an explicit allow-list are contacted (``FhirServerNotAllowed`` otherwise,
  before any request); plain ``http`` is accepted on loopback only, so a token never travels
  unencrypted across a network;
- ``next`` links are followed only while they stay on the same server and base path, and only
  up to a bound (``FetchLimits.max_pages``); truncation is reported, never hidden;
- redirects are not followed (a redirect could carry the request elsewhere);
- the token is held as a ``pydantic.SecretStr`` and never logged; the log records search labels,
  counts and note kinds only, never URLs (they hold the patient id) nor server messages.

The searches are the prefetch queries (``gbrules.io.fhir.prefetch``, US Core: ``patient`` +
``code`` for Observations, ``patient`` + ``clinical-status`` for Conditions, ``patient`` +
``intent`` for MedicationRequest, which US Core 9 requires), so a fetch asks exactly what a
prefetch would have held. A reference is sent as ``Patient/{id}``, the form
every server resolves. Each request asks for strict handling (``Prefer: handling=strict``), so a
server that cannot honour a parameter says so instead of ignoring it. Every resource returned
as a match is checked to belong to the patient; anything else is dropped and reported.

Needs ``httpx`` (the ``service`` extra).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from gbrules.io.fhir.prefetch import (
    PREFETCH_QUERIES,
    Search,
    outcome_text,
)

log = logging.getLogger(__name__)

#: A FHIR resource or Bundle as parsed JSON.
JSONObject = dict[str, Any]

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_FHIR_JSON = "application/fhir+json"


class FhirServerNotAllowed(ValueError):
    """The FHIR server is not on the allow-list given at start-up; nothing was sent to it."""


class NoteKind(StrEnum):
    """Why a fetch may not hold everything the server has for the patient."""

    #: An error status, an error OperationOutcome (as the response or inside the Bundle), an
    #: unreachable server, or a body that is not a FHIR Bundle.
    SEARCH_FAILED = "search-failed"
    #: 401 or 403: the token does not allow this search.
    FORBIDDEN = "forbidden"
    #: More pages exist than were read (page bound reached, or a ``next`` link that leaves the
    #: server).
    TRUNCATED = "truncated"
    #: A request timed out, or the fetch's time budget ran out before the search ran.
    TIMED_OUT = "timed-out"
    #: The server returned a resource that is not this patient's; it was dropped.
    FOREIGN_RESOURCE = "foreign-resource"
    #: A warning or information OperationOutcome inside the Bundle; the results were kept.
    SERVER_WARNING = "server-warning"


#: Note kinds that leave a search's results incomplete or untrustworthy.
INCOMPLETE_KINDS = frozenset(NoteKind) - {NoteKind.SERVER_WARNING}


@dataclass(frozen=True)
class CompletenessNote:
    """One reason the fetched data may be incomplete: which search, what happened."""

    kind: NoteKind
    search: str
    detail: str

    def __str__(self) -> str:
        return f"{self.search}: {self.kind.value}: {self.detail}"


#: The searches a patient-view draft needs, in the order they run: the prefetch queries
#: (``gbrules.io.fhir.prefetch``), so a fetch asks exactly what a prefetch would have held.
PATIENT_VIEW_SEARCHES: tuple[Search, ...] = tuple(q.search for q in PREFETCH_QUERIES)


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on one patient fetch: page size and count, per-request and total time."""

    page_size: int = 100
    max_pages: int = 10
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    total_budget_s: float = 30.0

    def __post_init__(self) -> None:
        if self.page_size < 1 or self.max_pages < 1:
            raise ValueError("page_size and max_pages must be at least 1")
        if min(self.request_timeout_s, self.connect_timeout_s, self.total_budget_s) <= 0:
            raise ValueError("timeouts and the time budget must be positive")


@dataclass(frozen=True)
class SearchReport:
    """What one search gave: resources kept, pages read, the server's total if it said."""

    search: Search
    resources: int
    pages: int
    total: int | None
    complete: bool


@dataclass(frozen=True)
class FetchResult:
    """The resources found for one patient, with every reason they may be incomplete.

    ``resources`` are the parsed JSON objects as the server sent them (deduplicated by type and
    id; included resources such as Medication too); treat them as read-only.
    """

    base_url: str
    patient_id: str
    resources: tuple[JSONObject, ...]
    notes: tuple[CompletenessNote, ...]
    searches: tuple[SearchReport, ...]

    @property
    def complete(self) -> bool:
        """True when every search ran to its end and returned only this patient's data."""
        return not any(n.kind in INCOMPLETE_KINDS for n in self.notes)

    def bundle(self) -> JSONObject:
        """A FHIR ``collection`` Bundle of the resources, the input of ``intake_from_fhir``."""
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "fullUrl": f"{self.base_url}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                }
                for r in self.resources
            ],
        }


# --- the fetcher -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Base:
    """A normalised server base URL: scheme, host, port and path (no trailing slash)."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        default = {"http": 80, "https": 443}[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if self.port == default else f"{host}:{self.port}"
        return urlunsplit((self.scheme, netloc, self.path, "", ""))

    def contains(self, url: str) -> bool:
        """Whether ``url`` is on this server, under this base path."""
        try:
            other = _parse_base(url.split("?", 1)[0], allow_suffix=True)
        except ValueError:
            return False
        same_server = (other.scheme, other.host, other.port) == (self.scheme, self.host, self.port)
        return same_server and (other.path == self.path or other.path.startswith(self.path + "/"))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_base(url: str, *, allow_suffix: bool = False) -> _Base:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"FHIR server URL must be http(s), not {url!r}")
    if parts.username or parts.password:
        raise ValueError("FHIR server URL must not carry credentials")
    if not allow_suffix and (parts.query or parts.fragment):
        raise ValueError(f"FHIR server base URL must not have a query or fragment: {url!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"FHIR server URL has no host: {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    path = parts.path.rstrip("/")
    if "/../" in f"{path}/" or "/./" in f"{path}/":
        raise ValueError(f"FHIR server URL must not contain dot segments: {url!r}")
    return _Base(scheme, host, port, path)


class FhirFetcher:
    """Fetches a patient's data from allow-listed FHIR servers (one instance per service).

    ``allowed_servers`` are base URLs (``https://ehr.example.org/fhir/r4``); a request names one
    of them exactly (trailing slash, default port and host case aside). ``transport`` is for
    tests that need a response no real server gives.
    """

    def __init__(
        self,
        allowed_servers: Iterable[str],
        *,
        limits: FetchLimits | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        allowed: dict[str, _Base] = {}
        for url in allowed_servers:
            base = _parse_base(url)
            if base.scheme == "http" and not _is_loopback(base.host):
                raise ValueError(
                    f"refusing plain http for {base.url}: a bearer token must not travel "
                    "unencrypted (http is accepted on loopback only)"
                )
            allowed[base.url] = base
        self._allowed = allowed
        self.limits = limits or FetchLimits()
        self._transport = transport

    @property
    def allowed_servers(self) -> tuple[str, ...]:
        return tuple(self._allowed)

    def check_allowed(self, base_url: str) -> str:
        """The normalised base URL, or ``FhirServerNotAllowed`` if it is not allow-listed."""
        try:
            key = _parse_base(base_url).url
        except ValueError as exc:
            raise FhirServerNotAllowed(f"not a usable FHIR server URL: {exc}") from None
        if key not in self._allowed:
            raise FhirServerNotAllowed(
                f"FHIR server {key} is not on the allow-list; nothing was sent to it"
            )
        return key

    def fetch_patient(
        self,
        base_url: str,
        token: str | SecretStr,
        patient_id: str,
        *,
        searches: Sequence[Search] = PATIENT_VIEW_SEARCHES,
    ) -> FetchResult:
        """Run ``searches`` for ``patient_id`` on ``base_url`` with the bearer ``token``.

        Raises ``FhirServerNotAllowed`` (server not allow-listed) or ``ValueError`` (malformed
        patient id) before any request; every other problem becomes a ``CompletenessNote``.
        """
        key = self.check_allowed(base_url)
        base = self._allowed[key]
        if not _FHIR_ID.fullmatch(patient_id):
            raise ValueError("patient id is not a FHIR id ([A-Za-z0-9-.]{1,64})")
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        run = _Run(base, patient_id, self.limits, time.monotonic() + self.limits.total_budget_s)
        timeout = httpx.Timeout(
            self.limits.request_timeout_s, connect=self.limits.connect_timeout_s
        )
        with httpx.Client(
            transport=self._transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": _FHIR_JSON, "Prefer": "handling=strict"},
            auth=_Bearer(secret),
        ) as client:
            for search in searches:
                run.search(client, search)
        return run.result()


class _Bearer(httpx.Auth):
    """Adds the bearer token at send time, so it is never part of a logged URL or repr."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


@dataclass
class _Run:
    """One patient fetch in progress."""

    base: _Base
    patient_id: str
    limits: FetchLimits
    deadline: float
    resources: dict[tuple[str, str], JSONObject] = field(default_factory=dict)
    notes: list[CompletenessNote] = field(default_factory=list)
    reports: list[SearchReport] = field(default_factory=list)

    def note(self, kind: NoteKind, search: Search, detail: str) -> None:
        self.notes.append(CompletenessNote(kind, search.label, detail))
        log.warning("FHIR fetch: %s: %s", search.label, kind.value)

    def result(self) -> FetchResult:
        return FetchResult(
            self.base.url,
            self.patient_id,
            tuple(self.resources.values()),
            tuple(self.notes),
            tuple(self.reports),
        )

    def search(self, client: httpx.Client, search: Search) -> None:
        value = self.patient_id if search.patient_param == "_id" else f"Patient/{self.patient_id}"
        params: httpx.QueryParams | None = httpx.QueryParams(
            [
                (search.patient_param, value),
                *search.params,
                *search.fetch_params,
                ("_count", str(self.limits.page_size)),
            ]
        )
        url: str | None = f"{self.base.url}/{search.resource_type}"
        pages = kept = 0
        total: int | None = None
        before = len(self.notes)
        while url is not None:
            if pages == self.limits.max_pages:
                shown = f" of {total}" if total is not None else ""
                self.note(
                    NoteKind.TRUNCATED,
                    search,
                    f"stopped after {pages} page(s) ({kept}{shown} resources read); "
                    "more results exist",
                )
                break
            bundle = self._get(client, search, url, params)
            if bundle is None:
                break
            params = None  # a next link carries its own query
            pages += 1
            if isinstance(bundle.get("total"), int):
                total = bundle["total"]
            kept += self._entries(search, bundle)
            url = self._next(search, bundle)
        complete = not any(n.kind in INCOMPLETE_KINDS for n in self.notes[before:])
        self.reports.append(SearchReport(search, kept, pages, total, complete))
        if search.resource_type == "Patient" and pages and kept == 0 and complete:
            self.note(NoteKind.SEARCH_FAILED, search, "the server has no such patient")
            self.reports[-1] = SearchReport(search, kept, pages, total, False)
        log.info("FHIR fetch: %s: %d resource(s) in %d page(s)", search.label, kept, pages)

    def _get(
        self,
        client: httpx.Client,
        search: Search,
        url: str,
        params: httpx.QueryParams | None,
    ) -> JSONObject | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.note(
                NoteKind.TIMED_OUT,
                search,
                f"the fetch's time budget ({self.limits.total_budget_s:g} s) ran out",
            )
            return None
        try:
            response = client.get(url, params=params)
        except httpx.TimeoutException:
            self.note(NoteKind.TIMED_OUT, search, "the server did not answer in time")
            return None
        except httpx.HTTPError as exc:
            self.note(NoteKind.SEARCH_FAILED, search, f"the server could not be reached ({exc})")
            return None
        body = _json(response)
        outcome = (
            body if body is not None and body.get("resourceType") == "OperationOutcome" else None
        )
        if response.status_code in (401, 403):
            self.note(
                NoteKind.FORBIDDEN,
                search,
                f"HTTP {response.status_code}: the token does not allow this search"
                + _outcome_text(outcome),
            )
            return None
        if response.status_code != 200:
            self.note(
                NoteKind.SEARCH_FAILED,
                search,
                f"HTTP {response.status_code}" + _outcome_text(outcome),
            )
            return None
        if outcome is not None:
            self.note(
                NoteKind.SEARCH_FAILED,
                search,
                "the server answered with an OperationOutcome" + _outcome_text(outcome),
            )
            return None
        if body is None or body.get("resourceType") != "Bundle":
            self.note(NoteKind.SEARCH_FAILED, search, "the answer is not a FHIR Bundle")
            return None
        return body

    def _entries(self, search: Search, bundle: JSONObject) -> int:
        """Keep this patient's resources from one page; report everything else."""
        kept = 0
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            self.note(NoteKind.SEARCH_FAILED, search, "Bundle.entry is not an array")
            return 0
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                self.note(NoteKind.SEARCH_FAILED, search, "a Bundle entry has no resource")
                continue
            mode = (entry.get("search") or {}).get("mode")
            rtype = resource["resourceType"]
            if rtype == "OperationOutcome" or mode == "outcome":
                self._bundle_outcome(search, resource)
                continue
            rid = resource.get("id")
            if not isinstance(rid, str):
                self.note(NoteKind.SEARCH_FAILED, search, f"a {rtype} without an id was returned")
                continue
            if mode != "include":
                if rtype != search.resource_type or not self._belongs(resource):
                    self.note(
                        NoteKind.FOREIGN_RESOURCE,
                        search,
                        f"{rtype}/{rid} is not this patient's {search.resource_type}; dropped",
                    )
                    continue
                kept += 1
            self.resources.setdefault((rtype, rid), resource)
        return kept

    def _bundle_outcome(self, search: Search, outcome: JSONObject) -> None:
        issues = outcome.get("issue") or []
        severities = {i.get("severity") for i in issues if isinstance(i, Mapping)}
        if severities & {"fatal", "error"} or not severities:
            self.note(
                NoteKind.SEARCH_FAILED,
                search,
                "the Bundle carries an error OperationOutcome" + _outcome_text(outcome),
            )
        else:
            self.note(NoteKind.SERVER_WARNING, search, "the server says" + _outcome_text(outcome))

    def _belongs(self, resource: JSONObject) -> bool:
        if resource["resourceType"] == "Patient":
            return bool(resource.get("id") == self.patient_id)
        for element in ("subject", "patient"):
            ref = resource.get(element)
            if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
                return _reference_is(ref["reference"], self.patient_id)
        return False

    def _next(self, search: Search, bundle: JSONObject) -> str | None:
        for link in bundle.get("link") or []:
            if isinstance(link, Mapping) and link.get("relation") == "next":
                url = link.get("url")
                if isinstance(url, str) and self.base.contains(url):
                    return url
                self.note(
                    NoteKind.TRUNCATED,
                    search,
                    "the next page link leaves the server; not followed (the token is sent to "
                    "the allow-listed server only)",
                )
                return None
        return None


def _reference_is(reference: str, patient_id: str) -> bool:
    """Whether a literal reference (relative or absolute, maybe versioned) is Patient/{id}."""
    parts = reference.split("?", 1)[0].split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-2:] == ["Patient", patient_id]


def _json(response: httpx.Response) -> JSONObject | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _outcome_text(outcome: JSONObject | None) -> str:
    """': severity code: text; ...' for an OperationOutcome, '' for none."""
    return f": {outcome_text(outcome)}" if outcome is not None else ""

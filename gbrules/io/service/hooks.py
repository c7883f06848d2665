"""The CDS Hooks services themselves: what they declare, what a call looks like, how it is
answered. Everything here is synchronous and runs in a worker thread (``limits.EvaluationGate``):
the FHIR fetch, the mapping, the engine, the cards and the audit record.

Data comes from the prefetch (``gbrules.io.fhir.prefetch`` reads each key: sent, null, failed,
cut short or left out). When keys are missing, failed or cut short and the request carries a
``fhirServer`` and a ``fhirAuthorization`` token, the service runs those searches itself
(``gbrules.io.fhir.fetch``, allow-listed servers only). Without the patient it answers 412 when a
``fhirServer`` was given (400 otherwise). Anything still missing is told in a "Draft
incomplete" card (``completeness``), never left to look like "nothing to say". Invalid intake
data is 422 with the FHIR element paths.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from gbrules.clinical.orders import judge_order
from gbrules.clinical.site import evaluate_at_site
from gbrules.core.engine import Engine
from gbrules.core.errors import IntakeError
from gbrules.core.result import Evaluation
from gbrules.io.fhir.fetch import (
    INCOMPLETE_KINDS,
    FetchResult,
    FhirFetcher,
    FhirServerNotAllowed,
)
from gbrules.io.fhir.intake import MappingNote, intake_from_resources
from gbrules.io.fhir.prefetch import (
    PREFETCH_TEMPLATES,
    QUERIES_BY_KEY,
    PrefetchError,
    PrefetchState,
    read_prefetch,
)
from gbrules.io.service.cards import (
    INCOMPLETE_CODE,
    INCOMPLETE_RULE,
    card_uuid,
    cards_for,
    incomplete_card,
    order_conflict_card,
)
from gbrules.io.service.completeness import Completeness, SourceProblem, SourceReport, assess
from gbrules.io.service.errors import ServiceError
from gbrules.io.service.limits import Deadline
from gbrules.io.service.metrics import ServiceMetrics

if TYPE_CHECKING:
    from gbrules.clinical.site import SiteConfig
    from gbrules.io.audit import AuditLog

log = logging.getLogger("gbrules.io.service")

#: The prefetch templates of both services (US Core aligned; docs/EHR.md lists each).
PREFETCH = PREFETCH_TEMPLATES

SERVICES: dict[str, dict[str, Any]] = {
    "patient-view": {
        "hook": "patient-view",
        "id": "patient-view",
        "title": "gbrules gut-brain care-plan draft",
        "description": "Drafts gut-brain care-plan suggestions (safety first) from PHQ-9, GAD-7, "
        "CRP, conditions and medications, each with its basis, for clinician review.",
        "prefetch": PREFETCH,
        "usageRequirements": "Suggestions for a clinician, not orders. Works from the prefetch; "
        "with fhirServer and fhirAuthorization it fetches what the prefetch lacks (allow-listed "
        "servers only). Missing data is shown in a 'Draft incomplete' card.",
    },
    "order-select": {
        "hook": "order-select",
        "id": "order-select",
        "title": "gbrules safety check of draft orders",
        "description": "Warns when a rule of the rulebook names a draft order: a probiotic "
        "while a probiotic caution applies, or a diet order whose plan item a safety rule "
        "deferred or suppressed. Other orders are never judged.",
        "prefetch": PREFETCH,
    },
}


class FhirAuthorization(BaseModel):
    """CDS Hooks ``fhirAuthorization``: an OAuth 2.0 bearer token for the EHR's FHIR server.
    The token is a ``SecretStr``: never in a repr, a log line or an error message."""

    model_config = ConfigDict(extra="allow")

    access_token: SecretStr
    token_type: str = Field(min_length=1)
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class CDSRequest(BaseModel):
    """A CDS Hooks 2.0 service request."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=256)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
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


def draft_orders(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft orders to check: ``context.draftOrders``, only the selected ones when
    ``context.selections`` is given."""
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


@dataclass(frozen=True)
class Evaluated:
    """A call's evaluation, the notes of its FHIR mapping, the patient it is about, and how
    complete the data behind it was."""

    ev: Evaluation
    notes: list[MappingNote]
    patient_ref: str
    completeness: Completeness


@dataclass(frozen=True)
class Answer:
    """What a call answers: the cards, and the mapping notes (sent as a response extension)."""

    cards: list[dict[str, Any]]
    notes: list[MappingNote]


def _read_states(req: CDSRequest) -> dict[str, PrefetchState]:
    try:
        return read_prefetch(req.prefetch)
    except PrefetchError as exc:
        raise ServiceError(400, str(exc)) from None


def _fetch(
    req: CDSRequest, patient_id: str, keys: list[str], fetcher: FhirFetcher | None
) -> tuple[FetchResult | None, str | None]:
    """Fetch the searches of ``keys`` from the request's FHIR server, or say why not."""
    if not keys:
        return None, None
    if not req.fhirServer:
        return None, "the request names no fhirServer"
    auth = req.fhirAuthorization
    if auth is None:
        return None, "no fhirAuthorization (access token) was sent"
    if auth.token_type.lower() != "bearer":
        return None, f"fhirAuthorization.token_type {auth.token_type[:20]!r} is not Bearer"
    if auth.patient and auth.patient != patient_id:
        return None, "the access token is for another patient"
    if fetcher is None:
        return None, "this service fetches from no FHIR server (gbrules serve --allow-fhir-server)"
    try:
        result = fetcher.fetch_patient(
            req.fhirServer,
            auth.access_token,
            patient_id,
            searches=[QUERIES_BY_KEY[k].search for k in keys],
        )
    except FhirServerNotAllowed:
        log.warning("FHIR fetch refused: the request's FHIR server is not on the allow-list")
        return None, "the FHIR server is not on this service's allow-list"
    except ValueError as exc:
        return None, str(exc)
    return result, None


def _fetched_reports(keys: list[str], result: FetchResult) -> dict[str, SourceReport]:
    by_label = {QUERIES_BY_KEY[k].search.label: k for k in keys}
    reports = {}
    for report in result.searches:
        key = by_label[report.search.label]
        notes = [n for n in result.notes if n.search == report.search.label]
        bad = [n for n in notes if n.kind in INCOMPLETE_KINDS]
        label = report.search.label
        if bad:
            detail = "fetched from the FHIR server, incomplete: " + "; ".join(
                f"{n.kind.value}: {n.detail}" for n in bad
            )
            reports[key] = SourceReport(
                key, label, "fetched", detail, SourceProblem.FETCH_INCOMPLETE
            )
        else:
            reports[key] = SourceReport(
                key, label, "fetched", f"fetched from the FHIR server ({report.resources} found)"
            )
    return reports


def evaluate_call(
    req: CDSRequest,
    engine: Engine,
    as_of: date,
    deadline: Deadline,
    fetcher: FhirFetcher | None = None,
    *,
    site: SiteConfig | None = None,
    rules_off: frozenset[str] = frozenset(),
) -> Evaluated:
    """Read the prefetch, fetch what it lacks (when the request allows: never for a shadow
    evaluation, which works from the prefetch alone), map it and evaluate it as of ``as_of``
    (stale values count as not recorded) under the site's settings; 400/412/422 for what
    cannot be used."""
    patient_id = req.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise ServiceError(400, "context.patientId is required")
    states = _read_states(req)
    need = [k for k in QUERIES_BY_KEY if not states[k].usable]
    result, why_not = _fetch(req, patient_id, need, fetcher)
    fetched = _fetched_reports(need, result) if result is not None else {}
    deadline.check()
    resources: list[tuple[str, Any]] = []
    for key, st in states.items():
        if key not in fetched:
            resources += st.resources
    if result is not None:
        resources += [(f"fhirServer.{r['resourceType']}/{r['id']}", r) for r in result.resources]
    resources = _unique(resources)
    patients = [r for _, r in resources if r.get("resourceType") == "Patient"]
    if not patients:
        if req.fhirServer:
            sent = states["patient"].detail
            why = fetched["patient"].detail if "patient" in fetched else why_not
            raise ServiceError(
                412,
                f"the Patient resource is missing (prefetch: {sent}; {why}): send "
                "prefetch.patient, or a fhirAuthorization token for an allow-listed fhirServer",
            )
        raise ServiceError(400, "prefetch.patient is required")
    pid = patients[0].get("id")
    if pid is not None and pid != patient_id:
        raise ServiceError(400, "prefetch.patient.id does not match context.patientId")
    try:
        intake, notes = intake_from_resources(resources, as_of=as_of)
        deadline.check()  # the engine is serialised: not for an answer nobody waits for
        ev = evaluate_at_site(engine, intake, as_of=as_of, site=site, rules_off=rules_off)
    except IntakeError as exc:
        raise ServiceError(
            422,
            "the prefetch data cannot be used as an intake",
            [{"path": e.path, "message": e.message} for e in exc.errors],
        ) from None
    except (ValueError, TypeError, ArithmeticError) as exc:
        log.warning("prefetch mapping failed: %s", type(exc).__name__)
        raise ServiceError(422, f"the prefetch data cannot be mapped: {exc}") from None
    warnings = [w for st in states.values() for w in st.warnings]
    if result is not None:
        warnings += [
            f"{n.search}: {n.detail}" for n in result.notes if n.kind not in INCOMPLETE_KINDS
        ]
    completeness = assess(ev, states, fetched, why_not, warnings)
    return Evaluated(ev, notes, f"Patient/{patient_id}", completeness)


def _unique(resources: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """First occurrence of each resource (by type and id; resources without an id all kept)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for path, r in resources:
        rid = r.get("id") if isinstance(r, dict) else None
        if isinstance(rid, str):
            key = (str(r.get("resourceType")), rid)
            if key in seen:
                continue
            seen.add(key)
        out.append((path, r))
    return out


def answer_call(
    service_id: str,
    req: CDSRequest,
    *,
    engine: Engine,
    as_of: date,
    deadline: Deadline,
    metrics: ServiceMetrics,
    audit: AuditLog | None,
    fetcher: FhirFetcher | None = None,
    site: SiteConfig | None = None,
    rules_off: frozenset[str] = frozenset(),
    shadow: Engine | None = None,
) -> Answer:
    """The cards of one call. patient-view: one card per active suggestion category, crisis
    first, and a "Draft incomplete" card whenever a key input or a source is missing.
    order-select: the crisis card (if any), the "Draft incomplete" card, then a warning per
    draft order that a rule names (``gbrules.clinical.orders``). Counted and audited only when
    it will be served."""
    done = evaluate_call(req, engine, as_of, deadline, fetcher, site=site, rules_off=rules_off)
    ev = done.ev
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    cards = cards_for(
        ev,
        done.patient_ref,
        hook_instance=req.hookInstance,
        authored=stamp,
        notes=done.notes,
        order_codes=site.order_codes if site is not None else None,
    )
    category = {card_uuid(req.hookInstance, s.category): s.category for s in ev.suggestions}
    kinds = [(category.get(c["uuid"], "other"), str(c["indicator"])) for c in cards]
    if service_id == "order-select":
        crisis = [(k, c) for k, c in zip(kinds, cards, strict=True) if c["indicator"] == "critical"]
        kinds, cards = [k for k, _ in crisis], [c for _, c in crisis]
    if done.completeness.incomplete:
        at = sum(1 for c in cards if c["indicator"] == "critical")
        card = incomplete_card(
            ev, done.completeness, hook_instance=req.hookInstance, notes=done.notes
        )
        cards.insert(at, card)
        kinds.insert(at, ("incomplete", "info"))
    if service_id == "order-select":
        for order in draft_orders(req.context):
            judged = judge_order(order, ev, engine.rulebook)
            if judged is None:
                continue
            cards.append(order_conflict_card(ev, judged, hook_instance=req.hookInstance))
            kinds.append(("draft_order", "warning"))
            for f in judged.findings:
                metrics.order_warnings.labels(f.part.order_class.name).inc()
    deadline.check()  # past the budget the request was answered 503: not served, not counted
    metrics.count_answer(service_id, ev, kinds, done.completeness.reasons())
    if audit is not None:
        record_cards(audit, req, service_id, ev, cards)
        if shadow is not None:
            SHADOW.submit(partial(run_shadow, req, shadow, ev, as_of=as_of, site=site, audit=audit))
    log.debug("%s %s: %d card(s)", service_id, req.hookInstance, len(cards))
    return Answer(cards, done.notes)


class ShadowQueue:
    """Runs shadow evaluations on one background thread, off the request path: the candidate
    never adds to a clinician's wait or pushes a call past its time budget. At most ``limit``
    wait; beyond that a shadow evaluation is skipped and counted (``skipped``), never queued
    without bound."""

    def __init__(self, limit: int = 256) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gbrules-shadow")
        self._slots = threading.BoundedSemaphore(limit)
        self.skipped = 0

    def submit(self, job: Callable[[], None]) -> None:
        if not self._slots.acquire(blocking=False):
            self.skipped += 1
            return

        def run() -> None:
            try:
                job()
            finally:
                self._slots.release()

        self._pool.submit(run)

    def drain(self) -> None:
        """Wait for every shadow evaluation submitted so far (tests, shutdown)."""
        self._pool.submit(lambda: None).result()


#: The process's shadow queue (the candidate's engine, like the active one, is serialised).
SHADOW = ShadowQueue()


def run_shadow(
    req: CDSRequest,
    shadow: Engine,
    active: Evaluation,
    *,
    as_of: date,
    site: SiteConfig | None,
    audit: AuditLog,
) -> None:
    """Evaluate the candidate release on the same request and record how its plan differs.
    Nothing of it is returned: a failure is logged (class only) and the answer stands."""
    try:
        cand = evaluate_call(req, shadow, as_of, Deadline(60.0), site=site).ev
    except Exception as exc:  # the shadow must never fail a clinical answer
        log.warning("shadow evaluation failed: %s", type(exc).__name__)
        return
    audit.record_shadow(req.hookInstance, active, cand)


def record_cards(
    audit: AuditLog, req: CDSRequest, service_id: str, ev: Evaluation, cards: list[dict[str, Any]]
) -> None:
    """Record the cards served. A category card is filed under its lead suggestion's rule.
    Never raises and never waits for the database (``safe_record_request``)."""
    from gbrules.io.audit import CardRecord

    lead: dict[str, Any] = {}
    for s in ev.suggestions:  # already ordered: the first of a category is its lead
        lead.setdefault(card_uuid(req.hookInstance, s.category), s)
    records = [
        CardRecord(c["uuid"], lead[c["uuid"]].code, lead[c["uuid"]].rule_id, c["indicator"])
        for c in cards
        if c["uuid"] in lead
    ]
    incomplete = card_uuid(req.hookInstance, "incomplete")
    # The "Draft incomplete" card is filed under the service's own code, so feedback on it is
    # accepted and the report shows how often drafts lacked data.
    records += [
        CardRecord(c["uuid"], INCOMPLETE_CODE, INCOMPLETE_RULE, "info")
        for c in cards
        if c["uuid"] == incomplete
    ]
    audit.safe_record_request(req.hook, req.hookInstance, service_id, ev, records)


def record_feedback(audit: AuditLog, body: FeedbackRequest) -> None:
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

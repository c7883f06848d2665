"""The CDS Hooks services themselves: what they declare, what a call looks like, how it is
answered. Everything here is synchronous and runs in a worker thread (``limits.EvaluationGate``):
the FHIR mapping, the engine, the cards and the audit record.

The service never fetches from the EHR: it works from ``prefetch`` only, and answers 412 when
the data it needs is missing but a ``fhirServer`` was given (the client may retry with
prefetch). Invalid intake data is 422 with the FHIR element paths.
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

from pydantic import BaseModel, ConfigDict, Field

from gbrules.clinical.orders import judge_order
from gbrules.clinical.site import evaluate_at_site
from gbrules.core.engine import Engine
from gbrules.core.errors import IntakeError
from gbrules.core.result import Evaluation
from gbrules.io.fhir.intake import MappingNote, intake_from_resources
from gbrules.io.service.cards import card_uuid, cards_for, order_conflict_card
from gbrules.io.service.errors import ServiceError
from gbrules.io.service.limits import Deadline
from gbrules.io.service.metrics import ServiceMetrics

if TYPE_CHECKING:
    from gbrules.clinical.site import SiteConfig
    from gbrules.io.audit import AuditLog

log = logging.getLogger("gbrules.io.service")

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
        "description": "Warns when a rule of the rulebook names a draft order: a probiotic "
        "while a probiotic caution applies, or a diet order whose plan item a safety rule "
        "deferred or suppressed. Other orders are never judged.",
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


def prefetch_resources(prefetch: dict[str, Any]) -> list[tuple[str, Any]]:
    """(path, resource) for every resource in the prefetch, search outcomes left out."""
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
    """A call's evaluation, the notes of its FHIR mapping, and the patient it is about."""

    ev: Evaluation
    notes: list[MappingNote]
    patient_ref: str


def evaluate_call(
    req: CDSRequest,
    engine: Engine,
    as_of: date,
    deadline: Deadline,
    *,
    site: SiteConfig | None = None,
    rules_off: frozenset[str] = frozenset(),
) -> Evaluated:
    """Map the prefetch to an intake and evaluate it as of ``as_of`` (stale values count as
    not recorded) under the site's settings; 400/412/422 for what cannot be used."""
    patient_id = req.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise ServiceError(400, "context.patientId is required")
    prefetch = req.prefetch or {}
    patient = prefetch.get("patient")
    if not isinstance(patient, dict):
        if req.fhirServer:
            raise ServiceError(
                412,
                "prefetch.patient is missing; this service does not fetch from the "
                "FHIR server: send the prefetch",
            )
        raise ServiceError(400, "prefetch.patient is required")
    pid = patient.get("id")
    if pid is not None and pid != patient_id:
        raise ServiceError(400, "prefetch.patient.id does not match context.patientId")
    try:
        intake, notes = intake_from_resources(prefetch_resources(prefetch), as_of=as_of)
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
    return Evaluated(ev, notes, f"Patient/{patient_id}")


def answer_call(
    service_id: str,
    req: CDSRequest,
    *,
    engine: Engine,
    as_of: date,
    deadline: Deadline,
    metrics: ServiceMetrics,
    audit: AuditLog | None,
    site: SiteConfig | None = None,
    rules_off: frozenset[str] = frozenset(),
    shadow: Engine | None = None,
) -> list[dict[str, Any]]:
    """The cards of one call. patient-view: one card per active suggestion category, crisis
    first. order-select: the crisis card (if any), then a warning per draft order that a rule
    names (``gbrules.clinical.orders``). Counted and audited only when it will be served."""
    done = evaluate_call(req, engine, as_of, deadline, site=site, rules_off=rules_off)
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
        for order in draft_orders(req.context):
            judged = judge_order(order, ev, engine.rulebook)
            if judged is None:
                continue
            cards.append(order_conflict_card(ev, judged, hook_instance=req.hookInstance))
            kinds.append(("draft_order", "warning"))
            for f in judged.findings:
                metrics.order_warnings.labels(f.part.order_class.name).inc()
    deadline.check()  # past the budget the request was answered 503: not served, not counted
    metrics.count_answer(service_id, ev, kinds)
    if audit is not None:
        record_cards(audit, req, service_id, ev, cards)
        if shadow is not None:
            SHADOW.submit(partial(run_shadow, req, shadow, ev, as_of=as_of, site=site, audit=audit))
    log.debug("%s %s: %d card(s)", service_id, req.hookInstance, len(cards))
    return cards


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

"""What the CDS services ask an EHR for: one list of FHIR queries, used three ways.

Each :class:`PrefetchQuery` is at once a CDS Hooks prefetch template (discovery), a search the
service runs itself when the EHR sent a FHIR server and a token instead of (part of) the
prefetch (``gbrules.io.fhir.fetch``), and the documentation of what it asks a US Core server for
(docs/EHR.md). One definition, so the three can never drift apart.

The queries follow US Core (9): ``patient`` + ``code`` for Observations (a US Core server SHALL
support the pair for the screening-assessment profile, where the PHQ-9 and GAD-7 live with
category ``survey``, and for laboratory results, category ``laboratory``); ``patient`` +
``clinical-status`` for Conditions; ``patient`` + ``intent`` for MedicationRequest (US Core
requires the pair). The PHQ-9 is asked for three ways, as US Core records it: the panel, the
total and every item as Observations, and the QuestionnaireResponse (a total alone cannot show
item 9, the self-harm question).

:func:`read_prefetch` reads what the EHR sent for each key: a resource or a searchset, ``null``
(the EHR has no data for it), an OperationOutcome (the EHR's search failed), a Bundle holding an
error OperationOutcome, or a Bundle with a ``next`` link (only the first page was sent). Each
becomes a :class:`PrefetchState`, so nothing is ever read as "nothing there" by mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gbrules.io.fhir import codes as C

#: The prefetch token for the patient (CDS Hooks ``patient-view`` and ``order-select`` context).
PATIENT_CONTEXT = "{{context.patientId}}"


@dataclass(frozen=True)
class Search:
    """One FHIR search for a patient's data.

    ``label`` names what it looks for (it appears in notes and logs); ``params`` are the search
    parameters besides the patient, which is added as ``patient=Patient/{id}`` (or ``_id={id}``
    for the Patient search itself, ``patient_param="_id"``). ``fetch_params`` go only to the
    service's own fetch, never into a prefetch template (``_include``, which CDS Hooks' prefetch
    subset does not list).
    """

    label: str
    resource_type: str
    params: tuple[tuple[str, str], ...] = ()
    patient_param: str = "patient"
    fetch_params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PrefetchQuery:
    """A prefetch key, its search, what it asks a US Core server for, and what it supplies.

    ``supplies`` names the key inputs (``gbrules.io.fhir.completeness``) this query can bring,
    so a missing input can say which query failed or was cut short.
    """

    key: str
    search: Search
    asks_for: str
    supplies: tuple[str, ...] = field(default=())

    @property
    def template(self) -> str:
        """The CDS Hooks prefetch template."""
        s = self.search
        if s.patient_param == "_id":
            return f"{s.resource_type}/{PATIENT_CONTEXT}"
        query = "&".join(f"{k}={v}" for k, v in ((s.patient_param, PATIENT_CONTEXT), *s.params))
        return f"{s.resource_type}?{query}"


def _loinc(*codes: str) -> str:
    return ",".join(f"{C.LOINC}|{code}" for code in codes)


#: Every MedicationRequest intent (R4 value set medicationrequest-intent): US Core requires
#: ``intent`` with ``patient``, and a medication list must not miss any kind of order.
MEDICATION_REQUEST_INTENTS = (
    "proposal",
    "plan",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
)
#: Condition clinical statuses the mapping uses (others would only be noted as not used).
ACTIVE_CONDITION_STATUSES = ("active", "recurrence", "relapse")

PREFETCH_QUERIES: tuple[PrefetchQuery, ...] = (
    PrefetchQuery(
        "patient",
        Search("Patient", "Patient", patient_param="_id"),
        "US Core Patient (read): birthDate for the age; gender, or the US Core sex "
        "extensions when gender is absent.",
        ("age",),
    ),
    PrefetchQuery(
        "moodObservations",
        Search(
            "PHQ-9 and GAD-7 observations",
            "Observation",
            (
                (
                    "code",
                    _loinc(
                        C.PHQ9_PANEL,
                        C.PHQ9_TOTAL,
                        *C.PHQ9_ITEMS,
                        C.GAD7_PANEL,
                        C.GAD7_TOTAL,
                        *C.GAD7_ITEMS,
                    ),
                ),
            ),
        ),
        "US Core Observation Screening Assessment (category survey) by patient and code: the "
        "PHQ-9 panel (44249-1), total (44261-6) and all nine items including item 9 (44260-8), "
        "the GAD-7 panel, total and items. Totals as valueInteger, valueQuantity or a whole "
        "number in valueString; items as LOINC answers.",
        ("phq9",),
    ),
    PrefetchQuery(
        "labObservations",
        Search(
            "CRP, calprotectin and coeliac serology observations",
            "Observation",
            (("code", _loinc(C.CRP, C.HS_CRP, C.FECAL_CALPROTECTIN, C.TTG_IGA)),),
        ),
        "US Core Laboratory Result Observation (category laboratory) by patient and code: CRP "
        "(1988-5), hs-CRP (30522-7), faecal calprotectin (38445-3), tTG-IgA (31017-7).",
        ("crp",),
    ),
    PrefetchQuery(
        "bodyWeight",
        Search(
            "Body weight observations",
            "Observation",
            (("code", _loinc(C.BODY_WEIGHT)),),
        ),
        "US Core Body Weight (category vital-signs) by patient and code 29463-7: the weight "
        "for weight-based amounts (caffeine per kg).",
    ),
    PrefetchQuery(
        "conditions",
        Search(
            "Conditions",
            "Condition",
            (("clinical-status", ",".join(ACTIVE_CONDITION_STATUSES)),),
        ),
        "US Core Condition (problems, health concerns, encounter diagnoses) by patient and "
        "clinical-status active, recurrence or relapse: IBS, depression, anxiety, coeliac "
        "disease, IBD, pregnancy, immunodeficiency and the alarm features coded on the problem "
        "list (ICD-10-CM or SNOMED CT).",
        ("alarm_features", "probiotic_cautions"),
    ),
    PrefetchQuery(
        "medicationRequests",
        Search(
            "Medication requests",
            "MedicationRequest",
            (("intent", ",".join(MEDICATION_REQUEST_INTENTS)),),
            fetch_params=(("_include", "MedicationRequest:medication"),),
        ),
        "US Core MedicationRequest by patient and intent (every intent): SSRIs, antibiotics, "
        "probiotics and the other classes by RxNorm or ATC. The service's own fetch adds "
        "_include=MedicationRequest:medication for referenced Medications.",
        ("probiotic_cautions",),
    ),
    PrefetchQuery(
        "medicationStatements",
        Search("Medication statements", "MedicationStatement"),
        "MedicationStatement by patient (not a US Core profile; leave it out if the server has "
        "none): medicines the patient reports taking.",
        ("probiotic_cautions",),
    ),
    PrefetchQuery(
        "questionnaireResponses",
        Search("Questionnaire responses", "QuestionnaireResponse"),
        "US Core QuestionnaireResponse by patient: the PHQ-9 and GAD-7 forms (LOINC linkIds) "
        "and gbrules' own intake form (GI symptoms, alarm features, lifestyle).",
        ("phq9", "alarm_features"),
    ),
)

QUERIES_BY_KEY: dict[str, PrefetchQuery] = {q.key: q for q in PREFETCH_QUERIES}
#: The prefetch object of the services' discovery entries.
PREFETCH_TEMPLATES: dict[str, str] = {q.key: q.template for q in PREFETCH_QUERIES}


# --- reading what the EHR sent ----------------------------------------------------------------


class PrefetchStatus(StrEnum):
    """What the EHR sent for one prefetch key."""

    #: A resource, or a searchset read to its end.
    PROVIDED = "provided"
    #: ``null`` or a searchset with no entries: the EHR has no such data.
    EMPTY = "empty"
    #: The key was left out: the EHR chose not to (or could not) satisfy it.
    ABSENT = "absent"
    #: An OperationOutcome instead of the data, or an error OperationOutcome in the Bundle.
    FAILED = "failed"
    #: A searchset with a ``next`` link: only the first page was sent.
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class PrefetchState:
    """One prefetch key as the EHR sent it: its status, the detail, and its resources as
    ``(JSON path, resource)`` pairs (search outcomes left out)."""

    key: str
    status: PrefetchStatus
    detail: str
    resources: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """Everything the EHR has for this key is here (possibly nothing)."""
        return self.status in (PrefetchStatus.PROVIDED, PrefetchStatus.EMPTY)


class PrefetchError(ValueError):
    """A prefetch value that is not FHIR JSON at all (the caller answers 400)."""


def outcome_text(outcome: Mapping[str, Any], limit: int = 300) -> str:
    """The issues of an OperationOutcome as 'severity code: text; ...' (bounded)."""
    said = []
    for issue in outcome.get("issue") or []:
        if not isinstance(issue, Mapping):
            continue
        details = issue.get("details")
        text = issue.get("diagnostics") or (
            details.get("text") if isinstance(details, Mapping) else None
        )
        said.append(" ".join(str(x) for x in (issue.get("severity"), issue.get("code"), text) if x))
    return "; ".join(said)[:limit] or "no issue text"


def _is_error(outcome: Mapping[str, Any]) -> bool:
    issues = [i for i in outcome.get("issue") or [] if isinstance(i, Mapping)]
    severities = {i.get("severity") for i in issues}
    return bool(severities & {"fatal", "error"}) or not severities


def read_prefetch(prefetch: Mapping[str, Any] | None) -> dict[str, PrefetchState]:
    """The state of every prefetch key of ``PREFETCH_QUERIES`` (and of any other key sent)."""
    prefetch = prefetch or {}
    out: dict[str, PrefetchState] = {}
    for key in [*QUERIES_BY_KEY, *sorted(k for k in prefetch if k not in QUERIES_BY_KEY)]:
        if key not in prefetch:
            out[key] = PrefetchState(key, PrefetchStatus.ABSENT, "not sent by the EHR")
            continue
        out[key] = _read_key(key, prefetch[key])
    return out


def _read_key(key: str, value: Any) -> PrefetchState:
    where = f"prefetch.{key}"
    if value is None:
        return PrefetchState(key, PrefetchStatus.EMPTY, "the EHR has no data (null)")
    if not isinstance(value, Mapping):
        raise PrefetchError(f"{where} must be a FHIR resource (a JSON object) or null")
    rtype = value.get("resourceType")
    if rtype == "OperationOutcome":
        return PrefetchState(
            key, PrefetchStatus.FAILED, f"the EHR's search failed: {outcome_text(value)}"
        )
    if rtype != "Bundle":
        return PrefetchState(key, PrefetchStatus.PROVIDED, "a resource", ((where, value),))
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise PrefetchError(f"{where}.entry must be an array")
    resources: list[tuple[str, Mapping[str, Any]]] = []
    failures: list[str] = []
    warnings: list[str] = []
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping) or not isinstance(e.get("resource"), Mapping):
            raise PrefetchError(f"{where}.entry[{i}] has no resource object")
        search = e.get("search")
        if search is not None and not isinstance(search, Mapping):
            raise PrefetchError(f"{where}.entry[{i}].search must be an object")
        res = e["resource"]
        if res.get("resourceType") == "OperationOutcome" or (search or {}).get("mode") == "outcome":
            (failures if _is_error(res) else warnings).append(outcome_text(res))
            continue
        resources.append((f"{where}.entry[{i}].resource", res))
    links = value.get("link") or []
    has_next = isinstance(links, list) and any(
        isinstance(link, Mapping) and link.get("relation") == "next" for link in links
    )
    if failures:
        return PrefetchState(
            key,
            PrefetchStatus.FAILED,
            "the EHR's search failed: " + "; ".join(failures),
            tuple(resources),
            tuple(warnings),
        )
    if has_next:
        total = value.get("total")
        of = f" of {total}" if isinstance(total, int) else ""
        return PrefetchState(
            key,
            PrefetchStatus.TRUNCATED,
            f"only the first page was sent ({len(resources)}{of} results; more pages exist)",
            tuple(resources),
            tuple(warnings),
        )
    if not resources:
        return PrefetchState(
            key, PrefetchStatus.EMPTY, "the EHR has no data (empty searchset)", (), tuple(warnings)
        )
    return PrefetchState(
        key,
        PrefetchStatus.PROVIDED,
        f"{len(resources)} resource(s)",
        tuple(resources),
        tuple(warnings),
    )

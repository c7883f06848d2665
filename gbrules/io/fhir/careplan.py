"""FHIR R4 out: an Evaluation becomes a draft CarePlan with contained requests.

Each active suggestion becomes one request resource, contained in the CarePlan and referenced
from an ``activity``:

- ``referral.*``, ``lab.*``: ServiceRequest (category SNOMED CT referral / laboratory);
- ``diet.*``: NutritionOrder (oral diet, the advice as ``instruction``);
- everything else (``safety.*`` with crisis resources, ``medication.*``, ``sleep.*``,
  ``stress.*``, ``exercise.*``, ``probiotic.*``, ``education.*``): CommunicationRequest.

Every request is a proposal (status ``draft``, intent ``proposal`` where the resource has an
intent) and carries its basis: the rationale in ``reasonCode`` (NutritionOrder has none, so
there it goes in ``note``), and the rule id, rulebook version and citations in ``note``.
Suppressed or deferred codes are listed in the CarePlan's ``note`` with their reason, and so is
"Draft incomplete: ..." when an input the safety rules need was not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gbrules.clinical.completeness import missing_key_inputs
from gbrules.clinical.crisis import crisis_set
from gbrules.core.result import Evaluation, Suggestion

if TYPE_CHECKING:
    from gbrules.clinical.site import OrderCode

SUGGESTION_SYSTEM = "https://gbrules.example.org/fhir/CodeSystem/suggestion"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"

_PRIORITY = {"critical": "stat", "urgent": "urgent", "routine": "routine"}
_CATEGORY = {
    "referral": (SNOMED, "3457005", "Patient referral"),
    "lab": (SNOMED, "108252007", "Laboratory procedure"),
}
_LAB_LOINC = {
    "lab.repeat_crp": ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma"),
    "lab.celiac_serology": ("31017-7", "Tissue transglutaminase IgA Ab [Units/volume] in Serum"),
    "lab.fecal_calprotectin": ("38445-3", "Calprotectin [Mass/mass] in Stool"),
    # Re-check against LOINC before shipping an integration (CA125 has several assays).
    "lab.ca125": ("10334-1", "Cancer Ag 125 [Units/volume] in Serum or Plasma"),
}


def resource_kind(code: str) -> str:
    """The FHIR request resource type a suggestion code becomes."""
    category = code.split(".", 1)[0]
    if category in ("referral", "lab"):
        return "ServiceRequest"
    if category == "diet":
        return "NutritionOrder"
    return "CommunicationRequest"


def _concept(s: Suggestion) -> dict[str, Any]:
    return {
        "coding": [{"system": SUGGESTION_SYSTEM, "code": s.code, "display": s.title}],
        "text": s.title,
    }


def basis_note(s: Suggestion, version: str) -> str:
    evidence = "; ".join(s.evidence) if s.evidence else "none listed"
    return f"gbrules rule {s.rule_id} (rulebook {version}). Evidence: {evidence}"


def fhir_request(
    s: Suggestion,
    patient_ref: str,
    *,
    version: str,
    authored: str,
    rid: str | None = None,
    order_codes: Mapping[str, OrderCode] | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One suggestion as a FHIR R4 request resource (a proposal for the clinician).

    ``order_codes``: the site's own orderables (site.yaml), added to a ServiceRequest's code
    so the EHR can turn the proposal into a real order. ``settings``: the Evaluation's
    rulebook settings (the crisis lines of its country)."""
    kind = resource_kind(s.code)
    subject = {"reference": patient_ref}
    notes = [{"text": basis_note(s, version)}]
    res: dict[str, Any] = {"resourceType": kind}
    if rid:
        res["id"] = rid
    if kind == "NutritionOrder":
        res.update(
            status="draft",
            intent="proposal",
            patient=subject,
            dateTime=authored,
            oralDiet={"type": [_concept(s)], "instruction": f"{s.title}. {s.rationale}"},
            note=[{"text": f"Reason: {s.rationale}"}, *notes],
        )
        return res
    res.update(status="draft")
    if kind == "ServiceRequest":
        system, code, display = _CATEGORY[s.category]
        concept = _concept(s)
        if s.code in _LAB_LOINC:
            loinc, name = _LAB_LOINC[s.code]
            concept["coding"].append({"system": LOINC, "code": loinc, "display": name})
        local = (order_codes or {}).get(s.code)
        if local is not None:
            concept["coding"].append(
                {"system": local.system, "code": local.code, "display": local.display}
            )
        res.update(
            intent="proposal",
            category=[{"coding": [{"system": system, "code": code, "display": display}]}],
            code=concept,
            subject=subject,
            authoredOn=authored,
        )
    else:
        payload = [{"contentString": f"{s.title}. {s.rationale}"}]
        if s.code == "safety.crisis":
            payload.append({"contentString": crisis_set(settings).clinician_text()})
        res.update(
            category=[{"text": s.category}, _concept(s)],
            subject=subject,
            payload=payload,
            authoredOn=authored,
        )
    res.update(
        priority=_PRIORITY[s.priority],
        reasonCode=[{"text": s.rationale}],
        note=notes,
    )
    return res


def _rid(code: str) -> str:
    return code.replace("_", "-")


def careplan_from_evaluation(
    ev: Evaluation,
    patient_ref: str,
    *,
    authored: datetime | None = None,
    order_codes: Mapping[str, OrderCode] | None = None,
    incomplete: Sequence[str] = (),
) -> dict[str, Any]:
    """A FHIR R4 CarePlan (status draft, intent proposal) for clinician review.

    ``patient_ref`` is a reference such as ``"Patient/123"``. ``authored`` (default: now, UTC)
    stamps the requests; pass it for reproducible output. When a key input is not recorded
    (``gbrules.clinical.completeness``), or the caller passes ``incomplete`` lines (a data
    source that failed or was cut short), the CarePlan says "Draft incomplete" in a note, as
    the CDS service's card does.
    """
    stamp = (authored or datetime.now(UTC)).replace(microsecond=0).isoformat()
    contained = []
    activity = []
    for s in ev.suggestions:
        rid = _rid(s.code)
        contained.append(
            fhir_request(
                s,
                patient_ref,
                version=ev.rulebook_version,
                authored=stamp,
                rid=rid,
                order_codes=order_codes,
                settings=ev.settings,
            )
        )
        activity.append({"reference": {"reference": f"#{rid}", "display": s.title}})
    notes = [
        {
            "text": "Draft generated by gbrules for clinician review: suggestions, not orders. "
            f"Rulebook {ev.rulebook_version}."
        }
    ]
    for sup in ev.suppressed:
        notes.append(
            {
                "text": f"{sup.action.capitalize()}: {sup.code} (proposed by {sup.rule_id}, "
                f"{sup.action} by {sup.by_rule}): {sup.reason}"
            }
        )
    missing = [str(m) for m in missing_key_inputs(ev)]
    if missing or incomplete:
        notes.append({"text": "Draft incomplete: " + "; ".join([*missing, *incomplete])})
    if ev.not_recorded:
        notes.append({"text": "Not recorded: " + ", ".join(ev.not_recorded)})
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": "draft",
        "intent": "proposal",
        "title": "Gut-brain care plan draft",
        "description": "Suggestions drafted from the intake by gbrules; review before use.",
        "subject": {"reference": patient_ref},
        "created": stamp,
        "note": notes,
    }
    if contained:
        plan["contained"] = contained
        plan["activity"] = activity
    return plan

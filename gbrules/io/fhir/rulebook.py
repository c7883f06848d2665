"""The rulebook as a FHIR R4 Bundle of knowledge artefacts (``gbrules rules export --fhir``).

One PlanDefinition per CDS Hooks service, following the base specification's CDS Hooks Service
PlanDefinition profile (``cqf-cdsHooksEndpoint`` names the service): ``patient-view`` holds an
action per rule; ``order-select`` holds the rules whose overrides defer or suppress plan items
(those are what it warns about on a draft order). Each action carries the rule's condition as a
text expression (the plain-language reading and the condition as written), its priority, the
hook as a named-event trigger, its evidence as ``relatedArtifact`` citations, and points at the
ActivityDefinition of the suggestion code it proposes.

Review metadata maps onto the artefact's lifecycle fields: ``status`` is ``active`` only when
every rule in it is approved and unchanged since (otherwise ``draft``), ``approvalDate`` and
``lastReviewDate`` the latest approval, ``reviewer`` everyone who approved a rule, and the
earliest ``next_review`` becomes ``effectivePeriod.end``. Plain dicts are returned so that the
export needs no FHIR library; tests validate them with fhir.resources (R4B models).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from gbrules.core.plain import plain
from gbrules.core.review import state_of
from gbrules.core.rulebook import Rule, Rulebook
from gbrules.io.fhir.careplan import SUGGESTION_SYSTEM
from gbrules.io.review.links import evidence_links

BASE = "https://gbrules.example.org/fhir"
PROFILE = "http://hl7.org/fhir/StructureDefinition/cdshooksserviceplandefinition"
ENDPOINT_EXT = "http://hl7.org/fhir/StructureDefinition/cqf-cdsHooksEndpoint"
_PRIORITY = {"critical": "stat", "urgent": "urgent", "routine": "routine"}
SERVICES = {
    "patient-view": "gbrules gut-brain care-plan draft",
    "order-select": "gbrules safety check of draft orders",
}


def _id(text: str) -> str:
    """A FHIR id: letters, digits, '-' and '.', at most 64 characters."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", text)[:64]


def _citations(evidence: tuple[str, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in evidence:
        item: dict[str, Any] = {"type": "citation", "citation": e}
        links = evidence_links(e)
        if links:
            item["url"] = links[0].url
        out.append(item)
    return out


def _action(rule: Rule, book: Rulebook, hook: str) -> dict[str, Any]:
    state = state_of(rule)
    return {
        "id": _id(rule.id),
        "title": rule.title,
        "description": f"{rule.suggestion_title}. {rule.rationale}".strip(),
        "textEquivalent": f"Review status: {state.state} ({state.message}).",
        "priority": _PRIORITY[rule.priority],
        "code": [{"coding": [{"system": SUGGESTION_SYSTEM, "code": rule.code}]}],
        "documentation": _citations(rule.evidence),
        "trigger": [{"type": "named-event", "name": hook}],
        "condition": [
            {
                "kind": "applicability",
                "expression": {
                    "language": "text/plain",
                    "description": plain(rule.condition, book.domain.vocabulary),
                    "expression": rule.condition.text(),
                },
            }
        ],
        "definitionCanonical": f"{BASE}/ActivityDefinition/{_id(rule.code)}",
    }


def _review_fields(rules: list[Rule]) -> dict[str, Any]:
    states = [state_of(r) for r in rules]
    approved = all(s.state in ("approved", "overdue") for s in states)
    out: dict[str, Any] = {"status": "active" if approved and rules else "draft"}
    days = [r.review.approved_on for r in rules if r.review.approved_on is not None]
    if days:
        out["approvalDate"] = max(days).isoformat()
        out["lastReviewDate"] = max(days).isoformat()
    names = sorted({n for r in rules for n in r.review.approved_by})
    if names:
        out["reviewer"] = [{"name": n} for n in names]
    due = [r.review.next_review for r in rules if r.review.next_review is not None]
    if due:
        out["effectivePeriod"] = {"end": min(due).isoformat()}
    return out


def rulebook_bundle(book: Rulebook, today: date | None = None) -> dict[str, Any]:
    """The rulebook as a FHIR R4 collection Bundle (a JSON-ready dict)."""
    del today  # the review state is evaluated on the current date (state_of)
    members = {
        "patient-view": list(book.rules),
        "order-select": [r for r in book.rules if r.overrides],
    }
    entries: list[dict[str, Any]] = []
    for service, rules in members.items():
        pd: dict[str, Any] = {
            "resourceType": "PlanDefinition",
            "id": _id(f"gbrules-{service}"),
            "meta": {"profile": [PROFILE]},
            "extension": [{"url": ENDPOINT_EXT, "valueUri": service}],
            "url": f"{BASE}/PlanDefinition/{_id(f'gbrules-{service}')}",
            "version": book.version_label,
            "name": _id(f"gbrules_{service}").replace("-", "_").replace(".", "_"),
            "title": SERVICES[service],
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                        "code": "eca-rule",
                    }
                ]
            },
            "description": f"{book.name} {book.version_label}: {len(rules)} rules. "
            "Suggestions for a clinician to review, never orders.",
            **_review_fields(rules),
            "relatedArtifact": _citations(tuple(sorted({e for r in rules for e in r.evidence}))),
            "action": [_action(r, book, service) for r in rules],
        }
        entries.append({"fullUrl": pd["url"], "resource": pd})
    for code in sorted({r.code for r in book.rules}):
        spec = book.codes.get(code)
        users = [r for r in book.rules if r.code == code]
        ad: dict[str, Any] = {
            "resourceType": "ActivityDefinition",
            "id": _id(code),
            "url": f"{BASE}/ActivityDefinition/{_id(code)}",
            "version": book.version_label,
            "name": _id(code).replace("-", "_").replace(".", "_"),
            "title": spec.title if spec else code,
            **_review_fields(users),
            "kind": "ServiceRequest",
            "intent": "proposal",
            "priority": _PRIORITY[spec.priority if spec else "routine"],
            "code": {"coding": [{"system": SUGGESTION_SYSTEM, "code": code}]},
        }
        entries.append({"fullUrl": ad["url"], "resource": ad})
    return {
        "resourceType": "Bundle",
        "id": _id(f"gbrules-rulebook-{book.version}"),
        "type": "collection",
        "entry": entries,
    }

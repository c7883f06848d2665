"""Evaluation -> CDS Hooks 2.0 cards.

Grouping: **one card per active suggestion category** (safety, referral, lab, medication, diet,
sleep, stress, exercise, probiotic, education). Cards are ordered by the highest priority they
hold, then by the order of their first suggestion, so a ``safety.crisis`` card is always first
and ``critical``. Each suggestion of the category is one card suggestion with a ``create`` action
carrying its FHIR request (ServiceRequest, NutritionOrder or CommunicationRequest).

The card detail is Markdown with the basis of every suggestion (FDA CDS guidance criterion 4):
inputs and values, the rationale with its thresholds, the rule id and rulebook version, the
citations, what was suppressed or deferred, and which inputs were not recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gbrules.clinical.crisis import crisis_set
from gbrules.clinical.facts import VOCABULARY, FactValue
from gbrules.clinical.orders import OrderJudgement
from gbrules.core.result import Evaluation, Suggestion
from gbrules.io.fhir.careplan import fhir_request
from gbrules.io.fhir.intake import MappingNote
from gbrules.io.service.completeness import Completeness

if TYPE_CHECKING:
    from gbrules.clinical.site import OrderCode

INDICATOR = {"critical": "critical", "urgent": "warning", "routine": "info"}
RANK = {"critical": 0, "urgent": 1, "routine": 2}
OVERRIDE_SYSTEM = "https://gbrules.example.org/fhir/CodeSystem/override-reason"
OVERRIDE_REASONS = [
    {"system": OVERRIDE_SYSTEM, "code": "already-addressed", "display": "Already addressed"},
    {"system": OVERRIDE_SYSTEM, "code": "not-appropriate", "display": "Not appropriate"},
    {"system": OVERRIDE_SYSTEM, "code": "patient-declined", "display": "Patient declined"},
    {"system": OVERRIDE_SYSTEM, "code": "data-incorrect", "display": "Source data incorrect"},
]
MAX_SUMMARY = 139
MAX_NOTES = 15


def strip_empty(obj: Any) -> Any:
    """Remove None, empty strings, lists and dicts, recursively (CDS JSON has no nulls)."""
    if isinstance(obj, dict):
        out = {k: strip_empty(v) for k, v in obj.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(obj, list):
        items = [strip_empty(v) for v in obj]
        return [v for v in items if v not in (None, "", [], {})]
    return obj


def summary(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 3].rstrip() + "..."


def _fmt(name: str, value: FactValue) -> str:
    spec = VOCABULARY.get(name)
    label = spec.label if spec else name
    unit = f" {spec.unit}" if spec and spec.unit and spec.unit not in label else ""
    value_s = ("yes" if value else "no") if isinstance(value, bool) else str(value)
    return f"{label} = {value_s}{unit}"


def _source(ev: Evaluation) -> dict[str, Any]:
    return {"label": f"gbrules rulebook {ev.rulebook_version}"}


def _suggestion_md(s: Suggestion, version: str, settings: Mapping[str, str]) -> list[str]:
    lines = [f"### {s.title}", "", f"- **Priority:** {s.priority}", f"- **Why:** {s.rationale}"]
    if s.triggered_by:
        inputs = "; ".join(_fmt(k, v) for k, v in s.triggered_by.items())
        lines.append(f"- **Inputs:** {inputs}")
    lines.append(f"- **Rule:** `{s.rule_id}` (rulebook {version})")
    if s.evidence:
        lines.append("- **Evidence:** " + "; ".join(s.evidence))
    if s.code == "safety.crisis":
        lines.append(f"- **{crisis_set(settings).clinician_text()}**")
    lines.append("")
    return lines


def card_uuid(hook_instance: str, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gbrules:{hook_instance}:{key}"))


def cards_for(
    ev: Evaluation,
    patient_ref: str,
    *,
    hook_instance: str,
    authored: str,
    notes: Iterable[MappingNote] = (),
    order_codes: Mapping[str, OrderCode] | None = None,
) -> list[dict[str, Any]]:
    """One card per active category, crisis first. JSON-ready, no empty values. A suggestion
    with a site order code (site.yaml ``order_codes``) carries it in its ServiceRequest."""
    groups: dict[str, list[Suggestion]] = {}
    for s in ev.suggestions:
        groups.setdefault(s.category, []).append(s)
    ordered = sorted(
        groups.items(),
        key=lambda kv: (min(RANK[s.priority] for s in kv[1]), ev.suggestions.index(kv[1][0])),
    )
    note_lines = [f"- {n}" for n in list(notes)[:MAX_NOTES]]
    cards = []
    for category, items in ordered:
        top = min(items, key=lambda s: RANK[s.priority])
        head = top.title if len(items) == 1 else f"{top.title} (+{len(items) - 1} more)"
        md: list[str] = []
        for s in items:
            md += _suggestion_md(s, ev.rulebook_version, ev.settings)
        held = [x for x in ev.suppressed if x.code.startswith(category + ".")]
        if held:
            md.append("**Suppressed or deferred:**")
            md += [f"- `{x.code}` {x.action} by `{x.by_rule}`: {x.reason}" for x in held]
            md.append("")
        if ev.not_recorded:
            md.append("**Not recorded (ask or check before relying on this card):** ")
            md.append(", ".join(ev.not_recorded))
            md.append("")
        if note_lines:
            md.append("**EHR data not used or adjusted:**")
            md += note_lines
        card: dict[str, Any] = {
            "uuid": card_uuid(hook_instance, category),
            "summary": summary(head),
            "indicator": INDICATOR[top.priority],
            "detail": "\n".join(md).strip(),
            "source": _source(ev),
            "suggestions": [
                {
                    "label": summary(s.title),
                    "uuid": card_uuid(hook_instance, s.code),
                    "isRecommended": s.priority == "critical" or None,
                    "actions": [
                        {
                            "type": "create",
                            "description": summary(s.title),
                            "resource": fhir_request(
                                s,
                                patient_ref,
                                version=ev.rulebook_version,
                                authored=authored,
                                order_codes=order_codes,
                                settings=ev.settings,
                            ),
                        }
                    ],
                }
                for s in items
            ],
            "selectionBehavior": "any",
            "overrideReasons": OVERRIDE_REASONS,
        }
        if category == "safety" and "safety.crisis" in ev.codes:
            card["links"] = [
                {"label": line.label, "url": line.url, "type": "absolute"}
                for line in crisis_set(ev.settings).lines
            ]
        cards.append(strip_empty(card))
    return cards


# --- completeness ---------------------------------------------------------------------------

#: How the audit trail files the "Draft incomplete" card (not a rule of the rulebook).
INCOMPLETE_CODE = "draft.incomplete"
INCOMPLETE_RULE = "service.completeness"
#: The response extension that carries the mapping notes (CDS Hooks reserves ``extension``).
NOTES_EXTENSION = "org.gbrules.mapping-notes"
MAX_EXTENSION_NOTES = 200


def notes_extension(notes: Iterable[MappingNote]) -> dict[str, Any]:
    """The mapping notes as a response extension: every answer carries them, cards or not."""
    items = [
        {"resource": n.reference, "path": n.path, "note": n.message}
        for n in list(notes)[:MAX_EXTENSION_NOTES]
    ]
    return {NOTES_EXTENSION: items} if items else {}


def incomplete_card(
    ev: Evaluation,
    completeness: Completeness,
    *,
    hook_instance: str,
    notes: Iterable[MappingNote] = (),
) -> dict[str, Any]:
    """The ``info`` card "Draft incomplete: ...": each key input not recorded with the reason
    (which source failed, or that the record read holds none), each data source that failed, was
    cut short or was not sent, and the mapping notes."""
    md: list[str] = []
    if completeness.missing:
        md.append("**Not recorded (the draft cannot rule these out):**")
        for m in completeness.missing:
            why = completeness.why_missing(m)
            md.append(f"- **{m.what}**: {why}. *Why it matters:* {m.input.why}.")
        md.append("")
    if completeness.problems:
        md.append("**Data sources that failed, were cut short or were not sent:**")
        md += [f"- {s.label} (`{s.key}`): {s.detail}" for s in completeness.problems]
        md.append("")
    if completeness.warnings:
        md.append("**The EHR's search warnings:**")
        md += [f"- {w}" for w in completeness.warnings[:MAX_NOTES]]
        md.append("")
    note_lines = [f"- {n}" for n in list(notes)[:MAX_NOTES]]
    if note_lines:
        md.append("**EHR data not used or adjusted:**")
        md += note_lines
        md.append("")
    md.append(
        "Ask or check these before relying on the draft: missing data is treated as not "
        "recorded, never as absent."
    )
    card: dict[str, Any] = strip_empty(
        {
            "uuid": card_uuid(hook_instance, "incomplete"),
            "summary": summary(completeness.summary()),
            "indicator": "info",
            "detail": "\n".join(md).strip(),
            "source": _source(ev),
            "overrideReasons": OVERRIDE_REASONS,
        }
    )
    return card


# --- order-select -----------------------------------------------------------------------------

_HOW = {
    "deferred": "deferred by",
    "suppressed": "suppressed by",
    "caution": "a caution from",
}


def order_conflict_card(
    ev: Evaluation, judged: OrderJudgement, *, hook_instance: str
) -> dict[str, Any]:
    """The warning card for a draft order that rules name (``gbrules.clinical.orders``): which
    part of the order, how it was recognised, each naming rule with its reason. A removal is
    suggested only when the order holds nothing that must not be removed."""
    ref = judged.reading.reference
    md = [f"**Draft order:** {ref}", ""]
    for f in judged.findings:
        md.append(f"- {f.part.order_class.label} ({f.part.where}, recognised by {f.part.matched}):")
        for n in f.namings:
            md.append(f"  - `{n.code}` {_HOW[n.how]} `{n.rule_id}`: {n.reason}")
    suggestions: list[dict[str, Any]] = []
    if judged.removable:
        action: dict[str, Any] = {"type": "delete", "description": f"Remove draft order {ref}"}
        if "/" in ref:
            action["resourceId"] = ref  # CDS Hooks 2.0.1: a relative reference, a string
        suggestions.append(
            {
                "label": f"Remove draft order {ref}",
                "uuid": card_uuid(hook_instance, f"delete:{ref}"),
                "actions": [action],
            }
        )
    else:
        md += [
            "",
            "This order also holds " + "; ".join(judged.reading.protected) + ": removing it is "
            "not suggested. Review the part above with the care team.",
        ]
    md += [
        "",
        f"**Rules:** {', '.join(f'`{r}`' for r in judged.rules)} (rulebook {ev.rulebook_version})",
    ]
    labels = ", ".join(dict.fromkeys(f.part.order_class.label for f in judged.findings))
    card: dict[str, Any] = strip_empty(
        {
            "uuid": card_uuid(hook_instance, f"conflict:{ref}"),
            "summary": summary(f"Review draft order {ref} ({labels}): a safety rule names it"),
            "indicator": "warning",
            "detail": "\n".join(md),
            "source": _source(ev),
            "suggestions": suggestions,
            "selectionBehavior": "at-most-one" if suggestions else None,
            "overrideReasons": OVERRIDE_REASONS,
        }
    )
    return card

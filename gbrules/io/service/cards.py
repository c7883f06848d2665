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
from collections.abc import Iterable
from typing import Any

from gbrules.clinical.facts import VOCABULARY, FactValue
from gbrules.core.result import Evaluation, Suggestion
from gbrules.io.fhir.careplan import CRISIS_RESOURCES, fhir_request
from gbrules.io.fhir.intake import MappingNote

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


def _suggestion_md(s: Suggestion, version: str) -> list[str]:
    lines = [f"### {s.title}", "", f"- **Priority:** {s.priority}", f"- **Why:** {s.rationale}"]
    if s.triggered_by:
        inputs = "; ".join(_fmt(k, v) for k, v in s.triggered_by.items())
        lines.append(f"- **Inputs:** {inputs}")
    lines.append(f"- **Rule:** `{s.rule_id}` (rulebook {version})")
    if s.evidence:
        lines.append("- **Evidence:** " + "; ".join(s.evidence))
    if s.code == "safety.crisis":
        lines.append(f"- **{CRISIS_RESOURCES}**")
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
) -> list[dict[str, Any]]:
    """One card per active category, crisis first. JSON-ready, no empty values."""
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
            md += _suggestion_md(s, ev.rulebook_version)
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
                                s, patient_ref, version=ev.rulebook_version, authored=authored
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
                {
                    "label": "988 Suicide & Crisis Lifeline",
                    "url": "https://988lifeline.org",
                    "type": "absolute",
                }
            ]
        cards.append(strip_empty(card))
    return cards


# --- order-select -----------------------------------------------------------------------------

_PROBIOTIC_WORDS = ("probiotic", "lactobacillus", "bifidobacter", "saccharomyces", "synbiotic")


def _text_of(res: dict[str, Any]) -> str:
    import json

    return json.dumps(res).lower()


def _is_probiotic(res: dict[str, Any]) -> bool:
    text = _text_of(res)
    return any(w in text for w in _PROBIOTIC_WORDS) or '"a07fc' in text


def _is_supplement(res: dict[str, Any]) -> bool:
    return res.get("resourceType") == "NutritionOrder" and bool(res.get("supplement"))


def order_conflict_cards(
    ev: Evaluation, orders: list[dict[str, Any]], *, hook_instance: str
) -> list[dict[str, Any]]:
    """Warning cards for draft orders that conflict with a safety override."""
    cards: list[dict[str, Any]] = []
    crisis = "safety.crisis" in ev.codes
    probiotic_caution = (
        "probiotic.consult_first" in ev.codes or ev.suppression("probiotic.trial") is not None
    )
    diet_deferred = [x for x in ev.suppressed if x.code.startswith("diet.")]
    for res in orders:
        rtype = res.get("resourceType")
        rid = res.get("id")
        ref = f"{rtype}/{rid}" if rid else str(rtype)
        reasons: list[str] = []
        rules: list[str] = []
        if _is_probiotic(res) or _is_supplement(res):
            if probiotic_caution:
                held = ev.suppression("probiotic.trial")
                cs = ev.suggestion("probiotic.consult_first")
                why = cs.rationale if cs else (held.reason if held else "")
                reasons.append(
                    f"Probiotic or supplement ordered, but a probiotic caution applies: {why}"
                )
                rules += [
                    r for r in (cs.rule_id if cs else None, held.by_rule if held else None) if r
                ]
            elif crisis:
                reasons.append("Probiotic work is deferred until the same-day safety assessment.")
                rules.append(ev.suggestions[0].rule_id)
        if rtype == "NutritionOrder" and (crisis or diet_deferred):
            by = sorted({x.by_rule for x in diet_deferred})
            reasons.append(
                "A diet order while diet changes are deferred or suppressed: "
                + "; ".join(f"{x.code}: {x.reason}" for x in diet_deferred[:3])
            )
            rules += by
        if not reasons:
            continue
        critical_first = crisis and rtype == "NutritionOrder"
        md = [f"**Draft order:** {ref}", ""] + [f"- {r}" for r in reasons]
        md += [
            "",
            f"**Rules:** {', '.join(f'`{r}`' for r in dict.fromkeys(rules))} "
            f"(rulebook {ev.rulebook_version})",
        ]
        action: dict[str, Any] = {"type": "delete", "description": f"Remove draft order {ref}"}
        if rid:
            action["resourceId"] = [ref]
        cards.append(
            strip_empty(
                {
                    "uuid": card_uuid(hook_instance, f"conflict:{ref}"),
                    "summary": summary(
                        f"Review draft {rtype}: conflicts with a safety override"
                        + (" (crisis)" if critical_first else "")
                    ),
                    "indicator": "warning",
                    "detail": "\n".join(md),
                    "source": _source(ev),
                    "suggestions": [
                        {
                            "label": f"Remove draft order {ref}",
                            "uuid": card_uuid(hook_instance, f"delete:{ref}"),
                            "actions": [action],
                        }
                    ],
                    "selectionBehavior": "at-most-one",
                    "overrideReasons": OVERRIDE_REASONS,
                }
            )
        )
    return cards

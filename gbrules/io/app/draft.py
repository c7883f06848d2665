"""The clinician's draft: an Evaluation with the clinician's decisions, as the page shows it and
as the documents (FHIR CarePlan, printed plan, patient handout) carry it.

A decision is kept per suggestion code together with the basis it was made on (the suggestion's
rationale, which names the values and thresholds). When the intake changes so that a suggestion
now rests on a different basis, the earlier decision no longer applies and the item is shown as
undecided again: a clinician never signs off a decision made on values that have since changed.

Safety items (priority ``critical``) can be acknowledged, and their wording edited, but never
declined: they stay in every document, and no document is produced until each is acknowledged.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

from gbrules.clinical.facts import VOCABULARY, facts_from_intake
from gbrules.core.compiled import show
from gbrules.core.engine import Engine
from gbrules.core.errors import FieldError
from gbrules.core.result import Evaluation, Suggestion
from gbrules.io.app import form as F
from gbrules.io.fhir.careplan import careplan_from_evaluation
from gbrules.io.render import crisis_banner

Status = Literal["pending", "accepted", "declined", "acknowledged"]
PlanStatus = Literal["draft", "active"]


#: Why a suggestion is declined: (code, words). The override reasons the CDS Hooks service
#: offers on its cards (``gbrules.io.service.cards.OVERRIDE_REASONS``; a test checks that they
#: agree), so the audit trail counts one vocabulary, plus "other" for a reason only the free
#: text explains. Only the code is ever audited; the free text stays in the clinician's session.
#: (Not imported from the service: the service mounts this app, and an import back would be a
#: cycle between the two packages.)
DECLINE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-addressed", "Already addressed"),
    ("not-appropriate", "Not appropriate"),
    ("patient-declined", "Patient declined"),
    ("data-incorrect", "Source data incorrect"),
    ("other", "Other (explain in the note)"),
)


def decline_reasons() -> tuple[tuple[str, str], ...]:
    return DECLINE_REASONS


PRIORITY_LABELS = {"critical": "Immediate action", "urgent": "Urgent", "routine": "Routine"}
CATEGORY_LABELS = {
    "safety": "Safety",
    "referral": "Referrals",
    "lab": "Tests",
    "medication": "Medicines",
    "diet": "Diet",
    "sleep": "Sleep",
    "stress": "Stress",
    "exercise": "Exercise",
    "probiotic": "Probiotics",
    "education": "Education",
}
MAX_TEXT = 2000  # an edited wording, a comment or an own item
MAX_NOTES = 8000
MAX_OWN_ITEMS = 50


@dataclass
class Decision:
    """The clinician's decision on one suggestion, and the basis it was made on."""

    status: Status
    basis: str
    wording: str | None = None
    reason: str | None = None
    comment: str = ""


@dataclass
class OwnItem:
    """An item the clinician added to the plan in their own words."""

    id: str
    text: str


@dataclass
class Workspace:
    """Everything one clinician's draft holds (server-side, per session)."""

    values: dict[str, str] = field(default_factory=dict)
    #: input name -> (the value pre-filled, the FHIR resource it came from: "Observation/1");
    #: the source is shown while the input still holds that value
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: errors to show at the paste box (JSON that is not an object, paths the form lacks)
    paste_errors: list[str] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    own: list[OwnItem] = field(default_factory=list)
    notes: str = ""
    plan_status: PlanStatus = "draft"
    next_own_id: int = 1


# --- what the page shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    text: str
    href: str | None


@dataclass(frozen=True)
class ItemView:
    """One suggestion with the clinician's decision on it."""

    s: Suggestion
    decision: Decision | None
    changed: bool  # a decision was made on another basis; shown as undecided
    values: tuple[tuple[str, str], ...]
    evidence: tuple[Evidence, ...]

    @property
    def status(self) -> Status:
        return self.decision.status if self.decision else "pending"

    @property
    def critical(self) -> bool:
        return self.s.priority == "critical"

    @property
    def wording(self) -> str:
        return (self.decision.wording if self.decision else None) or self.s.title

    @property
    def edited(self) -> bool:
        return bool(self.decision and self.decision.wording)

    @property
    def in_plan(self) -> bool:
        return self.status in ("accepted", "acknowledged")

    @property
    def anchor(self) -> str:
        return "s-" + re.sub(r"[^A-Za-z0-9_-]+", "-", self.s.code)

    @property
    def reason_label(self) -> str:
        if self.decision is None or self.decision.reason is None:
            return ""
        return dict(decline_reasons()).get(self.decision.reason, self.decision.reason)


@dataclass(frozen=True)
class CategoryView:
    key: str
    label: str
    items: tuple[ItemView, ...]


@dataclass(frozen=True)
class PriorityView:
    key: str
    label: str
    categories: tuple[CategoryView, ...]


@dataclass(frozen=True)
class HeldBack:
    """A suppressed or deferred suggestion, and why."""

    code: str
    title: str
    action: str
    reason: str
    by_rule: str


@dataclass(frozen=True)
class ToRecord:
    """A fact not recorded that a rule of the rulebook reads: recording it may change the plan."""

    fact: str
    label: str
    input_id: str | None
    rules: int


@dataclass(frozen=True)
class DraftView:
    ev: Evaluation | None
    priorities: tuple[PriorityView, ...]
    held_back: tuple[HeldBack, ...]
    to_record: tuple[ToRecord, ...]
    own: tuple[OwnItem, ...]
    notes: str
    plan_status: PlanStatus
    errors: int

    @property
    def items(self) -> tuple[ItemView, ...]:
        return tuple(i for p in self.priorities for c in p.categories for i in c.items)

    @property
    def crisis(self) -> bool:
        return bool(self.ev and self.ev.requires_immediate_action)

    @property
    def banner(self) -> tuple[str, ...]:
        # The crisis lines of the country the rulebook is set for (rules/crisis_lines.yaml).
        return tuple(crisis_banner(self.ev, "clinician")) if self.crisis and self.ev else ()

    @property
    def unacknowledged(self) -> tuple[ItemView, ...]:
        """Safety items not yet acknowledged: every document waits for them."""
        return tuple(i for i in self.items if i.critical and i.status != "acknowledged")

    @property
    def pending(self) -> tuple[ItemView, ...]:
        return tuple(i for i in self.items if i.status == "pending")

    @property
    def accepted(self) -> tuple[ItemView, ...]:
        return tuple(i for i in self.items if i.in_plan)

    @property
    def declined(self) -> tuple[ItemView, ...]:
        return tuple(i for i in self.items if i.status == "declined")

    @property
    def ready(self) -> bool:
        """Whether documents can be produced: a valid intake, every safety item acknowledged."""
        return self.ev is not None and not self.unacknowledged


def evidence_link(text: str) -> Evidence:
    """A citation with a link to find it: NICE guidance by its number, a journal citation
    (author, year, journal volume:page) by a PubMed search. Other text is shown unlinked."""
    nice = re.match(r"NICE\s+([A-Z]{2,3}\d{1,4})\b", text)
    if nice:
        return Evidence(text, f"https://www.nice.org.uk/guidance/{nice.group(1).lower()}")
    if re.search(r"\b(19|20)\d{2}\b", text) and not text.startswith("Source"):
        term = re.sub(r"\s*\(.*?\)\s*", " ", text).strip()
        query = urllib.parse.urlencode({"term": term})
        return Evidence(text, f"https://pubmed.ncbi.nlm.nih.gov/?{query}")
    return Evidence(text, None)


def _values(s: Suggestion) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in s.triggered_by.items():
        spec = VOCABULARY.get(name)
        label = spec.label if spec else name.replace("_", " ")
        unit = spec.unit if spec and spec.unit and spec.unit not in label else ""
        out.append((label, f"{show(value)} {unit}".strip()))
    return tuple(out)


def _item(s: Suggestion, decisions: Mapping[str, Decision]) -> ItemView:
    d = decisions.get(s.code)
    changed = d is not None and d.basis != s.rationale
    return ItemView(
        s=s,
        decision=None if changed else d,
        changed=changed,
        values=_values(s),
        evidence=tuple(evidence_link(e) for e in s.evidence),
    )


def _group(items: Sequence[ItemView]) -> tuple[PriorityView, ...]:
    """By priority (critical, urgent, routine), then by category in order of first appearance
    (the evaluation is already in rulebook order within each priority)."""
    out = []
    for priority in ("critical", "urgent", "routine"):
        chosen = [i for i in items if i.s.priority == priority]
        if not chosen:
            continue
        cats: dict[str, list[ItemView]] = {}
        for i in chosen:
            cats.setdefault(i.s.category, []).append(i)
        out.append(
            PriorityView(
                priority,
                PRIORITY_LABELS[priority],
                tuple(
                    CategoryView(k, CATEGORY_LABELS.get(k, F.label_of(k)), tuple(v))
                    for k, v in cats.items()
                ),
            )
        )
    return tuple(out)


def build_view(
    engine: Engine, ev: Evaluation | None, ws: Workspace, errors: Sequence[FieldError] = ()
) -> DraftView:
    """The draft as the page shows it (``ev`` None: the form does not hold a valid intake)."""
    own = tuple(ws.own)
    if ev is None:
        return DraftView(None, (), (), (), own, ws.notes, ws.plan_status, len(errors))
    items = [_item(s, ws.decisions) for s in ev.suggestions]
    titles = {r.id: r.suggestion_title for r in engine.rulebook.rules}
    held = tuple(
        HeldBack(h.code, titles.get(h.rule_id, h.code), h.action, h.reason, h.by_rule)
        for h in ev.suppressed
    )
    readers = fact_readers(engine)
    inputs = fact_inputs()
    record = tuple(
        ToRecord(
            fact,
            VOCABULARY[fact].label if fact in VOCABULARY else fact,
            inputs.get(fact),
            readers[fact],
        )
        for fact in ev.not_recorded
        if readers.get(fact)
    )
    return DraftView(ev, _group(items), held, record, own, ws.notes, ws.plan_status, len(errors))


def fact_readers(engine: Engine) -> dict[str, int]:
    """Fact -> how many rules of the engine's rulebook read it."""
    out: dict[str, int] = {}
    for rule in engine.rulebook.rules:
        for fact in rule.facts:
            out[fact] = out.get(fact, 0) + 1
    return out


def _sample(f: F.Field) -> str:
    """A valid value for a field, to see which facts the field feeds."""
    if f.kind == "bool":
        return "true"
    if f.kind in ("enum", "const"):
        return f.options[0]
    if f.kind in ("int", "number"):
        return f"{f.minimum if f.minimum is not None else 1:g}"
    if f.kind == "date":
        return "2024-01-02"
    return "x"


@cache
def fact_inputs() -> dict[str, str]:
    """Fact name -> the id of the input that records it, found by trying each input.

    The fact vocabulary is a function of the intake (``facts_from_intake``); which input feeds
    which fact is learnt from that function itself rather than from a second, hand-kept table:
    each input is filled alone (with its siblings when it cannot stand alone) and the facts that
    appear name it.
    """
    form = F.intake_form()
    base_values = {"age": "40"}
    base = F.check(base_values)
    assert base.intake is not None
    out: dict[str, str] = {}
    for node in form.walk():
        if isinstance(node, F.Field) and node.name in VOCABULARY and node.path.count(".") == 0:
            out.setdefault(node.name, node.id)
    alone: list[tuple[str, dict[str, str], dict[str, str]]] = []
    together: list[tuple[str, dict[str, str], dict[str, str]]] = []
    for parent in [form, *form.walk()]:
        if isinstance(parent, F.Instrument):
            scalars: list[tuple[str, str, str]] = [
                (parent.item_path(i), F.input_id(parent.item_path(i)), "0") for i in parent.aliases
            ]
            scalars += [(f.path, f.id, _sample(f)) for f in (parent.total, *parent.others) if f]
        elif isinstance(parent, F.Group):
            scalars = [
                (f.path, f.id, _sample(f))
                for f in parent.children
                if isinstance(f, F.Field) and f.kind != "const"
            ]
        else:
            continue
        siblings = {path: value for path, _, value in scalars}
        for path, ident, value in scalars:
            others = {**base_values, **{k: v for k, v in siblings.items() if k != path}}
            alone.append((ident, {**base_values, path: value}, base_values))
            together.append((ident, {**others, path: value}, others))
    base_facts = facts_from_intake(base.intake)
    for ident, with_it, without in alone + together:
        a, b = F.check(with_it), F.check(without)
        if a.intake is None:
            continue
        before = facts_from_intake(b.intake) if b.intake is not None else base_facts
        for fact in facts_from_intake(a.intake):
            spec = VOCABULARY.get(fact)
            if fact not in before and spec is not None and not spec.derived:
                out.setdefault(fact, ident)
    return out


# --- decisions -----------------------------------------------------------------------------


class DecisionError(ValueError):
    """A decision the workbench refuses (declining a safety item, an unknown reason ...)."""


def decide(
    ws: Workspace,
    ev: Evaluation,
    code: str,
    action: str,
    *,
    wording: str = "",
    reason: str = "",
    comment: str = "",
) -> Decision | None:
    """Record the clinician's decision on suggestion ``code``; return it (None for undo)."""
    s = ev.suggestion(code)
    if s is None:
        raise DecisionError("that suggestion is not in the current draft")
    critical = s.priority == "critical"
    wording = " ".join(wording.split())[:MAX_TEXT]
    comment = comment.strip()[:MAX_TEXT]
    previous = ws.decisions.get(code)
    kept_wording = previous.wording if previous and previous.basis == s.rationale else None
    decision: Decision | None
    if action == "undo":
        if critical and previous is not None:
            raise DecisionError("a safety item stays acknowledged once acknowledged")
        ws.decisions.pop(code, None)
        return None
    if action == "accept":
        status: Status = "acknowledged" if critical else "accepted"
        decision = Decision(status, s.rationale, wording=kept_wording)
    elif action == "acknowledge":
        if not critical:
            raise DecisionError("only safety items are acknowledged; accept this one")
        decision = Decision("acknowledged", s.rationale, wording=kept_wording)
    elif action == "edit":
        if not wording:
            raise DecisionError("the edited wording is empty")
        status = "acknowledged" if critical else "accepted"
        decision = Decision(status, s.rationale, wording=None if wording == s.title else wording)
    elif action == "decline":
        if critical:
            raise DecisionError(
                "a safety item cannot be declined: acknowledge it, and edit its wording if needed"
            )
        if reason not in dict(decline_reasons()):
            raise DecisionError("choose a reason for declining")
        if reason == "other" and not comment:
            raise DecisionError("say why in the note when the reason is 'other'")
        decision = Decision("declined", s.rationale, reason=reason, comment=comment)
    else:
        raise DecisionError(f"unknown action {action!r}")
    ws.decisions[code] = decision
    return decision


def add_own(ws: Workspace, text: str) -> OwnItem:
    text = " ".join(text.split())[:MAX_TEXT]
    if not text:
        raise DecisionError("the item is empty")
    if len(ws.own) >= MAX_OWN_ITEMS:
        raise DecisionError(f"at most {MAX_OWN_ITEMS} own items")
    item = OwnItem(f"own-{ws.next_own_id}", text)
    ws.next_own_id += 1
    ws.own.append(item)
    return item


def remove_own(ws: Workspace, item_id: str) -> None:
    ws.own = [i for i in ws.own if i.id != item_id]


# --- documents -----------------------------------------------------------------------------


def decided_evaluation(view: DraftView) -> Evaluation:
    """The evaluation cut down to the items in the plan (accepted or acknowledged), with the
    clinician's wording as their titles; what was held back stays as it was."""
    assert view.ev is not None
    chosen = [
        i.s.model_copy(update={"title": i.wording}) if i.edited else i.s for i in view.accepted
    ]
    return view.ev.model_copy(
        update={"suggestions": chosen, "codes": frozenset(s.code for s in chosen)}
    )


_NO_PATIENT = "urn:gbrules:no-patient-id"


def _replace_subject(obj: Any) -> Any:
    """A reference to the placeholder patient becomes a display-only reference."""
    if isinstance(obj, dict):
        if obj.get("reference") == _NO_PATIENT:
            return {"display": "Patient (no identifier recorded in the intake)"}
        return {k: _replace_subject(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_subject(v) for v in obj]
    return obj


def careplan(view: DraftView, patient_ref: str | None, *, when: datetime | None = None) -> Any:
    """The decided plan as a FHIR R4 CarePlan: only the items in the plan, the clinician's
    wording, own items and notes; status ``draft`` or ``active`` as the clinician chose, intent
    ``plan`` (decided by a clinician, no longer a machine proposal)."""
    if not view.ready:
        raise DecisionError("acknowledge every safety item first")
    ev = decided_evaluation(view)
    plan = careplan_from_evaluation(ev, patient_ref or _NO_PATIENT, authored=when)
    active = view.plan_status == "active"
    plan["status"] = view.plan_status
    plan["intent"] = "plan"
    plan["title"] = "Gut-brain care plan"
    plan["description"] = "Care plan decided by the clinician from a gbrules draft."
    edited = {_rid(i.s.code): i for i in view.accepted if i.edited}
    for res in plan.get("contained", []):
        res["status"] = "active" if active else "draft"
        if "intent" in res:
            res["intent"] = "plan"
        if res.get("id") in edited:
            item = edited[res["id"]]
            _set_wording(res, item.wording, item.s.title)
    for act in plan.get("activity", []):
        found = edited.get(act["reference"]["reference"].lstrip("#"))
        if found is not None:
            act["reference"]["display"] = found.wording
    for own in view.own:
        plan.setdefault("activity", []).append(
            {
                "detail": {
                    "status": "not-started" if active else "scheduled",
                    "description": own.text,
                }
            }
        )
    notes = plan.setdefault("note", [])
    notes[0] = {
        "text": "Drafted by gbrules (rulebook "
        f"{view.ev.rulebook_version if view.ev else ''}) and decided item by item by the "
        "clinician: only accepted items are listed."
    }
    if view.notes.strip():
        notes.append({"text": view.notes.strip()})
    return _replace_subject(plan)


def _rid(code: str) -> str:
    return code.replace("_", "-")


def _set_wording(res: dict[str, Any], wording: str, suggested: str) -> None:
    kind = res["resourceType"]
    if kind == "ServiceRequest":
        res["code"]["text"] = wording
    elif kind == "NutritionOrder":
        res["oralDiet"]["instruction"] = wording
        res["oralDiet"]["type"][0]["text"] = wording
    else:
        res["payload"][0]["contentString"] = wording
    res.setdefault("note", []).append(
        {"text": f"Wording edited by the clinician; suggested wording: {suggested}"}
    )


def now() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "DECLINE_REASONS",
    "Decision",
    "DecisionError",
    "DraftView",
    "OwnItem",
    "Workspace",
    "add_own",
    "build_view",
    "careplan",
    "decide",
    "decided_evaluation",
    "decline_reasons",
    "evidence_link",
    "remove_own",
]

"""FHIR R4 (read with fhir.resources R4B) in: a Bundle becomes an Intake plus mapping notes.

The mapping is deliberately conservative and fully audited:

- every resource the mapping reads is validated first (``gbrules.io.fhir.resources``: each
  element read checked by type, every element name checked against FHIR R4); malformed FHIR
  raises ``IntakeError`` whose paths name the bundle entry and the element
  (``entry[3].resource.valueQuantity.value``) and whose messages name the resource
  (``Observation/phq9-total``);
- conditions and medications are classified by the terminology tables
  (``gbrules.io.fhir.terminology``: SNOMED CT and ICD-10-CM value sets, ATC, RxNorm ingredients
  and products); a code no table holds is a note, and a field the tables name that this intake
  version lacks is a note, not an error;
- per intake field the most recent valid value wins (``effectiveDateTime``, ``authored``,
  ``recordedDate``, ...); a Condition or medication that asserts a finding wins over a
  questionnaire answer that denies it (the cautious side);
- ``entered-in-error`` and ``cancelled`` resources are ignored; everything that is ignored,
  superseded or cannot be mapped becomes a ``MappingNote``, never a silent drop;
- the result is built as Intake JSON and passed through
  ``gbrules.clinical.intake.parse_intake``, so all intake validation applies; its errors are
  reported against the FHIR element they came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, get_args

from pydantic import ValidationError

from gbrules.clinical.intake import Intake, json_path, parse_intake
from gbrules.core.errors import FieldError, IntakeError
from gbrules.io.extras import require
from gbrules.io.fhir import codes as C
from gbrules.io.fhir import terminology as T
from gbrules.io.fhir.resources import MODELS, UNKNOWN_ELEMENT

MAPPED_TYPES = (
    "Patient",
    "Observation",
    "QuestionnaireResponse",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "Medication",
)


@dataclass(frozen=True)
class MappingNote:
    """Something the mapping did not use, or used with a caveat: where it is and why."""

    resource_type: str
    resource_id: str | None
    path: str
    message: str

    @property
    def reference(self) -> str:
        return (
            f"{self.resource_type}/{self.resource_id}" if self.resource_id else self.resource_type
        )

    def __str__(self) -> str:
        return f"{self.reference} at {self.path}: {self.message}"


@dataclass(frozen=True)
class _Src:
    rtype: str
    rid: str | None
    path: str

    @property
    def ref(self) -> str:
        return f"{self.rtype}/{self.rid}" if self.rid else self.rtype


@dataclass(frozen=True)
class _Candidate:
    value: Any
    when: datetime | None
    order: int
    src: _Src
    asserted: bool = False  # a diagnosis or medication record, as opposed to a form answer

    def key(self) -> tuple[bool, bool, datetime, int]:
        return (self.asserted, self.when is not None, self.when or _EPOCH, self.order)


_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


@dataclass
class _Score:
    """One dated score observation (a total or one item of PHQ-9 / GAD-7)."""

    value: Any
    when: datetime | None
    order: int
    src: _Src


@dataclass
class _State:
    as_of: date
    notes: list[MappingNote] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    cands: dict[str, list[_Candidate]] = field(default_factory=dict)
    scores: dict[str, dict[str, list[_Score]]] = field(default_factory=dict)  # instrument -> code
    medications: dict[str, Any] = field(default_factory=dict)  # "Medication/id" -> model
    patients: list[tuple[Any, _Src]] = field(default_factory=list)
    order: int = 0

    def note(self, src: _Src, message: str, path: str | None = None) -> None:
        self.notes.append(MappingNote(src.rtype, src.rid, path or src.path, message))

    def add(
        self, fld: str, value: Any, when: datetime | None, src: _Src, asserted: bool = False
    ) -> None:
        self.order += 1
        self.cands.setdefault(fld, []).append(_Candidate(value, when, self.order, src, asserted))


def intake_from_fhir(bundle: Mapping[str, Any], *, as_of: date) -> tuple[Intake, list[MappingNote]]:
    """Map a FHIR R4 Bundle (a dict) to a validated Intake and the notes on what was not used.

    ``as_of`` is the evaluation date: age is computed at it and "recent" antibiotics are
    counted back from it. Raises ``IntakeError`` on malformed FHIR or an invalid result, and
    ``MissingExtraError`` (an ImportError) without the ``fhir`` extra.
    """
    require("fhir", "gbrules.io.fhir.intake_from_fhir")
    if not isinstance(bundle, Mapping):
        raise IntakeError(
            [FieldError("$", f"a FHIR Bundle must be a JSON object, not {type(bundle).__name__}")]
        )
    if bundle.get("resourceType") != "Bundle":
        raise IntakeError(
            [FieldError("resourceType", f"expected 'Bundle', got {bundle.get('resourceType')!r}")]
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise IntakeError([FieldError("entry", "must be an array of entries")])
    resources: list[tuple[str, Any]] = []
    errors: list[FieldError] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            errors.append(FieldError(f"entry[{i}]", "an entry must be a JSON object"))
            continue
        res = entry.get("resource")
        if res is None:
            errors.append(FieldError(f"entry[{i}].resource", "entry has no resource"))
            continue
        resources.append((f"entry[{i}].resource", res))
    if errors:
        raise IntakeError(errors)
    return intake_from_resources(resources, as_of=as_of)


def intake_from_resources(
    resources: Iterable[tuple[str, Any]], *, as_of: date
) -> tuple[Intake, list[MappingNote]]:
    """Map ``(path, resource dict)`` pairs; ``path`` locates each resource in the caller's JSON."""
    intake, notes, _ = intake_with_sources(resources, as_of=as_of)
    return intake, notes


def intake_with_sources(
    resources: Iterable[tuple[str, Any]], *, as_of: date
) -> tuple[Intake, list[MappingNote], dict[str, str]]:
    """``intake_from_resources``, plus where each intake value came from: intake field path
    (``mood.phq9.total``) -> the resource that gave it (``Observation/phq9-total``), so a form
    pre-filled from the record can show the source of every value."""
    require("fhir", "gbrules.io.fhir.intake_with_sources")
    st = _State(as_of=as_of)
    parsed: list[tuple[Any, _Src]] = []
    for path, raw in resources:
        model = _validate(st, path, raw)
        if model is None:
            continue
        src = _Src(model.get_resource_type(), getattr(model, "id", None), path)
        if src.rtype == "Medication" and src.rid:
            st.medications[f"Medication/{src.rid}"] = model
        parsed.append((model, src))
    if st.errors:
        raise IntakeError(st.errors)

    handlers = {
        "Patient": _patient,
        "Observation": _observation,
        "QuestionnaireResponse": _questionnaire_response,
        "Condition": _condition,
        "MedicationStatement": _medication,
        "MedicationRequest": _medication,
        "Medication": _skip,
    }
    for model, src in parsed:
        handlers[src.rtype](st, model, src)
    _resolve_instruments(st)
    data, prov = _assemble(st)
    if st.errors:
        raise IntakeError(st.errors)
    try:
        intake = parse_intake(data)
    except IntakeError as exc:
        raise IntakeError([_remap(e, prov) for e in exc.errors]) from None
    return intake, st.notes, {path: src.ref for path, src in prov.items()}


# --- validation -------------------------------------------------------------------------------


def _validate(st: _State, path: str, raw: Any) -> Any | None:
    """The resource as a ``gbrules.io.fhir.resources`` model (the elements the mapping reads,
    each checked; every element name checked against R4), or None with errors or a note."""
    if not isinstance(raw, Mapping):
        st.errors.append(FieldError(path, "a resource must be a JSON object"))
        return None
    rtype = raw.get("resourceType")
    if not isinstance(rtype, str):
        st.errors.append(FieldError(f"{path}.resourceType", "missing or not a string"))
        return None
    rid = raw.get("id") if isinstance(raw.get("id"), str) else None
    src = _Src(rtype, rid, path)
    model = MODELS.get(rtype)
    if model is None:
        st.note(src, f"resource type {rtype} is not used by gbrules")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            sub = json_path(tuple(err["loc"]))
            where = path if sub == "$" else f"{path}.{sub}"
            ctx = err.get("ctx") or {}
            if err["type"] == UNKNOWN_ELEMENT:
                for key in ctx["keys"]:
                    st.errors.append(
                        FieldError(f"{where}.{key}", f"{src.ref}: unknown element (not in FHIR R4)")
                    )
                continue
            msg = str(err["msg"]).removeprefix("Value error, ")
            st.errors.append(FieldError(where, f"{src.ref}: malformed FHIR: {msg}"))
        return None


# --- helpers ----------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    """A FHIR date/dateTime (datetime, date or a partial 'YYYY' / 'YYYY-MM' string) as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", str(value))
    if m:
        return datetime(int(m.group(1)), int(m.group(2) or 1), 1, tzinfo=UTC)
    return None


def _codings(cc: Any) -> list[Any]:
    return list(getattr(cc, "coding", None) or []) if cc is not None else []


def _codes(cc: Any, system: str) -> list[str]:
    return [c.code for c in _codings(cc) if c.system == system and c.code]


def _code_of(cc: Any) -> Any:
    """The first coding of a CodeableConcept, or None."""
    cs = _codings(cc)
    return cs[0] if cs else None


def _status(cc: Any) -> str | None:
    return next((c.code for c in _codings(cc) if c.code), None)


def _number(v: Any) -> int | float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, Decimal | float):
        f = float(v)
        return int(f) if f.is_integer() else f
    return None


def _text(cc: Any) -> str:
    if cc is None:
        return ""
    parts = [cc.text or ""] + [c.display or "" for c in _codings(cc)]
    return " ".join(parts).lower()


def _skip(st: _State, m: Any, src: _Src) -> None:
    """Medications are indexed up front and read through references."""


# --- Patient ----------------------------------------------------------------------------------


def _patient(st: _State, p: Any, src: _Src) -> None:
    st.patients.append((p, src))


def _age(st: _State, birth: Any, src: _Src) -> int | None:
    path = f"{src.path}.birthDate"
    if isinstance(birth, date):
        y, m, d = birth.year, birth.month, birth.day
    else:
        match = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", str(birth))
        if not match:
            st.errors.append(FieldError(path, f"{src.ref}: birthDate {birth!r} is not a date"))
            return None
        y, m, d = int(match.group(1)), int(match.group(2) or 1), 1
        st.note(
            src,
            f"partial birthDate {birth!r}: age computed from the earliest possible birthday "
            "(the older age, the cautious side for age thresholds)",
            path,
        )
    if (y, m, d) > (st.as_of.year, st.as_of.month, st.as_of.day):
        st.errors.append(FieldError(path, f"{src.ref}: birthDate {birth} is after {st.as_of}"))
        return None
    return st.as_of.year - y - ((st.as_of.month, st.as_of.day) < (m, d))


# --- Observation ------------------------------------------------------------------------------

_OBS_OK = {"final", "amended", "corrected"}
_IGNORED = {"entered-in-error", "cancelled"}


def _obs_when(o: Any) -> datetime | None:
    if o.effectiveDateTime is not None:
        return _when(o.effectiveDateTime)
    if o.effectiveInstant is not None:
        return _when(o.effectiveInstant)
    if o.effectivePeriod is not None:
        return _when(o.effectivePeriod.end or o.effectivePeriod.start)
    return _when(o.issued)


def _score(value_holder: Any, prefix: str = "value") -> Any:
    """An instrument score from valueInteger, valueQuantity or a LOINC answer code."""
    if getattr(value_holder, "valueInteger", None) is not None:
        return value_holder.valueInteger
    q = getattr(value_holder, "valueQuantity", None)
    if q is not None and q.value is not None:
        return _number(q.value)
    cc = getattr(value_holder, "valueCodeableConcept", None)
    for code in _codes(cc, C.LOINC):
        if code in C.ANSWER_SCORES:
            return C.ANSWER_SCORES[code]
    for coding in _codings(cc):  # an answer's ordinal value (R4 extension), any answer list
        for ext in coding.extension or []:
            if ext.url.endswith(("ordinalValue", "itemWeight")) and ext.valueDecimal is not None:
                return _number(ext.valueDecimal)
    coding = getattr(value_holder, "valueCoding", None)
    if coding is not None and coding.code in C.ANSWER_SCORES:
        return C.ANSWER_SCORES[coding.code]
    return None


def _observation(st: _State, o: Any, src: _Src) -> None:
    if o.status in _IGNORED:
        st.note(src, f"ignored: status {o.status}", f"{src.path}.status")
        return
    if o.status not in _OBS_OK:
        st.note(src, f"not used: status {o.status} is not a final result", f"{src.path}.status")
        return
    loinc = _codes(o.code, C.LOINC)
    when = _obs_when(o)
    used = False
    for code in loinc:
        if code in (C.CRP, C.HS_CRP):
            _crp(st, o, src, when)
            used = True
        elif code == C.FECAL_CALPROTECTIN:
            _quantity(st, o, src, when, "labs.fecal_calprotectin", C.CALPROTECTIN_UNITS, "ug/g")
            used = True
        elif code == C.BODY_WEIGHT:
            _quantity(st, o, src, when, "weight_kg", C.WEIGHT_UNITS, "kg")
            used = True
        elif code == C.TTG_IGA:
            _celiac(st, o, src, when)
            used = True
        elif code in (C.PHQ9_TOTAL, C.GAD7_TOTAL) or code in C.PHQ9_ITEMS or code in C.GAD7_ITEMS:
            _score_obs(st, code, o, src, when)
            used = True
        elif code in (C.PHQ9_PANEL, C.GAD7_PANEL):
            used = True
            for j, comp in enumerate(o.component or []):
                csrc = _Src(src.rtype, src.rid, f"{src.path}.component[{j}]")
                for ccode in _codes(comp.code, C.LOINC):
                    _score_obs(st, ccode, comp, csrc, when)
            if o.component is None and o.hasMember:
                st.note(src, "panel members are used from their own Observations, if present")
        if used:
            break
    if not used:
        st.note(
            src,
            f"no intake field for observation code(s) {', '.join(loinc) or _text(o.code)!s}",
            f"{src.path}.code",
        )


def _score_obs(st: _State, code: str, holder: Any, src: _Src, when: datetime | None) -> None:
    if code in (C.PHQ9_TOTAL, *C.PHQ9_ITEMS):
        instrument = "phq9"
    elif code in (C.GAD7_TOTAL, *C.GAD7_ITEMS):
        instrument = "gad7"
    else:
        st.note(src, f"no intake field for component code {code}", f"{src.path}.code")
        return
    value = _score(holder)
    text = getattr(holder, "valueString", None)
    if value is None and isinstance(text, str):
        value = T.integer_text(text)
        if value is not None:
            st.note(
                src, f"{code} read from valueString {text!r} as {value}", f"{src.path}.valueString"
            )
    if value is None:
        reason = "dataAbsentReason" if getattr(holder, "dataAbsentReason", None) else "no value"
        if isinstance(text, str):
            reason = f"valueString {text[:40]!r} is not a whole number"
        st.note(
            src,
            f"not used: {reason} for {code} (scores need valueInteger, valueQuantity, "
            "a whole number in valueString or a LOINC answer)",
            src.path,
        )
        return
    st.order += 1
    st.scores.setdefault(instrument, {}).setdefault(code, []).append(
        _Score(value, when, st.order, src)
    )


def _crp(st: _State, o: Any, src: _Src, when: datetime | None) -> None:
    q = o.valueQuantity
    path = f"{src.path}.valueQuantity"
    if q is None or q.value is None:
        st.note(src, "not used: CRP has no valueQuantity.value", path)
        return
    unit = q.code if q.code and (q.system in (None, C.UCUM)) else None
    unit = unit or q.unit
    factor = C.CRP_UNITS.get(unit or "")
    if factor is None:
        st.note(src, f"not used: CRP unit {unit!r} cannot be converted to mg/L", f"{path}.code")
        return
    value = float(q.value) * factor
    if q.comparator:
        st.note(
            src,
            f"CRP reported as {q.comparator} {q.value} {unit}; {q.value} used",
            f"{path}.comparator",
        )
    if factor != 1.0:
        st.note(src, f"CRP {q.value} {unit} converted to {value:g} mg/L", path)
    st.add("labs.crp", _dated({"value": round(value, 4), "unit": "mg/L"}, when), when, src)


def _dated(measurement: dict[str, Any], when: datetime | None) -> dict[str, Any]:
    """A lab value or score with the (UTC) day it was measured, when the resource says."""
    return {**measurement, "date": when.date().isoformat()} if when is not None else measurement


def _quantity(
    st: _State,
    o: Any,
    src: _Src,
    when: datetime | None,
    fld: str,
    units: Mapping[str, float],
    unit_to: str,
) -> None:
    """A quantity observation in one of ``units`` (UCUM code, else unit text), converted.

    ``weight_kg`` is a bare number; a lab value becomes ``{"value", "unit", "date"}``.
    """
    q = o.valueQuantity
    path = f"{src.path}.valueQuantity"
    what = fld.split(".")[-1]
    if q is None or q.value is None:
        st.note(src, f"not used: {what} has no valueQuantity.value", path)
        return
    unit = q.code if q.code and (q.system in (None, C.UCUM)) else None
    unit = unit or q.unit
    factor = units.get(unit or "")
    if factor is None:
        st.note(src, f"not used: {what} unit {unit!r} cannot be converted to {unit_to}", path)
        return
    value = round(float(q.value) * factor, 4)
    if q.comparator:
        st.note(
            src,
            f"{what} reported as {q.comparator} {q.value} {unit}; {q.value} used",
            f"{path}.comparator",
        )
    if factor != 1.0:
        st.note(src, f"{what} {q.value} {unit} converted to {value:g} {unit_to}", path)
    if "." in fld:
        st.add(fld, _dated({"value": value, "unit": unit_to}, when), when, src)
    else:
        st.add(fld, value, when, src)


def _celiac(st: _State, o: Any, src: _Src, when: datetime | None) -> None:
    """tTG-IgA: positive or negative from the lab's interpretation or a coded/text result.

    A bare number is not interpreted: the cut-off is assay-specific.
    """
    said: set[str] = set()
    for cc in o.interpretation or []:
        said.update(str(c.code) for c in _codings(cc) if c.code)
    if o.valueCodeableConcept is not None:
        said.update(str(c.code) for c in _codings(o.valueCodeableConcept) if c.code)
    if isinstance(o.valueString, str):
        said.add(o.valueString.strip().lower())
    positive = bool(said & (C.POSITIVE_RESULTS | T.POSITIVE_ANSWERS))
    negative = bool(said & (C.NEGATIVE_RESULTS | T.NEGATIVE_ANSWERS))
    if positive == negative:
        why = "contradictory" if positive else "no positive/negative interpretation"
        st.note(
            src,
            f"not used: celiac serology (tTG-IgA) with {why}; the numeric cut-off is "
            "assay-specific, so a bare value is not interpreted",
            f"{src.path}.interpretation",
        )
        return
    st.add("labs.celiac_serology", "positive" if positive else "negative", when, src)


# --- QuestionnaireResponse --------------------------------------------------------------------

_QR_OK = {"completed", "amended"}


def _flat_items(items: Iterable[Any], path: str) -> Iterable[tuple[Any, str]]:
    for i, it in enumerate(items or []):
        p = f"{path}[{i}]"
        yield it, p
        yield from _flat_items(it.item or [], f"{p}.item")
        for j, ans in enumerate(it.answer or []):
            yield from _flat_items(ans.item or [], f"{p}.answer[{j}].item")


def _answer_value(ans: Any) -> Any:
    for attr in ("valueBoolean", "valueInteger", "valueDecimal", "valueString", "valueDate"):
        v = getattr(ans, attr, None)
        if v is not None:
            return _number(v) if attr == "valueDecimal" else v
    coding = ans.valueCoding
    if coding is not None:
        if coding.code in C.ANSWER_SCORES:
            return C.ANSWER_SCORES[coding.code]
        if coding.code in T.YES_NO_ANSWERS:
            return T.YES_NO_ANSWERS[coding.code]
        for ext in coding.extension or []:
            if ext.url.endswith(("ordinalValue", "itemWeight")) and ext.valueDecimal is not None:
                return _number(ext.valueDecimal)
        return coding.code
    if ans.valueQuantity is not None:
        return _number(ans.valueQuantity.value)
    return None


def _questionnaire_response(st: _State, qr: Any, src: _Src) -> None:
    if qr.status in ("entered-in-error", "stopped"):
        st.note(src, f"ignored: status {qr.status}", f"{src.path}.status")
        return
    if qr.status not in _QR_OK:
        st.note(
            src,
            f"not used: status {qr.status} (only completed or amended forms)",
            f"{src.path}.status",
        )
        return
    when = _when(qr.authored)
    canonical = (qr.questionnaire or "").split("|")[0]
    if canonical == C.INTAKE_QUESTIONNAIRE or canonical.endswith("/gbrules-intake"):
        _intake_form(st, qr, src, when)
        return
    for it, p in _flat_items(qr.item or [], f"{src.path}.item"):
        code = it.linkId.lstrip("/").split("/")[-1]
        isrc = _Src(src.rtype, src.rid, p)
        if code in (C.PHQ9_TOTAL, C.GAD7_TOTAL, *C.PHQ9_ITEMS, *C.GAD7_ITEMS):
            if not it.answer:
                st.note(isrc, f"item {code} has no answer")
                continue
            _score_obs_value(st, code, _answer_value(it.answer[0]), isrc, when)
        elif it.answer:
            st.note(
                isrc, f"item {it.linkId!r} is not a PHQ-9 or GAD-7 item (LOINC linkId expected)"
            )


def _score_obs_value(st: _State, code: str, value: Any, src: _Src, when: datetime | None) -> None:
    instrument = "phq9" if code in (C.PHQ9_TOTAL, *C.PHQ9_ITEMS) else "gad7"
    st.order += 1
    st.scores.setdefault(instrument, {}).setdefault(code, []).append(
        _Score(value, when, st.order, src)
    )


def _intake_form(st: _State, qr: Any, src: _Src, when: datetime | None) -> None:
    """Our own intake questionnaire: each answered item's linkId is an Intake JSON path."""
    for it, p in _flat_items(qr.item or [], f"{src.path}.item"):
        if not it.answer:
            continue
        isrc = _Src(src.rtype, src.rid, f"{p}.answer[0]")
        values = [_answer_value(a) for a in it.answer]
        value: Any = values if it.linkId.endswith(".items") else values[0]
        if value is None:
            st.note(isrc, f"answer to {it.linkId!r} has no usable value")
            continue
        st.add(it.linkId, value, when, isrc)


# --- PHQ-9 / GAD-7: one administration per date -----------------------------------------------


def _resolve_instruments(st: _State) -> None:
    for instrument, items, total_code in (
        ("phq9", C.PHQ9_ITEMS, C.PHQ9_TOTAL),
        ("gad7", C.GAD7_ITEMS, C.GAD7_TOTAL),
    ):
        by_code = st.scores.get(instrument, {})
        by_day: dict[str | None, dict[str, _Score]] = {}
        for code, scores in by_code.items():
            for s in sorted(scores, key=lambda s: (s.when or _EPOCH, s.order)):
                day = s.when.date().isoformat() if s.when else None
                prev = by_day.setdefault(day, {}).get(code)
                if prev is not None:
                    st.note(prev.src, f"superseded by {s.src.ref} on the same day ({code})")
                by_day[day][code] = s
        for day, got in by_day.items():
            whens = [s.when for s in got.values() if s.when]
            when = max(whens) if whens else None
            first = next(iter(got.values()))
            if all(code in got for code in items):
                value: dict[str, Any] = {"items": [got[c].value for c in items]}
                if total_code in got:
                    value["total"] = got[total_code].value
                st.add(f"mood.{instrument}", _dated(value, when), when, first.src)
            elif total_code in got:
                value = {"total": got[total_code].value}
                if instrument == "phq9" and C.PHQ9_ITEM9 in got:
                    value["item9"] = got[C.PHQ9_ITEM9].value
                st.add(f"mood.{instrument}", _dated(value, when), when, got[total_code].src)
                for code, s in got.items():
                    if code == total_code or (instrument == "phq9" and code == C.PHQ9_ITEM9):
                        continue
                    st.note(s.src, f"item {code} not used: items of {day} incomplete; total used")
            elif instrument == "phq9" and C.PHQ9_ITEM9 in got:
                s = got[C.PHQ9_ITEM9]
                if isinstance(s.value, int) and s.value >= 1:
                    st.note(
                        s.src,
                        f"PHQ-9 item 9 = {s.value} without a total on {day}: "
                        "recorded as suicidal ideation",
                    )
                    st.add("mood.suicidal_ideation", True, when, s.src)
                else:
                    st.note(s.src, f"PHQ-9 item 9 without a total on {day}: not used")
            else:
                for s in got.values():
                    st.note(
                        s.src,
                        f"{instrument.upper()} items of {day} are incomplete "
                        "and there is no total: not used",
                    )


# --- Condition --------------------------------------------------------------------------------

_ACTIVE = {"active", "recurrence", "relapse"}


def _condition(st: _State, cond: Any, src: _Src) -> None:
    verification = _status(cond.verificationStatus)
    if verification == "entered-in-error":
        st.note(
            src, "ignored: verificationStatus entered-in-error", f"{src.path}.verificationStatus"
        )
        return
    concept = T.classify_condition((c.system, c.code) for c in _codings(cond.code))
    if concept is None:
        shown = ", ".join(f"{c.system}|{c.code}" for c in _codings(cond.code)) or _text(cond.code)
        message = f"condition code {shown} is not in gbrules' value sets; not mapped"
        suggested = T.suggested_value_sets(_text(cond.code))
        if suggested:
            message += (
                f"; its name suggests {' or '.join(suggested)}: check it (a site adds such codes "
                "to gbrules/io/fhir/data/conditions.json)"
            )
        st.note(src, message, f"{src.path}.code")
        return
    label, fld = concept.matched, concept.field
    if fld is None:
        st.note(src, f"{label}: {concept.label}; {concept.note}", f"{src.path}.code")
        return
    if not intake_has_field(fld):
        st.note(
            src,
            f"{label} ({concept.label}) recognised, but this intake version has no field {fld}",
            f"{src.path}.code",
        )
        return
    if verification == "refuted":
        st.note(src, f"not used: {label} refuted", f"{src.path}.verificationStatus")
        return
    clinical = _status(cond.clinicalStatus)
    if clinical is None:
        st.note(
            src, f"{label} has no clinicalStatus; taken as active", f"{src.path}.clinicalStatus"
        )
    elif clinical not in _ACTIVE:
        st.note(src, f"not used: {label} is {clinical}", f"{src.path}.clinicalStatus")
        return
    if verification in ("unconfirmed", "provisional", "differential"):
        if not concept.provisional_counts:
            st.note(src, f"not used: {label} is {verification}", f"{src.path}.verificationStatus")
            return
        st.note(
            src,
            f"{label} is {verification}; used anyway ({concept.label} is a caution or an alarm "
            "feature: the cautious side)",
        )
    when = _when(cond.recordedDate) or _when(cond.onsetDateTime)
    st.add(fld, True, when, src, asserted=True)


@cache
def intake_has_field(path: str) -> bool:
    """Whether the Intake model has this dotted field (``conditions.bipolar_disorder``). The
    terminology tables may name fields of a newer intake version; those are noted, not sent."""
    model: Any = Intake
    for part in path.split("."):
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return False
        model = next(
            (t for t in (info.annotation, *get_args(info.annotation)) if isinstance(t, type)),
            None,
        )
    return True


# --- MedicationStatement / MedicationRequest --------------------------------------------------

_CURRENT = {"active", "intended", "on-hold"}
_PAST = {"completed", "stopped"}


def _med_concept(st: _State, m: Any, src: _Src) -> Any:
    if m.medicationCodeableConcept is not None:
        return m.medicationCodeableConcept
    ref = (m.medicationReference.reference or "") if m.medicationReference else ""
    if ref.startswith("#"):
        for c in m.contained or []:
            if c.get_resource_type() == "Medication" and c.id == ref[1:]:
                return c.code
    else:
        key = "/".join(ref.split("/")[-2:])
        if key in st.medications:
            return st.medications[key].code
    st.note(
        src,
        f"medication reference {ref!r} not found in the bundle",
        f"{src.path}.medicationReference",
    )
    return None


@dataclass(frozen=True)
class _MedDate:
    """The date a medication record gives, with the element it came from and what it means."""

    when: datetime | None
    element: str
    meaning: str

    def __str__(self) -> str:
        shown = self.when.date().isoformat() if self.when else "?"
        return f"{self.meaning} {shown} ({self.element})"


def _med_when(m: Any) -> _MedDate:
    """The most telling date, from the element that holds it: when a MedicationStatement's use
    ended, started or was taken (``effective[x]``), else when it was recorded; when a
    MedicationRequest may last be dispensed (``dispenseRequest.validityPeriod.end``), else when it
    was written (``authoredOn``). Never called "ended" unless it is an end."""
    if m.get_resource_type() == "MedicationStatement":
        period = m.effectivePeriod
        if period is not None and period.end is not None:
            return _MedDate(_when(period.end), "effectivePeriod.end", "ended")
        if period is not None and period.start is not None:
            return _MedDate(_when(period.start), "effectivePeriod.start", "started")
        if m.effectiveDateTime is not None:
            return _MedDate(_when(m.effectiveDateTime), "effectiveDateTime", "taken")
        return _MedDate(_when(m.dateAsserted), "dateAsserted", "recorded")
    dr = m.dispenseRequest
    if dr is not None and dr.validityPeriod is not None and dr.validityPeriod.end is not None:
        return _MedDate(
            _when(dr.validityPeriod.end),
            "dispenseRequest.validityPeriod.end",
            "prescription valid until",
        )
    return _MedDate(_when(m.authoredOn), "authoredOn", "prescribed")


def _medication(st: _State, m: Any, src: _Src) -> None:
    status = m.status
    if status in ("entered-in-error", "cancelled", "not-taken", "draft"):
        st.note(src, f"ignored: status {status}", f"{src.path}.status")
        return
    cc = _med_concept(st, m, src)
    if cc is None:
        return
    concept = T.classify_medication(((c.system, c.code) for c in _codings(cc)), _text(cc))
    label = concept.label
    unlisted = ", ".join(concept.unlisted)
    if not concept.classes:
        why = (
            f"RxNorm {unlisted} is not in gbrules' product table (gbrules/io/fhir/data/"
            "medications.json) and no ATC or ingredient code was given"
            if unlisted
            else f"no intake field for medication {label}"
        )
        st.note(src, f"not classified: {why}", f"{src.path}.medication")
        return
    classes = T.medication_classes()
    if concept.by_name:
        shown = " and ".join(classes[c].label for c in concept.classes)
        listed = f"RxNorm {unlisted} is not in gbrules' product table; " if unlisted else ""
        st.note(src, f"recognised as {shown} by name ({label!r}); {listed}no ATC or RxNorm code")
    date_of = _med_when(m)
    for name in concept.classes:
        _medication_class(st, classes[name], label, status, date_of, src)


def _medication_class(
    st: _State, cls: T.MedicationClass, label: str, status: str, date_of: _MedDate, src: _Src
) -> None:
    fld = cls.field
    if not intake_has_field(fld):
        st.note(src, f"{label}: {cls.label}, but this intake version has no field {fld}")
        return
    current = status in _CURRENT
    when = date_of.when
    if cls.when == "current":
        if current:
            st.add(fld, True, when, src, asserted=True)
        else:
            st.note(
                src,
                f"{label} not current (status {status}): not used for {fld}",
                f"{src.path}.status",
            )
        return
    recent = st.as_of - timedelta(days=C.RECENT_ANTIBIOTIC_DAYS)
    if current or (status in _PAST and when is not None and when.date() >= recent):
        st.add(fld, True, when, src, asserted=True)
    elif when is None:
        st.note(src, f"{cls.label} {label} (status {status}) has no date: cannot tell if recent")
    else:
        st.note(
            src,
            f"{cls.label} {label} (status {status}) {date_of}, "
            f"more than {C.RECENT_ANTIBIOTIC_DAYS} days before {st.as_of}",
        )


# --- assemble ---------------------------------------------------------------------------------


def _assemble(st: _State) -> tuple[dict[str, Any], dict[str, _Src]]:
    data: dict[str, Any] = {}
    prov: dict[str, _Src] = {}
    if not st.patients:
        st.errors.append(
            FieldError(
                "Patient.birthDate", "no Patient resource: the intake needs the patient's age"
            )
        )
    elif len(st.patients) > 1:
        refs = ", ".join(s.ref for _, s in st.patients)
        st.errors.append(
            FieldError(st.patients[1][1].path, f"more than one Patient in the bundle ({refs})")
        )
    else:
        p, src = st.patients[0]
        if p.id:
            data["patient_id"] = p.id
            prov["patient_id"] = src
        if p.birthDate is None:
            st.errors.append(
                FieldError(
                    f"{src.path}.birthDate",
                    f"{src.ref}: no birthDate; the intake needs the patient's age",
                )
            )
        else:
            age = _age(st, p.birthDate, src)
            if age is not None:
                data["age"] = age
                prov["age"] = _Src(src.rtype, src.rid, f"{src.path}.birthDate")
        if p.gender:
            data["sex"] = p.gender
            prov["sex"] = _Src(src.rtype, src.rid, f"{src.path}.gender")
        else:
            _sex_from_extensions(st, p, src, data, prov)
    for fld in sorted(st.cands, key=lambda f: min(c.order for c in st.cands[f])):
        cands = sorted(st.cands[fld], key=_Candidate.key)
        win = cands[-1]
        for lost in cands[:-1]:
            if lost.value != win.value:
                st.note(
                    lost.src, f"{fld} = {lost.value!r} superseded by {win.src.ref} ({win.value!r})"
                )
        _set(data, fld, win.value)
        prov[fld] = win.src
    return data, prov


def _sex_from_extensions(
    st: _State, p: Any, src: _Src, data: dict[str, Any], prov: dict[str, _Src]
) -> None:
    """``sex`` from US Core's sex extensions when ``Patient.gender`` is absent (noted)."""
    exts = list(p.extension or [])
    for url, name in T.SEX_EXTENSIONS:
        for i, ext in enumerate(exts):
            if ext.url != url:
                continue
            code = ext.valueCode or (ext.valueCoding.code if ext.valueCoding else None)
            path = f"{src.path}.extension[{i}]"
            sex = T.SEX_CODES.get(code or "")
            if sex is None:
                st.note(src, f"no gender; {name} extension code {code!r} not recognised", path)
                continue
            data["sex"] = sex
            prov["sex"] = _Src(src.rtype, src.rid, path)
            st.note(src, f"no gender: sex {sex!r} read from the {name} extension ({code})", path)
            return


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    cur = data
    for part in parts[:-1]:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[parts[-1]] = value


def _remap(err: FieldError, prov: dict[str, _Src]) -> FieldError:
    """An Intake validation error, reported against the FHIR element it came from."""
    best = ""
    for key in prov:
        if (err.path == key or err.path.startswith((key + ".", key + "["))) and len(key) > len(
            best
        ):
            best = key
    if not best:
        return FieldError(err.path, f"{err.message} (intake field {err.path})")
    src = prov[best]
    return FieldError(src.path, f"{src.ref}: {err.message} (intake field {err.path})")

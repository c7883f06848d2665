"""Intake JSON v1.1 as pydantic models: the only door into gbrules.

Everything is validated here so that nothing downstream has to doubt a value: unknown keys are
errors (a typo must not silently drop clinical data), booleans must be JSON booleans, numbers
must be finite and inside the instrument's range, and an instrument given two ways must agree
with itself. Missing stays missing (``None``): "not recorded" is never turned into false or 0.

v1.1 only adds optional fields (every v1 intake stays valid): breastfeeding, body weight, how
and when the GI symptoms began, diarrhoea, fever, an abdominal mass, IBS-SSS and subtype,
faecal calprotectin, bipolar and eating disorders, the remaining probiotic cautions, the
interacting medicine classes, a gluten-free diet, the wish for a probiotic trial, and the day
each score or lab value was measured.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from gbrules.clinical.scoring import crp_to_mg_l
from gbrules.core.errors import FieldError, IntakeError

StrictBool = Annotated[bool, Field(strict=True)]


def _int(lo: int, hi: int) -> Any:
    return Annotated[int, Field(strict=True, ge=lo, le=hi)]


def _num(lo: float, hi: float) -> Any:
    return Annotated[float, Field(strict=True, ge=lo, le=hi, allow_inf_nan=False)]


Item = _int(0, 3)

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    """A measurement day: an ISO 8601 calendar date ``YYYY-MM-DD`` (or a ``datetime.date``).

    Stricter than pydantic's lax date parsing, which would also take a Unix timestamp or a
    date-time: a number or a time of day here is far more likely a mapping slip than intent.
    Whether the value is recent enough to use is the rules' business, not validation's.
    """
    if isinstance(value, dt.datetime):
        raise ValueError("give the day only (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.match(value):
        raise ValueError("a date must be an ISO 8601 day, YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date") from None
    if day.year < 1900:
        raise ValueError(f"{value!r} is before 1900; check the date")
    return day


#: The day a score or lab value was measured (optional everywhere it appears).
MeasuredOn = Annotated[dt.date, BeforeValidator(_iso_day)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """A cross-field inconsistency in a section's values (none by default).

        Sections with a model validator override this, and their validator only calls it.
        """
        return None


def _raise_problem(section: _Section) -> None:
    message = section.problem(section.__dict__)
    if message is not None:
        raise ValueError(message)


class GI(_Section):
    bloating: StrictBool | None = None
    irregular_bowel: StrictBool | None = None
    abdominal_pain_score: _int(0, 10) | None = None  # type: ignore[valid-type]
    rectal_bleeding: StrictBool | None = None
    unintentional_weight_loss: StrictBool | None = None
    nocturnal_symptoms: StrictBool | None = None
    persistent_vomiting: StrictBool | None = None
    dysphagia: StrictBool | None = None
    symptom_weeks: _int(0, 5200) | None = None  # type: ignore[valid-type]
    change_in_bowel_habit: StrictBool | None = None
    # v1.1
    onset_age: _int(0, 130) | None = None  # type: ignore[valid-type]
    symptom_onset: Literal["sudden", "gradual"] | None = None
    diarrhea: StrictBool | None = None
    fever: StrictBool | None = None
    abdominal_mass: StrictBool | None = None
    ibs_sss: _int(0, 500) | None = None  # type: ignore[valid-type]
    ibs_subtype: Literal["IBS-C", "IBS-D", "IBS-M", "IBS-U"] | None = None


class PHQ9(_Section):
    """PHQ-9 as nine item scores, or as a total with item 9 when it was recorded."""

    items: list[Item] | None = Field(default=None, min_length=9, max_length=9)  # type: ignore[valid-type]
    total: _int(0, 27) | None = None  # type: ignore[valid-type]
    item9: Item | None = None  # type: ignore[valid-type]
    date: MeasuredOn | None = None

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is inconsistent in these (type-checked) values, if anything.

        A plain function of the field values, so the fast pre-check (gbrules.clinical.precheck) asks
        exactly the question this model's validator asks.
        """
        items, total, item9 = v.get("items"), v.get("total"), v.get("item9")
        if items is None and total is None:
            return "give either 'items' (9 scores) or 'total'"
        if items is not None:
            if total is not None and total != sum(items):
                return f"'total' {total} disagrees with the sum of 'items' {sum(items)}"
            if item9 is not None and item9 != items[8]:
                return f"'item9' {item9} disagrees with items[8] {items[8]}"
        elif item9 is not None and total is not None and item9 > total:
            return f"'item9' {item9} is larger than 'total' {total}"
        return None

    @model_validator(mode="after")
    def _consistent(self) -> PHQ9:
        _raise_problem(self)
        return self

    @property
    def total_score(self) -> int:
        return sum(self.items) if self.items is not None else int(self.total or 0)

    @property
    def item9_score(self) -> int | None:
        return self.items[8] if self.items is not None else self.item9


class GAD7(_Section):
    items: list[Item] | None = Field(default=None, min_length=7, max_length=7)  # type: ignore[valid-type]
    total: _int(0, 21) | None = None  # type: ignore[valid-type]
    date: MeasuredOn | None = None

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is inconsistent in these (type-checked) values, if anything."""
        items, total = v.get("items"), v.get("total")
        if items is None and total is None:
            return "give either 'items' (7 scores) or 'total'"
        if items is not None and total is not None and total != sum(items):
            return f"'total' {total} disagrees with the sum of 'items' {sum(items)}"
        return None

    @model_validator(mode="after")
    def _consistent(self) -> GAD7:
        _raise_problem(self)
        return self

    @property
    def total_score(self) -> int:
        return sum(self.items) if self.items is not None else int(self.total or 0)


class HAMD17(_Section):
    total: _int(0, 52)  # type: ignore[valid-type]


class Mood(_Section):
    phq9: PHQ9 | None = None
    gad7: GAD7 | None = None
    hamd17: HAMD17 | None = None
    suicidal_ideation: StrictBool | None = None


class CRP(_Section):
    value: _num(0, 1000)  # type: ignore[valid-type]
    unit: Literal["mg/L", "mg/dL"]
    date: MeasuredOn | None = None

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is implausible in these (type-checked) values, if anything."""
        if crp_to_mg_l(v["value"], v["unit"]) > 1000:
            return "CRP above 1000 mg/L is not a plausible result; check the unit"
        return None

    @model_validator(mode="after")
    def _plausible(self) -> CRP:
        _raise_problem(self)
        return self

    @property
    def mg_l(self) -> float:
        return crp_to_mg_l(self.value, self.unit)


class FecalCalprotectin(_Section):
    """Faecal calprotectin in micrograms per gram of stool (ug/g, the same as mg/kg).

    Assays report up to a few thousand ug/g; above 10,000 is taken as a unit slip.
    """

    value: _num(0, 10000)  # type: ignore[valid-type]
    unit: Literal["ug/g"]
    date: MeasuredOn | None = None


class Labs(_Section):
    crp: CRP | None = None
    celiac_serology: Literal["negative", "positive", "not_done"] | None = None
    iron_deficiency_anemia: StrictBool | None = None
    fecal_calprotectin: FecalCalprotectin | None = None


class Conditions(_Section):
    ibs: StrictBool | None = None
    recurrent_depression: StrictBool | None = None
    anxiety_disorder: StrictBool | None = None
    inflammatory_bowel_disease: StrictBool | None = None
    celiac_disease: StrictBool | None = None
    immunocompromised: StrictBool | None = None
    central_venous_catheter: StrictBool | None = None
    critically_ill: StrictBool | None = None
    family_history_colorectal_cancer: StrictBool | None = None
    family_history_ibd_or_celiac: StrictBool | None = None
    # v1.1
    bipolar_disorder: StrictBool | None = None
    eating_disorder: StrictBool | None = None  # current or past
    prosthetic_heart_valve: StrictBool | None = None  # or prior endocarditis
    short_bowel_syndrome: StrictBool | None = None
    acute_pancreatitis: StrictBool | None = None  # current or predicted severe


class Medications(_Section):
    ssri: StrictBool | None = None
    recent_antibiotics: StrictBool | None = None
    probiotic: StrictBool | None = None
    # v1.1
    maoi: StrictBool | None = None  # incl. linezolid, selegiline
    st_johns_wort: StrictBool | None = None
    other_serotonergic: StrictBool | None = None  # tramadol, triptans, lithium, SNRIs, TCAs
    nsaid: StrictBool | None = None  # regular NSAID or aspirin
    anticoagulant: StrictBool | None = None  # or antiplatelet


class Lifestyle(_Section):
    sleep_hours: _num(0, 24) | None = None  # type: ignore[valid-type]
    sleep_quality_poor: StrictBool | None = None
    stress_score: _int(0, 10) | None = None  # type: ignore[valid-type]
    exercise_minutes_per_week: _int(0, 10080) | None = None  # type: ignore[valid-type]
    fiber_g_per_day: _num(0, 500) | None = None  # type: ignore[valid-type]
    ultra_processed_food_high: StrictBool | None = None
    caffeine_mg_per_day: _num(0, 10000) | None = None  # type: ignore[valid-type]
    # v1.1
    gluten_free_diet: StrictBool | None = None
    wants_probiotic_trial: StrictBool | None = None


class Intake(_Section):
    """One patient's intake (Intake JSON v1.1). Only ``age`` is required."""

    patient_id: Annotated[str, Field(strict=True, min_length=1, max_length=128)] | None = None
    age: _int(0, 130)  # type: ignore[valid-type]
    sex: Literal["female", "male", "other", "unknown"] | None = None
    pregnant: StrictBool | None = None
    breastfeeding: StrictBool | None = None
    weight_kg: _num(0.3, 400) | None = None  # type: ignore[valid-type]
    gi: GI | None = None
    mood: Mood | None = None
    labs: Labs | None = None
    conditions: Conditions | None = None
    medications: Medications | None = None
    lifestyle: Lifestyle | None = None

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What contradicts itself in these (type-checked) values, if anything.

        ``v["gi"]`` is a ``GI`` model after validation and a plain dict in the pre-check.
        """
        if v.get("pregnant") is True and v.get("sex") == "male":
            return "'pregnant' is true but 'sex' is 'male'; check the record"
        gi = v.get("gi")
        onset = gi.get("onset_age") if isinstance(gi, Mapping) else getattr(gi, "onset_age", None)
        if onset is not None and onset > v["age"]:
            return f"'gi.onset_age' {onset} is greater than 'age' {v['age']}; check the record"
        return None

    @model_validator(mode="after")
    def _pregnancy(self) -> Intake:
        _raise_problem(self)
        return self


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(loc: tuple[str | int, ...]) -> str:
    """A pydantic location as a JSON path: ('mood', 'phq9', 'items', 8) -> mood.phq9.items[8]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            out += f".{part}" if out else part
        else:  # "", "\r", "a.b", "x y": quoted, so the path stays visible and unambiguous
            out += f"{'' if out else '$'}[{json.dumps(str(part), ensure_ascii=False)}]"
    return out or "$"


def errors_from_validation(exc: ValidationError) -> list[FieldError]:
    """Every pydantic error as a FieldError, with union branches folded into one message."""
    seen: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; unknown keys are rejected)"
        seen.setdefault(json_path(loc), [])
        if msg not in seen[json_path(loc)]:
            seen[json_path(loc)].append(msg)
    return [FieldError(path, "; ".join(msgs)) for path, msgs in seen.items()]


def parse_intake(data: Intake | Mapping[str, Any]) -> Intake:
    """Validate raw Intake JSON (a dict) into an ``Intake``, or raise ``IntakeError``."""
    if isinstance(data, Intake):
        return data
    if not isinstance(data, Mapping):
        raise IntakeError(
            [FieldError("$", f"an intake must be a JSON object, not {type(data).__name__}")]
        )
    try:
        # A plain dict is validated as it is (pydantic never mutates its input).
        return Intake.model_validate(data if type(data) is dict else dict(data))
    except ValidationError as exc:
        raise IntakeError(errors_from_validation(exc)) from None

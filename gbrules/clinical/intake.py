"""Intake JSON v1.1 as pydantic models: the only definition of a valid intake.

Everything is validated here so that nothing downstream has to doubt a value: unknown keys are
errors (a typo must not silently drop clinical data), booleans must be JSON booleans, numbers
must be finite and inside the instrument's range, and an instrument given two ways must agree
with itself. Missing stays missing (``None``): "not recorded" is never turned into false or 0.

Building the models costs more than the rule engine does, so a dict is validated by
``INTAKE_DICT``, a pydantic ``TypeAdapter`` over TypedDicts *derived* from these models (same
fields, same constraints, same cross-field ``problem`` functions) that returns plain dicts.
It is one validator, not two: the derivation refuses any model feature it cannot carry over
(a field or before/wrap validator, an alias, lax extra keys), and when a dict fails, the models
themselves run so the error messages are theirs (``read_intake``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NotRequired, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from typing_extensions import TypedDict

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


def _about(meaning: str, example: object, unit: str | None = None) -> Any:
    """An optional field's documentation: what it means, one example, its unit.

    It goes into the JSON Schema (``gbrules schema intake``) and docs/INTAKE.md, which are
    generated from these models, so the reference can never drift from what is validated.
    """
    extra: dict[str, Any] | None = {"unit": unit} if unit else None
    return Field(default=None, description=meaning, examples=[example], json_schema_extra=extra)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """A cross-field inconsistency in a section's (type-checked) values, or None.

        The only place for cross-field rules: a plain function of the field values, so the
        model and its derived TypedDict ask exactly the same question.
        """
        return None

    @model_validator(mode="after")
    def _consistent(self) -> _Section:
        message = self.problem(self.__dict__)
        if message is not None:
            raise ValueError(message)
        return self


class GI(_Section):
    """Gut symptoms now, and the alarm features that call for a medical work-up first."""

    bloating: StrictBool | None = _about("Bloating or abdominal distension.", True)
    irregular_bowel: StrictBool | None = _about(
        "Irregular bowel movements (frequency or form changes from one day to the next).", True
    )
    abdominal_pain_score: _int(0, 10) | None = _about(  # type: ignore[valid-type]
        "Abdominal pain on a 0-10 numeric rating scale (0 none, 10 worst imaginable).",
        4,
        "points",
    )
    rectal_bleeding: StrictBool | None = _about(
        "Blood in or on the stool, or bleeding from the rectum (alarm feature).", False
    )
    unintentional_weight_loss: StrictBool | None = _about(
        "Weight lost without trying (alarm feature).", False
    )
    nocturnal_symptoms: StrictBool | None = _about(
        "Gut symptoms that wake the patient at night (alarm feature).", False
    )
    persistent_vomiting: StrictBool | None = _about(
        "Vomiting that keeps recurring (alarm feature).", False
    )
    dysphagia: StrictBool | None = _about("Difficulty swallowing (alarm feature).", False)
    symptom_weeks: _int(0, 5200) | None = _about(  # type: ignore[valid-type]
        "How long the gut symptoms have lasted, counted from when they first began.", 6, "weeks"
    )
    change_in_bowel_habit: StrictBool | None = _about(
        "A new change in bowel habit (looser or more frequent stools, or a new pattern); "
        "an alarm feature from age 50.",
        True,
    )
    # v1.1
    onset_age: _int(0, 130) | None = _about(  # type: ignore[valid-type]
        "Age in years when these gut symptoms first began, if known (onset at 50 or later is "
        "an alarm feature); at most the patient's age.",
        46,
        "years",
    )
    symptom_onset: Literal["sudden", "gradual"] | None = _about(
        "How the current symptoms began: sudden severe pain needs prompt assessment.", "gradual"
    )
    diarrhea: StrictBool | None = _about("New or worse loose or frequent stools.", False)
    fever: StrictBool | None = _about("Fever with the gut symptoms (acute sign).", False)
    abdominal_mass: StrictBool | None = _about(
        "An abdominal or rectal mass on examination (alarm feature).", False
    )
    ibs_sss: _int(0, 500) | None = _about(  # type: ignore[valid-type]
        "IBS Severity Scoring System total (< 75 remission, 75-174 mild, 175-299 moderate, "
        ">= 300 severe).",
        220,
        "points",
    )
    ibs_subtype: Literal["IBS-C", "IBS-D", "IBS-M", "IBS-U"] | None = _about(
        "Rome IV IBS subtype (constipation, diarrhoea, mixed, unclassified).", "IBS-M"
    )
    first_line_care_weeks: _int(0, 5200) | None = _about(  # type: ignore[valid-type]
        "Weeks of documented first-line care (diet and lifestyle advice, first-line medicines) "
        "with the symptoms still present; 12 or more makes a gastroenterology referral "
        "(NICE CG61, BSG 2021).",
        14,
        "weeks",
    )
    diagnostic_doubt: StrictBool | None = _about(
        "The clinician doubts the IBS diagnosis (atypical features): a gastroenterology review.",
        False,
    )


class PHQ9(_Section):
    """PHQ-9 depression questionnaire: nine item scores, or the total (with item 9 if known).

    Give ``items`` or ``total``; both together must agree, and so must ``item9`` and the ninth
    item. Item 9 asks about thoughts of self-harm: any score of 1 or more calls for a same-day
    risk assessment, and a total of 10 or more without item 9 asks for it to be recorded.
    """

    items: list[Item] | None = Field(  # type: ignore[valid-type]
        default=None,
        min_length=9,
        max_length=9,
        description="The nine item scores in questionnaire order, each 0-3 "
        "(0 not at all ... 3 nearly every day).",
        examples=[[1, 2, 2, 1, 2, 1, 2, 1, 0]],
        json_schema_extra={"unit": "points"},
    )
    total: _int(0, 27) | None = _about(  # type: ignore[valid-type]
        "Total score when the items are not available "
        "(0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe).",
        12,
        "points",
    )
    item9: Item | None = _about(  # type: ignore[valid-type]
        "Item 9 (thoughts of being better off dead or of self-harm) when only the total is "
        "given; leave it out if it was not asked.",
        0,
        "points",
    )
    date: MeasuredOn | None = _about("The day the questionnaire was completed.", "2026-11-02")

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is inconsistent in these (type-checked) values, if anything."""
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

    @property
    def total_score(self) -> int:
        return sum(self.items) if self.items is not None else int(self.total or 0)

    @property
    def item9_score(self) -> int | None:
        return self.items[8] if self.items is not None else self.item9


class GAD7(_Section):
    """GAD-7 anxiety questionnaire: seven item scores or the total; both together must agree."""

    items: list[Item] | None = Field(  # type: ignore[valid-type]
        default=None,
        min_length=7,
        max_length=7,
        description="The seven item scores in questionnaire order, each 0-3.",
        examples=[[2, 2, 1, 2, 1, 2, 1]],
        json_schema_extra={"unit": "points"},
    )
    total: _int(0, 21) | None = _about(  # type: ignore[valid-type]
        "Total score when the items are not available (5 mild, 10 moderate, 15 severe).",
        11,
        "points",
    )
    date: MeasuredOn | None = _about("The day the questionnaire was completed.", "2026-11-02")

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is inconsistent in these (type-checked) values, if anything."""
        items, total = v.get("items"), v.get("total")
        if items is None and total is None:
            return "give either 'items' (7 scores) or 'total'"
        if items is not None and total is not None and total != sum(items):
            return f"'total' {total} disagrees with the sum of 'items' {sum(items)}"
        return None

    @property
    def total_score(self) -> int:
        return sum(self.items) if self.items is not None else int(self.total or 0)


class HAMD17(_Section):
    """Hamilton Depression Rating Scale, 17 items, rated by a clinician."""

    total: _int(0, 52) = Field(  # type: ignore[valid-type]
        description="Total score (0-7 none, 8-16 mild, 17-23 moderate, 24 or more severe).",
        examples=[14],
        json_schema_extra={"unit": "points"},
    )


class Mood(_Section):
    """Mood and anxiety questionnaires, and thoughts of suicide however they came to light."""

    phq9: PHQ9 | None = _about("PHQ-9 depression questionnaire.", {"total": 12, "item9": 0})
    gad7: GAD7 | None = _about("GAD-7 anxiety questionnaire.", {"total": 11})
    hamd17: HAMD17 | None = _about("HAM-D 17 clinician rating.", {"total": 14})
    suicidal_ideation: StrictBool | None = _about(
        "Thoughts of suicide or self-harm reported by the patient or noted by a clinician, "
        "whatever the questionnaires say.",
        False,
    )
    severe_mood_change: StrictBool | None = _about(
        "A severe or rapid change in mood or behaviour noted by the patient, family or a "
        "clinician: marked agitation, psychotic symptoms, manic symptoms, or severe "
        "self-neglect (not eating or drinking, not caring for oneself); an urgent "
        "mental-health trigger (NICE NG222, CG185).",
        False,
    )


class CRP(_Section):
    """C-reactive protein as reported by the lab, with its unit (1 mg/dL = 10 mg/L)."""

    value: _num(0, 1000) = Field(  # type: ignore[valid-type]
        description="The result as reported, in ``unit``; at most 1000 mg/L once converted.",
        examples=[4.2],
    )
    unit: Literal["mg/L", "mg/dL"] = Field(
        description="The unit of ``value`` (UCUM); mg/dL is converted to mg/L.",
        examples=["mg/L"],
    )
    date: MeasuredOn | None = _about("The day the sample was taken.", "2026-10-28")

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What is implausible in these (type-checked) values, if anything."""
        if crp_to_mg_l(v["value"], v["unit"]) > 1000:
            return "CRP above 1000 mg/L is not a plausible result; check the unit"
        return None

    @property
    def mg_l(self) -> float:
        return crp_to_mg_l(self.value, self.unit)


class FecalCalprotectin(_Section):
    """Faecal calprotectin in micrograms per gram of stool (ug/g, the same as mg/kg).

    Assays report up to a few thousand ug/g; above 10,000 is taken as a unit slip.
    """

    value: _num(0, 10000) = Field(  # type: ignore[valid-type]
        description="The result in ug/g (< 50 normal, 50-200 borderline, > 200 raised).",
        examples=[85],
    )
    unit: Literal["ug/g"] = Field(description="Micrograms per gram of stool.", examples=["ug/g"])
    date: MeasuredOn | None = _about("The day the sample was taken.", "2026-10-28")


class Labs(_Section):
    """Laboratory results."""

    crp: CRP | None = _about(
        "C-reactive protein (standard or high-sensitivity).", {"value": 4.2, "unit": "mg/L"}
    )
    celiac_serology: Literal["negative", "positive", "not_done"] | None = _about(
        "Coeliac serology (tTG-IgA with total IgA), taken while eating gluten.", "negative"
    )
    iron_deficiency_anemia: StrictBool | None = _about(
        "Iron-deficiency anaemia on blood tests (alarm feature).", False
    )
    fecal_calprotectin: FecalCalprotectin | None = _about(
        "Faecal calprotectin, to tell inflammatory bowel disease from IBS.",
        {"value": 85, "unit": "ug/g"},
    )


class Conditions(_Section):
    """Diagnoses on record, probiotic cautions and relevant family history."""

    ibs: StrictBool | None = _about("Irritable bowel syndrome diagnosed.", True)
    recurrent_depression: StrictBool | None = _about(
        "Recurrent depressive disorder (more than one episode).", False
    )
    anxiety_disorder: StrictBool | None = _about("An anxiety disorder diagnosed.", False)
    inflammatory_bowel_disease: StrictBool | None = _about(
        "Crohn's disease or ulcerative colitis diagnosed.", False
    )
    celiac_disease: StrictBool | None = _about("Coeliac disease diagnosed.", False)
    immunocompromised: StrictBool | None = _about(
        "Weakened immune system from illness or treatment (probiotic caution).", False
    )
    central_venous_catheter: StrictBool | None = _about(
        "A central venous catheter in place (probiotic caution).", False
    )
    critically_ill: StrictBool | None = _about("Critically ill (probiotic caution).", False)
    family_history_colorectal_cancer: StrictBool | None = _about(
        "A parent, sibling or child with colorectal cancer (alarm feature with gut symptoms).",
        False,
    )
    family_history_ibd_or_celiac: StrictBool | None = _about(
        "A close relative with inflammatory bowel disease or coeliac disease.", False
    )
    # v1.1
    bipolar_disorder: StrictBool | None = _about(
        "Bipolar disorder on record (antidepressant monotherapy is not advised).", False
    )
    eating_disorder: StrictBool | None = _about(
        "A current or past eating disorder (no restrictive diets).", False
    )
    prosthetic_heart_valve: StrictBool | None = _about(
        "A prosthetic heart valve or prior endocarditis (probiotic caution).", False
    )
    short_bowel_syndrome: StrictBool | None = _about(
        "Short bowel syndrome (probiotic caution).", False
    )
    acute_pancreatitis: StrictBool | None = _about(
        "Acute pancreatitis, current or predicted severe (probiotic caution).", False
    )


class Medications(_Section):
    """Medicines and supplements being taken."""

    ssri: StrictBool | None = _about(
        "Taking a selective serotonin reuptake inhibitor (e.g. sertraline).", False
    )
    recent_antibiotics: StrictBool | None = _about(
        "Antibiotics taken now or within about the last three months.", False
    )
    probiotic: StrictBool | None = _about("Taking a probiotic supplement.", False)
    # v1.1
    maoi: StrictBool | None = _about(
        "Taking a monoamine oxidase inhibitor (incl. linezolid, selegiline).", False
    )
    st_johns_wort: StrictBool | None = _about("Taking St John's wort.", False)
    other_serotonergic: StrictBool | None = _about(
        "Taking another serotonergic medicine (tramadol, a triptan, lithium, an SNRI, a TCA...).",
        False,
    )
    nsaid: StrictBool | None = _about("Taking an NSAID or aspirin regularly.", False)
    anticoagulant: StrictBool | None = _about(
        "Taking an anticoagulant or an antiplatelet medicine.", False
    )
    supplements: StrictBool | None = _about(
        "Taking, or planning to take, a dietary or herbal supplement (vitamins, minerals, "
        "herbal remedies, melatonin...).",
        True,
    )
    melatonin: StrictBool | None = _about(
        "Taking, or planning to take, melatonin for sleep.", False
    )


class Lifestyle(_Section):
    """Sleep, stress, activity and diet, as the patient reports them."""

    sleep_hours: _num(0, 24) | None = _about(  # type: ignore[valid-type]
        "Usual hours of sleep a night.", 6.5, "hours/night"
    )
    sleep_quality_poor: StrictBool | None = _about("Sleep quality reported as poor.", True)
    stress_score: _int(0, 10) | None = _about(  # type: ignore[valid-type]
        "Perceived stress on a 0-10 rating scale (0 none, 10 extreme).", 7, "points"
    )
    exercise_minutes_per_week: _int(0, 10080) | None = _about(  # type: ignore[valid-type]
        "Minutes a week of moderate or harder physical activity.", 60, "minutes/week"
    )
    fiber_g_per_day: _num(0, 500) | None = _about(  # type: ignore[valid-type]
        "Estimated dietary fibre a day.", 15, "g/day"
    )
    ultra_processed_food_high: StrictBool | None = _about(
        "A diet high in ultra-processed foods.", True
    )
    caffeine_mg_per_day: _num(0, 10000) | None = _about(  # type: ignore[valid-type]
        "Caffeine a day from all sources (a cup of brewed coffee is about 100 mg).",
        300,
        "mg/day",
    )
    # v1.1
    gluten_free_diet: StrictBool | None = _about(
        "Already avoiding gluten (coeliac serology is then unreliable).", False
    )
    wants_probiotic_trial: StrictBool | None = _about(
        "The patient is interested in trying a probiotic (a patient-chosen, time-limited trial).",
        False,
    )


class Intake(_Section):
    """One patient's intake (Intake JSON v1.1). Only ``age`` is required.

    Every other field and section is optional: leave out what was not recorded (or give
    null), and gbrules treats it as "not recorded", never as "no". Unknown keys are errors,
    true/false must be JSON booleans and numbers must be in range.
    """

    patient_id: Annotated[str, Field(strict=True, min_length=1, max_length=128)] | None = _about(
        "Your identifier for the patient, copied into the result; never interpreted.", "p-0042"
    )
    age: _int(0, 130) = Field(  # type: ignore[valid-type]
        description="Age in whole years.", examples=[48], json_schema_extra={"unit": "years"}
    )
    sex: Literal["female", "male", "other", "unknown"] | None = _about("Recorded sex.", "female")
    pregnant: StrictBool | None = _about("Currently pregnant (probiotic caution).", False)
    breastfeeding: StrictBool | None = _about("Currently breastfeeding.", False)
    weight_kg: _num(0.3, 400) | None = _about(  # type: ignore[valid-type]
        "Body weight, for weight-based limits (children's caffeine).", 70, "kg"
    )
    gi: GI | None = _about("Gut symptoms and alarm features.", {"bloating": True})
    mood: Mood | None = _about(
        "Mood questionnaires and suicidal thoughts.", {"gad7": {"total": 11}}
    )
    labs: Labs | None = _about("Laboratory results.", {"celiac_serology": "negative"})
    conditions: Conditions | None = _about("Diagnoses and cautions on record.", {"ibs": True})
    medications: Medications | None = _about("Medicines being taken.", {"ssri": False})
    lifestyle: Lifestyle | None = _about("Sleep, stress, activity and diet.", {"sleep_hours": 6.5})

    @staticmethod
    def problem(v: Mapping[str, Any]) -> str | None:
        """What contradicts itself in these (type-checked) values, if anything.

        ``v["gi"]`` is a ``GI`` model after validation and a plain dict on the dict path.
        """
        if v.get("pregnant") is True and v.get("sex") == "male":
            return "'pregnant' is true but 'sex' is 'male'; check the record"
        gi = v.get("gi")
        onset = gi.get("onset_age") if isinstance(gi, Mapping) else getattr(gi, "onset_age", None)
        if onset is not None and onset > v["age"]:
            return f"'gi.onset_age' {onset} is greater than 'age' {v['age']}; check the record"
        return None


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
            from gbrules.clinical.intake_hints import unknown_field_message

            msg = unknown_field_message(json_path(loc), Intake)
        seen.setdefault(json_path(loc), [])
        if msg not in seen[json_path(loc)]:
            seen[json_path(loc)].append(msg)
    return [FieldError(path, "; ".join(msgs)) for path, msgs in seen.items()]


def parse_intake(data: object) -> Intake:
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


# ---------------------------------------------------------------- the derived dict validator


def _problem_check(model: type[_Section]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    problem = model.problem

    def check(values: dict[str, Any]) -> dict[str, Any]:
        message = problem(values)
        if message is not None:
            raise ValueError(message)
        return values

    return check


def _as_typed_dict(model: type[_Section]) -> Any:
    """``model`` as a TypedDict with the same fields, constraints and ``problem`` check.

    Raises TypeError for anything the TypedDict would not carry over, so a validator added to
    a model can never be skipped silently on the dict path.
    """
    d = model.__pydantic_decorators__
    carried = set(d.model_validators) == {"_consistent"} and not (
        d.field_validators or d.validators or d.root_validators
    )
    if not carried or model.model_config.get("extra") != "forbid":
        raise TypeError(
            f"{model.__name__}: write cross-field rules as problem(), not validators, and keep "
            "extra='forbid' (the dict validator is derived from the model)"
        )
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise TypeError(f"{model.__name__}.{name}: aliases are not carried to dicts")
        annotation = _dict_annotation(info.annotation)
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    typed = _TYPED_DICT(f"{model.__name__}Dict", fields)
    typed.__pydantic_config__ = ConfigDict(extra="forbid")
    if model.problem is _Section.problem:  # no cross-field rule: nothing to call
        return typed
    return Annotated[typed, AfterValidator(_problem_check(model))]


_TYPED_DICT: Any = TypedDict  # called with fields known only at run time


def _dict_annotation(annotation: Any) -> Any:
    """An annotation with every section model in it replaced by its TypedDict."""
    if isinstance(annotation, type) and issubclass(annotation, _Section):
        return _as_typed_dict(annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if not args:
        return annotation
    if origin is Annotated:
        return Annotated[(_dict_annotation(args[0]), *annotation.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[tuple(_dict_annotation(a) for a in args)]  # noqa: UP007
    if origin is list:
        return list[_dict_annotation(args[0])]  # type: ignore[misc]
    if origin is Literal:
        return annotation
    raise TypeError(f"{annotation!r}: not carried to dicts")


#: Validates Intake JSON as plain dicts (no models built); see the module docstring.
INTAKE_DICT: TypeAdapter[dict[str, Any]] = TypeAdapter(_as_typed_dict(Intake))
# Its compiled validator, called directly: the adapter's own method adds a layer of Python
# per call (a tenth of the validation's time) for options gbrules never passes.
_VALIDATE_DICT: Callable[[object], dict[str, Any]] = INTAKE_DICT.validator.validate_python


def validate_intake(data: object) -> Intake | dict[str, Any]:
    """A valid intake: ``data`` validated as a plain dict (the fast path) or as the model.

    A dict that fails is validated again by the models, so an error names every bad field in
    the models' own words (IntakeError); anything else goes to the models directly.
    """
    if type(data) is dict:
        try:
            return _VALIDATE_DICT(data)
        except ValidationError:
            pass
    return parse_intake(data)

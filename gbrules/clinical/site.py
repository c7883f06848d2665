"""A site's configuration, kept apart from the rulebook, and what it does to an evaluation.

A hospital switches gbrules on with settings the shipped rulebook cannot know: its country
(which crisis lines a draft shows), the ages it serves, its care setting, its hooks, the codes
it does not want drafted, its own order codes, and how long a dated result stays current. They
live in one ``site.yaml`` (:class:`SiteConfig`), checked by ``gbrules site check``, and are
applied *around* the engine, never inside it:

* before evaluation, :func:`freshen` takes out every dated value older than its window, so a
  stale value counts as not recorded for every rule (it can never reassure or withhold), and
  the evaluation lists it as stale with its date (``Evaluation.stale``);
* after evaluation, :func:`apply_site` moves the suggestions the site does not want into
  ``suppressed``, each with a :class:`~gbrules.core.result.Suppression` naming why. It never
  touches a ``safety.*`` suggestion: the configuration refuses such a setting, and the function
  checks again.

This module is clinical (it names clinical codes and intake sections) and imports nothing from
``gbrules.io``: the CLI and the service read the file and hand the model here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gbrules.core.result import Evaluation, Suppression, trusted

if TYPE_CHECKING:
    from gbrules.core.engine import Engine

#: Countries whose crisis lines the drafts can show (the crisis-line content selects by this
#: ISO 3166-1 alpha-2 code; a country not listed here is refused rather than shown wrong lines).
SUPPORTED_COUNTRIES: tuple[str, ...] = ("US", "GB", "IE", "CA", "AU", "NZ")

CareSetting = Literal["primary_care", "gastroenterology", "mental_health"]

#: The referral each care setting would be making to itself: not drafted there (the clinician
#: *is* that service). Urgent GI referral is never in this table: a GI clinic seeing alarm
#: features still needs the urgent pathway flagged, and it is a refused switch-off below.
OWN_SERVICE_REFERRALS: dict[str, frozenset[str]] = {
    "primary_care": frozenset(),
    "gastroenterology": frozenset({"referral.gastroenterology"}),
    "mental_health": frozenset({"referral.mental_health"}),
}

#: Codes and rules no site may switch off: the crisis pathway and the urgent GI referral.
LOCKED_PREFIXES: tuple[str, ...] = ("safety.",)
LOCKED_CODES: frozenset[str] = frozenset({"referral.urgent_gi"})

#: The CDS hooks the service answers (a site may enable fewer).
HOOKS: tuple[str, ...] = ("patient-view", "order-select")

#: The dated kinds of the intake: the path of the section that carries a ``date``.
DatedKind = Literal["phq9", "gad7", "crp", "fecal_calprotectin"]
DATED_SECTIONS: dict[str, tuple[str, str]] = {
    "phq9": ("mood", "phq9"),
    "gad7": ("mood", "gad7"),
    "crp": ("labs", "crp"),
    "fecal_calprotectin": ("labs", "fecal_calprotectin"),
}

#: How many days a dated value stays current, by default (a site may shorten, never lengthen).
#: PHQ-9 and GAD-7 ask about "the last 2 weeks" (Kroenke, Spitzer & Williams 2001, J Gen Intern
#: Med 16:606; Spitzer et al. 2006, Arch Intern Med 166:1092): an older score describes a past
#: fortnight, not the patient now. CRP is an acute-phase protein (half-life about 19 h, Pepys &
#: Hirschfield 2003, J Clin Invest 111:1805) and calprotectin follows mucosal inflammation that
#: changes over weeks; NICE DG11 (2013) uses calprotectin for the referral decision at the time
#: of presentation. Three months is a conservative bound for "recent" in that sense.
DEFAULT_FRESHNESS_DAYS: dict[str, int] = {
    "phq9": 14,
    "gad7": 14,
    "crp": 90,
    "fecal_calprotectin": 90,
}


def is_locked(code_or_rule: str) -> bool:
    """True for a code or rule id no site setting may switch off."""
    return code_or_rule.startswith(LOCKED_PREFIXES) or code_or_rule in LOCKED_CODES


class OrderCode(BaseModel):
    """A local orderable: what the site's order catalogue calls the drafted referral or lab."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(min_length=1, description="The code system URI of the local catalogue.")
    code: str = Field(min_length=1)
    display: str = Field(min_length=1)


class Population(BaseModel):
    """The ages the site serves; within the rulebook's own population (checked with it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_age: int = Field(ge=0, le=130)
    max_age: int | None = Field(default=None, ge=0, le=130)

    @model_validator(mode="after")
    def _ordered(self) -> Population:
        if self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("population.max_age must not be below population.min_age")
        return self


class SiteConfig(BaseModel):
    """One site's settings (``site.yaml``). Unknown keys are errors: a misspelt setting must
    not be silently ignored at a hospital."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(min_length=1, description="The site's name, for the audit trail.")
    country: str = Field(description="ISO 3166-1 alpha-2; selects the crisis-line set.")
    care_setting: CareSetting
    population: Population | None = None
    enabled_hooks: tuple[str, ...] = HOOKS
    codes_off: tuple[str, ...] = ()
    rules_off: tuple[str, ...] = Field(
        default=(), description="The kill switch: rule ids whose suggestions are not drafted."
    )
    order_codes: dict[str, OrderCode] = Field(
        default_factory=dict, description="Suggestion code -> the site's orderable."
    )
    freshness_days: dict[DatedKind, int] = Field(default_factory=dict)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value not in SUPPORTED_COUNTRIES:
            raise ValueError(
                f"country {value!r} has no crisis-line set; use one of "
                + ", ".join(SUPPORTED_COUNTRIES)
            )
        return value

    @field_validator("enabled_hooks")
    @classmethod
    def _hooks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [h for h in value if h not in HOOKS]
        if unknown:
            raise ValueError(f"unknown hook(s) {unknown}; the service answers {list(HOOKS)}")
        return value

    @field_validator("codes_off", "rules_off")
    @classmethod
    def _never_locked(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        locked = [v for v in value if is_locked(v)]
        if locked:
            raise ValueError(
                f"{locked} cannot be switched off: safety.* rules and codes and "
                "referral.urgent_gi are locked"
            )
        return value

    @field_validator("freshness_days")
    @classmethod
    def _shorter_only(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, days in value.items():
            default = DEFAULT_FRESHNESS_DAYS[kind]
            if not 1 <= days <= default:
                raise ValueError(
                    f"freshness_days.{kind} must be 1 to {default} days (a site may shorten "
                    "the rulebook's window, not lengthen it)"
                )
        return value

    def windows(self) -> dict[str, int]:
        """The freshness window of each dated kind at this site, in days."""
        out = dict(DEFAULT_FRESHNESS_DAYS)
        out.update(self.freshness_days.items())
        return out

    def problems_with(self, rulebook_min_age: int | None, codes: Iterable[str]) -> list[str]:
        """What is wrong with the settings against one rulebook (its population and codes)."""
        out: list[str] = []
        known = set(codes)
        pop = self.population
        if pop is not None and rulebook_min_age is not None and pop.min_age < rulebook_min_age:
            out.append(
                f"population.min_age {pop.min_age} is below the rulebook's "
                f"{rulebook_min_age}: the rules are not written for younger patients"
            )
        for name, values in (("codes_off", self.codes_off), ("order_codes", self.order_codes)):
            out += [f"{name}: {c!r} is not a rulebook code" for c in values if c not in known]
        return out


class SiteError(ValueError):
    """A site file that cannot be used; ``problems`` names every bad setting."""

    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate ``site.yaml``; raises :class:`SiteError` naming every bad field."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SiteError(str(p), [f"cannot read: {exc}"]) from None
    try:
        return SiteConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(x) for x in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise SiteError(str(p), problems) from None


# -- data freshness ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Freshened:
    """An intake with its stale values taken out, and what was taken (kind -> measured day)."""

    data: dict[str, Any]
    stale: dict[str, str]


def freshen(
    data: Mapping[str, Any], as_of: dt.date, windows: Mapping[str, int] | None = None
) -> Freshened:
    """Remove each dated section measured more than its window before ``as_of``.

    Removing it is what makes a stale value count as *not recorded* for every rule: no rule can
    be reassured by a two-year-old CRP or a last-year PHQ-9. A value dated after ``as_of`` is
    left to the intake's own validation (it is not stale). Undated values are kept as they are:
    the intake format makes the date optional, and the draft cannot invent one.
    """
    limits = {**DEFAULT_FRESHNESS_DAYS, **(windows or {})}
    out: dict[str, Any] = dict(data)
    stale: dict[str, str] = {}
    for kind, (section, key) in DATED_SECTIONS.items():
        parent = out.get(section)
        if not isinstance(parent, Mapping):
            continue
        value = parent.get(key)
        if not isinstance(value, Mapping) or value.get("date") is None:
            continue
        raw = value["date"]
        try:
            day = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
        except ValueError:
            continue  # the intake's validation names the bad date
        if (as_of - day).days > limits[kind]:
            kept = {k: v for k, v in parent.items() if k != key}
            if kind == "phq9" and _item9(value) and kept.get("suicidal_ideation") is None:
                # An alarm is never dropped for its age: thoughts of self-harm reported on an
                # old questionnaire still call for a risk assessment now.
                kept["suicidal_ideation"] = True
            out[section] = kept
            stale[kind] = day.isoformat()
    return Freshened(out, stale)


def _item9(phq9: Mapping[str, Any]) -> bool:
    """Whether a PHQ-9 (as given) scores item 9 at 1 or more."""
    items = phq9.get("items")
    if isinstance(items, list) and len(items) == 9:
        return bool(isinstance(items[8], int) and items[8] >= 1)
    item9 = phq9.get("item9")
    return isinstance(item9, int) and item9 >= 1


def with_stale(ev: Evaluation, stale: Mapping[str, str]) -> Evaluation:
    """The evaluation with its stale values listed (a copy; the engine's result is shared)."""
    if not stale:
        return ev
    return ev.model_copy(update={"stale": dict(sorted(stale.items()))})


# -- after evaluation -------------------------------------------------------------------------


def apply_site(
    ev: Evaluation, site: SiteConfig, *, age: int | None = None, rules_off: Iterable[str] = ()
) -> Evaluation:
    """The draft as this site shows it: its switched-off codes and rules, referrals to the
    clinician's own service, and (for an ``age`` outside the site's population) everything but
    safety moved into ``suppressed`` with the reason. ``rules_off`` adds the service's live
    kill switch to the site file's. Safety suggestions always stay."""
    off_rules = set(site.rules_off) | set(rules_off)
    own = OWN_SERVICE_REFERRALS[site.care_setting]
    pop = site.population
    outside = (
        pop is not None
        and age is not None
        and (age < pop.min_age or (pop.max_age is not None and age > pop.max_age))
    )
    kept = []
    moved: list[Suppression] = []
    for s in ev.suggestions:
        reason: tuple[str, str] | None = None
        if is_locked(s.code) or is_locked(s.rule_id):
            reason = None
        elif s.rule_id in off_rules:
            reason = ("site.rule_off", f"rule {s.rule_id} is switched off at {site.site}")
        elif s.code in site.codes_off:
            reason = ("site.code_off", f"code {s.code} is switched off at {site.site}")
        elif s.code in own:
            reason = (
                "site.care_setting",
                f"the clinician's own service ({site.care_setting}): not referred to itself",
            )
        elif outside:
            reason = ("site.population", f"age {age} is outside {site.site}'s population")
        if reason is None:
            kept.append(s)
        else:
            moved.append(
                trusted(
                    Suppression,
                    {
                        "code": s.code,
                        "rule_id": s.rule_id,
                        "by_rule": reason[0],
                        "reason": reason[1],
                        "action": "suppressed",
                    },
                )
            )
    if not moved:
        return ev
    return ev.model_copy(
        update={
            "suggestions": kept,
            "suppressed": [*ev.suppressed, *moved],
            "codes": frozenset(s.code for s in kept),
        }
    )


def evaluate_at_site(
    engine: Engine,
    data: object,
    *,
    as_of: dt.date | None = None,
    site: SiteConfig | None = None,
    rules_off: Iterable[str] = (),
) -> Evaluation:
    """One evaluation as a site runs it: stale values out (when ``as_of`` is given), the
    engine, then the site's suppressions. Without ``as_of`` and ``site`` it is exactly
    ``engine.evaluate(data)``."""
    if as_of is None and site is None and not rules_off:
        return engine.evaluate(data)
    raw: object = data
    if isinstance(data, BaseModel):
        raw = data.model_dump(mode="json", exclude_none=True)
    stale: dict[str, str] = {}
    if as_of is not None and isinstance(raw, Mapping):
        done = freshen(raw, as_of, site.windows() if site is not None else None)
        raw, stale = done.data, done.stale
    ev = with_stale(engine.evaluate(raw), stale)
    if site is None:
        site = _NO_SITE if rules_off else None
    if site is not None:
        age = raw.get("age") if isinstance(raw, Mapping) else None
        ev = apply_site(ev, site, age=age if isinstance(age, int) else None, rules_off=rules_off)
    return ev


#: No site file, only the live kill switch: nothing else is switched off.
_NO_SITE = SiteConfig(site="this service", country="US", care_setting="primary_care")

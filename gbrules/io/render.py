"""Care-plan drafts from an Evaluation, rendered with jinja2 templates shipped in the package.

Renderers see only the Evaluation (never the engine). ``plan_context`` turns it into one view
model that every template shares; the templates only lay it out:

- ``_base.{md,html,txt}.j2`` hold the layout of each format (banner, urgent items, referrals
  and tests, lifestyle, probiotics, deferred items, facts, version, sign-off);
- ``{clinician,patient}.{md,html,txt}.j2`` extend them and fill in the audience's blocks
  (a clinician sees rule ids, evidence and the fact table; a patient sees plain words).

The generation time is injectable (``generated_at``; else ``SOURCE_DATE_EPOCH``; else now) so
a draft can be reproduced byte for byte. A site's template directory (``templates=DIR``) is
searched first, so a site can replace any one template, or only a base layout.
HTML is autoescaped; Markdown escapes the intake's free text.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2

from gbrules.clinical.crisis import crisis_set
from gbrules.clinical.facts import VOCABULARY, FactValue
from gbrules.core.compiled import show
from gbrules.core.result import Evaluation, Suggestion, Suppression
from gbrules.core.review import status_of_label

ENVIRONMENTS = 16  # template directories whose jinja2 Environment is kept (least recent out)
Format = Literal["markdown", "html", "text"]
Audience = Literal["clinician", "patient"]
_EXT = {"markdown": "md", "html": "html", "text": "txt"}

#: The draft's sections after the urgent ones, in layout order: (key, clinician title,
#: patient title, categories). Routine safety items (e.g. "record the alarm features") lead
#: the referrals-and-tests section: they are checks for the clinician before anything else.
SECTIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "referrals",
        "Referrals, tests and reviews",
        "Appointments, tests and reviews",
        ("safety", "referral", "lab", "medication"),
    ),
    ("lifestyle", "Lifestyle", "Everyday habits", ("diet", "sleep", "stress", "exercise")),
    (
        "probiotics",
        "Probiotic trial and expectations",
        "Probiotics and what to expect",
        ("probiotic", "education"),
    ),
)

#: When to reassess a time-limited trial (NICE CG61: a probiotic for at least 4 weeks at the
#: recommended dose, then review; ACG 2021: low-FODMAP restriction is short, then reintroduce).
REASSESS: dict[str, tuple[int, str, str]] = {
    "probiotic.trial": (
        4,
        "After 4 weeks at the recommended dose (NICE CG61); discontinue the trial if there "
        "is no clear benefit.",
        "After about 4 weeks, you and your clinician will check together whether it is "
        "helping, and decide whether it is worth continuing.",
    ),
    "diet.low_fodmap_trial": (
        6,
        "Restriction phase of 2-6 weeks, then structured reintroduction and personalisation "
        "(ACG 2021); reassess by 6 weeks.",
        "The strict part lasts only a few weeks (up to about 6). Then foods are brought back "
        "one at a time with your dietitian, to find what suits you.",
    ),
}

#: EHR codes for the facts that have one (the LOINC codes docs/EHR.md maps from).
FACT_CODES: dict[str, str] = {
    "phq9_total": "LOINC 44261-6",
    "phq9_item9": "LOINC 44260-8",
    "gad7_total": "LOINC 70274-6",
    "crp_mg_l": "LOINC 1988-5",
    "ibs": "ICD-10-CM K58.x",
    "recurrent_depression": "ICD-10-CM F33.x",
    "anxiety_disorder": "ICD-10-CM F41.1",
    "celiac_disease": "ICD-10-CM K90.0",
    "immunocompromised": "ICD-10-CM D80-D84",
    "pregnant": "ICD-10-CM Z33.1",
    "fecal_calprotectin_ug_g": "LOINC 38445-3",
    "weight_kg": "LOINC 29463-7",
    "bipolar_disorder": "ICD-10-CM F31.x",
    "eating_disorder": "ICD-10-CM F50.x",
}


def crisis_banner(ev: Evaluation, audience: Audience) -> list[str]:
    """The crisis banner, with the crisis lines of the country the rulebook is set for."""
    crisis = crisis_set(ev.settings)
    if audience == "clinician":
        return [
            "Same-day suicide risk assessment (e.g. C-SSRS) before the patient leaves; document "
            "it (The Joint Commission NPSG 15.01.01).",
            f"Give the {crisis.clinician_text()[0].lower()}{crisis.clinician_text()[1:]}",
            "Lifestyle, diet and probiotic items are deferred until the safety assessment is "
            "done (listed under Deferred).",
        ]
    first, emergency = crisis.patient_lines()
    return [
        first,
        emergency,
        "Your clinician would like to talk with you today about how you are feeling and how "
        "to keep you safe. This comes before everything else in this plan.",
    ]


def when_to_get_help(ev: Evaluation) -> list[str]:
    """The patient's "when to get help" list, with the configured crisis lines."""
    return [
        "Thoughts of suicide or self-harm, or a sudden severe change in mood: get help "
        f"immediately ({crisis_set(ev.settings).short_text()}).",
        "Severe abdominal pain, or blood in your stool: contact your clinician promptly.",
        "A serious or long-term illness: talk to your clinician before starting probiotics or "
        "supplements.",
    ]


#: Plain-language versions for a patient: code -> (title, what it means for you).
#: Suggestions to discuss, never orders; no medication is ever to be stopped on this advice.
PATIENT_TEXT: dict[str, tuple[str, str]] = {
    "safety.crisis": (
        "Talk with your clinician today about your safety",
        "Some of your answers suggest you may have had thoughts of harming yourself. Your "
        "clinician wants to check in with you today and make a safety plan together.",
    ),
    "safety.screen_suicide_risk": (
        "A few more questions about how you are feeling",
        "Your mood answers suggest you may be having a hard time. Your clinician would like "
        "to ask you some more questions about your safety.",
    ),
    "safety.record_alarm_features": (
        "A few more questions about your gut symptoms",
        "Before trying diet changes or probiotics, your clinician needs to ask about a few "
        "warning signs (such as bleeding, weight loss or waking at night with symptoms).",
    ),
    "referral.urgent_gi": (
        "See a doctor soon about your gut symptoms",
        "Some of your symptoms need to be checked by a doctor soon, to rule out other causes "
        "before anything else is tried.",
    ),
    "referral.mental_health": (
        "Consider talking therapy or a mental-health review",
        "Talking with a therapist or a mental-health specialist could help with your mood "
        "and worry. Ask your clinician about the options near you.",
    ),
    "safety.out_of_scope": (
        "A check with children's services",
        "This planning tool is made for people aged 12 and over. Your clinician will look at "
        "your child's symptoms with children's (paediatric) services, and leaves out the "
        "diet, supplement and lifestyle suggestions meant for older people.",
    ),
    "referral.paediatric": (
        "See children's and young people's services",
        "A team that works with children and young people (paediatrics or CAMHS) is the right "
        "place for this. They usually start with talking therapy and practical support.",
    ),
    "referral.eating_disorder": (
        "Talk with an eating-disorder service first",
        "Because of your history with eating, any change to what you eat is best planned with "
        "an eating-disorder team or a dietitian who knows this area, rather than cutting out "
        "foods on your own.",
    ),
    "medication.interaction_check": (
        "A check of how your medicines work together",
        "Some of your medicines can affect each other. Your clinician will check the "
        "combination with the person who prescribes them. Keep taking your medicines as "
        "prescribed unless they advise a change.",
    ),
    "lab.fecal_calprotectin": (
        "A stool test for gut inflammation",
        "A stool sample test (calprotectin) helps tell inflammation of the bowel apart from "
        "irritable bowel syndrome.",
    ),
    "lab.ca125": (
        "A blood test (CA125)",
        "For bloating or new gut symptoms from age 50, guidelines advise a blood test called "
        "CA125 to rule out a problem with the ovaries. Most people with a raised result do "
        "not have cancer; it helps decide what to check next.",
    ),
    "lab.c_difficile": (
        "A stool test after antibiotics",
        "Diarrhoea after antibiotics can come from an infection called C. difficile. A stool "
        "test checks for it before other changes are tried.",
    ),
    "referral.gastroenterology": (
        "Consider seeing a gut specialist",
        "Your gut symptoms have lasted a while. A gut specialist (gastroenterologist) could "
        "look at them more closely.",
    ),
    "referral.dietitian": (
        "Consider seeing a dietitian",
        "A dietitian can help you plan meals that may ease your symptoms and support your "
        "mood, step by step.",
    ),
    "medication.review": (
        "Talk about medicines with your prescriber",
        "Your clinician would like you to go over your medicines, or the options for "
        "treatment, with the person who prescribes them. Keep taking your current medicines "
        "as prescribed unless your prescriber advises a change.",
    ),
    "medication.supplement_review": (
        "Check supplements with your clinician first",
        "Some supplements, melatonin included, can interact with your medicines or your "
        "health condition, or are not known to be safe in pregnancy. Please go over them "
        "with your clinician or pharmacist before starting or continuing them.",
    ),
    "lab.celiac_serology": (
        "A blood test for coeliac (celiac) disease",
        "Coeliac disease is a reaction to gluten that can cause gut symptoms. The blood test "
        "only works while you still eat gluten, so please keep eating it until the test.",
    ),
    "lab.inflammatory_workup": (
        "A check for inflammation",
        "Your clinician may suggest blood tests to look for inflammation that could explain "
        "some of your symptoms.",
    ),
    "lab.repeat_crp": (
        "Repeat an inflammation blood test",
        "One of your inflammation results was raised. Your clinician will look for the cause "
        "and may repeat the test in about 2 weeks, once any passing illness has settled.",
    ),
    "diet.fiber": (
        "Add more fiber, slowly; fewer ultra-processed foods",
        "Add fiber a little at a time so it does not make bloating worse (oats are a gentle "
        "choice), and cut back on packaged, ready-made foods. Your clinician or dietitian "
        "can suggest which foods suit your gut.",
    ),
    "diet.reduce_caffeine": (
        "Cut down on caffeine",
        "Reduce coffee, energy drinks and other caffeine gradually, and avoid it in the "
        "afternoon. This can help sleep and feelings of worry.",
    ),
    "diet.mediterranean": (
        "Try a Mediterranean-style way of eating",
        "Meals built around vegetables, fruit, whole grains, nuts, olive oil and fish may "
        "support your mood, alongside your other care. If you have gut symptoms, your "
        "dietitian adapts it to you.",
    ),
    "diet.low_fodmap_trial": (
        "A short, guided low-FODMAP diet trial",
        "This means cutting down for a short time on some carbohydrates that can cause gut "
        "symptoms, with a dietitian, then adding foods back to find what suits you.",
    ),
    "sleep.hygiene": (
        "Regular sleep habits",
        "Try to go to bed and get up at the same times each day, and put screens away before "
        "bed. Adults need 7 to 9 hours of sleep a night; teenagers need 8 to 10.",
    ),
    "stress.breathing": (
        "A daily 10-minute breathing practice",
        "Set aside 10 minutes a day for slow breathing, plus one longer relaxation session "
        "each week. Your clinician can suggest an app or a guide.",
    ),
    "exercise.aerobic": (
        "Build up your activity, step by step",
        "Build up slowly to about 30 minutes of moderate activity (such as brisk walking) on "
        "most days; for teenagers, about an hour a day.",
    ),
    "probiotic.trial": (
        "A short probiotic trial, with your clinician",
        "Your clinician may suggest trying a specific probiotic for a set time. Results vary "
        "from person to person, so it is a trial, not a cure.",
    ),
    "probiotic.consult_first": (
        "Check with your clinician before any probiotic",
        "Because of your health situation, please talk to your clinician before taking any "
        "probiotic or supplement.",
    ),
    "education.adjunct_not_cure": (
        "Probiotics and diet support your care; they do not replace it",
        "Diet changes and probiotics can help alongside your other care, such as therapy or "
        "medical treatment, but not instead of it.",
    ),
}

#: How a patient's own values are named to them (facts not listed are not shown).
PATIENT_FACTS: dict[str, str] = {
    "age": "Age",
    "bloating": "Bloating",
    "irregular_bowel": "Irregular bowel movements",
    "abdominal_pain_score": "Tummy pain (0 to 10)",
    "gi_symptom_weeks": "Weeks with gut symptoms",
    "phq9_total": "Mood questionnaire (PHQ-9) score, out of 27",
    "phq9_item9": "Mood questionnaire (PHQ-9) question 9, about thoughts of self-harm (0 to 3)",
    "gad7_total": "Worry questionnaire (GAD-7) score, out of 21",
    "hamd17_total": "Depression rating (HAM-D) score",
    "crp_mg_l": "Inflammation blood test (CRP), mg/L",
    "ibs": "Irritable bowel syndrome (IBS)",
    "sleep_hours": "Sleep, hours a night",
    "sleep_quality_poor": "Poor sleep quality",
    "stress_score": "Stress (0 to 10)",
    "exercise_minutes_per_week": "Activity, minutes a week",
    "fiber_g_per_day": "Fiber, grams a day",
    "ultra_processed_food_high": "Many ultra-processed foods",
    "caffeine_mg_per_day": "Caffeine, milligrams a day",
    "suicidal_ideation": "Thoughts of suicide reported",
    "recurrent_depression": "Depression that has come back",
    "pregnant": "Pregnant",
    "breastfeeding": "Breastfeeding",
    "diarrhea": "Diarrhoea",
    "fever": "Fever",
    "ibs_sss_total": "IBS severity score (IBS-SSS), out of 500",
    "fecal_calprotectin_ug_g": "Stool inflammation test (calprotectin), micrograms per gram",
}

#: Abbreviations a patient may meet, explained once at the end when they were used.
GLOSSARY: dict[str, str] = {
    "PHQ-9": "Patient Health Questionnaire-9: nine questions about mood over the last two "
    "weeks. Higher scores mean more symptoms.",
    "GAD-7": "Generalised Anxiety Disorder-7: seven questions about worry and anxiety.",
    "HAM-D": "Hamilton Depression Rating Scale: a clinician's rating of depression.",
    "CRP": "C-reactive protein: a blood test that rises with inflammation or infection.",
    "IBS": "Irritable bowel syndrome: a common long-term condition causing tummy pain, "
    "bloating and changes in bowel habits.",
    "FODMAP": "Fermentable oligo-, di- and monosaccharides and polyols: types of "
    "carbohydrate in some foods that can trigger gut symptoms.",
    "mg/L": "milligrams per litre, the unit of the CRP blood test.",
}

_PRIORITY_WORD = {"critical": "Critical", "urgent": "Urgent", "routine": "Routine"}


@dataclass(frozen=True)
class Item:
    """One suggestion as a draft shows it, for either audience."""

    code: str
    category: str
    priority: str
    title: str
    text: str  # clinician: the rationale; patient: plain explanation
    rule_id: str
    evidence: list[str]
    values: list[tuple[str, str]]  # (label, value) the suggestion was based on
    reassess: str = ""
    reassess_weeks: int | None = None


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    items: list[Item] = field(default_factory=list)


#: Titles of the first two groups, by audience.
_GROUP_TITLES: dict[str, tuple[str, str]] = {
    "critical": ("Immediate action required", "Your safety comes first"),
    "urgent": ("Urgent", "Please arrange soon"),
}


@dataclass(frozen=True)
class Deferred:
    code: str
    title: str
    action: str
    reason: str
    rule_id: str
    by_rule: str


def _fact_label(name: str) -> str:
    return VOCABULARY[name].label if name in VOCABULARY else name.replace("_", " ")


def _fact_unit(name: str) -> str:
    """The fact's unit, unless its label already says it ("sleep (h/night)")."""
    unit = VOCABULARY[name].unit if name in VOCABULARY else ""
    return "" if unit in _fact_label(name) else unit


def _item(s: Suggestion, audience: Audience) -> Item:
    weeks, clin_reassess, pat_reassess = REASSESS.get(s.code, (None, "", ""))
    if audience == "clinician":
        values = [(_fact_label(k), show(v)) for k, v in s.triggered_by.items()]
        return Item(
            code=s.code,
            category=s.category,
            priority=s.priority,
            title=s.title,
            text=s.rationale,
            rule_id=s.rule_id,
            evidence=list(s.evidence),
            values=values,
            reassess=clin_reassess,
            reassess_weeks=weeks,
        )
    title, text = PATIENT_TEXT.get(s.code, (s.title, "Ask your clinician about this."))
    pvalues = [(PATIENT_FACTS[k], show(v)) for k, v in s.triggered_by.items() if k in PATIENT_FACTS]
    return Item(
        code=s.code,
        category=s.category,
        priority=s.priority,
        title=title,
        text=text,
        rule_id="",
        evidence=[],
        values=pvalues,
        reassess=pat_reassess,
        reassess_weeks=weeks,
    )


def _deferred(d: Suppression, audience: Audience) -> Deferred:
    if audience == "clinician":
        return Deferred(d.code, d.code, d.action, d.reason, d.rule_id, d.by_rule)
    title = PATIENT_TEXT.get(d.code, (d.code, ""))[0]
    reason = (
        "This can wait until your clinician has talked with you about your safety."
        if d.by_rule.startswith("safety.")
        else "This waits until your clinician has checked a few things first."
    )
    return Deferred(d.code, title, d.action, reason, "", "")


def _glossary(chunks: list[str]) -> list[tuple[str, str]]:
    text = " ".join(chunks)
    return [(abbr, meaning) for abbr, meaning in GLOSSARY.items() if abbr in text]


def plan_context(
    ev: Evaluation,
    generated_at: datetime,
    audience: Audience = "clinician",
    country: str | None = None,
) -> dict[str, Any]:
    """What every template gets: the evaluation as the sections of a draft, in layout order.
    ``country``: the site's (site.yaml), for the crisis-line set of that country."""
    items = [_item(s, audience) for s in ev.suggestions]
    critical = [i for i in items if i.priority == "critical"]
    urgent = [i for i in items if i.priority == "urgent"]
    routine = [i for i in items if i.priority == "routine"]
    who = 0 if audience == "clinician" else 1
    sections: list[Section] = []
    for key, chosen in (("critical", critical), ("urgent", urgent)):
        if chosen:
            sections.append(Section(key, _GROUP_TITLES[key][who], chosen))
    for key, clin_title, pat_title, cats in SECTIONS:
        chosen = [i for i in routine if i.category in cats]
        if chosen:
            sections.append(Section(key, (clin_title, pat_title)[who], chosen))
    deferred = [_deferred(d, audience) for d in ev.suppressed]
    facts: list[tuple[str, str, str, str, str]] = [
        (name, _fact_label(name), show(value), _fact_unit(name), FACT_CODES.get(name, ""))
        for name, value in ev.facts.items()
    ]
    banner = crisis_banner(ev, audience)
    words = [i.title + " " + i.text + " " + " ".join(v[0] for v in i.values) for i in items]
    words += [d.title for d in deferred]
    return {
        "ev": ev,
        "audience": audience,
        "patient_id": ev.patient_id,
        "immediate": ev.requires_immediate_action,
        "banner": banner if ev.requires_immediate_action else [],
        "critical": critical,
        "urgent": urgent,
        "sections": sections,
        "deferred": deferred,
        "facts": facts,
        "not_recorded": [_fact_label(n) for n in ev.not_recorded]
        + [
            f"{_STALE_LABELS.get(kind, kind)}: stale (measured {day})"
            for kind, day in ev.stale.items()
        ],
        "fired_rules": list(ev.fired_rules),
        "rulebook_version": ev.rulebook_version,
        "rulebook_status": status_of_label(ev.rulebook_version),
        "generated_at": generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "when_to_get_help": when_to_get_help(ev),
        "glossary": _glossary(words) if audience == "patient" else [],
        "priority_word": _PRIORITY_WORD,
        "country": country,
    }


#: The dated kinds a draft can list as stale (``Evaluation.stale``), as a reader names them.
_STALE_LABELS: dict[str, str] = {
    "phq9": "PHQ-9",
    "gad7": "GAD-7",
    "crp": "CRP",
    "fecal_calprotectin": "Faecal calprotectin",
}


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def md_escape(value: object) -> str:
    """Free text (e.g. a patient id) made inert in Markdown, including inline HTML."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def wrap(value: object, width: int = 78, indent: str = "", first: str | None = None) -> str:
    """Plain-text paragraph wrapping for the text format (hanging indent)."""
    return _wrapped(str(value), width, indent, indent if first is None else first)


@lru_cache(maxsize=4096)
def _wrapped(text: str, width: int, indent: str, first: str) -> str:
    """``textwrap.fill`` is most of a text draft's cost, and drafts repeat their titles and
    rationales (Suggestions are shared between evaluations), so each wrapping is kept."""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


@lru_cache(maxsize=ENVIRONMENTS)
def _environment(templates: str | None) -> jinja2.Environment:
    """The jinja2 Environment for one template directory (None: the bundled templates only).

    Kept and reused: building one and compiling its templates costs hundreds of times a
    render. jinja2 still checks each template file's time on use (``auto_reload``), so an
    edited site template is picked up without a restart.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates)))
    loaders.append(jinja2.PackageLoader("gbrules.clinical", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # HTML templates (*.html.j2, and what they include) are autoescaped; Markdown and
        # text are not HTML, and escape their free text with ``md_escape`` where it matters.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "html"), default_for_string=True, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["show"] = show
    env.filters["label"] = _fact_label
    env.filters["md"] = md_escape
    env.filters["wrap"] = wrap
    return env


def _when(generated_at: datetime | None) -> datetime:
    if generated_at is not None:
        return generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)


def render_care_plan(
    ev: Evaluation,
    format: Format = "markdown",
    *,
    audience: Audience = "clinician",
    templates: str | Path | None = None,
    generated_at: datetime | None = None,
    country: str | None = None,
) -> str:
    """Render a care-plan draft for a clinician to review, edit and sign.

    ``format``: markdown, html (one self-contained file) or text. ``audience``: clinician
    (rule ids, evidence, fact table) or patient (plain language). ``templates``: a directory
    searched before the bundled templates. ``generated_at``: the time printed on the draft
    (a naive datetime is taken as UTC); default ``SOURCE_DATE_EPOCH`` if set, else now.
    ``country``: the site's country (``SiteConfig.country``), handed to the templates as
    ``country`` so that the crisis lines shown can be that country's.
    """
    if format not in _EXT:
        raise ValueError(f"unknown format {format!r}; use markdown, html or text")
    if audience not in ("clinician", "patient"):
        raise ValueError(f"unknown audience {audience!r}; use clinician or patient")
    env = _environment(None if templates is None else os.fspath(templates))
    template = env.get_template(f"{audience}.{_EXT[format]}.j2")
    return template.render(**plan_context(ev, _when(generated_at), audience, country))


def fact_rows(facts: dict[str, FactValue]) -> list[tuple[str, str, str]]:
    """(name, label, value) for each fact, for explanations outside the templates."""
    return [(name, _fact_label(name), show(value)) for name, value in facts.items()]

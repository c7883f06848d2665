"""The suggestion code vocabulary and what each code means (docs/RULES.md lists it).

A code's category is its prefix before the first dot; clinical codes use only ``CATEGORIES``.
``PROTECTED`` codes are the safety net: no override, in the default rulebook or a site pack,
may suppress or defer them, and a site pack may not emit them at a lower priority than the
default. ``CODE_VOCABULARY`` is all of it as the rule core's ``CodeVocabulary``.
"""

from __future__ import annotations

from typing import Literal, get_args

from gbrules.core.vocabulary import CodeSpec, CodeVocabulary

Category = Literal[
    "safety",
    "referral",
    "lab",
    "medication",
    "diet",
    "sleep",
    "stress",
    "exercise",
    "probiotic",
    "education",
]

CATEGORIES: tuple[str, ...] = get_args(Category)

_CODES = [
    CodeSpec(
        "safety.crisis", "critical", "Same-day suicide risk assessment; give crisis resources"
    ),
    CodeSpec(
        "safety.screen_suicide_risk",
        "urgent",
        "Ask about thoughts of self-harm (PHQ-9 item 9 not recorded)",
    ),
    CodeSpec(
        "safety.out_of_scope",
        "urgent",
        "Outside the population this rulebook is written for; diet, probiotic and medication "
        "items held",
    ),
    CodeSpec(
        "safety.record_alarm_features",
        "routine",
        "Record the GI alarm features before any diet or probiotic trial",
    ),
    CodeSpec(
        "referral.urgent_gi", "urgent", "Evaluate GI alarm features for organic disease first"
    ),
    CodeSpec(
        "referral.mental_health",
        "routine",
        "Consider referral for psychotherapy or psychiatric review",
    ),
    CodeSpec("referral.gastroenterology", "routine", "Consider gastroenterology referral"),
    CodeSpec(
        "referral.paediatric",
        "routine",
        "Child and adolescent services (paediatrics / CAMHS) instead of adult pathways",
    ),
    CodeSpec(
        "referral.eating_disorder",
        "routine",
        "Eating-disorder services before any restrictive diet",
    ),
    CodeSpec(
        "referral.dietitian", "routine", "Consider dietitian referral for structured diet work"
    ),
    CodeSpec("medication.review", "routine", "Discuss medication with the prescriber"),
    CodeSpec(
        "medication.supplement_review",
        "routine",
        "Provider review before supplements, melatonin included",
    ),
    CodeSpec(
        "medication.interaction_check",
        "urgent",
        "Check a medicine combination with the prescriber (interaction risk)",
    ),
    CodeSpec(
        "lab.celiac_serology", "routine", "Test for celiac disease before any diet restriction"
    ),
    CodeSpec("lab.inflammatory_workup", "routine", "Review for inflammatory conditions"),
    CodeSpec("lab.repeat_crp", "routine", "Repeat CRP once the acute process has settled"),
    CodeSpec(
        "lab.fecal_calprotectin",
        "routine",
        "Faecal calprotectin to help tell inflammatory bowel disease from IBS",
    ),
    CodeSpec("lab.ca125", "urgent", "CA125 blood test (ovarian cancer) for bloating at 50+"),
    CodeSpec("lab.c_difficile", "urgent", "Test for C. difficile: diarrhoea after antibiotics"),
    CodeSpec(
        "diet.fiber", "routine", "Increase fiber diversity gradually; fewer ultra-processed foods"
    ),
    CodeSpec("diet.reduce_caffeine", "routine", "Reduce caffeine"),
    CodeSpec("diet.mediterranean", "routine", "Consider a Mediterranean-style eating pattern"),
    CodeSpec("diet.low_fodmap_trial", "routine", "Time-limited low-FODMAP trial with a dietitian"),
    CodeSpec("sleep.hygiene", "routine", "Sleep hygiene: regular schedule, screens off, 7-9 hours"),
    CodeSpec(
        "stress.breathing", "routine", "Daily 10-minute breathing practice, weekly longer session"
    ),
    CodeSpec("exercise.aerobic", "routine", "Build toward 150 minutes a week of moderate activity"),
    CodeSpec(
        "probiotic.trial",
        "routine",
        "Time-limited, strain-specific probiotic trial with the provider",
    ),
    CodeSpec("probiotic.consult_first", "routine", "Provider review before any probiotic"),
    CodeSpec(
        "education.adjunct_not_cure",
        "routine",
        "Probiotics and diet support care; they do not replace it",
    ),
]

# Patterns (a code, or category.*) that nothing may suppress, defer or demote.
PROTECTED: tuple[str, ...] = ("safety.*", "referral.urgent_gi")

CODE_VOCABULARY = CodeVocabulary.of(_CODES, categories=CATEGORIES, protected=PROTECTED)
CODES = CODE_VOCABULARY.codes


def codes_markdown() -> str:
    """The code vocabulary as a Markdown table, for docs/RULES.md ("Suggestion codes")."""
    rows = [
        "| code | category | default priority | protected | meaning |",
        "|---|---|---|---|---|",
    ]
    for c in _CODES:
        protected = "yes" if CODE_VOCABULARY.is_protected(c.code) else ""
        rows.append(f"| `{c.code}` | {c.category} | {c.priority} | {protected} | {c.title} |")
    return "\n".join(rows) + "\n"

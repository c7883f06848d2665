"""The suggestion code vocabulary and what each code means (docs/RULES.md lists it).

A code's category is its prefix before the first dot. ``PROTECTED`` codes are the safety net:
no override, in the default rulebook or a site pack, may suppress or defer them, and a site
pack may not emit them at a lower priority than the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Priority = Literal["critical", "urgent", "routine"]
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

PRIORITY_RANK: dict[str, int] = {"critical": 0, "urgent": 1, "routine": 2}
CATEGORIES: tuple[str, ...] = get_args(Category)


@dataclass(frozen=True)
class CodeSpec:
    code: str
    priority: Priority
    title: str

    @property
    def category(self) -> str:
        return self.code.split(".", 1)[0]


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
        "referral.dietitian", "routine", "Consider dietitian referral for structured diet work"
    ),
    CodeSpec("medication.review", "routine", "Discuss medication with the prescriber"),
    CodeSpec(
        "lab.celiac_serology", "routine", "Test for celiac disease before any diet restriction"
    ),
    CodeSpec("lab.inflammatory_workup", "routine", "Review for inflammatory conditions"),
    CodeSpec("lab.repeat_crp", "routine", "Repeat CRP once the acute process has settled"),
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

CODES: dict[str, CodeSpec] = {c.code: c for c in _CODES}

PROTECTED_PREFIXES: tuple[str, ...] = ("safety.",)
PROTECTED_CODES: frozenset[str] = frozenset({"referral.urgent_gi"})


def is_protected(code: str) -> bool:
    return code in PROTECTED_CODES or code.startswith(PROTECTED_PREFIXES)


def category_of(code: str) -> str:
    return code.split(".", 1)[0]


def matches(pattern: str, code: str) -> bool:
    """Override patterns: an exact code, or ``prefix.*`` for a whole category."""
    if pattern.endswith(".*"):
        return code.startswith(pattern[:-1])
    return pattern == code


def pattern_can_touch_protected(pattern: str) -> bool:
    return any(matches(pattern, c) for c in CODES if is_protected(c)) or (
        pattern.endswith(".*") and any(p.startswith(pattern[:-1]) for p in PROTECTED_PREFIXES)
    )


def codes_markdown() -> str:
    """The code vocabulary as a Markdown table, for docs/RULES.md ("Suggestion codes")."""
    rows = [
        "| code | category | default priority | protected | meaning |",
        "|---|---|---|---|---|",
    ]
    for c in _CODES:
        protected = "yes" if is_protected(c.code) else ""
        rows.append(f"| `{c.code}` | {c.category} | {c.priority} | {protected} | {c.title} |")
    return "\n".join(rows) + "\n"

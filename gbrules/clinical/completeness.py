"""The inputs a draft cannot be trusted without, and which of them an evaluation lacks.

Missing data is "not recorded", never "no" (the rules stay silent instead of reassuring), but a
silent rule looks exactly like a rule with nothing to say. For the inputs the safety rules
need, a draft that lacks them must say so: the CDS service answers with a "Draft incomplete"
card and the CarePlan carries a note (docs/EHR.md). These are:

- the PHQ-9 total and item 9: item 9 (thoughts of self-harm) decides the same-day safety check;
- CRP: a raised CRP asks for a medical work-up before a gut-brain plan;
- the GI alarm features: any one asks for an urgent medical work-up first; the draft can say
  "none" only when every one was recorded absent (the derived fact ``gi_alarm`` is decided);
- the probiotic cautions: a probiotic trial is drafted only when none applies (``probiotic_risk``
  decided).

An input group whose deciding fact is settled (an alarm feature present, say) is complete even
if some of its other inputs are missing: they could not change the answer. A value older than its
freshness window (``Evaluation.stale``) counts as not recorded, and the missing input says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from gbrules.clinical.facts import VOCABULARY
from gbrules.core.result import Evaluation


@dataclass(frozen=True)
class KeyInput:
    """A group of inputs the safety rules need. ``decided_by``: a derived fact that, once
    present (true or false), makes the group complete; ``facts``: the inputs, any missing one
    leaves it incomplete (unless decided)."""

    name: str
    label: str
    facts: tuple[str, ...]
    why: str
    decided_by: str | None = None
    stale_kind: str | None = None  # its kind in ``Evaluation.stale`` (a value too old to use)


KEY_INPUTS: tuple[KeyInput, ...] = (
    KeyInput(
        "phq9",
        "PHQ-9 total and item 9",
        ("phq9_total", "phq9_item9"),
        "item 9 (thoughts of self-harm) decides the same-day safety check",
        stale_kind="phq9",
    ),
    KeyInput(
        "crp",
        "CRP",
        ("crp_mg_l",),
        "a raised CRP asks for a medical work-up before a gut-brain plan",
        stale_kind="crp",
    ),
    KeyInput(
        "alarm_features",
        "GI alarm features",
        (
            "rectal_bleeding",
            "unintentional_weight_loss",
            "iron_deficiency_anemia",
            "persistent_vomiting",
            "dysphagia",
            "nocturnal_symptoms",
            "new_bowel_change_age_50",
            "family_history_colorectal_cancer",
        ),
        "any one asks for an urgent medical work-up first; 'none' needs each recorded absent",
        decided_by="gi_alarm",
    ),
    KeyInput(
        "probiotic_cautions",
        "probiotic cautions",
        (
            "immunocompromised",
            "central_venous_catheter",
            "critically_ill",
            "prosthetic_heart_valve",
            "short_bowel_syndrome",
            "acute_pancreatitis",
            "pregnant",
        ),
        "a probiotic trial is drafted only when none applies",
        decided_by="probiotic_risk",
    ),
)


@dataclass(frozen=True)
class MissingInput:
    """A key input group the evaluation lacks, and which of its inputs are missing."""

    input: KeyInput
    facts: tuple[str, ...]
    stale_since: str | None = None  # the day of the value left out as too old, if one was

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(VOCABULARY[f].label if f in VOCABULARY else f for f in self.facts)

    @property
    def what(self) -> str:
        """The group, with the missing inputs when only some are missing."""
        if len(self.facts) == len(self.input.facts):
            return self.input.label
        return f"{self.input.label} ({', '.join(self.labels)})"

    def __str__(self) -> str:
        return f"{self.what} not recorded"


def missing_key_inputs(ev: Evaluation) -> tuple[MissingInput, ...]:
    """The key input groups ``ev`` lacks, in ``KEY_INPUTS`` order (empty: the draft is complete
    as far as the safety rules are concerned)."""
    out = []
    for ki in KEY_INPUTS:
        if ki.decided_by is not None and ki.decided_by in ev.facts:
            continue
        missing = tuple(f for f in ki.facts if f not in ev.facts)
        if missing:
            since = ev.stale.get(ki.stale_kind) if ki.stale_kind is not None else None
            out.append(MissingInput(ki, missing, since))
    return tuple(out)

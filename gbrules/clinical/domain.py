"""The clinical domain: the gut-brain facts, codes, intake reader, rulebook and rule policy.

This is all the rule core is told about gut-brain care plans (``gbrules.core.domain``). The
public ``gbrules.Engine`` is the core engine with this domain as its default
(``gbrules.clinical.engine``).
"""

from __future__ import annotations

import re
from pathlib import Path

from gbrules.clinical.codes import CODE_VOCABULARY
from gbrules.clinical.facts import VOCABULARY, facts_from_intake
from gbrules.clinical.intake import Intake, validate_intake
from gbrules.core import rulebook
from gbrules.core.domain import Domain, Policy, Reading


def default_rules_dir() -> Path:
    """The bundled rulebook: inside the wheel, or the repo's ``rules/`` in a source checkout."""
    package = Path(__file__).resolve().parents[1]  # gbrules/
    bundled = package / "_bundled" / "rules"
    return bundled if bundled.is_dir() else package.parent / "rules"


def read_intake(data: object) -> Reading:
    """One intake (a dict of Intake JSON or an ``Intake``) as the engine reads it.

    Raises IntakeError naming every bad field; never returns facts from half an intake.
    """
    checked = validate_intake(data)
    if isinstance(checked, Intake):
        return Reading(checked.patient_id, facts_from_intake(checked))
    return Reading(checked.get("patient_id"), facts_from_intake(checked))


# A title or rationale that orders a medicine stopped or states a diagnosis: suggestions are
# advice to a clinician, never orders or diagnoses.
_WORDING = re.compile(
    r"(?<!not )(?<!never )(?<!n't )\b(stop|stopping|discontinue|discontinuing|cease|quit)\b"
    r"|\b(confirms?|diagnoses|is diagnostic of) (the )?(diagnosis|depression|ibs|celiac|cancer)\b",
    re.IGNORECASE,
)
# What a citation looks like: a year, a PMID or DOI, a guideline body or document.
_SOURCE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|PMID|doi|NICE|\bNG\d|\bCG\d|ACG|AGA|FDA|NPSG|Joint Commission|"
    r"guideline|statement|Source\b",
    re.IGNORECASE,
)

CLINICAL = Domain(
    vocabulary=VOCABULARY,
    codes=CODE_VOCABULARY,
    read=read_intake,
    rules_dir=default_rules_dir(),
    policy=Policy(
        strict=True,
        evidence_source=_SOURCE,
        wording=_WORDING,
        wording_advice="phrase it as advice to a clinician (e.g. 'review with the prescriber'), "
        "never an order to stop or a diagnosis",
        facts_help="facts are listed in docs/FACTS.md",
    ),
)


def load_rulebook(*directories: str | Path) -> rulebook.Rulebook:
    """Load clinical rule directories (the bundled rulebook if none; the rest are site packs)."""
    return rulebook.load_rulebook(*directories, domain=CLINICAL)

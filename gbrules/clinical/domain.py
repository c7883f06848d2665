"""The clinical domain: the gut-brain facts, codes, intake reader, rulebook and rule policy.

This is all the rule core is told about gut-brain care plans (``gbrules.core.domain``). The
public ``gbrules.Engine`` is the core engine with this domain as its default
(``gbrules.clinical.engine``).
"""

from __future__ import annotations

import re
from pathlib import Path

from gbrules.clinical.codes import CODE_VOCABULARY
from gbrules.clinical.crisis import CRISIS_FILE, SETTING, crisis_file
from gbrules.clinical.facts import VOCABULARY, facts_from_intake
from gbrules.clinical.intake import validate_intake
from gbrules.clinical.paths import default_rules_dir as default_rules_dir  # re-exported
from gbrules.core import rulebook
from gbrules.core.domain import Domain, Policy, Reading


def read_intake(data: object) -> Reading:
    """One intake (a dict of Intake JSON or an ``Intake``) as the engine reads it.

    Raises IntakeError naming every bad field; never returns facts from half an intake.
    """
    checked = validate_intake(data)
    if isinstance(checked, dict):  # a model class's isinstance check runs Python: ask dict
        return Reading(checked.get("patient_id"), facts_from_intake(checked))
    return Reading(checked.patient_id, facts_from_intake(checked))


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
    r"guideline|statement|NIH|NCCIH|Source\b|^\s*Scenario:",
    re.IGNORECASE,
)

# Entries that may be listed beside the evidence but are not evidence for a threshold: the
# consumer scenario a rule mirrors (written "Scenario: ...", older rules "Source ...") and
# regulations or accreditation standards (the FDA CDS guidance says how advice is shown, not
# what is clinically right).
_NOT_EVIDENCE = re.compile(
    r"^\s*(Scenario|Source)\b|\bFDA\b.*\b(CDS|Clinical Decision Support)\b|"
    r"\bregulation\b",
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
        not_evidence=_NOT_EVIDENCE,
        not_evidence_advice="the scenario a rule mirrors and a regulation may be listed, but "
        "each rule also cites a guideline or primary source (docs/EVIDENCE.md)",
        wording=_WORDING,
        wording_advice="phrase it as advice to a clinician (e.g. 'review with the prescriber'), "
        "never an order to stop or a diagnosis",
        facts_help="facts are listed in docs/FACTS.md",
    ),
    # settings.crisis_country: one of the countries rules/crisis_lines.yaml has a set for.
    settings={SETTING: tuple(crisis_file(default_rules_dir() / CRISIS_FILE).countries)},
)


def load_rulebook(*directories: str | Path) -> rulebook.Rulebook:
    """Load clinical rule directories (the bundled rulebook if none; the rest are site packs)."""
    return rulebook.load_rulebook(*directories, domain=CLINICAL)

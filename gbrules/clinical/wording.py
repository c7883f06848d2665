"""What a suggestion's words propose, for invariants S11 and S18 and their scenarios.

S11/S18: for a patient under 18, or with bipolar disorder, and no SSRI on record, no suggestion
may propose an antidepressant: no "consider / discuss / start / offer ... SSRI or
antidepressant" wording. A sentence proposes one when a verb of proposing comes before an
antidepressant word in it; "antidepressant monotherapy is not advised" does not.
"""

from __future__ import annotations

import re

import yaml

from gbrules.clinical.domain import default_rules_dir
from gbrules.core.result import Suggestion


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for v in node.values() for t in _strings(v)]
    if isinstance(node, list):
        return [t for v in node for t in _strings(v)]
    return []


def _proposal_regex() -> str:
    """The words of S11a (the same as S18's), read from rules/invariants.yaml: one wording for
    the invariant, the prover, the property tests and the scenario step."""
    data = yaml.safe_load((default_rules_dir() / "invariants.yaml").read_text(encoding="utf-8"))
    (s11,) = [i for i in data["invariants"] if i["id"] == "S11a"]
    for text in _strings(s11["conclusion"]):
        found = re.fullmatch(r'says\(\*, "(?P<rx>[^"]+)"\)', text.strip())
        if found:
            return found["rx"]
    raise AssertionError("S11a no longer says which words propose an antidepressant")


_PROPOSAL = re.compile(_proposal_regex(), re.IGNORECASE)


def proposes_antidepressant(s: Suggestion) -> bool:
    """Whether the suggestion's title or rationale proposes an antidepressant."""
    return any(_PROPOSAL.search(text) for text in (s.title, s.rationale))

"""What a suggestion's words propose, for invariants S11 and S18 and their scenarios.

S11/S18: for a patient under 18, or with bipolar disorder, and no SSRI on record, no suggestion
may propose an antidepressant: no "consider / discuss / start / offer ... SSRI or
antidepressant" wording. A sentence proposes one when a verb of proposing comes before an
antidepressant word in it; "antidepressant monotherapy is not advised" does not.
"""

from __future__ import annotations

import re

from gbrules.core.result import Suggestion

_PROPOSE = (
    r"\b(consider\w*|discuss\w*|start\w*|offer\w*|begin\w*|initiat\w*|prescribe|prescribing"
    r"|try|trial of)\b"
)
_DRUG = r"\b(SSRIs?|antidepressants?|fluoxetine|sertraline|citalopram|escitalopram)\b"
_PROPOSAL = re.compile(_PROPOSE + r"[^.;]*" + _DRUG, re.IGNORECASE)


def proposes_antidepressant(s: Suggestion) -> bool:
    """Whether the suggestion's title or rationale proposes an antidepressant."""
    return any(_PROPOSAL.search(text) for text in (s.title, s.rationale))

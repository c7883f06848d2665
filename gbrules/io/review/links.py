"""Links from an evidence entry to where a reader can check it: PubMed, DOI, NICE guidance.

Evidence in rule files is free text ("Kroenke 2001, J Gen Intern Med 16:606", "NICE NG134",
"PMID 11556941", "doi:10.1001/..."); only identifiers that resolve unambiguously become links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PMID = re.compile(r"PMID:?\s*(\d{5,9})", re.IGNORECASE)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s,;)]+)")
_NICE = re.compile(r"\bNICE\s+(NG|CG|QS|TA|DG|IPG|MTG|PH)\s?(\d+)\b")


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def evidence_links(text: str) -> list[Link]:
    """Links a reader can follow from one evidence entry: PubMed, DOI, NICE guidance."""
    links = [
        Link(f"PMID {m[1]}", f"https://pubmed.ncbi.nlm.nih.gov/{m[1]}/")
        for m in _PMID.finditer(text)
    ]
    links += [Link(f"doi:{m[1]}", f"https://doi.org/{m[1]}") for m in _DOI.finditer(text)]
    links += [
        Link(f"NICE {m[1]}{m[2]}", f"https://www.nice.org.uk/guidance/{m[1].lower()}{m[2]}")
        for m in _NICE.finditer(text)
    ]
    return links

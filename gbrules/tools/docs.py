"""The generated parts of the documentation, and one command that refreshes them all.

Some pages are written by hand around facts that live in code: the suggestion codes in
docs/RULES.md come from ``gbrules.clinical.codes``, the citation index in docs/EVIDENCE.md from
the rules' ``evidence`` lists, docs/INTAKE.md from the intake models. Those parts are generated
between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` markers (or the
whole page), and tests fail when one is stale, naming the command below.

    .venv/bin/python -m gbrules.tools.docs           # rewrite every generated part
    .venv/bin/python -m gbrules.tools.docs --check   # exit 1 and list the stale ones
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gbrules.clinical.codes import codes_markdown
from gbrules.clinical.domain import load_rulebook
from gbrules.clinical.intake_doc import intake_markdown
from gbrules.core.rulebook import Rulebook

REGENERATE = ".venv/bin/python -m gbrules.tools.docs"
ROOT = Path(__file__).resolve().parents[2]


def not_evidence(citation: str) -> bool:
    """A citation kept to show where a suggestion came from (the consumer scenario it mirrors,
    written "Scenario: ...") or a regulation: never evidence for a threshold. The pattern is the
    clinical policy's, the one ``gbrules rules lint`` checks with."""
    from gbrules.clinical.domain import CLINICAL

    pattern = CLINICAL.policy.not_evidence
    return pattern is not None and pattern.search(citation) is not None


@dataclass(frozen=True)
class Generated:
    """One generated part: a whole page (``section`` None) or a marked section of a page."""

    page: str
    section: str | None
    make: Callable[[], str]


def _source_key(citation: str) -> tuple[str, str]:
    """("Kroenke ... 16:606", "PHQ-9 bands") from "Kroenke ... 16:606 (PHQ-9 bands)"."""
    m = re.match(r"^(?P<source>.*?)\s*\((?P<note>[^()]*)\)\s*$", citation)
    return (m["source"], m["note"]) if m else (citation.strip(), "")


def evidence_markdown(book: Rulebook | None = None) -> str:
    """Every source the default rulebook cites, with the rules that cite it and why."""
    book = book if book is not None else load_rulebook()
    sources: dict[str, list[str]] = {}
    scope: dict[str, list[str]] = {}
    for rule in book.rules:
        for citation in rule.evidence:
            if not_evidence(citation):
                scope.setdefault(rule.id, []).append(citation)
                continue
            source, note = _source_key(citation)
            sources.setdefault(source, []).append(f"`{rule.id}`" + (f" ({note})" if note else ""))
    lines = [f"### Sources cited by the rules ({len(sources)})", ""]
    for source in sorted(sources, key=str.casefold):
        lines.append(f"- **{source}**: " + "; ".join(dict.fromkeys(sources[source])))
    lines += [
        "",
        "### Scenarios and regulations (not evidence)",
        "",
        "Entries beginning with `Scenario:` name the consumer scenario a rule mirrors (its two",
        "cases, checklist and factor table); regulations (such as the FDA CDS guidance) say how",
        "advice is shown. Neither is evidence for any threshold, and `gbrules rules lint` reports",
        "a rule that cites nothing else.",
        "",
    ]
    for rule_id, notes in scope.items():
        lines.append(f"- `{rule_id}`: " + "; ".join(notes))
    only_scope = [r.id for r in book.rules if all(not_evidence(c) for c in r.evidence)]
    lines += [
        "",
        "### Rules whose only citation is a scenario or a regulation",
        "",
        "These need a guideline or study in their `evidence`; the summary above gives the one",
        "that supports each threshold.",
        "",
    ]
    lines += [f"- `{rule_id}`" for rule_id in only_scope] or ["- none"]
    return "\n".join(lines) + "\n"


PARTS: tuple[Generated, ...] = (
    Generated("docs/INTAKE.md", None, intake_markdown),
    Generated("docs/RULES.md", "codes", codes_markdown),
    Generated("docs/EVIDENCE.md", "citations", evidence_markdown),
)


def _markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- BEGIN GENERATED: {name} ({REGENERATE}) -->\n",
        f"<!-- END GENERATED: {name} -->",
    )


def expected(text: str, part: Generated) -> str:
    """``text`` with ``part`` regenerated (the whole page, or between its markers)."""
    if part.section is None:
        return part.make()
    begin, end = _markers(part.section)
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if start < 0 or stop < 0:
        raise ValueError(f"{part.page}: no generated section {part.section!r} ({begin.strip()})")
    return text[: start + len(begin)] + "\n" + part.make() + "\n" + text[stop:]


def stale(root: Path = ROOT) -> list[str]:
    """The generated parts that differ from what the code now generates."""
    out = []
    for part in PARTS:
        text = (root / part.page).read_text(encoding="utf-8")
        if expected(text, part) != text:
            out.append(f"{part.page}" + (f" (section {part.section})" if part.section else ""))
    return out


def write(root: Path = ROOT) -> list[str]:
    """Regenerate every part in place; the pages changed."""
    changed = []
    for part in PARTS:
        path = root / part.page
        text = path.read_text(encoding="utf-8")
        new = expected(text, part)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(part.page)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gbrules.tools.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only list stale parts; exit 1")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for page in found:
            print(f"stale: {page}")
        return 1 if found else 0
    for page in write():
        print(f"rewrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

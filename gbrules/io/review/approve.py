"""``gbrules review approve``: write a rule's sign-off into its YAML file.

The edit is textual (one ``review: {...}`` flow-mapping line at the end of the rule's block,
replacing an earlier one) so that comments, wrapping and key order of the hand-written file are
kept. The file is rewritten atomically (temporary file, fsync, rename): a SIGKILL leaves either
the old or the new file, never half of one. The result is re-loaded and each approved rule's
hash checked, so a text edit that went wrong is an error, not a silent bad approval.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from gbrules.core.rulebook import Rule, Rulebook
from gbrules.io import files

_ITEM = re.compile(r"^(?P<indent>\s*)- id:\s*(?P<id>[a-z0-9_.]+)\s*$")


@dataclass(frozen=True)
class Approval:
    """Who approved, when, and when the rule is next due for review."""

    by: tuple[str, ...]
    on: date
    next_review: date | None


def review_line(indent: str, rule: Rule, approval: Approval) -> str:
    parts = [
        "status: approved",
        "approved_by: [" + ", ".join(json.dumps(n) for n in approval.by) + "]",
        f"approved_on: {approval.on.isoformat()}",
    ]
    if approval.next_review is not None:
        parts.append(f"next_review: {approval.next_review.isoformat()}")
    parts.append(f"approved_hash: {json.dumps(rule.hash)}")
    return f"{indent}review: {{{', '.join(parts)}}}\n"


def _edit(lines: list[str], rule: Rule, approval: Approval) -> list[str]:
    start = next(
        (i for i, ln in enumerate(lines) if (m := _ITEM.match(ln)) and m["id"] == rule.id), None
    )
    if start is None:
        raise ValueError(f"{rule.file}: cannot find '- id: {rule.id}' to record the approval")
    m = _ITEM.match(lines[start])
    assert m is not None
    item_indent = m["indent"]
    key_indent = item_indent + "  "
    end = start + 1
    while end < len(lines):
        ln = lines[end]
        stripped = ln.strip()
        if stripped and not stripped.startswith("#"):
            indent = len(ln) - len(ln.lstrip())
            if indent <= len(item_indent):
                break
        end += 1
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip()[0] == "#"):
        end -= 1  # blank lines and comments before the next rule stay after the review line
    block = lines[start:end]
    if any(ln.rstrip() == key_indent + "review:" for ln in block):
        raise ValueError(
            f"{rule.file}: rule {rule.id} has a block-style review: mapping; "
            "write it as one line or remove it before approving"
        )
    kept = [ln for ln in block if not ln.startswith(key_indent + "review:")]
    return lines[:start] + kept + [review_line(key_indent, rule, approval)] + lines[end:]


def approve(book: Rulebook, directory: Path, rule_ids: Sequence[str], approval: Approval) -> None:
    """Record ``approval`` for each rule id in its file under ``directory``."""
    by_file: dict[str, list[Rule]] = {}
    unknown = [rid for rid in rule_ids if rid not in {r.id for r in book.rules}]
    if unknown:
        raise KeyError(", ".join(unknown))
    for rid in rule_ids:
        rule = book.rule(rid)
        by_file.setdefault(rule.file, []).append(rule)
    for name, rules in by_file.items():
        path = directory / name
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for rule in rules:
            lines = _edit(lines, rule, approval)
        atomic_write(path, "".join(lines))


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably (gbrules.io.files)."""
    files.atomic_write(path, lambda f: f.write(text.encode("utf-8")))

"""Fenced code blocks of the Markdown docs, as the doc tests read them.

Conventions (docs/README-style, nothing to install):

* A ```python, ```sh or ```bash block is **meant to run**: tests/test_docs_run.py runs it,
  unless ``NOT_RUN`` there lists it with the reason it cannot (a server, a browser, root).
* Any other block (```json, ```yaml, ```gherkin, ```text, or no language) is illustrative,
  unless the line just before it is ``<!-- file: NAME -->``: then it is a file the runnable
  blocks use, written to NAME first (as a reader would save it).
* In a python block, ``# > text`` lines are the output the reader should see, in order; a line
  ending in ``...`` matches any output line that starts with the text before it. (``# >``,
  not ``#>``: ruff formats the blocks of Markdown files too, and writes comments so.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = frozenset({"python", "sh", "bash"})
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_FILE_MARKER = re.compile(r"^\s*<!--\s*file:\s*(?P<name>[\w./-]+)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    doc: str  # path from the repository root
    line: int  # of the opening fence
    lang: str
    text: str
    writes: str | None  # the file name from a <!-- file: NAME --> marker

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in RUNNABLE and self.writes is None

    def expected_output(self) -> list[str]:
        return [
            line.strip()[4:] for line in self.text.splitlines() if line.strip().startswith("# > ")
        ]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, start = m["indent"], i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        marker = _FILE_MARKER.match(lines[start - 1]) if start > 0 else None
        out.append(
            Block(
                doc=str(path.relative_to(ROOT)),
                line=start + 1,
                lang=m["lang"],
                text="\n".join(body) + "\n",
                writes=marker["name"] if marker else None,
            )
        )
        i += 1
    return out


def docs() -> list[Path]:
    """The Markdown files whose blocks are checked: README.md and docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def matches_output(expected: list[str], output: str) -> list[str]:
    """The expected lines not found in ``output`` (in order); empty when all are there."""
    lines = output.splitlines()
    missing = []
    pos = 0
    for want in expected:
        prefix = want[:-3] if want.endswith("...") else None
        for j in range(pos, len(lines)):
            got = lines[j].rstrip()
            if got == want or (prefix is not None and got.startswith(prefix)):
                pos = j + 1
                break
        else:
            missing.append(want)
    return missing

"""The repository is self-contained: every Markdown file it names is in it.

Docs, docstrings, comments, rules and scenarios once pointed at design notes that lived outside
the repository; a newcomer with a clone could not follow them. Every ``*.md`` a tracked text
file names must exist in the repository (a path from the root or from the naming file's folder,
or a bare file name found somewhere in it).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A Markdown file name: not part of a longer name ("clinician.md.j2") and not inside a URL.
MD_NAME = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w.-]+\.md)(?!\.?\w)")
# Names of documents that were never in the repository (spelt in pieces so this file passes).
OUTSIDE = re.compile(r"\b(" + "CON" + "TRACT|" + "CLIN" + "ICAL\\.md|" + "DES" + "IGN\\.md)\\b")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".feature", ".toml", ".j2", ".txt", ".cfg", ""}


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    paths = [ROOT / p for p in listed.split("\0") if p]
    return [p for p in paths if p.is_file() and p.suffix in TEXT_SUFFIXES]


def test_every_markdown_file_named_exists() -> None:
    files = _tracked_text_files()
    names = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    missing = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            if "://" in line and ".md" in line.split("://", 1)[1]:
                continue
            for name in MD_NAME.findall(line):
                if "/" in name:
                    ok = (ROOT / name).is_file() or (path.parent / name).is_file()
                else:
                    ok = name in names
                if not ok:
                    missing.append(f"{path.relative_to(ROOT)}:{lineno}: {name}")
    assert not missing, "these name Markdown files the repository does not have:\n" + "\n".join(
        missing
    )


def test_no_reference_to_documents_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{lineno}: {m.group(0)}"
        for path in _tracked_text_files()
        for lineno, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        )
        for m in OUTSIDE.finditer(line)
    ]
    assert not found, "point these at the repository's own docs instead:\n" + "\n".join(found)


def test_the_pattern_finds_what_it_should() -> None:
    assert MD_NAME.findall("see docs/FACTS.md, and README.md.") == ["docs/FACTS.md", "README.md"]
    assert MD_NAME.findall("templates/clinician.md.j2 and x.mdx") == []
    assert OUTSIDE.search("as the " + "CON" + "TRACT says")

"""Load and validate a rulebook: YAML files in a directory, each rule checked with pydantic.

A rulebook directory holds ``rulebook.yaml`` (name, version, file order, optional extra codes)
and the rule files it lists; a site pack may omit the manifest, and its ``*.yaml`` files load in
name order. Everything a clinician could get wrong is a load error that names the file, the line
and the rule id: an unknown fact or code, a malformed condition, a duplicate id, an override that
would silence a safety code. Only ``yaml.safe_load`` is used, and anchors/aliases are refused
(they are how "billion laughs" files blow up memory).
"""

from __future__ import annotations

import difflib
import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gbrules.clinical.codes import (
    CATEGORIES,
    CODES,
    PRIORITY_RANK,
    CodeSpec,
    Priority,
    category_of,
    is_protected,
    pattern_can_touch_protected,
)
from gbrules.clinical.facts import VOCABULARY
from gbrules.core.errors import RulebookError
from gbrules.core.language import Condition, ConditionError, facts_in, parse_condition

MAX_FILE_BYTES = 1_000_000
_SAFE_SPEC = re.compile(r"^[<>^]?\d{0,2}(?:\.\d{1,2})?[dfg%]?$")
MAX_NESTING = 64  # YAML collections inside each other; real rule files use < 20
MANIFEST = "rulebook.yaml"
Origin = Literal["default", "site"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThenSpec(_Strict):
    code: str
    priority: Priority | None = None
    title: str | None = None
    rationale: str = Field(min_length=1)


class OverrideSpec(_Strict):
    """When the rule fires: take matching codes out of the active plan, with a reason.

    ``defer`` means "not now, after the safety step" (shown as deferred); ``suppress`` means
    "not for this patient" (shown as suppressed). Patterns are codes or ``category.*``.
    """

    suppress: list[str] = Field(default_factory=list)
    defer: list[str] = Field(default_factory=list)
    reason: str = Field(min_length=1)


class RuleSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    title: str = Field(min_length=1)
    when: Any
    then: ThenSpec
    evidence: list[str] = Field(min_length=1)
    overrides: list[OverrideSpec] = Field(default_factory=list)
    notes: str | None = None


class CodeDecl(_Strict):
    priority: Priority
    title: str


class ManifestSpec(_Strict):
    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    files: list[str] = Field(min_length=1)
    codes: dict[str, CodeDecl] = Field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class Override:
    action: Literal["suppress", "defer"]
    patterns: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Rule:
    """One validated rule, ready to compile. ``order`` is its place in the whole rulebook."""

    id: str
    title: str
    condition: Condition
    code: str
    priority: Priority
    suggestion_title: str
    rationale: str
    evidence: tuple[str, ...]
    overrides: tuple[Override, ...]
    file: str
    line: int
    origin: Origin
    order: int
    facts: tuple[str, ...]

    @property
    def category(self) -> str:
        return category_of(self.code)


@dataclass(frozen=True)
class Rulebook:
    name: str
    version: str
    content_hash: str
    rules: tuple[Rule, ...]
    codes: dict[str, CodeSpec] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    @property
    def version_label(self) -> str:
        """Semver plus content hash: two rulebooks with one label behave the same."""
        return f"{self.version}+{self.content_hash[:12]}"

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def default_rules_dir() -> Path:
    """The bundled rulebook: inside the wheel, or the repo's ``rules/`` in a source checkout."""
    package = Path(__file__).resolve().parents[1]  # gbrules/
    bundled = package / "_bundled" / "rules"
    return bundled if bundled.is_dir() else package.parent / "rules"


_OPENS = (
    yaml.FlowSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.BlockMappingStartToken,
)
_CLOSES = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)
# libyaml's safe loader when PyYAML was built with it: the pure-Python one needs ~1 min for a
# 1 MB file. Both construct only plain YAML types; no tag can name a Python object.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, problems: list[str]) -> tuple[Any, Any, bytes] | None:
    """Parse one YAML file safely: (data, node tree, raw bytes), or None with a problem noted.

    Hostile files are refused before they can cost much: at most MAX_FILE_BYTES are read, no
    anchors or aliases, and nesting deeper than MAX_NESTING stops the scan early (PyYAML's
    scanner is quadratic in flow depth and its composer recurses once per level).
    """
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            problems.append(f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
            return None
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name}: cannot read: {exc}")
        return None
    try:
        depth = 0
        for tok in yaml.scan(text, Loader=_Loader):
            line = tok.start_mark.line + 1
            if isinstance(tok, yaml.AliasToken | yaml.AnchorToken):
                problems.append(f"{path.name}:{line}: YAML anchors and aliases are not allowed")
                return None
            if isinstance(tok, _OPENS):
                depth += 1
                if depth > MAX_NESTING:
                    problems.append(f"{path.name}:{line}: nested deeper than {MAX_NESTING} levels")
                    return None
            elif isinstance(tok, _CLOSES):
                depth -= 1
        node = yaml.compose(text, Loader=_Loader)
        data = _Loader("").construct_document(node) if node is not None else None
        return data, node, raw
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}: not valid YAML: {exc}")
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert
        problems.append(f"{path.name}: cannot load: {type(exc).__name__}: {exc}")
    return None


def _rule_lines(node: Any) -> list[int]:
    """Line numbers of each item of the top-level ``rules:`` list (for error messages)."""
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, val in node.value:
        if getattr(key, "value", None) == "rules" and isinstance(val, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in val.value]
    return []


def _files_of(directory: Path, problems: list[str]) -> tuple[ManifestSpec | None, list[Path]]:
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        files = sorted(p for p in directory.glob("*.yaml") if p.is_file())
        if not files:
            problems.append(f"{directory}: no rule files (*.yaml) found")
        return None, files
    loaded = _read_yaml(manifest_path, problems)
    if loaded is None:
        return None, []
    try:
        manifest = ManifestSpec.model_validate(loaded[0])
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            loc = ".".join(map(str, e["loc"]))
            problems.append(f"{MANIFEST}: {loc}: {e['msg']}")
        return None, []
    paths = []
    for name in manifest.files:
        p = directory / name
        if "/" in name or "\\" in name or not p.is_file():
            problems.append(f"{MANIFEST}: listed file {name!r} is missing or not a plain name")
        else:
            paths.append(p)
    return manifest, paths


def load_rulebook(*directories: str | Path) -> Rulebook:
    """Load one or more rule directories (the first is the base, the rest are site packs)."""
    if not directories:
        directories = (default_rules_dir(),)
    problems: list[str] = []
    rules: list[Rule] = []
    codes: dict[str, CodeSpec] = dict(CODES)
    digest = hashlib.sha256()
    names: list[str] = []
    versions: list[str] = []
    sources: list[str] = []

    for index, d in enumerate(directories):
        directory = Path(d)
        origin: Origin = "default" if index == 0 else "site"
        if not directory.is_dir():
            # Usually Engine.from_directory("rules/") outside a clone: say where the rules are.
            problems.append(
                f"{directory}: not a directory (the bundled rulebook is Engine.default(); "
                f"`gbrules rules path` prints its folder)"
            )
            continue
        manifest, paths = _files_of(directory, problems)
        if manifest is not None:
            names.append(manifest.name)
            versions.append(manifest.version)
            for code, decl in manifest.codes.items():
                _declare_code(code, decl, codes, problems)
        sources.append(str(directory))
        for path in paths:
            loaded = _read_yaml(path, problems)
            if loaded is None:
                continue
            data, node, raw_bytes = loaded
            digest.update(path.name.encode() + b"\0" + raw_bytes + b"\0")
            if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
                problems.append(f"{path.name}: expected a mapping with a 'rules:' list")
                continue
            extra = set(data) - {"rules", "description"}
            if extra:
                problems.append(f"{path.name}: unknown top-level keys {sorted(extra)}")
            lines = _rule_lines(node)
            for i, raw in enumerate(data["rules"]):
                line = lines[i] if i < len(lines) else 0
                rule = _build_rule(raw, path.name, line, origin, len(rules), codes, problems)
                if rule is not None:
                    rules.append(rule)

    seen: dict[str, Rule] = {}
    for r in rules:
        if r.id in seen:
            first = seen[r.id]
            problems.append(
                f"{r.file}:{r.line}: rule {r.id}: duplicate id (first defined in "
                f"{first.file}:{first.line})"
            )
        else:
            seen[r.id] = r
    if not rules and not problems:
        problems.append("the rulebook has no rules")
    if problems:
        raise RulebookError(problems)
    return Rulebook(
        name=" + ".join(names) or "unnamed rulebook",
        version=versions[0] if versions else "0.0.0",
        content_hash=digest.hexdigest(),
        rules=tuple(rules),
        codes=codes,
        sources=tuple(sources),
    )


def _declare_code(
    code: str, decl: CodeDecl, codes: dict[str, CodeSpec], problems: list[str]
) -> None:
    if category_of(code) not in CATEGORIES or "." not in code:
        problems.append(f"{MANIFEST}: code {code!r}: category must be one of {CATEGORIES}")
    elif code in codes and codes[code].priority != decl.priority:
        problems.append(f"{MANIFEST}: code {code!r} is already defined; cannot redefine it")
    elif is_protected(code) and code not in codes:
        problems.append(f"{MANIFEST}: code {code!r}: new safety.* codes need a core release")
    else:
        codes.setdefault(code, CodeSpec(code, decl.priority, decl.title))


def _build_rule(
    raw: object,
    file: str,
    line: int,
    origin: Origin,
    order: int,
    codes: dict[str, CodeSpec],
    problems: list[str],
) -> Rule | None:
    rid = raw.get("id", "?") if isinstance(raw, dict) else "?"
    where = f"{file}:{line}: rule {rid}"
    try:
        spec = RuleSpec.model_validate(raw)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            loc = ".".join(map(str, e["loc"])) or "rule"
            problems.append(f"{where}: {loc}: {e['msg']}")
        return None
    before = len(problems)
    try:
        condition = parse_condition(spec.when)
    except ConditionError as exc:
        problems.append(f"{where}: {exc}")
        condition = None
    code = spec.then.code
    cspec = codes.get(code)
    if cspec is None:
        problems.append(f"{where}: unknown suggestion code {code!r}{nearest_codes(code, codes)}")
    priority: Priority = spec.then.priority or (cspec.priority if cspec else "routine")
    demoted = cspec is not None and PRIORITY_RANK[priority] > PRIORITY_RANK[cspec.priority]
    if cspec is not None and is_protected(code) and demoted:
        problems.append(
            f"{where}: {code} is a protected safety code; it cannot be emitted below "
            f"{cspec.priority!r} (got {priority!r})"
        )
    for fname in _template_fields(spec.then.rationale, where, problems):
        if fname not in VOCABULARY:
            problems.append(f"{where}: rationale names unknown fact {{{fname}}}")
    overrides: list[Override] = []
    for o in spec.overrides:
        if not o.suppress and not o.defer:
            problems.append(f"{where}: an override needs 'suppress' or 'defer' codes")
        for action, patterns in (("suppress", o.suppress), ("defer", o.defer)):
            for p in patterns:
                if pattern_can_touch_protected(p):
                    problems.append(
                        f"{where}: override pattern {p!r} would {action} a protected safety "
                        f"code (safety.*, referral.urgent_gi); that is never allowed"
                    )
                elif not _pattern_well_formed(p, codes):
                    problems.append(
                        f"{where}: override pattern {p!r} names no known code"
                        f"{nearest_codes(p, codes)}"
                    )
            if patterns:
                overrides.append(Override(action, tuple(patterns), o.reason))  # type: ignore[arg-type]
    if condition is None or len(problems) > before:
        return None
    return Rule(
        id=spec.id,
        title=spec.title,
        condition=condition,
        code=code,
        priority=priority,
        suggestion_title=spec.then.title or (cspec.title if cspec else code),
        rationale=spec.then.rationale,
        evidence=tuple(spec.evidence),
        overrides=tuple(overrides),
        file=file,
        line=line,
        origin=origin,
        order=order,
        facts=tuple(facts_in(condition)),
    )


RULES_GUIDE = "docs/RULES.md"


def nearest_codes(code: str, codes: dict[str, CodeSpec]) -> str:
    """A hint for a mistyped code: the closest valid codes, else the codes of its category.

    The full list is in docs/RULES.md ("Suggestion codes"), generated from the code table; a
    site pack can declare new codes in its ``rulebook.yaml``.
    """
    close = difflib.get_close_matches(code, list(codes), n=3, cutoff=0.75)
    if not close:
        category = code.split(".", 1)[0]
        close = [c for c in codes if c.split(".", 1)[0] == category]
    where = f"valid codes are listed in {RULES_GUIDE}, 'Suggestion codes'"
    if not close:
        return f" ({where})"
    return f" (did you mean {' or '.join(repr(c) for c in close)}? {where})"


def _template_fields(template: str, where: str, problems: list[str]) -> list[str]:
    try:
        parsed = [(f, spec) for _, f, spec, conv in string.Formatter().parse(template)]
    except ValueError as exc:
        problems.append(f"{where}: rationale template is malformed: {exc}")
        return []
    for f, spec in parsed:
        if f is not None and spec and not _SAFE_SPEC.match(spec):
            # A width such as {age:>999999999} would build a gigabyte string per evaluation.
            problems.append(
                f"{where}: rationale format {{{f}:{spec}}} is not allowed (short ones like .1f are)"
            )
    return [f for f, _ in parsed if f is not None]


def _pattern_well_formed(pattern: str, codes: dict[str, CodeSpec]) -> bool:
    if pattern.endswith(".*"):
        return pattern[:-2] in CATEGORIES
    return pattern in codes

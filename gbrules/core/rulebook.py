"""Load and validate a rulebook: YAML files in a directory (or rule dicts), each rule checked
with pydantic against a ``Domain`` (its fact and code vocabularies and rule policy).

A rulebook directory holds ``rulebook.yaml`` (name, version, file order, optional extra codes)
and the rule files it lists; a site pack may omit the manifest, and its ``*.yaml`` files load in
name order. Everything a rule author could get wrong is a load error that names the file, the
line and the rule id: an unknown fact or code, a malformed condition, a duplicate id, an override
that would silence a protected code. Only ``yaml.safe_load`` is used, and anchors/aliases are
refused (they are how "billion laughs" files blow up memory).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gbrules.core.domain import Domain
from gbrules.core.errors import RulebookError
from gbrules.core.language import Condition, ConditionError, facts_in, parse_condition
from gbrules.core.vocabulary import (
    PRIORITY_RANK,
    CodeSpec,
    Priority,
    category_of,
    well_formed_code,
)

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
    rationale: str = ""


class StrictThenSpec(ThenSpec):
    rationale: str = Field(min_length=1)


class OverrideSpec(_Strict):
    """When the rule fires: take matching codes out of the active plan, with a reason.

    ``defer`` means "not now, after the safety step" (shown as deferred); ``suppress`` means
    "not for this patient" (shown as suppressed). Patterns are codes or ``category.*``.
    """

    suppress: list[str] = Field(default_factory=list)
    defer: list[str] = Field(default_factory=list)
    reason: str = Field(min_length=1)


class ReviewSpec(_Strict):
    """Sign-off of a rule (or of every rule of a file) by a clinical governance group.

    ``approved_hash`` is :func:`rule_hash` of the rule as it was approved: any later edit of the
    rule makes the approval stale (see gbrules.core.review). ``retired`` rules are not loaded.
    """

    status: Literal["draft", "approved", "retired"] = "draft"
    approved_by: list[str] = Field(default_factory=list)
    approved_on: date | None = None
    next_review: date | None = None
    approved_hash: str | None = None


class RuleSpec(_Strict):
    """A rule as written; only ``id``, ``when`` and ``then.code`` are needed (Policy.strict
    asks for more, see StrictRuleSpec)."""

    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    title: str | None = Field(default=None, min_length=1)
    when: Any
    then: ThenSpec
    evidence: list[str] = Field(default_factory=list)
    overrides: list[OverrideSpec] = Field(default_factory=list)
    notes: str | None = None
    review: ReviewSpec | None = None


class StrictRuleSpec(RuleSpec):
    """A fully documented rule: a dotted id, a title, a rationale and its evidence."""

    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    title: str = Field(min_length=1)
    then: StrictThenSpec
    evidence: list[str] = Field(min_length=1)


class CodeDecl(_Strict):
    priority: Priority
    title: str


class PopulationSpec(_Strict):
    """Who the rulebook is written for. Below ``min_age`` a rule of the rulebook itself must
    say so (the default rulebook's ``safety.out_of_scope``; a test checks the two agree)."""

    min_age: int = Field(ge=0, le=130)


class ManifestSpec(_Strict):
    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    # A site pack's manifest may list no files (a pack that only sets ``settings``); a
    # rulebook with no rules at all is still refused (``_finish``).
    files: list[str] = Field(default_factory=list)
    codes: dict[str, CodeDecl] = Field(default_factory=dict)
    population: PopulationSpec | None = None
    description: str | None = None
    # Site settings the domain reads (Domain.settings names each one and its allowed values),
    # e.g. the clinical domain's ``crisis_country``. A later manifest (a site pack) overrides.
    settings: dict[str, str] = Field(default_factory=dict)


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
    review: ReviewSpec = field(default_factory=ReviewSpec)
    hash: str = ""  # rule_hash() of the rule as written, without its review metadata

    @property
    def category(self) -> str:
        return category_of(self.code)


@dataclass(frozen=True)
class Rulebook:
    """Validated rules, in order, with the domain they were checked against and every code
    they may emit (the domain's plus those the manifests declared)."""

    name: str
    version: str
    content_hash: str
    rules: tuple[Rule, ...]
    domain: Domain
    codes: dict[str, CodeSpec] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    min_age: int | None = None  # the base manifest's population.min_age, if declared
    # Site settings (manifest ``settings``, a site pack's overriding the default's), copied
    # into every Evaluation so a draft says which configuration produced it.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def version_label(self) -> str:
        """Semver plus content hash: two rulebooks with one label behave the same."""
        return f"{self.version}+{self.content_hash[:12]}"

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


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


def load_rulebook(*directories: str | Path, domain: Domain) -> Rulebook:
    """Load one or more rule directories against ``domain`` (the first is the base, the rest
    are site packs); none given: the domain's own rulebook."""
    if not directories:
        if domain.rules_dir is None:
            raise RulebookError(["no rule directory given and the domain ships no rulebook"])
        directories = (domain.rules_dir,)
    problems: list[str] = []
    rules: list[Rule] = []
    codes: dict[str, CodeSpec] = dict(domain.codes.codes)
    digest = hashlib.sha256()
    names: list[str] = []
    versions: list[str] = []
    sources: list[str] = []
    min_age: int | None = None
    settings: dict[str, str] = {}

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
            if index == 0 and manifest.population is not None:
                min_age = manifest.population.min_age
            for code, decl in manifest.codes.items():
                _declare_code(code, decl, domain, codes, problems)
            for key, value in manifest.settings.items():
                allowed = domain.settings.get(key)
                if allowed is None:
                    problems.append(
                        f"{MANIFEST}: settings.{key}: unknown setting (known: "
                        f"{', '.join(sorted(domain.settings)) or 'none'})"
                    )
                elif value not in allowed:
                    problems.append(
                        f"{MANIFEST}: settings.{key}: {value!r} is not one of {', '.join(allowed)}"
                    )
                else:
                    settings[key] = value
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
            extra = set(data) - {"rules", "description", "review"}
            if extra:
                problems.append(f"{path.name}: unknown top-level keys {sorted(extra)}")
            file_review = _file_review(data.get("review"), path.name, problems)
            lines = _rule_lines(node)
            for i, raw in enumerate(data["rules"]):
                line = lines[i] if i < len(lines) else 0
                where = _Where(path.name, line, origin, len(rules), file_review)
                rule = _build_rule(raw, where, domain, codes, problems)
                if rule is not None:
                    rules.append(rule)
    if settings:  # the settings change what a draft says: they are part of the content
        digest.update(b"settings\0" + json.dumps(settings, sort_keys=True).encode() + b"\0")
    return _finish(
        rules,
        problems,
        domain,
        name=" + ".join(names) or "unnamed rulebook",
        version=versions[0] if versions else "0.0.0",
        content_hash=digest.hexdigest(),
        codes=codes,
        sources=tuple(sources),
        min_age=min_age,
        settings=settings,
    )


def rulebook_from_rules(
    rules: Iterable[Mapping[str, Any]], domain: Domain, name: str = "rules"
) -> Rulebook:
    """A rulebook from rule dicts (as a YAML rule file's ``rules:`` list would hold them).

    Problems name the rule by its place, ``rules[3]: rule r4: ...``.
    """
    raws = list(rules)
    problems: list[str] = []
    codes: dict[str, CodeSpec] = dict(domain.codes.codes)
    built: list[Rule] = []
    for i, raw in enumerate(raws):
        rule = _build_rule(
            raw, _Where(f"{name}[{i}]", 0, "default", len(built)), domain, codes, problems
        )
        if rule is not None:
            built.append(rule)
    text = json.dumps(raws, sort_keys=True, default=repr, ensure_ascii=False)
    return _finish(
        built,
        problems,
        domain,
        name=name,
        version="0.0.0",
        content_hash=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        codes=codes,
        sources=(),
    )


def _finish(
    rules: list[Rule],
    problems: list[str],
    domain: Domain,
    *,
    name: str,
    version: str,
    content_hash: str,
    codes: dict[str, CodeSpec],
    sources: tuple[str, ...],
    min_age: int | None = None,
    settings: dict[str, str] | None = None,
) -> Rulebook:
    """Refuse duplicate ids and empty rulebooks, then raise every problem or build the book."""
    seen: dict[str, Rule] = {}
    for r in rules:
        if r.id in seen:
            first = seen[r.id]
            problems.append(
                f"{_where_text(r.file, r.line)}: rule {r.id}: duplicate id (first defined in "
                f"{_where_text(first.file, first.line)})"
            )
        else:
            seen[r.id] = r
    if not rules and not problems:
        problems.append("the rulebook has no rules")
    if problems:
        raise RulebookError(problems)
    return Rulebook(
        name=name,
        version=version,
        content_hash=content_hash,
        rules=tuple(rules),
        domain=domain,
        codes=codes,
        sources=sources,
        min_age=min_age,
        settings=dict(sorted((settings or {}).items())),
    )


def _where_text(file: str, line: int) -> str:
    return f"{file}:{line}" if line else file


@dataclass(frozen=True)
class _Where:
    """Where a rule was written, and its place in the whole rulebook."""

    file: str
    line: int
    origin: Origin
    order: int
    review: ReviewSpec | None = None  # the file's own ``review:``, for rules without one


def rule_hash(raw: Mapping[str, Any]) -> str:
    """The content hash of a rule as written, without its ``review`` metadata: canonical JSON
    (sorted keys, no whitespace) of the YAML mapping, SHA-256, first 16 hex digits. Re-wrapping
    a YAML line or reordering keys does not change it; any change of a word or number does."""
    body = {k: v for k, v in raw.items() if k != "review"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _file_review(raw: object, name: str, problems: list[str]) -> ReviewSpec | None:
    if raw is None:
        return None
    try:
        return ReviewSpec.model_validate(raw)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            loc = ".".join(map(str, e["loc"]))
            problems.append(f"{name}: review.{loc}: {e['msg']}")
        return None


def _declare_code(
    code: str, decl: CodeDecl, domain: Domain, codes: dict[str, CodeSpec], problems: list[str]
) -> None:
    vocabulary = domain.codes
    if not well_formed_code(code) or not vocabulary.category_allowed(category_of(code)):
        allowed = vocabulary.categories
        problems.append(
            f"{MANIFEST}: code {code!r}: category must be one of {allowed}"
            if allowed is not None
            else f"{MANIFEST}: code {code!r}: a code is category.name (lower case, dotted)"
        )
    elif code in codes and codes[code].priority != decl.priority:
        problems.append(f"{MANIFEST}: code {code!r} is already defined; cannot redefine it")
    elif vocabulary.is_protected(code) and code not in codes:
        problems.append(
            f"{MANIFEST}: code {code!r}: new protected codes ({vocabulary.protected_text()}) "
            "need a core release"
        )
    else:
        codes.setdefault(code, CodeSpec(code, decl.priority, decl.title))


def _build_rule(
    raw: object,
    at: _Where,
    domain: Domain,
    codes: dict[str, CodeSpec],
    problems: list[str],
) -> Rule | None:
    rid = raw.get("id", "?") if isinstance(raw, dict) else "?"
    where = f"{_where_text(at.file, at.line)}: rule {rid}"
    schema = StrictRuleSpec if domain.policy.strict else RuleSpec
    try:
        spec = schema.model_validate(raw)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            loc = ".".join(map(str, e["loc"])) or "rule"
            problems.append(f"{where}: {loc}: {e['msg']}")
        return None
    before = len(problems)
    vocabulary = domain.vocabulary
    code_vocabulary = domain.codes
    try:
        condition = parse_condition(spec.when, vocabulary)
    except ConditionError as exc:
        unknown_fact = "unknown fact" in str(exc) and domain.policy.facts_help
        problems.append(
            f"{where}: {exc}" + (f"; {domain.policy.facts_help}" if unknown_fact else "")
        )
        condition = None
    code = spec.then.code
    cspec = codes.get(code)
    if cspec is None:
        if not code_vocabulary.open:
            problems.append(
                f"{where}: unknown suggestion code {code!r}{nearest_codes(code, codes)}"
            )
        elif not well_formed_code(code):
            problems.append(f"{where}: suggestion code {code!r} is not category.name (dotted)")
    priority: Priority = spec.then.priority or (cspec.priority if cspec else "routine")
    demoted = cspec is not None and PRIORITY_RANK[priority] > PRIORITY_RANK[cspec.priority]
    if cspec is not None and code_vocabulary.is_protected(code) and demoted:
        problems.append(
            f"{where}: {code} is a protected safety code; it cannot be emitted below "
            f"{cspec.priority!r} (got {priority!r})"
        )
    for fname in _template_fields(spec.then.rationale, where, problems):
        if fname not in vocabulary:
            problems.append(f"{where}: rationale names unknown fact {{{fname}}}")
    overrides: list[Override] = []
    for o in spec.overrides:
        if not o.suppress and not o.defer:
            problems.append(f"{where}: an override needs 'suppress' or 'defer' codes")
        for action, patterns in (("suppress", o.suppress), ("defer", o.defer)):
            for p in patterns:
                if code_vocabulary.pattern_can_touch_protected(p):
                    problems.append(
                        f"{where}: override pattern {p!r} would {action} a protected safety "
                        f"code ({code_vocabulary.protected_text()}); that is never allowed"
                    )
                elif not _pattern_well_formed(p, domain, codes):
                    problems.append(
                        f"{where}: override pattern {p!r} names no known code"
                        f"{nearest_codes(p, codes)}"
                    )
            if patterns:
                overrides.append(Override(action, tuple(patterns), o.reason))  # type: ignore[arg-type]
    if condition is None or len(problems) > before:
        return None
    review = spec.review or at.review or ReviewSpec()
    if review.status == "retired":
        return None  # kept in the file for the record, never run
    return Rule(
        id=spec.id,
        title=spec.title or spec.id,
        condition=condition,
        code=code,
        priority=priority,
        suggestion_title=spec.then.title or (cspec.title if cspec else code),
        rationale=spec.then.rationale,
        evidence=tuple(spec.evidence),
        overrides=tuple(overrides),
        file=at.file,
        line=at.line,
        origin=at.origin,
        order=at.order,
        facts=tuple(facts_in(condition)),
        review=review,
        hash=rule_hash(raw) if isinstance(raw, dict) else "",
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


_STEM = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


def _pattern_well_formed(pattern: str, domain: Domain, codes: dict[str, CodeSpec]) -> bool:
    """An override pattern names a code that can exist: a known code or ``category.*`` (in an
    open code vocabulary: any dotted code, any ``prefix.*``)."""
    vocabulary = domain.codes
    if pattern.endswith(".*"):
        stem = pattern[:-2]
        if vocabulary.categories is not None:
            return stem in vocabulary.categories
        if vocabulary.open:
            return _STEM.match(stem) is not None
        return any(c.startswith(pattern[:-1]) for c in codes)
    return pattern in codes or (vocabulary.open and well_formed_code(pattern))

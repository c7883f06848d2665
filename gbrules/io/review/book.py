"""Build the rulebook review book: a static, self-contained HTML site for a governance group.

One folder of plain HTML files with the CSS inline (no server, no JavaScript, no network: it
opens from a file share and prints): an overview, a page per rule, a page per scenario with the
draft it produced, a coverage matrix, a thresholds table, the hazard log and, given the rulebook
last reviewed, what changed since. Pages are jinja2 templates in ``templates/`` beside this
module, autoescaped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from gbrules.clinical.engine import Engine
from gbrules.clinical.safety_case import HazardLog, default_hazard_log_path, load_hazard_log
from gbrules.core.errors import EngineError, IntakeError, RulebookError
from gbrules.core.plain import leaf_text, numbers, plain
from gbrules.core.review import RuleReview, book_status, review_states
from gbrules.core.rulebook import Rule, Rulebook
from gbrules.io.render import render_care_plan
from gbrules.io.review.links import Link, evidence_links
from gbrules.io.review.run import RunResult, ScenarioResult, run_scenarios

if TYPE_CHECKING:
    from gbrules.core.verify.prove import Report  # imports z3: only with the 'prove' extra


@dataclass(frozen=True)
class Threshold:
    rule_id: str
    fact: str
    text: str  # "PHQ-9 total is 20 or more"
    op: str
    value: float
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    kind: str  # added, removed, changed
    details: tuple[str, ...] = ()


@dataclass
class Since:
    old_label: str
    changes: list[RuleChange]
    thresholds_moved: list[str]
    population_text: str


@dataclass
class BookResult:
    out_dir: Path
    rules: int
    run: RunResult
    fired: set[str] = field(default_factory=set)
    asserted: set[str] = field(default_factory=set)
    codes: int = 0

    def summary(self) -> str:
        lines = [f"review book: {self.out_dir / 'index.html'}", f"  rules: {self.rules}"]
        if self.run.available:
            lines.append(
                f"  scenarios: {self.run.passed} passed, {self.run.failed} failed; "
                f"rules fired {len(self.fired)}/{self.rules}, codes asserted "
                f"{len(self.asserted)}/{self.codes}"
            )
        else:
            lines.append(f"  no scenario results: {self.run.reason}")
        return "\n".join(lines)


def thresholds(book: Rulebook) -> list[Threshold]:
    """Every number in the rulebook's conditions, with the rule and the evidence it cites."""
    vocabulary = book.domain.vocabulary
    return [
        Threshold(r.id, c.fact, leaf_text(c, vocabulary), c.op, float(c.value), r.evidence)
        for r in book.rules
        for c in numbers(r.condition)
    ]


def compare(old: Rulebook, new: Rulebook) -> tuple[list[RuleChange], list[str]]:
    """Rules added, removed or changed (what changed, in words) and thresholds moved."""
    vocab = new.domain.vocabulary
    old_by = {r.id: r for r in old.rules}
    new_by = {r.id: r for r in new.rules}
    changes: list[RuleChange] = []
    moved: list[str] = []
    for rid in new_by.keys() - old_by.keys():
        changes.append(RuleChange(rid, "added"))
    for rid in old_by.keys() - new_by.keys():
        changes.append(RuleChange(rid, "removed"))
    for rid in sorted(new_by.keys() & old_by.keys()):
        a, b = old_by[rid], new_by[rid]
        if a.hash == b.hash:
            continue
        details: list[str] = []
        if a.condition != b.condition:
            details.append(
                f"condition: was \u201c{plain(a.condition, vocab)}\u201d, now "
                f"\u201c{plain(b.condition, vocab)}\u201d"
            )
        for what, x, y in (
            ("code", a.code, b.code),
            ("priority", a.priority, b.priority),
            ("title", a.suggestion_title, b.suggestion_title),
            ("rationale", a.rationale, b.rationale),
            ("evidence", "; ".join(a.evidence), "; ".join(b.evidence)),
        ):
            if x != y:
                details.append(f"{what}: was \u201c{x}\u201d, now \u201c{y}\u201d")
        if a.overrides != b.overrides:
            details.append("overrides changed")
        changes.append(RuleChange(rid, "changed", tuple(details) or ("wording or layout",)))
        old_nums = {(c.fact, c.op): c.value for c in numbers(a.condition)}
        for c in numbers(b.condition):
            before = old_nums.get((c.fact, c.op))
            if before is not None and before != c.value:
                moved.append(f"{rid}: {c.fact} {c.op} {before} \u2192 {c.value}")
    changes.sort(key=lambda c: (c.kind, c.rule_id))
    return changes, moved


def _slug(rule_id: str) -> str:
    return rule_id.replace(".", "_")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gbrules.io.review", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["rule_slug"] = _slug
    env.globals["evidence_links"] = evidence_links
    return env


def _draft_html(
    book: Rulebook, s: ScenarioResult, when: datetime, engines: dict[tuple[str, ...], Engine]
) -> str | None:
    """The last draft the scenario produced, rendered as a clinician sees it (``engines``:
    one compiled engine per rulebook + site pack, shared by the scenarios of one build)."""
    if not s.evaluations:
        return None

    last = s.evaluations[-1]
    try:
        dirs = [*book.sources[:1], *(last.pack.split(",") if last.pack else [])]
        engine = engines.get(tuple(dirs))
        if engine is None:
            engine = engines[tuple(dirs)] = Engine.from_directory(*dirs)
        ev = engine.evaluate(last.intake)
    except (IntakeError, RulebookError, EngineError) as exc:
        return f"<p>The draft cannot be shown: {type(exc).__name__}: {exc}</p>"
    return render_care_plan(ev, "html", generated_at=when)


def build_book(
    book: Rulebook,
    out_dir: Path,
    *,
    rules_dir: Path | None = None,
    since: Rulebook | None = None,
    since_dir: Path | None = None,
    features: Path | None = None,
    population: int = 500,
    run: RunResult | None = None,
) -> BookResult:
    """Run the scenarios (unless ``run`` is given) and write the book into ``out_dir``.

    The book is written to a temporary folder beside ``out_dir`` and moved into place at the
    end, so an interrupted build never leaves a half book that looks complete.
    """
    when = datetime.now(UTC).replace(microsecond=0)
    directory = Path(rules_dir or book.sources[0])
    if run is None:
        run = run_scenarios(directory, features)
    own = {r.id for r in book.rules}
    fired = {r for s in run.scenarios for r in s.fired if r in own}  # not site-pack rules
    asserted = {c for s in run.scenarios for c in s.asserted}
    codes = sorted(book.codes)
    states = {s.rule_id: s for s in review_states(book)}
    by_rule: dict[str, list[ScenarioResult]] = {r.id: [] for r in book.rules}
    for s in run.scenarios:
        for rid in sorted(s.fired):
            by_rule.setdefault(rid, []).append(s)
    since_info = None
    if since is not None and since_dir is not None:
        from gbrules.tools.population import diff_rulebooks

        changes, moved = compare(since, book)
        try:
            pop = diff_rulebooks(since_dir, directory, population).text()
        except (RulebookError, EngineError) as exc:
            pop = f"population diff not available: {exc}"
        since_info = Since(since.version_label, changes, moved, pop)
    hazards = _hazards()
    proofs, proofs_note = _proofs(book)
    env = _environment()
    common = {
        "book": book,
        "generated": when.isoformat(),
        "run": run,
        "status": book_status(book),
    }
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    engines: dict[tuple[str, ...], Engine] = {}
    try:
        (tmp / "rules").mkdir()
        (tmp / "scenarios").mkdir()
        (tmp / "drafts").mkdir()

        def write(name: str, template: str, **context: object) -> None:
            html = env.get_template(template).render(**common, **context)
            (tmp / name).write_text(html, encoding="utf-8")

        vocab = book.domain.vocabulary
        state_counts: dict[str, int] = {}
        for st in states.values():
            state_counts[st.state] = state_counts.get(st.state, 0) + 1
        write(
            "index.html",
            "index.html.j2",
            root="",
            rules=book.rules,
            states=states,
            state_counts=state_counts,
            fired=fired,
            asserted=asserted,
            codes=codes,
            scenarios=run.scenarios,
            plain={r.id: plain(r.condition, vocab) for r in book.rules},
            per_rule={r.id: len(by_rule.get(r.id, [])) for r in book.rules},
            since=since_info,
        )
        for r in book.rules:
            write(
                f"rules/{_slug(r.id)}.html",
                "rule.html.j2",
                root="../",
                rule=r,
                state=states[r.id],
                plain_text=plain(r.condition, vocab),
                numbers=[leaf_text(c, vocab) for c in numbers(r.condition)],
                scenarios=by_rule.get(r.id, []),
            )
        for s in run.scenarios:
            draft = _draft_html(book, s, when, engines)
            if draft is not None:
                (tmp / "drafts" / f"{s.slug}.html").write_text(draft, encoding="utf-8")
            write(
                f"scenarios/{s.slug}.html",
                "scenario.html.j2",
                root="../",
                s=s,
                has_draft=draft is not None,
                rule_ids={r.id for r in book.rules},
            )
        write("matrix.html", "matrix.html.j2", root="", rules=book.rules, scenarios=run.scenarios)
        write("thresholds.html", "thresholds.html.j2", root="", thresholds=thresholds(book))
        write(
            "hazards.html",
            "hazards.html.j2",
            root="",
            hazards=hazards,
            rule_ids={r.id for r in book.rules},
            scenarios=run.scenarios,
        )
        write("invariants.html", "invariants.html.j2", root="", proofs=proofs, note=proofs_note)
        if since_info is not None:
            write("changes.html", "changes.html.j2", root="", since=since_info)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        for engine in engines.values():
            engine.close()
    return BookResult(out_dir, len(book.rules), run, fired, asserted, len(codes))


def _proofs(book: Rulebook) -> tuple[Report | None, str]:
    """Each safety invariant's proof status for this rulebook (``gbrules rules prove``), or
    None with the reason when the solver is not installed (extra 'prove')."""
    try:
        from gbrules.clinical.proof import clinical_proof_domain
        from gbrules.core.verify.prove import prove
    except ImportError as exc:
        return (
            None,
            f"not checked: the solver is not installed ({exc}); pip install 'gbrules[prove]'",
        )
    report = prove(book, clinical_proof_domain())
    return report, f"checked in {report.seconds:.1f} s"


def _hazards() -> HazardLog | None:
    """The hazard log (docs/safety/hazards.yaml) when this is a source checkout, else None."""
    path = default_hazard_log_path()
    if not path.is_file():
        return None
    return load_hazard_log(path)


__all__ = [
    "BookResult",
    "Link",
    "Rule",
    "RuleReview",
    "build_book",
    "compare",
    "evidence_links",
    "thresholds",
]

"""A deterministic synthetic population of intakes, and the diff of two rulebooks over it.

``population(n, seed)`` is ``gbrules.tools.synthetic.synthetic_intakes``: deterministic in ``seed``,
every field may be absent (missing is not false), and numbers sit on the rulebook's
thresholds so a threshold change shows up in a modest population.

``diff_rulebooks(old, new, n, seed)`` evaluates the population under both rulebooks and reports
which codes appear, disappear or change priority, for how many intakes, with examples. A site
pack (a directory without ``rulebook.yaml``) is taken on top of the default rulebook, as it
runs, so ``diff_rulebooks(default_rules_dir(), "site-pack", ...)`` shows what a pack changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gbrules.tools.synthetic import synthetic_intakes


def population(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` synthetic intakes (``gbrules.tools.synthetic``); same ``n`` and ``seed``, same list."""
    # Every intake gets an id, so a diff report's examples can be found again.
    return [
        {**data, "patient_id": f"pop-{seed}-{i}"}
        for i, data in enumerate(synthetic_intakes(n, seed))
    ]


# ---------------------------------------------------------------- rulebook diff


@dataclass
class Change:
    """One code that behaves differently under the new rulebook."""

    code: str
    kind: str  # "appears" | "disappears" | "priority"
    detail: str = ""
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "detail": self.detail,
            "count": self.count,
            "examples": self.examples,
        }


@dataclass
class DiffReport:
    old: str
    new: str
    population: int
    seed: int
    changed_intakes: int
    changes: list[Change]

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "population": self.population,
            "seed": self.seed,
            "changed_intakes": self.changed_intakes,
            "changes": [c.as_dict() for c in self.changes],
        }

    def text(self) -> str:
        lines = [
            f"rulebook diff over {self.population} synthetic intakes (seed {self.seed})",
            f"  old: {self.old}",
            f"  new: {self.new}",
            f"{self.changed_intakes} intake(s) get a different plan",
        ]
        if not self.changes:
            lines.append("no code appears, disappears or changes priority")
        for c in self.changes:
            what = {"appears": "appears in", "disappears": "disappears from"}.get(
                c.kind, f"changes priority ({c.detail}) in"
            )
            lines.append("")
            lines.append(f"{c.code} {what} {c.count} intake(s); for example:")
            for ex in c.examples:
                lines.append("  " + json.dumps(ex, sort_keys=True, separators=(",", ":")))
        return "\n".join(lines) + "\n"


EXAMPLES_PER_CHANGE = 3


def diff_rulebooks(old_dir: str | Path, new_dir: str | Path, n: int, seed: int = 0) -> DiffReport:
    """Evaluate the same synthetic population under two rulebooks and compare the plans."""
    from gbrules.clinical.engine import Engine
    from gbrules.core.rulebook import MANIFEST

    def engine(directory: str | Path) -> Engine:
        d = Path(directory)
        is_pack = d.is_dir() and not (d / MANIFEST).is_file()
        return Engine.default(d) if is_pack else Engine.from_directory(d)

    old = engine(old_dir)
    new = engine(new_dir)
    changes: dict[tuple[str, str, str], Change] = {}
    changed = 0
    try:
        for data in population(n, seed):
            a = {s.code: s.priority for s in old.evaluate(data).suggestions}
            b = {s.code: s.priority for s in new.evaluate(data).suggestions}
            if a != b:
                changed += 1
            keys = [(c, "appears", "") for c in b if c not in a]
            keys += [(c, "disappears", "") for c in a if c not in b]
            keys += [(c, "priority", f"{a[c]} -> {b[c]}") for c in a if c in b and a[c] != b[c]]
            for key in keys:
                ch = changes.setdefault(key, Change(*key))
                ch.count += 1
                if len(ch.examples) < EXAMPLES_PER_CHANGE:
                    ch.examples.append(data)
    finally:
        old.close()
        new.close()
    ordered = sorted(changes.values(), key=lambda c: (-c.count, c.code, c.kind, c.detail))
    return DiffReport(
        old=f"{old_dir} ({old.version})",
        new=f"{new_dir} ({new.version})",
        population=n,
        seed=seed,
        changed_intakes=changed,
        changes=ordered,
    )

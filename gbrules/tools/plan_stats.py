"""How many active suggestions a draft carries: the alert-fatigue measure of a rulebook.

``plan_stats(engine, intakes)`` evaluates the intakes and reports the distribution of active
suggestions per plan (median, 90th percentile, maximum, a histogram) and how often each code is
active. ``gbrules rules stats`` prints it for the synthetic population
(``gbrules.tools.population``) and, with ``--examples``, for each bundled example, so a rule
change that makes every draft longer shows up before a clinician has to read it.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gbrules.core.engine import Engine


@dataclass(frozen=True)
class PlanStats:
    """Active suggestions per plan over a set of intakes, and each code's share of plans."""

    label: str
    plans: int
    histogram: Mapping[int, int]
    code_share: Mapping[str, float]
    per_plan: Mapping[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> list[int]:
        return sorted(n for n, times in self.histogram.items() for _ in range(times))

    @property
    def median(self) -> float:
        return float(statistics.median(self.counts)) if self.plans else 0.0

    @property
    def p90(self) -> int:
        counts = self.counts
        return counts[min(len(counts) - 1, int(0.9 * len(counts)))] if counts else 0

    @property
    def maximum(self) -> int:
        return max(self.histogram, default=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "plans": self.plans,
            "median": self.median,
            "p90": self.p90,
            "max": self.maximum,
            "histogram": {str(k): v for k, v in sorted(self.histogram.items())},
            "code_share": dict(sorted(self.code_share.items())),
            "per_plan": dict(self.per_plan),
        }

    def text(self, top: int = 12) -> str:
        lines = [
            f"{self.label}: {self.plans} plans; active suggestions per plan: median "
            f"{self.median:g}, p90 {self.p90}, max {self.maximum}",
        ]
        if self.per_plan:
            lines += [f"  {name}: {n} items" for name, n in self.per_plan.items()]
        else:
            hist = ", ".join(f"{k}:{v}" for k, v in sorted(self.histogram.items()))
            lines.append(f"  histogram (items:plans): {hist}")
            shares = sorted(self.code_share.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            lines.append("  most frequent codes: " + ", ".join(f"{c} {s:.0%}" for c, s in shares))
        return "\n".join(lines) + "\n"


def plan_stats(
    engine: Engine, intakes: Iterable[Mapping[str, Any]], label: str, *, named: bool = False
) -> PlanStats:
    """Evaluate ``intakes`` and count active suggestions per plan.

    ``named``: keep each plan's count under its ``patient_id`` (for a handful of examples).
    """
    histogram: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    per_plan: dict[str, int] = {}
    plans = 0
    for data in intakes:
        ev = engine.evaluate(dict(data))
        n = len(ev.suggestions)
        histogram[n] += 1
        codes.update(ev.codes)
        plans += 1
        if named:
            per_plan[str(data.get("patient_id") or plans)] = n
    share = {c: k / plans for c, k in codes.items()} if plans else {}
    return PlanStats(label, plans, dict(histogram), share, per_plan)

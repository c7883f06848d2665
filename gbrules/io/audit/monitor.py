"""Monitoring after go-live: each rule's firing, override and acceptance rates week by week.

A rule that starts firing twice as often after an EHR upgrade (a code mapping changed), or whose
cards are suddenly overridden, is a safety signal that nobody sees in a per-request log. This
module reads the audit trail (never patient data: it holds none), groups it by ISO week, flags
week-over-week moves beyond a band, and writes a static HTML report with plots (matplotlib,
rendered to inline SVG, so the report is one file that opens from a share with no server).

Rates are per rule: *firing rate* = requests in which the rule fired / requests that week;
*override rate* and *acceptance rate* = the share of that rule's cards whose latest feedback is
overridden or accepted. A move is flagged only when both weeks have at least ``min_requests``
requests (or ``min_cards`` answered cards), so a quiet week does not raise false alarms.
"""

from __future__ import annotations

import html
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, and_, select

from gbrules.io.audit import schema
from gbrules.io.audit.report import latest_feedback

Metric = Literal["firing_rate", "override_rate", "acceptance_rate"]
METRICS: tuple[Metric, ...] = ("firing_rate", "override_rate", "acceptance_rate")


def week_of(moment: datetime) -> date:
    """The Monday that starts the ISO week of ``moment``: the report's unit of time."""
    day = moment.date()
    return day - timedelta(days=day.weekday())


@dataclass
class RuleWeek:
    """One rule in one week: raw counts, from which every rate is derived."""

    fired: int = 0
    cards: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def answered(self) -> int:
        return self.accepted + self.overridden

    def rate(self, metric: Metric, requests: int) -> float | None:
        if metric == "firing_rate":
            return self.fired / requests if requests else None
        if not self.answered:
            return None
        return (self.overridden if metric == "override_rate" else self.accepted) / self.answered


@dataclass(frozen=True)
class Drift:
    """A week-over-week move of one rate beyond the band."""

    rule_id: str
    metric: Metric
    week: date
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before

    def text(self) -> str:
        name = self.metric.replace("_", " ")
        return (
            f"{self.rule_id}: {name} {self.before:.0%} -> {self.after:.0%} "
            f"in the week of {self.week.isoformat()}"
        )


@dataclass
class Monitoring:
    """Every week's requests and every rule's counts, plus the drifts found in them."""

    weeks: list[date]
    requests: dict[date, int]
    rules: dict[str, dict[date, RuleWeek]]
    band: float
    drifts: list[Drift]

    def series(self, rule_id: str, metric: Metric) -> list[float | None]:
        by_week = self.rules.get(rule_id, {})
        return [
            by_week[w].rate(metric, self.requests.get(w, 0)) if w in by_week else None
            for w in self.weeks
        ]


def collect(
    conn: Connection,
    since: datetime | None = None,
    *,
    band: float = 0.2,
    min_requests: int = 20,
    min_cards: int = 10,
) -> Monitoring:
    """Read the trail (requests, cards, latest feedback) and find the drifts.

    ``band`` is an absolute change in a rate (0.2 = 20 percentage points) between two
    consecutive weeks that have data.
    """
    r, c = schema.requests_table, schema.cards_table
    window = [] if since is None else [r.c.time >= since]
    requests: Counter[date] = Counter()
    rules: dict[str, dict[date, RuleWeek]] = defaultdict(dict)

    def cell(rule_id: str, week: date) -> RuleWeek:
        return rules[rule_id].setdefault(week, RuleWeek())

    for moment, fired in conn.execute(select(r.c.time, r.c.fired_rules).where(*window)):
        week = week_of(moment)
        requests[week] += 1
        for rule_id in set(json.loads(fired)):
            cell(rule_id, week).fired += 1

    latest = latest_feedback()
    joined = c.join(r, c.c.request_id == r.c.id).outerjoin(
        latest, and_(latest.c.card_uuid == c.c.uuid, latest.c.rank == 1)
    )
    rows = conn.execute(
        select(r.c.time, c.c.rule_id, latest.c.outcome, latest.c.override_reasons)
        .select_from(joined)
        .where(*window)
    )
    for moment, rule_id, outcome, reasons in rows:
        entry = cell(rule_id, week_of(moment))
        entry.cards += 1
        if outcome == "accepted":
            entry.accepted += 1
        elif outcome == "overridden":
            entry.overridden += 1
            entry.reasons.update(json.loads(reasons))

    weeks = _all_weeks(requests)
    result = Monitoring(weeks, dict(requests), dict(rules), band, [])
    result.drifts = list(_drifts(result, min_requests=min_requests, min_cards=min_cards))
    return result


def _all_weeks(requests: Counter[date]) -> list[date]:
    """Every week from the first to the last with data, quiet weeks included (plots show gaps)."""
    if not requests:
        return []
    first, last = min(requests), max(requests)
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _drifts(m: Monitoring, *, min_requests: int, min_cards: int) -> Iterable[Drift]:
    for rule_id in sorted(m.rules):
        by_week = m.rules[rule_id]
        for metric in METRICS:
            previous: tuple[date, float] | None = None
            for week in m.weeks:
                entry = by_week.get(week, RuleWeek())
                enough = (
                    m.requests.get(week, 0) >= min_requests
                    if metric == "firing_rate"
                    else entry.answered >= min_cards
                )
                value = entry.rate(metric, m.requests.get(week, 0))
                if not enough or value is None:
                    continue
                if previous is not None and abs(value - previous[1]) > m.band:
                    yield Drift(rule_id, metric, week, previous[1], value)
                previous = (week, value)


# ---------------------------------------------------------------------------- the HTML report


def _plot(m: Monitoring, rule_id: str) -> str:
    """Three rates of one rule over the weeks, as an inline SVG string."""
    from gbrules.io.extras import require

    require("monitor", "the monitoring report's plots")
    import matplotlib

    matplotlib.use("Agg")  # no display: the report is written by a server or a cron job
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=100)
    try:
        weeks = list(range(len(m.weeks)))  # one slot a week; quiet weeks are gaps (NaN)
        for metric, style in zip(METRICS, ("-o", "--s", ":^"), strict=True):
            values = [float("nan") if v is None else v * 100 for v in m.series(rule_id, metric)]
            ax.plot(weeks, values, style, label=metric.replace("_", " "), markersize=4)
        for d in m.drifts:
            if d.rule_id == rule_id:
                ax.axvline(m.weeks.index(d.week), color="#b00020", linewidth=1, alpha=0.6)
        ax.set_xticks(weeks, labels=[w.isoformat() for w in m.weeks])
        ax.set_ylim(-2, 102)
        ax.set_ylabel("%")
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})  # reproducible output
    finally:
        plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog: the SVG sits inside HTML


def render_html(m: Monitoring, *, title: str = "gbrules monitoring") -> str:
    """The whole report as one self-contained HTML page (plots inline, no scripts)."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
        ".drift{color:#b00020}section{margin:2rem 0}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    if not m.weeks:
        parts.append("<p>The audit trail holds no requests in this period.</p></body></html>")
        return "".join(parts)
    parts.append(
        f"<p>{sum(m.requests.values())} requests from the week of {m.weeks[0].isoformat()} to "
        f"the week of {m.weeks[-1].isoformat()}; drift band {m.band:.0%} (absolute change "
        "between consecutive weeks with enough data).</p>"
    )
    parts.append(f"<h2 id='drift'>Drift ({len(m.drifts)})</h2>")
    if m.drifts:
        parts.append("<ul>")
        parts += [f"<li class='drift'>{e(d.text())}</li>" for d in m.drifts]
        parts.append("</ul>")
    else:
        parts.append("<p>No rate moved beyond the band.</p>")
    parts.append("<h2>Rules</h2><table><tr><th>rule</th><th>fired</th><th>cards</th>")
    parts.append("<th>accepted</th><th>overridden</th><th>top override reasons</th></tr>")
    for rule_id in sorted(m.rules):
        weeks = m.rules[rule_id].values()
        reasons: Counter[str] = Counter()
        for w in weeks:
            reasons.update(w.reasons)
        top = ", ".join(f"{e(k)} ({n})" for k, n in reasons.most_common(3))
        parts.append(
            f"<tr><td><a href='#{e(rule_id)}'>{e(rule_id)}</a></td>"
            f"<td>{sum(w.fired for w in weeks)}</td><td>{sum(w.cards for w in weeks)}</td>"
            f"<td>{sum(w.accepted for w in weeks)}</td>"
            f"<td>{sum(w.overridden for w in weeks)}</td><td>{top}</td></tr>"
        )
    parts.append("</table>")
    for rule_id in sorted(m.rules):
        parts.append(f"<section id='{e(rule_id)}'><h3>{e(rule_id)}</h3>")
        parts.append(_plot(m, rule_id))
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(m: Monitoring, path: Path) -> Path:
    """Write the report atomically and durably (gbrules.io.files): a reader never sees half a
    file, a crash leaves the previous report."""
    from gbrules.io.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(m).encode("utf-8")
    atomic_write(path, lambda f: f.write(html))
    return path

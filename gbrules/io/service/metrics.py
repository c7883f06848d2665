"""``/metrics``: what an operations team watches, in the Prometheus text format.

Each app has its own registry (``prometheus-client``), so tests and several apps in one
process never mix their numbers; with ``gbrules serve --workers N`` each worker process counts
its own requests (docs/SECURITY.md: scrape each instance). No label holds patient data: labels
are endpoints, statuses, service ids, suggestion codes, rule ids and categories, all bounded by
the routes and the rulebook.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gbrules.core.result import Evaluation

if TYPE_CHECKING:
    from gbrules.io.audit import AuditLog

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class AuditCollector(Collector):
    """The audit writer's counters, read at scrape time (``AuditLog.stats``)."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def collect(self) -> Iterable[Metric]:
        s = self.audit.stats()
        yield GaugeMetricFamily(
            "gbrules_audit_queue_depth",
            "Audit records waiting for the writer thread",
            value=s["queued"],
        )
        yield CounterMetricFamily(
            "gbrules_audit_write_failures",
            "Audit writes that failed (the answer was served; the record is lost)",
            value=s["failures"],
        )
        yield CounterMetricFamily(
            "gbrules_audit_dropped",
            "Audit records dropped because the writer queue was full",
            value=s["dropped"],
        )
        recorded = CounterMetricFamily(
            "gbrules_audit_records", "Audit records stored, by kind", labels=["kind"]
        )
        for kind in ("requests", "cards", "feedback"):
            recorded.add_metric([kind], s[f"{kind}_recorded"])
        yield recorded


class ServiceMetrics:
    def __init__(self, audit: AuditLog | None = None) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "gbrules_http_requests",
            "HTTP requests answered, by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "gbrules_http_request_duration_seconds",
            "Time from request to the end of the response, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.evaluations = Counter(
            "gbrules_evaluations",
            "CDS service calls by outcome: answered, invalid (4xx), busy, over_budget",
            ["service", "outcome"],
            registry=r,
        )
        # Per rule (a bounded label set: the rulebook's rule ids), so a rule whose firing rate
        # drifts after go-live shows on the site's dashboard before the weekly audit report.
        self.rules_fired = Counter(
            "gbrules_rule_fired",
            "Rules fired in answered CDS calls, by rule id",
            ["rule_id"],
            registry=r,
        )
        self.in_flight = Gauge(
            "gbrules_evaluations_in_flight",
            "Evaluations running now (including ones past their time budget)",
            registry=r,
        )
        self.cards = Counter(
            "gbrules_cards",
            "Cards served, by service, card kind (a suggestion category or draft_order) and "
            "indicator",
            ["service", "kind", "indicator"],
            registry=r,
        )
        self.suggestions = Counter(
            "gbrules_suggestions",
            "Active suggestions in the answers, by code and priority",
            ["code", "priority"],
            registry=r,
        )
        self.suppressions = Counter(
            "gbrules_suppressions",
            "Codes an override deferred or suppressed, by the overriding rule",
            ["rule", "code", "action"],
            registry=r,
        )
        self.incomplete = Counter(
            "gbrules_incomplete_data_answers",
            "Answers that carried a 'Draft incomplete' card, by reason: not_recorded (a key "
            "input), not_sent, failed, truncated (a prefetch key), fetch_incomplete",
            ["service", "reason"],
            registry=r,
        )
        self.order_warnings = Counter(
            "gbrules_order_warnings",
            "order-select warnings on draft orders, by order class",
            ["order_class"],
            registry=r,
        )
        self.rejections = Counter(
            "gbrules_limit_rejections",
            "Requests refused by a limit: concurrency, time_budget, rate, body_size",
            ["limit"],
            registry=r,
        )
        self.feedback = Counter(
            "gbrules_feedback",
            "Card feedback items, by outcome",
            ["service", "outcome"],
            registry=r,
        )
        if audit is not None:
            r.register(AuditCollector(audit))

    def count_answer(
        self,
        service: str,
        ev: Evaluation,
        cards: list[tuple[str, str]],
        incomplete: Iterable[str] = (),
    ) -> None:
        """One answered call: ``cards`` are (kind, indicator) pairs, ``incomplete`` the reasons
        of its "Draft incomplete" card (``Completeness.reasons``)."""
        self.evaluations.labels(service, "answered").inc()
        for kind, indicator in cards:
            self.cards.labels(service, kind, indicator).inc()
        for rule_id in ev.fired_rules:
            self.rules_fired.labels(rule_id).inc()
        for s in ev.suggestions:
            self.suggestions.labels(s.code, s.priority).inc()
        for x in ev.suppressed:
            self.suppressions.labels(x.by_rule, x.code, x.action).inc()
        for reason in sorted(set(incomplete)):
            self.incomplete.labels(service, reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Is the draft built on everything it needs? Where each prefetch key's data came from, what
was missing or cut short, and which key inputs the evaluation lacks, with the reason for each.

A CDS Hooks answer with no card looks exactly like "nothing to worry about". So whenever a key
input (``gbrules.clinical.completeness``) is not recorded, or a source of data failed, was cut
short or was never sent, the service adds an ``info`` card "Draft incomplete: ..." that names
what is missing and why (``cards.incomplete_card``), and the CarePlan carries the same lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from gbrules.clinical.completeness import MissingInput, missing_key_inputs
from gbrules.core.result import Evaluation
from gbrules.io.fhir.prefetch import QUERIES_BY_KEY, PrefetchState, PrefetchStatus


class SourceProblem(StrEnum):
    """Why a source's data may be incomplete (also the metrics' ``reason`` label)."""

    NOT_SENT = "not_sent"
    FAILED = "failed"
    TRUNCATED = "truncated"
    FETCH_INCOMPLETE = "fetch_incomplete"


@dataclass(frozen=True)
class SourceReport:
    """Where one prefetch key's data came from. ``problem`` is None when the source holds
    everything the EHR has (which may be nothing)."""

    key: str
    label: str
    how: str
    detail: str
    problem: SourceProblem | None = None


@dataclass(frozen=True)
class Completeness:
    """The completeness of one call's draft."""

    missing: tuple[MissingInput, ...]
    sources: tuple[SourceReport, ...]
    warnings: tuple[str, ...] = ()

    @property
    def problems(self) -> tuple[SourceReport, ...]:
        return tuple(s for s in self.sources if s.problem is not None)

    @property
    def incomplete(self) -> bool:
        return bool(self.missing or self.problems)

    def reasons(self) -> set[str]:
        """Bounded labels for the metrics: ``not_recorded`` and the source problems."""
        out = {p.problem.value for p in self.problems if p.problem is not None}
        if self.missing:
            out.add("not_recorded")
        return out

    def why_missing(self, m: MissingInput) -> str:
        """Why an input is missing: the sources that could hold it and failed, else 'not in
        the record' (every source that could hold it answered in full)."""
        bad = [
            s
            for s in self.problems
            if s.key in QUERIES_BY_KEY and m.input.name in QUERIES_BY_KEY[s.key].supplies
        ]
        why = [f"{s.label}: {s.detail}" for s in bad]
        if m.stale_since is not None:
            why.insert(0, f"the last one, of {m.stale_since}, is too old to use")
        return "; ".join(why) if why else "none in the record that was read"

    def summary(self) -> str:
        """One line (the card's summary, before shortening)."""
        parts = []
        if self.missing:
            parts.append(", ".join(_short(m) for m in self.missing) + " not recorded")
        if self.problems:
            n = len(self.problems)
            parts.append(f"{n} data source{'s' if n > 1 else ''} failed or incomplete")
        return "Draft incomplete: " + "; ".join(parts)

    def lines(self) -> list[str]:
        """Plain lines, one per missing input and per problem source (CarePlan notes)."""
        out = [f"{m}: {self.why_missing(m)} ({m.input.why})." for m in self.missing]
        # e.g. "CRP not recorded: not in the record that was read (a raised CRP asks ...)."
        out += [f"{s.label} ({s.key}): {s.detail}." for s in self.problems]
        return out


def _short(m: MissingInput) -> str:
    if m.input.name == "phq9" and m.facts == ("phq9_item9",):
        return "PHQ-9 item 9"
    return {"alarm_features": "alarm features", "probiotic_cautions": "probiotic cautions"}.get(
        m.input.name, m.input.label
    )


def assess(
    ev: Evaluation,
    states: Mapping[str, PrefetchState],
    fetched: Mapping[str, SourceReport],
    not_fetched_because: str | None,
    warnings: Iterable[str] = (),
) -> Completeness:
    """The completeness of a draft: ``states`` as the EHR sent each prefetch key, ``fetched``
    the reports of keys the service fetched itself, ``not_fetched_because`` why the keys that
    needed it were not fetched (no token, server not allowed...)."""
    sources = []
    for key, query in QUERIES_BY_KEY.items():
        if key in fetched:
            sources.append(fetched[key])
            continue
        st = states[key]
        label = query.search.label
        if st.usable:
            how = "prefetch" if st.status is PrefetchStatus.PROVIDED else "prefetch (none)"
            sources.append(SourceReport(key, label, how, st.detail))
            continue
        problem = {
            PrefetchStatus.ABSENT: SourceProblem.NOT_SENT,
            PrefetchStatus.FAILED: SourceProblem.FAILED,
            PrefetchStatus.TRUNCATED: SourceProblem.TRUNCATED,
        }[st.status]
        detail = st.detail + (
            f"; not fetched: {not_fetched_because}" if not_fetched_because else ""
        )
        sources.append(SourceReport(key, label, "prefetch", detail, problem))
    return Completeness(missing_key_inputs(ev), tuple(sources), tuple(warnings))

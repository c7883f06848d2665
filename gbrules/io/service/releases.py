"""Which rulebook the service runs: the active release, a candidate in shadow, the previous
one to roll back to, and the live kill switch. Swapped under a lock, without a restart.

The candidate is evaluated on every request beside the active release; only the difference of
the two plans (codes) goes to the audit trail, nothing of it into a card. ``promote`` makes
the candidate active (the old active kept for ``rollback``); ``rollback`` puts the previous
release back. Each change is recorded in the audit trail by the admin route that calls it.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from gbrules.clinical.engine import Engine
from gbrules.clinical.site import is_locked


class SlotError(ValueError):
    """A promote, rollback or kill switch that cannot be done (the reason says why)."""


@dataclass(frozen=True)
class Slot:
    """One loaded rulebook: what the operator calls it (the release version) and its engine."""

    label: str
    engine: Engine


def load_release(bundle: Path, keyring: Path) -> Slot:
    """A verified, twice-approved release compiled into an engine; ``ReleaseError`` if not.

    The bundle's hashes and signatures are checked before any rule is read: a tampered or
    unapproved release never runs, not even in shadow."""
    from gbrules.io.release import extract_active_rules, load_keyring

    with tempfile.TemporaryDirectory(prefix="gbrules-release-") as tmp:
        version, rules = extract_active_rules(bundle, load_keyring(keyring), Path(tmp))
        engine = Engine.from_directory(rules)
    return Slot(version, engine)


@dataclass
class Releases:
    """The service's rulebooks (see the module docstring). Reads are lock-free snapshots."""

    active: Slot
    candidate: Slot | None = None
    previous: Slot | None = None
    rules_off: frozenset[str] = frozenset()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def promote(self) -> tuple[str, str]:
        """The candidate becomes active; returns (old active, new active)."""
        with self._lock:
            if self.candidate is None:
                raise SlotError("no candidate release is running in shadow")
            self.previous, self.active, self.candidate = self.active, self.candidate, None
            return self.previous.label, self.active.label

    def rollback(self) -> tuple[str, str]:
        """The previous release becomes active again; the rolled-back one returns to shadow
        (so its differences stay visible until it is fixed). Returns (old, new active)."""
        with self._lock:
            if self.previous is None:
                raise SlotError("there is no previous release to roll back to")
            self.candidate, self.active, self.previous = self.active, self.previous, None
            return self.candidate.label, self.active.label

    def check_rule(self, rule_id: str) -> None:
        """Why the kill switch cannot take this rule (``SlotError``), checked before the
        change is recorded."""
        if is_locked(rule_id):
            raise SlotError(f"{rule_id} is locked: safety rules can never be switched off")
        if all(r.id != rule_id for r in self.active.engine.rulebook.rules):
            raise SlotError(f"no rule {rule_id!r} in the active release")

    def switch_rule(self, rule_id: str, *, off: bool) -> None:
        """The kill switch: the rule's suggestions stop (or resume) being drafted at once."""
        self.check_rule(rule_id)
        with self._lock:
            self.rules_off = self.rules_off | {rule_id} if off else self.rules_off - {rule_id}

    def status(self) -> dict[str, object]:
        return {
            "active": self.active.label,
            "candidate": self.candidate.label if self.candidate else None,
            "previous": self.previous.label if self.previous else None,
            "rules_off": sorted(self.rules_off),
        }

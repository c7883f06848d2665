"""Governance state of each rule: is what runs what a clinical governance group signed?

A rule's ``review:`` (or its file's) records ``status``, who approved it, when, when it is next
due, and ``approved_hash``: the :func:`gbrules.core.rulebook.rule_hash` of the rule as approved.
From that, each rule is in exactly one state:

* ``draft``: never approved (the bundled rulebook ships like this);
* ``stale``: approved, but the rule was edited since (its hash differs from ``approved_hash``),
  or approved without a hash (nothing proves what was signed);
* ``overdue``: approved and unchanged, but ``next_review`` has passed;
* ``approved``: approved, unchanged and not overdue.

``draft`` and ``stale`` rules are *unapproved*: ``--require-approved`` refuses to run them.
An overdue rule still runs (refusing it would switch safety rules off on a date) and is
reported by ``rules lint --governance`` and ``gbrules review status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from gbrules.core.rulebook import Rule, Rulebook

State = Literal["draft", "stale", "overdue", "approved"]
REQUIRE_APPROVED_ENV = "GBRULES_REQUIRE_APPROVED"


@dataclass(frozen=True)
class RuleReview:
    """One rule's governance state, with the sentence a reviewer reads."""

    rule_id: str
    file: str
    line: int
    state: State
    message: str


def state_of(rule: Rule, today: date | None = None) -> RuleReview:
    """The governance state of one rule on ``today`` (default: the current date)."""
    review = rule.review
    day = today or date.today()

    def out(state: State, message: str) -> RuleReview:
        return RuleReview(rule.id, rule.file, rule.line, state, message)

    if review.status != "approved":
        return out("draft", "not approved by a governance group (review status: draft)")
    if review.approved_hash != rule.hash:
        was = review.approved_hash or "none recorded"
        return out(
            "stale",
            f"approved as {was}, but the rule now hashes to {rule.hash}: edited since approval",
        )
    if review.next_review is not None and review.next_review < day:
        return out("overdue", f"review was due on {review.next_review.isoformat()}")
    by = ", ".join(review.approved_by) or "unknown"
    on = review.approved_on.isoformat() if review.approved_on else "an unrecorded date"
    return out("approved", f"approved by {by} on {on}")


def review_states(book: Rulebook, today: date | None = None) -> list[RuleReview]:
    return [state_of(r, today) for r in book.rules]


def unapproved(book: Rulebook) -> list[RuleReview]:
    """Rules that must not run where approval is required: draft and stale ones."""
    return [s for s in review_states(book) if s.state in ("draft", "stale")]


def book_status(book: Rulebook) -> Literal["draft", "approved"]:
    """``approved`` only when every rule is approved (overdue counts: it was signed)."""
    return "draft" if unapproved(book) else "approved"


def require_approved(book: Rulebook) -> None:
    """Raise ``UnapprovedRulebookError`` naming every draft or stale rule."""
    bad = unapproved(book)
    if bad:
        raise UnapprovedRulebookError(bad)


class UnapprovedRulebookError(Exception):
    """The rulebook has rules no governance group approved (or edited since approval)."""

    def __init__(self, rules: list[RuleReview]) -> None:
        self.rules = rules
        names = ", ".join(f"{r.rule_id} ({r.state})" for r in rules[:20])
        more = f" and {len(rules) - 20} more" if len(rules) > 20 else ""
        super().__init__(
            f"approval required, but {len(rules)} rule(s) are not approved: {names}{more}"
        )


# version label -> governance status of every rulebook an Engine was built from in this process.
# A label includes the content hash of the rule files (review metadata too), so the status is a
# function of the label: the renderer can say "draft" in a draft's footer from the Evaluation's
# rulebook_version alone, without a field in the Evaluation contract.
_STATUS_BY_LABEL: dict[str, Literal["draft", "approved"]] = {}


def register(book: Rulebook) -> None:
    """Remember ``book``'s status under its version label (called by Engine)."""
    if len(_STATUS_BY_LABEL) > 1000:  # a long-running service reloading rule packs
        _STATUS_BY_LABEL.clear()
    _STATUS_BY_LABEL[book.version_label] = book_status(book)


def status_of_label(label: str) -> Literal["draft", "approved"] | None:
    """The status of the rulebook with this version label, if this process built it."""
    return _STATUS_BY_LABEL.get(label)

"""The workbench's shared state: the engine, audit trail, sessions and templates the routes use.

``Workbench`` holds them; ``Current`` is a session's draft as it stands (the checked form, the
evaluation, the view); ``AuditRun`` is the audit trail's record of the evaluation decisions
refer to. Routes live in ``routes`` (pages and actions) and ``smart`` (the EHR launch).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gbrules.clinical.engine import cached_engine
from gbrules.clinical.site import SiteConfig, evaluate_at_site
from gbrules.core.engine import Engine
from gbrules.core.result import Evaluation
from gbrules.io.app import draft as D
from gbrules.io.app import form as F
from gbrules.io.app.sessions import Session, SessionStore
from gbrules.io.app.settings import WorkbenchSettings

if TYPE_CHECKING:
    from gbrules.io.audit import AuditLog

log = logging.getLogger("gbrules.io.app")

INDICATOR = {"critical": "critical", "urgent": "warning", "routine": "info"}
AUDIT_HOOK = "workbench"


@dataclass
class AuditRun:
    """The audit trail's record of the evaluation the clinician is deciding on."""

    key: str
    hook_instance: str
    cards: dict[str, str]  # suggestion code -> card uuid


@dataclass(frozen=True)
class Drafting:
    """What the CDS Hooks service drafts with, so its workbench drafts the same way: the
    engine now answering (a release's active rules when releases are served, looked up on
    every draft so a promotion or a rollback reaches the workbench too), the site's
    configuration (its suppressions and own-service referrals), and the rules switched off by
    the kill switch."""

    engine: Callable[[], Engine]
    site: SiteConfig | None = None
    rules_off: Callable[[], Iterable[str]] = tuple


@dataclass(frozen=True)
class Current:
    """The session's draft as it stands: the checked form, the evaluation, the view."""

    checked: F.Checked
    ev: Evaluation | None
    view: D.DraftView


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gbrules.io.app", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["isinstance"] = isinstance
    env.globals["Field"] = F.Field
    env.globals["Group"] = F.Group
    env.globals["Instrument"] = F.Instrument
    env.globals["input_id"] = F.input_id
    return env


def _evaluation_key(ev: Evaluation) -> str:
    """Which evaluation decisions refer to: rulebook, codes and their bases (hashed)."""
    basis = [ev.rulebook_version, *(f"{s.code}\0{s.rationale}" for s in ev.suggestions)]
    return hashlib.sha256("\n".join(basis).encode()).hexdigest()


class Workbench:
    """The routes' shared state: the engine, the audit trail, sessions and templates."""

    def __init__(
        self,
        engine: Engine | None,
        audit: AuditLog | None,
        settings: WorkbenchSettings,
        drafting: Drafting | None = None,
    ) -> None:
        self._engine = engine
        self.audit = audit
        self.settings = settings
        self.drafting = drafting
        self.store = SessionStore(settings.idle_timeout_s, max_sessions=settings.max_sessions)
        self.env = _environment()
        self.form = F.intake_form()
        self.sections = F.sections(self.form)
        self.names = frozenset(self._input_names())

    @property
    def engine(self) -> Engine:
        if self.drafting is not None:
            return self.drafting.engine()
        return self._engine if self._engine is not None else cached_engine()

    def today(self) -> date:
        return self.settings.today() if self.settings.today else datetime.now(UTC).date()

    def _input_names(self) -> list[str]:
        out = []
        for node in self.form.walk():
            if isinstance(node, F.Field) and node.kind != "const":
                out.append(node.path)
            elif isinstance(node, F.Instrument):
                out += [node.item_path(i) for i in range(node.count)]
                out += [f.path for f in (node.total, *node.others) if f and f.kind != "const"]
        return out

    # --- sessions ----------------------------------------------------------------------------

    def session_of(self, request: Request) -> Session | None:
        return self.store.get(request.cookies.get(self.settings.cookie_name))

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        secure = self.settings.secure_cookies
        if secure is None:
            secure = request.url.scheme == "https"
        response.set_cookie(
            self.settings.cookie_name,
            session.id,
            path=base_of(request),
            httponly=True,
            secure=secure,
            samesite="lax",
        )

    # --- the draft ---------------------------------------------------------------------------

    def current(self, ws: D.Workspace) -> Current:
        checked = F.check(ws.values, self.form)
        engine = self.engine  # one engine for the draft and its view, even mid-promotion
        ev = None
        if checked.intake is not None:
            drafting = self.drafting
            ev = evaluate_at_site(
                engine,
                checked.intake,
                site=drafting.site if drafting is not None else None,
                rules_off=drafting.rules_off() if drafting is not None else (),
            )
        return Current(checked, ev, D.build_view(engine, ev, ws, checked.errors))

    def render(self, name: str, request: Request, session: Session, **extra: Any) -> str:
        """A template with the session's draft (``cur``: an already computed draft)."""
        ws = session.workspace
        cur: Current = extra.pop("cur", None) or self.current(ws)
        errors: dict[str, list[str]] = {}
        for e in F.place_errors(cur.checked.errors, self.form):
            errors.setdefault(e.target, []).append(e.text)
        shown_sources = {
            path: source
            for path, (value, source) in ws.sources.items()
            if ws.values.get(path) == value
        }
        return str(
            self.env.get_template(name).render(
                base=base_of(request),
                csrf=session.csrf,
                idle_seconds=int(self.settings.idle_timeout_s),
                sections=self.sections,
                values=ws.values,
                sources=shown_sources,
                errors=errors,
                view=cur.view,
                ws=ws,
                reasons=D.decline_reasons(),
                item_errors=extra.pop("item_errors", {}),
                launch_notes=list(getattr(session.smart, "notes", []) or []),
                **extra,
            )
        )

    def fragments(self, request: Request, session: Session, **extra: Any) -> dict[str, Any]:
        cur = self.current(session.workspace)
        placed = F.place_errors(cur.checked.errors, self.form)
        return {
            "crisis": self.render("_crisis.html.j2", request, session, cur=cur, **extra),
            "draft": self.render("_draft.html.j2", request, session, cur=cur, **extra),
            "errors": [{"target": e.target, "text": e.text} for e in placed],
            "crisisActive": cur.view.crisis,
        }

    # --- audit -------------------------------------------------------------------------------

    async def audit_decision(
        self, session: Session, ev: Evaluation, code: str, decision: D.Decision | None
    ) -> None:
        """The decision as CDS Hooks-style feedback on the suggestion's card. The evaluation
        is recorded (once) when the first decision on it is made; never the free text."""
        if self.audit is None or decision is None:
            return
        audit = self.audit
        key = _evaluation_key(ev)
        run: AuditRun | None = session.audit_run
        try:
            if run is None or run.key != key:
                from gbrules.io.audit import CardRecord

                run = AuditRun(key, str(uuid.uuid4()), {})
                records = []
                for s in ev.suggestions:
                    run.cards[s.code] = str(uuid.uuid4())
                    records.append(
                        CardRecord(run.cards[s.code], s.code, s.rule_id, INDICATOR[s.priority])  # type: ignore[arg-type]
                    )
                await run_in_threadpool(
                    audit.record_request, AUDIT_HOOK, run.hook_instance, AUDIT_HOOK, ev, records
                )
                session.audit_run = run
            outcome = "overridden" if decision.status == "declined" else "accepted"
            reasons = [decision.reason] if decision.reason else []
            await run_in_threadpool(audit.record_feedback, run.cards[code], outcome, [], reasons)
        except Exception as exc:  # the decision stands; the audit failure is logged by class
            log.error("workbench audit write failed: %s", type(exc).__name__)


def base_of(request: Request) -> str:
    """The app's own URL path, with a trailing slash (``/app/`` when mounted at /app)."""
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"

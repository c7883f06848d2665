"""The workbench's pages and actions (Starlette routes), and the factory that assembles them.

Every page works without JavaScript (forms post and the page comes back); with it
(``static/app.js``) the draft updates as the clinician types and decisions apply in place: the
same endpoints answer JSON fragments when asked with ``X-Workbench: fetch``.

Nothing about the patient goes in a URL, a page title or a log line: every action is a POST
with a CSRF token, state is found through the session cookie, and the log records event names
and counts only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gbrules.clinical.intake import parse_intake
from gbrules.core.engine import Engine, cached_engine
from gbrules.core.errors import IntakeError
from gbrules.core.result import Evaluation
from gbrules.io.app import draft as D
from gbrules.io.app import form as F
from gbrules.io.app.security import SecurityHeaders, csp, redact_access_log, style_hash
from gbrules.io.app.sessions import Session, SessionStore
from gbrules.io.app.settings import WorkbenchSettings

if TYPE_CHECKING:
    from gbrules.io.audit import AuditLog

log = logging.getLogger("gbrules.io.app")

MAX_JSON_UPLOAD = 256 * 1024
FETCH_HEADER = "x-workbench"
INDICATOR = {"critical": "critical", "urgent": "warning", "routine": "info"}
AUDIT_HOOK = "workbench"


@dataclass
class AuditRun:
    """The audit trail's record of the evaluation the clinician is deciding on."""

    key: str
    hook_instance: str
    cards: dict[str, str]  # suggestion code -> card uuid


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
        self, engine: Engine | None, audit: AuditLog | None, settings: WorkbenchSettings
    ) -> None:
        self._engine = engine
        self.audit = audit
        self.settings = settings
        self.store = SessionStore(settings.idle_timeout_s, max_sessions=settings.max_sessions)
        self.env = _environment()
        self.form = F.intake_form()
        self.sections = F.sections(self.form)
        self.names = frozenset(self._input_names())

    @property
    def engine(self) -> Engine:
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
        ev = self.engine.evaluate(checked.intake) if checked.intake is not None else None
        return Current(checked, ev, D.build_view(self.engine, ev, ws, checked.errors))

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


def _is_fetch(request: Request) -> bool:
    return request.headers.get(FETCH_HEADER) == "fetch"


def _same_origin(request: Request) -> bool:
    """Refuse a cross-site post before its CSRF token is even looked at: by the browser's
    ``Sec-Fetch-Site`` when it sends one, and by ``Origin`` when that names a site. (An
    ``Origin: null``, which browsers send under a no-referrer policy, says nothing either way;
    the CSRF token still decides.)"""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


Handler = Callable[[Request, Session, FormData], Awaitable[Response]]


def create_workbench(
    engine: Engine | None = None,
    *,
    audit: AuditLog | None = None,
    settings: WorkbenchSettings | None = None,
) -> Starlette:
    """The clinician's drafting workbench as an ASGI app, to mount at ``/app``.

    ``engine`` defaults to the bundled rulebook; ``audit`` records each decision as feedback
    (docs/AUDIT.md); ``settings`` (``WorkbenchSettings``) sets the idle timeout, cookies,
    framing and the SMART launch. See docs/APP.md.
    """
    settings = settings or WorkbenchSettings()
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    wb = Workbench(engine, audit, settings)
    redact_access_log()

    def ended(request: Request, message: str) -> Response:
        if _is_fetch(request):
            return JSONResponse({"ended": base_of(request) + "ended"}, status_code=401)
        return RedirectResponse(base_of(request) + "ended", status_code=303)

    def action(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A state-changing POST: same origin, live session, valid CSRF token."""

        async def endpoint(request: Request) -> Response:
            if not _same_origin(request):
                return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
            session = wb.session_of(request)
            if session is None:
                return ended(request, "session ended")
            form = await request.form(max_files=1, max_fields=500, max_part_size=MAX_JSON_UPLOAD)
            token = request.headers.get("x-csrf-token") or form.get("csrf")
            if not session.csrf_ok(token if isinstance(token, str) else None):
                return JSONResponse({"error": "invalid CSRF token"}, status_code=403)
            async with session.lock:
                return await handler(request, session, form)

        return endpoint

    def answer(request: Request, session: Session, anchor: str = "", **extra: Any) -> Response:
        if _is_fetch(request):
            body = wb.fragments(request, session, **extra)
            if anchor:
                body["focus"] = anchor
            return JSONResponse(body)
        return RedirectResponse(base_of(request) + (f"#{anchor}" if anchor else ""), 303)

    async def index(request: Request) -> Response:
        session = wb.session_of(request)
        fresh = session is None
        if session is None:
            session = wb.store.new()
        html = wb.render("index.html.j2", request, session)
        response = HTMLResponse(html)
        if fresh:
            wb.set_cookie(request, response, session)
        return response

    async def update_intake(request: Request, session: Session, form: FormData) -> Response:
        session.workspace.paste_errors = []  # they were about a paste the form now replaces
        session.workspace.values = {
            k: v.strip()
            for k, v in form.multi_items()
            if k in wb.names and isinstance(v, str) and v.strip()
        }
        return answer(request, session)

    async def load_json(request: Request, session: Session, form: FormData) -> Response:
        ws = session.workspace
        text = form.get("intake_json")
        upload = form.get("intake_file")
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(MAX_JSON_UPLOAD + 1)
            if len(raw) > MAX_JSON_UPLOAD:
                ws.paste_errors = [f"the file is larger than {MAX_JSON_UPLOAD // 1024} KiB"]
                return answer(request, session, "intake-json")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                ws.paste_errors = ["the file is not UTF-8 text"]
                return answer(request, session, "intake-json")
        if not isinstance(text, str) or not text.strip():
            ws.paste_errors = ["paste Intake JSON or choose a file"]
            return answer(request, session, "intake-json")
        values, data = F.values_from_json(text, wb.form)
        if data is None:
            ws.paste_errors = ["this is not a JSON object (Intake JSON is one object {...})"]
            return answer(request, session, "intake-json")
        ws.values = values
        ws.sources = {}
        # What the form cannot show (unknown keys, wrong shapes) is reported at the paste box.
        try:
            parse_intake(data)
            ws.paste_errors = []
        except IntakeError as exc:
            shown = {e.path for e in F.check(values, wb.form).errors}
            ws.paste_errors = [str(e) for e in exc.errors if e.path not in shown]
        return answer(request, session, "intake-form")

    async def decide(request: Request, session: Session, form: FormData) -> Response:
        code = str(form.get("code", ""))
        cur = wb.current(session.workspace)
        anchor = "s-" + "".join(c if c.isalnum() or c in "_-" else "-" for c in code)
        if cur.ev is None:
            return answer(request, session, item_errors={code: "the intake is not valid"})
        try:
            decision = D.decide(
                session.workspace,
                cur.ev,
                code,
                str(form.get("action", "")),
                wording=str(form.get("wording", "")),
                reason=str(form.get("reason", "")),
                comment=str(form.get("comment", "")),
            )
        except D.DecisionError as exc:
            return answer(request, session, anchor + "-status", item_errors={code: str(exc)})
        await wb.audit_decision(session, cur.ev, code, decision)
        log.info("workbench decision: %s", decision.status if decision else "undo")
        return answer(request, session, anchor + "-status")

    async def own_item(request: Request, session: Session, form: FormData) -> Response:
        ws = session.workspace
        remove = form.get("remove")
        if isinstance(remove, str) and remove:
            D.remove_own(ws, remove)
            return answer(request, session, "own-items")
        try:
            D.add_own(ws, str(form.get("text", "")))
        except D.DecisionError as exc:
            return answer(request, session, "own-items", own_error=str(exc))
        return answer(request, session, "own-items")

    async def notes(request: Request, session: Session, form: FormData) -> Response:
        session.workspace.notes = str(form.get("notes", ""))[: D.MAX_NOTES]
        return answer(request, session, "notes")

    def _patient_ref(session: Session, cur: Current) -> str | None:
        smart = session.smart
        if smart is not None and getattr(smart, "patient", None):
            return f"Patient/{smart.patient}"
        pid = cur.checked.intake.patient_id if cur.checked.intake is not None else None
        return f"Patient/{pid}" if pid else None

    async def export_careplan(request: Request, session: Session, form: FormData) -> Response:
        ws = session.workspace
        status = form.get("plan_status")
        if status in ("draft", "active"):
            ws.plan_status = status  # type: ignore[assignment]
        cur = wb.current(ws)
        if not cur.view.ready:
            return _not_ready(request, session)
        plan = D.careplan(cur.view, _patient_ref(session, cur))
        log.info("workbench export: CarePlan (%d activities)", len(plan.get("activity", [])))
        return Response(
            json.dumps(plan, indent=2, ensure_ascii=False),
            media_type="application/fhir+json",
            headers={"Content-Disposition": 'attachment; filename="careplan.json"'},
        )

    def _not_ready(request: Request, session: Session) -> Response:
        html = wb.render("not_ready.html.j2", request, session)
        return HTMLResponse(html, status_code=409)

    async def print_plan(request: Request) -> Response:
        session = wb.session_of(request)
        if session is None:
            return ended(request, "session ended")
        cur = wb.current(session.workspace)
        if not cur.view.ready:
            return _not_ready(request, session)
        html = wb.render(
            "print.html.j2",
            request,
            session,
            cur=cur,
            printed_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            patient_ref=_patient_ref(session, cur),
        )
        return HTMLResponse(html)

    async def handout(request: Request) -> Response:
        from gbrules.io.render import render_care_plan

        session = wb.session_of(request)
        if session is None:
            return ended(request, "session ended")
        cur = wb.current(session.workspace)
        if not cur.view.ready:
            return _not_ready(request, session)
        html = render_care_plan(D.decided_evaluation(cur.view), "html", audience="patient")
        policy = csp(settings.frame_ancestors, style_hashes=style_hash(html))
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    async def reset(request: Request, session: Session, form: FormData) -> Response:
        session.workspace = D.Workspace()
        session.audit_run = None
        session.smart = None
        return RedirectResponse(base_of(request), status_code=303)

    async def end(request: Request, session: Session, form: FormData) -> Response:
        wb.store.drop(session.id)
        return RedirectResponse(base_of(request) + "ended", status_code=303)

    async def ended_page(request: Request) -> Response:
        wb.store.drop(request.cookies.get(settings.cookie_name))
        html = wb.env.get_template("ended.html.j2").render(
            base=base_of(request), minutes=round(settings.idle_timeout_s / 60)
        )
        response = HTMLResponse(html)
        response.delete_cookie(settings.cookie_name, path=base_of(request))
        return response

    static = StaticFiles(directory=str(resources.files("gbrules.io.app") / "static"))
    routes: list[Route | Mount] = [
        Route("/", index, methods=["GET"]),
        Route("/intake", action(update_intake), methods=["POST"]),
        Route("/intake/json", action(load_json), methods=["POST"]),
        Route("/decide", action(decide), methods=["POST"]),
        Route("/own", action(own_item), methods=["POST"]),
        Route("/notes", action(notes), methods=["POST"]),
        Route("/export/careplan", action(export_careplan), methods=["POST"]),
        Route("/print", print_plan, methods=["GET"]),
        Route("/handout", handout, methods=["GET"]),
        Route("/reset", action(reset), methods=["POST"]),
        Route("/end", action(end), methods=["POST"]),
        Route("/ended", ended_page, methods=["GET"]),
        Mount("/static", app=static, name="static"),
    ]
    if settings.smart is not None:
        from gbrules.io.app.smart import smart_routes

        routes += smart_routes(wb, settings.smart)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors)],
    )
    app.state.workbench = wb
    return app


def standalone_app(
    engine: Engine | None = None,
    *,
    audit: AuditLog | None = None,
    settings: WorkbenchSettings | None = None,
) -> Starlette:
    """The workbench alone, mounted at ``/app`` as the service mounts it (``/`` redirects)."""
    workbench = create_workbench(engine, audit=audit, settings=settings)

    async def root(request: Request) -> Response:
        return RedirectResponse("/app/", status_code=307)

    return Starlette(routes=[Route("/", root), Mount("/app", app=workbench)])

"""The workbench's pages and actions (Starlette routes), and the factory that assembles them.

Every page works without JavaScript (forms post and the page comes back); with it
(``static/app.js``) the draft updates as the clinician types and decisions apply in place: the
same endpoints answer JSON fragments when asked with ``X-Workbench: fetch``.

Nothing about the patient goes in a URL, a page title or a log line: every action is a POST
with a CSRF token, state is found through the session cookie, and the log records event names
and counts only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gbrules.clinical.intake import parse_intake
from gbrules.core.engine import Engine
from gbrules.core.errors import IntakeError
from gbrules.io.app import draft as D
from gbrules.io.app import form as F
from gbrules.io.app.security import SecurityHeaders, csp, redact_access_log, style_hash
from gbrules.io.app.sessions import Session
from gbrules.io.app.settings import WorkbenchSettings
from gbrules.io.app.workbench import Current, Drafting, Workbench, base_of

if TYPE_CHECKING:
    from gbrules.io.audit import AuditLog

log = logging.getLogger("gbrules.io.app")

MAX_JSON_UPLOAD = 256 * 1024
FETCH_HEADER = "x-workbench"


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
    drafting: Drafting | None = None,
) -> Starlette:
    """The clinician's drafting workbench as an ASGI app, to mount at ``/app``.

    ``engine`` defaults to the bundled rulebook; ``audit`` records each decision as feedback
    (docs/AUDIT.md); ``settings`` (``WorkbenchSettings``) sets the idle timeout, cookies,
    framing and the SMART launch; ``drafting`` (given by the CDS Hooks service that mounts it)
    makes drafts with the service's active rules, site configuration and kill switch, in place
    of ``engine``. See docs/APP.md.
    """
    settings = settings or WorkbenchSettings()
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    wb = Workbench(engine, audit, settings, drafting)
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

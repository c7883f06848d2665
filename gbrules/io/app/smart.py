"""SMART App Launch (EHR launch) for the workbench: from the EHR's launch to a pre-filled form.

The flow (SMART App Launch 2.x, public client with PKCE):

1. The EHR opens ``/app/launch?iss=<FHIR base>&launch=<opaque>``. ``iss`` must be one of the
   FHIR servers the operator allowed (``SmartSettings.fhir_servers``); anything else is refused
   before any request is sent. The app reads ``{iss}/.well-known/smart-configuration``
   (authorisation and token endpoints, and that S256 PKCE is supported), keeps a random
   ``state`` and PKCE verifier in the new server-side session, and redirects the browser to the
   authorisation endpoint with ``launch``, ``aud=iss``, the scopes and the S256 challenge.
2. The authorisation server sends the browser back to ``/app/callback?code=...&state=...``.
   The state must match the session's (constant-time); the code is exchanged at the token
   endpoint with the verifier. The token response names the ``patient``.
3. The patient's data is read through ``gbrules.io.fhir.fetch`` (allow-listed server, bounded,
   every gap reported) and mapped with ``intake_with_sources``; the form is pre-filled and each
   value shows the resource it came from. What could not be fetched or mapped is listed.

The access token stays in the server-side session only (never in a page, URL or log) and is
dropped with it. Endpoints from the discovery document must be https, or http on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gbrules.core.errors import IntakeError
from gbrules.io.app import form as F
from gbrules.io.app.settings import SmartSettings
from gbrules.io.app.workbench import base_of
from gbrules.io.fhir.fetch import FetchResult, FhirFetcher, FhirServerNotAllowed

if TYPE_CHECKING:
    from gbrules.io.app.workbench import Workbench

log = logging.getLogger("gbrules.io.app.smart")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class LaunchError(Exception):
    """The launch cannot go on; the message is shown to the clinician (no patient data)."""


@dataclass
class SmartLaunch:
    """A launch in a session: before the callback (state, verifier) and after it (token)."""

    iss: str
    state: str
    verifier: str
    token_endpoint: str
    redirect_uri: str
    patient: str | None = None
    token: SecretStr | None = None
    scope: str = ""
    notes: list[str] = field(default_factory=list)


def _pkce() -> tuple[str, str]:
    """A PKCE verifier (43+ chars of unreserved characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _endpoint_ok(url: object) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def discover(iss: str) -> dict[str, Any]:
    """The server's SMART configuration (``.well-known/smart-configuration``), checked."""
    url = iss.rstrip("/") + "/.well-known/smart-configuration"
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise LaunchError(f"the EHR's SMART configuration could not be read ({exc})") from None
    if response.status_code != 200:
        raise LaunchError(f"the EHR's SMART configuration answered HTTP {response.status_code}")
    try:
        config = response.json()
    except ValueError:
        raise LaunchError("the EHR's SMART configuration is not JSON") from None
    if not isinstance(config, dict):
        raise LaunchError("the EHR's SMART configuration is not a JSON object")
    for key in ("authorization_endpoint", "token_endpoint"):
        if not _endpoint_ok(config.get(key)):
            raise LaunchError(f"the EHR's SMART configuration has no usable {key}")
    methods = config.get("code_challenge_methods_supported") or []
    if "S256" not in methods:
        raise LaunchError("the EHR's authorisation server does not offer PKCE with S256")
    return config


def exchange(launch: SmartLaunch, code: str, client_id: str) -> dict[str, Any]:
    """The token response for an authorisation code (public client: PKCE, no secret)."""
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            response = client.post(
                launch.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": launch.redirect_uri,
                    "client_id": client_id,
                    "code_verifier": launch.verifier,
                },
                headers={"Accept": "application/json"},
            )
    except httpx.HTTPError as exc:
        raise LaunchError(f"the token endpoint could not be reached ({exc})") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise LaunchError(
            f"the token endpoint refused the code (HTTP {response.status_code}"
            + (f", {error}" if isinstance(error, str) else "")
            + ")"
        )
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise LaunchError("the token response has no access token")
    if str(body.get("token_type", "")).lower() != "bearer":
        raise LaunchError("the token response is not a bearer token")
    if not isinstance(body.get("patient"), str) or not body["patient"]:
        raise LaunchError("the token response names no patient (was the app launched for one?)")
    return body


@dataclass(frozen=True)
class Prefill:
    """What a patient fetch puts in the form: values, each value's source, and notes."""

    values: dict[str, str]
    sources: dict[str, tuple[str, str]]
    notes: list[str]


def prefill(wb: Workbench, result: FetchResult) -> Prefill:
    """Form values, their sources and the notes from a patient fetch."""
    from gbrules.io.fhir.intake import intake_with_sources

    notes = [str(n) for n in result.notes]
    resources = [(f"{r['resourceType']}/{r.get('id')}", r) for r in result.resources]
    intake, mapping_notes, prov = intake_with_sources(resources, as_of=wb.today())
    notes += [str(n) for n in mapping_notes]
    values = F.from_intake(intake.model_dump(mode="json", exclude_none=True), wb.form)
    sources: dict[str, tuple[str, str]] = {}
    for path, value in values.items():
        best = ""
        for key in prov:
            if (path == key or path.startswith((key + ".", key + "["))) and len(key) > len(best):
                best = key
        # A PHQ-9 given as total + item 9 lands on the item input; its path names the item.
        if not best and ".items[" in path:
            best = next((k for k in prov if path.startswith(k.rsplit(".", 1)[0] + ".")), "")
        if best:
            sources[path] = (value, prov[best])
    return Prefill(values, sources, notes)


def smart_link(app_url: str) -> dict[str, str]:
    """A CDS Hooks card link that opens the workbench through an EHR launch: the EHR appends
    ``iss`` and ``launch`` to a ``smart`` link's URL (CDS Hooks 2.0, Link)."""
    return {
        "label": "Open in the care-plan workbench",
        "url": app_url.rstrip("/") + "/launch",
        "type": "smart",
    }


def smart_routes(wb: Workbench, smart: SmartSettings) -> list[Route]:
    """The launch and callback routes."""
    fetcher = FhirFetcher(smart.fhir_servers)

    def problem(request: Request, message: str, status: int = 400) -> Response:
        html = wb.env.get_template("launch_error.html.j2").render(
            base=base_of(request), message=message
        )
        return HTMLResponse(html, status_code=status)

    async def launch(request: Request) -> Response:
        iss = request.query_params.get("iss", "")
        launch_id = request.query_params.get("launch", "")
        if not iss or not launch_id:
            return problem(request, "an EHR launch needs both iss and launch")
        try:
            iss = fetcher.check_allowed(iss)
        except FhirServerNotAllowed:
            log.warning("SMART launch refused: FHIR server not on the allow-list")
            return problem(request, "this FHIR server is not allowed to launch the app", 403)
        try:
            config = await run_in_threadpool(discover, iss)
        except LaunchError as exc:
            return problem(request, str(exc), 502)
        session = wb.store.new()  # a launch always starts a new draft in a new session
        verifier, challenge = _pkce()
        redirect_uri = smart.redirect_uri or str(request.url_for("smart_callback"))
        session.smart = SmartLaunch(
            iss=iss,
            state=secrets.token_urlsafe(32),
            verifier=verifier,
            token_endpoint=config["token_endpoint"],
            redirect_uri=redirect_uri,
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": smart.client_id,
                "redirect_uri": redirect_uri,
                "launch": launch_id,
                "scope": smart.scope,
                "state": session.smart.state,
                "aud": iss,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        response = RedirectResponse(f"{config['authorization_endpoint']}?{query}", 302)
        wb.set_cookie(request, response, session)
        log.info("SMART launch: redirected to the authorisation server")
        return response

    async def callback(request: Request) -> Response:
        session = wb.session_of(request)
        launch_state: SmartLaunch | None = session.smart if session is not None else None
        if session is None or launch_state is None:
            return problem(request, "no launch is in progress in this browser session", 400)
        state = request.query_params.get("state", "")
        if not hmac.compare_digest(state.encode(), launch_state.state.encode()):
            return problem(request, "the launch state does not match; start again from the EHR")
        if request.query_params.get("error"):
            return problem(request, "the authorisation server refused the launch", 403)
        code = request.query_params.get("code", "")
        if not code:
            return problem(request, "the authorisation server sent no code")
        launch_state.state = secrets.token_urlsafe(32)  # one use only
        try:
            token = await run_in_threadpool(exchange, launch_state, code, smart.client_id)
        except LaunchError as exc:
            return problem(request, str(exc), 502)
        launch_state.token = SecretStr(token["access_token"])
        launch_state.patient = str(token["patient"])
        launch_state.scope = str(token.get("scope", ""))
        try:
            result = await run_in_threadpool(
                fetcher.fetch_patient, launch_state.iss, launch_state.token, launch_state.patient
            )
        except (FhirServerNotAllowed, ValueError) as exc:
            return problem(request, f"the patient's data cannot be fetched: {exc}", 502)
        try:
            filled = await run_in_threadpool(prefill, wb, result)
        except IntakeError as exc:
            return problem(
                request,
                "the patient's record cannot be used as an intake: "
                + "; ".join(str(e) for e in exc.errors[:10]),
                422,
            )
        ws = session.workspace
        ws.values = filled.values
        ws.sources = filled.sources
        ws.paste_errors = []
        launch_state.notes = filled.notes
        log.info(
            "SMART launch: %d value(s) pre-filled from %d resource(s), %d note(s)",
            len(filled.values),
            len(result.resources),
            len(filled.notes),
        )
        return RedirectResponse(base_of(request), 303)

    return [
        Route("/launch", launch, methods=["GET"], name="smart_launch"),
        Route("/callback", callback, methods=["GET"], name="smart_callback"),
    ]

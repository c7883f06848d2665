"""The operator's endpoints: promote, roll back, the per-rule kill switch, and their status.

Behind their own bearer token (``GBRULES_ADMIN_TOKEN``, compared in constant time), apart from
the EHR's JWTs: an EHR that may ask for cards must not be able to change what runs. Every call
names its operator (header ``X-Gbrules-Actor``), and a change is written to the audit trail
*before* it takes effect: without an audit trail the endpoints refuse (503), so nothing changes
unrecorded. Without a token configured the endpoints do not exist (404).
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from gbrules.io.service.errors import ServiceError, json_response
from gbrules.io.service.releases import SlotError
from gbrules.io.service.routes import State

if TYPE_CHECKING:
    from gbrules.io.service.releases import Releases
    from gbrules.io.service.routes import ServiceState

ENV_ADMIN_TOKEN = "GBRULES_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a secret
ACTOR_HEADER = "x-gbrules-actor"


async def check_admin(request: Request, state: State) -> str:
    """The operator's name, once the admin token is checked; 404/401/400 otherwise."""
    if state.admin_token is None or state.releases is None:
        raise ServiceError(404, "no admin endpoints: the service runs without an admin token")
    given = request.headers.get("authorization", "")
    expected = f"Bearer {state.admin_token}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ServiceError(401, "admin token missing or wrong")
    from gbrules.io.audit.records import check_code

    actor = request.headers.get(ACTOR_HEADER, "").strip()
    try:
        return check_code(actor, "actor")
    except ValueError:
        raise ServiceError(
            400, "name the operator in the X-Gbrules-Actor header (an id, e.g. jsmith)"
        ) from None


def _parts(state: ServiceState) -> Releases:
    if state.audit is None:
        raise ServiceError(503, "no audit trail: an admin change would go unrecorded")
    assert state.releases is not None  # check_admin ran
    return state.releases


def _record(state: ServiceState, actor: str, action: str, detail: dict[str, object]) -> None:
    assert state.audit is not None
    try:
        state.audit.record_admin(actor, action, json.dumps(detail, sort_keys=True))
    except Exception as exc:
        raise ServiceError(503, f"the audit trail is unavailable ({type(exc).__name__})") from None


async def status(state: State, actor: str = Depends(check_admin)) -> JSONResponse:
    assert state.releases is not None
    return json_response(200, state.releases.status())


def _switch(state: State, actor: str, action: Literal["promote", "rollback"]) -> JSONResponse:
    """Make the candidate (promote) or the previous release (rollback) the active one: the
    change is audited before it takes effect, and refused (409) when there is nothing to
    switch to."""
    releases = _parts(state)
    target = releases.candidate if action == "promote" else releases.previous
    if target is None:
        missing = (
            "no candidate release is running in shadow"
            if action == "promote"
            else "there is no previous release to roll back to"
        )
        raise ServiceError(409, missing)
    _record(state, actor, action, {"from": releases.active.label, "to": target.label})
    try:
        releases.promote() if action == "promote" else releases.rollback()
    except SlotError as exc:
        raise ServiceError(409, str(exc)) from None
    return json_response(200, releases.status())


async def promote(state: State, actor: str = Depends(check_admin)) -> JSONResponse:
    return _switch(state, actor, "promote")


async def rollback(state: State, actor: str = Depends(check_admin)) -> JSONResponse:
    return _switch(state, actor, "rollback")


async def switch_rule(
    rule_id: str, switch: str, state: State, actor: str = Depends(check_admin)
) -> JSONResponse:
    releases = _parts(state)
    if switch not in ("off", "on"):
        raise ServiceError(404, "use /admin/rules/RULE_ID/off or /on")
    try:
        releases.check_rule(rule_id)  # refuses safety.* and unknown rules, recording nothing
    except SlotError as exc:
        raise ServiceError(409, str(exc)) from None
    _record(state, actor, f"rule_{switch}", {"rule": rule_id, "release": releases.active.label})
    releases.switch_rule(rule_id, off=switch == "off")
    return json_response(200, releases.status())


def add_admin_routes(app: FastAPI) -> None:
    app.add_api_route("/admin/status", status, methods=["GET"], summary="Releases and rules off")
    app.add_api_route("/admin/promote", promote, methods=["POST"], summary="Promote candidate")
    app.add_api_route("/admin/rollback", rollback, methods=["POST"], summary="Roll back")
    app.add_api_route(
        "/admin/rules/{rule_id}/{switch}", switch_rule, methods=["POST"], summary="Kill switch"
    )

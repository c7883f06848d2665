"""``gbrules serve``: the CDS Hooks service (extras ``fhir`` and ``service``).

Secure by default: on an address other than loopback it refuses to start without JWT auth
(exit 2, saying what to configure) unless the operator passes ``--insecure-no-auth``, which is
then logged as a warning at start and shown on /health. docs/SECURITY.md is the deployment guide.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from gbrules.core.errors import EngineError, RulebookError
from gbrules.io.cli._common import (
    RequireApprovedOption,
    RequireProvedOption,
    SiteOption,
    check_approved,
    fail,
)
from gbrules.io.cli.prove import enforce_proofs


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A site rule pack added to the default rulebook.")
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="JWKS file with the EHR's public keys.")
    ] = None,
    issuer: Annotated[
        list[str] | None, typer.Option("--issuer", help="A trusted JWT issuer (repeatable).")
    ] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="This service's URL (the JWT aud).")
    ] = None,
    jku: Annotated[
        list[str] | None,
        typer.Option(
            "--jku",
            help="A JWKS URL the EHR publishes its keys at, honoured in a token's jku header "
            "for an --issuer on the same origin (repeatable; cached, fetched again on an "
            "unknown kid).",
        ),
    ] = None,
    replay_db: Annotated[
        Path | None,
        typer.Option(
            "--replay-db",
            help="SQLite file of used JWT ids (jti), shared by every worker. Default: in memory "
            "with one worker; a private temporary file with --workers > 1.",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve without authentication on a non-loopback address. Anyone who can "
            "reach the port can post patient data: only behind a proxy that authenticates.",
        ),
    ] = False,
    ssl_certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="TLS certificate chain (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option("--ssl-keyfile", help="TLS private key (PEM, unencrypted).")
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            help="A browser origin allowed to call the service, e.g. "
            "https://sandbox.cds-hooks.org (repeatable; none by default; never '*').",
        ),
    ] = None,
    time_budget: Annotated[
        float,
        typer.Option("--time-budget", help="Seconds a call may take; past it the answer is 503."),
    ] = 5.0,
    max_concurrent: Annotated[
        int,
        typer.Option(
            "--max-concurrent",
            help="Evaluations in flight per process; one more gets 503 with Retry-After.",
        ),
    ] = 8,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            "--rate-limit",
            help="Per client address, e.g. '120/minute' or '10/second;600/hour'; over it: 429 "
            "with Retry-After. Default: none.",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Addresses of the reverse proxies whose X-Forwarded-For/-Proto are trusted "
            "(comma-separated; default 127.0.0.1).",
        ),
    ] = None,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format", help="'text' (uvicorn's) or 'json' (one JSON line per request)."
        ),
    ] = "text",
    audit_db: Annotated[
        str | None,
        typer.Option(
            "--audit-db",
            help="Audit-trail database (SQLite path or SQLAlchemy URL); needs "
            "GBRULES_AUDIT_SECRET. Default: GBRULES_AUDIT_DB, else no audit trail.",
        ),
    ] = None,
    allow_fhir_server: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-fhir-server",
            help="A FHIR server base URL the service may fetch from with a request's "
            "fhirAuthorization token when the prefetch lacks data (repeatable; none by "
            "default: never fetch). https, or http on loopback only.",
        ),
    ] = None,
    error_format: Annotated[
        str,
        typer.Option(
            "--error-format",
            help="Error bodies: 'json' ({\"error\": ...}) or 'operation-outcome' (a FHIR "
            "OperationOutcome, as the CDS Hooks 3.0 ballot recommends).",
        ),
    ] = "json",
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes, each with its own compiled engine (the engine serialises "
            "evaluations within a process). With JWT auth they share one jti replay cache "
            "(--replay-db).",
        ),
    ] = 1,
    site: SiteOption = None,
    release: Annotated[
        Path | None,
        typer.Option("--release", help="Run this signed, approved release (not the bundled)."),
    ] = None,
    shadow: Annotated[
        Path | None,
        typer.Option(
            "--shadow",
            help="A candidate release evaluated in shadow on every request: its differences "
            "go to the audit trail, never to a card. Needs --release and --audit-db.",
        ),
    ] = None,
    keyring: Annotated[
        Path | None,
        typer.Option("--keyring", envvar="GBRULES_KEYRING", help="Keys trusted for releases."),
    ] = None,
    require_proved: RequireProvedOption = False,
    require_approved: RequireApprovedOption = False,
) -> None:
    """Run the CDS Hooks service (needs the 'service' and 'fhir' extras).

    With --release (and --shadow) and GBRULES_ADMIN_TOKEN set, the admin endpoints promote,
    roll back and switch rules off without a restart (docs/GOLIVE.md)."""
    if release is None:
        check_approved(rules, require_approved)
    try:
        import uvicorn

        from gbrules.clinical.engine import cached_engine
        from gbrules.io.service import ServiceConfig, create_app
        from gbrules.io.service.auth import auth_from_settings
        from gbrules.io.service.config import ENV_AUTH, ENV_CONFIG
        from gbrules.io.service.logs import log_config
    except ImportError as exc:
        fail([f"error: {exc}; install with: pip install 'gbrules[fhir,service]'"])
    auth_settings: dict[str, Any] | None = None
    if jwks or issuer or audience or jku:
        if not ((jwks or jku) and issuer and audience):
            fail(["error: JWT auth needs --jwks (or --jku), at least one --issuer, and --audience"])
        auth_settings = {
            "jwks": str(jwks.resolve()) if jwks else None,
            "issuers": list(issuer or ()),
            "audience": audience,
            "jku": list(jku or ()),
            "replay_db": str(replay_db.resolve()) if replay_db else None,
        }
        if workers > 1 and replay_db is None:
            # Every worker must see every used jti: a file only this user can read, removed
            # with its directory when the service stops.
            shared = Path(tempfile.mkdtemp(prefix="gbrules-replay-"))
            atexit.register(shutil.rmtree, shared, True)
            auth_settings["replay_db"] = str(shared / "jti.sqlite3")
    auth = None
    if auth_settings is not None:
        try:
            auth = auth_from_settings(auth_settings)
        except (OSError, ValueError, sqlite3.Error) as exc:
            fail([f"error: JWT auth: {exc}"])
    refusal = bind_refusal(host, auth is not None, insecure_no_auth)
    if refusal:
        fail(refusal)
    problems = _tls_problems(ssl_certfile, ssl_keyfile)
    if log_format not in ("text", "json"):
        problems.append("--log-format must be 'text' or 'json'")
    if error_format not in ("json", "operation-outcome"):
        problems.append("--error-format must be 'json' or 'operation-outcome'")
    config = ServiceConfig(
        cors_origins=tuple(cors_origin or ()),
        time_budget_s=time_budget,
        max_concurrent=max_concurrent,
        rate_limit=rate_limit,
        insecure_no_auth=insecure_no_auth,
        json_logs=log_format == "json",
        fhir_servers=tuple(allow_fhir_server or ()),
        operation_outcome_errors=error_format == "operation-outcome",
    )
    problems += config.problems()
    if problems:
        fail([f"error: {p}" for p in problems])
    site_config = None
    if site is not None:
        from gbrules.io.cli.site import load_site_or_fail

        site_config = load_site_or_fail(site, rules)
    releases = _releases(release, shadow, keyring)
    if releases is not None and workers > 1:
        # Promote, roll back and the kill switch change one process's rules at a time.
        fail(["error: --release and --shadow run in one process (--workers 1)"])
    try:
        engine = cached_engine(rules)
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    except EngineError as exc:  # e.g. durable_rules cannot load on this Python
        fail([f"error: the rule engine cannot run: {exc}"], code=1)
    server: dict[str, Any] = {
        "host": host,
        "port": port,
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
        "forwarded_allow_ips": forwarded_allow_ips,
        "log_config": log_config(config.json_logs),
        "access_log": not config.json_logs,  # the JSON line per request replaces it
    }
    if require_proved:
        enforce_proofs(engine)
    if workers > 1:
        _audit_log(audit_db)  # check the audit settings (and migrate) once, up front
        if auth_settings is not None:
            os.environ[ENV_AUTH] = json.dumps(auth_settings)
        os.environ["GBRULES_SERVE_RULES"] = str(rules.resolve()) if rules else ""
        os.environ["GBRULES_SERVE_SITE"] = str(site.resolve()) if site else ""
        os.environ[ENV_CONFIG] = config.to_env()
        if audit_db is not None:
            os.environ["GBRULES_AUDIT_DB"] = audit_db
        uvicorn.run("gbrules.io.service.app:app_from_env", factory=True, workers=workers, **server)
        return
    audit = _audit_log(audit_db)
    if shadow is not None and audit is None:
        fail(["error: --shadow needs an audit trail (--audit-db): its differences go there"])
    app = create_app(
        engine,
        auth=auth,
        audit=audit,
        config=config,
        site=site_config,
        releases=releases,
        admin_token=os.environ.get("GBRULES_ADMIN_TOKEN") or None,
    )
    try:
        uvicorn.run(app, **server)
    finally:
        if audit is not None:
            audit.close()


def _releases(release: Path | None, shadow: Path | None, keyring: Path | None) -> Any:
    """The active release and its shadow candidate, verified (exit 2 if either is not)."""
    if release is None:
        if shadow is not None:
            fail(["error: --shadow needs --release (the active release it runs beside)"])
        return None
    if keyring is None:
        fail(["error: --release needs --keyring (or GBRULES_KEYRING): the keys the site trusts"])
    from gbrules.io.release import ReleaseError
    from gbrules.io.service.releases import Releases, load_release

    try:
        active = load_release(release, keyring)
        candidate = load_release(shadow, keyring) if shadow is not None else None
    except (ReleaseError, OSError) as exc:
        fail([f"error: invalid release: {exc}"])
    except RulebookError as exc:
        fail(["error: invalid rulebook in the release:"] + [f"  {p}" for p in exc.problems])
    return Releases(active, candidate)


def bind_refusal(host: str, has_auth: bool, insecure_no_auth: bool) -> list[str]:
    """Why the service must not start on ``host`` (empty: it may). Patient data must not be
    open to a network: off loopback, JWT auth or an explicit ``--insecure-no-auth``."""
    from gbrules.io.service.config import is_loopback

    if has_auth or insecure_no_auth or is_loopback(host):
        return []
    return [
        f"error: refusing to serve patient data on {host} without authentication.",
        "  Configure JWT auth: --jwks FILE --issuer URL --audience URL (docs/SECURITY.md),",
        "  or listen on 127.0.0.1 behind a reverse proxy that authenticates,",
        "  or pass --insecure-no-auth to accept that anyone who can reach the port can post "
        "patient data and read drafts.",
    ]


def _tls_problems(certfile: Path | None, keyfile: Path | None) -> list[str]:
    if (certfile is None) != (keyfile is None):
        return ["TLS needs both --ssl-certfile and --ssl-keyfile"]
    return [
        f"--{opt} {path}: no such readable file"
        for opt, path in (("ssl-certfile", certfile), ("ssl-keyfile", keyfile))
        if path is not None and not (path.is_file() and os.access(path, os.R_OK))
    ]


def _audit_log(url: str | None) -> Any:
    """The service's audit trail (``--audit-db`` or the environment), migrated, or None."""
    import logging

    if url is None and not os.environ.get("GBRULES_AUDIT_DB"):
        return None
    try:
        from gbrules.io.audit import AuditLog
    except ImportError as exc:
        fail([f"error: {exc}; install with: pip install 'gbrules[audit]'"])
    env = dict(os.environ)
    if url is not None:
        if not env.get("GBRULES_AUDIT_SECRET"):
            # The database came from --audit-db, so naming GBRULES_AUDIT_DB would mislead.
            fail(
                [
                    "error: --audit-db needs the patient-key secret: set GBRULES_AUDIT_SECRET "
                    "(at least 16 bytes, kept private to the site) in the environment"
                ]
            )
        env["GBRULES_AUDIT_DB"] = url
    try:
        audit = AuditLog.from_env(env)
    except ValueError as exc:
        fail([f"error: audit trail: {exc}"])
    if audit is None:
        return None
    try:
        audit.migrate()
    except Exception as exc:
        # Keep serving: writes are retried per request and failures are counted in /health.
        logging.getLogger("gbrules.io.service").warning(
            "audit database unavailable at startup: %s", type(exc).__name__
        )
    return audit

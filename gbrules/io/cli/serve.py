"""``gbrules serve``: the CDS Hooks service (extras ``fhir`` and ``service``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gbrules.core.errors import RulebookError
from gbrules.io.cli._common import fail
from gbrules.io.cli.prove import REQUIRE_PROVED_ENV, enforce_proofs


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
    audit_db: Annotated[
        str | None,
        typer.Option(
            "--audit-db",
            help="Audit-trail database (SQLite path or SQLAlchemy URL); needs "
            "GBRULES_AUDIT_SECRET. Default: GBRULES_AUDIT_DB, else no audit trail.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes, each with its own compiled engine (the engine serialises "
            "evaluations within a process). Not with JWT auth: the jti replay cache is "
            "per process.",
        ),
    ] = 1,
    require_proved: Annotated[
        bool,
        typer.Option(
            "--require-proved",
            envvar=REQUIRE_PROVED_ENV,
            help="Refuse a rulebook (with its site pack) that breaks a safety invariant.",
        ),
    ] = False,
) -> None:
    """Run the CDS Hooks service (needs the 'service' and 'fhir' extras)."""
    try:
        import uvicorn

        from gbrules.core.engine import cached_engine
        from gbrules.io.service import JWTAuth, create_app
    except ImportError as exc:
        fail([f"error: {exc}; install with: pip install 'gbrules[fhir,service]'"])
    auth = None
    if jwks or issuer or audience:
        if not (jwks and issuer and audience):
            fail(["error: JWT auth needs --jwks, at least one --issuer, and --audience"])
        try:
            auth = JWTAuth(jwks, issuers=issuer, audience=audience)
        except (OSError, ValueError) as exc:
            fail([f"error: cannot load JWKS {jwks}: {exc}"])
    try:
        engine = cached_engine(rules)
    except RulebookError as exc:
        fail(["error: invalid rulebook:"] + [f"  {p}" for p in exc.problems])
    if require_proved:
        enforce_proofs(engine)
    if workers > 1:
        if auth is not None:
            fail(
                [
                    "error: --workers > 1 cannot be combined with JWT auth yet: each process "
                    "would keep its own jti replay cache, so a token could be replayed "
                    "against another worker"
                ]
            )
        import os

        _audit_log(audit_db)  # check the audit settings (and migrate) once, up front
        os.environ["GBRULES_SERVE_RULES"] = str(rules.resolve()) if rules else ""
        if audit_db is not None:
            os.environ["GBRULES_AUDIT_DB"] = audit_db
        uvicorn.run(
            "gbrules.io.service.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
        )
        return
    audit = _audit_log(audit_db)
    try:
        uvicorn.run(create_app(engine, auth=auth, audit=audit), host=host, port=port)
    finally:
        if audit is not None:
            audit.close()


def _audit_log(url: str | None) -> Any:
    """The service's audit trail (``--audit-db`` or the environment), migrated, or None."""
    import logging
    import os

    if url is None and not os.environ.get("GBRULES_AUDIT_DB"):
        return None
    try:
        from gbrules.io.audit import AuditLog
    except ImportError as exc:
        fail([f"error: {exc}; install with: pip install 'gbrules[audit]'"])
    env = dict(os.environ)
    if url is not None:
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

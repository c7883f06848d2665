"""``python -m gbrules.io.app``: the workbench alone, at http://127.0.0.1:8090/app/ by default.

Binds to 127.0.0.1 unless ``--host`` says otherwise; audit trail from ``GBRULES_AUDIT_DB`` and
``GBRULES_AUDIT_SECRET`` when set (docs/AUDIT.md); SMART launch with ``--smart-client-id`` and
one ``--fhir-server`` per EHR FHIR base URL allowed to launch it (docs/APP.md).
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from gbrules.io.app import SmartSettings, WorkbenchSettings, standalone_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gbrules.io.app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--rules", help="a site rule pack added to the default rulebook")
    parser.add_argument("--idle-minutes", type=float, default=15.0)
    parser.add_argument("--smart-client-id", help="SMART public client id (enables launch)")
    parser.add_argument(
        "--fhir-server", action="append", default=[], help="an EHR FHIR base URL (repeatable)"
    )
    parser.add_argument("--frame-ancestor", action="append", default=[])
    args = parser.parse_args(argv)
    import uvicorn

    from gbrules.clinical.engine import cached_engine
    from gbrules.core.errors import RulebookError

    try:
        engine = cached_engine(args.rules)
    except RulebookError as exc:
        print(f"error: invalid rulebook:\n{exc}", file=sys.stderr)
        return 2
    smart = None
    if args.smart_client_id:
        if not args.fhir_server:
            print("error: --smart-client-id needs at least one --fhir-server", file=sys.stderr)
            return 2
        smart = SmartSettings(args.smart_client_id, tuple(args.fhir_server))
    settings = WorkbenchSettings(
        idle_timeout_s=args.idle_minutes * 60,
        smart=smart,
        frame_ancestors=tuple(args.frame_ancestor),
    )
    audit = None
    try:
        from gbrules.io.audit import AuditLog

        audit = AuditLog.from_env()
    except ImportError:
        audit = None
    except ValueError as exc:
        print(f"error: audit trail: {exc}", file=sys.stderr)
        return 2
    try:
        uvicorn.run(
            standalone_app(engine, audit=audit, settings=settings), host=args.host, port=args.port
        )
    finally:
        if audit is not None:
            with contextlib.suppress(Exception):
                audit.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

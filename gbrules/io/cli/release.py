"""``gbrules release ...``: build, approve, verify and inspect signed rulebook releases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from gbrules.io.cli._common import fail

release_app = typer.Typer(
    help="Signed rulebook releases: keygen, build, approve, verify.", no_args_is_help=True
)


@release_app.command("keygen")
def keygen_cmd(
    out: Annotated[Path, typer.Argument(help="Where to write the new private key (PEM, 0600).")],
    name: Annotated[str, typer.Option("--name", help="The key owner's name, for the keyring.")],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="builder or approver (repeatable; default approver)."),
    ] = None,
) -> None:
    """Make an Ed25519 key pair; print the keyring entry for its public half."""
    from gbrules.io.release import ReleaseError, generate_key
    from gbrules.io.release.keys import key_id, public_text

    roles = role or ["approver"]
    if set(roles) - {"builder", "approver"}:
        fail([f"error: --role must be builder or approver, not {', '.join(roles)}"])
    try:
        key = generate_key(out)
    except (ReleaseError, OSError) as exc:
        fail([f"error: {exc}"])
    public = key.public_key()
    typer.echo(f"# key id {key_id(public)}; add to the site's keyring.yaml under 'keys:'")
    entry = {"name": name, "public_key": public_text(public), "roles": roles}
    typer.echo(yaml.safe_dump([entry], sort_keys=False), nl=False)


@release_app.command("build")
def build_cmd(
    rules: Annotated[Path, typer.Argument(help="The rulebook directory to release.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle to write (.zip).")],
    version: Annotated[str, typer.Option("--version", help="Release version, e.g. 2026.11.1")],
    key: Annotated[Path, typer.Option("--key", help="The builder's private key (PEM).")],
    previous: Annotated[
        Path | None, typer.Option("--previous", help="The release this one replaces.")
    ] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option("--attach", help="A file to ship in the bundle (review book, proofs)."),
    ] = None,
    population: Annotated[
        int,
        typer.Option("--population", min=0, help="Synthetic intakes for the change log's diff."),
    ] = 0,
) -> None:
    """Bundle a rulebook: hashes, change log, the builder's signature (no approvals yet)."""
    from gbrules.io.release import ReleaseError, build_release, load_private_key, read_release

    try:
        before = read_release(previous) if previous is not None else None
        attachments = {p.name: p.read_bytes() for p in attach or []}
        release = build_release(
            rules,
            out,
            version=version,
            key=load_private_key(key),
            previous=before,
            attachments=attachments,
            population=population,
        )
    except (ReleaseError, OSError) as exc:
        fail([f"error: {exc}"])
    typer.echo(f"built release {release.version} ({release.manifest.rulebook}): {out}")
    typer.echo(f"digest {release.digest}; needs approvals before it can be active")


@release_app.command("approve")
def approve_cmd(
    bundle: Annotated[Path, typer.Argument(help="The release bundle.")],
    key: Annotated[Path, typer.Option("--key", help="Your private key (PEM).")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="Your name, as in the keyring.")],
) -> None:
    """Sign a release as one of its approvers (the bundle is rewritten atomically)."""
    from gbrules.io.release import ReleaseError, approve_release, load_private_key

    try:
        approval = approve_release(bundle, load_private_key(key), reviewer)
    except (ReleaseError, OSError) as exc:
        fail([f"error: {exc}"])
    typer.echo(f"approved by {approval.reviewer} (key {approval.key_id}) on {approval.approved_on}")


@release_app.command("verify")
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="The release bundle.")],
    keyring: Annotated[
        Path, typer.Option("--keyring", envvar="GBRULES_KEYRING", help="The site's keyring.yaml.")
    ],
) -> None:
    """Check hashes and signatures. Exit 0 active, 1 valid but not yet approved, 2 invalid."""
    from gbrules.io.release import APPROVERS_NEEDED, ReleaseError, load_keyring, read_release
    from gbrules.io.release import verify_release as verify

    try:
        result = verify(read_release(bundle), load_keyring(keyring))
    except ReleaseError as exc:
        fail([f"error: invalid release: {exc}"])
    typer.echo(f"release {result.version}, digest {result.digest}")
    typer.echo(f"built by {result.builder}")
    typer.echo(f"approved by: {', '.join(result.approvers) or 'nobody yet'}")
    for other in result.untrusted_approvals:
        typer.echo(f"not counted (key not trusted as an approver): {other}")
    if not result.active:
        typer.echo(f"status: pending ({len(result.approvers)} of {APPROVERS_NEEDED} approvals)")
        raise typer.Exit(1)
    typer.echo("status: active")


def load_active_release_rules(bundle: Path, keyring: Path, dest: Path) -> Path:
    """The rules of a verified, twice-approved release, written to ``dest`` (exit 2 if not)."""
    from gbrules.io.release import ReleaseError, extract_active_rules, load_keyring

    try:
        return extract_active_rules(bundle, load_keyring(keyring), dest)[1]
    except ReleaseError as exc:
        fail([f"error: invalid release: {exc}"])


ServiceOpt = Annotated[
    str,
    typer.Option("--service", help="The running service's base URL, e.g. http://127.0.0.1:8080."),
]
ActorOpt = Annotated[
    str, typer.Option("--actor", help="Your name, recorded in the audit trail with the change.")
]


def call_admin(service: str, path: str, actor: str) -> dict[str, object]:
    """POST to the service's admin endpoint with ``GBRULES_ADMIN_TOKEN``; exit 2 (1 for a
    refusal by the service) with its message."""
    import json
    import os
    import urllib.error
    import urllib.request

    token = os.environ.get("GBRULES_ADMIN_TOKEN")
    if not token:
        fail(["error: set GBRULES_ADMIN_TOKEN to the service's admin token"])
    if not service.startswith(("http://", "https://")):
        fail([f"error: --service {service!r} must be an http(s) URL"])
    req = urllib.request.Request(  # noqa: S310 - checked to be http(s) just above
        service.rstrip("/") + path,
        method="POST",
        data=b"",
        headers={"Authorization": f"Bearer {token}", "X-Gbrules-Actor": actor},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - operator's URL
            body: dict[str, object] = json.loads(resp.read())
            return body
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        fail([f"error: the service refused ({exc.code}): {detail}"], code=1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail([f"error: cannot reach {service}: {exc}"])


def _show(status: dict[str, object]) -> None:
    typer.echo(f"active: {status.get('active')}")
    typer.echo(f"candidate (shadow): {status.get('candidate') or 'none'}")
    typer.echo(f"previous: {status.get('previous') or 'none'}")
    off = status.get("rules_off")
    typer.echo(f"rules off: {', '.join(off) if isinstance(off, list) and off else 'none'}")


@release_app.command("promote")
def promote_cmd(service: ServiceOpt, actor: ActorOpt) -> None:
    """Make the shadow candidate the active release of a running service (audited)."""
    _show(call_admin(service, "/admin/promote", actor))


@release_app.command("rollback")
def rollback_cmd(service: ServiceOpt, actor: ActorOpt) -> None:
    """Put the previous release back on a running service (audited)."""
    _show(call_admin(service, "/admin/rollback", actor))


@release_app.command("rule-off")
def rule_off_cmd(
    rule: Annotated[str, typer.Argument(help="The rule id to switch off (never safety.*).")],
    service: ServiceOpt,
    actor: ActorOpt,
) -> None:
    """The kill switch: stop drafting one rule's suggestions now (audited)."""
    _show(call_admin(service, f"/admin/rules/{rule}/off", actor))


@release_app.command("rule-on")
def rule_on_cmd(
    rule: Annotated[str, typer.Argument(help="The rule id to switch back on.")],
    service: ServiceOpt,
    actor: ActorOpt,
) -> None:
    """Undo the kill switch for one rule (audited)."""
    _show(call_admin(service, f"/admin/rules/{rule}/on", actor))

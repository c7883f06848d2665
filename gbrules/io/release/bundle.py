"""Versioned, content-hashed, signed rulebook releases.

What runs in a hospital must be exactly what its governance group approved. A release is one
zip file holding the rule files, a change log against the previous release and any attachments
(a review book, proof results), plus ``manifest.json`` with the SHA-256 of every file. The
builder signs the manifest; each approving reviewer signs its digest with their own key. A
release is **active** only with valid signatures from two distinct approvers that the site's
keyring trusts; loading one re-checks every hash and signature, so a changed byte is refused.

The zip is written deterministically (sorted entries, fixed timestamps) and atomically (a temp
file, fsync, rename), so a kill at any moment leaves the old bundle or the new one, never half.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gbrules.core.errors import RulebookError
from gbrules.io import files
from gbrules.io.release.keys import (
    Keyring,
    ReleaseError,
    key_id,
    sign,
    verify_signature,
)

FORMAT = 1
MANIFEST = "manifest.json"
BUILDER = "signatures/builder.json"
APPROVALS = "approvals/"
RULES = "rules/"
ATTACHMENTS = "attachments/"
CHANGELOG = "CHANGELOG"  # Markdown text
APPROVERS_NEEDED = 2
_BUILD_DOMAIN = b"gbrules-release-build-v1\0"
_APPROVE_DOMAIN = b"gbrules-release-approval-v1\0"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_BUNDLE_BYTES = 200 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class PreviousRelease(_Strict):
    version: str
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")


class ReleaseManifest(_Strict):
    format: int
    version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
    rulebook: str  # the rulebook's version label (semver + content hash)
    created_on: date
    files: list[FileEntry]
    previous: PreviousRelease | None = None


class BuilderSignature(_Strict):
    key_id: str
    signature: str


class Approval(_Strict):
    reviewer: str = Field(min_length=1)
    key_id: str
    approved_on: date
    signature: str


@dataclass(frozen=True)
class Release:
    """A bundle as read from disk: nothing in it is trusted until :func:`verify_release`."""

    manifest: ReleaseManifest
    manifest_bytes: bytes
    files: Mapping[str, bytes]
    builder: BuilderSignature
    approvals: tuple[Approval, ...]

    @property
    def digest(self) -> str:
        """SHA-256 of the manifest: names this exact release (its files are hashed inside)."""
        return hashlib.sha256(self.manifest_bytes).hexdigest()

    @property
    def version(self) -> str:
        return self.manifest.version


@dataclass(frozen=True)
class Verification:
    """Who built and who approved a release whose hashes and signatures all check out."""

    version: str
    digest: str
    builder: str
    approvers: tuple[str, ...]
    untrusted_approvals: tuple[str, ...]

    @property
    def active(self) -> bool:
        return len(self.approvers) >= APPROVERS_NEEDED


def _canonical(model: BaseModel) -> bytes:
    return json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


def _approval_message(digest: str, reviewer: str, on: date) -> bytes:
    return _APPROVE_DOMAIN + f"{digest}\0{reviewer}\0{on.isoformat()}".encode()


def _write_zip(path: Path, members: Mapping[str, bytes]) -> None:
    """Deterministic zip, written to a temp file and renamed into place (SIGKILL-safe)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def fill(raw: BinaryIO) -> None:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, members[name])

    files.atomic_write(path, fill)


def _rule_files(rules_dir: Path) -> dict[str, bytes]:
    if not rules_dir.is_dir():
        raise ReleaseError(f"{rules_dir}: not a directory")
    found = {p.name: p.read_bytes() for p in sorted(rules_dir.glob("*.yaml"))}
    if not found:
        raise ReleaseError(f"{rules_dir}: no *.yaml rule files")
    return found


def _load_rulebook_label(files: Mapping[str, bytes]) -> str:
    """Validate the rules exactly as the engine would load them; return their version label."""
    from gbrules.clinical.domain import load_rulebook

    with tempfile.TemporaryDirectory(prefix="gbrules-release-") as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        try:
            return load_rulebook(tmp).version_label
        except RulebookError as exc:
            raise ReleaseError("the rules do not load:\n" + "\n".join(exc.problems)) from None


def build_release(
    rules_dir: Path,
    out: Path,
    *,
    version: str,
    key: Ed25519PrivateKey,
    previous: Release | None = None,
    attachments: Mapping[str, bytes] | None = None,
    population: int = 0,
    created_on: date | None = None,
) -> Release:
    """Bundle ``rules_dir`` as release ``version``, signed by ``key``; no approvals yet."""
    rule_files = _rule_files(rules_dir)
    label = _load_rulebook_label(rule_files)
    members: dict[str, bytes] = {RULES + n: d for n, d in rule_files.items()}
    for name, data in (attachments or {}).items():
        if "/" in name or name.startswith("."):
            raise ReleaseError(f"attachment names are plain file names: {name!r}")
        members[ATTACHMENTS + name] = data
    members[CHANGELOG] = changelog(rule_files, previous, version, population).encode()
    manifest = ReleaseManifest(
        format=FORMAT,
        version=version,
        rulebook=label,
        created_on=created_on or date.today(),
        files=[
            FileEntry(path=n, sha256=hashlib.sha256(d).hexdigest(), size=len(d))
            for n, d in sorted(members.items())
        ],
        previous=None
        if previous is None
        else PreviousRelease(version=previous.version, digest=previous.digest),
    )
    manifest_bytes = _canonical(manifest)
    builder = BuilderSignature(
        key_id=key_id(key.public_key()), signature=sign(key, _BUILD_DOMAIN + manifest_bytes)
    )
    members[MANIFEST] = manifest_bytes
    members[BUILDER] = _canonical(builder)
    _write_zip(out, members)
    return read_release(out)


def read_release(path: Path) -> Release:
    """Read a bundle's structure (nothing is trusted yet: see :func:`verify_release`)."""
    try:
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise ReleaseError(f"{path}: larger than {MAX_BUNDLE_BYTES} bytes")
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if len(names) != len(set(names)):
                raise ReleaseError(f"{path}: duplicate entries")
            total = sum(i.file_size for i in zf.infolist())
            if total > MAX_BUNDLE_BYTES:
                raise ReleaseError(f"{path}: expands beyond {MAX_BUNDLE_BYTES} bytes")
            data = {n: zf.read(n) for n in names}
    except (OSError, zipfile.BadZipFile) as exc:
        raise ReleaseError(f"cannot read the release {path}: {exc}") from None
    try:
        manifest_bytes = data.pop(MANIFEST)
        manifest = ReleaseManifest.model_validate_json(manifest_bytes)
        builder = BuilderSignature.model_validate_json(data.pop(BUILDER))
        approvals = tuple(
            Approval.model_validate_json(data.pop(n))
            for n in sorted(n for n in list(data) if n.startswith(APPROVALS))
        )
    except KeyError as exc:
        raise ReleaseError(f"{path}: missing {exc.args[0]}") from None
    except ValidationError as exc:
        raise ReleaseError(f"{path}: malformed release: {exc}") from None
    if manifest.format != FORMAT:
        raise ReleaseError(f"{path}: release format {manifest.format}, this gbrules reads {FORMAT}")
    return Release(manifest, manifest_bytes, data, builder, approvals)


def approve_release(
    path: Path, key: Ed25519PrivateKey, reviewer: str, *, on: date | None = None
) -> Approval:
    """Add ``reviewer``'s signature to the bundle at ``path`` (rewritten atomically).

    The approval signs the manifest digest, so it covers every file; approving twice with the
    same key replaces the earlier approval.
    """
    release = read_release(path)
    when = on or date.today()
    approval = Approval(
        reviewer=reviewer,
        key_id=key_id(key.public_key()),
        approved_on=when,
        signature=sign(key, _approval_message(release.digest, reviewer, when)),
    )
    members = dict(release.files)
    members[MANIFEST] = release.manifest_bytes
    members[BUILDER] = _canonical(release.builder)
    for other in release.approvals:
        if other.key_id != approval.key_id:
            members[f"{APPROVALS}{other.key_id}.json"] = _canonical(other)
    members[f"{APPROVALS}{approval.key_id}.json"] = _canonical(approval)
    _write_zip(path, members)
    return approval


def verify_release(release: Release, keyring: Keyring) -> Verification:
    """Check every file hash and signature; raise :class:`ReleaseError` on any mismatch.

    Approvals by keys the keyring does not trust as approvers are reported, not counted.
    """
    listed = {f.path: f for f in release.manifest.files}
    if set(listed) != set(release.files):
        extra = sorted(set(release.files) - set(listed))
        missing = sorted(set(listed) - set(release.files))
        raise ReleaseError(f"files differ from the manifest: extra {extra}, missing {missing}")
    for name, entry in listed.items():
        data = release.files[name]
        if hashlib.sha256(data).hexdigest() != entry.sha256 or len(data) != entry.size:
            raise ReleaseError(f"{name}: content differs from the manifest (changed after signing)")
    builder = keyring.find(release.builder.key_id)
    if builder is None or "builder" not in builder.roles:
        raise ReleaseError(f"built with key {release.builder.key_id}, not a trusted builder")
    if not verify_signature(
        builder.public(), release.builder.signature, _BUILD_DOMAIN + release.manifest_bytes
    ):
        raise ReleaseError("the builder's signature does not match the manifest")
    approvers: list[str] = []
    untrusted: list[str] = []
    for a in release.approvals:
        person = keyring.find(a.key_id)
        message = _approval_message(release.digest, a.reviewer, a.approved_on)
        if person is None or "approver" not in person.roles or person.name != a.reviewer:
            untrusted.append(f"{a.reviewer} ({a.key_id})")
            continue
        if not verify_signature(person.public(), a.signature, message):
            raise ReleaseError(f"the approval by {a.reviewer} does not match this release")
        if person.name not in approvers:
            approvers.append(person.name)
    return Verification(
        version=release.version,
        digest=release.digest,
        builder=builder.name,
        approvers=tuple(approvers),
        untrusted_approvals=tuple(untrusted),
    )


def extract_rules(release: Release, dest: Path) -> Path:
    """Write the release's rule files into ``dest`` (an empty or new directory)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in release.files.items():
        if name.startswith(RULES):
            (dest / Path(name).name).write_bytes(data)
    return dest


def extract_active_rules(bundle: Path, keyring: Keyring, dest: Path) -> tuple[str, Path]:
    """The version and the rules (written into ``dest``) of a release that may run: its hashes
    and signatures hold and it has its approvals. ``ReleaseError`` if not; no rule file is
    written before the checks pass, so a tampered or unapproved release never runs, not even
    in shadow."""
    release = read_release(bundle)
    result = verify_release(release, keyring)
    if not result.active:
        raise ReleaseError(
            f"release {result.version} has {len(result.approvers)} of {APPROVERS_NEEDED} "
            "approvals: it cannot run"
        )
    return result.version, extract_rules(release, dest)


def rule_files_of(release: Release) -> dict[str, bytes]:
    return {Path(n).name: d for n, d in release.files.items() if n.startswith(RULES)}


# ---------------------------------------------------------------------------- change log


def _rules_by_id(files: Mapping[str, bytes]) -> dict[str, str]:
    """Each rule's canonical text, by id, for comparing two releases rule by rule."""
    rules: dict[str, str] = {}
    for data in files.values():
        loaded = yaml.safe_load(io.BytesIO(data))
        if isinstance(loaded, dict) and isinstance(loaded.get("rules"), list):
            for rule in loaded["rules"]:
                if isinstance(rule, dict) and isinstance(rule.get("id"), str):
                    rules[rule["id"]] = json.dumps(rule, sort_keys=True, default=str)
    return rules


def changelog(
    new_files: Mapping[str, bytes], previous: Release | None, version: str, population: int
) -> str:
    """What changed since ``previous``: rules added, removed and changed, and (with a
    ``population``) how many synthetic intakes get a different plan."""
    lines = [f"# Release {version}", ""]
    if previous is None:
        lines.append(f"First release: {len(_rules_by_id(new_files))} rules.")
        return "\n".join(lines) + "\n"
    old = _rules_by_id(rule_files_of(previous))
    new = _rules_by_id(new_files)
    lines.append(f"Changes since release {previous.version} (digest {previous.digest[:12]}):")
    lines.append("")
    for title, ids in (
        ("Rules added", sorted(set(new) - set(old))),
        ("Rules removed", sorted(set(old) - set(new))),
        ("Rules changed", sorted(i for i in set(old) & set(new) if old[i] != new[i])),
    ):
        lines.append(f"## {title} ({len(ids)})")
        lines += [f"- `{i}`" for i in ids] or ["- none"]
        lines.append("")
    if population > 0:
        from gbrules.tools.population import diff_rulebooks

        with tempfile.TemporaryDirectory(prefix="gbrules-changelog-") as tmp:
            old_dir = extract_rules(previous, Path(tmp) / "old")
            new_dir = Path(tmp) / "new"
            new_dir.mkdir()
            for name, data in new_files.items():
                (new_dir / name).write_bytes(data)
            report = diff_rulebooks(old_dir, new_dir, population, seed=0)
        lines.append(f"## Effect on {population} synthetic intakes")
        lines.append("")
        lines.append(f"{report.changed_intakes} intake(s) get a different plan.")
        for c in report.changes:
            lines.append(
                f"- `{c.code}` {c.kind} {c.detail} in {c.count} intake(s)".replace("  ", " ")
            )
        lines.append("")
    return "\n".join(lines) + "\n"

"""Signed releases (gbrules/io/release): build, approve twice, verify, run; tampering refused."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import gbrules
from gbrules.io.cli import app
from gbrules.io.release import (
    ReleaseError,
    approve_release,
    build_release,
    generate_key,
    load_keyring,
    load_private_key,
    read_release,
    verify_release,
)
from gbrules.io.release.keys import public_text

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
runner = CliRunner()
DAY = date(2026, 11, 30)


@dataclass(frozen=True)
class Site:
    """Keys of a builder and three reviewers, and a keyring trusting all but the outsider."""

    dir: Path
    builder: Path
    alice: Path
    bob: Path
    outsider: Path
    keyring: Path


@pytest.fixture
def site(tmp_path: Path) -> Site:
    keys = {n: tmp_path / f"{n}.pem" for n in ("builder", "alice", "bob", "outsider")}
    for path in keys.values():
        generate_key(path)

    def entry(name: str, who: str, roles: list[str]) -> dict[str, object]:
        public = public_text(load_private_key(keys[who]).public_key())
        return {"name": name, "public_key": public, "roles": roles}

    ring = tmp_path / "keyring.yaml"
    ring.write_text(
        yaml.safe_dump(
            {
                "keys": [
                    entry("Release Engineer", "builder", ["builder"]),
                    entry("Dr Alice", "alice", ["approver"]),
                    entry("Dr Bob", "bob", ["approver"]),
                ]
            }
        )
    )
    return Site(tmp_path, keys["builder"], keys["alice"], keys["bob"], keys["outsider"], ring)


def built(site: Site, name: str = "r1.zip", rules: Path = RULES) -> Path:
    out = site.dir / name
    build_release(
        rules, out, version="2026.11.1", key=load_private_key(site.builder), created_on=DAY
    )
    return out


def approve(bundle: Path, key: Path, reviewer: str) -> None:
    approve_release(bundle, load_private_key(key), reviewer, on=DAY)


def test_two_distinct_approvers_make_a_release_active(site: Site) -> None:
    bundle = built(site)
    ring = load_keyring(site.keyring)
    assert not verify_release(read_release(bundle), ring).active
    approve(bundle, site.alice, "Dr Alice")
    approve(bundle, site.alice, "Dr Alice")  # the same person twice still counts once
    once = verify_release(read_release(bundle), ring)
    assert once.approvers == ("Dr Alice",) and not once.active
    approve(bundle, site.bob, "Dr Bob")
    both = verify_release(read_release(bundle), ring)
    assert both.active and set(both.approvers) == {"Dr Alice", "Dr Bob"}
    assert both.builder == "Release Engineer"


def test_untrusted_or_misnamed_approvals_do_not_count(site: Site) -> None:
    bundle = built(site)
    approve(bundle, site.alice, "Dr Alice")
    approve(bundle, site.outsider, "Dr Eve")
    approve(bundle, site.bob, "Dr Alice")  # Bob's key signing as somebody else
    result = verify_release(read_release(bundle), load_keyring(site.keyring))
    assert result.approvers == ("Dr Alice",)
    # Eve's key is not in the keyring; Bob's key signed under another name: neither counts.
    assert sorted(a.split(" (")[0] for a in result.untrusted_approvals) == ["Dr Alice", "Dr Eve"]
    assert not result.active


def _rewrite(bundle: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.update(change)
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_a_changed_rule_file_is_refused(site: Site) -> None:
    bundle = built(site)
    approve(bundle, site.alice, "Dr Alice")
    approve(bundle, site.bob, "Dr Bob")
    original = read_release(bundle).files["rules/safety.yaml"]
    _rewrite(bundle, {"rules/safety.yaml": original.replace(b">= 1", b">= 2")})
    with pytest.raises(ReleaseError, match="content differs from the manifest"):
        verify_release(read_release(bundle), load_keyring(site.keyring))


def test_a_changed_manifest_breaks_the_builder_signature(site: Site) -> None:
    bundle = built(site)
    manifest = json.loads(read_release(bundle).manifest_bytes)
    manifest["version"] = "2099.1.1"
    _rewrite(bundle, {"manifest.json": json.dumps(manifest, sort_keys=True).encode()})
    with pytest.raises(ReleaseError, match="builder's signature"):
        verify_release(read_release(bundle), load_keyring(site.keyring))


def test_an_approval_cannot_be_moved_to_another_release(site: Site) -> None:
    first = built(site, "a.zip")
    approve(first, site.alice, "Dr Alice")
    with zipfile.ZipFile(first) as zf:
        stolen = {n: zf.read(n) for n in zf.namelist() if n.startswith("approvals/")}
    # The same rules released again under another version: another manifest, another digest.
    second = site.dir / "b.zip"
    build_release(
        RULES, second, version="2026.11.2", key=load_private_key(site.builder), created_on=DAY
    )
    _rewrite(second, stolen)
    with pytest.raises(ReleaseError, match="approval by Dr Alice does not match"):
        verify_release(read_release(second), load_keyring(site.keyring))


def test_an_untrusted_builder_is_refused(site: Site) -> None:
    out = site.dir / "rogue.zip"
    build_release(RULES, out, version="1", key=load_private_key(site.outsider), created_on=DAY)
    with pytest.raises(ReleaseError, match="not a trusted builder"):
        verify_release(read_release(out), load_keyring(site.keyring))


def test_builds_are_deterministic(site: Site) -> None:
    assert built(site, "x.zip").read_bytes() == built(site, "y.zip").read_bytes()


def test_invalid_rules_are_not_released(site: Site, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(RULES, bad)
    (bad / "sleep.yaml").write_text("rules:\n  - id: x.y\n    title: t\n    when: nope >= 1\n")
    with pytest.raises(ReleaseError, match="the rules do not load"):
        built(site, rules=bad)
    assert not (site.dir / "r1.zip").exists()


def test_changelog_names_rules_added_removed_changed_and_the_population_effect(
    site: Site, tmp_path: Path
) -> None:
    first = built(site)
    changed = tmp_path / "changed"
    shutil.copytree(RULES, changed)
    sleep = yaml.safe_load((changed / "sleep.yaml").read_text())
    removed_id = sleep["rules"][0]["id"]
    sleep["rules"] = sleep["rules"][1:]
    (changed / "sleep.yaml").write_text(yaml.safe_dump(sleep, sort_keys=False))
    second = site.dir / "r2.zip"
    build_release(
        changed,
        second,
        version="2026.12.1",
        key=load_private_key(site.builder),
        previous=read_release(first),
        population=200,
        created_on=DAY,
    )
    release = read_release(second)
    log = release.files["CHANGELOG"].decode()
    assert f"## Rules removed (1)\n- `{removed_id}`" in log
    assert "## Rules added (0)" in log
    assert "intake(s) get a different plan" in log and "`sleep.hygiene` disappears" in log
    assert release.manifest.previous is not None
    assert release.manifest.previous.digest == read_release(first).digest


def test_cli_flow_keygen_build_approve_verify_evaluate(site: Site, tmp_path: Path) -> None:
    key = tmp_path / "carol.pem"
    made = runner.invoke(app, ["release", "keygen", str(key), "--name", "Dr Carol"])
    assert made.exit_code == 0 and "public_key:" in made.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = runner.invoke(app, ["release", "keygen", str(key), "--name", "Dr Carol"])
    assert again.exit_code == 2 and "never overwritten" in again.output

    bundle = tmp_path / "rel.zip"
    args = ["--out", str(bundle), "--version", "2026.11.1", "--key", str(site.builder)]
    assert runner.invoke(app, ["release", "build", str(RULES), *args]).exit_code == 0
    verify = ["release", "verify", str(bundle), "--keyring", str(site.keyring)]
    pending = runner.invoke(app, verify)
    assert pending.exit_code == 1 and "0 of 2 approvals" in pending.stdout
    example = str(ROOT / "examples" / "case2.json")
    run = ["evaluate", example, "--format", "json", "--release", str(bundle)]
    refused = runner.invoke(app, [*run, "--keyring", str(site.keyring)])
    assert refused.exit_code == 2 and "0 of 2 approvals" in refused.output
    assert runner.invoke(app, run).exit_code == 2  # no keyring given

    for who, name in ((site.alice, "Dr Alice"), (site.bob, "Dr Bob")):
        signed = runner.invoke(
            app, ["release", "approve", str(bundle), "--key", str(who), "--reviewer", name]
        )
        assert signed.exit_code == 0, signed.output
    assert runner.invoke(app, verify).exit_code == 0
    ok = runner.invoke(app, [*run, "--keyring", str(site.keyring)])
    assert ok.exit_code == 0, ok.output
    expected = gbrules.evaluate(json.loads(Path(example).read_text()))
    assert json.loads(ok.stdout)["codes"] == sorted(expected.codes)


def test_a_kill_during_approval_leaves_a_whole_bundle(site: Site) -> None:
    """SIGKILL `gbrules release approve` at random moments: the bundle is always readable, and
    holds either no approval or the complete one."""
    bundle = built(site)
    before = bundle.read_bytes()
    rng = random.Random(7)
    exe = [sys.executable, "-m", "gbrules"]
    args = ["release", "approve", str(bundle), "--key", str(site.alice), "--reviewer", "Dr Alice"]
    outcomes = set()
    for _ in range(6):
        bundle.write_bytes(before)
        proc = subprocess.Popen([*exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 2.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        release = read_release(bundle)  # never torn
        result = verify_release(release, load_keyring(site.keyring))
        assert result.approvers in ((), ("Dr Alice",))
        outcomes.add(result.approvers)
    leftovers = [p for p in site.dir.iterdir() if p.name.startswith(".r1.zip.")]
    for p in leftovers:  # a killed writer can leave its temp file; never the bundle torn
        p.unlink()
    assert outcomes  # at least one run was judged

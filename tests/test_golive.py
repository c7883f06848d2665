"""Go-live on a real server: a twice-approved release active, a candidate in shadow (its
differences in the audit trail, never in a card), promote, roll back, one rule switched off,
each through the documented command (docs/GOLIVE.md), each audited."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from gbrules.io.app import form as F
from gbrules.io.audit import AuditLog
from gbrules.io.cli import app
from gbrules.io.release import approve_release, build_release, load_private_key
from gbrules.io.service import create_app
from gbrules.io.service.hooks import SHADOW
from gbrules.io.service.releases import Releases, load_release
from tests.conftest import AS_OF, load_example
from tests.test_release import DAY, RULES, Site, built
from tests.test_release import site as site
from tests.test_service import hook_request

runner = CliRunner()
SECRET = b"test-secret-0123456789abcdef"
TOKEN = "admin-token-0123456789abcdef0123"
DROPPED_RULE = "sleep.short_or_poor"  # the candidate leaves it out: case1 loses sleep.hygiene


def candidate_rules(tmp_path: Path) -> Path:
    """The shipped rules with one rule removed and the version bumped: a changed rulebook."""
    rules = tmp_path / "rules-next"
    shutil.copytree(RULES, rules)
    sleep = yaml.safe_load((rules / "sleep.yaml").read_text(encoding="utf-8"))
    sleep["rules"] = [r for r in sleep["rules"] if r["id"] != DROPPED_RULE]
    (rules / "sleep.yaml").write_text(yaml.safe_dump(sleep, sort_keys=False), encoding="utf-8")
    book = yaml.safe_load((rules / "rulebook.yaml").read_text(encoding="utf-8"))
    book["version"] = "1.2.0"
    (rules / "rulebook.yaml").write_text(yaml.safe_dump(book, sort_keys=False), encoding="utf-8")
    return rules


def approved(site: Site, name: str, rules: Path = RULES, approvers: int = 2) -> Path:
    bundle = site.dir / name
    build_release(rules, bundle, version=name, key=load_private_key(site.builder), created_on=DAY)
    for key, who in [(site.alice, "Dr Alice"), (site.bob, "Dr Bob")][:approvers]:
        approve_release(bundle, load_private_key(key), who, on=DAY)
    return bundle


@pytest.fixture
def golive(
    site: Site, tmp_path: Path, serve: Callable[[Any], str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, AuditLog, Releases]:
    active = load_release(approved(site, "r1.zip"), site.keyring)
    candidate = load_release(approved(site, "r2.zip", candidate_rules(tmp_path)), site.keyring)
    releases = Releases(active, candidate)
    audit = AuditLog(tmp_path / "audit.db", secret=SECRET)
    audit.migrate()
    url = serve(create_app(today=lambda: AS_OF, audit=audit, releases=releases, admin_token=TOKEN))
    monkeypatch.setenv("GBRULES_ADMIN_TOKEN", TOKEN)
    return url, audit, releases


def cards(url: str, name: str = "case1") -> list[dict[str, Any]]:
    r = httpx.post(f"{url}/cds-services/patient-view", json=hook_request(name), timeout=30)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["cards"]
    return out


def mentions(cards_: list[dict[str, Any]], words: str) -> bool:
    return words in json.dumps(cards_)


def workbench_offers(url: str, name: str = "case1") -> set[str]:
    """The codes the service's own workbench (/app) offers a clinician for an example intake
    (its suggestion cards; what a site or the kill switch held back is listed apart)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/app/", follow_redirects=True)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None, page.text[:300]
        values = F.from_intake(load_example(name))
        r = client.post(
            "/app/intake", data={**values, "csrf": found.group(1)}, headers={"X-Workbench": "fetch"}
        )
        assert r.status_code == 200, r.text
        draft = r.json()["draft"]
        return set(re.findall(r'<article class="suggestion[^"]*"[^>]*data-code="([^"]+)"', draft))


def test_shadow_promote_rollback_and_the_kill_switch(
    golive: tuple[str, AuditLog, Releases],
) -> None:
    url, audit, releases = golive
    # Shadow: clinicians see the active release only; the difference goes to the audit trail.
    assert releases.candidate is not None
    versions = (
        releases.active.engine.rulebook.version_label,
        releases.candidate.engine.rulebook.version_label,
    )
    shown = cards(url)
    assert mentions(shown, "Sleep hygiene")
    assert "sleep.hygiene" in workbench_offers(url)  # the workbench drafts with the same rules
    cards(url, "case2")
    SHADOW.drain()  # shadow evaluations run off the request path
    [summary] = audit.shadow_report()
    assert (summary.active_version, summary.candidate_version) == versions
    assert summary.compared == 2 and summary.differing == 1
    assert summary.dropped == {"sleep.hygiene": 1} and summary.added == {}
    report = runner.invoke(app, ["audit", "shadow-report", "--db", audit.url])
    assert report.exit_code == 0, report.output
    assert "2 compared, 1 differ" in report.output and "- sleep.hygiene: 1" in report.output

    # Promote: one command, no restart; the candidate's plan is now what clinicians see.
    r = runner.invoke(app, ["release", "promote", "--service", url, "--actor", "ops1"])
    assert r.exit_code == 0, r.output
    assert "active: r2.zip" in r.output and "previous: r1.zip" in r.output
    assert not mentions(cards(url), "Sleep hygiene")
    assert "sleep.hygiene" not in workbench_offers(url)

    # Roll back: the previous release is back at once (and the bad one back in shadow).
    r = runner.invoke(app, ["release", "rollback", "--service", url, "--actor", "ops1"])
    assert r.exit_code == 0, r.output
    assert "active: r1.zip" in r.output and "candidate (shadow): r2.zip" in r.output
    assert mentions(cards(url), "Sleep hygiene")
    assert "sleep.hygiene" in workbench_offers(url)

    # Kill switch: one rule off at once; safety rules never.
    assert mentions(cards(url), "150 minutes")
    assert "exercise.aerobic" in workbench_offers(url)
    r = runner.invoke(
        app,
        [
            "release",
            "rule-off",
            "lifestyle.exercise.below_150",
            "--service",
            url,
            "--actor",
            "ops2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert not mentions(cards(url), "150 minutes")
    assert "exercise.aerobic" not in workbench_offers(url)
    refused = runner.invoke(
        app,
        [
            "release",
            "rule-off",
            "safety.crisis.self_harm_thoughts",
            "--service",
            url,
            "--actor",
            "ops2",
        ],
    )
    assert refused.exit_code == 1 and "locked" in refused.output
    assert cards(url, "crisis")[0]["indicator"] == "critical"

    # Every change is in the audit trail, by whom; the refused one is not.
    events = audit.admin_events()
    assert [(e["actor"], e["action"]) for e in events] == [
        ("ops1", "promote"),
        ("ops1", "rollback"),
        ("ops2", "rule_off"),
    ]
    assert json.loads(events[0]["detail"]) == {"from": "r1.zip", "to": "r2.zip"}


def test_admin_endpoints_need_the_token_and_an_operator(
    golive: tuple[str, AuditLog, Releases],
) -> None:
    url, audit, releases = golive
    assert httpx.post(f"{url}/admin/promote").status_code == 401
    wrong = {"Authorization": "Bearer nope", "X-Gbrules-Actor": "ops1"}
    assert httpx.post(f"{url}/admin/promote", headers=wrong).status_code == 401
    nobody = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(f"{url}/admin/promote", headers=nobody).status_code == 400
    ops = {**nobody, "X-Gbrules-Actor": "ops1"}
    assert httpx.post(f"{url}/admin/rules/no.such_rule/off", headers=ops).status_code == 409
    assert httpx.post(f"{url}/admin/rollback", headers=ops).status_code == 409  # nothing before
    assert releases.active.label == "r1.zip" and audit.admin_events() == []


def test_no_admin_endpoints_without_a_token(serve: Callable[[Any], str]) -> None:
    url = serve(create_app(today=lambda: AS_OF))
    r = httpx.post(f"{url}/admin/promote", headers={"Authorization": "Bearer x"})
    assert r.status_code == 404


def test_a_per_rule_metric_counts_firings(golive: tuple[str, AuditLog, Releases]) -> None:
    url, _, _ = golive
    cards(url)
    cards(url)
    text = httpx.get(f"{url}/metrics").text
    assert 'gbrules_rule_fired_total{rule_id="sleep.short_or_poor"} 2.0' in text


def test_serve_refuses_an_unapproved_or_tampered_release(site: Site) -> None:
    once = approved(site, "once.zip", approvers=1)
    r = runner.invoke(
        app, ["serve", "--release", str(once), "--keyring", str(site.keyring), "--port", "1"]
    )
    assert r.exit_code == 2 and "1 of 2 approvals" in r.output
    good = approved(site, "good.zip")
    r = runner.invoke(
        app,
        [
            "serve",
            "--release",
            str(built(site)),  # built, never approved
            "--shadow",
            str(good),
            "--keyring",
            str(site.keyring),
        ],
    )
    assert r.exit_code == 2 and "approvals" in r.output
    tampered = site.dir / "tampered.zip"
    tampered.write_bytes(good.read_bytes().replace(b"safety", b"safetx", 1))
    r = runner.invoke(app, ["serve", "--release", str(tampered), "--keyring", str(site.keyring)])
    assert r.exit_code == 2 and "invalid release" in r.output


def test_the_service_applies_the_site_configuration(serve: Callable[[Any], str]) -> None:
    """Hooks not enabled answer 404; the site's order code rides in the ServiceRequest; a
    mental-health service's cards hold no referral to mental health (case2 gets one elsewhere)."""
    from gbrules.clinical.site import SiteConfig
    from gbrules.io.fhir.careplan import careplan_from_evaluation

    order = {"system": "https://example.org/orders", "code": "DIET01", "display": "Dietitian"}
    site = SiteConfig.model_validate(
        {
            "site": "gi-clinic",
            "country": "GB",
            "care_setting": "mental_health",
            "enabled_hooks": ["patient-view"],
            "order_codes": {"referral.dietitian": order},
        }
    )
    plain = serve(create_app(today=lambda: AS_OF))
    assert mentions(cards(plain, "case2"), "referral.mental_health")
    assert "referral.mental_health" in workbench_offers(plain, "case2")
    url = serve(create_app(today=lambda: AS_OF, site=site))
    shown = cards(url, "case2")
    assert not mentions(shown, '"code": "referral.mental_health"')
    assert "referral.mental_health" not in workbench_offers(url, "case2")  # nor its workbench
    codings = [
        coding
        for card in shown
        for s in card.get("suggestions", [])
        for a in s["actions"]
        for coding in a["resource"].get("code", {}).get("coding", [])
    ]
    assert order in codings
    r = httpx.post(f"{url}/cds-services/order-select", json=hook_request("case2", "order-select"))
    assert r.status_code == 404 and "not enabled" in r.text
    # The CarePlan carries the same local orderable.
    from gbrules.clinical.engine import cached_engine
    from gbrules.clinical.site import evaluate_at_site
    from tests.conftest import load_example

    ev = evaluate_at_site(cached_engine(), load_example("case2"), site=site)
    plan = careplan_from_evaluation(ev, "Patient/1", order_codes=site.order_codes)
    assert order in [c for r in plan["contained"] for c in r.get("code", {}).get("coding", [])]
    assert "referral.gastroenterology" not in ev.codes


def test_serve_refuses_a_bad_site_file(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "site": "x",
                "country": "US",
                "care_setting": "primary_care",
                "rules_off": ["safety.x"],
            }
        ),
        encoding="utf-8",
    )
    r = runner.invoke(app, ["serve", "--site", str(bad)])
    assert r.exit_code == 2 and "cannot be switched off" in r.output


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_shadow_and_admin_records_on_both_backends(db_url: str) -> None:
    """The v2 tables on SQLite and a real PostgreSQL: shadow differences and operator actions
    are stored and summarised the same way."""
    import gbrules
    from tests.conftest import load_example

    audit = AuditLog(db_url, secret=SECRET)
    active = gbrules.evaluate(load_example("case1"))
    candidate = gbrules.evaluate(load_example("case2"))
    assert audit.record_shadow("hook-1", active, active)
    assert audit.record_shadow("hook-2", active, candidate)
    audit.record_admin("ops1", "promote", json.dumps({"from": "a", "to": "b"}))
    [summary] = audit.shadow_report()
    assert summary.compared == 2 and summary.differing == 1
    assert set(summary.added) == set(candidate.codes - active.codes)
    assert set(summary.dropped) == set(active.codes - candidate.codes)
    assert [(e["actor"], e["action"]) for e in audit.admin_events()] == [("ops1", "promote")]
    audit.close()


def test_fhir_dates_make_an_old_observation_stale() -> None:
    """End to end from FHIR: the CRP's effectiveDateTime decides whether it is current."""
    from gbrules.clinical.engine import cached_engine
    from gbrules.clinical.site import evaluate_at_site
    from gbrules.io.fhir.intake import intake_from_fhir
    from tests.test_fhir_intake import bundle, obs, patient, qty

    def crp_on(day: str) -> Any:
        intake, _ = intake_from_fhir(
            bundle(patient(), obs("1988-5", when=f"{day}T10:00:00Z", **qty(30.0, "mg/L"))),
            as_of=AS_OF,
        )
        return evaluate_at_site(cached_engine(), intake, as_of=AS_OF)

    assert AS_OF.isoformat() == "2025-06-01"
    assert crp_on("2025-03-03").stale == {}  # 90 days before
    old = crp_on("2025-03-02")  # 91 days before
    assert old.stale == {"crp": "2025-03-02"}
    assert "crp_mg_l" in old.not_recorded

"""Rendering: safety layout, audiences, XSS, self-contained HTML, site templates, CLI."""

from __future__ import annotations

import itertools
import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gbrules
from gbrules import render_care_plan
from gbrules.clinical.examples import load_example
from gbrules.core.result import Evaluation
from gbrules.io.cli import app
from gbrules.io.render import GLOSSARY, PATIENT_TEXT
from tests.conftest import EXAMPLE_NAMES, FIXED_TIME

FORMATS = ("markdown", "html", "text")
XSS = "<script>alert(1)</script>"


def render(ev: Evaluation, fmt: str = "html", audience: str = "clinician", **kw: object) -> str:
    return render_care_plan(
        ev,
        fmt,  # type: ignore[arg-type]
        audience=audience,  # type: ignore[arg-type]
        generated_at=FIXED_TIME,
        **kw,  # type: ignore[arg-type]
    )


def test_xss_patient_id_is_inert_in_html() -> None:
    intake = load_example("crisis") | {"patient_id": XSS}
    ev = gbrules.evaluate(intake)
    for audience in ("clinician", "patient"):
        out = render(ev, "html", audience)
        assert "<script" not in out.lower()
        assert "alert(1)" not in out or "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render(ev, "html")


def test_xss_patient_id_is_escaped_in_markdown() -> None:
    ev = gbrules.evaluate(load_example("case1") | {"patient_id": XSS})
    out = render(ev, "markdown")
    assert "<script>" not in out
    assert r"\<script\>" in out


@pytest.mark.parametrize("audience", ["clinician", "patient"])
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_html_is_self_contained_and_accessible(
    evaluations: dict[str, Evaluation], example: str, audience: str
) -> None:
    out = render(evaluations[example], "html", audience)
    assert out.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in out
    for banned in ("<link", "<script", "<img", "<iframe", "@import", "src=", "url("):
        assert banned not in out.lower(), banned
    assert not re.search(r"https?://", out)
    assert out.count("<h1>") == 1
    # heading levels never skip (h1 -> h2 -> h3)
    levels = [int(n) for n in re.findall(r"<h([1-6])[ >]", out)]
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels))
    assert "break-inside: avoid" in out and "@media print" in out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("audience", ["clinician", "patient"])
def test_crisis_banner_comes_first(
    evaluations: dict[str, Evaluation], fmt: str, audience: str
) -> None:
    ev = evaluations["crisis"]
    flat = " ".join(render(ev, fmt, audience).split())
    assert "988" in flat and "911" in flat
    banner = flat.index("988")
    titles = [s.title for s in ev.suggestions[1:]]
    if audience == "patient":
        titles = [PATIENT_TEXT[s.code][0] for s in ev.suggestions[1:]]
    titles += [
        d.code if audience == "clinician" else PATIENT_TEXT[d.code][0] for d in ev.suppressed
    ]
    for title in titles:
        assert banner < flat.index(title), title


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_banner_without_crisis(evaluations: dict[str, Evaluation], fmt: str) -> None:
    for audience in ("clinician", "patient"):
        out = render(evaluations["case1"], fmt, audience).lower()
        assert "immediate action required" not in out
        assert "your safety comes first" not in out


def test_clinician_layout_order(evaluations: dict[str, Evaluation]) -> None:
    out = render(evaluations["case2"], "markdown")
    marks = [
        "## Referrals, tests and reviews",
        "## Lifestyle",
        "## Probiotic trial and expectations",
        "## What the rules saw",
        "Rulebook ",
        "## Clinician sign-off",
    ]
    positions = [out.index(m) for m in marks]
    assert positions == sorted(positions)
    assert "After 4 weeks" in out  # probiotic reassessment point, in weeks
    for s in evaluations["case2"].suggestions:
        assert s.rule_id in out and s.evidence[0] in out


def test_deferred_items_have_reasons(evaluations: dict[str, Evaluation]) -> None:
    ev = evaluations["crisis"]
    assert ev.suppressed
    for fmt in FORMATS:
        out = render(ev, fmt)
        for d in ev.suppressed:
            assert d.code in out
        assert "Deferred until the same-day safety assessment" in out


def test_not_recorded_is_listed(evaluations: dict[str, Evaluation]) -> None:
    out = render(evaluations["crisis"], "markdown")
    assert "Not recorded" in out and "suicidal ideation" in out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_patient_plain_language(evaluations: dict[str, Evaluation], example: str, fmt: str) -> None:
    ev = evaluations[example]
    out = render(ev, fmt, "patient")
    for s in ev.suggestions:
        assert s.code not in out and s.rule_id not in out
    for d in ev.suppressed:
        assert d.code not in out and d.by_rule not in out
    assert "LOINC" not in out and "ICD-10" not in out and "SSRI" not in out
    assert "talk to your clinician" in out.lower()
    assert not re.search(r"\bstop\b", out, re.IGNORECASE)
    for abbr in ("PHQ-9", "GAD-7", "CRP", "IBS", "FODMAP"):
        if abbr in out:
            assert GLOSSARY[abbr].split(":")[0] in out, abbr


def test_every_code_has_patient_text() -> None:
    from gbrules.clinical.codes import _CODES

    assert {c.code for c in _CODES} <= set(PATIENT_TEXT)


def test_no_text_tells_anyone_to_stop_a_medication(evaluations: dict[str, Evaluation]) -> None:
    for ev in evaluations.values():
        for fmt in FORMATS:
            for audience in ("clinician", "patient"):
                out = render(ev, fmt, audience).lower()
                assert not re.search(r"\bstop (the |your )?(ssri|medication|medicine)", out)


def test_generated_at_is_injectable(evaluations: dict[str, Evaluation]) -> None:
    out = render(evaluations["case1"], "text")
    assert "2025-01-15 09:30 UTC" in out
    naive = render_care_plan(
        evaluations["case1"], "text", generated_at=datetime(2025, 1, 15, 9, 30)
    )
    assert naive == out


def test_site_templates_take_precedence(evaluations: dict[str, Evaluation], tmp_path: Path) -> None:
    (tmp_path / "clinician.md.j2").write_text(
        '{% extends "_base.md.j2" %}{% block title %}# Site draft{% endblock %}', encoding="utf-8"
    )
    out = render(evaluations["case1"], "markdown", templates=tmp_path)
    assert out.startswith("# Site draft")
    assert "## Lifestyle" in out  # the bundled base layout still applies
    assert render(evaluations["case1"], "html", templates=tmp_path).startswith("<!DOCTYPE")


def test_an_edited_site_template_is_used_without_a_restart(
    evaluations: dict[str, Evaluation], tmp_path: Path
) -> None:
    """Environments are kept per template directory; an edited template still shows."""
    template = tmp_path / "clinician.md.j2"
    template.write_text('{% extends "_base.md.j2" %}{% block title %}# One{% endblock %}')
    assert render(evaluations["case1"], "markdown", templates=tmp_path).startswith("# One")
    template.write_text('{% extends "_base.md.j2" %}{% block title %}# Two{% endblock %}')
    stat = template.stat()  # a second edit within the clock's resolution: move the time on
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert render(evaluations["case1"], "markdown", templates=tmp_path).startswith("# Two")


def test_unknown_format_or_audience() -> None:
    ev = gbrules.evaluate({"age": 40})
    with pytest.raises(ValueError, match="format"):
        render(ev, "pdf")
    with pytest.raises(ValueError, match="audience"):
        render(ev, "html", "family")
    assert "No suggestions" in render(ev, "markdown")


# --- CLI -----------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_audience_and_output(tmp_path: Path) -> None:
    out = tmp_path / "plan.html"
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--example",
            "crisis",
            "--format",
            "html",
            "--audience",
            "patient",
            "--output",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output == ""
    text = out.read_text(encoding="utf-8")
    assert "Your safety comes first" in text and "safety.crisis" not in text


def test_cli_json_output_file(tmp_path: Path) -> None:
    out = tmp_path / "ev.json"
    res = runner.invoke(app, ["evaluate", "--example", "case1", "--format", "json", "-o", str(out)])
    assert res.exit_code == 0
    assert json.loads(out.read_text())["patient_id"] == "example-case1"


def test_cli_explain_lists_rules_facts_suppressions() -> None:
    res = runner.invoke(app, ["evaluate", "--example", "crisis", "--format", "text", "--explain"])
    assert res.exit_code == 0, res.output
    assert "Fired rules" in res.output and "Facts the rules saw" in res.output
    assert "Suppressed or deferred" in res.output
    assert "\x1b[" not in res.output  # no colour codes when stdout is not a terminal


def test_cli_templates_dir(tmp_path: Path) -> None:
    (tmp_path / "clinician.txt.j2").write_text("site {{ patient_id }}\n", encoding="utf-8")
    res = runner.invoke(
        app, ["evaluate", "--example", "case1", "--format", "text", "--templates", str(tmp_path)]
    )
    assert res.exit_code == 0 and res.output == "site example-case1\n"
    res = runner.invoke(app, ["evaluate", "--example", "case1", "--templates", "/nonexistent"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_cli_bad_template_exits_2(tmp_path: Path) -> None:
    (tmp_path / "clinician.md.j2").write_text("{{ no_such_name }}", encoding="utf-8")
    res = runner.invoke(app, ["evaluate", "--example", "case1", "--templates", str(tmp_path)])
    assert res.exit_code == 2
    assert "template" in res.output and "Traceback" not in res.output


def test_cli_bad_input_still_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"age": -1, "mood": {"phq9": {"items": [1]}}}', encoding="utf-8")
    res = runner.invoke(app, ["evaluate", str(bad), "--audience", "patient", "--format", "html"])
    assert res.exit_code == 2
    assert "mood.phq9.items" in res.output and "Traceback" not in res.output

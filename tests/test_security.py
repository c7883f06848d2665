"""Security checks: no unsafe loaders in the library, HTML escaped, no patient data in logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest

import gbrules

from .conftest import load_example

PACKAGE = Path(gbrules.__file__).resolve().parent
FORBIDDEN = {
    "yaml.load(": re.compile(r"\byaml\.(load|load_all|unsafe_load|full_load)\("),
    "eval(": re.compile(r"\beval\("),
    "exec(": re.compile(r"\bexec\("),
    "pickle": re.compile(r"\b(c?pickle|marshal|shelve)\b"),
    "os.system / shell=True": re.compile(r"os\.system\(|shell\s*=\s*True"),
}


def test_no_unsafe_calls_in_the_library_source() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    found = [
        f"{path.relative_to(PACKAGE)}:{n}: {what}: {line.strip()}"
        for path in sources
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for what, pattern in FORBIDDEN.items()
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_scan_would_catch_them() -> None:
    assert FORBIDDEN["yaml.load("].search("data = yaml.load(text)")
    assert FORBIDDEN["eval("].search("x = eval(s)")
    assert not FORBIDDEN["eval("].search("ev = engine.evaluate(x); literal_eval(y)")
    assert FORBIDDEN["pickle"].search("import pickle")


HOSTILE_ID = '<script>alert("x")</script>&<img src=x onerror=alert(1)>'


def test_html_rendering_escapes_patient_supplied_text() -> None:
    data = load_example("case1")
    data["patient_id"] = HOSTILE_ID
    ev = gbrules.evaluate(data)
    try:
        html = gbrules.render_care_plan(ev, "html")
    except (ValueError, jinja2.TemplateNotFound) as exc:
        pytest.skip(f"HTML rendering is not on this branch yet: {exc}")
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def _values(doc: Any) -> list[str]:
    """Every free value in an intake, as the text a log line would show."""
    if isinstance(doc, dict):
        return [v for x in doc.values() for v in _values(x)]
    if isinstance(doc, list):
        return [v for x in doc for v in _values(x)]
    if isinstance(doc, bool) or doc is None:
        return []
    return [str(doc)]


MARKED = {
    "patient_id": "PID-7f3a9c-secret",
    "age": 47,
    "sex": "female",
    "gi": {"symptom_weeks": 4321, "abdominal_pain_score": 6, "bloating": True},
    "mood": {"phq9": {"total": 17, "item9": 0}, "gad7": {"total": 13}},
    "labs": {"crp": {"value": 7.77, "unit": "mg/L"}, "celiac_serology": "negative"},
    "lifestyle": {
        "sleep_hours": 5.37,
        "fiber_g_per_day": 13.37,
        "caffeine_mg_per_day": 432.1,
        "exercise_minutes_per_week": 1234,
        "stress_score": 8,
    },
}


def test_no_patient_data_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger and everything under it
    for name in logging.root.manager.loggerDict:
        logging.getLogger(name).setLevel(logging.DEBUG)
    intakes = [load_example(n) for n in ("case1", "case2", "crisis")] + [MARKED]
    for data in intakes:
        ev = gbrules.evaluate(data)
        gbrules.render_care_plan(ev, "markdown")
        bad = dict(data, age="forty")  # the error path must not log values either
        with pytest.raises(gbrules.IntakeError):
            gbrules.evaluate(bad)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    # Distinctive values (strings, and numbers of 3+ characters) must not appear; tiny numbers
    # like "6" would match timestamps and counters, so they are checked via MARKED's ones.
    leaked = sorted(
        {v for d in intakes for v in _values(d) if len(v) >= 3 and v in logged} - {"mg/L"}
    )
    assert not leaked, f"patient values in logs: {leaked}"

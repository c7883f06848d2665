"""Real-browser check: the HTML drafts print to PDF in headless Chromium without losing items.

Needs the Debian packages ``chromium`` and ``poppler-utils`` (pdftotext). Without them the
test is skipped locally, but fails in CI (``CI=true``), where ``.ci/run`` installs them.
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from gbrules import render_care_plan
from gbrules.core.result import Evaluation
from gbrules.io.render import PATIENT_TEXT
from tests.browser import CHROMIUM, CHROMIUM_ARGS, IN_CI
from tests.conftest import FIXED_TIME


def _tools() -> tuple[str, str]:
    pdftotext = shutil.which("pdftotext")
    missing = [
        n for n, ok in (("chromium", Path(CHROMIUM).exists()), ("pdftotext", pdftotext)) if not ok
    ]
    if missing:
        msg = f"{', '.join(missing)} not installed (apt-get install chromium poppler-utils)"
        if IN_CI:
            pytest.fail(f"CI: {msg}")
        pytest.skip(msg)
    assert pdftotext is not None
    return CHROMIUM, pdftotext


def print_to_pdf_text(html: str, tmp_path: Path) -> str:
    chromium, pdftotext = _tools()
    page = tmp_path / "draft.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "draft.pdf"
    subprocess.run(
        [
            chromium,
            "--headless",
            *CHROMIUM_ARGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert pdf.exists() and pdf.stat().st_size > 1000
    txt = subprocess.run(
        [pdftotext, "-raw", str(pdf), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode("utf-8")
    # NFKC undoes ligatures (fi, fl); collapse the line breaks of wrapped text.
    return " ".join(unicodedata.normalize("NFKC", txt).split())


@pytest.mark.slow
@pytest.mark.parametrize("audience", ["clinician", "patient"])
def test_crisis_pdf_banner_first_and_nothing_cut(
    evaluations: dict[str, Evaluation], tmp_path: Path, audience: str
) -> None:
    ev = evaluations["crisis"]
    html = render_care_plan(ev, "html", audience=audience, generated_at=FIXED_TIME)  # type: ignore[arg-type]
    text = print_to_pdf_text(html, tmp_path)
    banner = "Immediate action required" if audience == "clinician" else "Your safety comes first"
    assert banner in text
    start = text.index(banner)
    assert "988" in text[start:] and "911" in text[start:]
    titles = [
        s.title if audience == "clinician" else PATIENT_TEXT[s.code][0] for s in ev.suggestions
    ]
    for title in titles:
        assert title in text, f"suggestion title missing from the PDF: {title}"
    for title in titles[1:]:
        assert start < text.index(title), f"{title} printed before the crisis banner"
    assert start < text.index(titles[0])


@pytest.mark.slow
def test_case1_pdf_has_every_suggestion(evaluations: dict[str, Evaluation], tmp_path: Path) -> None:
    ev = evaluations["case1"]
    html = render_care_plan(ev, "html", generated_at=FIXED_TIME)
    text = print_to_pdf_text(html, tmp_path)
    assert "Immediate action required" not in text
    for s in ev.suggestions:
        assert s.title in text, f"suggestion title missing from the PDF: {s.title}"
        assert s.rule_id in text
    assert "Clinician sign-off" in text and "Edits made" in text

"""Care-plan drafts from an Evaluation, rendered with jinja2 templates shipped in the package.

Renderers see only the Evaluation (never the engine). The generation time is injectable so a
draft can be reproduced byte for byte; a site may put its own templates first in the search
path (``templates=DIR``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import jinja2

from gbrules.evaluation import Evaluation, Suggestion
from gbrules.facts import VOCABULARY
from gbrules.overrides import show

Format = Literal["markdown", "html", "text"]
Audience = Literal["clinician", "patient"]
_EXT = {"markdown": "md", "html": "html", "text": "txt"}

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Safety", ("safety",)),
    ("Referrals and tests", ("referral", "lab", "medication")),
    ("Lifestyle", ("diet", "sleep", "stress", "exercise")),
    ("Probiotics and expectations", ("probiotic", "education")),
)


def _environment(templates: str | Path | None, autoescape: bool) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates)))
    loaders.append(jinja2.PackageLoader("gbrules", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=autoescape,  # noqa: S701 - True for html; markdown and text are not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["show"] = show
    env.filters["label"] = lambda name: VOCABULARY[name].label if name in VOCABULARY else name
    return env


def plan_context(ev: Evaluation, generated_at: datetime) -> dict[str, Any]:
    """What every template gets: the evaluation split into the sections of a draft."""
    urgent = [s for s in ev.suggestions if s.priority in ("critical", "urgent")]
    routine = [s for s in ev.suggestions if s.priority == "routine"]
    sections: list[tuple[str, list[Suggestion]]] = []
    for title, cats in SECTIONS:
        items = [s for s in routine if s.category in cats]
        if items:
            sections.append((title, items))
    return {
        "ev": ev,
        "critical": [s for s in urgent if s.priority == "critical"],
        "urgent": [s for s in urgent if s.priority == "urgent"],
        "sections": sections,
        "deferred": ev.suppressed,
        "facts": ev.facts,
        "not_recorded": ev.not_recorded,
        "generated_at": generated_at.strftime("%Y-%m-%d %H:%M UTC"),
    }


def render_care_plan(
    ev: Evaluation,
    format: Format = "markdown",
    *,
    audience: Audience = "clinician",
    templates: str | Path | None = None,
    generated_at: datetime | None = None,
) -> str:
    """Render a care-plan draft for a clinician to review, edit and sign."""
    if format not in _EXT:
        raise ValueError(f"unknown format {format!r}; use markdown, html or text")
    if audience not in ("clinician", "patient"):
        raise ValueError(f"unknown audience {audience!r}; use clinician or patient")
    env = _environment(templates, autoescape=format == "html")
    when = generated_at or datetime.now(UTC)
    template = env.get_template(f"{audience}.{_EXT[format]}.j2")
    return template.render(**plan_context(ev, when))

"""Where an unknown intake key probably belongs, for the "unknown field" error.

Unknown keys are rejected so that a typo never drops clinical data. The newcomer's usual
mistakes are a misspelling (``lifestyle.sleep_hourz``), a field in the wrong section
(``sleep_hours`` at the top level) and the rules' flat fact names used as intake keys
(``phq9_total``: the facts are derived from the intake, docs/FACTS.md). Each gets the path
it should have, so the error says what to write instead.
"""

from __future__ import annotations

import difflib
from functools import cache

from pydantic import BaseModel

#: Fact names (docs/FACTS.md) whose intake field has another name or place.
FACT_FIELDS: dict[str, str] = {
    "phq9_total": "mood.phq9.total",
    "phq9_item9": "mood.phq9.item9",
    "gad7_total": "mood.gad7.total",
    "hamd17_total": "mood.hamd17.total",
    "crp_mg_l": "labs.crp",
    "gi_symptom_weeks": "gi.symptom_weeks",
    "on_ssri": "medications.ssri",
    "taking_probiotic": "medications.probiotic",
}


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


@cache
def _layout(root: type[BaseModel]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(field name -> every path it has, section path -> its field names), from the models."""
    by_name: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        children[prefix] = list(model.model_fields)
        for name, info in model.model_fields.items():
            path = f"{prefix}.{name}" if prefix else name
            by_name.setdefault(name, []).append(path)
            for sub in _models(info.annotation):
                walk(sub, path)

    walk(root, "")
    return by_name, children


def unknown_field_message(path: str, root: type[BaseModel]) -> str:
    """The error for the unknown key at JSON path ``path`` of a ``root`` model (the Intake;
    passed in so this module need not import it), with where it belongs if known."""
    guesses = likely_paths(path, root)
    if not guesses:
        return "unknown field (check the spelling; unknown keys are rejected)"
    return (
        f"unknown field; did you mean {' or '.join(guesses)}? "
        "(unknown keys are rejected; docs/INTAKE.md lists every field)"
    )


def likely_paths(path: str, root: type[BaseModel]) -> list[str]:
    """The intake paths the unknown key at ``path`` was probably meant to be (may be none)."""
    parent, _, key = path.rpartition(".")
    if not key.isidentifier():
        return []
    by_name, children = _layout(root)
    if key in FACT_FIELDS:
        guesses = [FACT_FIELDS[key]]
    elif key in by_name:
        guesses = by_name[key]
    else:
        close = difflib.get_close_matches(key, children.get(parent, []), n=2, cutoff=0.75)
        guesses = [f"{parent}.{c}" if parent else c for c in close]
    return [g for g in guesses if g != path]

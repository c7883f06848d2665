"""The intake reference, generated from the Intake models: JSON Schema and docs/INTAKE.md.

The pydantic models in ``gbrules.clinical.intake`` are the one definition of Intake JSON: they
validate every intake, and their JSON Schema (types, ranges, allowed values) plus each field's
``description``, ``examples`` and ``unit`` are everything a reader needs. So the reference is
printed from them (``gbrules schema intake``, ``--format markdown``) rather than written by
hand, and a test fails when docs/INTAKE.md no longer matches what they generate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gbrules.clinical.intake import Intake, parse_intake

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "gbrules schema intake --format markdown > docs/INTAKE.md"

Schema = Mapping[str, Any]


def intake_schema() -> dict[str, Any]:
    """The JSON Schema of Intake JSON (what gbrules accepts), with the dialect it is written in."""
    schema = Intake.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


@dataclass(frozen=True)
class FieldDoc:
    """One row of the reference: a field by its JSON path, described from its schema."""

    path: str
    type: str
    range: str
    unit: str
    meaning: str
    example: str
    section: str | None  # the $defs name when the field is itself a section


def _resolve(schema: Schema, node: Schema) -> tuple[Schema, bool]:
    """A field's schema without the ``| None`` union (and whether null was allowed)."""
    options = node.get("anyOf")
    if options is None:
        return node, False
    real = [o for o in options if o != {"type": "null"}]
    if len(real) != 1:  # pragma: no cover - the intake models use only ``X | None`` unions
        raise ValueError(f"cannot describe a union of {real}")
    return real[0], True


def _span(node: Schema) -> str:
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f">= {lo:g}"
    if lo is None:
        return f"<= {hi:g}"
    return f"{lo:g}-{hi:g}"


def _describe(node: Schema) -> tuple[str, str, str | None]:
    """(type, range / values, section name) of one field's non-null schema."""
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        return "object", "see its section", name
    if "enum" in node:
        return "text", "one of " + ", ".join(f"`{v}`" for v in node["enum"]), None
    kind = node.get("type")
    if kind == "boolean":
        return "true / false", "", None
    if kind in ("integer", "number"):
        return ("whole number" if kind == "integer" else "number"), _span(node), None
    if kind == "string":
        return "text", f"{node.get('minLength', 0)}-{node.get('maxLength', '')} characters", None
    if kind == "array":
        item_type, item_range, _ = _describe(node["items"])
        n_lo, n_hi = node.get("minItems"), node.get("maxItems")
        count = f"{n_lo} " if n_lo is not None and n_lo == n_hi else ""
        noun = {"whole number": "whole numbers", "number": "numbers"}.get(item_type, item_type)
        return f"list of {count}{noun}", f"each {item_range}" if item_range else "", None
    raise ValueError(f"cannot describe a field of schema {dict(node)}")  # pragma: no cover


def fields(schema: Schema | None = None) -> Iterator[tuple[str, str, list[FieldDoc]]]:
    """Each section as (JSON path, description, its fields), top level first, then depth first."""
    schema = schema if schema is not None else intake_schema()
    defs: Schema = schema.get("$defs", {})

    def walk(path: str, model: Schema) -> Iterator[tuple[str, str, list[FieldDoc]]]:
        rows: list[FieldDoc] = []
        nested: list[tuple[str, Schema]] = []
        required = set(model.get("required", ()))
        for name, raw in model.get("properties", {}).items():
            node, _nullable = _resolve(schema, raw)
            kind, span, section = _describe(node)
            field_path = f"{path}.{name}" if path else name
            examples = raw.get("examples") or node.get("examples") or []
            example = "" if section else (json.dumps(examples[0]) if examples else "")
            rows.append(
                FieldDoc(
                    path=field_path,
                    type=f"{kind}, required" if name in required else kind,
                    range=span,
                    unit=str(raw.get("unit") or node.get("unit") or ""),
                    meaning=str(raw.get("description") or node.get("description") or ""),
                    example=example,
                    section=section,
                )
            )
            if section is not None:
                nested.append((field_path, defs[section]))
        yield path, str(model.get("description", "")), rows
        for field_path, sub in nested:
            yield from walk(field_path, sub)

    yield from walk("", schema)


def complete_example(schema: Schema | None = None) -> dict[str, Any]:
    """An intake with every field filled in from the fields' own examples.

    It is validated before it is returned, so a field example that the models would reject
    fails the documentation test rather than misleading a reader.
    """
    schema = schema if schema is not None else intake_schema()
    defs: Schema = schema.get("$defs", {})

    def build(model: Schema) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, raw in model.get("properties", {}).items():
            node, _ = _resolve(schema, raw)
            if "$ref" in node:
                out[name] = build(defs[str(node["$ref"]).rsplit("/", 1)[-1]])
            else:
                examples = raw.get("examples") or node.get("examples")
                if not examples:
                    raise ValueError(f"field {name!r} has no example")
                out[name] = examples[0]
        return out

    example = build(schema)
    parse_intake(example)  # raises IntakeError naming the bad example
    return example


def _cell(text: str) -> str:
    return _md(text).replace("|", "\\|").replace("\n", " ")


def _md(text: str) -> str:
    """Docstring markup (reStructuredText ``literal``) as Markdown (`literal`)."""
    return text.replace("``", "`")


def example_json(value: object, indent: str = "") -> str:
    """JSON with one key per line but lists of numbers kept on one line, as a person writes it."""
    if isinstance(value, dict) and value:
        inner = indent + "  "
        items = [f"{inner}{json.dumps(k)}: {example_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return json.dumps(value)


def intake_markdown() -> str:
    """docs/INTAKE.md: every field with its type, range, unit, meaning and an example."""
    schema = intake_schema()
    lines = [
        "# Intake JSON reference",
        "",
        f"<!-- Generated from gbrules/clinical/intake.py by `{REGENERATE}`;",
        "     tests/test_intake_doc.py fails when it is out of date. Do not edit by hand. -->",
        "",
        _md(str(schema.get("description", ""))),
        "",
        "The machine-readable form is the JSON Schema printed by `gbrules schema intake`;",
        "`gbrules schema evaluation` prints the schema of the result. Ranges are inclusive.",
        "Intake keys are not the rule engine's fact names: rules see the flat facts derived",
        "from an intake (docs/FACTS.md).",
        "",
        "## The smallest intake",
        "",
        "```json",
        json.dumps({"age": 48}),
        "```",
        "",
        "## An intake with every field",
        "",
        "Every value below is the field's example from the table further down. PHQ-9 and GAD-7",
        "take either the item scores or the total; this example gives both, which is allowed",
        "when they agree.",
        "",
        "```json",
        example_json(complete_example(schema)),
        "```",
        "",
        "## Fields",
    ]
    for path, description, rows in fields(schema):
        title = f"`{path}`" if path else "Top level"
        lines += ["", f"### {title}", ""]
        if path and description:
            lines += [_md(description), ""]
        lines += [
            "| field | type | range / values | unit | meaning | example |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| `{row.path}` | {row.type} | {_cell(row.range)} | {_cell(row.unit)} "
                f"| {_cell(row.meaning)} | {f'`{row.example}`' if row.example else ''} |"
            )
    return "\n".join(lines) + "\n"

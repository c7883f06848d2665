"""The JSON Schema of CDS Hooks 2.0.1 responses that gbrules ships (``schemas/``).

Written from the specification (the schema's ``description`` says what it checks); the test
suite validates every discovery and service response it receives against it
(``tests/cds_conformance.py``), and an integrator can validate a captured answer the same way.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

SCHEMA_FILE = "cds-hooks-2.0.1.schema.json"


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("gbrules.io.service").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def cds_hooks_schema(part: Literal["response", "discovery"] | None = None) -> dict[str, Any]:
    """The whole schema, or a schema for one part: the service response or the discovery."""
    schema = _schema()
    if part is None:
        return schema
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{part}"}

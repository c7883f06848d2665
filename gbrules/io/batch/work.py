"""The work a batch worker does: input records to outcomes, with one engine per process.

This is the only batch module a pool or Dask worker needs; it reads and writes no file. A site
pack travels as its files' bytes (``Pack``), so a worker anywhere rebuilds the same rulebook
(same file names and bytes: same content hash, same ``rulebook_version``, byte-identical
output) without a shared file system.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gbrules.clinical.site import evaluate_at_site
from gbrules.core.errors import IntakeError
from gbrules.io.batch.records import PROBLEM_KEY, InputRecord, Outcome, OutRow, Rejected, Shape

if TYPE_CHECKING:
    from gbrules.clinical.engine import Engine
    from gbrules.clinical.site import SiteConfig


class PackFile(NamedTuple):
    """One site-pack file: its name and its bytes."""

    name: str
    data: bytes


Pack = tuple[PackFile, ...]  # a site pack's *.yaml files in name order; () for none

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def read_pack(directory: Path | None) -> Pack:
    """The site pack in ``directory`` as data that can be shipped to any worker."""
    if directory is None:
        return ()
    return tuple(
        PackFile(p.name, p.read_bytes()) for p in sorted(directory.glob("*.yaml")) if p.is_file()
    )


def _pack_key(pack: Pack) -> str:
    h = hashlib.sha256()
    for f in pack:
        h.update(f.name.encode() + b"\0" + f.data + b"\0")
    return h.hexdigest()


def engine_for(pack: Pack) -> Engine:
    """This process's engine for the default rulebook plus ``pack``, compiled once and kept."""
    key = _pack_key(pack)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _build(pack)
        return engine


def _build(pack: Pack) -> Engine:
    from gbrules.clinical.engine import Engine

    if not pack:
        return Engine.default()
    where = tempfile.mkdtemp(prefix="gbrules-pack-")
    for f in pack:
        Path(where, f.name).write_bytes(f.data)
    return Engine.default(where)


@functools.cache
def _site(text: str | None) -> SiteConfig | None:
    """A worker's site configuration, parsed once per distinct JSON."""
    from gbrules.clinical.site import SiteConfig

    return None if text is None else SiteConfig.model_validate_json(text)


def _reject(line: int, errors: Sequence[tuple[str, str]], patient_id: object = None) -> Rejected:
    body: dict[str, Any] = {"line": line}
    if isinstance(patient_id, str):
        body["patient_id"] = patient_id
    body["errors"] = [{"path": p, "message": m} for p, m in errors]
    return Rejected(line, json.dumps(body, ensure_ascii=False, separators=(",", ":")))


def _decode(line: int, raw: bytes | None) -> Any | Rejected:
    """An NDJSON line (or a Parquet text cell) as JSON data, or its reject."""
    if raw is None:
        return _reject(line, [("$", "no intake (null value)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject(line, [("$", f"not UTF-8 text: {exc.reason}")])
    if not text.strip():
        return _reject(line, [("$", "empty line (expected one JSON object)")])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return _reject(line, [("$", f"invalid JSON: {exc.msg} (column {exc.colno})")])
    except RecursionError:
        return _reject(line, [("$", "invalid JSON: nested too deeply")])


def evaluate_lines(engine: Engine, records: Sequence[InputRecord], shape: Shape) -> list[Outcome]:
    """Evaluate records with ``engine``: exactly one outcome per record, in order."""
    out: list[Outcome] = []
    for line, raw in records:
        data = raw if isinstance(raw, dict) else _decode(line, raw)
        if isinstance(data, Rejected):
            out.append(data)
            continue
        if shape.fhir:
            data = _from_fhir(line, data, shape.as_of)
            if isinstance(data, Rejected):
                out.append(data)
                continue
        try:
            if shape.site is None and shape.as_of is None:
                ev = engine.evaluate(data)
            else:
                ev = evaluate_at_site(
                    engine,
                    data,
                    as_of=None if shape.as_of is None else date.fromisoformat(shape.as_of),
                    site=_site(shape.site),
                )
        except IntakeError as exc:
            pid = data.get("patient_id") if isinstance(data, dict) else None
            out.append(_reject(line, [(e.path, e.message) for e in exc.errors], pid))
            continue
        if shape.rows:
            out.append(
                OutRow(
                    line,
                    ev.patient_id,
                    sorted(ev.codes),
                    ev.requires_immediate_action,
                    ev.rulebook_version,
                    None if shape.summary else ev.model_dump_json(),
                )
            )
        elif shape.summary:
            body = {
                "patient_id": ev.patient_id,
                "line": line,
                "codes": sorted(ev.codes),
                "requires_immediate_action": ev.requires_immediate_action,
            }
            out.append(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
        else:
            out.append(ev.model_dump_json())
    return out


def _from_fhir(line: int, data: Any, as_of: str | None) -> Any:
    """A patient's FHIR Bundle (Bulk Data input) as an intake, or its reject (FHIR paths)."""
    from gbrules.io.fhir.intake import intake_from_fhir

    if as_of is None:  # the run always settles a day for FHIR input
        raise ValueError("FHIR input needs an evaluation day (as_of)")

    if isinstance(data, dict) and PROBLEM_KEY in data:
        problem = data[PROBLEM_KEY]
        where = f"{problem['file']}:{problem['line']}"
        return _reject(line, [(where, problem["message"])])
    pid = data.get("id") if isinstance(data, dict) else None
    try:
        intake, _ = intake_from_fhir(data, as_of=date.fromisoformat(as_of))
    except IntakeError as exc:
        return _reject(line, [(e.path, e.message) for e in exc.errors], pid)
    return intake


def run_chunk(pack: Pack, records: list[InputRecord], shape: Shape) -> list[Outcome]:
    """The unit of work shipped to a pool or Dask worker."""
    return evaluate_lines(engine_for(pack), records, shape)

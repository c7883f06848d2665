"""gbrules batch: one line out per line in, in order, nothing lost or duplicated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gbrules.clinical.engine import Engine
from gbrules.io.batch import BatchOptions, run_batch, work
from gbrules.io.cli import app
from gbrules.tools.synthetic import synthetic_intakes

from .conftest import interrupt_batch_at_chunk

N = 400
BAD = {
    7: b"{not json",
    20: json.dumps({"age": 200, "patient_id": "too-old", "gi": {"bloatingg": True}}).encode(),
    33: b"",
    41: b"[1, 2]",
    58: b"\xff\xfe not utf-8",
    90: b"   ",
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def write_input(path: Path, n: int = N, seed: int = 3) -> list[bytes | dict[str, object]]:
    """n good intakes with bad lines inserted at the BAD positions (1-based line numbers)."""
    lines: list[bytes | dict[str, object]] = []
    good = iter(synthetic_intakes(n, seed))
    while True:
        number = len(lines) + 1
        if number in BAD:
            lines.append(BAD[number])
            continue
        item = next(good, None)
        if item is None:
            break
        lines.append(item)
    with path.open("wb") as f:
        for item in lines:
            f.write((json.dumps(item).encode() if isinstance(item, dict) else item) + b"\n")
    return lines


def read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_every_line_once_in_order(tmp_path: Path, engine: Engine) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    lines = write_input(src)
    stats = run_batch(BatchOptions(source=src, out=out, chunk_size=64))
    assert not stats.interrupted
    assert (stats.evaluated, stats.rejected) == (N, len(BAD))
    expected = [engine.evaluate(x).model_dump_json() for x in lines if isinstance(x, dict)]
    assert read(out) == expected
    rejects = [json.loads(r) for r in read(tmp_path / "out.ndjson.rejects")]
    assert [r["line"] for r in rejects] == sorted(BAD)
    assert len(expected) + len(rejects) == len(lines)


def test_rejects_name_the_line_and_every_field(tmp_path: Path) -> None:
    src, out, rej = tmp_path / "in.ndjson", tmp_path / "out.ndjson", tmp_path / "bad.ndjson"
    write_input(src, n=60)
    run_batch(BatchOptions(source=src, out=out, rejects=rej))
    by_line = {r["line"]: r for r in map(json.loads, read(rej))}
    assert by_line[7]["errors"][0]["message"].startswith("invalid JSON")
    fields = {e["path"] for e in by_line[20]["errors"]}
    assert fields == {"age", "gi.bloatingg"}
    assert by_line[20]["patient_id"] == "too-old"
    assert "empty line" in by_line[33]["errors"][0]["message"]
    assert "JSON object" in by_line[41]["errors"][0]["message"]
    assert "UTF-8" in by_line[58]["errors"][0]["message"]


def test_summary_lines(tmp_path: Path, engine: Engine) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    lines = write_input(src, n=50)
    run_batch(BatchOptions(source=src, out=out, summary=True))
    got = [json.loads(s) for s in read(out)]
    want_lines = [i + 1 for i, x in enumerate(lines) if isinstance(x, dict)]
    assert [g["line"] for g in got] == want_lines
    for g, number in zip(got, want_lines, strict=True):
        ev = engine.evaluate(lines[number - 1])  # type: ignore[arg-type]
        assert g == {
            "patient_id": ev.patient_id,
            "line": number,
            "codes": sorted(ev.codes),
            "requires_immediate_action": ev.requires_immediate_action,
        }


def test_two_workers_byte_identical_to_one(tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    write_input(src)
    one, two = tmp_path / "one.ndjson", tmp_path / "two.ndjson"
    run_batch(BatchOptions(source=src, out=one, workers=1, chunk_size=37))
    stats = run_batch(BatchOptions(source=src, out=two, workers=2, chunk_size=37))
    assert stats.lines == N + len(BAD)
    assert one.read_bytes() == two.read_bytes()
    assert Path(f"{one}.rejects").read_bytes() == Path(f"{two}.rejects").read_bytes()


def test_interrupt_then_resume_gives_the_full_output(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "in.ndjson"
    write_input(src)
    full = tmp_path / "full.ndjson"
    run_batch(BatchOptions(source=src, out=full, chunk_size=25))

    real = interrupt_batch_at_chunk(monkeypatch, 4)
    part = tmp_path / "part.ndjson"
    stats = run_batch(BatchOptions(source=src, out=part, chunk_size=25))
    assert stats.interrupted and stats.lines == 75
    monkeypatch.setattr(work, "evaluate_lines", real)

    # A hard kill can also leave a torn last line: resume must drop it and redo that line.
    with part.open("a", encoding="utf-8") as f:
        f.write('{"patient_id": "torn')
    stats = run_batch(BatchOptions(source=src, out=part, chunk_size=25, resume=True))
    assert stats.skipped == 75
    assert part.read_bytes() == full.read_bytes()
    assert Path(f"{part}.rejects").read_bytes() == Path(f"{full}.rejects").read_bytes()


def test_resume_on_a_finished_run_adds_nothing(tmp_path: Path) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_input(src, n=30)
    run_batch(BatchOptions(source=src, out=out))
    before = out.read_bytes()
    stats = run_batch(BatchOptions(source=src, out=out, resume=True))
    assert stats.lines == 0 and out.read_bytes() == before


def test_resume_cuts_back_what_was_written_after_the_last_commit(
    tmp_path: Path, monkeypatch
) -> None:
    """Lines past the committed point (whole or torn, in OUT or rejects) are redone once."""
    src = tmp_path / "in.ndjson"
    write_input(src, n=120)
    full = tmp_path / "full.ndjson"
    run_batch(BatchOptions(source=src, out=full, chunk_size=10))

    real = interrupt_batch_at_chunk(monkeypatch, 6)
    part = tmp_path / "part.ndjson"
    stats = run_batch(BatchOptions(source=src, out=part, chunk_size=10))
    assert stats.interrupted and stats.lines == 50
    monkeypatch.setattr(work, "evaluate_lines", real)
    committed = part.read_bytes()
    # What a process killed between two commits leaves: whole lines and a torn one.
    with part.open("ab") as f:
        f.write(full.read_bytes()[len(committed) :][:5000] + b'{"torn')
    with Path(f"{part}.rejects").open("ab") as f:
        f.write(b'{"line":999,"errors":[]}\n')
    stats = run_batch(BatchOptions(source=src, out=part, resume=True))
    assert stats.skipped == 50 and stats.lines == 120 + 6 - 50
    assert part.read_bytes() == full.read_bytes()
    assert Path(f"{part}.rejects").read_bytes() == Path(f"{full}.rejects").read_bytes()


def test_site_pack_is_used(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "site.yaml").write_text(
        """rules:
  - id: site.sleep.very_short
    title: Very short sleep
    when: "sleep_hours < 5"
    then:
      code: sleep.hygiene
      rationale: "Sleep {sleep_hours} h is very short."
    evidence: ["Site protocol 7"]
""",
        encoding="utf-8",
    )
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    src.write_text(json.dumps({"age": 30, "lifestyle": {"sleep_hours": 4.0}}) + "\n")
    run_batch(BatchOptions(source=src, out=out, rules=pack))
    ev = json.loads(read(out)[0])
    assert "site.sleep.very_short" in ev["fired_rules"]


def test_cli_batch(tmp_path: Path) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_input(src, n=40)
    result = CliRunner().invoke(
        app, ["batch", str(src), str(out), "--summary", "--workers", "2", "--chunk-size", "7"]
    )
    assert result.exit_code == 0, result.output
    assert "40 evaluated" in result.output
    assert len(read(out)) == 40
    assert len(read(Path(f"{out}.rejects"))) == len([k for k in BAD if k <= 40 + len(BAD)])


def test_cli_batch_missing_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["batch", str(tmp_path / "nope"), str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_parquet_without_pyarrow_exits_2(tmp_path: Path, monkeypatch) -> None:
    import sys

    import gbrules

    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # import pyarrow -> ImportError
    monkeypatch.delitem(sys.modules, "gbrules.io.batch.parquet", raising=False)
    monkeypatch.delattr(gbrules, "batch_parquet", raising=False)
    src = tmp_path / "in.ndjson"
    write_input(src, n=5)
    for args in (
        [str(src), str(tmp_path / "out.parquet")],
        [str(src), str(tmp_path / "out.ndjson"), "--in-format", "parquet"],
    ):
        result = CliRunner().invoke(app, ["batch", *args])
        assert result.exit_code == 2, result.output
        assert "install gbrules[parquet]" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "out.parquet").exists()
    # NDJSON in and out needs no pyarrow.
    result = CliRunner().invoke(app, ["batch", str(src), str(tmp_path / "out.ndjson")])
    assert result.exit_code == 0, result.output

"""gbrules batch with Parquet: both input layouts, the output columns, and the batch guarantees.

Every Parquet run is compared with the NDJSON run of the same intakes: same evaluations, same
rejects (by row number), same order, whatever the number of workers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gbrules.clinical.engine import Engine
from gbrules.io.batch import BatchOptions, run_batch, work
from gbrules.io.cli import app
from gbrules.tools.synthetic import synthetic_intakes

from .conftest import interrupt_batch_at_chunk

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

N = 300
# 1-based rows that are rejected, as dicts for the nested layout ...
BAD_ROWS: dict[int, dict[str, Any]] = {
    5: {"age": 200, "patient_id": "too-old"},
    17: {"patient_id": "no-age"},
    40: {"age": 30, "gi": {"bloatingg": True}},
    99: {"age": 40, "mood": {"phq9": {"total": 30}}},
}
# ... and as text for the string-column layout (None: a null cell).
BAD_TEXT: dict[int, str | None] = {
    3: "{not json",
    8: None,
    21: "",
    33: "[1, 2]",
    50: json.dumps({"age": 200, "patient_id": "too-old"}),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def with_bad(bad: dict[int, Any], n: int = N, seed: int = 5) -> list[Any]:
    """n synthetic intakes with the ``bad`` items at their 1-based positions."""
    items: list[Any] = []
    good = iter(synthetic_intakes(n, seed))
    while True:
        number = len(items) + 1
        if number in bad:
            items.append(bad[number])
            continue
        item = next(good, None)
        if item is None:
            return items
        items.append(item)


def nested_table(rows: list[dict[str, Any]]) -> Any:
    """Rows as nested struct columns; the schema is inferred from every row (not the first)."""
    return pa.Table.from_struct_array(pa.array(rows))


def write_ndjson(path: Path, items: list[Any]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write((item if isinstance(item, str) else json.dumps(item)) + "\n")


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(r) for r in lines(path)]


def test_nested_columns_give_the_ndjson_results(tmp_path: Path) -> None:
    items = with_bad(BAD_ROWS)
    src, ref = tmp_path / "in.parquet", tmp_path / "in.ndjson"
    table = nested_table(items)
    assert pa.types.is_struct(table.schema.field("mood").type)
    pq.write_table(table, src, row_group_size=70)
    write_ndjson(ref, items)
    out, want = tmp_path / "out.ndjson", tmp_path / "want.ndjson"
    stats = run_batch(BatchOptions(source=src, out=out, chunk_size=64))
    run_batch(BatchOptions(source=ref, out=want, chunk_size=64))
    assert (stats.evaluated, stats.rejected) == (N, len(BAD_ROWS))
    assert out.read_bytes() == want.read_bytes()
    assert rejects(Path(f"{out}.rejects")) == rejects(Path(f"{want}.rejects"))
    assert [r["line"] for r in rejects(Path(f"{out}.rejects"))] == sorted(BAD_ROWS)


def test_string_column_gives_the_ndjson_results(tmp_path: Path) -> None:
    items = with_bad(BAD_TEXT)
    texts = [x if x is None or isinstance(x, str) else json.dumps(x) for x in items]
    src = tmp_path / "in.parquet"
    ignored = pa.array(range(len(texts)), pa.int64())
    pq.write_table(pa.table({"site": ignored, "intake": pa.array(texts, pa.string())}), src)
    ref = tmp_path / "in.ndjson"
    write_ndjson(ref, ["" if t is None else t for t in texts])
    out, want = tmp_path / "out.ndjson", tmp_path / "want.ndjson"
    stats = run_batch(BatchOptions(source=src, out=out, chunk_size=50))
    run_batch(BatchOptions(source=ref, out=want, chunk_size=50))
    assert (stats.evaluated, stats.rejected) == (N, len(BAD_TEXT))
    assert out.read_bytes() == want.read_bytes()
    got = {r["line"]: r for r in rejects(Path(f"{out}.rejects"))}
    assert sorted(got) == sorted(BAD_TEXT)
    assert got[8]["errors"] == [{"path": "$", "message": "no intake (null value)"}]
    assert got[3]["errors"][0]["message"].startswith("invalid JSON")
    assert got[50]["patient_id"] == "too-old"
    ndjson = {r["line"]: r for r in rejects(Path(f"{want}.rejects"))}
    assert {k: v for k, v in got.items() if k != 8} == {k: v for k, v in ndjson.items() if k != 8}


def test_named_column_and_explicit_formats_from_the_cli(tmp_path: Path) -> None:
    items = list(synthetic_intakes(40, 9))
    src = tmp_path / "intakes.bin"  # not a .parquet name: --in-format says it is
    pq.write_table(pa.table({"json": [json.dumps(x) for x in items]}), src)
    out = tmp_path / "out.data"
    result = CliRunner().invoke(
        app,
        [
            "batch",
            str(src),
            str(out),
            "--in-format",
            "parquet",
            "--out-format",
            "parquet",
            "--column",
            "json",
            "--summary",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "40 evaluated, 0 rejected" in result.output
    table = pq.read_table(out)
    assert table.num_rows == 40 and table.column("line").to_pylist() == list(range(1, 41))


def test_missing_fields_stay_not_recorded(tmp_path: Path, engine: Engine) -> None:
    """A field absent in a row is null in its struct column: it must act as absent, not null."""
    full = {
        "patient_id": "full",
        "age": 52,
        "sex": "female",
        "gi": {"bloating": True, "abdominal_pain_score": 6, "symptom_weeks": 20},
        "mood": {"phq9": {"items": [2, 2, 2, 1, 1, 1, 1, 1, 1]}, "hamd17": {"total": 18}},
        "labs": {"crp": {"value": 0.8, "unit": "mg/dL"}, "celiac_serology": "negative"},
        "lifestyle": {"sleep_hours": 6.5, "caffeine_mg_per_day": 450.0},
    }
    sparse: list[dict[str, Any]] = [
        {"patient_id": "no-bloating", "age": 52, "gi": {"abdominal_pain_score": 6}},
        {"patient_id": "phq9-total", "age": 30, "mood": {"phq9": {"total": 12}}},
        {"patient_id": "empty-gi", "age": 61, "gi": {}},
        {"age": 45, "labs": {"celiac_serology": "positive"}},
        {"age": 20},
        # A typo in one row adds a column that is null in every other row: only this row
        # may be rejected (an explicit null for an unknown key would reject them all).
        {"patient_id": "typo", "age": 33, "lifestyle": {"sleep_hourz": 5.0}},
    ]
    rows = [full, *sparse]
    src, ref = tmp_path / "in.parquet", tmp_path / "in.ndjson"
    table = nested_table(rows)
    pq.write_table(table, src)
    write_ndjson(ref, rows)
    # The nulls really are there in what pyarrow gives back ...
    back = pq.read_table(src).to_pylist()
    assert back[1]["gi"]["bloating"] is None and back[1]["mood"] is None
    assert back[2]["mood"]["phq9"]["items"] is None and back[5]["sex"] is None
    assert back[3]["gi"] == dict.fromkeys(table.schema.field("gi").type.names)
    assert back[0]["lifestyle"]["sleep_hourz"] is None

    out, want = tmp_path / "out.ndjson", tmp_path / "want.ndjson"
    stats = run_batch(BatchOptions(source=src, out=out))
    run_batch(BatchOptions(source=ref, out=want))
    assert (stats.evaluated, stats.rejected) == (len(rows) - 1, 1)
    assert out.read_bytes() == want.read_bytes()
    for got, row in zip(lines(out), rows[:-1], strict=True):
        assert got == engine.evaluate(row).model_dump_json()
    (typo,) = rejects(Path(f"{out}.rejects"))
    assert typo["line"] == len(rows) and typo["patient_id"] == "typo"
    assert [e["path"] for e in typo["errors"]] == ["lifestyle.sleep_hourz"]
    assert "bloating" not in json.loads(lines(out)[0])["not_recorded"]
    assert "bloating" in json.loads(lines(out)[1])["not_recorded"]


def test_parquet_output_columns_equal_the_ndjson_run(tmp_path: Path) -> None:
    items = with_bad(BAD_ROWS, n=250)
    src = tmp_path / "in.ndjson"
    write_ndjson(src, items)
    want, out = tmp_path / "want.ndjson", tmp_path / "out.parquet"
    run_batch(BatchOptions(source=src, out=want, chunk_size=40))
    stats = run_batch(BatchOptions(source=src, out=out, chunk_size=40, row_group_size=64))
    assert (stats.evaluated, stats.rejected) == (250, len(BAD_ROWS))

    f = pq.ParquetFile(out)
    assert f.metadata.num_row_groups == math.ceil(250 / 64)
    schema = f.schema_arrow
    assert schema.names == [
        "line",
        "patient_id",
        "codes",
        "requires_immediate_action",
        "rulebook_version",
        "evaluation",
    ]
    assert schema.field("line").type == pa.int64()
    assert schema.field("patient_id").type == pa.string() and schema.field("patient_id").nullable
    assert schema.field("codes").type == pa.list_(pa.string())
    assert schema.field("requires_immediate_action").type == pa.bool_()
    assert schema.field("rulebook_version").type == pa.string()
    assert schema.field("evaluation").type == pa.string()

    rows = f.read().to_pylist()
    evaluations = lines(want)
    good = [i + 1 for i in range(len(items)) if i + 1 not in BAD_ROWS]
    assert [r["line"] for r in rows] == good
    assert [r["evaluation"] for r in rows] == evaluations
    assert any(r["patient_id"] is None for r in rows)  # synthetic intakes without an id
    for r, text in zip(rows, evaluations, strict=True):
        ev = json.loads(text)
        assert r["patient_id"] == ev.get("patient_id")
        assert r["codes"] == ev["codes"] == sorted(ev["codes"])
        assert r["requires_immediate_action"] is ev["requires_immediate_action"]
        assert r["rulebook_version"] == ev["rulebook_version"]
    assert Path(f"{out}.rejects").read_bytes() == Path(f"{want}.rejects").read_bytes()


def test_summary_mode_has_no_evaluation_column(tmp_path: Path) -> None:
    items = with_bad(BAD_ROWS, n=120)
    src = tmp_path / "in.parquet"
    pq.write_table(nested_table(items), src)
    want, out = tmp_path / "want.ndjson", tmp_path / "out.parquet"
    run_batch(BatchOptions(source=src, out=want, summary=True))
    run_batch(BatchOptions(source=src, out=out, summary=True))
    table = pq.read_table(out)
    assert "evaluation" not in table.schema.names
    expected = [json.loads(s) for s in lines(want)]
    got = table.to_pylist()
    version = got[0]["rulebook_version"]
    assert {r["rulebook_version"] for r in got} == {version} and version
    assert [{k: v for k, v in r.items() if k != "rulebook_version"} for r in got] == expected
    assert Path(f"{out}.rejects").read_bytes() == Path(f"{want}.rejects").read_bytes()


@pytest.mark.parametrize("summary", [False, True])
def test_two_workers_give_the_same_table(tmp_path: Path, summary: bool) -> None:
    items = with_bad(BAD_ROWS)
    src = tmp_path / "in.parquet"
    pq.write_table(nested_table(items), src, row_group_size=90)
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    run_batch(BatchOptions(source=src, out=one, summary=summary, chunk_size=37, row_group_size=100))
    stats = run_batch(
        BatchOptions(
            source=src, out=two, summary=summary, workers=2, chunk_size=37, row_group_size=100
        )
    )
    assert (stats.evaluated, stats.rejected) == (N, len(BAD_ROWS))
    assert pq.read_table(one).equals(pq.read_table(two))
    assert Path(f"{one}.rejects").read_bytes() == Path(f"{two}.rejects").read_bytes()


def test_interrupt_leaves_a_readable_prefix(tmp_path: Path, monkeypatch) -> None:
    items = with_bad(BAD_ROWS, n=200)
    src = tmp_path / "in.parquet"
    pq.write_table(nested_table(items), src)
    interrupt_batch_at_chunk(monkeypatch, 4)
    out = tmp_path / "out.parquet"
    stats = run_batch(BatchOptions(source=src, out=out, chunk_size=25, row_group_size=1000))
    assert stats.interrupted and stats.lines == 75
    done = pq.read_table(out).column("line").to_pylist()
    rejected = [r["line"] for r in rejects(Path(f"{out}.rejects"))]
    assert sorted(done + rejected) == list(range(1, 76))


@pytest.mark.parametrize("chunk", [4, 6])
def test_resume_with_parquet_input_and_ndjson_output(
    tmp_path: Path, monkeypatch, chunk: int
) -> None:
    """Resuming mid-input skips whole row groups, then the rest of the one it stopped in."""
    items = with_bad(BAD_ROWS, n=100)
    src = tmp_path / "in.parquet"
    pq.write_table(nested_table(items), src, row_group_size=30)
    full, part = tmp_path / "full.ndjson", tmp_path / "part.ndjson"
    run_batch(BatchOptions(source=src, out=full))
    real = interrupt_batch_at_chunk(monkeypatch, chunk)
    stats = run_batch(BatchOptions(source=src, out=part, chunk_size=9))
    done = (chunk - 1) * 9  # 27: inside the first row group; 45: inside the second
    assert stats.interrupted and stats.lines == done
    monkeypatch.setattr(work, "evaluate_lines", real)
    stats = run_batch(BatchOptions(source=src, out=part, resume=True, chunk_size=10))
    assert stats.skipped == done and stats.lines == len(items) - done
    assert part.read_bytes() == full.read_bytes()
    assert Path(f"{part}.rejects").read_bytes() == Path(f"{full}.rejects").read_bytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupt_then_resume_parquet_output_gives_the_full_table(
    tmp_path: Path, monkeypatch, workers: int
) -> None:
    items = with_bad(BAD_ROWS, n=200)
    src = tmp_path / "in.ndjson"
    write_ndjson(src, items)
    full = tmp_path / "full.parquet"
    run_batch(BatchOptions(source=src, out=full, chunk_size=25, row_group_size=40))

    real = interrupt_batch_at_chunk(monkeypatch, 4)
    part = tmp_path / "part.parquet"
    stats = run_batch(BatchOptions(source=src, out=part, chunk_size=25, row_group_size=40))
    assert stats.interrupted and stats.lines == 75
    monkeypatch.setattr(work, "evaluate_lines", real)

    stats = run_batch(
        BatchOptions(
            source=src, out=part, chunk_size=25, row_group_size=40, resume=True, workers=workers
        )
    )
    assert stats.skipped == 75 and stats.lines == len(items) - 75
    assert pq.read_table(part).equals(pq.read_table(full))
    assert Path(f"{part}.rejects").read_bytes() == Path(f"{full}.rejects").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    stats = run_batch(BatchOptions(source=src, out=part, resume=True))  # finished: nothing to add
    assert stats.lines == 0 and pq.read_table(part).equals(pq.read_table(full))


def test_resume_refuses_a_parquet_output_it_cannot_continue(tmp_path: Path) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.parquet"
    write_ndjson(src, list(synthetic_intakes(5, 1)))
    out.write_bytes(b"PAR1 and no footer: a killed run")
    result = CliRunner().invoke(app, ["batch", str(src), str(out), "--resume"])
    assert result.exit_code == 2
    assert "cannot resume" in result.output and "Traceback" not in result.output
    assert out.read_bytes() == b"PAR1 and no footer: a killed run"  # nothing touched

    summary = tmp_path / "summary.parquet"
    run_batch(BatchOptions(source=src, out=summary, summary=True))
    before = summary.read_bytes()
    # Another --summary/--full than the run's would mix two kinds of record: refused.
    result = CliRunner().invoke(app, ["batch", str(src), str(summary), "--resume", "--full"])
    assert result.exit_code == 2
    assert "--full differs" in result.output and "used --summary" in result.output
    assert summary.read_bytes() == before
    # Left out, the run's own option is used: the run is complete, so nothing changes.
    result = CliRunner().invoke(app, ["batch", str(src), str(summary), "--resume"])
    assert result.exit_code == 0 and "already complete" in result.output
    assert summary.read_bytes() == before


def test_bad_parquet_input_and_column_exit_2(tmp_path: Path) -> None:
    bogus, out = tmp_path / "bogus.parquet", tmp_path / "out.ndjson"
    bogus.write_bytes(b"not parquet at all")
    result = CliRunner().invoke(app, ["batch", str(bogus), str(out)])
    assert result.exit_code == 2 and "as Parquet" in result.output
    assert not out.exists()

    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"intake": ["{}"]}), src)
    result = CliRunner().invoke(app, ["batch", str(src), str(out), "--column", "nope"])
    assert result.exit_code == 2 and "--column nope: no such column" in result.output

    pq.write_table(nested_table([{"intake": {"age": 3}}]), src)
    result = CliRunner().invoke(app, ["batch", str(src), str(out)])
    assert result.exit_code == 2 and "not a string column" in result.output

    ndjson = tmp_path / "in.ndjson"
    write_ndjson(ndjson, [{"age": 3}])
    result = CliRunner().invoke(app, ["batch", str(ndjson), str(out), "--column", "x"])
    assert result.exit_code == 2 and "Parquet input only" in result.output

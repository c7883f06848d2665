"""gbrules batch --dask: partitions run on Dask workers, output byte-identical to a local run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gbrules.io.batch import BatchOptions, run_batch
from tests.test_batch import BAD, write_input

distributed = pytest.importorskip("distributed")

N = 300


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.mark.slow
@pytest.mark.parametrize("summary", [False, True])
def test_dask_output_is_byte_identical_to_local(
    tmp_path: Path, scheduler: str, summary: bool
) -> None:
    src = tmp_path / "in.ndjson"
    write_input(src, n=N)
    local, remote = tmp_path / "local.ndjson", tmp_path / "dask.ndjson"
    run_batch(BatchOptions(source=src, out=local, summary=summary, chunk_size=40))
    stats = run_batch(
        BatchOptions(source=src, out=remote, summary=summary, dask=scheduler, chunk_size=40)
    )
    assert (stats.evaluated, stats.rejected) == (N, len(BAD))
    assert remote.read_bytes() == local.read_bytes()
    assert Path(f"{remote}.rejects").read_bytes() == Path(f"{local}.rejects").read_bytes()


@pytest.mark.slow
def test_dask_ships_the_site_pack(tmp_path: Path, scheduler: str) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "site.yaml").write_text(
        """rules:
  - id: site.stress.high
    title: High stress
    when: "stress_score >= 9"
    then:
      code: stress.breathing
      rationale: "Stress {stress_score}/10."
    evidence: ["Site protocol 3"]
""",
        encoding="utf-8",
    )
    src = tmp_path / "in.ndjson"
    write_input(src, n=120)
    local, remote = tmp_path / "local.ndjson", tmp_path / "dask.ndjson"
    run_batch(BatchOptions(source=src, out=local, rules=pack, chunk_size=25))
    run_batch(BatchOptions(source=src, out=remote, rules=pack, dask=scheduler, chunk_size=25))
    assert b"site.stress.high" in local.read_bytes()
    assert remote.read_bytes() == local.read_bytes()


@pytest.mark.slow
def test_dask_parquet_output_equals_local(tmp_path: Path, scheduler: str) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "in.ndjson"
    write_input(src, n=150)
    local, remote = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    run_batch(BatchOptions(source=src, out=local, chunk_size=20))
    stats = run_batch(BatchOptions(source=src, out=remote, dask=scheduler, chunk_size=20))
    assert (stats.evaluated, stats.rejected) == (150, len(BAD))
    assert pq.read_table(remote).equals(pq.read_table(local))
    assert Path(f"{remote}.rejects").read_bytes() == Path(f"{local}.rejects").read_bytes()

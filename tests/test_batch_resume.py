"""gbrules batch survives SIGKILL: any number of kills and ``--resume`` give the same bytes.

The real command runs in its own process group and is killed with SIGKILL (no handler, no
flush, nothing closed) at seeded random moments: during start-up, between and inside commits,
during Parquet assembly, after it finished. Each time the README's resume line (``IN OUT
--resume``, no other option) continues it. Afterwards OUT and the rejects file must equal an
uninterrupted run's byte for byte, and hold one record per input line, in order.

A failure names its seed; ``GBRULES_KILL_SEED=<seed>`` replays the same kill times.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gbrules.io.batch import BatchOptions, Format, run_batch, work
from gbrules.io.cli import app
from gbrules.tools.synthetic import synthetic_intakes

from .conftest import interrupt_batch_at_chunk

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

N = 1000
BAD_LINES = [b"{not json", b"", b'{"age": 200, "patient_id": "too-old"}', b"[1]", b"\xff bad"]


def gbrules_command() -> list[str]:
    script = Path(sys.executable).with_name("gbrules")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gbrules.io.cli"]


def write_input(path: Path, n: int, seed: int) -> int:
    """``n`` synthetic intakes with a bad line about every 40 lines; returns the line count."""
    rng = random.Random(seed)
    lines = [json.dumps(x).encode() for x in synthetic_intakes(n, seed)]
    for _ in range(n // 40):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(BAD_LINES))
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return len(lines)


def write_parquet_input(ndjson: Path, path: Path) -> None:
    """The same lines as a Parquet column of JSON text (layout (a)), in several row groups."""
    texts = [line.decode("utf-8", "replace") for line in ndjson.read_bytes().splitlines()]
    pq.write_table(pa.table({"intake": texts}), path, row_group_size=400)


def line_numbers(out: Path, fmt: Format, summary: bool) -> list[int]:
    """The input line of every output record, in file order."""
    if fmt is Format.parquet:
        return list(pq.read_table(out, columns=["line"]).column("line").to_pylist())
    if summary:
        return [json.loads(x)["line"] for x in out.read_bytes().splitlines()]
    return []  # a full Evaluation does not carry its line; counted instead


@dataclass(frozen=True)
class Case:
    workers: int
    out: Format
    summary: bool
    parquet_in: bool = False
    rejects_option: bool = False  # --rejects FILE instead of the default OUT.rejects

    @property
    def id(self) -> str:
        return (
            f"w{self.workers}-{self.out}-{'summary' if self.summary else 'full'}"
            f"{'-pqin' if self.parquet_in else ''}{'-rejects' if self.rejects_option else ''}"
        )


CASES = [
    Case(1, Format.ndjson, True, rejects_option=True),
    Case(1, Format.ndjson, False),
    Case(1, Format.parquet, True),
    Case(1, Format.parquet, False, parquet_in=True, rejects_option=True),
    Case(2, Format.ndjson, True, parquet_in=True),
    Case(2, Format.ndjson, False, rejects_option=True),
    Case(2, Format.parquet, True, rejects_option=True),
    Case(2, Format.parquet, False),
]


def wait_for_manifest_write(manifest: Path, before: int, proc: subprocess.Popen[bytes]) -> None:
    """Until this process has written its manifest (it is past start-up), or has exited."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if manifest.stat().st_mtime_ns != before:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.005)


def progress(manifest: Path) -> str:
    """Where the killed run stood, for the failure message."""
    if not manifest.exists():
        return "no manifest"
    recorded = json.loads(manifest.read_bytes())
    return "complete" if recorded["complete"] else f"{recorded['progress']['lines_done']} lines"


def mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sigkill_and_resume_give_an_uninterrupted_run(tmp_path: Path, case: Case) -> None:
    seed = int(os.environ.get("GBRULES_KILL_SEED", "0")) or random.SystemRandom().randrange(
        1, 10**9
    )
    rng = random.Random(seed)
    text_in = tmp_path / "in.ndjson"
    lines = write_input(text_in, N, seed=len(case.id))
    src = text_in
    if case.parquet_in:
        src = tmp_path / "in.parquet"
        write_parquet_input(text_in, src)
    suffix = ".parquet" if case.out is Format.parquet else ".ndjson"
    ref, out = tmp_path / f"ref{suffix}", tmp_path / f"out{suffix}"
    ref_rejects = tmp_path / "ref.rejects.ndjson"
    rejects = tmp_path / "rejects.ndjson" if case.rejects_option else Path(f"{out}.rejects")
    run_batch(
        BatchOptions(
            source=src, out=ref, summary=case.summary, rejects=ref_rejects, row_group_size=300
        )
    )
    # The reference itself: one record per line, in order, nothing twice.
    rejected = [json.loads(x)["line"] for x in ref_rejects.read_bytes().splitlines()]
    numbered = line_numbers(ref, case.out, case.summary)
    if numbered:
        assert sorted(numbered + rejected) == list(range(1, lines + 1))
        assert numbered == sorted(numbered)
    else:
        assert len(ref.read_bytes().splitlines()) + len(rejected) == lines
    assert rejected == sorted(rejected) and len(rejected) == N // 40

    first = [
        *gbrules_command(),
        "batch",
        str(src),
        str(out),
        "--workers",
        str(case.workers),
        "--summary" if case.summary else "--full",
        "--chunk-size",
        "16",
        "--row-group-size",
        "300",
        "--checkpoint",
        "0",
        *(["--rejects", str(rejects)] if case.rejects_option else []),
    ]
    resume = [*gbrules_command(), "batch", str(src), str(out), "--resume"]  # the README's line
    manifest = Path(f"{out}.manifest.json")
    kills = rng.randint(1, 4)
    log = []
    for _ in range(kills):
        command = resume if manifest.exists() else first
        before = mtime(manifest)
        proc = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE)
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0, 0.5))  # any moment, start-up included
        else:
            wait_for_manifest_write(manifest, before, proc)
            time.sleep(rng.uniform(0, 0.8))  # somewhere in the run (or after it)
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        log.append(f"{'resume' if command is resume else 'start'}: {progress(manifest)}")
        assert proc.returncode in (0, -signal.SIGKILL), (seed, log, err.decode())
        if log[-1].endswith("complete"):
            break  # nothing left to interrupt

    if not manifest.exists():  # every kill came before the run wrote anything
        done = subprocess.run(resume, capture_output=True, check=False)
        assert done.returncode == 2 and b"no manifest" in done.stderr, (seed, log)
        resume_or_start = first
    else:
        resume_or_start = resume
    done = subprocess.run(resume_or_start, capture_output=True, check=False)
    assert done.returncode == 0, (seed, log, done.stderr.decode())
    context = f"seed {seed} ({case.id}): {log}"
    assert out.read_bytes() == ref.read_bytes(), context
    assert rejects.read_bytes() == ref_rejects.read_bytes(), context
    assert not Path(f"{out}.parts").exists(), context
    leftovers = {p.name for p in tmp_path.iterdir()} - {
        src.name,
        text_in.name,
        ref.name,
        ref_rejects.name,
        f"{ref.name}.manifest.json",
        out.name,
        rejects.name,
        manifest.name,
    }
    assert not leftovers, context  # no other file (temporary, split rejects, parts)

    # The README's resume line after a completed run: a no-op that touches nothing.
    state = {p: p.read_bytes() for p in (out, rejects, manifest)}
    again = subprocess.run(resume, capture_output=True, check=False)
    assert again.returncode == 0 and b"already complete" in again.stderr, context
    assert {p: p.read_bytes() for p in state} == state, context


# ------------------------------------------------------------------ what --resume refuses


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["batch", *map(str, args)])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An NDJSON run with --summary and --rejects, stopped (Ctrl-C) after 3 chunks of 20."""
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_input(src, 200, seed=11)
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "site.yaml").write_text(SITE_RULE, encoding="utf-8")
    real = interrupt_batch_at_chunk(monkeypatch, 4)
    result = invoke(
        src,
        out,
        "--summary",
        "--rejects",
        tmp_path / "rej.ndjson",
        "--chunk-size",
        "20",
        "--rules",
        pack,
    )
    assert result.exit_code == 130, result.output
    monkeypatch.setattr(work, "evaluate_lines", real)
    return src, out


SITE_RULE = """rules:
  - id: site.sleep.very_short
    title: Very short sleep
    when: "sleep_hours < 5"
    then:
      code: sleep.hygiene
      rationale: "Sleep {sleep_hours} h is very short."
    evidence: ["Site protocol 7"]
"""


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--full"], "--full differs"),
        (["--rejects", "other.ndjson"], "--rejects other.ndjson differs"),
        (["--out-format", "parquet"], "--out-format parquet differs"),
        (["--row-group-size", "7"], "--row-group-size 7 differs"),
        (["--rules", "."], "--rules . differs"),
    ],
)
def test_resume_with_another_option_exits_2_naming_it(
    interrupted: tuple[Path, Path], args: list[str], named: str
) -> None:
    src, out = interrupted
    before = snapshot(out.parent)
    result = invoke(src, out, "--resume", *args)
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output
    assert snapshot(out.parent) == before  # nothing touched


def test_resume_reuses_the_runs_options_and_may_change_how_it_runs(
    interrupted: tuple[Path, Path], tmp_path: Path
) -> None:
    src, out = interrupted
    ref = tmp_path / "ref.ndjson"
    run_batch(
        BatchOptions(
            source=src,
            out=ref,
            summary=True,
            rules=tmp_path / "pack",
            rejects=tmp_path / "ref.rej",
        )
    )
    # Repeating an option with its own value is fine; workers and chunk size may change.
    result = invoke(src, out, "--resume", "--summary", "--workers", "2", "--chunk-size", "7")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == ref.read_bytes()
    summary_keys = {"patient_id", "line", "codes", "requires_immediate_action"}
    assert all(set(json.loads(x)) == summary_keys for x in out.read_bytes().splitlines())
    assert (tmp_path / "rej.ndjson").read_bytes() == (tmp_path / "ref.rej").read_bytes()
    assert not Path(f"{out}.rejects").exists()  # never a second rejects file
    recorded = json.loads(Path(f"{out}.manifest.json").read_bytes())
    assert recorded["complete"] and recorded["execution"]["workers"] == 2


@pytest.mark.parametrize("change", ["append", "same size"])
def test_resume_refuses_a_changed_input(interrupted: tuple[Path, Path], change: str) -> None:
    src, out = interrupted
    data = bytearray(src.read_bytes())
    if change == "append":
        data += b'{"age": 30}\n'
    else:
        data[data.index(b'"age": ') + 7] ^= 1  # one digit of one age: same size, other bytes
    src.write_bytes(bytes(data))
    before = snapshot(out.parent)
    result = invoke(src, out, "--resume")
    assert result.exit_code == 2, result.output
    assert "is not the input the run read" in result.output
    assert snapshot(out.parent) == before


def test_resume_refuses_a_completed_run_whose_input_changed(tmp_path: Path) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_input(src, 50, seed=2)
    assert invoke(src, out).exit_code == 0
    src.write_bytes(src.read_bytes() + b'{"age": 30}\n')
    result = invoke(src, out, "--resume")
    assert result.exit_code == 2 and "is not the input the run read" in result.output


def test_resume_without_a_manifest_is_refused(tmp_path: Path) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_input(src, 10, seed=3)
    result = invoke(src, out, "--resume")
    assert result.exit_code == 2 and "no manifest" in result.output
    out.write_text("an output from an older gbrules\n")
    result = invoke(src, out, "--resume")
    assert result.exit_code == 2 and "no manifest" in result.output
    assert out.read_text() == "an output from an older gbrules\n"


def test_resume_refuses_outputs_cut_shorter_than_committed(
    interrupted: tuple[Path, Path],
) -> None:
    src, out = interrupted
    out.write_bytes(out.read_bytes()[:-10])
    result = invoke(src, out, "--resume")
    assert result.exit_code == 2 and "changed outside gbrules" in result.output


def test_files_that_overlap_are_refused(tmp_path: Path) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_input(src, 10, seed=4)
    result = invoke(src, out, "--rejects", out)
    assert result.exit_code == 2 and "same file" in result.output
    result = invoke(src, src)
    assert result.exit_code == 2 and "same file" in result.output
    assert len(src.read_bytes().splitlines()) == 10


def test_a_fresh_run_replaces_an_earlier_runs_outputs(tmp_path: Path) -> None:
    """Without --resume, a stale Parquet OUT and parts never pass for the new run's."""
    src, out = tmp_path / "in.ndjson", tmp_path / "out.parquet"
    write_input(src, 80, seed=5)
    run_batch(BatchOptions(source=src, out=out, summary=True))
    stale = tmp_path / "out.parquet.parts"
    stale.mkdir()
    (stale / "part-000001.arrow").write_bytes(b"stale")
    run_batch(BatchOptions(source=src, out=out))
    assert "evaluation" in pq.read_table(out).schema.names
    assert not stale.exists()


# ------------------------------------------------------------------ every step of a commit


class Crash(BaseException):
    """A crash at an exact point: nothing catches it, so the run stops as if killed there."""


def crash_on_replace(
    monkeypatch: pytest.MonkeyPatch, k: int, after: bool, crash: type[BaseException] = Crash
) -> list[int]:
    """Raise ``crash`` at the ``k``-th ``os.replace`` (a commit step), just before or after."""
    real = os.replace
    calls = [0]

    def replace(a: Any, b: Any) -> None:
        calls[0] += 1
        if calls[0] == k and not after:
            raise crash
        real(a, b)
        if calls[0] == k and after:
            raise crash

    monkeypatch.setattr(os, "replace", replace)
    return calls


# Where and how a run is stopped: a crash (nothing runs after it) just before or just after
# the rename, or Ctrl-C just after it (the run then commits again and stops).
STOPS = [(Crash, False), (Crash, True), (KeyboardInterrupt, True)]


@pytest.mark.parametrize("out_format", [Format.ndjson, Format.parquet])
def test_a_crash_at_every_commit_step_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out_format: Format
) -> None:
    """Stop the run at each atomic rename of a commit (part file, manifest, assembled OUT),
    then (after a crash) again at the same step of the resumed run: the next resume must
    still give the uninterrupted bytes (SIGKILL at random moments is tested above)."""
    # The page cache outlives a crashed process, so fsync (power-loss safety, which no test
    # here can cut) only costs time in this test.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    src = tmp_path / "in.ndjson"
    write_input(src, 80, seed=6)
    suffix = f".{out_format}"
    ref = tmp_path / f"ref{suffix}"
    options = BatchOptions(
        source=src, out=ref, chunk_size=20, row_group_size=30, checkpoint_seconds=0
    )
    with monkeypatch.context() as m:
        steps = crash_on_replace(m, 0, after=False)
        run_batch(options)
    assert steps[0] >= 6  # a manifest per chunk, and parts and assembly for Parquet
    for k in range(1, steps[0] + 1):
        for crash, after in STOPS:
            where = f"{crash.__name__} {'after' if after else 'before'} rename {k}"
            out = tmp_path / f"out-{k}-{crash.__name__}-{after}{suffix}"
            run = dataclasses.replace(options, out=out)
            resume = BatchOptions(source=src, out=out, resume=True, checkpoint_seconds=0)
            with monkeypatch.context() as m:
                crash_on_replace(m, k, after, crash)
                with contextlib.suppress(crash):
                    stats = run_batch(run)
                    assert stats.interrupted or k == steps[0], where
            if not Path(f"{out}.manifest.json").exists():
                run_batch(run)
            else:
                if crash is Crash:
                    with monkeypatch.context() as m:
                        crash_on_replace(m, k, after)
                        with contextlib.suppress(Crash):
                            run_batch(resume)
                run_batch(resume)
            assert out.read_bytes() == ref.read_bytes(), where
            assert Path(f"{out}.rejects").read_bytes() == Path(f"{ref}.rejects").read_bytes()


def test_a_second_batch_on_the_same_output_is_refused(tmp_path: Path) -> None:
    """Two processes appending to one OUT would interleave: the second exits 2 at once."""
    from gbrules.io.files import exclusive

    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_input(src, 10, seed=7)
    with exclusive(tmp_path / ".out.ndjson.lock"):  # as a running batch holds it
        result = invoke(src, out)
        assert result.exit_code == 2 and "another gbrules batch is writing" in result.output
        assert not out.exists()
    assert invoke(src, out).exit_code == 0  # released with its holder (or its death)
    assert not (tmp_path / ".out.ndjson.lock").exists()

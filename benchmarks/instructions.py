"""Instructions per evaluation, counted by valgrind's callgrind: the steady measure of work.

    .venv/bin/python benchmarks/instructions.py            # ~4 minutes (valgrind is slow)
    .venv/bin/python benchmarks/instructions.py --n 500

``bench.py`` prints instructions from the CPU's counters where Linux exposes them; on machines
that do not (virtual machines often do not), its rates are all there is, and rates on a shared
machine drift with the neighbours' load. callgrind counts the instructions a process executes,
the same number run after run whatever else the machine does, so this script gives the ratio
of work between the naive durable_rules pattern and gbrules without that noise.

Each path runs in its own process under callgrind after the same preparation (engine, naive
host, warm-up, the timed intakes and their facts made in advance); one more process does only
the preparation. A path's instructions per evaluation are its total minus the preparation's,
over ``n``. Paths as in ``bench.py``: naive (durable's Host, pre-computed facts), gbrules'
engine only (``Engine.fire`` on the same facts), and end to end on new intakes
(``Engine.evaluate``: validation, facts, engine, overrides, Evaluation, each intake one the
engine has not seen). Instructions are not time: C code that the naive path spends its time in
runs more instructions per cycle than Python, so the time ratio is lower (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PATHS = ("prepare", "naive", "engine", "end-to-end")
WARM_UP = 2000
SEED = 12345


def run_path(path: str, n: int) -> None:
    """In the child: prepare, then run one path ``n`` times."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench import NaiveDurable

    from gbrules.clinical.engine import Engine
    from gbrules.clinical.facts import facts_from_intake
    from gbrules.clinical.intake import parse_intake
    from gbrules.tools.synthetic import synthetic_intakes

    engine = Engine.default()
    naive = NaiveDurable(engine)
    warm = list(synthetic_intakes(WARM_UP, SEED))
    intakes = list(synthetic_intakes(n, SEED + 1))
    facts = [facts_from_intake(parse_intake(x)) for x in intakes]
    warm_facts = [facts_from_intake(parse_intake(x)) for x in warm[: WARM_UP // 10]]
    for x in warm:
        engine.evaluate(x)
    for f in warm_facts:
        naive.fire(f)
        engine.fire(f)
    if path == "naive":
        for f in facts:
            naive.fire(f)
    elif path == "engine":
        for f in facts:
            engine.fire(f)
    elif path == "end-to-end":
        for x in intakes:
            engine.evaluate(x)


def count(path: str, n: int, workdir: Path) -> int:
    out = workdir / f"callgrind.{path}"
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            path,
            "--n",
            str(n),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no total for {path}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="evaluations per path")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_path(args.child, args.n)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        totals = {path: count(path, args.n, Path(tmp)) for path in PATHS}
    per_eval = {p: (totals[p] - totals["prepare"]) / args.n for p in PATHS[1:]}
    naive = per_eval["naive"]
    print(f"instructions per evaluation (callgrind, {args.n} evaluations per path):")
    for path, value in per_eval.items():
        print(f"  {path:12} {value:>12,.0f}   naive / this: {naive / value:5.2f}x")
    print(
        "goal end-to-end (new intakes) >= 3x naive, in instructions: "
        f"{naive / per_eval['end-to-end']:.2f}x"
    )


if __name__ == "__main__":
    main()

"""Soak: evaluate many synthetic intakes in one process and watch memory and engine sessions.

    .venv/bin/python -m benchmarks.soak                 # 500,000 evaluations
    .venv/bin/python -m benchmarks.soak --n 100000 --every 10000

Prints the resident set size (RSS) every ``--every`` evaluations, the throughput, and the
durable_rules sessions still alive at the end (must be 0). Exits 1 if sessions leaked or
RSS grew more than ``--max-growth-mb`` (10 MiB) over the second half of the run: the bounded
memos fill during the first part, a leak keeps growing.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gbrules.clinical.engine import Engine, cached_engine
from gbrules.core.backends import durable
from gbrules.tools.synthetic import synthetic_intakes


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class SoakResult:
    n: int
    seconds: float
    samples: list[tuple[int, float]] = field(default_factory=list)  # (evaluations done, RSS MiB)
    live_sessions: int = 0
    critical: int = 0

    @property
    def growth_after_warmup_mb(self) -> float:
        """RSS at the end minus RSS at the first report (the warm-up)."""
        return self.samples[-1][1] - self.samples[0][1] if self.samples else 0.0

    @property
    def growth_second_half_mb(self) -> float:
        """RSS at the end minus RSS at the report nearest half-way.

        The memos (bounded: a few thousand entries per rule) fill during the first part of a
        long run; a leak keeps growing. So flatness is judged on the second half.
        """
        if not self.samples:
            return 0.0
        half = min(self.samples, key=lambda s: abs(s[0] - self.n / 2))
        return self.samples[-1][1] - half[1]

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0


def soak(
    n: int,
    every: int = 50_000,
    engine: Engine | None = None,
    report: Callable[[str], None] | None = None,
) -> SoakResult:
    """Evaluate intakes 0..n-1 once each, sampling RSS after every ``every`` evaluations."""
    eng = engine or cached_engine()
    result = SoakResult(n=n, seconds=0.0)
    start = time.perf_counter()
    lap, lap_cpu, lap_i = start, time.process_time(), 0
    for i, data in enumerate(synthetic_intakes(n, seed=20240601)):
        ev = eng.evaluate(data)
        result.critical += ev.requires_immediate_action
        if (i + 1) % every == 0 or i + 1 == n:
            gc.collect()
            mb = rss_mb()
            result.samples.append((i + 1, mb))
            now, cpu = time.perf_counter(), time.process_time()
            if report:
                done = i + 1 - lap_i
                report(
                    f"{i + 1:>9,} evaluations  RSS {mb:8.1f} MiB  "
                    f"this interval {done / (now - lap):7,.0f}/s wall, "
                    f"{done / max(cpu - lap_cpu, 1e-9):7,.0f}/s per CPU second"
                )
            lap, lap_cpu, lap_i = now, cpu, i + 1
    result.seconds = time.perf_counter() - start
    result.live_sessions = durable.live_sessions()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500_000, help="evaluations (default 500,000)")
    ap.add_argument("--every", type=int, default=50_000, help="RSS report interval")
    ap.add_argument(
        "--max-growth-mb", type=float, default=10.0, help="allowed RSS growth, second half"
    )
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, RSS at start {rss_mb():.1f} MiB")
    res = soak(args.n, args.every, report=print)
    print(
        f"done: {res.n:,} evaluations in {res.seconds:,.1f} s ({res.per_second:,.0f}/s), "
        f"{res.critical:,} with a critical item; RSS growth after first report "
        f"{res.growth_after_warmup_mb:+.1f} MiB, over the second half "
        f"{res.growth_second_half_mb:+.1f} MiB; live durable sessions {res.live_sessions}"
    )
    ok = res.live_sessions == 0 and res.growth_second_half_mb < args.max_growth_mb
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

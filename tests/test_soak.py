"""Soak (short): 50,000 engine evaluations in this process leak neither memory nor sessions.

The full soak is ``benchmarks/soak.py`` (500,000 evaluations, see docs/RELIABILITY.md).
"""

from __future__ import annotations

import gc

import gbrules
from benchmarks.soak import rss_mb, soak
from gbrules.clinical.facts import facts_from_intake
from gbrules.clinical.intake import parse_intake
from gbrules.core.backends import durable
from gbrules.tools.synthetic import synthetic_intakes

N_FIRE = 50_000
DISTINCT = 5_000
WARMUP = 5_000
# Bound on RSS growth after warm-up. Measured on this machine: +0.0 MiB after 50,000 and after
# 500,000 evaluations (RSS flat at 36.1 MiB). A leak of one small durable_rules state (a few
# hundred bytes) per evaluation would add > 10 MiB over the 45,000 fires after warm-up, while
# allocator noise inside a pytest process stays well under 2 MiB.
MAX_GROWTH_MIB = 10.0


def test_fifty_thousand_fires_leak_nothing(engine: gbrules.Engine) -> None:
    facts = [facts_from_intake(parse_intake(d)) for d in synthetic_intakes(DISTINCT, seed=7)]
    expected = [[r.id for r in engine.fire(f)] for f in facts[:200]]
    base = None
    for i in range(N_FIRE):
        engine.fire(facts[i % DISTINCT])
        if i + 1 == WARMUP:
            gc.collect()
            base = rss_mb()
    gc.collect()
    assert base is not None
    growth = rss_mb() - base
    assert growth < MAX_GROWTH_MIB, f"RSS grew {growth:.1f} MiB over {N_FIRE - WARMUP:,} fires"
    assert durable.live_sessions() == 0
    # ... and the engine still gives the same answers as at the start.
    assert [[r.id for r in engine.fire(f)] for f in facts[:200]] == expected


def test_soak_script_full_path_short_run(engine: gbrules.Engine) -> None:
    """The benchmark's own loop (full evaluate: intake, facts, engine, overrides) on 5,000."""
    res = soak(5_000, every=1_000, engine=engine)
    assert res.live_sessions == 0
    assert len(res.samples) == 5
    assert res.growth_second_half_mb < MAX_GROWTH_MIB
    assert 0 < res.critical < res.n

"""gbrules speed and scale benchmark: one table (or --json).

    .venv/bin/python benchmarks/bench.py            # default sizes (~3.5 minutes)
    .venv/bin/python benchmarks/bench.py --n 2000   # quicker
    .venv/bin/python benchmarks/bench.py --json

Rates are evaluations per second of CPU time of this process (``time.process_time``), i.e.
per core, so that other load on the machine disturbs them less. The paths take turns in
``ROUNDS`` rounds and each path's best round is reported (the least disturbed, as ``timeit``
advises). The goal's ratio is measured in pairs: in each round the naive pattern and
end-to-end on new intakes take alternating turns of ``PAIR_TURN`` evaluations, so a slow spell
hits both alike; every round's paired ratio is printed and the goal uses their median.
The batch rows are wall-clock (they use several processes). Goals are printed as ratios;
nothing here asserts a time. Where the CPU's counters can be read (Linux), each path's user-space
instructions per evaluation are printed too (``benchmarks/counters.py``): on a shared machine
they are the steady measure, while rates drift with the neighbours' load.

Rows, on the default rulebook and on it replicated x4 (ids renamed, same logic):

* floor: the pure-Python reference evaluator, ``language.evaluate`` over every rule, on
  pre-computed facts (no durable_rules at all).
* naive: the durable_rules Host API as a tutorial would use it: ``assert_fact`` with one
  Python action closure per rule, ``delete_state`` per patient (Host subclass whose ``_run``
  does nothing, see docs/ENGINE.md), on the same pre-computed facts.
* engine: ``Engine.fire`` on the same facts (gbrules' durable driver).
* end-to-end, new intakes: ``Engine.evaluate_many`` on intake dicts (validation, facts,
  engine, overrides, Evaluation), each timed intake one the engine has never seen, as in a
  population screen. The goal is measured on this path (paired with naive, see above).
* end-to-end, repeated: the same on the n intakes again and again, so every explanation is
  memoised (a CDS service seeing the same patients; an upper bound).

And, for new intakes, what each stage costs inside ``evaluate_many``'s pipeline (validation,
facts, engine, plan, suggestions, the Evaluation): the time saved when that stage is fed its
results instead (``stage_costs``). The stages overlap (leaving one out also spares the others
its cache evictions), so they add up to more than the whole.

Then the public API and the surfaces, per call, as multiples of one ``Engine.evaluate`` (each
measured in alternating turns with it, median of the rounds): ``gbrules.evaluate`` (the cached
loader; goal <= 1.10), ``render_care_plan`` in each format (goal <= 10), the FHIR mapping of
the bundles in ``examples/fhir/`` to an Intake (``intake_from_fhir``), and the service's path
from a typical US Core patient-view prefetch to an Intake (goal <= 10; ``fhir_bench.py``).
Last, a FHIR Bulk Data screen of ``--bulk`` generated patients (``fhir_bench.measure_bulk``).
Where the CPU's counters cannot be read, ``benchmarks/instructions.py`` gives the same paths in
instructions per evaluation, counted by callgrind.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from counters import open_instruction_counter
from fhir_bench import bulk_lines, measure_bulk, prefetch_to_intake, us_core_prefetch

import gbrules
from gbrules.clinical.engine import Engine
from gbrules.clinical.facts import facts_from_intake
from gbrules.clinical.intake import Intake, parse_intake, validate_intake
from gbrules.core import language
from gbrules.core.backends import durable
from gbrules.core.backends.loader import load_engine
from gbrules.core.compiled import CompiledRule, Plan, suggestions
from gbrules.core.engine import MANY_AT_ONCE
from gbrules.core.result import Evaluation, Suggestion
from gbrules.core.vocabulary import FactValue
from gbrules.io.batch import BatchOptions, run_batch
from gbrules.tools.synthetic import replicated_rulebook, synthetic_intakes

# durable's host layer (the naive baseline) imports the C module itself: load it through gbrules
# first, so on CPython 3.13+ the PyEval_CallObject shim is in place (docs/PYTHON.md).
load_engine()
from durable import engine as durable_engine  # noqa: E402

SEED = 12345
ROUNDS = 7
WARM_UP = 3  # passes over new intakes before timing them
MIN_SECONDS = 0.2
PAIR_TURN = 100  # evaluations per turn in the paired naive / end-to-end comparison
FLOOR = "floor (Python reference)"
NAIVE = "naive durable_rules Host"
ENGINE = "gbrules engine only (fire)"
NEW = "gbrules end-to-end, new intakes"
REPEATED = "gbrules end-to-end, repeated"
FHIR_EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "fhir"
SURFACE_GOALS = {"gbrules.evaluate": 1.10, "render markdown": 10.0, "render html": 10.0}
SURFACE_GOALS["render text"] = 10.0
US_CORE_ROW = "FHIR US Core prefetch -> Intake (28)"
SURFACE_GOALS[US_CORE_ROW] = 10.0  # a typical patient-view prefetch


def cpu_rate(fn: Callable[[], int], min_seconds: float) -> float:
    """Items per CPU second; repeats ``fn`` (which returns items done) for at least min_seconds."""
    done = 0
    start = time.process_time()
    while True:
        done += fn()
        spent = time.process_time() - start
        if spent >= min_seconds:
            return done / spent


def interleaved_rates(
    paths: dict[str, Callable[[], float]], rounds: int = ROUNDS
) -> dict[str, float]:
    """Each path's best rate over ``rounds`` rounds.

    A path is a function that measures once and returns a rate. The paths take turns within
    each round, so a slow spell on a shared machine (this one has noisy neighbours) hits them
    alike; the best of several rounds is the least disturbed measurement of each, as
    ``timeit`` recommends.
    """
    per_round = [{name: measure() for name, measure in paths.items()} for _ in range(rounds)]
    return {name: max(r[name] for r in per_round) for name in paths}


class QuietHost(durable_engine.Host):  # type: ignore[misc]
    """The durable Host without its background dispatch threads (they segfault under load)."""

    def _run(self) -> None:
        return None


class NaiveDurable:
    """The durable_rules pattern from its README: one closure per rule, assert_fact, delete."""

    _ids = itertools.count(1)

    def __init__(self, engine: Engine) -> None:
        self.fired: list[str] = []
        definitions: dict[str, Any] = {}
        by_name = {f"r{rule.order:04d}": rule for rule in engine.rulebook.rules}
        # A ruleset whose network could overflow the engine's stack fails with error 303:
        # split like gbrules does (the same groups; one for the default rulebook).
        groups = durable.partition(
            [(n, language.to_durable(r.condition)) for n, r in by_name.items()]
        )
        for group in groups:
            name = f"naive_{next(self._ids)}"
            rs: dict[str, Any] = {}
            for rule in (by_name[n] for n, _ in group):
                rs[f"r{rule.order:04d}"] = {
                    "all": [{"m": {"$and": [{"naive": 1}, language.to_durable(rule.condition)]}}],
                    "run": self._action(rule.id),
                }
            rs["zz_sentinel"] = {"all": [{"m": {"naive": 1}}], "run": lambda c: None}
            definitions[name] = rs
        self.names = list(definitions)
        self.host = QuietHost(definitions)
        self.sids = itertools.count(1)

    def _action(self, rule_id: str) -> Callable[[Any], None]:
        def action(c: Any) -> None:
            self.fired.append(rule_id)

        return action

    def fire(self, facts: dict[str, Any]) -> set[str]:
        self.fired = []
        for name in self.names:
            sid = str(next(self.sids))
            try:
                self.host.assert_fact(name, {**facts, "naive": 1, "sid": sid})
            finally:
                self.host.delete_state(name, sid)
        # A rule whose `any` has several true branches fires once per branch here: dedupe.
        return set(self.fired)


def paired_ratio(baseline: Callable[[], int], ours: Callable[[], int], turns: int) -> float:
    """Baseline CPU time per item over ours, the two taking ``turns`` alternating turns.

    Each call of a path does one turn and returns the items it did.
    """
    clock = time.process_time
    spent = {"baseline": 0.0, "ours": 0.0}
    items = {"baseline": 0, "ours": 0}
    for _ in range(turns):
        for name, run in (("baseline", baseline), ("ours", ours)):
            start = clock()
            items[name] += run()
            spent[name] += clock() - start
    return (spent["baseline"] / items["baseline"]) / (spent["ours"] / items["ours"])


def instructions_per_item(
    paths: dict[str, Callable[[], Callable[[], int]]],
) -> dict[str, float] | None:
    """User-space instructions per item of each path, or None without CPU counters.

    A path is a function that prepares one pass (outside the count) and returns it; the pass
    returns how many items it did.
    """
    read = open_instruction_counter()
    if read is None:
        return None
    out = {}
    for name, prepare in paths.items():
        run = prepare()
        start = read()
        items = run()
        out[name] = (read() - start) / items
    return out


class Prepared(NamedTuple):
    """One intake's stage results, computed beforehand, for a pipeline that leaves a stage out."""

    checked: Intake | dict[str, Any]  # as validate_intake returns it
    facts: dict[str, FactValue]
    fired: frozenset[str]
    plan: Plan  # the twin engine's
    survivors: Sequence[CompiledRule]  # the plan's survivors, as this engine's compiled rules
    made: list[Suggestion]


def stage_costs(engine: Engine, n: int, seed: int) -> dict[str, float]:
    """Each stage's cost inside the staged pipeline, in microseconds per new intake.

    The pipeline is ``Engine.evaluate_many``'s (``MANY_AT_ONCE`` inputs at a time, stage by
    stage). A stage's cost is the pipeline's CPU time minus its time when that stage is fed
    results computed beforehand, on new synthetic intakes (``seed``); the variants take short
    turns in a row, about ``ROUNDS * n`` intakes each. Timed alone in a loop a stage costs less than
    here, where the other stages evict its code and data from the CPU's caches between
    chunks; leaving it out also leaves out what it evicts, which is part of its cost. The
    results fed in are computed by a twin engine (same rulebook), so this engine's memos see
    each intake as new. The collector is paused while a turn is timed (young collections cost
    gbrules about 1 us per intake).
    """
    twin = type(engine)(engine.rulebook)
    # this engine's compiled rules, to stand in for the twin's in a plan fed in
    by_id = {entry.rule_id: entry for entry in engine._compiled.values()}

    def prepare(chunk: list[dict[str, Any]]) -> list[Prepared]:
        out = []
        for x in chunk:
            checked = validate_intake(x)
            facts = facts_from_intake(checked)
            names = twin._fired_names(facts)
            plan = twin._plan(names)
            survivors = [by_id[e.rule_id] for e in plan.survivors]
            made = suggestions(plan.survivors, facts)  # the twin's memos, not this engine's
            out.append(Prepared(checked, facts, names, plan, survivors, made))
        return out

    stages = ("validation", "facts", "engine", "plan", "suggestions", "Evaluation")
    variants = ("pipeline", *stages)
    turn = 2 * MANY_AT_ONCE
    turns = max(1, ROUNDS * n // turn)
    stream = synthetic_intakes(turns * turn * len(variants), seed)

    def run(chunk: list[dict[str, Any]], ready: list[Prepared], left_out: str) -> None:
        for i in range(0, len(chunk), MANY_AT_ONCE):
            part, pre = chunk[i : i + MANY_AT_ONCE], ready[i : i + MANY_AT_ONCE]
            if left_out == "validation":
                checked = [p.checked for p in pre]
            else:
                checked = [validate_intake(x) for x in part]
            if left_out == "facts":
                facts = [p.facts for p in pre]
            else:
                facts = [facts_from_intake(c) for c in checked]
            if left_out == "engine":
                fired = [p.fired for p in pre]
            else:
                fired = [engine._fired_names(f) for f in facts]
            for x, f, names, p in zip(part, facts, fired, pre, strict=True):
                if left_out == "plan":
                    plan, survivors = p.plan, p.survivors
                else:
                    plan = engine._plan(names)
                    survivors = plan.survivors
                made = p.made if left_out == "suggestions" else suggestions(survivors, f)
                if left_out != "Evaluation":
                    engine._result(x.get("patient_id"), f, plan, made)

    # Short turns of every variant in a row, so that a slow spell on this shared machine hits
    # them alike (as in paired_ratio); the collector is paused while a turn is timed.
    spent = dict.fromkeys(variants, 0.0)
    for _ in range(turns):
        for left_out in variants:
            chunk = list(itertools.islice(stream, turn))
            ready = prepare(chunk)
            gc.disable()
            start = time.process_time()
            run(chunk, ready, left_out)
            spent[left_out] += time.process_time() - start
            gc.enable()
    twin.close()
    per_intake = {name: t / (turns * turn) * 1e6 for name, t in spent.items()}
    whole = per_intake["pipeline"]
    return {"pipeline": whole} | {name: whole - per_intake[name] for name in stages}


def measure_rulebook(label: str, engine: Engine, n: int) -> dict[str, Any]:
    intakes = list(synthetic_intakes(n, SEED))
    facts = [facts_from_intake(parse_intake(x)) for x in intakes]
    rules = engine.rulebook.rules
    naive = NaiveDurable(engine)
    # Same answers, or the comparison means nothing.
    for f in facts[:500]:
        want = {r.id for r in rules if language.evaluate(r.condition, f) is True}
        assert naive.fire(f) == want == {r.id for r in engine.fire(f)}

    def floor() -> int:
        for f in facts:
            [r for r in rules if language.evaluate(r.condition, f) is True]
        return len(facts)

    def run_naive() -> int:
        for f in facts:
            naive.fire(f)
        return len(facts)

    def engine_only() -> int:
        for f in facts:
            engine.fire(f)
        return len(facts)

    def end_to_end() -> int:
        for _ in engine.evaluate_many(intakes):
            pass
        return len(intakes)

    # New intakes, as in a population screen: every timed intake is one the engine has not
    # seen. One stream, warmed up once, then a fresh slice per round (made outside the timer).
    stream = synthetic_intakes(n * (WARM_UP + 2 * ROUNDS + 2), SEED + 7)

    def new_intakes() -> float:
        chunk = list(itertools.islice(stream, n))
        start = time.process_time()
        for _ in engine.evaluate_many(chunk):
            pass
        return len(chunk) / (time.process_time() - start)

    def new_chunk() -> Callable[[], int]:
        chunk = list(itertools.islice(stream, n))
        return lambda: sum(1 for _ in engine.evaluate_many(chunk))

    for _ in range(WARM_UP):  # a long screen is past its first few thousand intakes
        new_intakes()

    # The goal's ratio, measured in pairs: short alternating turns of the naive pattern and of
    # new intakes end to end, so a slow spell on this shared machine hits both alike.
    turns = max(1, n // (PAIR_TURN * 5))
    cycle = itertools.cycle(facts)

    def naive_turn() -> int:
        for f in itertools.islice(cycle, PAIR_TURN):
            naive.fire(f)
        return PAIR_TURN

    def ours(intakes: list[dict[str, Any]]) -> Iterator[Evaluation]:
        return engine.evaluate_many(intakes)

    def paired_round() -> float:
        chunk = list(itertools.islice(stream, PAIR_TURN * turns))
        slices = iter(chunk[i : i + PAIR_TURN] for i in range(0, len(chunk), PAIR_TURN))
        return paired_ratio(naive_turn, lambda: sum(1 for _ in ours(next(slices))), turns)

    paired = [paired_round() for _ in range(ROUNDS)]
    end_to_end()  # repeated intakes: every explanation memoised
    rates = interleaved_rates(
        {
            FLOOR: lambda: cpu_rate(floor, MIN_SECONDS),
            NAIVE: lambda: cpu_rate(run_naive, MIN_SECONDS),
            ENGINE: lambda: cpu_rate(engine_only, MIN_SECONDS),
            NEW: new_intakes,
            REPEATED: lambda: cpu_rate(end_to_end, MIN_SECONDS),
        }
    )
    instructions = instructions_per_item(
        {
            FLOOR: lambda: floor,
            NAIVE: lambda: run_naive,
            ENGINE: lambda: engine_only,
            NEW: new_chunk,
            REPEATED: lambda: end_to_end,
        }
    )
    base = rates[NAIVE]
    fired = sum(len(engine.fire(f)) for f in facts) / len(facts)
    return {
        "rulebook": label,
        "rules": len(rules),
        "rulesets": len(engine._rulesets),
        "mean_rules_fired": round(fired, 2),
        "rates": {k: round(v) for k, v in rates.items()},
        "vs_naive": {k: round(v / base, 2) for k, v in rates.items()},
        "end_to_end_vs_naive_paired": [round(x, 2) for x in paired],
        "end_to_end_vs_naive_paired_median": round(statistics.median(paired), 2),
        "instructions_per_eval": instructions and {k: round(v) for k, v in instructions.items()},
        "instructions_vs_naive": instructions
        and {k: round(instructions[NAIVE] / v, 2) for k, v in instructions.items()},
        "stage_costs_us": {
            k: round(v, 1) for k, v in stage_costs(engine, min(n, 1000), SEED + 11).items()
        },
    }


def cost_ratio(baseline: Callable[[], int], ours: Callable[[], int], turns: int) -> float:
    """Our CPU time per item over the baseline's, the two taking alternating turns."""
    return 1 / paired_ratio(baseline, ours, turns)


def measure_surfaces(n: int) -> dict[str, Any]:
    """Per call of each API path or surface, its cost in evaluations (median of rounds).

    The baseline is the very engine ``gbrules.evaluate`` hands out (its memos warm alike), so
    the ``gbrules.evaluate`` row is the cost of the loader alone.
    """
    from gbrules.clinical.engine import cached_engine
    from gbrules.io.fhir import intake_from_fhir
    from gbrules.io.render import render_care_plan

    engine = cached_engine()

    intakes = list(synthetic_intakes(n, SEED + 3))
    evaluations = [engine.evaluate(x) for x in intakes]
    bundles = [json.loads(p.read_text("utf-8")) for p in sorted(FHIR_EXAMPLES.glob("*.json"))]
    when = datetime(2025, 1, 15, tzinfo=UTC)
    as_of = date(2025, 6, 1)
    turn = 50

    def turns_of(items: Sequence[Any], call: Callable[[Any], object]) -> Callable[[], int]:
        cycle = itertools.cycle(items)

        def one_turn() -> int:
            for item in itertools.islice(cycle, turn):
                call(item)
            return turn

        return one_turn

    def render(fmt: Any) -> Callable[[Any], object]:
        return lambda ev: render_care_plan(ev, fmt, generated_at=when)

    paths: dict[str, Callable[[], int]] = {
        "gbrules.evaluate": turns_of(intakes, gbrules.evaluate),
        "render markdown": turns_of(evaluations, render("markdown")),
        "render html": turns_of(evaluations, render("html")),
        "render text": turns_of(evaluations, render("text")),
        f"FHIR bundle -> Intake ({len(bundles)} examples)": turns_of(
            bundles, lambda b: intake_from_fhir(b, as_of=as_of)
        ),
        US_CORE_ROW: turns_of([us_core_prefetch()], prefetch_to_intake),
    }
    baseline = turns_of(intakes, engine.evaluate)
    for run in (*paths.values(), baseline):  # warm: loader engine, templates, caches
        run()
    turns = max(1, n // (turn * 5))
    rounds = {
        name: [cost_ratio(baseline, run, turns) for _ in range(ROUNDS)]
        for name, run in paths.items()
    }
    return {name: round(statistics.median(r), 2) for name, r in rounds.items()}


def measure_batch(n: int, workdir: Path) -> dict[str, Any]:
    src = workdir / "in.ndjson"
    with src.open("w", encoding="utf-8") as f:
        for x in synthetic_intakes(n, SEED + 1):
            f.write(json.dumps(x) + "\n")
    out: dict[str, Any] = {"intakes": n}
    for workers in (1, 2):
        start = time.perf_counter()
        dst = workdir / f"out{workers}.ndjson"
        stats = run_batch(BatchOptions(source=src, out=dst, workers=workers, progress=False))
        wall = time.perf_counter() - start
        out[f"workers_{workers}_per_s"] = round(stats.lines / wall)
    same = (workdir / "out1.ndjson").read_bytes() == (workdir / "out2.ndjson").read_bytes()
    out["identical_output"] = same
    out["scaling_2_vs_1"] = round(out["workers_2_per_s"] / out["workers_1_per_s"], 2)
    return out


def peak_rss_mib() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"this_process": round(own, 1), "largest_child": round(kids, 1)}


def table(result: dict[str, Any]) -> str:
    lines = [
        f"gbrules benchmark: {result['machine']}",
        f"{result['n']} synthetic intakes (seed {SEED}); rates are evaluations/s per core (CPU).",
        "",
    ]
    for rb in result["rulebooks"]:
        lines.append(
            f"rulebook {rb['rulebook']}: {rb['rules']} rules in {rb['rulesets']} durable "
            f"ruleset(s), {rb['mean_rules_fired']} rules fired per intake on average"
        )
        instr = rb["instructions_per_eval"]
        lines.append(
            f"  {'path':32} {'eval/s':>10} {'vs naive':>9}   "
            f"{'instructions/eval':>17} {'vs naive':>9}"
        )
        for k, v in rb["rates"].items():
            counted = f"{instr[k]:>17,} {rb['instructions_vs_naive'][k]:>8.2f}x" if instr else "n/a"
            lines.append(f"  {k:32} {v:>10,} {rb['vs_naive'][k]:>8.2f}x   {counted}")
        spread = rb["end_to_end_vs_naive_paired"]
        lines.append(
            f"  end-to-end (new intakes) vs naive, in alternating turns of {PAIR_TURN}, "
            f"{len(spread)} rounds: "
            + ", ".join(f"{x:.2f}x" for x in spread)
            + f"; median {rb['end_to_end_vs_naive_paired_median']:.2f}x"
        )
        costs = dict(rb["stage_costs_us"])
        whole = costs.pop("pipeline")
        lines.append(
            f"  a new intake costs {whole:.1f} us in evaluate_many's pipeline; what each stage "
            "costs in it (saved when fed its results): "
            + ", ".join(f"{k} {v:.1f} ({v / whole:.0%})" for k, v in costs.items())
        )
        if not instr:
            lines.append(
                "  (no CPU counters here: benchmarks/instructions.py counts instructions with "
                "callgrind)"
            )
        lines.append("")
    lines.append(
        "per call, in evaluations (Engine.evaluate = 1; alternating turns, median of "
        f"{ROUNDS} rounds):"
    )
    for name, ratio in result["surfaces"].items():
        goal = SURFACE_GOALS.get(name)
        verdict = (
            "" if goal is None else f"  (goal <= {goal:g}: {'met' if ratio <= goal else 'NOT met'})"
        )
        lines.append(f"  {name:36} {ratio:>7.2f}x{verdict}")
    lines.append("")
    b = result["batch"]
    lines.append(
        f"batch of {b['intakes']:,} NDJSON intakes (wall clock, full Evaluation JSON out): "
        f"1 worker {b['workers_1_per_s']:,}/s, 2 workers {b['workers_2_per_s']:,}/s "
        f"(scaling {b['scaling_2_vs_1']:.2f}x on {result['cpus']} CPU(s)); "
        f"outputs identical: {b['identical_output']}"
    )
    if "fhir_bulk" in result:
        lines += bulk_lines(result["fhir_bulk"], result["cpus"])
    rss = result["peak_rss_mib"]
    lines.append(
        f"peak RSS: {rss['this_process']} MiB (this process), "
        f"{rss['largest_child']} MiB (largest batch worker)"
    )
    goal = result["goal"]
    lines.append(
        f"goal end-to-end (new intakes) >= 3x naive (default rulebook): {goal['ratio']:.2f}x "
        f"in eval/s, median of the paired rounds ({'met' if goal['met'] else 'NOT met'})"
        + (
            f"; {goal['instructions_ratio']:.2f}x in instructions per evaluation"
            if goal["instructions_ratio"] is not None
            else ""
        )
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="synthetic intakes per measurement")
    ap.add_argument("--batch", type=int, default=20000, help="intakes in the batch rows")
    ap.add_argument(
        "--bulk", type=int, default=1000, help="patients in the FHIR Bulk Data rows (0: skip)"
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = ap.parse_args(argv)

    result: dict[str, Any] = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPU(s)",
        "cpus": os.cpu_count(),
        "n": args.n,
        "rulebooks": [],
    }
    default = Engine.default()
    result["rulebooks"].append(measure_rulebook("default", default, args.n))
    result["surfaces"] = measure_surfaces(min(args.n, 1000))
    with tempfile.TemporaryDirectory() as tmp:
        x4 = Engine.from_directory(replicated_rulebook(Path(tmp) / "x4", copies=4))
        result["rulebooks"].append(measure_rulebook("default x4", x4, args.n))
        x4.close()
        result["batch"] = measure_batch(args.batch, Path(tmp))
        if args.bulk:
            result["fhir_bulk"] = measure_bulk(args.bulk, 300, Path(tmp))
    result["peak_rss_mib"] = peak_rss_mib()
    ratio = result["rulebooks"][0]["end_to_end_vs_naive_paired_median"]
    counted = result["rulebooks"][0]["instructions_vs_naive"]
    result["goal"] = {
        "target": 3.0,
        "ratio": ratio,
        "met": ratio >= 3.0,
        "instructions_ratio": counted[NEW] if counted else None,
    }
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

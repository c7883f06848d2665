"""How long proving takes: per invariant, the whole rulebook, and a rulebook 4x the size.

    .venv/bin/python benchmarks/prove.py [--rounds 5] [--copies 4] [--json]

Prints, for the default rulebook, the median time (of ``--rounds`` runs) to encode it and to
prove (or refute) each invariant, the end-to-end ``gbrules rules prove`` time in this process
(load, encode, every invariant), the rule report of ``gbrules rules query`` (dead, always
overridden, never shown, equivalent pairs) and ``rules lint``; then the same end-to-end time
for the rulebook replicated ``--copies`` times (every copy fires when the original does), as a
ratio to the default's. The budget is one minute for the whole default rulebook; the ratio to
it is printed too, since absolute times drift on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from gbrules.clinical.domain import CLINICAL, default_rules_dir, load_rulebook
from gbrules.clinical.proof import clinical_proof_domain
from gbrules.core.lint import lint
from gbrules.core.verify.invariants import INVARIANTS_FILE
from gbrules.core.verify.prove import Prover, invariants_for
from gbrules.tools.synthetic import replicated_rulebook

BUDGET_S = 60.0


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def end_to_end(rules_dir: Path) -> float:
    """Load, encode and check every invariant, as ``gbrules rules prove`` does."""
    start = time.perf_counter()
    book = load_rulebook(rules_dir)
    prover = Prover(book, clinical_proof_domain())
    report = prover.check_all(invariants_for(book, clinical_proof_domain()))
    assert not [r for r in report.results if r.status == "encoding-error"]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    domain = clinical_proof_domain()
    book = load_rulebook(default_rules_dir())
    invariants = invariants_for(book, domain)
    encode: list[float] = []
    per: dict[str, list[float]] = {inv.id: [] for inv in invariants}
    status: dict[str, str] = {}
    for _ in range(args.rounds):
        start = time.perf_counter()
        prover = Prover(book, domain)
        encode.append(time.perf_counter() - start)
        for inv in invariants:
            result = prover.check(inv)
            per[inv.id].append(result.seconds)
            status[inv.id] = result.shown_status
    whole = [end_to_end(default_rules_dir()) for _ in range(args.rounds)]

    start = time.perf_counter()
    prover = Prover(book, domain)
    dead = prover.dead_rules()
    over = prover.always_overridden(f.rule for f in dead)
    prover.never_shown([f.rule for f in dead + over])
    prover.equivalent_rules()
    report_s = time.perf_counter() - start
    start = time.perf_counter()
    lint(default_rules_dir(), CLINICAL, domain)
    lint_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        big = replicated_rulebook(Path(tmp) / "big", copies=args.copies)
        shutil.copy(default_rules_dir() / INVARIANTS_FILE, big / INVARIANTS_FILE)
        big_rules = len(load_rulebook(big).rules)
        bigger = [end_to_end(big) for _ in range(args.rounds)]

    out = {
        "rules": len(book.rules),
        "encode_ms": round(_median(encode) * 1000, 1),
        "invariants": {
            k: {"ms": round(_median(v) * 1000, 2), "status": status[k]} for k, v in per.items()
        },
        "prove_all_s": round(_median(whole), 3),
        "budget_ratio": round(_median(whole) / BUDGET_S, 4),
        "rule_report_s": round(report_s, 3),
        "lint_s": round(lint_s, 3),
        "replicated": {
            "copies": args.copies,
            "rules": big_rules,
            "prove_all_s": round(_median(bigger), 3),
            "ratio_to_default": round(_median(bigger) / _median(whole), 2),
        },
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"default rulebook: {out['rules']} rules, encoded in {out['encode_ms']} ms (median)")
    print(f"{'invariant':10} {'median ms':>10}  status")
    for k, v in out["invariants"].items():  # type: ignore[attr-defined]
        print(f"{k:10} {v['ms']:>10.2f}  {v['status']}")
    print(
        f"prove, end to end: {out['prove_all_s']} s "
        f"({out['budget_ratio']:.2%} of the {BUDGET_S:.0f} s budget)"
    )
    print(f"rule report (dead, overridden, never shown, equivalent): {out['rule_report_s']} s")
    print(f"rules lint: {out['lint_s']} s")
    rep = out["replicated"]
    print(
        f"x{rep['copies']} rulebook ({rep['rules']} rules): {rep['prove_all_s']} s, "  # type: ignore[index]
        f"{rep['ratio_to_default']}x the default"  # type: ignore[index]
    )


if __name__ == "__main__":
    main()

"""Load test of the CDS Hooks service: POST /cds-services/patient-view with the prefetch of the
three example bundles (examples/fhir/), N concurrent keep-alive clients, for a bounded time and
a hard request cap, as fast as answers come or paced at ``--rate`` requests/s. Reports
requests/s, p50/p95/p99 latency and errors by status (429 and 503 answers without a
``Retry-After`` are counted apart).

    .venv/bin/python benchmarks/load.py --seconds 30 --clients 8 [--json]
    .venv/bin/python benchmarks/load.py --seconds 30 --clients 8 --rate 40
    .venv/bin/python benchmarks/load.py --server-arg=--max-concurrent=2     # exercise a limit
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8080   # a server already running

Without ``--url`` it starts ``python -m gbrules.io.cli serve`` on 127.0.0.1 on a free port
(with the ``--server-arg`` options) and stops it afterwards. Only 127.0.0.1 is ever targeted.
Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
CASES = ("case1", "case2", "crisis")


def prefetch_key(res: dict[str, Any]) -> str | None:
    """The service's prefetch key whose query returns ``res`` (by type and LOINC code)."""
    from gbrules.io.fhir.prefetch import PREFETCH_QUERIES

    codes = {f"{c.get('system')}|{c.get('code')}" for c in res.get("code", {}).get("coding", [])}
    for q in PREFETCH_QUERIES:
        wanted = dict(q.search.params).get("code")
        if q.search.resource_type == res["resourceType"] and (
            wanted is None or codes & set(wanted.split(","))
        ):
            return q.key
    return None


def request_body(name: str) -> dict[str, Any]:
    from gbrules.io.fhir.prefetch import PREFETCH_QUERIES

    bundle = json.loads((ROOT / "examples" / "fhir" / f"{name}.json").read_text(encoding="utf-8"))
    prefetch: dict[str, Any] = {q.key: None for q in PREFETCH_QUERIES}
    for e in bundle["entry"]:
        res = e["resource"]
        key = prefetch_key(res)
        if key == "patient":
            prefetch["patient"] = res
        elif key is not None:
            sb = prefetch[key] or {"resourceType": "Bundle", "type": "searchset", "entry": []}
            sb["entry"].append({"resource": res})
            prefetch[key] = sb
    return {
        "hook": "patient-view",
        "hookInstance": "",
        "context": {"userId": "Practitioner/load", "patientId": prefetch["patient"]["id"]},
        "prefetch": prefetch,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(workers: int = 1, args: Sequence[str] = ()) -> Iterator[str]:
    """``gbrules serve`` on a free local port, with ``args``; the URL once discovery answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "gbrules.io.cli", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--workers", str(workers), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"gbrules serve exited with {proc.returncode}:\n{err}")
            try:
                if httpx.get(f"{url}/cds-services", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gbrules serve did not answer /cds-services within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def drive(
    url: str, seconds: float, max_requests: int, clients: int, rate: float | None = None
) -> dict[str, Any]:
    """Run the load; ``rate``: requests/s over all clients (requests start on a fixed
    schedule, as an EHR's users would send them), or None for as fast as answers come."""
    bodies = [request_body(n) for n in CASES]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    issued = 0
    stop_at = 0.0
    started = 0.0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(i: int, client: httpx.AsyncClient) -> None:
        nonlocal issued
        k = i
        while time.monotonic() < stop_at and issued < max_requests:
            n = issued
            issued += 1
            if rate is not None:
                wait = started + n / rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if time.monotonic() >= stop_at:
                    break
            body = dict(bodies[k % len(bodies)], hookInstance=str(uuid.uuid4()))
            k += 1
            t0 = time.perf_counter()
            try:
                r = await client.post("/cds-services/patient-view", json=body)
                key = str(r.status_code)
                if r.status_code == 200 and not r.json().get("cards"):
                    key = "200 without cards"
                elif r.status_code in (429, 503) and "retry-after" not in r.headers:
                    key += " without Retry-After"
                statuses[key] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        # warm-up: one request per case, not counted
        for b in bodies:
            warm = dict(b, hookInstance=str(uuid.uuid4()))
            await client.post("/cds-services/patient-view", json=warm)  # counted nowhere
        started = time.monotonic()
        stop_at = started + seconds
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i, client) for i in range(clients)))
        elapsed = time.perf_counter() - t0

    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    total = len(latencies)
    errors = {k: v for k, v in statuses.items() if k != "200"}
    return {
        "url": url,
        "clients": clients,
        "target_rate": rate,
        "seconds": round(elapsed, 2),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {
            "p50": round(pct(50), 2),
            "p95": round(pct(95), 2),
            "p99": round(pct(99), 2),
            "max": round(latencies[-1] * 1000, 2) if latencies else None,
        },
        "answered": statuses.get("200", 0),
        "errors": sum(errors.values()),
        "errors_by_status": errors,
        "cases": list(CASES),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def table(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    rows = [
        ("target", r["url"]),
        ("clients", r["clients"]),
        ("target rate (req/s)", r["target_rate"] or "as fast as answered"),
        ("duration (s)", r["seconds"]),
        ("requests", r["requests"]),
        ("requests/s", r["requests_per_s"]),
        ("p50 (ms)", lat["p50"]),
        ("p95 (ms)", lat["p95"]),
        ("p99 (ms)", lat["p99"]),
        ("max (ms)", lat["max"]),
        ("errors", r["errors"]),
    ]
    rows += [(f"  status {k}", v) for k, v in sorted(r["errors_by_status"].items())]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running service on 127.0.0.1 (default: start one)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-requests", type=int, default=50_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rate", type=float, help="requests/s over all clients (default: no pacing)")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="an option for gbrules serve, e.g. --server-arg=--max-concurrent=2 (repeatable)",
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    if args.seconds <= 0 or args.max_requests <= 0 or args.clients <= 0:
        ap.error("--seconds, --max-requests and --clients must be positive")
    if args.rate is not None and args.rate <= 0:
        ap.error("--rate must be positive")
    if args.url and urlsplit(args.url).hostname != "127.0.0.1":
        ap.error("--url must be on 127.0.0.1")

    def run(url: str) -> dict[str, Any]:
        return asyncio.run(drive(url, args.seconds, args.max_requests, args.clients, args.rate))

    if args.url:
        result = run(args.url.rstrip("/"))
    else:
        with server(args.workers, args.server_arg) as url:
            result = run(url)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

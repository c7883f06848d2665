"""The service's limits, each on a real server: the time budget, the bound on evaluations in
flight, the per-client rate limit; then each under load with benchmarks/load.py.

A slow evaluation is made on demand (``GatedEngine`` holds it until the test lets it go), so no
assertion depends on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from benchmarks.load import drive, server
from gbrules.io.service import ServiceConfig, create_app
from tests.conftest import AS_OF
from tests.service_support import GatedEngine, wait_until
from tests.test_service import hook_request


def _post(url: str, name: str = "case1", **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/cds-services/patient-view", json=hook_request(name), timeout=60, **kw)


def _in_flight(url: str) -> int:
    return int(httpx.get(f"{url}/health").json().get("evaluations_in_flight", 0))


def test_past_the_time_budget_is_503_and_the_worker_is_not_held(
    serve: Callable[..., str], engine: Any
) -> None:
    gated = GatedEngine(engine)
    config = ServiceConfig(time_budget_s=0.5, max_concurrent=2)
    url = serve(create_app(gated, today=lambda: AS_OF, config=config))  # type: ignore[arg-type]
    r = _post(url)
    assert r.status_code == 503
    assert "time budget of 0.5 s" in r.json()["error"]
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["cache-control"] == "no-store"
    # The evaluation still runs (a thread cannot be stopped) and keeps its slot, but the
    # event loop is free: discovery and health answer while it waits.
    assert httpx.get(f"{url}/cds-services").status_code == 200
    assert _in_flight(url) == 1
    gated.gate.set()
    wait_until(lambda: _in_flight(url) == 0, "the late evaluation gave its slot back")
    r = _post(url)
    assert r.status_code == 200 and r.json()["cards"]
    metrics = httpx.get(f"{url}/metrics").text
    assert 'gbrules_limit_rejections_total{limit="time_budget"} 1.0' in metrics
    # The late answer was never served: not counted as answered.
    assert 'gbrules_evaluations_total{outcome="answered",service="patient-view"} 1.0' in metrics


def test_a_pathological_prefetch_gets_503_within_the_budget(
    serve: Callable[..., str], engine: Any
) -> None:
    """Thousands of valid observations under the 1 MiB cap: the mapping alone takes far longer
    than this budget, the answer is a clear 503, and the service answers normally after."""
    url = serve(create_app(engine, today=lambda: AS_OF, config=ServiceConfig(time_budget_s=0.005)))
    req = hook_request("case1")
    obs = req["prefetch"]["moodObservations"]["entry"][0]["resource"]
    entries = [
        {"resource": dict(obs, id=f"o{i}", effectiveDateTime=f"20{10 + i % 15}-0{1 + i % 9}-11")}
        for i in range(2000)
    ]
    req["prefetch"]["moodObservations"]["entry"] = entries
    assert len(json.dumps(req)) < 1024 * 1024
    r = httpx.post(f"{url}/cds-services/patient-view", json=req, timeout=60)
    assert r.status_code == 503 and "time budget" in r.json()["error"]
    wait_until(lambda: _in_flight(url) == 0, "the pathological evaluation ended")
    normal = ServiceConfig(time_budget_s=30)
    url2 = serve(create_app(engine, today=lambda: AS_OF, config=normal))
    assert _post(url2).status_code == 200


def test_one_evaluation_too_many_is_503_with_retry_after(
    serve: Callable[..., str], engine: Any
) -> None:
    gated = GatedEngine(engine)
    config = ServiceConfig(time_budget_s=60, max_concurrent=1, retry_after_s=2)
    url = serve(create_app(gated, today=lambda: AS_OF, config=config))  # type: ignore[arg-type]
    first: dict[str, httpx.Response] = {}
    t = threading.Thread(target=lambda: first.setdefault("r", _post(url)))
    t.start()
    assert gated.entered.wait(30)
    second = _post(url, "crisis")
    assert second.status_code == 503
    assert second.headers["retry-after"] == "2"
    assert "evaluation slots are busy" in second.json()["error"]
    gated.gate.set()
    t.join(60)
    assert first["r"].status_code == 200
    assert _post(url, "crisis").json()["cards"][0]["indicator"] == "critical"
    metrics = httpx.get(f"{url}/metrics").text
    assert 'gbrules_limit_rejections_total{limit="concurrency"} 1.0' in metrics
    assert 'gbrules_evaluations_total{outcome="busy",service="patient-view"} 1.0' in metrics


def test_rate_limit_per_client_is_429_with_retry_after(
    serve: Callable[..., str], engine: Any
) -> None:
    url = serve(
        create_app(engine, today=lambda: AS_OF, config=ServiceConfig(rate_limit="3/minute"))
    )
    assert [httpx.get(f"{url}/cds-services").status_code for _ in range(3)] == [200] * 3
    r = _post(url)
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert "3/minute" in r.json()["error"]
    assert r.headers["x-content-type-options"] == "nosniff"
    # Monitoring is never rate limited.
    assert httpx.get(f"{url}/health").status_code == 200
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.status_code == 200
    assert 'gbrules_limit_rejections_total{limit="rate"} 1.0' in metrics.text


def test_config_problems_name_the_option() -> None:
    assert ServiceConfig().problems() == []
    bad = ServiceConfig(
        time_budget_s=0, max_concurrent=0, rate_limit="lots", cors_origins=("*", "ftp://x")
    )
    text = "\n".join(bad.problems())
    for option in ("--time-budget", "--max-concurrent", "--rate-limit", "'*' is refused"):
        assert option in text
    assert "ftp://x" in text
    with pytest.raises(ValueError, match="max-concurrent"):
        create_app(config=ServiceConfig(max_concurrent=0))


# --- under load (benchmarks/load.py against `gbrules serve`) -----------------------------------

#: The documented request rate (docs/LOAD.md): 0 errors at it with the default limits.
DOCUMENTED_RATE = 20.0


def _load(url: str, seconds: float, clients: int, rate: float | None = None) -> dict[str, Any]:
    return asyncio.run(drive(url, seconds, 10_000, clients, rate))


def test_load_at_the_documented_rate_has_no_errors() -> None:
    with server() as url:
        result = _load(url, 4, 8, DOCUMENTED_RATE)
    assert result["errors"] == 0, result
    assert result["answered"] >= DOCUMENTED_RATE * 2  # it did run at about the rate


def test_load_over_the_concurrency_bound_gets_only_503_with_retry_after() -> None:
    with server(args=["--max-concurrent", "1"]) as url:
        result = _load(url, 3, 8)
    errors = result["errors_by_status"]
    assert set(errors) == {"503"}, result  # nothing else, and every 503 had Retry-After
    assert result["answered"] > 0


def test_load_over_the_rate_limit_gets_429_and_at_most_the_rate() -> None:
    with server(args=["--rate-limit", "5/second"]) as url:
        result = _load(url, 3, 4)
    errors = result["errors_by_status"]
    assert set(errors) == {"429"}, result
    # A moving window of one second: at most 5 answers in any second of the run (+ warm-up).
    assert 0 < result["answered"] <= 5 * (math.ceil(result["seconds"]) + 1)


def test_load_past_the_time_budget_gets_503_and_the_service_recovers() -> None:
    with server(args=["--time-budget", "0.001"]) as url:
        result = _load(url, 2, 4)
        assert set(result["errors_by_status"]) <= {"503"}, result
        assert result["errors"] > 0
        wait_until(lambda: _in_flight(url) == 0, "every late evaluation ended")
        assert httpx.get(f"{url}/cds-services").status_code == 200

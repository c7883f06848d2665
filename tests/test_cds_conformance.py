"""The CDS Hooks 2.0.1 conformance check (tests/cds_conformance.py) itself: it refuses what the
specification forbids, including the ``resourceId`` array gbrules once sent, and it really sees
the answers the suite receives."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests import cds_conformance
from tests.cds_conformance import NotConformant, check

CARD: dict[str, Any] = {
    "uuid": "5d6f5e0a-0000-4000-8000-000000000001",
    "summary": "Review draft order NutritionOrder/med",
    "indicator": "warning",
    "source": {"label": "gbrules rulebook 1"},
    "suggestions": [
        {
            "label": "Remove draft order NutritionOrder/med",
            "actions": [
                {
                    "type": "delete",
                    "description": "Remove draft order NutritionOrder/med",
                    "resourceId": "NutritionOrder/med",
                }
            ],
        }
    ],
    "selectionBehavior": "at-most-one",
    "overrideReasons": [{"system": "https://x.example", "code": "no", "display": "Not now"}],
}


def answer(body: Any, path: str = "/cds-services/order-select", method: str = "POST") -> None:
    request = httpx.Request(method, f"http://127.0.0.1{path}")
    check(request, httpx.Response(200, json=body, request=request))


def broken(change: Any) -> dict[str, Any]:
    card = copy.deepcopy(CARD)
    change(card)
    return {"cards": [card]}


def test_a_conformant_answer_passes() -> None:
    answer({"cards": [CARD], "extension": {"org.gbrules.mapping-notes": []}})
    answer({"cards": []})


@pytest.mark.parametrize(
    "change",
    [
        # the bug of issue 16: resourceId sent as an array
        lambda c: c["suggestions"][0]["actions"][0].update(resourceId=["NutritionOrder/med"]),
        lambda c: c.update(summary="x" * 140),
        lambda c: c.pop("selectionBehavior"),
        lambda c: c.update(indicator="hard-stop"),
        lambda c: c["overrideReasons"][0].pop("display"),
        lambda c: c["suggestions"][0]["actions"][0].update(resource={"resourceType": "X"}),
        lambda c: c["suggestions"][0]["actions"][0].pop("description"),
        lambda c: c.update(sumary="a misspelt field"),
        lambda c: c.update(
            links=[{"label": "x", "url": "https://x", "type": "absolute", "appContext": "y"}]
        ),
        lambda c: c["suggestions"].extend(
            [{"label": "a", "isRecommended": True}, {"label": "b", "isRecommended": True}]
        ),
    ],
)
def test_what_the_specification_forbids_is_refused(change: Any) -> None:
    with pytest.raises(NotConformant):
        answer(broken(change))


def test_a_response_without_cards_is_refused() -> None:
    with pytest.raises(NotConformant):
        answer({"systemActions": []})


def test_discovery_is_checked_too() -> None:
    with pytest.raises(NotConformant):
        answer({"services": [{"hook": "patient-view", "id": "x"}]}, "/cds-services", "GET")


def test_the_check_sees_the_suites_answers(live_url: str) -> None:
    from tests.test_service import hook_request

    before = dict(cds_conformance.checked)
    httpx.get(f"{live_url}/cds-services")
    httpx.post(f"{live_url}/cds-services/patient-view", json=hook_request("crisis"))
    assert cds_conformance.checked["discovery"] == before["discovery"] + 1
    assert cds_conformance.checked["response"] == before["response"] + 1

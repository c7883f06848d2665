"""Draft orders (gbrules/clinical/orders.py): which orders are judged, which rule names them,
and what order-select answers. The old check searched the whole order's JSON for words and
flagged every NutritionOrder during a crisis for removal, pureed diets and oral nutritional
supplements included: the cases below would have caught it."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

import gbrules
from gbrules.clinical.orders import judge_order, read_order
from gbrules.core.result import Evaluation
from tests.conftest import load_example
from tests.test_service import hook_request

ATC = "http://www.whocc.no/atc"


def nutrition(oid: str, **parts: Any) -> dict[str, Any]:
    return {
        "resourceType": "NutritionOrder",
        "id": oid,
        "status": "draft",
        "intent": "proposal",
    } | parts


def diet(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": [{"text": text}], **extra}


PUREED = diet("Pureed diet", texture=[{"modifier": {"text": "Pureed"}}])
ORAL_SUPPLEMENT = [{"productName": "High-protein oral nutritional supplement drink"}]
PROBIOTIC_SUPPLEMENT = [{"productName": "Lactobacillus rhamnosus GG capsule"}]


def medicine(oid: str, code: str | None, text: str) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": ATC, "code": code, "display": text}]
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": concept,
    }


def evaluation(name: str, **conditions: bool) -> Evaluation:
    data = copy.deepcopy(load_example(name))
    data.setdefault("conditions", {}).update(conditions)
    return gbrules.evaluate(data)


@pytest.fixture(scope="module")
def rulebook(engine: gbrules.Engine) -> Any:
    return engine.rulebook


# --- what an order is ---------------------------------------------------------------------------


def classes(order: dict[str, Any]) -> list[str]:
    return [p.order_class.name for p in read_order(order).parts]


def test_orders_are_recognised_by_code_first_then_by_whole_words() -> None:
    coded = read_order(medicine("m1", "A07FC01", "Culturelle"))
    assert [(p.order_class.name, p.matched) for p in coded.parts] == [("probiotic", "ATC A07FC01")]
    named = read_order(nutrition("n1", supplement=PROBIOTIC_SUPPLEMENT))
    assert [(p.order_class.name, p.where) for p in named.parts] == [("probiotic", "supplement[0]")]
    assert '"lactobacillus"' in named.parts[0].matched
    assert classes(nutrition("n2", oralDiet=diet("Low FODMAP diet"))) == ["low_fodmap_diet"]
    assert classes(nutrition("n3", oralDiet=diet("Mediterranean-style diet"))) == [
        "mediterranean_diet"
    ]
    assert classes(nutrition("n4", oralDiet=diet("High-fibre diet"))) == ["high_fiber_diet"]


@pytest.mark.parametrize(
    "order",
    [
        # Not the same thing as the plan's items, although they share a word.
        nutrition("a", oralDiet=diet("Fiber restricted diet")),
        nutrition("b", supplement=ORAL_SUPPLEMENT),
        medicine("c", "N06AB06", "sertraline"),
        medicine("d", None, "omeprazole"),
        {"resourceType": "ServiceRequest", "id": "e", "code": {"text": "Probiotic counselling"}},
        # Words elsewhere in the order never count (the old check searched the whole JSON).
        nutrition(
            "f",
            oralDiet=diet("Regular diet"),
            note=[{"text": "no probiotics, no Mediterranean or low FODMAP diet for now"}],
            patient={"reference": "Patient/lactobacillus-1", "display": "Saccharomyces Boulardii"},
        ),
    ],
)
def test_other_orders_are_never_judged(order: dict[str, Any]) -> None:
    assert read_order(order).parts == ()


def test_texture_modified_diets_and_feeds_are_protected_never_judged() -> None:
    pureed = read_order(nutrition("p", oralDiet=PUREED, supplement=ORAL_SUPPLEMENT))
    assert pureed.parts == ()
    assert "oralDiet.texture (a texture-modified diet)" in pureed.protected
    by_name = read_order(nutrition("q", oralDiet=diet("Puréed high fiber diet")))
    assert by_name.parts == () and by_name.protected
    thick = read_order(nutrition("r", oralDiet=diet("Mediterranean", fluidConsistencyType=[{}])))
    assert "thickened fluids" in thick.protected[0]
    feed = read_order(
        nutrition("s", enteralFormula={"baseFormulaProductName": "Standard 1 kcal/mL"},
                  supplement=PROBIOTIC_SUPPLEMENT)
    )  # fmt: skip
    assert feed.protected == ("enteralFormula (an enteral feed)",)
    assert [p.order_class.name for p in feed.parts] == ["probiotic"]  # judged, never removed


# --- which rule names an order ------------------------------------------------------------------


def test_a_crisis_names_elective_diet_and_probiotic_orders_through_its_deferral(
    rulebook: Any,
) -> None:
    crisis = evaluation("crisis")
    judged = judge_order(nutrition("m", oralDiet=diet("Mediterranean diet")), crisis, rulebook)
    assert judged is not None and judged.removable
    naming = judged.findings[0].namings[0]
    assert (naming.rule_id, naming.how, naming.code) == (
        "safety.crisis.self_harm_thoughts",
        "deferred",
        "diet.mediterranean",
    )
    # diet.low_fodmap_trial was not in this plan, but the crisis rule defers diet.*: named.
    fodmap = judge_order(nutrition("f", oralDiet=diet("Low FODMAP")), crisis, rulebook)
    assert fodmap is not None and fodmap.rules == ("safety.crisis.self_harm_thoughts",)


def test_a_pureed_diet_and_a_supplement_during_a_crisis_are_not_named(rulebook: Any) -> None:
    crisis = evaluation("crisis")
    order = nutrition("p", oralDiet=PUREED, supplement=ORAL_SUPPLEMENT)
    assert judge_order(order, crisis, rulebook) is None


def test_the_same_orders_without_a_crisis_are_not_named(rulebook: Any) -> None:
    calm = evaluation("case1")
    assert not calm.requires_immediate_action
    for order in (
        nutrition("m", oralDiet=diet("Mediterranean diet")),
        nutrition("f", oralDiet=diet("Low FODMAP diet")),
        nutrition("s", supplement=PROBIOTIC_SUPPLEMENT),
    ):
        assert judge_order(order, calm, rulebook) is None


def test_a_probiotic_is_named_only_when_a_probiotic_caution_applies(rulebook: Any) -> None:
    order = medicine("m", "A07FC01", "Lactobacillus rhamnosus GG")
    trial = evaluation("case2")
    assert "probiotic.trial" in trial.codes
    assert judge_order(order, trial, rulebook) is None
    caution = evaluation("case2", immunocompromised=True)
    judged = judge_order(order, caution, rulebook)
    assert judged is not None
    how = {(n.how, n.code) for n in judged.findings[0].namings}
    assert how == {("suppressed", "probiotic.trial"), ("caution", "probiotic.consult_first")}
    assert judged.rules == ("probiotics.caution.consult_first",)


# --- what order-select answers ------------------------------------------------------------------


def order_select(url: str, name: str, *orders: dict[str, Any]) -> list[dict[str, Any]]:
    req = hook_request(name, hook="order-select")
    req["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "entry": [{"resource": o} for o in orders],
    }
    r = httpx.post(f"{url}/cds-services/order-select", json=req)
    assert r.status_code == 200, r.text
    # The "Draft incomplete" info card (tests/test_service_completeness.py) is left out here.
    cards: list[dict[str, Any]] = [
        c for c in r.json()["cards"] if not c["summary"].startswith("Draft incomplete")
    ]
    return cards


def actions(cards: list[dict[str, Any]]) -> list[str]:
    return [a["type"] for c in cards for s in c.get("suggestions", []) for a in s["actions"]]


def test_order_select_in_a_crisis_never_suggests_removing_a_pureed_diet(live_url: str) -> None:
    cards = order_select(
        live_url,
        "crisis",
        nutrition("pureed", oralDiet=PUREED, supplement=ORAL_SUPPLEMENT),
        medicine("ssri", "N06AB06", "sertraline"),
    )
    assert [c["indicator"] for c in cards] == ["critical"]  # the crisis card, nothing else
    assert "delete" not in actions(cards)


def test_order_select_in_a_crisis_names_a_deferred_diet_order(live_url: str) -> None:
    cards = order_select(
        live_url,
        "crisis",
        nutrition("pureed", oralDiet=PUREED),
        nutrition("med", oralDiet=diet("Mediterranean diet")),
    )
    assert [c["indicator"] for c in cards] == ["critical", "warning"]
    warning = cards[1]
    assert "NutritionOrder/med" in warning["detail"]
    assert "safety.crisis.self_harm_thoughts" in warning["detail"]
    assert "NutritionOrder/pureed" not in warning["detail"]
    delete = warning["suggestions"][0]["actions"][0]
    assert delete == {
        "type": "delete",
        "description": "Remove draft order NutritionOrder/med",
        "resourceId": "NutritionOrder/med",  # CDS Hooks 2.0.1: a string, never an array
    }


def test_a_probiotic_in_a_feed_is_flagged_but_never_suggested_for_removal(live_url: str) -> None:
    feed = nutrition(
        "feed",
        enteralFormula={"baseFormulaProductName": "Standard"},
        supplement=PROBIOTIC_SUPPLEMENT,
    )
    cards = order_select(live_url, "crisis", feed)
    assert [c["indicator"] for c in cards] == ["critical", "warning"]
    assert "delete" not in actions(cards)
    assert "enteral feed" in cards[1]["detail"] and "not suggested" in cards[1]["detail"]

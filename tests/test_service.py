"""The CDS Hooks service over real HTTP: uvicorn on 127.0.0.1, httpx as the client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.R4B import get_fhir_model_class

from tests.conftest import AS_OF, free_port, load_bundle, prefetch_from_bundle


def hook_request(name: str, hook: str = "patient-view", **extra: Any) -> dict[str, Any]:
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr1", "patientId": f"example-{name}"},
        "prefetch": prefetch_from_bundle(load_bundle(name)),
        **extra,
    }


def no_empty(obj: Any, where: str = "$") -> None:
    assert obj is not None and obj != "" and obj != [] and obj != {}, where
    if isinstance(obj, dict):
        for k, v in obj.items():
            no_empty(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            no_empty(v, f"{where}[{i}]")


def test_discovery(live_url: str) -> None:
    r = httpx.get(f"{live_url}/cds-services")
    assert r.status_code == 200
    services = {s["id"]: s for s in r.json()["services"]}
    assert services["patient-view"]["hook"] == "patient-view"
    assert services["order-select"]["hook"] == "order-select"
    pf = services["patient-view"]["prefetch"]
    assert pf["patient"] == "Patient/{{context.patientId}}"
    # US Core aligned (docs/EHR.md): the PHQ-9 panel, total and every item, the labs by code,
    # active conditions, medication requests by patient and intent, questionnaire responses.
    for code in ("44249-1", "44261-6", "44260-8", "44250-9"):
        assert f"http://loinc.org|{code}" in pf["moodObservations"]
    for code in ("1988-5", "30522-7", "38445-3"):
        assert f"http://loinc.org|{code}" in pf["labObservations"]
    assert pf["conditions"] == (
        "Condition?patient={{context.patientId}}&clinical-status=active,recurrence,relapse"
    )
    assert pf["medicationRequests"].startswith(
        "MedicationRequest?patient={{context.patientId}}&intent=proposal,plan,order,"
    )
    assert "_include" not in pf["medicationRequests"]  # not in CDS Hooks' prefetch subset
    assert pf["questionnaireResponses"] == "QuestionnaireResponse?patient={{context.patientId}}"
    assert "MedicationStatement" in pf["medicationStatements"]


@pytest.mark.parametrize("name", ["case1", "case2", "crisis"])
def test_patient_view_cards(live_url: str, name: str) -> None:
    r = httpx.post(f"{live_url}/cds-services/patient-view", json=hook_request(name))
    assert r.status_code == 200, r.text
    body = r.json()
    no_empty(body)
    cards = [c for c in body["cards"] if not c["summary"].startswith("Draft incomplete")]
    assert cards
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"].startswith("gbrules rulebook")
        assert "**Rule:**" in card["detail"]
        assert card["overrideReasons"]
        for sug in card["suggestions"]:
            for action in sug["actions"]:
                assert action["type"] == "create"
                res = action["resource"]
                get_fhir_model_class(res["resourceType"]).model_validate(res)
    if name == "crisis":
        assert cards[0]["indicator"] == "critical"
        assert "988" in cards[0]["detail"]
        assert all(c["indicator"] != "critical" for c in cards[1:])
    else:
        assert all(c["indicator"] != "critical" for c in cards)


def test_case2_card_basis_shows_values_thresholds_and_missing(live_url: str) -> None:
    r = httpx.post(f"{live_url}/cds-services/patient-view", json=hook_request("case2"))
    details = "\n".join(c["detail"] for c in r.json()["cards"])
    assert "PHQ-9 total = 16" in details
    assert "Evidence:" in details and "Not recorded" in details
    assert "converted to 4.2 mg/L" in details


def test_order_select_warns_on_diet_order_in_crisis_and_probiotic_caution(live_url: str) -> None:
    order = {
        "resourceType": "NutritionOrder",
        "id": "no1",
        "status": "draft",
        "intent": "proposal",
        "patient": {"reference": "Patient/example-crisis"},
        "dateTime": "2025-06-01",
        "oralDiet": {"type": [{"text": "Low FODMAP diet"}]},
    }
    req = hook_request("crisis", hook="order-select")
    req["context"]["selections"] = ["NutritionOrder/no1"]
    req["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": order}]}
    r = httpx.post(f"{live_url}/cds-services/order-select", json=req)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    assert cards[0]["indicator"] == "critical"
    assert any(c["indicator"] == "warning" and "NutritionOrder/no1" in c["detail"] for c in cards)

    # immunocompromised patient: a probiotic supplement order is flagged
    req = hook_request("case2", hook="order-select")
    req["prefetch"]["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "id": "cvid",
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D83.9"}]
                },
                "subject": {"reference": "Patient/example-case2"},
            }
        }
    )
    probiotic = {
        "resourceType": "NutritionOrder",
        "id": "sup1",
        "status": "draft",
        "intent": "proposal",
        "patient": {"reference": "Patient/example-case2"},
        "dateTime": "2025-06-01",
        "supplement": [{"productName": "Lactobacillus rhamnosus GG capsule"}],
    }
    req["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": probiotic}]}
    cards = httpx.post(f"{live_url}/cds-services/order-select", json=req).json()["cards"]
    assert len(cards) == 1 and cards[0]["indicator"] == "warning"
    assert "probiotic caution" in cards[0]["detail"]
    assert cards[0]["suggestions"][0]["actions"][0]["type"] == "delete"


def test_feedback_is_accepted_and_logged_without_patient_data(live_url: str) -> None:
    fb = {
        "feedback": [
            {
                "card": "f0e5b6c4-0000-4000-8000-000000000001",
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "patient-declined"}, "userComment": "secret"},
                "outcomeTimestamp": "2025-06-01T12:00:00Z",
            }
        ]
    }
    r = httpx.post(f"{live_url}/cds-services/patient-view/feedback", json=fb)
    assert r.status_code == 200 and r.json() == {"received": 1}


def test_missing_prefetch_with_fhir_server_is_412(live_url: str) -> None:
    req = hook_request("case1", fhirServer="https://ehr.example.org/fhir")
    del req["prefetch"]
    r = httpx.post(f"{live_url}/cds-services/patient-view", json=req)
    assert r.status_code == 412
    assert "prefetch" in r.json()["error"]


def test_body_over_1_mib_is_413(live_url: str) -> None:
    big = b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    r = httpx.post(
        f"{live_url}/cds-services/patient-view",
        content=big,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_malformed_json_is_400(live_url: str) -> None:
    r = httpx.post(
        f"{live_url}/cds-services/patient-view",
        content=b'{"hook": "patient-view",',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]


def test_invalid_intake_data_is_4xx_with_paths(live_url: str) -> None:
    req = hook_request("case2")
    obs = req["prefetch"]["moodObservations"]["entry"][0]["resource"]
    obs["valueInteger"] = 40  # PHQ-9 total out of range
    r = httpx.post(f"{live_url}/cds-services/patient-view", json=req)
    assert r.status_code == 422
    paths = [e["path"] for e in r.json()["errors"]]
    assert "prefetch.moodObservations.entry[0].resource" in paths

    req = hook_request("case2")
    req["prefetch"]["patient"]["birthDate"] = "not-a-date"
    r = httpx.post(f"{live_url}/cds-services/patient-view", json=req)
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"].startswith("prefetch.patient.birthDate")


def test_wrong_patient_and_unknown_service(live_url: str) -> None:
    req = hook_request("case1")
    req["context"]["patientId"] = "someone-else"
    assert httpx.post(f"{live_url}/cds-services/patient-view", json=req).status_code == 400
    assert httpx.post(f"{live_url}/cds-services/nope", json=req).status_code == 404


def test_openapi_document(live_url: str) -> None:
    doc = httpx.get(f"{live_url}/openapi.json").json()
    assert "/cds-services/{service_id}" in doc["paths"]


# --- JWT auth --------------------------------------------------------------------------------

ISS = "https://ehr.example.org"


@pytest.fixture(scope="module")
def auth_server(
    serve: Callable[..., str], engine: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Any]:
    from gbrules.io.service import JWTAuth, create_app

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="RS384", use="sig")
    path: Path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth = JWTAuth(path, issuers=[ISS], audience=url)
    serve(create_app(engine, auth=auth, today=lambda: AS_OF), port)
    return url, key


def token(key: Any, aud: str, **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    claims.update(over)
    return jwt.encode(claims, key, algorithm="RS384", headers={"kid": "k1"})


def test_auth_accepts_good_token_and_rejects_bad_ones(auth_server: tuple[str, Any]) -> None:
    url, key = auth_server
    endpoint = f"{url}/cds-services/patient-view"
    req = hook_request("case1")

    def call(tok: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return httpx.post(endpoint, json=req, headers=headers)

    good = token(key, endpoint)
    assert call(good).status_code == 200
    assert call(good).status_code == 401  # replayed jti
    assert call(token(key, url)).status_code == 200  # base URL as audience
    assert call(None).status_code == 401
    assert call(token(key, "https://elsewhere.example.org")).status_code == 401
    assert call(token(key, endpoint, iss="https://evil.example.org")).status_code == 401
    assert call(token(key, endpoint, exp=int(time.time()) - 3600)).status_code == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = call(token(other, endpoint))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    no_jti = jwt.encode(
        {"iss": ISS, "aud": endpoint, "exp": int(time.time()) + 60, "iat": int(time.time())},
        key,
        algorithm="RS384",
        headers={"kid": "k1"},
    )
    assert call(no_jti).status_code == 401
    # discovery stays open
    assert httpx.get(f"{url}/cds-services").status_code == 200


def test_docs_list_every_prefetch_template() -> None:
    """docs/EHR.md's prefetch table is the one a reader registers: it must name every key with
    its exact template (an edit to ``gbrules/io/fhir/prefetch.py`` must reach the docs)."""
    from gbrules.io.fhir.prefetch import PREFETCH_QUERIES

    text = (Path(__file__).resolve().parent.parent / "docs" / "EHR.md").read_text()
    for q in PREFETCH_QUERIES:
        row = f"| `{q.key}` | `{q.template.replace('|', chr(92) + '|')}` |"
        assert row in text, q.key

"""Reliability of the CDS Hooks service over real HTTP (uvicorn on 127.0.0.1).

1. Hostile bodies: Hypothesis-generated JSON (wrong types, huge and odd numbers, deep nesting,
   odd unicode including lone surrogates, extra keys, prefetch with random resources) and raw
   garbage bytes, posted to patient-view, order-select and feedback: 2xx or 4xx, never 5xx.
2. A client that disconnects mid-body; the service keeps answering correctly.
3. A storm of malformed requests from several threads; a valid request still gets the right
   cards (crisis card first, critical).
4. Concurrent valid requests give the same cards as serial ones (card uuids and the authored
   time stamp aside).

See docs/LOAD.md.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import load_bundle, prefetch_from_bundle

ENDPOINTS = (
    "/cds-services/patient-view",
    "/cds-services/order-select",
    "/cds-services/patient-view/feedback",
    "/cds-services/order-select/feedback",
)
CASES = ("case1", "case2", "crisis")
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@pytest.fixture(scope="module")
def client(live_url: str) -> Any:
    with httpx.Client(base_url=live_url, timeout=20) as c:
        yield c


def hook_request(name: str, hook: str = "patient-view") -> dict[str, Any]:
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr1", "patientId": f"example-{name}"},
        "prefetch": prefetch_from_bundle(load_bundle(name)),
    }


# --- strategies --------------------------------------------------------------------------------

# Literals json.dumps cannot write (huge ints exceed Python's int-to-str limit; nesting deeper
# than its recursion limit): values carry a marker string naming the literal, substituted into
# the encoded text.
_RAW = "\x00raw:"
_RAW_RE = re.compile(r'"\\u0000raw:([^"]*)"')
RAW_LITERALS = {
    "int5000": "1" * 5000,
    "negint4400": "-" + "9" * 4400,
    "exp_huge": "1e999999",
    "exp_tiny": "-1e-999999",
    "e400": "1E400",
    "small": "0.000000000000000000000000000000001",
    "negzero": "-0",
    "negzerof": "-0.0",
    "int30": "123456789012345678901234567890",
    "float400": "1" + "0" * 400 + ".5",
}
for _d in (50, 200, 900, 3000, 20000):
    RAW_LITERALS[f"list{_d}"] = "[" * _d + "1" + "]" * _d
    RAW_LITERALS[f"dict{_d}"] = '{"a":' * _d + "1" + "}" * _d
raw_literals = st.sampled_from(sorted(RAW_LITERALS)).map(lambda k: _RAW + k)

odd_text = st.text(
    st.characters(codec=None, exclude_categories=()),  # includes lone surrogates, NUL, controls
    max_size=30,
) | st.sampled_from(["", " ", "\u202e", "\ufeff", "\U0001f4a9", "e\u0301", "\ud800", "../../"])


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 5) -> Any:
    """``bad`` about once in ``one_in`` draws: enough requests stay well-formed to get past
    request validation and reach the FHIR mapping, the engine and the cards."""
    return st.integers(0, one_in - 1).flatmap(lambda k: bad if k == one_in - 1 else good)


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**70), 2**70)
    | st.floats()  # NaN and +-Infinity included
    | odd_text
)
hostile = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)


def or_hostile(good: st.SearchStrategy[Any]) -> Any:
    return mostly(good, hostile)


RTYPES = [
    "Patient",
    "Observation",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "QuestionnaireResponse",
    "Medication",
    "Bundle",
    "NutritionOrder",
    "Unknown",
]
coding = st.fixed_dictionaries(
    {
        "system": or_hostile(
            st.sampled_from(
                [
                    "http://loinc.org",
                    "http://hl7.org/fhir/sid/icd-10-cm",
                    "http://snomed.info/sct",
                    "http://www.whocc.no/atc",
                    "http://www.nlm.nih.gov/research/umls/rxnorm",
                ]
            )
        ),
        "code": or_hostile(
            st.sampled_from(
                [
                    *("44261-6", "44260-8", "70274-6", "1988-5", "30522-7", "K58.0", "D83.9"),
                    *("F33.1", "Z33.1", "A07FC01", "J01CA04", "4493", "active", "LA6570-1"),
                ]
            )
        ),
    },
    optional={"display": hostile},
)
concept = st.fixed_dictionaries(
    {"coding": or_hostile(st.lists(or_hostile(coding), max_size=3))},
    optional={"text": hostile},
)
period = st.sampled_from(["2025-05-20", "2025-13-45", "2025-05-20T25:00:00Z", "1900", "9999"])
FHIR_FIELDS = {
    "id": or_hostile(st.sampled_from(["a", "b", "c"])),
    "status": or_hostile(
        st.sampled_from(["final", "amended", "entered-in-error", "active", "completed"])
    ),
    "birthDate": or_hostile(st.sampled_from(["1990", "1990-02", "1990-02-30", "2999-01-01", "x"])),
    "gender": or_hostile(st.sampled_from(["female", "male", "other"])),
    "code": or_hostile(concept),
    "valueInteger": or_hostile(st.integers(-5, 40) | raw_literals),
    "valueQuantity": or_hostile(
        st.fixed_dictionaries(
            {
                "value": or_hostile(st.floats() | raw_literals),
                "unit": or_hostile(st.sampled_from(["mg/L", "mg/dL", "g/L", "ug/mL"])),
            },
            optional={"system": st.just("http://unitsofmeasure.org"), "code": hostile},
        )
    ),
    "effectiveDateTime": or_hostile(period),
    "authored": or_hostile(period),
    "clinicalStatus": or_hostile(concept),
    "verificationStatus": or_hostile(concept),
    "medicationCodeableConcept": or_hostile(concept),
    "questionnaire": or_hostile(
        st.just("https://gbrules.example.org/fhir/Questionnaire/gbrules-intake")
    ),
    "item": or_hostile(
        st.lists(
            st.fixed_dictionaries(
                {
                    "linkId": or_hostile(st.sampled_from(["gi.bloating", "44249-1", "age"])),
                    "answer": or_hostile(st.lists(hostile, max_size=2)),
                }
            ),
            max_size=3,
        )
    ),
    "supplement": hostile,
    "oralDiet": hostile,
    "subject": hostile,
    "component": hostile,
}


TYPE_FIELDS = {
    "Patient": ("id", "birthDate", "gender"),
    "Observation": ("id", "status", "code", "valueInteger", "valueQuantity", "effectiveDateTime"),
    "Condition": ("id", "code", "clinicalStatus", "verificationStatus", "subject"),
    "MedicationStatement": ("id", "status", "medicationCodeableConcept", "subject"),
    "MedicationRequest": ("id", "status", "medicationCodeableConcept", "subject"),
    "QuestionnaireResponse": ("id", "status", "questionnaire", "item", "authored"),
    "NutritionOrder": ("id", "status", "supplement", "oralDiet"),
}


@st.composite
def resources(draw: st.DrawFn, rtype: str | None = None) -> Any:
    """Mostly a resource with the elements its type has (so FHIR validation passes and the
    mapping runs), with hostile values here and there; sometimes any element or any JSON."""
    k = 19 - draw(st.integers(0, 19))  # Hypothesis leans to small draws: 19 is the usual case
    if k == 0 and rtype is None:
        return draw(hostile)
    if rtype is None:
        rtype = draw(mostly(st.sampled_from(RTYPES), hostile, one_in=10))
    res: dict[str, Any] = {"resourceType": rtype}
    names = TYPE_FIELDS.get(rtype, ()) if k > 3 and isinstance(rtype, str) else tuple(FHIR_FIELDS)
    res.update(draw(st.fixed_dictionaries({}, optional={n: FHIR_FIELDS[n] for n in names})))
    if k == 1:
        res.update(draw(st.dictionaries(odd_text, hostile, max_size=1)))  # extra keys
    if rtype == "Patient" and k > 2:
        res["birthDate"] = draw(st.sampled_from(["1990-03-14", "1950", "2010-02"]))
    return res


def searchset(entries: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"resourceType": st.just("Bundle"), "entry": or_hostile(st.lists(entries, max_size=4))},
        optional={"type": or_hostile(st.just("searchset"))},
    )


entry = or_hostile(
    st.fixed_dictionaries(
        {"resource": resources()},
        optional={
            "search": mostly(st.fixed_dictionaries({"mode": or_hostile(st.just("match"))}), hostile)
        },
    )
)
bundle_or_null = mostly(searchset(entry) | st.none() | resources(), hostile, one_in=8)
prefetch = st.fixed_dictionaries(
    {},
    optional={
        "patient": resources(),
        "moodObservations": bundle_or_null,
        "labObservations": bundle_or_null,
        "conditions": bundle_or_null,
        "medicationStatements": bundle_or_null,
        "medicationRequests": bundle_or_null,
        "questionnaireResponses": bundle_or_null,
    },
).flatmap(lambda d: st.dictionaries(odd_text, bundle_or_null, max_size=1).map(lambda x: {**x, **d}))
context = st.fixed_dictionaries(
    {},
    optional={
        "patientId": or_hostile(st.sampled_from(["p1", "example-case1", ""])),
        "userId": hostile,
        "selections": or_hostile(
            st.lists(or_hostile(st.sampled_from(["NutritionOrder/a", "MedicationRequest/b"])))
        ),
        "draftOrders": or_hostile(searchset(entry)),
    },
)
cds_requests = st.fixed_dictionaries(
    {},
    optional={
        "hook": or_hostile(st.sampled_from(["patient-view", "order-select", ""])),
        "hookInstance": or_hostile(st.just(str(uuid.UUID(int=1)))),
        "fhirServer": or_hostile(st.just("https://ehr.example.org/fhir")),
        "fhirAuthorization": hostile,
        "context": or_hostile(context),
        "prefetch": or_hostile(prefetch),
    },
).flatmap(lambda d: st.dictionaries(odd_text, hostile, max_size=2).map(lambda x: {**x, **d}))
feedback_items = st.fixed_dictionaries(
    {
        "card": or_hostile(st.just("c1")),
        "outcome": or_hostile(st.sampled_from(["accepted", "overridden"])),
    },
    optional={
        "acceptedSuggestions": or_hostile(
            st.lists(or_hostile(st.fixed_dictionaries({}, optional={"id": hostile})), max_size=3)
        ),
        "overrideReason": or_hostile(
            st.fixed_dictionaries(
                {},
                optional={
                    "reason": or_hostile(st.fixed_dictionaries({}, optional={"code": hostile})),
                    "userComment": hostile,
                },
            )
        ),
        "outcomeTimestamp": or_hostile(st.just("2025-06-01T12:00:00Z")),
    },
)
feedback_bodies = st.fixed_dictionaries(
    {"feedback": or_hostile(st.lists(or_hostile(feedback_items), max_size=3))}
)


@st.composite
def patched_valid(draw: st.DrawFn, hook: str) -> Any:
    """A valid example request with one value somewhere replaced by something hostile."""
    req = hook_request(draw(st.sampled_from(CASES)), hook)
    node: Any = req
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.integers(0, 4)) > 0:
            node = child
            continue
        node[key] = draw(hostile | resources())
        break
    return req


@st.composite
def well_formed(draw: st.DrawFn, hook: str) -> Any:
    """The envelope right (hook, hookInstance, matching patient ids) and the content hostile,
    so the request gets past validation into the FHIR mapping, the engine and the cards."""
    pid = draw(st.sampled_from(["p1", "\ud800", "\U0001f4a9\u202e", "x" * 300]) | odd_text)
    pf = draw(prefetch)
    pf["patient"] = {**draw(resources("Patient")), "id": pid}
    ctx = draw(context)
    ctx["patientId"] = pid
    return {"hook": hook, "hookInstance": "h1", "context": ctx, "prefetch": pf}


@st.composite
def hostile_calls(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(ENDPOINTS[:2] * 3 + ENDPOINTS[2:]))
    if path.endswith("/feedback"):
        return path, draw(or_hostile(feedback_bodies))
    hook = path.rsplit("/", 1)[1]
    kind = draw(st.integers(0, 9))
    if kind < 5:
        return path, draw(well_formed(hook))
    if kind < 8:
        return path, draw(patched_valid(hook))
    if kind < 9:
        return path, draw(cds_requests)
    return path, draw(hostile | raw_literals)


def encode(value: Any) -> bytes:
    text = json.dumps(value)  # allow_nan: NaN and Infinity tokens are sent too
    return _RAW_RE.sub(lambda m: RAW_LITERALS[m.group(1)], text).encode("utf-8")


bodies = hostile_calls().map(lambda pb: encode(pb[1]))
garbage = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"",
            b"\xef\xbb\xbf{}",
            b"\xff\xfe{\x00}\x00",
            b'{"hook": "patient-view"',
            b'{"a":1}{"b":2}',
            b"[" * 100_000,
            b'{"a":' * 50_000,
            b"\x00" * 1000,
            b'{"hook": "\xc3\x28"}',
            b"null",
            b'"\\ud800"',
        ]
    ),
    bodies.map(lambda b: b[: len(b) // 2]),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
)


def assert_not_5xx(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.url.path, r.status_code, r.text[:500])
    assert r.status_code >= 200


# --- 1. hostile bodies -------------------------------------------------------------------------


@FUZZ
@given(call=hostile_calls())
def test_hostile_json_never_5xx(client: httpx.Client, call: tuple[str, Any]) -> None:
    path, body = call
    r = client.post(path, content=encode(body), headers={"content-type": "application/json"})
    assert_not_5xx(r)


@settings(FUZZ, max_examples=200)
@given(body=garbage, path=st.sampled_from(ENDPOINTS), ctype=content_types)
def test_garbage_bytes_never_5xx(client: httpx.Client, body: bytes, path: str, ctype: str) -> None:
    headers = {"content-type": ctype} if ctype else {}
    r = client.post(path, content=body, headers=headers)
    assert_not_5xx(r)


BUG_BODIES = {
    # each of these was a 500 before the fix in gbrules/service/app.py
    "entry.search not an object": (
        "patient-view",
        {
            "moodObservations": {
                "resourceType": "Bundle",
                "entry": [{"resource": {}, "search": "x"}],
            }
        },
        {},
    ),
    "draftOrders.entry not an array": ("order-select", {}, {"draftOrders": {"entry": 5}}),
    "selections not strings": (
        "order-select",
        {},
        {"selections": [{}], "draftOrders": {"entry": []}},
    ),
    "lone surrogate echoed in a reference": ("patient-view", {}, {"patientId": "\ud800"}),
}


@pytest.mark.parametrize("name", sorted(BUG_BODIES))
def test_found_by_fuzzing_are_4xx(client: httpx.Client, name: str) -> None:
    hook, prefetch_extra, context_extra = BUG_BODIES[name]
    req = hook_request("case1", hook)
    req["prefetch"].update(prefetch_extra)
    req["context"].update(context_extra)
    if "patientId" in context_extra:
        req["prefetch"]["patient"]["id"] = context_extra["patientId"]
    r = client.post(
        f"/cds-services/{hook}",
        content=encode(req),
        headers={"content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]
    if "surrogate" in name:
        assert r.status_code == 200 or "\\ud800" in r.text


def test_no_cards_is_an_empty_cards_array(client: httpx.Client) -> None:
    # CDS Hooks requires ``cards`` even when there are none (it was stripped as empty). Case 2
    # records every key input, so order-select has nothing to say; the mapping notes still
    # travel with the answer, as a response extension.
    r = client.post("/cds-services/order-select", json=hook_request("case2", "order-select"))
    assert r.status_code == 200
    body = r.json()
    assert body["cards"] == []
    notes = body["extension"]["org.gbrules.mapping-notes"]
    assert any("I10" in n["note"] for n in notes)


def test_unparseable_body_uses_the_service_error_format(client: httpx.Client) -> None:
    r = client.post(
        "/cds-services/patient-view",
        content=b"[" * 5000,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "error" in r.json()


# --- helpers for 2-4 ---------------------------------------------------------------------------


def strip_volatile(obj: Any) -> Any:
    """Cards without their uuids and the authored time stamp (which is the time of the call)."""
    if isinstance(obj, dict):
        return {
            k: strip_volatile(v)
            for k, v in obj.items()
            if k not in ("uuid", "authoredOn", "dateTime")
        }
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


@contextlib.contextmanager
def thread_clients(url: str) -> Iterator[Callable[[], httpx.Client]]:
    """One keep-alive httpx client per worker thread (a new client costs ~40 ms)."""
    local = threading.local()
    made: list[httpx.Client] = []
    lock = threading.Lock()

    def client_of() -> httpx.Client:
        c: httpx.Client | None = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(base_url=url, timeout=30)
            with lock:
                made.append(c)
        return c

    try:
        yield client_of
    finally:
        for c in made:
            c.close()


def cards_of(client: httpx.Client, name: str, hook: str = "patient-view") -> list[Any]:
    r = client.post(f"/cds-services/{hook}", json=hook_request(name, hook))
    assert r.status_code == 200, r.text
    cards: list[Any] = r.json()["cards"]
    return cards


def check_crisis(cards: list[Any]) -> None:
    assert cards[0]["indicator"] == "critical"
    assert "988" in cards[0]["detail"]
    assert all(c["indicator"] != "critical" for c in cards[1:])


# --- 2. client disconnects mid-request ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/cds-services/patient-view", "/cds-services/order-select"])
def test_client_disconnect_mid_body(client: httpx.Client, live_url: str, path: str) -> None:
    expected = strip_volatile(cards_of(client, "crisis"))
    host, port = urlsplit(live_url).hostname, urlsplit(live_url).port
    assert host == "127.0.0.1" and port
    body = json.dumps(hook_request("crisis", path.rsplit("/", 1)[1])).encode()
    for cut in (0, 10, len(body) // 2):
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode()
                + body[:cut]
            )
        # abrupt close (RST) as well as an orderly one
        with socket.create_connection((host, port), timeout=5) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode()
                + body[:cut]
            )
    # a half-open client that never finishes, while others are served
    stalled = socket.create_connection((host, port), timeout=5)
    try:
        stalled.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{".encode()
        )
        for _ in range(3):
            assert strip_volatile(cards_of(client, "crisis")) == expected
    finally:
        stalled.close()
    assert strip_volatile(cards_of(client, "crisis")) == expected
    assert client.get("/cds-services").status_code == 200


# --- 3. malformed-request storm ----------------------------------------------------------------


def test_malformed_storm_then_valid_request(live_url: str) -> None:
    valid = hook_request("case1")
    bad: list[tuple[str, bytes]] = []
    for i in range(300):
        path = ENDPOINTS[i % len(ENDPOINTS)]
        kind = i % 6
        if kind == 0:
            body = b'{"hook": "patient-view",'
        elif kind == 1:
            body = bytes(range(256)) * 2
        elif kind == 2:
            body = json.dumps({**valid, "prefetch": {"patient": "nope"}}).encode()
        elif kind == 3:
            body = json.dumps({**valid, "context": {"patientId": 5}}).encode()
        elif kind == 4:
            body = b"[" * 5000
        else:
            body = b'{"feedback": [{"card": 1}]}'
        bad.append((path, body))

    with thread_clients(live_url) as client_of:

        def send(item: tuple[str, bytes]) -> int:
            headers = {"content-type": "application/json"}
            return client_of().post(item[0], content=item[1], headers=headers).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, bad))
    assert all(400 <= c < 500 for c in codes), sorted(set(codes))
    with httpx.Client(base_url=live_url, timeout=20) as c:
        check_crisis(cards_of(c, "crisis"))
        check_crisis(cards_of(c, "crisis", "order-select"))
        assert all(x["indicator"] != "critical" for x in cards_of(c, "case1"))


# --- 4. concurrent == serial -------------------------------------------------------------------


def test_concurrent_requests_match_serial(live_url: str) -> None:
    calls = [(name, hook) for name in CASES for hook in ("patient-view", "order-select")] * 8
    with httpx.Client(base_url=live_url, timeout=30) as c:
        serial = {(n, h): strip_volatile(cards_of(c, n, h)) for n, h in set(calls)}

    with thread_clients(live_url) as client_of:

        def one(call: tuple[str, str]) -> tuple[tuple[str, str], Any]:
            return call, strip_volatile(cards_of(client_of(), *call))

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, calls))
    assert len(results) == len(calls)
    for call, cards in results:
        assert cards == serial[call], call
    check_crisis(serial[("crisis", "patient-view")])

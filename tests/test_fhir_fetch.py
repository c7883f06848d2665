"""The FHIR fetch client against a real FHIR R4 server (Medplum's router, tests/fhir_server.py).

A few edge cases no real server produces on demand (an error OperationOutcome inside a
searchset, a next link to another host, a timeout) are exercised at the end through an
``httpx.MockTransport`` answering with those exact responses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gbrules.io.fhir import intake_from_fhir
from gbrules.io.fhir.fetch import (
    PATIENT_VIEW_SEARCHES,
    CompletenessNote,
    FetchLimits,
    FhirFetcher,
    FhirServerNotAllowed,
    NoteKind,
    Search,
)
from tests.conftest import AS_OF, load_bundle
from tests.fhir_server import (
    EXAMPLE_NAMES,
    USCORE_CRP_COUNT,
    USCORE_PATIENT,
    FhirTestServer,
    example_patient_id,
)

CRP_SEARCH = next(s for s in PATIENT_VIEW_SEARCHES if "CRP" in s.label)


def kinds(notes: tuple[CompletenessNote, ...]) -> dict[str, set[NoteKind]]:
    out: dict[str, set[NoteKind]] = {}
    for n in notes:
        out.setdefault(n.search, set()).add(n.kind)
    return out


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_a_full_patient_read_maps_to_the_same_intake_as_the_bundled_example(
    fhir_server: FhirTestServer, name: str
) -> None:
    fetcher = FhirFetcher([fhir_server.base_url])
    result = fetcher.fetch_patient(
        fhir_server.base_url, fhir_server.token, example_patient_id(name)
    )

    assert result.notes == ()
    assert result.complete
    assert all(r.complete for r in result.searches)
    fetched, _ = intake_from_fhir(result.bundle(), as_of=AS_OF)
    expected, _ = intake_from_fhir(load_bundle(name), as_of=AS_OF)
    assert fetched.model_dump() == expected.model_dump()


def test_every_search_is_scoped_to_the_patient_and_medication_requests_carry_intent(
    fhir_server: FhirTestServer,
) -> None:
    """US Core 9 requires patient+intent for MedicationRequest; other patients never leak in."""
    result = FhirFetcher([fhir_server.base_url]).fetch_patient(
        fhir_server.base_url, fhir_server.token, example_patient_id("case2")
    )
    by_type = {r["resourceType"] for r in result.resources}
    assert {"Patient", "Observation", "Condition", "MedicationRequest"} <= by_type
    for r in result.resources:
        if r["resourceType"] != "Patient":
            assert r["subject"]["reference"] == "Patient/example-case2"
    med = next(s for s in PATIENT_VIEW_SEARCHES if s.resource_type == "MedicationRequest")
    assert dict(med.params)["intent"].split(",")[:3] == ["proposal", "plan", "order"]


def test_next_links_are_followed_to_the_last_page(fhir_server: FhirTestServer) -> None:
    fetcher = FhirFetcher([fhir_server.base_url], limits=FetchLimits(page_size=10, max_pages=5))
    result = fetcher.fetch_patient(
        fhir_server.base_url, fhir_server.token, USCORE_PATIENT, searches=[CRP_SEARCH]
    )

    assert result.complete
    (report,) = result.searches
    assert (report.resources, report.pages, report.total) == (USCORE_CRP_COUNT, 3, USCORE_CRP_COUNT)
    assert len({r["id"] for r in result.resources}) == USCORE_CRP_COUNT


def test_paging_stops_at_the_bound_and_says_the_result_is_truncated(
    fhir_server: FhirTestServer,
) -> None:
    fetcher = FhirFetcher([fhir_server.base_url], limits=FetchLimits(page_size=10, max_pages=2))
    result = fetcher.fetch_patient(
        fhir_server.base_url, fhir_server.token, USCORE_PATIENT, searches=[CRP_SEARCH]
    )

    assert not result.complete
    assert len(result.resources) == 20
    (note,) = result.notes
    assert note.kind is NoteKind.TRUNCATED
    assert note.search == CRP_SEARCH.label
    assert f"20 of {USCORE_CRP_COUNT}" in note.detail


def test_us_core_style_resources_are_fetched_and_mapped_without_error(
    fhir_server: FhirTestServer,
) -> None:
    """The PHQ-9 as valueString "12" and a pregnancy coded 72892002 reach the mapping."""
    result = FhirFetcher([fhir_server.base_url]).fetch_patient(
        fhir_server.base_url, fhir_server.token, USCORE_PATIENT
    )

    assert result.complete
    ids = {(r["resourceType"], r["id"]) for r in result.resources}
    assert {("Observation", "uscore-phq9-total"), ("Condition", "uscore-pregnancy")} <= ids
    intake, notes = intake_from_fhir(result.bundle(), as_of=AS_OF)
    noted = {n.resource_id for n in notes}
    # Each is either used by the mapping or named in a mapping note: never silently dropped.
    assert (intake.mood and intake.mood.phq9) or "uscore-phq9-total" in noted
    assert intake.pregnant is True or "uscore-pregnancy" in noted


def test_a_server_not_on_the_allow_list_is_refused_before_any_request() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    fetcher = FhirFetcher(
        ["https://ehr.example.org/fhir/r4"], transport=httpx.MockTransport(record)
    )
    for url in (
        "https://ehr.example.org/fhir",  # another base path on the same host
        "https://ehr.example.org.evil.test/fhir/r4",
        "http://ehr.example.org/fhir/r4",  # same host, unencrypted
        "https://ehr.example.org:8443/fhir/r4",
        "https://ehr.example.org/fhir/r4/../r5",
        "file:///etc/passwd",
    ):
        with pytest.raises(FhirServerNotAllowed):
            fetcher.fetch_patient(url, "token", "p1")
    assert sent == []
    # Trailing slash, host case and default port do not matter.
    fetcher.fetch_patient("https://EHR.example.org:443/fhir/r4/", "token", "p1")
    assert sent


def test_plain_http_is_refused_at_start_up_except_on_loopback() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        FhirFetcher(["http://ehr.example.org/fhir"])
    assert FhirFetcher(["http://127.0.0.1:8080/fhir/"]).allowed_servers == (
        "http://127.0.0.1:8080/fhir",
    )


def test_a_malformed_patient_id_is_refused_before_any_request() -> None:
    sent: list[httpx.Request] = []
    fetcher = FhirFetcher(
        ["https://ehr.example.org/fhir"],
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(500)),
    )
    for bad in ("../Observation", "a b", "", "x" * 65, "p1?_count=1"):
        with pytest.raises(ValueError, match="FHIR id"):
            fetcher.fetch_patient("https://ehr.example.org/fhir", "token", bad)
    assert sent == []


def test_an_operation_outcome_answer_is_a_failed_search_and_the_rest_still_runs(
    fhir_server: FhirTestServer,
) -> None:
    broken = Search("Observations by an unknown parameter", "Observation", (("colour", "blue"),))
    result = FhirFetcher([fhir_server.base_url]).fetch_patient(
        fhir_server.base_url,
        fhir_server.token,
        example_patient_id("case2"),
        searches=[broken, *PATIENT_VIEW_SEARCHES],
    )

    assert not result.complete
    (note,) = result.notes
    assert note.kind is NoteKind.SEARCH_FAILED
    assert note.search == broken.label
    assert "HTTP 400" in note.detail and "Unknown search parameter: colour" in note.detail
    assert [r.complete for r in result.searches] == [False] + [True] * len(PATIENT_VIEW_SEARCHES)


def test_searches_the_token_does_not_allow_are_reported_as_forbidden(
    fhir_server: FhirTestServer,
) -> None:
    result = FhirFetcher([fhir_server.base_url]).fetch_patient(
        fhir_server.base_url, fhir_server.limited_token, example_patient_id("case2")
    )

    expected_forbidden = {
        s.label for s in PATIENT_VIEW_SEARCHES if s.resource_type not in ("Patient", "Observation")
    }
    assert kinds(result.notes) == {label: {NoteKind.FORBIDDEN} for label in expected_forbidden}
    assert {r["resourceType"] for r in result.resources} == {"Patient", "Observation"}


def test_an_unknown_patient_is_a_failed_patient_search(fhir_server: FhirTestServer) -> None:
    result = FhirFetcher([fhir_server.base_url]).fetch_patient(
        fhir_server.base_url, fhir_server.token, "nobody-here"
    )

    assert kinds(result.notes) == {"Patient": {NoteKind.SEARCH_FAILED}}
    assert result.resources == ()


def test_the_token_never_reaches_the_log_or_the_notes(
    fhir_server: FhirTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + fhir_server.token[::-1]
    fetcher = FhirFetcher([fhir_server.base_url])
    with caplog.at_level(logging.DEBUG):
        good = fetcher.fetch_patient(
            fhir_server.base_url, fhir_server.token, example_patient_id("case2")
        )
        refused = fetcher.fetch_patient(fhir_server.base_url, wrong, example_patient_id("case2"))

    assert good.complete
    assert {n.kind for n in refused.notes} == {NoteKind.FORBIDDEN}
    assert caplog.records, "the fetch logs its searches"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    said = "\n".join(str(n) for n in (*good.notes, *refused.notes))
    for secret in (fhir_server.token, wrong):
        assert secret not in logged
        assert secret not in said
        assert secret not in repr(good) + repr(refused)
    ours = [r.getMessage() for r in caplog.records if r.name == "gbrules.io.fhir.fetch"]
    assert ours and not any("example-case2" in m for m in ours), "no patient id in our log"


# --- responses no real server gives on demand ------------------------------------------------

BASE = "https://ehr.example.org/fhir"


def fetch_with(
    handler: Callable[[httpx.Request], httpx.Response], patient_id: str = "p1", **limits: Any
) -> tuple[Any, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    fetcher = FhirFetcher(
        [BASE], limits=FetchLimits(**limits), transport=httpx.MockTransport(record)
    )
    return fetcher.fetch_patient(BASE, "s3cret-token", patient_id, searches=[CRP_SEARCH]), sent


def observation(rid: str, patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5"}]},
        "subject": {"reference": f"{BASE}/Patient/{patient}"},
    }


def searchset(*entries: dict[str, Any], links: list[dict[str, str]] | None = None) -> Any:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": list(entries),
        "link": links or [],
    }


@pytest.mark.parametrize(
    ("severity", "kind", "kept"),
    [("error", NoteKind.SEARCH_FAILED, 1), ("warning", NoteKind.SERVER_WARNING, 1)],
)
def test_an_operation_outcome_inside_the_bundle_is_reported(
    severity: str, kind: NoteKind, kept: int
) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": "processing", "diagnostics": "index offline"}],
    }
    result, _ = fetch_with(
        lambda _: httpx.Response(
            200,
            json=searchset(
                {"resource": observation("o1"), "search": {"mode": "match"}},
                {"resource": outcome, "search": {"mode": "outcome"}},
            ),
        )
    )

    (note,) = result.notes
    assert note.kind is kind
    assert "index offline" in note.detail
    assert len(result.resources) == kept
    assert result.complete is (kind is NoteKind.SERVER_WARNING)


def test_a_next_link_to_another_host_is_not_followed_and_the_token_stays_home() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = [{"relation": "next", "url": "https://elsewhere.example.net/fhir/Observation?p=2"}]
        return httpx.Response(200, json=searchset({"resource": observation("o1")}, links=link))

    result, sent = fetch_with(handler)

    assert [r.url.host for r in sent] == ["ehr.example.org"]
    assert [n.kind for n in result.notes] == [NoteKind.TRUNCATED]
    assert sent[0].headers["Authorization"] == "Bearer s3cret-token"


def test_resources_of_another_patient_are_dropped_and_reported() -> None:
    result, _ = fetch_with(
        lambda _: httpx.Response(
            200,
            json=searchset({"resource": observation("o1")}, {"resource": observation("o2", "p2")}),
        )
    )

    assert [r["id"] for r in result.resources] == ["o1"]
    assert [n.kind for n in result.notes] == [NoteKind.FOREIGN_RESOURCE]
    assert not result.complete


def test_a_timeout_is_reported_as_timed_out() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    result, _ = fetch_with(handler)

    assert [n.kind for n in result.notes] == [NoteKind.TIMED_OUT]


def test_a_body_that_is_not_a_bundle_and_a_redirect_are_failed_searches() -> None:
    for response in (
        httpx.Response(200, text="<html>login</html>"),
        httpx.Response(302, headers={"Location": "https://elsewhere.example.net/"}),
        httpx.Response(500, json={"resourceType": "OperationOutcome", "issue": []}),
    ):
        result, sent = fetch_with(lambda _, r=response: r)  # type: ignore[misc]
        assert [n.kind for n in result.notes] == [NoteKind.SEARCH_FAILED]
        assert len(sent) == 1

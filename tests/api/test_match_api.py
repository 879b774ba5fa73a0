"""POST /api/v1/match/<entity>/ (search before create) and link explanations."""

from __future__ import annotations

import csv

import pytest
from django.core.management import call_command

from golden.models import GoldenRecord, MatchCandidate, SourceRecord
from golden.services import ingest_records

ACME = {
    "source_id": "C-1",
    "name": "Acme Consulting GmbH",
    "tax_id": "DE136695976",
    "country": "DE",
    "website": "https://acme-consulting.de",
    "address_line1": "Friedrichstraße 10",
    "postal_code": "10117",
    "city": "Berlin",
}


@pytest.fixture
def acme(systems):
    ingest_records(entity_type="customer", system=systems["erp"], records=[ACME], actor=None)
    return GoldenRecord.objects.get()


@pytest.mark.django_db
def test_match_finds_the_existing_customer_with_evidence_and_writes_nothing(crm_api, acme):
    before = (GoldenRecord.objects.count(), SourceRecord.objects.count())
    probe = {
        "name": "ACME Consulting",
        "country": "Deutschland",
        "website": "www.acme-consulting.de",
    }
    response = crm_api.post("/api/v1/match/customer/", {"record": probe}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["outcome"] == "link"
    [candidate] = body["candidates"]
    assert candidate["canonical_id"] == acme.canonical_id
    assert candidate["probability"] > 0.99
    levels = {e["field"]: e["level"] for e in candidate["evidence"]}
    assert levels["domain"] == "same"
    assert levels["name"] == "exact"
    assert all("detail" in e and "weight" in e for e in candidate["evidence"])
    assert (GoldenRecord.objects.count(), SourceRecord.objects.count()) == before


@pytest.mark.django_db
def test_match_with_nothing_similar_answers_new(viewer_api, acme):
    response = viewer_api.post(
        "/api/v1/match/customer/",
        {"record": {"name": "Zebra Logistics Ltd", "country": "GB"}},
        format="json",
    )
    assert response.json() == {"outcome": "new", "candidates": []}


@pytest.mark.django_db
def test_match_validates_the_record(viewer_api):
    response = viewer_api.post(
        "/api/v1/match/customer/", {"record": {"country": "Atlantis"}}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]["record"]) == {"name", "country"}


@pytest.mark.django_db
def test_match_requires_authentication(client):
    assert (
        client.post("/api/v1/match/customer/", {}, content_type="application/json").status_code
        == 401
    )


@pytest.mark.django_db
def test_auto_link_is_explained_on_the_golden_record(viewer_api, acme, systems):
    [result] = ingest_records(
        entity_type="customer",
        system=systems["crm"],
        records=[
            {
                "source_id": "001X",
                "name": "Acme Consulting",
                "country": "DE",
                "website": "acme-consulting.de",
            }
        ],
        actor=None,
    )
    assert result.action == "linked"
    body = viewer_api.get(f"/api/v1/customers/{acme.canonical_id}/").json()
    crm = next(r for r in body["source_records"] if r["system"] == "crm")
    explanation = crm["link_evidence"]
    assert explanation["decision"] == "auto_link"
    assert explanation["probability"] > 0.99
    assert {e["field"] for e in explanation["evidence"]} >= {"name", "domain", "country"}
    assert "same web domain" in explanation["reason"]


@pytest.mark.django_db
def test_export_candidates_writes_open_pairs(tmp_path, systems):
    records = [
        {"source_id": "1", "name": "Blue Harbor Partners LLC", "country": "US"},
        {"source_id": "2", "name": "Blue Harbor Partners LLC", "country": "US"},
    ]
    ingest_records(entity_type="customer", system=systems["crm"], records=records, actor=None)
    candidate = MatchCandidate.objects.get()
    out = tmp_path / "candidates.csv"
    call_command("export_candidates", str(out), "--entity", "customer")
    rows = list(csv.DictReader(out.open()))
    assert rows == [
        {
            "golden_id_a": candidate.golden_a.canonical_id,
            "golden_id_b": candidate.golden_b.canonical_id,
            "score": f"{candidate.score:.6f}",
        }
    ]

"""Steward workbench fixtures: review pairs made by the real ingest service, and clients
logged in as each role."""

from __future__ import annotations

import pytest
from django.test import Client

from golden.models import GoldenRecord, MatchCandidate
from golden.services import ingest_records

BLUE_HARBOR_CRM = {
    "source_id": "001BH",
    "name": "Blue Harbor Partners LLC",
    "country": "US",
    "city": "Boston",
}
BLUE_HARBOR_PSA = {
    "source_id": "5531",
    "name": "Blue Harbor",
    "country": "US",
    "phone": "+1 617 555 0100",
}
GREEN_FIELD_CRM = {
    "source_id": "001GF",
    "name": "Green Field Advisors Ltd",
    "country": "GB",
    "city": "London",
}
GREEN_FIELD_ERP = {
    "source_id": "C-1187",
    "name": "Green Field",
    "country": "GB",
    "phone": "+44 20 7946 0000",
}


def ingest(systems, system: str, *records: dict, entity_type: str = "customer"):
    return ingest_records(
        entity_type=entity_type, system=systems[system], records=list(records), actor=None
    )


def golden(canonical_id: str) -> GoldenRecord:
    return GoldenRecord.objects.get(canonical_id=canonical_id)


def make_pair(systems, first: tuple[str, dict], second: tuple[str, dict]) -> MatchCandidate:
    [a] = ingest(systems, *first)
    [b] = ingest(systems, *second)
    assert b.action == "queued_for_review", b
    return MatchCandidate.objects.get(
        golden_a__canonical_id__in=[a.canonical_id, b.canonical_id],
        golden_b__canonical_id__in=[a.canonical_id, b.canonical_id],
    )


@pytest.fixture
def candidate(systems) -> MatchCandidate:
    """Blue Harbor: a CRM account in Boston and a PSA client with a phone, in review."""
    return make_pair(systems, ("crm", BLUE_HARBOR_CRM), ("psa", BLUE_HARBOR_PSA))


@pytest.fixture
def second_candidate(systems, candidate) -> MatchCandidate:
    """Green Field: a second pair, so "next" has somewhere to go."""
    return make_pair(systems, ("crm", GREEN_FIELD_CRM), ("erp", GREEN_FIELD_ERP))


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def steward_client(steward) -> Client:
    return logged_in(steward)


@pytest.fixture
def viewer_client(viewer) -> Client:
    return logged_in(viewer)

"""Matching features stored with each source record: written on insert and update, read
instead of normalising candidates again, computed from the cleaned values when missing or
of another version, backfilled by the migration; a project's customer resolved when read."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from golden.matching import (
    FEATURES_VERSION,
    features_of,
    find_matches,
    record_features,
    stored_candidates,
    stored_features,
)
from golden.models import GoldenRecord, SourceRecord, SourceSystem
from golden.services import Action, ingest_records

ACME = {
    "source_id": "001A",
    "name": "Acme Consulting GmbH",
    "tax_id": "DE136695976",
    "country": "DE",
    "city": "Berlin",
    "website": "https://acme-consulting.de",
    "updated_at": "2026-02-01T09:00:00Z",
}
GLOBEX = {
    "source_id": "001A",
    "name": "Globex Industrial Partners AG",
    "tax_id": "DE811907980",
    "country": "DE",
    "city": "Hamburg",
    "website": "https://globex-partners.de",
    "updated_at": "2026-03-01T09:00:00Z",
}


def ingest(system, entity_type, *records):
    return ingest_records(
        entity_type=entity_type,
        system=SourceSystem.objects.get(code=system),
        records=list(records),
        actor=None,
    )


def as_erp(record, source_id="C-1"):
    return {**record, "source_id": source_id}


@pytest.mark.django_db
def test_features_are_stored_when_a_record_is_inserted(systems):
    [created] = ingest("crm", "customer", ACME)
    record = SourceRecord.objects.get(source_id=ACME["source_id"])
    assert record.match_features["v"] == FEATURES_VERSION
    assert record.match_features == stored_features(features_of("customer", record.cleaned))
    assert record.match_features["tax_id"] == "DE136695976"
    assert record.match_features["domain"] == "acme-consulting.de"
    assert created.action == Action.CREATED


@pytest.mark.django_db
def test_an_updated_record_is_matched_on_its_new_values(systems):
    [first] = ingest("crm", "customer", ACME)
    [updated] = ingest("crm", "customer", GLOBEX)
    assert updated.action == Action.UPDATED
    record = SourceRecord.objects.get(source_id=ACME["source_id"])
    assert record.match_features == stored_features(features_of("customer", record.cleaned))
    assert record.match_features["tax_id"] == "DE811907980"
    # The ERP's Globex (same tax ID, name, domain) links to the changed record's golden
    # record; the ERP's Acme, which it no longer is, does not.
    [globex, acme] = ingest("erp", "customer", as_erp(GLOBEX, "C-1"), as_erp(ACME, "C-2"))
    assert globex.action == Action.LINKED
    assert globex.canonical_id == first.canonical_id
    assert acme.canonical_id != first.canonical_id
    assert acme.action == Action.CREATED


@pytest.mark.django_db
def test_candidates_are_compared_on_their_stored_features(systems):
    [first] = ingest("crm", "customer", ACME)
    # Stored features with another tax ID and domain than the cleaned values: matching
    # reads the stored ones (the name, and so the blocking keys, stay Acme's).
    elsewhere = {**ACME, "tax_id": "DE811907980", "website": "https://acme-elsewhere.de"}
    SourceRecord.objects.filter(source_id=ACME["source_id"]).update(
        match_features=stored_features(features_of("customer", {**elsewhere, "country": "DE"}))
    )
    [same_as_cleaned, same_as_stored] = ingest(
        "erp", "customer", as_erp(ACME, "C-1"), as_erp(elsewhere, "C-2")
    )
    assert same_as_stored.action == Action.LINKED
    assert same_as_stored.canonical_id == first.canonical_id
    assert same_as_cleaned.canonical_id != first.canonical_id
    probe = features_of("customer", as_erp(ACME))
    matches = find_matches("customer", probe)
    assert [m.decision for m in matches if m.golden.canonical_id == first.canonical_id] in (
        [],
        ["review"],
    )


@pytest.mark.parametrize(
    "stale", [None, {}, {"v": FEATURES_VERSION - 1, "name": "globex industrial partners"}]
)
@pytest.mark.django_db
def test_missing_or_outdated_features_are_computed_from_the_cleaned_values(systems, stale):
    [first] = ingest("crm", "customer", ACME)
    SourceRecord.objects.filter(source_id=ACME["source_id"]).update(match_features=stale)
    record = SourceRecord.objects.select_related("golden").get(source_id=ACME["source_id"])
    assert record_features(record) == features_of("customer", record.cleaned)
    [candidate] = stored_candidates("customer", [record.pk])
    assert candidate.features == features_of("customer", record.cleaned)
    [acme] = ingest("erp", "customer", as_erp(ACME, "C-2"))
    assert acme.action == Action.LINKED
    assert acme.canonical_id == first.canonical_id


@pytest.mark.django_db
def test_the_migration_backfills_stored_features(systems):
    ingest("crm", "customer", ACME, {**GLOBEX, "source_id": "001B"})
    SourceRecord.objects.update(match_features=None)
    migration = importlib.import_module("golden.migrations.0009_source_record_match_features")
    migration.store_features(apps, None)
    records = list(SourceRecord.objects.all())
    assert len(records) == 2
    for record in records:
        assert record.match_features == stored_features(features_of("customer", record.cleaned))


@pytest.mark.django_db
def test_a_projects_customer_is_resolved_when_it_is_read_not_stored(systems):
    [customer] = ingest("crm", "customer", ACME)
    project = {
        "source_id": "006P1",
        "name": "Acme - ERP Implementation",
        "code": "OPP-000123",
        "customer_source_id": ACME["source_id"],
        "start_date": "2026-01-15",
    }
    ingest("crm", "project", project)
    record = SourceRecord.objects.select_related("golden").get(source_id="006P1")
    assert "parent" not in record.match_features
    assert record.golden.attributes["customer"] == customer.canonical_id
    assert record_features(record).parent == customer.canonical_id
    # The customer's canonical ID changes (say, it was merged): matching sees the new one.
    GoldenRecord.objects.filter(pk=record.golden_id).update(
        attributes={**record.golden.attributes, "customer": "CUS-999999"}
    )
    [candidate] = stored_candidates("project", [record.pk])
    assert candidate.features.parent == "CUS-999999"
    record.refresh_from_db()
    record.golden.refresh_from_db()
    assert record_features(record).parent == "CUS-999999"

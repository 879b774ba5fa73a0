"""Every model has a working admin: list, search, detail and history pages."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from golden.models import GoldenRecord, RejectedRecord, SourceRecord
from golden.services import ingest_records

RECORDS = [
    {"source_id": "A1", "name": "Acme GmbH", "country": "DE", "tax_id": "DE136695976"},
    {"source_id": "A2", "name": "Acme GmbH", "country": "DE", "tax_id": "DE129273398"},
    {"source_id": "A3", "name": "Broken", "country": "Nowhere"},
]


@pytest.fixture
def data(systems):
    ingest_records(entity_type="customer", system=systems["crm"], records=RECORDS, actor=None)


@pytest.mark.django_db
def test_every_registered_model_has_working_list_and_detail_pages(client, admin_user, data):
    client.force_login(admin_user)
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = client.get(changelist, {"q": "acme"} if model_admin.search_fields else {})
        assert response.status_code == 200, changelist
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            assert client.get(change).status_code == 200, change


@pytest.mark.django_db
def test_golden_record_page_shows_lineage_sources_and_history(client, admin_user, data):
    client.force_login(admin_user)
    golden = GoldenRecord.objects.get(source_records__source_id="A1")
    html = client.get(
        reverse("admin:golden_goldenrecord_change", args=[golden.pk])
    ).content.decode()
    assert "source_priority" in html or "most_recent" in html
    assert "A1" in html
    history = client.get(reverse("admin:golden_goldenrecord_history", args=[golden.pk]))
    assert history.status_code == 200


@pytest.mark.django_db
def test_payloads_and_operational_rows_are_read_only(client, admin_user, data):
    client.force_login(admin_user)
    record = SourceRecord.objects.first()
    response = client.post(
        reverse("admin:golden_sourcerecord_change", args=[record.pk]), {"source_id": "hacked"}
    )
    record.refresh_from_db()
    assert record.source_id != "hacked"
    assert response.status_code == 403
    rejected = RejectedRecord.objects.get()
    assert (
        client.post(
            reverse("admin:golden_rejectedrecord_delete", args=[rejected.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    golden = GoldenRecord.objects.first()
    assert (
        client.post(
            reverse("admin:golden_goldenrecord_delete", args=[golden.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert GoldenRecord.objects.filter(pk=golden.pk).exists()

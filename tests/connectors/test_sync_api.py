"""The sync API (stewards and admins only), the admin replay action, and sync_report."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from connectors import outbox
from connectors.models import OutboundMessage
from connectors.testing import customer, ingest, legal_entity
from golden.models import GoldenRecord

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


@pytest.fixture
def dead(steward) -> OutboundMessage:
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    outbox.fan_out_changes()
    message = OutboundMessage.objects.get(canonical_id=cus, target__code="crm")
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.DEAD, attempts=20, last_error="HTTP 503: down"
    )
    message.refresh_from_db()
    return message


def test_anonymous_is_401_and_viewer_is_403(viewer_api: APIClient) -> None:
    url = reverse("sync-messages")
    assert APIClient().get(url).status_code == 401
    response = viewer_api.get(url)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_steward_lists_dead_messages(steward_api: APIClient, dead: OutboundMessage) -> None:
    response = steward_api.get(reverse("sync-messages"), {"status": "dead"})
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == dead.pk and row["target"] == "crm" and row["last_error"] == "HTTP 503: down"
    assert steward_api.get(reverse("sync-messages"), {"status": "failed"}).json()["results"] == []


def test_message_detail_shows_payload_and_attempts(
    steward_api: APIClient, dead: OutboundMessage
) -> None:
    body = steward_api.get(reverse("sync-message", args=[dead.pk])).json()
    assert body["payload"]["canonical_id"] == dead.canonical_id
    assert body["attempts_made"] == []
    assert steward_api.get(reverse("sync-message", args=[999999])).status_code == 404


def test_replay_one_dead_message(steward_api: APIClient, dead: OutboundMessage) -> None:
    response = steward_api.post(reverse("sync-message-replay", args=[dead.pk]))
    assert response.status_code == 200
    assert response.json()["status"] == "pending" and response.json()["attempts"] == 0

    again = steward_api.post(reverse("sync-message-replay", args=[dead.pk]))
    assert again.status_code == 409 and again.json()["code"] == "not_replayable"


def test_bulk_replay_by_filter_and_by_ids(steward_api: APIClient, dead: OutboundMessage) -> None:
    url = reverse("sync-messages-replay")
    assert steward_api.post(url, {}, format="json").status_code == 400
    response = steward_api.post(url, {"status": "dead", "target": "crm"}, format="json")
    assert response.json() == {"replayed": [dead.pk], "count": 1}
    assert steward_api.post(url, {"ids": [dead.pk]}, format="json").json()["count"] == 0


def test_steward_approves_a_legal_entity_over_the_api(
    steward_api: APIClient, viewer_api: APIClient
) -> None:
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    outbox.fan_out_changes()
    url = reverse("sync-record-approve", args=[len_id])
    assert viewer_api.post(url).status_code == 403

    body = steward_api.post(url, {"note": "checked the register"}, format="json").json()

    assert body["approval"]["approved"] is True
    assert body["approval"]["approved_by"] == "stella"
    [erp] = [t for t in body["targets"] if t["target"] == "erp"]
    assert erp["latest_message"]["status"] == "pending"


def test_record_sync_state_says_why_it_is_held(steward_api: APIClient) -> None:
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    outbox.fan_out_changes()
    body = steward_api.get(reverse("sync-record", args=[len_id.lower()])).json()
    assert body["approval"]["policy"] == "steward"
    assert body["approval"]["approved"] is False
    assert body["targets"][0]["latest_message"]["status"] == "held"
    assert steward_api.get(reverse("sync-record", args=["CUS-999999"])).status_code == 404


def test_report_counts_per_target_and_entity(steward_api: APIClient, dead: OutboundMessage) -> None:
    rows = steward_api.get(reverse("sync-report")).json()["rows"]
    crm = next(r for r in rows if r["target"] == "crm" and r["entity_type"] == "customer")
    erp = next(r for r in rows if r["target"] == "erp" and r["entity_type"] == "customer")
    assert crm["dead"] == 1 and erp["pending"] == 1
    assert erp["oldest_pending_age_seconds"] is not None


def test_sync_report_command_prints_a_table_and_json(dead: OutboundMessage) -> None:
    out = io.StringIO()
    call_command("sync_report", stdout=out)
    table = out.getvalue().splitlines()
    assert table[0].split()[:4] == ["target", "entity", "held", "pending"]
    assert any(line.startswith("crm") and "customer" in line for line in table)

    out = io.StringIO()
    call_command("sync_report", "--json", stdout=out)
    rows = json.loads(out.getvalue())["rows"]
    assert {(r["target"], r["entity_type"], r["dead"]) for r in rows} >= {("crm", "customer", 1)}


def test_admin_replay_action(admin_user, dead: OutboundMessage) -> None:
    client = Client()
    client.force_login(admin_user)
    url = reverse("admin:connectors_outboundmessage_changelist")
    assert client.get(url, {"status__exact": "dead"}).status_code == 200
    response = client.post(
        url, {"action": "replay_selected", "_selected_action": [dead.pk]}, follow=True
    )
    assert response.status_code == 200
    dead.refresh_from_db()
    assert dead.status == Status.PENDING
    change = reverse("admin:connectors_outboundmessage_change", args=[dead.pk])
    assert client.get(change).status_code == 200


def test_admin_pages_render_and_adding_an_approval_approves(admin_user) -> None:
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    outbox.fan_out_changes()
    client = Client()
    client.force_login(admin_user)
    for name in ("targetbinding", "approvalpolicy", "approval", "deliveryattempt", "syncstate"):
        assert client.get(reverse(f"admin:connectors_{name}_changelist")).status_code == 200

    response = client.post(
        reverse("admin:connectors_approval_add"),
        {"golden": GoldenRecord.objects.get(canonical_id=len_id).pk, "note": "ok"},
    )

    assert response.status_code == 302
    assert OutboundMessage.objects.get(canonical_id=len_id).status == Status.PENDING

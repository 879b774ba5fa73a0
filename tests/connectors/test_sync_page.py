"""The workbench's sync page: status per target, failed deliveries, replay."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from connectors import outbox
from connectors.models import OutboundMessage
from connectors.testing import customer, ingest

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


@pytest.fixture
def failed() -> OutboundMessage:
    cus = ingest("customer", "crm", customer(7))[0].canonical_id
    outbox.fan_out_changes()
    message = OutboundMessage.objects.get(canonical_id=cus, target__code="crm")
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.FAILED, last_error="REQUIRED_FIELD_MISSING: Name", last_http_status=400
    )
    message.refresh_from_db()
    return message


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_page_shows_counts_and_the_targets_message(steward, failed: OutboundMessage) -> None:
    html = logged_in(steward).get(reverse("sync-status")).content.decode()
    assert "Failed deliveries" in html
    assert failed.canonical_id in html
    assert "REQUIRED_FIELD_MISSING: Name" in html
    assert "HTTP 400" in html
    assert reverse("sync-replay", args=[failed.pk]) in html


def test_steward_replays_a_failed_delivery(steward, failed: OutboundMessage) -> None:
    response = logged_in(steward).post(reverse("sync-replay", args=[failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == Status.PENDING


def test_replaying_a_delivered_message_is_refused_with_a_message(
    steward, failed: OutboundMessage
) -> None:
    OutboundMessage.objects.filter(pk=failed.pk).update(status=Status.DELIVERED)
    response = logged_in(steward).post(reverse("sync-replay", args=[failed.pk]), follow=True)
    assert "only failed or dead messages replay" in response.content.decode()


def test_viewer_sees_but_cannot_replay(viewer, failed: OutboundMessage) -> None:
    client = logged_in(viewer)
    html = client.get(reverse("sync-status")).content.decode()
    assert failed.canonical_id in html and "Replay" not in html
    assert client.post(reverse("sync-replay", args=[failed.pk])).status_code == 403
    assert client.post(reverse("sync-replay-all")).status_code == 403
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_replay_all(steward, failed: OutboundMessage) -> None:
    logged_in(steward).post(reverse("sync-replay-all"))
    failed.refresh_from_db()
    assert failed.status == Status.PENDING


def test_anonymous_goes_to_login() -> None:
    response = Client().get(reverse("sync-status"))
    assert response.status_code == 302 and "/steward/login/" in response["Location"]


def test_dashboard_shows_the_sync_panel(steward, failed: OutboundMessage) -> None:
    html = logged_in(steward).get(reverse("steward:dashboard")).content.decode()
    assert "Outbound sync" in html
    assert reverse("sync-status") in html
    assert "<strong>1</strong> failed deliveries" in html

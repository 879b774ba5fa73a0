"""GET /metrics: Prometheus gauges computed from the database at scrape time.

Golden data and deliveries come from the real services (ingest, merge, fan-out, delivery
to the sandboxes over HTTP); the output is read back with prometheus_client's parser.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from connectors import outbox, services
from connectors.models import OutboundMessage
from connectors.testing import customer, golden, ingest
from golden.models import SourceSystem
from golden.services import ingest_records, merge_golden_records

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status
SYNC_STATUSES = ["held", "pending", "in_flight", "delivered", "failed", "dead", "skipped"]


def scrape(client: Client, **headers: str) -> dict[str, dict[tuple, float]]:
    """{metric name: {sorted label items: value}}"""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = text_string_to_metric_families(response.content.decode())
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in families
    }


def labels(**values: str) -> tuple:
    return tuple(sorted(values.items()))


def sync_counts(metrics: dict, target: str, entity_type: str) -> dict[str, float]:
    series = metrics["mdm_sync_messages"]
    return {
        status: series[labels(target=target, entity_type=entity_type, status=status)]
        for status in SYNC_STATUSES
    }


def deliver(canonical_id: str, target: str) -> str:
    message = OutboundMessage.objects.get(canonical_id=canonical_id, target__code=target)
    return services.deliver_outbound_message(message.pk)


def test_delivered_and_failed_messages_show_per_target(client: Client, sandboxes) -> None:
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    outbox.fan_out_changes()
    assert deliver(cus, "crm") == "delivered"
    # The ERP customer route names no subsidiary: pre-send validation fails it.
    assert deliver(cus, "erp") == "failed"

    metrics = scrape(client)

    assert sync_counts(metrics, "crm", "customer") == {
        **dict.fromkeys(SYNC_STATUSES, 0.0),
        "delivered": 1.0,
    }
    assert sync_counts(metrics, "erp", "customer") == {
        **dict.fromkeys(SYNC_STATUSES, 0.0),
        "failed": 1.0,
    }
    latency = metrics["mdm_sync_delivery_latency_seconds"]
    assert 0 <= latency[labels(target="crm", entity_type="customer")] < 60
    assert labels(target="erp", entity_type="customer") not in latency  # nothing delivered
    oldest = metrics["mdm_sync_oldest_pending_age_seconds"]
    assert oldest[labels(target="crm", entity_type="customer")] == 0


def test_routes_without_messages_report_zeros(client: Client) -> None:
    metrics = scrape(client)

    # Seeded routes: projects go to the PSA; nothing was ever sent.
    assert sync_counts(metrics, "psa", "project") == dict.fromkeys(SYNC_STATUSES, 0.0)
    assert metrics["mdm_sync_oldest_pending_age_seconds"][
        labels(target="psa", entity_type="project")
    ] == (0)
    # Kantata maps no legal entities, so that route has no series at all.
    assert (
        labels(target="psa", entity_type="legal_entity", status="pending")
        not in (metrics["mdm_sync_messages"])
    )


def test_oldest_pending_age_follows_the_oldest_pending_message(client: Client) -> None:
    first = ingest("customer", "crm", customer(1))[0].canonical_id
    ingest("customer", "crm", customer(2))
    outbox.fan_out_changes()
    OutboundMessage.objects.filter(canonical_id=first, target__code="crm").update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    metrics = scrape(client)

    assert sync_counts(metrics, "crm", "customer")["pending"] == 2
    age = metrics["mdm_sync_oldest_pending_age_seconds"][
        labels(target="crm", entity_type="customer")
    ]
    assert 300 <= age < 360


def test_held_message_counts_as_held(client: Client) -> None:
    # Legal entities need a steward's approval: fanned out, they are held.
    ingest("legal_entity", "erp", {"source_id": "LE-1", "name": "Northwind GmbH", "country": "DE"})
    outbox.fan_out_changes()

    metrics = scrape(client)

    assert sync_counts(metrics, "erp", "legal_entity")["held"] == 1


def test_golden_records_review_candidates_and_rejections(client: Client, steward) -> None:
    a = ingest("customer", "erp", customer(1))[0].canonical_id
    b = ingest("customer", "crm", customer(2))[0].canonical_id
    merge_golden_records(survivor=golden(a), merged=[golden(b)], actor=steward)
    # A short name from another system with nothing else to go on: a candidate for a
    # steward.
    short_name = " ".join(customer(1)["name"].split()[:2])
    [suspect] = ingest(
        "customer", "crm", {"source_id": "001X", "name": short_name, "country": "DE"}
    )
    assert suspect.action == "queued_for_review"
    rejected = ingest_records(
        entity_type="customer",
        system=SourceSystem.objects.get(code="erp"),
        records=[{"source_id": "BAD-1", "name": "", "country": "XX"}],
        actor=None,
    )
    assert [r.action for r in rejected] == ["rejected"]

    metrics = scrape(client)

    records = metrics["mdm_golden_records"]
    assert records[labels(entity_type="customer", status="active")] == 2
    assert records[labels(entity_type="customer", status="merged")] == 1
    assert records[labels(entity_type="customer", status="retired")] == 0
    assert records[labels(entity_type="project", status="active")] == 0
    assert metrics["mdm_review_candidates_open"] == {
        labels(entity_type="customer"): 1.0,
        labels(entity_type="legal_entity"): 0.0,
        labels(entity_type="project"): 0.0,
        labels(entity_type="service_code"): 0.0,
    }
    assert metrics["mdm_rejected_records_unresolved"] == {
        labels(system="erp", entity_type="customer"): 1.0
    }


def test_metrics_take_a_few_queries(client: Client, django_assert_max_num_queries) -> None:
    for n in range(5):
        ingest("customer", "crm", customer(n))
    outbox.fan_out_changes()
    with django_assert_max_num_queries(10):
        scrape(client)


def test_token_is_required_when_configured(client: Client, settings) -> None:
    settings.MDM_METRICS_TOKEN = "s3cret-scrape-token"

    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert "mdm_golden_records" in scrape(client, Authorization="Bearer s3cret-scrape-token")


def test_open_without_a_token(client: Client, settings) -> None:
    settings.MDM_METRICS_TOKEN = ""
    assert "mdm_sync_messages" in scrape(client)


def test_only_reads(client: Client) -> None:
    assert client.post("/metrics").status_code == 405

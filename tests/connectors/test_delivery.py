"""deliver_outbound_message in this process against the sandboxes (no worker): the
crosswalk write-back, attempts, pre-send validation, dependencies, retries, retire."""

from __future__ import annotations

import pytest

from connectors import outbox, services
from connectors.models import DeliveryAttempt, OutboundMessage, SyncState, TargetBinding
from connectors.testing import (
    Sandboxes,
    count_by_external_id,
    customer,
    golden,
    ingest,
    legal_entity,
    live_records,
    project,
)
from golden.models import ExternalReference
from golden.services import merge_golden_records

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


def message(canonical_id: str, target: str, version: int | None = None) -> OutboundMessage:
    found = OutboundMessage.objects.filter(canonical_id=canonical_id, target__code=target)
    if version is not None:
        found = found.filter(golden_version=version)
    return found.latest("golden_version")


def deliver(canonical_id: str, target: str) -> str:
    return services.deliver_outbound_message(message(canonical_id, target).pk)


@pytest.fixture
def subsidiary(steward) -> str:
    """An approved legal entity delivered to the ERP, named on the ERP customer route."""
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    services.approve_golden_record(golden(len_id), actor=steward)
    TargetBinding.objects.filter(system__code="erp", entity_type="customer").update(
        options={"subsidiary": len_id}
    )
    return len_id


def test_delivery_writes_the_target_id_back_to_the_crosswalk(sandboxes: Sandboxes) -> None:
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    outbox.fan_out_changes()

    assert deliver(cus, "crm") == "delivered"

    [account] = live_records(sandboxes.crm, "Account")
    ref = ExternalReference.objects.get(golden__canonical_id=cus, system__code="crm")
    assert (ref.external_id, ref.object_type) == (account["id"], "Account")
    sent = message(cus, "crm")
    assert sent.status == Status.DELIVERED and sent.external_id == account["id"]
    [attempt] = sent.delivery_attempts.all()
    assert attempt.status == DeliveryAttempt.Status.DELIVERED
    assert attempt.http_status == 201 and attempt.duration_ms is not None
    state = SyncState.objects.get(canonical_id=cus, target__code="crm")
    assert (state.delivered_version, state.external_id) == (1, account["id"])


def test_erp_customer_failing_pre_send_validation_never_reaches_the_erp(
    sandboxes: Sandboxes, subsidiary: str
) -> None:
    cus = ingest("customer", "crm", customer(1, currency=None, tax_id="DE123"))[0].canonical_id
    outbox.fan_out_changes()

    assert deliver(cus, "erp") == "failed"

    failed = message(cus, "erp")
    assert failed.status == Status.FAILED
    assert "needs currency" in failed.last_error
    assert "tax ID DE123 is not valid" in failed.last_error
    assert not failed.delivery_attempts.exists()
    assert live_records(sandboxes.erp, "customer") == []


def test_erp_project_waits_for_its_customer_then_follows_it(
    sandboxes: Sandboxes, subsidiary: str
) -> None:
    cus = ingest("customer", "erp", customer(1))[0].canonical_id
    prj = ingest("project", "erp", project(1, "C-00001", "LE-1"))[0].canonical_id
    outbox.fan_out_changes()
    assert deliver(subsidiary, "erp") == "delivered"

    assert deliver(prj, "erp") == "waiting"
    waiting = message(prj, "erp")
    assert waiting.status == Status.PENDING
    assert waiting.note == f"waiting for {cus} in erp"
    assert not waiting.delivery_attempts.exists()

    assert deliver(cus, "erp") == "delivered"
    waiting.refresh_from_db()
    assert waiting.waiting_for == "" and waiting.next_attempt_at <= waiting.updated_at

    assert deliver(prj, "erp") == "delivered"
    [job] = live_records(sandboxes.erp, "job")
    assert job["fields"]["parent"] == {"externalId": cus}
    assert job["fields"]["subsidiary"] == {"externalId": subsidiary}


def test_a_target_rejection_goes_to_the_exception_queue_and_replays(
    sandboxes: Sandboxes,
) -> None:
    cus = ingest("customer", "crm", customer(1, city="B" * 60))[0].canonical_id
    outbox.fan_out_changes()

    assert deliver(cus, "crm") == "failed"
    failed = message(cus, "crm")
    assert failed.status == Status.FAILED and failed.last_http_status == 400
    assert "STRING_TOO_LONG" in failed.last_error
    assert failed.delivery_attempts.get().status == DeliveryAttempt.Status.FAILED

    services.replay_message(failed.pk)
    failed.refresh_from_db()
    assert failed.status == Status.PENDING and failed.attempts == 0


def test_a_retryable_error_schedules_a_retry_with_the_attempt_recorded(
    sandboxes: Sandboxes,
) -> None:
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    outbox.fan_out_changes()
    sandboxes.crm.set_fault("error_500")

    assert deliver(cus, "crm") == "retry"

    retrying = message(cus, "crm")
    assert retrying.status == Status.PENDING and retrying.attempts == 1
    assert retrying.next_attempt_at > retrying.updated_at
    attempt = retrying.delivery_attempts.get()
    assert attempt.status == DeliveryAttempt.Status.RETRY and attempt.http_status == 500

    OutboundMessage.objects.filter(pk=retrying.pk).update(next_attempt_at=retrying.created_at)
    assert deliver(cus, "crm") == "delivered"
    assert count_by_external_id(sandboxes.crm, "Account") == {cus: 1}


def test_a_merge_retires_the_merged_record_where_it_was_sent(sandboxes: Sandboxes, steward) -> None:
    a = ingest("customer", "crm", customer(1))[0].canonical_id
    b = ingest("customer", "crm", customer(2, website="https://example.org"))[0].canonical_id
    outbox.fan_out_changes()
    assert deliver(a, "crm") == deliver(b, "crm") == "delivered"

    merge_golden_records(survivor=golden(a), merged=[golden(b)], actor=steward)
    outbox.fan_out_changes()

    assert deliver(b, "crm") == "delivered"
    assert deliver(a, "crm") == "delivered"
    accounts = {r["external_id"]: r for r in live_records(sandboxes.crm, "Account")}
    assert accounts[b]["fields"]["Description"] == f"Merged into {a} in MDM"
    assert accounts[a]["fields"]["Website"] == "https://example.org"
    assert SyncState.objects.get(canonical_id=b, target__code="crm").retired


def test_retiring_a_record_the_target_never_had_is_skipped(sandboxes: Sandboxes, steward) -> None:
    a = ingest("customer", "crm", customer(1))[0].canonical_id
    b = ingest("customer", "crm", customer(2, website="https://example.org"))[0].canonical_id
    merge_golden_records(survivor=golden(a), merged=[golden(b)], actor=steward)
    outbox.fan_out_changes()

    assert deliver(b, "crm") == "skipped"  # the retire: nothing there
    first = message(b, "crm", version=1)
    assert services.deliver_outbound_message(first.pk) == "skipped"  # superseded by it
    assert live_records(sandboxes.crm, "Account") == []


def test_a_route_to_an_unmapped_target_is_not_fanned_out(sandboxes: Sandboxes) -> None:
    # Legal entities are routed to the PSA, but Kantata has no object for them.
    ingest("legal_entity", "erp", legal_entity(1))
    outbox.fan_out_changes()
    assert OutboundMessage.objects.filter(target__code="erp").exists()
    assert not OutboundMessage.objects.filter(target__code="psa").exists()

"""The outbox without any target: fan-out, approval, claims, ordering, backoff, replay.

Golden data comes from the real services (ingest, merge, candidate decisions).
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors import outbox, services
from connectors.models import (
    Approval,
    DeliveryAttempt,
    FannedOutChange,
    FanOutCursor,
    OutboundMessage,
    SyncState,
    TargetBinding,
)
from connectors.testing import customer, golden, ingest, legal_entity
from golden.models import GoldenChange, MatchCandidate
from golden.services import mark_not_a_match, merge_golden_records

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


def messages(canonical_id: str) -> dict[str, list[OutboundMessage]]:
    out: dict[str, list[OutboundMessage]] = {}
    for m in OutboundMessage.objects.filter(canonical_id=canonical_id).select_related("target"):
        out.setdefault(m.target.code, []).append(m)
    return out


def only(canonical_id: str, target: str) -> OutboundMessage:
    found = messages(canonical_id)[target]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def cus() -> str:
    return ingest("customer", "crm", customer(1))[0].canonical_id


# -- fan-out -----------------------------------------------------------------------------
def test_fan_out_makes_one_message_per_change_and_routed_target(cus: str) -> None:
    made = outbox.fan_out_changes()

    by_target = messages(cus)
    # Customers route to crm, psa and erp.
    assert sorted(by_target) == ["crm", "erp", "psa"]
    assert sorted(made) == sorted(m.pk for ms in by_target.values() for m in ms)
    crm = only(cus, "crm")
    assert crm.status == Status.PENDING
    assert crm.operation == OutboundMessage.Operation.UPSERT
    assert crm.golden_version == 1
    assert crm.payload["attributes"]["name"] == customer(1)["name"]
    change = GoldenChange.objects.get(canonical_id=cus)
    assert crm.idempotency_key == f"{change.pk}:crm"
    assert SyncState.objects.filter(canonical_id=cus).count() == 3


def test_fan_out_twice_makes_nothing_new(cus: str) -> None:
    outbox.fan_out_changes()
    assert outbox.fan_out_changes() == []
    assert OutboundMessage.objects.count() == 3


def test_fan_out_after_lost_markers_does_not_duplicate(cus: str) -> None:
    # As if two fan-outs raced past each other's markers: the idempotency key holds.
    outbox.fan_out_changes()
    FannedOutChange.objects.all().delete()
    FanOutCursor.objects.update(watermark=0)

    assert outbox.fan_out_changes() == []
    assert OutboundMessage.objects.count() == 3


def test_disabled_route_gets_no_messages(cus: str) -> None:
    TargetBinding.objects.filter(system__code="crm", entity_type="customer").update(
        is_enabled=False
    )
    outbox.fan_out_changes()
    assert sorted(messages(cus)) == ["erp", "psa"]


def _three_changes() -> list[GoldenChange]:
    for n in (1, 2, 3):
        ingest("customer", "crm", customer(n))
    outbox.fan_out_changes()
    return list(GoldenChange.objects.order_by("pk"))


def _rewind(changes: list[GoldenChange], marked: list[GoldenChange]) -> None:
    FanOutCursor.objects.update(watermark=changes[0].pk - 1)
    FannedOutChange.objects.all().delete()
    FannedOutChange.objects.bulk_create([FannedOutChange(change=c) for c in marked])


def test_watermark_stops_below_a_change_not_fanned_out() -> None:
    # As if the first change's transaction had not committed when the others were fanned out.
    first, second, third = _three_changes()
    _rewind([first, second, third], marked=[second, third])

    assert outbox.advance_watermark() == first.pk - 1

    FannedOutChange.objects.create(change=first)
    assert outbox.advance_watermark() == third.pk
    assert not FannedOutChange.objects.exists()  # markers below the watermark are pruned


def test_watermark_passes_an_id_gap_only_once_it_is_old() -> None:
    first, second, third = _three_changes()
    second.delete()  # its ID is now a gap, as a rolled-back transaction leaves one
    _rewind([first, third], marked=[first, third])

    assert outbox.advance_watermark() == first.pk
    later = timezone.now() + outbox.WATERMARK_GRACE + timedelta(minutes=1)
    assert outbox.advance_watermark(now=later) == third.pk


# -- approval ----------------------------------------------------------------------------
def test_legal_entity_is_held_until_a_steward_approves(steward) -> None:
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    outbox.fan_out_changes()
    held = only(len_id, "erp")
    assert held.status == Status.HELD
    assert "steward" in held.note

    services.approve_golden_record(golden(len_id), actor=steward, note="checked")

    held.refresh_from_db()
    assert held.status == Status.PENDING
    assert Approval.objects.get(golden__canonical_id=len_id).approved_by == steward


def test_a_new_version_needs_a_new_approval(steward) -> None:
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    services.approve_golden_record(golden(len_id), actor=steward)
    ingest("legal_entity", "erp", legal_entity(1, name="Northwind Services One GmbH"))
    outbox.fan_out_changes()

    v1, v2 = sorted(messages(len_id)["erp"], key=lambda m: m.golden_version)
    assert (v1.status, v2.status) == (Status.PENDING, Status.HELD)


def test_customer_in_review_is_held_until_the_pair_is_decided(steward) -> None:
    first = ingest("customer", "erp", customer(1))[0].canonical_id
    short_name = " ".join(customer(1)["name"].split()[:2])
    suspect = ingest("customer", "crm", {"source_id": "001X", "name": short_name, "country": "DE"})[
        0
    ]
    assert suspect.action == "queued_for_review"
    outbox.fan_out_changes()
    assert only(suspect.canonical_id, "crm").status == Status.HELD
    assert "open review candidate" in only(suspect.canonical_id, "crm").note

    mark_not_a_match(MatchCandidate.objects.get(), actor=steward)
    released = outbox.release_held()

    assert only(suspect.canonical_id, "crm").pk in released
    assert only(suspect.canonical_id, "crm").status == Status.PENDING
    assert first != suspect.canonical_id


def test_merge_retires_the_merged_record_in_each_target(steward) -> None:
    a = ingest("customer", "erp", customer(1))[0].canonical_id
    b = ingest("customer", "crm", customer(2, website="https://example.org"))[0].canonical_id
    merge_golden_records(survivor=golden(a), merged=[golden(b)], actor=steward)
    outbox.fan_out_changes()

    retire = [m for m in messages(b)["crm"] if m.operation == "retire"]
    assert len(retire) == 1
    assert retire[0].payload["merged_into"] == a
    assert retire[0].status == Status.PENDING  # a retire needs no approval of its own
    assert {m.golden_version for m in messages(a)["crm"]} == {1, 2}


# -- claims and ordering -------------------------------------------------------------------
def test_only_one_worker_claims_a_message(cus: str) -> None:
    outbox.fan_out_changes()
    message = only(cus, "crm")

    first = outbox.claim_message(message.pk, worker="w1")
    second = outbox.claim_message(message.pk, worker="w2")

    assert first.outcome == "claimed"
    assert first.message is not None and first.message.locked_by == "w1"
    assert second.outcome == "gone"


def test_a_message_is_not_claimed_before_it_is_due(cus: str) -> None:
    outbox.fan_out_changes()
    message = only(cus, "crm")
    OutboundMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert outbox.claim_message(message.pk, worker="w").outcome == "not_due"


def test_an_older_version_is_skipped_when_a_newer_one_is_queued(cus: str) -> None:
    ingest("customer", "crm", customer(1, name="Renamed Beratung GmbH"))
    outbox.fan_out_changes()
    v1, v2 = sorted(messages(cus)["crm"], key=lambda m: m.golden_version)

    assert outbox.claim_message(v1.pk, worker="w").outcome == "skipped"
    v1.refresh_from_db()
    assert v1.status == Status.SKIPPED and v1.note == "superseded by v2"
    assert outbox.claim_message(v2.pk, worker="w").outcome == "claimed"


def test_a_version_the_target_already_has_is_skipped_as_stale(cus: str) -> None:
    outbox.fan_out_changes()
    message = only(cus, "crm")
    SyncState.objects.filter(canonical_id=cus, target__code="crm").update(delivered_version=3)

    assert outbox.claim_message(message.pk, worker="w").outcome == "skipped"
    message.refresh_from_db()
    assert message.note == "stale: crm already has v3"


def test_a_newer_version_waits_while_an_older_one_is_in_flight(cus: str) -> None:
    outbox.fan_out_changes()
    v1 = only(cus, "crm")
    assert outbox.claim_message(v1.pk, worker="w1").outcome == "claimed"
    ingest("customer", "crm", customer(1, name="Renamed Beratung GmbH"))
    outbox.fan_out_changes()
    v2 = max(messages(cus)["crm"], key=lambda m: m.golden_version)

    claim = outbox.claim_message(v2.pk, worker="w2")

    assert claim.outcome == "busy" and claim.retry_in
    v2.refresh_from_db()
    assert v2.status == Status.PENDING and v2.next_attempt_at > timezone.now()


def test_claim_due_messages_claims_only_due_pending_ones(cus: str) -> None:
    ingest("customer", "crm", customer(2))
    outbox.fan_out_changes()
    OutboundMessage.objects.filter(target__code__in=["erp", "psa"]).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    claimed = outbox.claim_due_messages(worker="w", limit=10)
    assert {m.target.code for m in claimed} == {"crm"}
    assert len(claimed) == 2


# -- backoff, retry, dead, stuck, replay -------------------------------------------------
def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(settings) -> None:
    settings.MDM_SYNC = {"retry_base_seconds": 2.0, "retry_cap_seconds": 60.0}
    rng = random.Random(7)
    delays = [outbox.backoff_delay(n, rng=rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(60.0, 2.0 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 60.0
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered


def test_backoff_never_retries_before_retry_after(settings) -> None:
    settings.MDM_SYNC = {"retry_base_seconds": 1.0, "retry_cap_seconds": 60.0}
    assert outbox.backoff_delay(1, retry_after=30.0) >= 30.0


def _claimed(cus: str, target: str = "crm", worker: str = "w") -> OutboundMessage:
    outbox.fan_out_changes()
    claim = outbox.claim_message(only(cus, target).pk, worker=worker)
    assert claim.message is not None
    return claim.message


def test_schedule_retry_puts_it_back_with_a_delay_then_dead(cus: str, settings) -> None:
    settings.MDM_SYNC = {"max_attempts": 2, "retry_base_seconds": 1.0}
    message = _claimed(cus)
    outbox.start_attempt(message, worker="w")

    delay = outbox.schedule_retry(message, worker="w", error="HTTP 503: down", http_status=503)

    message.refresh_from_db()
    assert delay is not None and message.status == Status.PENDING
    assert message.next_attempt_at > timezone.now()
    assert message.last_error == "HTTP 503: down"

    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    message = outbox.claim_message(message.pk, worker="w").message
    assert message is not None
    outbox.start_attempt(message, worker="w")
    assert outbox.schedule_retry(message, worker="w", error="still down") is None
    message.refresh_from_db()
    assert message.status == Status.DEAD and message.attempts == 2


def test_outcomes_need_the_claim(cus: str) -> None:
    message = _claimed(cus, worker="w1")
    assert not outbox.mark_delivered(message, worker="someone-else", external_id="x")
    assert outbox.mark_delivered(message, worker="w1", external_id="x")


def test_a_lost_worker_in_flight_message_is_requeued_and_its_attempt_abandoned(cus: str) -> None:
    message = _claimed(cus)
    attempt = outbox.start_attempt(message, worker="w")
    OutboundMessage.objects.filter(pk=message.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )

    assert outbox.requeue_stuck() == [message.pk]

    message.refresh_from_db()
    attempt.refresh_from_db()
    assert message.status == Status.PENDING and message.locked_by == ""
    assert attempt.status == DeliveryAttempt.Status.ABANDONED


def test_replay_brings_dead_and_failed_messages_back(cus: str) -> None:
    outbox.fan_out_changes()
    crm, erp = only(cus, "crm"), only(cus, "erp")
    OutboundMessage.objects.filter(pk=crm.pk).update(status=Status.DEAD, attempts=20)
    OutboundMessage.objects.filter(pk=erp.pk).update(status=Status.DELIVERED)

    assert services.replay_messages([crm.pk, erp.pk]) == [crm.pk]

    crm.refresh_from_db()
    assert crm.status == Status.PENDING and crm.attempts == 0


def test_sweep_sends_each_due_message_once_per_requeue_window(cus: str) -> None:
    first = services.sweep_outbox(enqueue=False)
    again = services.sweep_outbox(enqueue=False)
    assert first.fanned_out == 3 and len(first.ids) == 3
    assert again.ids == []


# serialized_rollback like the other committing tests: a plain flush would re-create content
# types that their restore then inserts again.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_claim_is_not_hidden_by_locks_on_the_target_or_golden_rows() -> None:
    """Claims lock the message row only. Locking the joined target row too made every
    concurrent claim for the same target skip, and drop, its message."""
    import threading

    from django.db import connection, transaction

    from connectors.outbox import claim_message, fan_out_changes
    from connectors.testing import customer, ingest
    from golden.models import SourceSystem

    ingest("customer", "crm", customer(31))
    fan_out_changes()
    message = OutboundMessage.objects.filter(target__code="crm").get()
    holding, release = threading.Event(), threading.Event()

    def hold_target_row() -> None:
        with transaction.atomic():
            SourceSystem.objects.select_for_update().get(code="crm")
            holding.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=hold_target_row)
    thread.start()
    try:
        assert holding.wait(10)
        assert claim_message(message.pk, worker="w2").outcome == "claimed"
    finally:
        release.set()
        thread.join()


def test_the_next_retry_is_the_earliest_pending_message_not_waiting_for_a_dependency() -> None:
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    outbox.fan_out_changes()
    pending = OutboundMessage.objects.filter(canonical_id=cus, status=Status.PENDING)
    assert pending.exists()
    later, soon = timezone.now() + timedelta(minutes=5), timezone.now() + timedelta(seconds=30)
    pending.update(next_attempt_at=later)
    pending.filter(pk=pending.first().pk).update(next_attempt_at=soon)
    assert outbox.next_retry_due() == soon
    # A message that waits for a dependency is not a retry: it must not keep a run going.
    pending.update(waiting_for=f"customer:{cus}")
    assert outbox.next_retry_due() is None

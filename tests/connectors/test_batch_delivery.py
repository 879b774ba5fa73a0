"""Batch claims and batch delivery: concurrent claimers never share a message, one version
per record per batch, per-record outcomes inside one sObject Collections answer, and
the claim lease. Golden data from the real services, the sandboxes over real HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from django.db import connection, transaction
from django.utils import timezone

from connectors import outbox, services
from connectors.models import DeliveryAttempt, OutboundMessage, SyncState
from connectors.sandbox import RunningSandbox
from connectors.testing import (
    Sandboxes,
    count_by_external_id,
    customer,
    ingest,
    live_records,
    wait_until,
)
from golden.models import ExternalReference, SourceSystem

Status = OutboundMessage.Status


def crm() -> SourceSystem:
    return SourceSystem.objects.get(code="crm")


def crm_messages() -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(target__code="crm").order_by("pk"))


def claim(worker: str, limit: int = 200) -> outbox.BatchClaim:
    return outbox.claim_batch(
        target_id=crm().pk, entity_type="customer", worker=worker, limit=limit
    )


def api_calls(sandbox: RunningSandbox) -> int:
    traffic = sandbox.traffic()
    return len(traffic["admitted"]) + len(traffic["refused"])


# -- claims ---------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_batch_claimers_never_get_the_same_message() -> None:
    ingest("customer", "crm", *[customer(n) for n in range(1, 41)])
    outbox.fan_out_changes()
    expected = {m.pk for m in crm_messages()}
    claimed: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        mine: list[int] = []
        try:
            while True:
                batch = claim(name, limit=3)
                if not batch.looked_at:
                    break
                mine += [m.pk for m in batch.messages]
        finally:
            claimed[name] = mine
            connection.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    every = [pk for pks in claimed.values() for pk in pks]
    assert len(every) == len(set(every))  # nobody got a message someone else had
    assert set(every) == expected
    owners = dict(OutboundMessage.objects.filter(pk__in=expected).values_list("pk", "locked_by"))
    for name, pks in claimed.items():
        assert {owners[pk] for pk in pks} <= {name}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_claim_skips_rows_another_claimer_holds_instead_of_waiting() -> None:
    ingest("customer", "crm", *[customer(n) for n in range(1, 7)])
    outbox.fan_out_changes()
    messages = crm_messages()
    held_ids = [m.pk for m in messages[:2]]
    holding, release = threading.Event(), threading.Event()
    outcome: dict[str, bool] = {}

    def hold_rows() -> None:
        with transaction.atomic():
            list(OutboundMessage.objects.select_for_update().filter(pk__in=held_ids))
            holding.set()
            # Held until the claim below has returned (or, should it block, 20 s).
            outcome["released_by_claim"] = release.wait(20)
        connection.close()

    thread = threading.Thread(target=hold_rows)
    thread.start()
    try:
        assert holding.wait(10)
        batch = claim("w")
    finally:
        release.set()
        thread.join()

    assert outcome["released_by_claim"]  # the claim returned while the rows were held
    assert {m.pk for m in batch.messages} == {m.pk for m in messages[2:]}
    assert OutboundMessage.objects.filter(pk__in=held_ids, status=Status.PENDING).count() == 2


@pytest.mark.django_db
def test_a_batch_holds_one_version_per_record_and_sends_the_newest(
    sandboxes: Sandboxes,
) -> None:
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    ingest("customer", "crm", customer(1, name="Renamed Beratung GmbH"))
    other = ingest("customer", "crm", customer(2))[0].canonical_id
    outbox.fan_out_changes()
    v1, v2 = sorted(
        (m for m in crm_messages() if m.canonical_id == cus), key=lambda m: m.golden_version
    )

    outcomes = services.deliver_ready_messages(crm().pk, "customer")

    assert outcomes == {"skipped": 1, "delivered": 2}
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v1.note) == (Status.SKIPPED, "superseded by v2")
    assert v2.status == Status.DELIVERED
    assert not v1.delivery_attempts.exists()
    accounts = {r["external_id"]: r for r in live_records(sandboxes.crm, "Account")}
    assert accounts[cus]["fields"]["Name"] == "Renamed Beratung GmbH"
    assert accounts[cus]["writes"] == 1
    assert set(accounts) == {cus, other}
    # Both records went in one sObject Collections request.
    assert api_calls(sandboxes.crm) == 1
    state = SyncState.objects.get(canonical_id=cus, target__code="crm")
    assert (state.delivered_version, state.external_id) == (2, accounts[cus]["id"])
    ref = ExternalReference.objects.get(golden__canonical_id=other, system__code="crm")
    assert ref.external_id == accounts[other]["id"]


@pytest.mark.django_db
def test_a_newer_version_waits_while_an_older_one_is_in_flight_elsewhere() -> None:
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    outbox.fan_out_changes()
    [v1] = crm_messages()
    assert outbox.claim_message(v1.pk, worker="w1").outcome == "claimed"
    ingest("customer", "crm", customer(1, name="Renamed Beratung GmbH"))
    outbox.fan_out_changes()
    v2 = OutboundMessage.objects.get(canonical_id=cus, target__code="crm", golden_version=2)

    batch = claim("w2")

    assert batch.messages == [] and batch.busy == [v2.pk]
    v2.refresh_from_db()
    assert v2.status == Status.PENDING and v2.next_attempt_at > timezone.now()


# -- per-record outcomes of one collections call ----------------------------------------
@pytest.mark.django_db
def test_one_collections_answer_gives_each_record_its_own_outcome(
    sandboxes: Sandboxes,
) -> None:
    good, bad, raced = (
        r.canonical_id
        for r in ingest("customer", "crm", customer(1), customer(2, city="B" * 60), customer(3))
    )
    outbox.fan_out_changes()
    # Another client's create of `raced` is in flight for 3 s: Salesforce answers an
    # upsert of that external ID meanwhile with DUPLICATE_VALUE (retryable).
    sandboxes.crm.set_fault("duplicate_race", window=3.0)
    token = requests.post(
        sandboxes.crm.url + "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "mdm-sandbox",
            "client_secret": "sandbox-secret",
        },
        timeout=10,
    ).json()["access_token"]
    racer = threading.Thread(
        target=requests.patch,
        args=(f"{sandboxes.crm.url}/services/data/v59.0/sobjects/Account/MDM_Id__c/{raced}",),
        kwargs={
            "json": {"Name": "Created elsewhere"},
            "headers": {"Authorization": f"Bearer {token}"},
            "timeout": 10,
        },
    )
    racer.start()
    wait_until(lambda: api_calls(sandboxes.crm) == 1, 10)

    outcomes = services.deliver_ready_messages(crm().pk, "customer")
    racer.join()

    assert outcomes == {"delivered": 1, "failed": 1, "retry": 1}
    by_id = {m.canonical_id: m for m in crm_messages()}
    assert by_id[good].status == Status.DELIVERED
    assert by_id[bad].status == Status.FAILED and by_id[bad].last_http_status == 400
    assert "STRING_TOO_LONG" in by_id[bad].last_error
    assert by_id[raced].status == Status.PENDING and by_id[raced].attempts == 1
    assert "DUPLICATE_VALUE" in by_id[raced].last_error
    attempts = {
        a.message.canonical_id: a
        for a in DeliveryAttempt.objects.filter(message__target__code="crm")
    }
    assert attempts[good].status == DeliveryAttempt.Status.DELIVERED
    assert attempts[bad].status == DeliveryAttempt.Status.FAILED
    assert attempts[raced].status == DeliveryAttempt.Status.RETRY
    # The first collections call, and one more for the raced record alone.
    assert api_calls(sandboxes.crm) == 1 + 2

    # Its retry finds the record the other client created and updates it.
    OutboundMessage.objects.filter(pk=by_id[raced].pk).update(next_attempt_at=timezone.now())
    assert services.deliver_ready_messages(crm().pk, "customer") == {"delivered": 1}
    assert count_by_external_id(sandboxes.crm, "Account") == {good: 1, raced: 1}
    account = next(r for r in live_records(sandboxes.crm, "Account") if r["external_id"] == raced)
    assert account["fields"]["Name"] == customer(3)["name"]
    ref = ExternalReference.objects.get(golden__canonical_id=raced, system__code="crm")
    assert ref.external_id == account["id"]


@pytest.mark.django_db
def test_a_refused_collections_call_retries_every_record_in_it(sandboxes: Sandboxes) -> None:
    ids = [r.canonical_id for r in ingest("customer", "crm", customer(1), customer(2))]
    outbox.fan_out_changes()
    sandboxes.crm.set_fault("error_500", count=1)

    assert services.deliver_ready_messages(crm().pk, "customer") == {"retry": 2}

    for message in crm_messages():
        assert message.status == Status.PENDING and message.last_http_status == 500
    assert live_records(sandboxes.crm, "Account") == []
    assert sorted(m.canonical_id for m in crm_messages()) == sorted(ids)


# -- the lease ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_lost_workers_claim_is_reclaimable_only_after_its_lease(
    sandboxes: Sandboxes, settings
) -> None:
    settings.MDM_SYNC = {"lease_seconds": 60.0}
    cus = ingest("customer", "crm", customer(1))[0].canonical_id
    outbox.fan_out_changes()
    [dead] = claim("w1").messages
    outbox.start_attempt(dead, worker="w1")  # w1 dies during the call

    assert claim("w2").messages == []  # the lease holds
    assert outbox.requeue_stuck(now=timezone.now() + timedelta(seconds=30)) == []
    outbox.renew_lease([dead.pk], worker="w1", now=timezone.now() + timedelta(seconds=30))
    assert outbox.requeue_stuck(now=timezone.now() + timedelta(seconds=70)) == []

    assert outbox.requeue_stuck(now=timezone.now() + timedelta(seconds=91)) == [dead.pk]
    OutboundMessage.objects.filter(pk=dead.pk).update(next_attempt_at=timezone.now())
    assert services.deliver_ready_messages(crm().pk, "customer") == {"delivered": 1}

    # w1 coming back late cannot overwrite what the new claim did.
    assert not outbox.mark_failed(dead, worker="w1", error="late")
    message = OutboundMessage.objects.get(pk=dead.pk)
    assert message.status == Status.DELIVERED
    statuses = list(message.delivery_attempts.values_list("status", flat=True))
    assert statuses == [DeliveryAttempt.Status.ABANDONED, DeliveryAttempt.Status.DELIVERED]
    assert count_by_external_id(sandboxes.crm, "Account") == {cus: 1}

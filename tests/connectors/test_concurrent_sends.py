"""Batches sent concurrently to targets without a batch write (NetSuite, Kantata): every
record lands once with its own outcome, same-name Kantata customers go one after another,
and no more than ``max_concurrency`` requests are ever in flight, judged by the sandbox's
own in-flight accounting (``in_flight_peak``) and traffic log. Sandboxes over real HTTP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests
from django.db import connection
from django.utils import timezone

from connectors import outbox, services
from connectors.adapters.base import AdapterError, Delivery, UpsertResult
from connectors.adapters.kantata import KantataAdapter
from connectors.adapters.netsuite import NetSuiteAdapter
from connectors.models import DeliveryAttempt, OutboundMessage, SyncState
from connectors.sandbox import RunningSandbox
from connectors.testing import (
    Sandboxes,
    count_by_external_id,
    customer,
    delivered_erp_subsidiary,
    ingest,
    live_records,
)
from golden.models import ExternalReference, SourceSystem

CONCURRENCY = 4
Status = OutboundMessage.Status


def in_flight_peak(sandbox: RunningSandbox) -> int:
    """The most requests the sandbox ever had in flight at once (its own accounting)."""
    return requests.get(sandbox.url + "/_sandbox/info", timeout=10).json()["in_flight_peak"]


def upsert(entity_type: str, canonical_id: str, attributes: dict, **kw: Any) -> Delivery:
    return Delivery(1, "x", entity_type, canonical_id, 1, "upsert", attributes, **kw)


# -- NetSuite: the adapter ------------------------------------------------------------------
def ns_customer(n: int, *, subsidiary: str | None = "LEN-000001") -> Delivery:
    options = {"subsidiary": subsidiary} if subsidiary else {}
    attributes = {"name": f"Customer {n}", "country": "DE", "currency": "EUR"}
    return upsert("customer", f"CUS-{n:06d}", attributes, options=options)


def test_a_concurrent_batch_lands_every_record_once_and_keeps_each_outcome(
    netsuite: RunningSandbox,
) -> None:
    ns = NetSuiteAdapter(
        "erp",
        {"url": netsuite.url, "token": "netsuite-sandbox-token", "max_concurrency": CONCURRENCY},
    )
    ns.upsert(upsert("legal_entity", "LEN-000001", {"name": "Northwind GmbH", "country": "DE"}))
    batch = [ns_customer(n, subsidiary=None if n == 5 else "LEN-000001") for n in range(1, 21)]
    # NetSuite refuses CUS-000009's request as over its concurrency limit; every request
    # takes 0.2 s, so the senders overlap as they would against a real account.
    netsuite.set_fault("throttle", path="eid:CUS-000009")
    netsuite.set_fault("slow", delay=0.2)
    requests.delete(netsuite.url + "/_sandbox/traffic", timeout=10)

    outcomes = dict(zip([d.canonical_id for d in batch], ns.upsert_batch(batch), strict=True))

    failed, throttled = outcomes.pop("CUS-000005"), outcomes.pop("CUS-000009")
    assert isinstance(failed, AdapterError) and failed.permanent
    assert failed.http_status == 400 and "Primary Subsidiary" in failed.message
    assert isinstance(throttled, AdapterError) and not throttled.permanent
    assert (throttled.http_status, throttled.retry_after) == (429, None)
    stored = {r["external_id"]: r for r in live_records(netsuite, "customer")}
    assert set(stored) == set(outcomes)
    for canonical_id, outcome in outcomes.items():
        assert isinstance(outcome, UpsertResult)
        assert outcome.external_id == stored[canonical_id]["id"]
        assert stored[canonical_id]["writes"] == 1
    traffic = netsuite.traffic()
    assert len(traffic["admitted"]) == 19 and len(traffic["refused"]) == 1  # one request each
    assert in_flight_peak(netsuite) == CONCURRENCY  # concurrent, and never more


def test_without_max_concurrency_a_batch_goes_one_request_at_a_time(
    netsuite: RunningSandbox,
) -> None:
    """The control for the test above: the peak is what the adapter allowed."""
    ns = NetSuiteAdapter("erp", {"url": netsuite.url, "token": "netsuite-sandbox-token"})
    ns.upsert(upsert("legal_entity", "LEN-000001", {"name": "Northwind GmbH", "country": "DE"}))
    netsuite.set_fault("slow", delay=0.05)

    outcomes = ns.upsert_batch([ns_customer(n) for n in range(1, 7)])

    assert all(isinstance(o, UpsertResult) for o in outcomes)
    assert in_flight_peak(netsuite) == 1


# -- NetSuite: the delivery service ---------------------------------------------------------
@pytest.fixture
def target_options() -> dict[str, dict[str, Any]]:
    return {code: {"max_concurrency": CONCURRENCY} for code in ("erp", "psa")}


def erp_customers(count: int) -> tuple[SourceSystem, str, list[str]]:
    """A legal entity delivered to the ERP as the customers' subsidiary, then ``count``
    customers fanned out; returns the ERP, the legal entity's and the customers' IDs."""
    erp = SourceSystem.objects.get(code="erp")
    len_id = delivered_erp_subsidiary(erp)
    results = ingest("customer", "crm", *[customer(n) for n in range(1, count + 1)])
    outbox.fan_out_changes()
    return erp, len_id, [r.canonical_id for r in results]


@pytest.mark.django_db
def test_a_delivery_batch_to_the_erp_goes_out_concurrently_and_is_recorded_per_record(
    sandboxes: Sandboxes,
) -> None:
    erp, len_id, ids = erp_customers(30)
    throttled = ids[7]
    sandboxes.erp.set_fault("throttle", path=f"eid:{throttled}")
    sandboxes.erp.set_fault("slow", delay=0.05)
    requests.delete(sandboxes.erp.url + "/_sandbox/traffic", timeout=10)

    assert services.deliver_ready_messages(erp.pk, "customer") == {"delivered": 29, "retry": 1}

    messages = {
        m.canonical_id: m
        for m in OutboundMessage.objects.filter(target=erp, entity_type="customer")
    }
    retried = messages.pop(throttled)
    assert retried.status == Status.PENDING and retried.last_http_status == 429
    assert retried.delivery_attempts.get().status == DeliveryAttempt.Status.RETRY
    stored = {r["external_id"]: r["id"] for r in live_records(sandboxes.erp, "customer")}
    assert set(stored) == set(messages)
    for canonical_id, message in messages.items():
        assert message.status == Status.DELIVERED and message.external_id == stored[canonical_id]
        assert message.delivery_attempts.get().status == DeliveryAttempt.Status.DELIVERED
    crosswalk = dict(
        ExternalReference.objects.filter(system=erp, golden__entity_type="customer").values_list(
            "golden__canonical_id", "external_id"
        )
    )
    assert crosswalk == stored
    assert set(
        SyncState.objects.filter(target=erp, delivered_version=1)
        .exclude(canonical_id=len_id)
        .values_list("canonical_id", flat=True)
    ) == set(messages)
    assert 2 <= in_flight_peak(sandboxes.erp) <= CONCURRENCY

    # Its retry lands it; nothing anywhere is written twice.
    OutboundMessage.objects.filter(pk=retried.pk).update(next_attempt_at=retried.created_at)
    assert services.deliver_ready_messages(erp.pk, "customer") == {"delivered": 1}
    assert count_by_external_id(sandboxes.erp, "customer") == Counter(dict.fromkeys(ids, 1))
    assert {r["writes"] for r in live_records(sandboxes.erp, "customer")} == {1}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_long_concurrent_batch_keeps_its_claim_while_the_requests_run(
    sandboxes: Sandboxes, settings
) -> None:
    settings.MDM_SYNC = {"lease_seconds": 3.0}
    erp, _, ids = erp_customers(12)
    # 12 records, 4 at a time, 1.5 s each: the batch takes about 4.5 s, past the lease.
    sandboxes.erp.set_fault("slow", delay=1.5)
    seen: dict[str, int] = {}

    def look_after_the_first_lease() -> None:
        time.sleep(3.5)
        in_flight = OutboundMessage.objects.filter(
            target=erp, entity_type="customer", status=Status.IN_FLIGHT
        )
        seen["in_flight"] = in_flight.count()
        seen["expired"] = in_flight.filter(locked_until__lt=timezone.now()).count()
        connection.close()

    looker = threading.Thread(target=look_after_the_first_lease)
    looker.start()
    outcomes = services.deliver_ready_messages(erp.pk, "customer")
    looker.join()

    assert seen["in_flight"] > 0  # looked while the batch was still under way
    assert seen["expired"] == 0  # its lease was renewed meanwhile: nobody could take them
    assert outcomes == {"delivered": 12}
    assert count_by_external_id(sandboxes.erp, "customer") == Counter(dict.fromkeys(ids, 1))


# -- Kantata: same-name customers -----------------------------------------------------------
def kt_customer(canonical_id: str, name: str) -> Delivery:
    return upsert("customer", canonical_id, {"name": name, "country": "US", "city": "Boston"})


def test_same_name_customers_in_one_batch_become_distinct_groups_in_batch_order(
    kantata: RunningSandbox,
) -> None:
    kt = KantataAdapter(
        "psa",
        {"url": kantata.url, "token": "kantata-sandbox-token", "max_concurrency": CONCURRENCY},
    )
    batch = [
        kt_customer("CUS-000001", "Global Solutions Inc"),
        kt_customer("CUS-000002", "global solutions inc"),  # the same name to Kantata
        kt_customer("CUS-000003", "GLOBAL SOLUTIONS INC"),
        *(kt_customer(f"CUS-00001{n}", f"Other Company {n}") for n in range(6)),
    ]
    # Slow answers: without the same-name rule the creates would be in flight together.
    kantata.set_fault("slow", delay=0.1)

    outcomes = kt.upsert_batch(batch)

    assert all(isinstance(o, UpsertResult) and o.created for o in outcomes)
    groups = {r["id"]: r["fields"] for r in live_records(kantata, "workspace_groups")}
    assert len(groups) == len(batch)  # no duplicates, no orphans
    references = {
        r["fields"]["service_model_ref"]: str(r["fields"]["subject_id"])
        for r in live_records(kantata, "external_references")
    }
    assert references == {
        d.canonical_id: o.external_id for d, o in zip(batch, outcomes, strict=False)
    }  # type: ignore[union-attr]
    # The first in the batch keeps the plain name; the others are disambiguated.
    assert groups[references["CUS-000001"]]["name"] == "Global Solutions Inc"
    assert groups[references["CUS-000002"]]["name"] == "global solutions inc (CUS-000002)"
    assert groups[references["CUS-000003"]]["name"] == "GLOBAL SOLUTIONS INC (CUS-000003)"
    assert 2 <= in_flight_peak(kantata) <= CONCURRENCY

"""End to end: a real Celery worker process (with beat, so the sweeper runs) on Redis
and the test database, the three sandboxes over real HTTP, golden data through the real
services. Nothing is called directly: the after-commit kick starts everything.

Run: ``bash scripts/test.sh tests/connectors -m e2e``.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.db.models import Count

from connectors import dispatch, services
from connectors.models import DeliveryAttempt, OutboundMessage, TargetBinding
from connectors.testing import (
    Sandboxes,
    WorkerProcess,
    approved_legal_entity,
    count_by_external_id,
    customer,
    golden,
    ingest,
    legal_entity,
    live_records,
    project,
    settle,
    wait_until,
)
from golden.models import ExternalReference
from golden.services import merge_golden_records

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
Status = OutboundMessage.Status


# The module's tests and its worker share one set of sandboxes.
@pytest.fixture(scope="module")
def sandboxes(e2e_sandboxes: Sandboxes) -> Sandboxes:
    return e2e_sandboxes


@pytest.fixture(autouse=True)
def _fresh_sandboxes(sandboxes: Sandboxes) -> None:
    sandboxes.reset()


def status_counts() -> Counter[str]:
    return Counter(
        {
            row["status"]: row["n"]
            for row in OutboundMessage.objects.values("status").annotate(n=Count("pk"))
        }
    )


def assert_crosswalk_matches(sandbox_records: list[dict], system: str) -> None:
    for record in sandbox_records:
        ref = ExternalReference.objects.get(
            golden__canonical_id=record["external_id"], system__code=system
        )
        assert ref.external_id == record["id"], (system, record["external_id"])


def test_ingest_approve_and_merge_arrive_in_all_three_systems(
    worker: WorkerProcess, sandboxes: Sandboxes, steward
) -> None:
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    TargetBinding.objects.filter(system__code="erp", entity_type="customer").update(
        options={"subsidiary": len_id}
    )
    a = ingest("customer", "erp", customer(1))[0].canonical_id
    b = ingest("customer", "crm", customer(2, website="https://example.org"))[0].canonical_id
    prj = ingest("project", "erp", project(1, "C-00001", "LE-1"))[0].canonical_id
    # The legal entity needs a steward: the ERP customers and the ERP project wait for it.
    wait_until(lambda: OutboundMessage.objects.filter(status=Status.HELD).exists(), 20)
    services.approve_golden_record(golden(len_id), actor=steward)
    settle(worker)

    assert count_by_external_id(sandboxes.crm, "Account") == {a: 1, b: 1}
    assert count_by_external_id(sandboxes.erp, "customer") == {a: 1, b: 1}
    assert count_by_external_id(sandboxes.erp, "subsidiary") == {len_id: 1}
    assert count_by_external_id(sandboxes.erp, "job") == {prj: 1}
    assert count_by_external_id(sandboxes.psa, "workspaces") == {prj: 1}
    assert_crosswalk_matches(live_records(sandboxes.crm, "Account"), "crm")
    assert_crosswalk_matches(live_records(sandboxes.erp), "erp")
    assert_crosswalk_matches(live_records(sandboxes.psa, "workspaces"), "psa")
    assert status_counts().keys() <= {Status.DELIVERED, Status.SKIPPED}

    # The same delivery task sent again changes nothing: the claim refuses it.
    writes = {r["external_id"]: r["writes"] for r in live_records(sandboxes.crm, "Account")}
    attempts = DeliveryAttempt.objects.count()
    dispatch.enqueue_deliveries(OutboundMessage.objects.values_list("pk", flat=True))
    settle(worker)
    assert DeliveryAttempt.objects.count() == attempts
    assert {r["external_id"]: r["writes"] for r in live_records(sandboxes.crm, "Account")} == writes

    merge_golden_records(survivor=golden(a), merged=[golden(b)], actor=steward)
    settle(worker)

    accounts = {r["external_id"]: r["fields"] for r in live_records(sandboxes.crm, "Account")}
    assert accounts[b]["Description"] == f"Merged into {a} in MDM"
    assert accounts[a]["Website"] == "https://example.org"
    erp_customers = {r["external_id"]: r["fields"] for r in live_records(sandboxes.erp, "customer")}
    assert erp_customers[b]["isInactive"] is True
    assert erp_customers[b]["comments"] == f"Merged into {a} in MDM"
    assert count_by_external_id(sandboxes.crm, "Account") == {a: 1, b: 1}


def test_outage_rate_limits_and_lost_responses_lose_nothing_and_duplicate_nothing(
    worker: WorkerProcess, sandboxes: Sandboxes, steward
) -> None:
    sandboxes.erp.set_fault("down", mode="refuse", duration=4)
    sandboxes.crm.set_fault("rate_limit", per_second=3, duration=8)
    sandboxes.psa.set_fault("rate_limit", per_second=2, duration=8)
    sandboxes.crm.set_fault("drop_after_commit", count=3)
    sandboxes.psa.set_fault("drop_after_commit", count=2)
    approved_legal_entity(steward)

    n = 12
    created = ingest("customer", "erp", *[customer(i) for i in range(1, n + 1)])
    customers = {r.source_id: r.canonical_id for r in created}
    projects = ingest("project", "erp", *[project(i, f"C-{i:05d}", "LE-1") for i in range(1, 5)])
    # New versions while the first ones are still fighting the faults: the last one wins.
    renamed = {f"C-{i:05d}": f"Renamed {i} Beratung GmbH" for i in range(1, 6)}
    for source_id, name in renamed.items():
        n_ = int(source_id[2:])
        ingest("customer", "erp", customer(n_, name=name))
    settle(worker, timeout=90)

    expected = {canonical: 1 for canonical in customers.values()}
    assert count_by_external_id(sandboxes.crm, "Account") == expected
    assert count_by_external_id(sandboxes.erp, "customer") == expected
    prj_ids = {r.canonical_id: 1 for r in projects}
    assert count_by_external_id(sandboxes.erp, "job") == prj_ids
    assert count_by_external_id(sandboxes.psa, "workspaces") == prj_ids
    assert count_by_external_id(sandboxes.psa, "workspace_groups") == expected
    assert count_by_external_id(sandboxes.psa, "external_references") == {**expected, **prj_ids}

    names = {r["external_id"]: r["fields"]["Name"] for r in live_records(sandboxes.crm, "Account")}
    erp_names = {
        r["external_id"]: r["fields"]["companyName"]
        for r in live_records(sandboxes.erp, "customer")
    }
    for source_id, canonical in customers.items():
        want = renamed.get(source_id, customer(int(source_id[2:]))["name"])
        assert names[canonical] == want
        assert erp_names[canonical] == want

    counts = status_counts()
    assert counts[Status.FAILED] == counts[Status.DEAD] == 0, counts
    retried = DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.RETRY).count()
    assert retried > 0  # the faults did bite
    assert_crosswalk_matches(live_records(sandboxes.crm, "Account"), "crm")
    assert_crosswalk_matches(live_records(sandboxes.erp, "customer"), "erp")


def test_a_permanent_failure_lands_in_the_exception_queue_and_replays(
    worker: WorkerProcess, sandboxes: Sandboxes, steward
) -> None:
    approved_legal_entity(steward)
    bad = ingest("customer", "crm", customer(1, city="B" * 60))[0].canonical_id
    settle(worker)

    failed = OutboundMessage.objects.get(canonical_id=bad, target__code="crm")
    assert failed.status == Status.FAILED and "STRING_TOO_LONG" in failed.last_error
    assert count_by_external_id(sandboxes.erp, "customer") == {bad: 1}  # the ERP took it

    # The source fixes the record: v2 goes through; v1 stays in the exception queue.
    ingest("customer", "crm", customer(1, city="Berlin"))
    settle(worker)

    assert count_by_external_id(sandboxes.crm, "Account") == {bad: 1}
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
    # Replaying v1 never rolls the CRM back to the older version.
    services.replay_messages([failed.pk])
    settle(worker)
    failed.refresh_from_db()
    assert (failed.status, failed.note) == (Status.SKIPPED, "superseded by v2")
    [account] = live_records(sandboxes.crm, "Account")
    assert account["fields"]["BillingCity"] == "Berlin"


def test_a_worker_killed_mid_delivery_is_delivered_again_exactly_once(
    worker: WorkerProcess, sandboxes: Sandboxes, steward
) -> None:
    approved_legal_entity(steward)
    settle(worker)
    sandboxes.crm.set_fault("slow", delay=1.5)
    cus = ingest("customer", "erp", customer(1))[0].canonical_id
    sending = DeliveryAttempt.objects.filter(
        message__canonical_id=cus,
        message__target__code="crm",
        status=DeliveryAttempt.Status.SENDING,
    )
    wait_until(sending.exists, 20, worker.log_tail)

    worker.kill()  # mid-request: the CRM may still commit, the worker never hears back
    sandboxes.crm.clear_faults()
    worker.start()
    settle(worker)

    assert count_by_external_id(sandboxes.crm, "Account") == {cus: 1}
    message = OutboundMessage.objects.get(canonical_id=cus, target__code="crm")
    assert message.status == Status.DELIVERED
    statuses = list(message.delivery_attempts.values_list("status", flat=True))
    assert statuses[0] == DeliveryAttempt.Status.ABANDONED
    assert statuses[-1] == DeliveryAttempt.Status.DELIVERED
    ref = ExternalReference.objects.get(golden__canonical_id=cus, system__code="crm")
    assert ref.external_id == live_records(sandboxes.crm, "Account")[0]["id"]

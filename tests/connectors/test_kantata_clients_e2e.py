"""End to end: a customer merge arrives in the PSA. A real Celery worker process (with
beat) on Redis and the test database, the three sandboxes over real HTTP; golden data
and the merge through the real services, nothing delivered by hand.

Run: ``bash scripts/test.sh tests/connectors/test_kantata_clients_e2e.py -m e2e``.
"""

from __future__ import annotations

import pytest

from connectors.models import SyncState
from connectors.testing import (
    Sandboxes,
    WorkerProcess,
    approved_legal_entity,
    count_by_external_id,
    customer,
    golden,
    ingest,
    live_records,
    project,
    settle,
)
from golden.models import ExternalReference
from golden.services import merge_golden_records

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


# The module's tests and its worker share one set of sandboxes.
@pytest.fixture(scope="module")
def sandboxes(e2e_sandboxes: Sandboxes) -> Sandboxes:
    return e2e_sandboxes


def psa_groups(sandboxes: Sandboxes) -> dict[str, dict]:
    """Live workspace groups by canonical ID."""
    return {r["external_id"]: r for r in live_records(sandboxes.psa, "workspace_groups")}


def test_a_customer_merge_arrives_in_the_psa(
    worker: WorkerProcess, sandboxes: Sandboxes, steward
) -> None:
    sandboxes.psa.set_fault("drop_after_commit", count=2)  # lost answers on the way
    approved_legal_entity(steward)
    survivor = ingest("customer", "erp", customer(1))[0].canonical_id
    merged = ingest("customer", "erp", customer(2, website="https://example.org"))[0].canonical_id
    prj = ingest("project", "erp", project(1, "C-00002", "LE-1"))[0].canonical_id
    settle(worker)

    assert count_by_external_id(sandboxes.psa, "workspace_groups") == {survivor: 1, merged: 1}
    [workspace] = live_records(sandboxes.psa, "workspaces")
    before = psa_groups(sandboxes)
    assert before[merged]["fields"]["workspace_ids"] == [workspace["id"]]
    assert before[survivor]["fields"]["company"] is True
    for canonical_id in (survivor, merged):
        ref = ExternalReference.objects.get(golden__canonical_id=canonical_id, system__code="psa")
        assert ref.external_id == before[canonical_id]["id"]

    merge_golden_records(survivor=golden(survivor), merged=[golden(merged)], actor=steward)
    settle(worker)

    after = psa_groups(sandboxes)
    assert set(after) == {survivor, merged}  # no new group, none deleted
    kept, gone = after[survivor], after[merged]
    assert kept["id"] == before[survivor]["id"]
    # The survivor's group took the merged record's website, and its project.
    assert kept["fields"]["website"] == "https://example.org"
    assert kept["writes"] > before[survivor]["writes"]
    assert kept["fields"]["workspace_ids"] == [workspace["id"]]
    assert gone["fields"]["workspace_ids"] == []
    assert gone["fields"]["name"] == f"{customer(2)['name']} ({merged}, merged into {survivor})"
    [reference] = [
        r for r in live_records(sandboxes.psa, "external_references") if r["external_id"] == merged
    ]
    assert reference["fields"]["external_status"] == "merged"
    assert SyncState.objects.get(canonical_id=merged, target__code="psa").retired
    assert SyncState.objects.get(canonical_id=prj, target__code="psa").delivered_version >= 2
    # The same merge reached the CRM and the ERP.
    crm = {r["external_id"]: r["fields"] for r in live_records(sandboxes.crm, "Account")}
    assert crm[merged]["Description"] == f"Merged into {survivor} in MDM"
    erp = {r["external_id"]: r["fields"] for r in live_records(sandboxes.erp, "customer")}
    assert erp[merged]["isInactive"] is True

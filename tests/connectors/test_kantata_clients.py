"""Customers in the PSA: Kantata workspace groups in the sandbox over real HTTP, the
adapter's upsert, name conflicts, lost answers and retire against it, and projects joining
their customer's group through the delivery service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from connectors import outbox, services
from connectors.adapters.base import AdapterError, Delivery
from connectors.adapters.kantata import KantataAdapter
from connectors.models import OutboundMessage
from connectors.sandbox import RunningSandbox, start_sandbox
from connectors.testing import (
    Sandboxes,
    customer,
    ingest,
    live_records,
    project,
)
from golden.models import ExternalReference

API = "/api/v1"
TOKEN = {"Authorization": "Bearer kantata-sandbox-token"}
GROUPS = "workspace_groups"


def call(sandbox: RunningSandbox, method: str, path: str, body: Any = None, **kw: Any):
    return requests.request(method, sandbox.url + API + path, json=body, headers=TOKEN, **kw)


def create_group(sandbox: RunningSandbox, **fields: Any) -> dict[str, Any]:
    response = call(sandbox, "POST", "/workspace_groups.json", {"workspace_group": fields})
    assert response.status_code == 200, response.text
    body = response.json()
    return body[GROUPS][body["results"][0]["id"]]


def create_workspace(sandbox: RunningSandbox, title: str) -> str:
    body = {"workspace": {"title": title, "creator_role": "maven"}}
    response = call(sandbox, "POST", "/workspaces.json", body)
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["id"]


def group_reference(sandbox: RunningSandbox, group_id: str, ref: str) -> requests.Response:
    return call(
        sandbox,
        "POST",
        "/external_references/create_or_update",
        {
            "external_reference": {
                "subject_type": "WorkspaceGroup",
                "subject_id": int(group_id),
                "service_name": "mdm",
                "service_model": "customer",
                "service_model_ref": ref,
            }
        },
    )


def live_groups(sandbox: RunningSandbox) -> dict[str, dict[str, Any]]:
    """Live groups by sandbox ID: fields, external ID and write count."""
    return {
        r["id"]: {**r["fields"], "external_id": r["external_id"], "writes": r["writes"]}
        for r in live_records(sandbox, GROUPS)
    }


# -- the sandbox ---------------------------------------------------------------------------
def test_group_create_update_read_and_delete_with_or_without_json_suffix(
    kantata: RunningSandbox,
) -> None:
    created = create_group(kantata, name="Acme Consulting", company=True, notes="key account")
    assert created["company"] is True and created["id"] == "1"

    updated = call(
        kantata, "PUT", "/workspace_groups/1", {"workspace_group": {"website": "acme.example"}}
    )
    assert updated.status_code == 200
    group = updated.json()[GROUPS]["1"]
    assert (group["name"], group["website"], group["notes"]) == (
        "Acme Consulting",
        "acme.example",
        "key account",
    )
    listed = call(kantata, "GET", "/workspace_groups", params={"search": "acme"}).json()
    assert listed["count"] == 1 and listed["results"] == [{"key": GROUPS, "id": "1"}]
    assert call(kantata, "GET", "/workspace_groups.json", params={"company": "false"}).json()[
        "count"
    ] == (0)
    assert live_groups(kantata)["1"]["writes"] == 2

    deleted = call(kantata, "DELETE", "/workspace_groups/1.json")
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = call(kantata, "GET", "/workspace_groups/1.json")
    assert gone.status_code == 404
    assert gone.json() == {"errors": [{"type": "system", "message": "Workspace group 1 not found"}]}
    assert call(kantata, "GET", "/workspace_groups.json").json()["count"] == 0


def test_group_names_are_unique_without_regard_to_case(kantata: RunningSandbox) -> None:
    create_group(kantata, name="Global Solutions Inc")
    other = create_group(kantata, name="Global Solutions Inc (Boston)")

    duplicate = call(
        kantata,
        "POST",
        "/workspace_groups.json",
        {"workspace_group": {"name": " GLOBAL solutions inc"}},
    )
    assert duplicate.status_code == 422
    assert duplicate.json() == {
        "errors": [
            {"type": "validation", "message": "Name has already been taken", "field": "name"}
        ]
    }
    renamed = call(
        kantata,
        "PUT",
        f"/workspace_groups/{other['id']}.json",
        {"workspace_group": {"name": "global solutions INC"}},
    )
    assert renamed.status_code == 422
    blank = call(kantata, "POST", "/workspace_groups.json", {"workspace_group": {"notes": "x"}})
    assert blank.json()["errors"] == [
        {"type": "validation", "message": "Name can't be blank", "field": "name"}
    ]
    # Changing the case of a group's own name is no conflict.
    own = call(
        kantata,
        "PUT",
        "/workspace_groups/1.json",
        {"workspace_group": {"name": "GLOBAL Solutions Inc"}},
    )
    assert own.status_code == 200
    assert sorted(g["name"] for g in live_groups(kantata).values()) == [
        "GLOBAL Solutions Inc",
        "Global Solutions Inc (Boston)",
    ]


def test_workspaces_join_and_leave_groups_and_each_side_can_include_the_other(
    kantata: RunningSandbox,
) -> None:
    rollout, audit = create_workspace(kantata, "Rollout"), create_workspace(kantata, "Audit")
    group = create_group(kantata, name="Acme", add_workspace_ids=[int(rollout), audit])

    with_workspaces = call(
        kantata, "GET", f"/workspace_groups/{group['id']}", params={"include": "workspaces"}
    ).json()
    assert with_workspaces[GROUPS][group["id"]]["workspace_ids"] == [rollout, audit]
    assert sorted(with_workspaces["workspaces"]) == sorted([rollout, audit])

    call(
        kantata,
        "PUT",
        f"/workspace_groups/{group['id']}.json",
        {"workspace_group": {"remove_workspace_ids": [int(rollout)]}},
    )
    create_group(kantata, name="Strategic", add_workspace_ids=[int(audit)])
    workspaces = call(
        kantata, "GET", "/workspaces.json", params={"include": "workspace_groups"}
    ).json()
    assert workspaces["workspaces"][rollout]["workspace_group_ids"] == []
    assert workspaces["workspaces"][audit]["workspace_group_ids"] == [group["id"], "2"]
    assert sorted(workspaces[GROUPS]) == [group["id"], "2"]

    unknown = call(
        kantata,
        "POST",
        "/workspace_groups.json",
        {"workspace_group": {"name": "X", "add_workspace_ids": [99]}},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "add_workspace_ids"
    not_a_list = call(
        kantata,
        "POST",
        "/workspace_groups.json",
        {"workspace_group": {"name": "Y", "add_workspace_ids": "1"}},
    )
    assert not_a_list.status_code == 422


def test_external_references_name_groups_and_go_with_a_deleted_group(
    kantata: RunningSandbox,
) -> None:
    group = create_group(kantata, name="Acme", company=True)
    workspace = create_workspace(kantata, "Rollout")
    call(
        kantata,
        "PUT",
        f"/workspace_groups/{group['id']}.json",
        {"workspace_group": {"add_workspace_ids": [int(workspace)]}},
    )

    assert group_reference(kantata, group["id"], "CUS-000001").status_code == 200
    assert group_reference(kantata, "404", "CUS-000002").json()["errors"] == [
        {"type": "validation", "message": "Subject must exist", "field": "subject"}
    ]
    found = call(
        kantata,
        "GET",
        "/external_references",
        params={"subject_type": "WorkspaceGroup", "service_model_ref": "CUS-000001"},
    ).json()
    [reference] = found["external_references"].values()
    assert (reference["subject_type"], reference["subject_id"]) == ("WorkspaceGroup", group["id"])
    assert call(
        kantata, "GET", "/external_references", params={"subject_type": "Workspace"}
    ).json()["count"] == (0)
    # The records page shows the reference's ID beside the group, without counting a write.
    assert live_groups(kantata)[group["id"]]["external_id"] == "CUS-000001"
    assert live_groups(kantata)[group["id"]]["writes"] == 2
    page = requests.get(kantata.url + "/_sandbox/records.html").text
    assert "workspace_groups" in page and "CUS-000001" in page

    call(kantata, "DELETE", f"/workspace_groups/{group['id']}")
    assert call(
        kantata, "GET", "/external_references", params={"subject_type": "WorkspaceGroup"}
    ).json()["count"] == (0)
    assert call(kantata, "GET", f"/workspaces/{workspace}").status_code == 200
    assert group_reference(kantata, group["id"], "CUS-000001").status_code == 422


def test_groups_references_and_ids_survive_a_restart(tmp_path: Path, tls_dir: Path) -> None:
    state = tmp_path / "psa.sqlite3"
    with start_sandbox("psa", state_path=state, tls_dir=tls_dir) as first:
        group = create_group(first, name="Acme")
        group_reference(first, group["id"], "CUS-000001")
        call(first, "DELETE", f"/workspace_groups/{create_group(first, name='Gone')['id']}")

    with start_sandbox("psa", state_path=state, tls_dir=tls_dir) as again:
        assert live_groups(again)[group["id"]]["external_id"] == "CUS-000001"
        assert create_group(again, name="Next")["id"] == "3"  # IDs are never reused
        taken = call(again, "POST", "/workspace_groups.json", {"workspace_group": {"name": "acme"}})
        assert taken.status_code == 422


def test_group_routes_are_rate_limited_and_faulted_like_the_others(
    kantata: RunningSandbox,
) -> None:
    kantata.set_fault("rate_limit", per_second=1)
    answers = [call(kantata, "GET", "/workspace_groups.json") for _ in range(4)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and "Retry-After" not in limited[0].headers
    kantata.clear_faults()
    kantata.set_fault("drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        call(kantata, "POST", "/workspace_groups.json", {"workspace_group": {"name": "Acme"}})
    assert [g["name"] for g in live_groups(kantata).values()] == ["Acme"]  # committed


# -- the adapter ---------------------------------------------------------------------------
@pytest.fixture
def kt(kantata: RunningSandbox) -> KantataAdapter:
    return KantataAdapter("psa", {"url": kantata.url, "token": "kantata-sandbox-token"})


GLOBAL = {
    "name": "Global Solutions Inc",
    "email": "office@global.example",
    "phone": "+1 617 555 0100",
    "website": "https://global.example",
    "address_line1": "1 Main St",
    "postal_code": "02110",
    "city": "Boston",
    "country": "US",
}


def delivery(entity_type: str, canonical_id: str, attributes: dict, **kw: Any) -> Delivery:
    return Delivery(
        message_id=1,
        target="psa",
        entity_type=entity_type,
        canonical_id=canonical_id,
        version=kw.pop("version", 1),
        operation=kw.pop("operation", "upsert"),
        attributes=attributes,
        **kw,
    )


def references(sandbox: RunningSandbox, subject_type: str = "WorkspaceGroup") -> dict[str, str]:
    """service_model_ref -> subject ID."""
    return {
        r["fields"]["service_model_ref"]: r["fields"]["subject_id"]
        for r in live_records(sandbox, "external_references")
        if r["fields"]["subject_type"] == subject_type
    }


def test_customer_becomes_a_company_group_then_updates_in_place(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    created = kt.upsert(delivery("customer", "CUS-000001", GLOBAL))
    updated = kt.upsert(
        delivery("customer", "CUS-000001", {**GLOBAL, "city": "Cambridge"}, version=2)
    )

    assert created.created and updated.created is False
    assert created.external_id == updated.external_id
    assert created.object_type == "WorkspaceGroup"
    [group] = live_groups(kantata).values()
    assert group["name"] == "Global Solutions Inc" and group["company"] is True
    assert group["email"] == "office@global.example"
    assert group["phone_number"] == "+1 617 555 0100"
    assert group["address"] == "1 Main St, 02110, Cambridge, US"
    assert "[mdm:CUS-000001]" in group["notes"]
    assert group["writes"] == 2
    assert references(kantata) == {"CUS-000001": created.external_id}
    assert kt.fetch_by_external_id("customer", "CUS-000001")["name"] == "Global Solutions Inc"
    assert kt.fetch_by_external_id("customer", "CUS-404") is None


@pytest.mark.parametrize("lost", [1, 2])
def test_lost_answers_are_retried_without_a_second_group(
    kt: KantataAdapter, kantata: RunningSandbox, lost: int
) -> None:
    # 1: the group's POST commits unanswered; 2: so does the PUT adopting it on the retry.
    kantata.set_fault("drop_after_commit", count=lost)
    for _ in range(lost):
        with pytest.raises(AdapterError) as caught:
            kt.upsert(delivery("customer", "CUS-000001", GLOBAL))
        assert not caught.value.permanent

    result = kt.upsert(delivery("customer", "CUS-000001", GLOBAL))

    assert list(live_groups(kantata)) == [result.external_id]
    assert references(kantata) == {"CUS-000001": result.external_id}


def test_a_second_customer_of_the_same_name_is_told_apart_by_its_canonical_id(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    first = kt.upsert(delivery("customer", "CUS-000001", GLOBAL))
    second = kt.upsert(
        delivery("customer", "CUS-000002", {**GLOBAL, "name": "GLOBAL Solutions Inc"})
    )
    again = kt.upsert(
        delivery("customer", "CUS-000002", {**GLOBAL, "name": "GLOBAL Solutions Inc"}, version=2)
    )

    groups = live_groups(kantata)
    assert groups[first.external_id]["name"] == "Global Solutions Inc"
    assert groups[second.external_id]["name"] == "GLOBAL Solutions Inc (CUS-000002)"
    assert again.external_id == second.external_id and len(groups) == 2

    # Once the first is merged away, its plain name is free for the other.
    kt.retire(
        delivery("customer", "CUS-000001", GLOBAL, operation="retire", merged_into="CUS-000002")
    )
    kt.upsert(
        delivery("customer", "CUS-000002", {**GLOBAL, "name": "GLOBAL Solutions Inc"}, version=3)
    )
    assert live_groups(kantata)[second.external_id]["name"] == "GLOBAL Solutions Inc"


def test_a_lost_answer_for_a_renamed_duplicate_still_makes_one_group(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    kt.upsert(delivery("customer", "CUS-000001", GLOBAL))
    kantata.set_fault("drop_after_commit")
    with pytest.raises(AdapterError):
        kt.upsert(delivery("customer", "CUS-000002", GLOBAL))

    second = kt.upsert(delivery("customer", "CUS-000002", GLOBAL))

    assert sorted(g["name"] for g in live_groups(kantata).values()) == [
        "Global Solutions Inc",
        "Global Solutions Inc (CUS-000002)",
    ]
    assert references(kantata)["CUS-000002"] == second.external_id


def test_other_validation_errors_are_permanent(kt: KantataAdapter) -> None:
    with pytest.raises(AdapterError) as caught:
        kt.upsert(delivery("customer", "CUS-000001", {**GLOBAL, "name": "  "}))
    assert caught.value.permanent and caught.value.http_status == 422
    assert "Name can't be blank (name)" in caught.value.message


def test_retire_renames_the_group_marks_its_reference_and_an_undo_restores_it(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    workspace = create_workspace(kantata, "Rollout")
    group_id = kt.upsert(delivery("customer", "CUS-000002", GLOBAL)).external_id
    call(
        kantata,
        "PUT",
        f"/workspace_groups/{group_id}.json",
        {"workspace_group": {"add_workspace_ids": [int(workspace)]}},
    )

    retired = kt.retire(
        delivery("customer", "CUS-000002", GLOBAL, operation="retire", merged_into="CUS-000001")
    )

    assert retired is not None and retired.external_id == group_id
    group = live_groups(kantata)[group_id]
    assert group["name"] == "Global Solutions Inc (CUS-000002, merged into CUS-000001)"
    assert group["notes"] == "Merged into CUS-000001 in MDM [mdm:CUS-000002]"
    assert group["workspace_ids"] == [workspace]  # kept, not deleted, workspaces untouched
    [reference] = live_records(kantata, "external_references")
    assert reference["fields"]["external_status"] == "merged"
    assert reference["fields"]["external_message"] == "Merged into CUS-000001 in MDM"
    assert kt.retire(delivery("customer", "CUS-404", {}, operation="retire")) is None

    # An undone merge sends the record again: the same group, its name and a clean mark.
    kt.upsert(delivery("customer", "CUS-000002", GLOBAL, version=3))
    assert live_groups(kantata)[group_id]["name"] == "Global Solutions Inc"
    [reference] = live_records(kantata, "external_references")
    assert reference["fields"]["external_status"] == ""
    assert len(live_groups(kantata)) == 1


PROJECT = {"name": "Rollout Global", "currency": "USD", "start_date": "2026-01-05"}


def test_a_project_joins_its_customers_group_and_leaves_the_previous_customers(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    old = kt.upsert(delivery("customer", "CUS-000002", {"name": "Global (old)"})).external_id
    new = kt.upsert(delivery("customer", "CUS-000001", GLOBAL)).external_id
    hand_made = create_group(kantata, name="Strategic accounts")["id"]

    workspace = kt.upsert(
        delivery("project", "PRJ-000001", {**PROJECT, "customer": "CUS-000002"})
    ).external_id
    call(
        kantata,
        "PUT",
        f"/workspace_groups/{hand_made}.json",
        {"workspace_group": {"add_workspace_ids": [int(workspace)]}},
    )
    assert live_groups(kantata)[old]["workspace_ids"] == [workspace]

    writes = live_groups(kantata)[new]["writes"]
    kt.upsert(delivery("project", "PRJ-000001", {**PROJECT, "customer": "CUS-000001"}, version=2))
    kt.upsert(delivery("project", "PRJ-000001", {**PROJECT, "customer": "CUS-000001"}, version=3))

    groups = live_groups(kantata)
    assert groups[new]["workspace_ids"] == [workspace]
    assert groups[new]["writes"] == writes + 1  # joined once; the repeat changes nothing
    assert groups[old]["workspace_ids"] == []
    assert groups[hand_made]["workspace_ids"] == [workspace]  # not ours to manage
    assert len(live_records(kantata, "workspaces")) == 1


def test_a_project_whose_customer_group_was_deleted_in_kantata_fails_with_the_reason(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    group = kt.upsert(delivery("customer", "CUS-000001", GLOBAL)).external_id
    call(kantata, "DELETE", f"/workspace_groups/{group}.json")

    with pytest.raises(AdapterError) as caught:
        kt.upsert(delivery("project", "PRJ-000001", {**PROJECT, "customer": "CUS-000001"}))

    assert caught.value.permanent
    assert "no workspace group for customer CUS-000001" in caught.value.message


# -- through the delivery service ----------------------------------------------------------
def psa_message(canonical_id: str) -> OutboundMessage:
    return OutboundMessage.objects.filter(canonical_id=canonical_id, target__code="psa").latest(
        "golden_version"
    )


@pytest.mark.django_db
def test_customers_route_to_the_psa_and_a_project_waits_for_its_customer_there(
    sandboxes: Sandboxes,
) -> None:
    cus = ingest("customer", "erp", customer(1))[0].canonical_id
    prj = ingest("project", "erp", project(1, "C-00001", "LE-1"))[0].canonical_id
    outbox.fan_out_changes()

    assert sorted(
        OutboundMessage.objects.filter(canonical_id=cus).values_list("target__code", flat=True)
    ) == ["crm", "erp", "psa"]
    assert services.deliver_outbound_message(psa_message(prj).pk) == "waiting"
    assert psa_message(prj).note == f"waiting for {cus} in psa"

    assert services.deliver_outbound_message(psa_message(cus).pk) == "delivered"
    assert psa_message(prj).waiting_for == ""  # released by the customer's delivery
    assert services.deliver_outbound_message(psa_message(prj).pk) == "delivered"

    [group] = live_records(sandboxes.psa, GROUPS)
    [workspace] = live_records(sandboxes.psa, "workspaces")
    assert group["external_id"] == cus and group["fields"]["workspace_ids"] == [workspace["id"]]
    ref = ExternalReference.objects.get(golden__canonical_id=cus, system__code="psa")
    assert (ref.external_id, ref.object_type) == (group["id"], "WorkspaceGroup")

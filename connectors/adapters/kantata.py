"""Kantata OX (PSA): customers are company workspace groups, projects are workspaces;
External References are the upsert key for both.

Neither object has an upsert, so one delivery is: look up the external reference
(service ``mdm``, model = entity type, ref = canonical ID) → ``PUT`` the object it names;
or ``POST`` a new object and then ``create_or_update`` its reference.

A response lost after the ``POST`` committed (a dropped connection) would make the retry
create a second object. So each object also carries the canonical ID (a workspace's
``project_code``, a group's notes ``[mdm:CUS-…]``), and before creating, an object that
carries ours is adopted instead.

Group names are unique in a Kantata account (without regard to case), but two golden
customers may well share one ("Global Solutions Inc" in two cities). The first to arrive
keeps the plain name; another is named ``Name (CUS-…)``, only when the plain name is taken.
Every push asks for the plain name first, so the suffix goes once the name is free.
Customers of one batch that share a name (regardless of case) are sent one after another,
in batch order, so the first keeps the plain name and the rule never depends on Kantata
checking names atomically under concurrent creates (other records of the batch go out
concurrently, ``max_concurrency`` at a time).

A project joins its customer's group (the outbox makes it wait until the customer is in
Kantata) and leaves any other group that MDM keeps for a customer; groups people made
for their own purposes keep their workspaces.

429 comes without Retry-After (none is documented), so the outbox's backoff decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from connectors.adapters.base import (
    Adapter,
    AdapterError,
    Delivery,
    HttpClient,
    UpsertResult,
    error_for_response,
    json_or_text,
)
from connectors.adapters.mappings import mapped_fields
from golden.entities import EntityType

API = "/api/v1"
SERVICE_NAME = "mdm"
WORKSPACE = "Workspace"
GROUP = "WorkspaceGroup"
ADDRESS_PARTS = ("address_line1", "postal_code", "city", "region", "country")


@dataclass(frozen=True)
class SavedWorkspace:
    """A workspace as written: its ID, whether it is new, and the groups it is in."""

    workspace_id: str
    created: bool
    http_status: int
    group_ids: list[str]


def describe_kantata(response: requests.Response) -> str:
    body = json_or_text(response)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return "; ".join(
            str(e.get("message", e)) + (f" ({e['field']})" if e.get("field") else "")
            for e in body["errors"]
            if isinstance(e, dict)
        )
    return str(body)[:500]


def _objects(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Kantata's envelope: ``results`` lists the order, objects are keyed by ID."""
    table = body.get(key) or {}
    return [table[r["id"]] for r in body.get("results", []) if r.get("key") == key]


def _name_taken(response: requests.Response) -> bool:
    """A 422 whose only complaint is a group name already in use."""
    body = json_or_text(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    return bool(errors) and all(
        isinstance(e, dict) and e.get("field") == "name" and "taken" in str(e.get("message"))
        for e in errors
    )


def marker(canonical_id: str) -> str:
    """How a group's notes name its golden record (found again after a lost answer)."""
    return f"[mdm:{canonical_id}]"


def group_address(attributes: Mapping[str, Any]) -> str | None:
    """Kantata keeps a group's address as one text."""
    parts = [str(attributes[p]) for p in ADDRESS_PARTS if attributes.get(p)]
    return ", ".join(parts) or None


class KantataAdapter(Adapter):
    kind = "kantata"
    label = "Kantata"

    def __init__(self, code: str, config: Mapping[str, Any]) -> None:
        super().__init__(code, config)
        self.http = HttpClient(
            str(self.config["url"]).rstrip("/") + API,
            session=self.paced_session(),
            auth=lambda refresh: {"Authorization": f"Bearer {self.config.get('token', '')}"},
            describe=describe_kantata,
            label=self.label,
        )
        self.creator_role = str(self.config.get("creator_role", "maven"))

    def send_lane(self, delivery: Delivery) -> str:
        """Same-name customers share a lane: which one keeps the plain name is decided by
        the batch's order, not by a race between two creates."""
        if delivery.entity_type == EntityType.CUSTOMER:
            name = str(delivery.attributes.get("name") or "").strip().casefold()
            if name:
                return f"name:{name}"
        return super().send_lane(delivery)

    def upsert(self, delivery: Delivery) -> UpsertResult:
        if delivery.entity_type == EntityType.CUSTOMER:
            return self._upsert_group(delivery)
        return self._upsert_workspace(delivery)

    def retire(self, delivery: Delivery) -> UpsertResult | None:
        if delivery.entity_type == EntityType.CUSTOMER:
            return self._retire_group(delivery)
        reference = self._referenced(WORKSPACE, delivery.entity_type, delivery.canonical_id)
        if reference is None:
            return None
        workspace_id = str(reference["subject_id"])
        response = self.http.request(
            "PUT",
            f"/workspaces/{workspace_id}.json",
            json={"workspace": {"archived": True}},
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        return UpsertResult(workspace_id, WORKSPACE, False, response.status_code)

    def fetch_by_external_id(self, entity_type: str, canonical_id: str) -> dict[str, Any] | None:
        subject, path, key = (
            (GROUP, "workspace_groups", "workspace_groups")
            if entity_type == EntityType.CUSTOMER
            else (WORKSPACE, "workspaces", "workspaces")
        )
        reference = self._referenced(subject, entity_type, canonical_id)
        if reference is None:
            return None
        response = self.http.request("GET", f"/{path}/{reference['subject_id']}.json", allow=(404,))
        if response.status_code == 404:
            return None
        return _objects(response.json(), key)[0]

    # -- customers: company workspace groups ---------------------------------------------
    def _upsert_group(self, delivery: Delivery) -> UpsertResult:
        fields = {
            **mapped_fields(self.mapping(delivery.entity_type), delivery.attributes),
            "company": True,
            "address": group_address(delivery.attributes),
            "notes": f"Customer master data from MDM {marker(delivery.canonical_id)}",
        }
        reference = self._referenced(GROUP, delivery.entity_type, delivery.canonical_id)
        group_id = str(reference["subject_id"]) if reference else self._orphan_group(delivery)
        if group_id is not None:
            response = self._save_group(
                "PUT", f"/workspace_groups/{group_id}.json", fields, delivery.canonical_id
            )
            if response.status_code != 404:
                # Adopt an orphan, or clear the retired mark of a record MDM revived
                # (an undone merge, an unmerge).
                if reference is None or reference.get("external_status"):
                    self._reference(GROUP, group_id, delivery)
                return UpsertResult(group_id, GROUP, False, response.status_code)
        response = self._save_group("POST", "/workspace_groups.json", fields, delivery.canonical_id)
        group_id = str(_objects(response.json(), "workspace_groups")[0]["id"])
        self._reference(GROUP, group_id, delivery)
        return UpsertResult(group_id, GROUP, True, response.status_code)

    def _save_group(
        self, method: str, path: str, fields: dict[str, Any], canonical_id: str
    ) -> requests.Response:
        """Write the group under its own name, or ``Name (CUS-…)`` when another group has
        that name. 404 is returned (the group is gone); other errors raise."""
        response = self.http.request(
            method, path, json={"workspace_group": fields}, allow=(404, 422)
        )
        if response.status_code == 422 and _name_taken(response):
            distinct = {**fields, "name": f"{fields['name']} ({canonical_id})"}
            response = self.http.request(
                method, path, json={"workspace_group": distinct}, allow=(404, 422)
            )
        if response.status_code == 422:
            raise error_for_response(response, describe_kantata(response))
        return response

    def _retire_group(self, delivery: Delivery) -> UpsertResult | None:
        """A merged or retired customer's group is kept, renamed and its reference marked.

        Deleting it would be final in Kantata and would take what PSA users hung on it
        (user group memberships that give people access to its workspaces, rate card sets,
        notes), while MDM can still undo the merge. Moving its workspaces to the survivor
        is not done here either: MDM re-sends every project whose customer changed, and
        each joins its new customer's group then. The new name keeps the group from being
        picked for new work and frees the plain name.
        """
        reference = self._referenced(GROUP, delivery.entity_type, delivery.canonical_id)
        if reference is None:
            return None
        group_id = str(reference["subject_id"])
        outcome = f"merged into {delivery.merged_into}" if delivery.merged_into else "retired"
        name = delivery.attributes.get("name") or delivery.canonical_id
        said = f"{outcome[0].upper()}{outcome[1:]} in MDM"
        fields = {
            # The canonical ID keeps the name unique among retired groups too.
            "name": f"{name} ({delivery.canonical_id}, {outcome})",
            "notes": f"{said} {marker(delivery.canonical_id)}",
        }
        response = self.http.request(
            "PUT",
            f"/workspace_groups/{group_id}.json",
            json={"workspace_group": fields},
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        self._reference(
            GROUP,
            group_id,
            delivery,
            external_status=outcome.split()[0],
            external_message=said,
        )
        return UpsertResult(group_id, GROUP, False, response.status_code)

    def _orphan_group(self, delivery: Delivery) -> str | None:
        """A group an earlier attempt created whose response (or reference) was lost."""
        name = str(delivery.attributes.get("name") or "")
        if not name:
            return None
        response = self.http.request(
            "GET", "/workspace_groups.json", params={"search": name, "per_page": 200}
        )
        for group in _objects(response.json(), "workspace_groups"):
            if marker(delivery.canonical_id) in str(group.get("notes") or ""):
                return str(group["id"])
        return None

    # -- projects: workspaces ------------------------------------------------------------
    def _upsert_workspace(self, delivery: Delivery) -> UpsertResult:
        mapping = self.mapping(delivery.entity_type)
        fields = {
            **mapped_fields(mapping, delivery.attributes),
            "project_code": delivery.canonical_id,
            "archived": delivery.attributes.get("status") == "closed",
        }
        if delivery.attributes.get("code"):
            fields["description"] = f"Project code {delivery.attributes['code']}"
        result = self._save_workspace(delivery, fields)
        self._join_customer_group(result.workspace_id, result.group_ids, delivery)
        return UpsertResult(result.workspace_id, WORKSPACE, result.created, result.http_status)

    def _save_workspace(self, delivery: Delivery, fields: dict[str, Any]) -> SavedWorkspace:
        reference = self._referenced(WORKSPACE, delivery.entity_type, delivery.canonical_id)
        workspace_id = str(reference["subject_id"]) if reference else self._orphan(delivery)
        if workspace_id is not None:
            response = self.http.request(
                "PUT",
                f"/workspaces/{workspace_id}.json",
                json={"workspace": fields},
                params={"include": "workspace_groups"},
                allow=(404,),
            )
            if response.status_code != 404:
                if reference is None:
                    self._reference(WORKSPACE, workspace_id, delivery)  # adopt the orphan
                workspace = _objects(response.json(), "workspaces")[0]
                groups = [str(g) for g in workspace.get("workspace_group_ids", [])]
                return SavedWorkspace(workspace_id, False, response.status_code, groups)
        response = self.http.request(
            "POST",
            "/workspaces.json",
            json={"workspace": {**fields, "creator_role": self.creator_role}},
        )
        workspace_id = str(_objects(response.json(), "workspaces")[0]["id"])
        self._reference(WORKSPACE, workspace_id, delivery)
        return SavedWorkspace(workspace_id, True, response.status_code, [])

    def _join_customer_group(
        self, workspace_id: str, current: list[str], delivery: Delivery
    ) -> None:
        """Put the workspace in its customer's group and out of other customers' groups."""
        customer = delivery.attributes.get("customer")
        wanted = None
        if customer:
            reference = self._referenced(GROUP, EntityType.CUSTOMER, str(customer))
            if reference is None:
                # The outbox sends a project only after its customer, so the group was
                # deleted in Kantata since: sending the customer again recreates it.
                raise AdapterError(
                    f"Kantata has no workspace group for customer {customer} (deleted in "
                    f"Kantata?); send the customer again, then replay this project",
                    permanent=True,
                )
            wanted = str(reference["subject_id"])
            if wanted not in current:
                self._change_membership(wanted, "add_workspace_ids", workspace_id)
        others = [g for g in current if g != wanted]
        for group_id in self._customer_groups(others):
            self._change_membership(group_id, "remove_workspace_ids", workspace_id)

    def _customer_groups(self, group_ids: list[str]) -> list[str]:
        """Those of ``group_ids`` that MDM keeps for a customer."""
        if not group_ids:
            return []
        response = self.http.request(
            "GET",
            "/external_references.json",
            params={
                "subject_type": GROUP,
                "subject_ids": ",".join(group_ids),
                "service_name": SERVICE_NAME,
                "service_model": EntityType.CUSTOMER,
                "per_page": 200,
            },
        )
        found = {str(r["subject_id"]) for r in _objects(response.json(), "external_references")}
        return [g for g in group_ids if g in found]

    def _change_membership(self, group_id: str, change: str, workspace_id: str) -> None:
        self.http.request(
            "PUT",
            f"/workspace_groups/{group_id}.json",
            json={"workspace_group": {change: [int(workspace_id)]}},
        )

    def _orphan(self, delivery: Delivery) -> str | None:
        """A workspace an earlier attempt created whose response (or reference) was lost."""
        title = str(delivery.attributes.get("name") or "")
        if not title:
            return None
        response = self.http.request(
            "GET",
            "/workspaces.json",
            params={"search": title, "include_archived": "true", "per_page": 200},
        )
        for workspace in _objects(response.json(), "workspaces"):
            if workspace.get("project_code") == delivery.canonical_id:
                return str(workspace["id"])
        return None

    # -- references ------------------------------------------------------------------------
    def _referenced(
        self, subject_type: str, entity_type: str, canonical_id: str
    ) -> dict[str, Any] | None:
        response = self.http.request(
            "GET",
            "/external_references.json",
            params={
                "subject_type": subject_type,
                "service_name": SERVICE_NAME,
                "service_model": entity_type,
                "service_model_ref": canonical_id,
            },
        )
        refs = _objects(response.json(), "external_references")
        # The newest: an older one may name an object deleted in Kantata since.
        return refs[-1] if refs else None

    def _reference(
        self,
        subject_type: str,
        subject_id: str,
        delivery: Delivery,
        *,
        external_status: str = "",
        external_message: str = "",
    ) -> None:
        self.http.request(
            "POST",
            "/external_references/create_or_update.json",
            json={
                "external_reference": {
                    "subject_type": subject_type,
                    "subject_id": subject_id,
                    "service_name": SERVICE_NAME,
                    "service_model": delivery.entity_type,
                    "service_model_ref": delivery.canonical_id,
                    "status": "successful",
                    "external_status": external_status,
                    "external_message": external_message,
                }
            },
        )

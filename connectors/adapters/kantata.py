"""Kantata OX (PSA): projects are workspaces; External References are the upsert key.

Workspaces have no upsert, so one delivery is: look up the external reference
(service ``mdm``, model = entity type, ref = canonical ID) → ``PUT`` the workspace it
names; or ``POST`` a new workspace and then ``create_or_update`` its reference.

A response lost after the ``POST`` committed (a dropped connection) would make the retry
create a second workspace. So the workspace's ``project_code`` carries the canonical ID,
and before creating, a workspace with our title and that code is adopted instead.

429 comes without Retry-After (none is documented), so the outbox's backoff decides.
Kantata's clients are workspace groups, which the sandbox does not model: only projects
are sent (see ``mappings.FIELD_MAPPINGS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from connectors.adapters.base import (
    Adapter,
    Delivery,
    HttpClient,
    TargetSession,
    UpsertResult,
    json_or_text,
)
from connectors.adapters.mappings import mapped_fields

API = "/api/v1"
SERVICE_NAME = "mdm"


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


class KantataAdapter(Adapter):
    kind = "kantata"
    label = "Kantata"

    def __init__(self, code: str, config: Mapping[str, Any]) -> None:
        super().__init__(code, config)
        session = TargetSession(timeout=self.timeout, ca_bundle=self.config.get("ca_bundle"))
        self.http = HttpClient(
            str(self.config["url"]).rstrip("/") + API,
            session=session,
            auth=lambda refresh: {"Authorization": f"Bearer {self.config.get('token', '')}"},
            describe=describe_kantata,
            label=self.label,
        )
        self.creator_role = str(self.config.get("creator_role", "maven"))

    def upsert(self, delivery: Delivery) -> UpsertResult:
        mapping = self.mapping(delivery.entity_type)
        fields = {
            **mapped_fields(mapping, delivery.attributes),
            "project_code": delivery.canonical_id,
            "archived": delivery.attributes.get("status") == "closed",
        }
        if delivery.attributes.get("code"):
            fields["description"] = f"Project code {delivery.attributes['code']}"
        workspace_id = self._referenced_workspace(delivery.entity_type, delivery.canonical_id)
        referenced = workspace_id is not None
        workspace_id = workspace_id or self._orphan(delivery)
        if workspace_id is not None:
            response = self.http.request(
                "PUT", f"/workspaces/{workspace_id}.json", json={"workspace": fields}, allow=(404,)
            )
            if response.status_code != 404:
                if not referenced:
                    self._reference(delivery, workspace_id)  # adopt the orphan
                return UpsertResult(workspace_id, "Workspace", False, response.status_code)
        response = self.http.request(
            "POST",
            "/workspaces.json",
            json={"workspace": {**fields, "creator_role": self.creator_role}},
        )
        workspace_id = str(_objects(response.json(), "workspaces")[0]["id"])
        self._reference(delivery, workspace_id)
        return UpsertResult(workspace_id, "Workspace", True, response.status_code)

    def retire(self, delivery: Delivery) -> UpsertResult | None:
        workspace_id = self._referenced_workspace(delivery.entity_type, delivery.canonical_id)
        if workspace_id is None:
            return None
        response = self.http.request(
            "PUT",
            f"/workspaces/{workspace_id}.json",
            json={"workspace": {"archived": True}},
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        return UpsertResult(workspace_id, "Workspace", False, response.status_code)

    def fetch_by_external_id(self, entity_type: str, canonical_id: str) -> dict[str, Any] | None:
        workspace_id = self._referenced_workspace(entity_type, canonical_id)
        if workspace_id is None:
            return None
        response = self.http.request("GET", f"/workspaces/{workspace_id}.json", allow=(404,))
        if response.status_code == 404:
            return None
        return _objects(response.json(), "workspaces")[0]

    # -- references ------------------------------------------------------------------------
    def _referenced_workspace(self, entity_type: str, canonical_id: str) -> str | None:
        response = self.http.request(
            "GET",
            "/external_references.json",
            params={
                "subject_type": "Workspace",
                "service_name": SERVICE_NAME,
                "service_model": entity_type,
                "service_model_ref": canonical_id,
            },
        )
        refs = _objects(response.json(), "external_references")
        return str(refs[0]["subject_id"]) if refs else None

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

    def _reference(self, delivery: Delivery, workspace_id: str) -> None:
        self.http.request(
            "POST",
            "/external_references/create_or_update.json",
            json={
                "external_reference": {
                    "subject_type": "Workspace",
                    "subject_id": workspace_id,
                    "service_name": SERVICE_NAME,
                    "service_model": delivery.entity_type,
                    "service_model_ref": delivery.canonical_id,
                    "status": "successful",
                }
            },
        )

"""NetSuite REST record API (ERP).

- ``PUT /services/rest/record/v1/<type>/eid:<canonical ID>`` upserts (204; the record's
  internal ID is the last segment of ``Location``). References go by external ID
  (``{"externalId": "CUS-000042"}``), so a customer's subsidiary and a project's customer
  must have been delivered first (the outbox makes the message wait).
- Errors: ``{"status", "o:errorDetails": [{"detail", "o:errorCode", "o:errorPath"}]}``;
  429 (account concurrency limit, no Retry-After) and 5xx are retryable.
- Auth: a bearer token from configuration (``token``); on 401 it is sent once more.
- No batch write in the REST record API: a batch of messages is one request per record,
  ``max_concurrency`` at a time (the adapter's default ``upsert_batch``). The account's
  concurrency limit (15 on Tier 1, plus 10 per SuiteCloud Plus licence) counts every
  integration's requests in flight, so worker processes × ``max_concurrency`` should stay
  below it with room for the others; over it, NetSuite answers 429 (retried).

Record types: customer, subsidiary (our legal entities), job (projects), serviceSaleItem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from connectors.adapters.base import (
    Adapter,
    AdapterError,
    Delivery,
    HttpClient,
    UpsertResult,
    json_or_text,
)
from connectors.adapters.mappings import mapped_fields, reference_ids
from golden.entities import EntityType

RECORD_API = "/services/rest/record/v1"
# Currency internal IDs are account-specific; these are NetSuite's defaults for a new
# account. Others go by external ID unless `currency_ids` in the target config maps them.
DEFAULT_CURRENCY_IDS = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"}
HAS_COMMENTS = frozenset({EntityType.CUSTOMER, EntityType.PROJECT})


def describe_netsuite(response: requests.Response) -> str:
    body = json_or_text(response)
    if isinstance(body, dict) and isinstance(body.get("o:errorDetails"), list):
        parts = []
        for detail in body["o:errorDetails"]:
            text = f"{detail.get('o:errorCode', '')}: {detail.get('detail', '')}"
            if detail.get("o:errorPath"):
                text += f" ({detail['o:errorPath']})"
            parts.append(text)
        return "; ".join(parts)
    return str(body)[:500]


class NetSuiteAdapter(Adapter):
    kind = "netsuite"
    label = "NetSuite"

    def __init__(self, code: str, config: Mapping[str, Any]) -> None:
        super().__init__(code, config)
        self.http = HttpClient(
            str(self.config["url"]).rstrip("/") + RECORD_API,
            session=self.paced_session(),
            auth=lambda refresh: {"Authorization": f"Bearer {self.config.get('token', '')}"},
            describe=describe_netsuite,
            label=self.label,
        )
        self.currency_ids = {**DEFAULT_CURRENCY_IDS, **self.config.get("currency_ids", {})}

    def upsert(self, delivery: Delivery) -> UpsertResult:
        mapping = self.mapping(delivery.entity_type)
        body = {**mapped_fields(mapping, delivery.attributes), **self._extras(delivery)}
        for target_field, canonical in reference_ids(
            mapping, delivery.attributes, delivery.options
        ).items():
            body[target_field] = {"externalId": canonical}
        response = self.http.request(
            "PUT", f"/{mapping.object_type}/eid:{delivery.canonical_id}", json=body
        )
        return UpsertResult(
            self._internal_id(response), mapping.object_type, None, response.status_code
        )

    def retire(self, delivery: Delivery) -> UpsertResult | None:
        mapping = self.mapping(delivery.entity_type)
        body: dict[str, Any] = {"isInactive": True}
        if delivery.merged_into and delivery.entity_type in HAS_COMMENTS:
            body["comments"] = f"Merged into {delivery.merged_into} in MDM"
        response = self.http.request(
            "PATCH",
            f"/{mapping.object_type}/eid:{delivery.canonical_id}",
            json=body,
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        return UpsertResult(
            self._internal_id(response), mapping.object_type, False, response.status_code
        )

    def fetch_by_external_id(self, entity_type: str, canonical_id: str) -> dict[str, Any] | None:
        mapping = self.mapping(entity_type)
        response = self.http.request(
            "GET", f"/{mapping.object_type}/eid:{canonical_id}", allow=(404,)
        )
        return None if response.status_code == 404 else response.json()

    def _extras(self, delivery: Delivery) -> dict[str, Any]:
        """Values that are more than a copy of one attribute."""
        attrs = delivery.attributes
        kind = delivery.entity_type
        if kind == EntityType.CUSTOMER:
            return {
                "entityId": delivery.canonical_id,
                "currency": self._currency(attrs.get("currency")),
                "isInactive": attrs.get("status") == "inactive",
            }
        if kind == EntityType.LEGAL_ENTITY:
            return {
                "country": {"id": attrs["country"]} if attrs.get("country") else None,
                "currency": self._currency(attrs.get("base_currency")),
            }
        if kind == EntityType.PROJECT:
            return {"isInactive": attrs.get("status") == "closed"}
        return {"isInactive": False}

    def _currency(self, code: Any) -> dict[str, str] | None:
        if not code:
            return None
        internal = self.currency_ids.get(str(code).upper())
        return {"id": internal} if internal else {"externalId": str(code).upper()}

    @staticmethod
    def _internal_id(response: requests.Response) -> str:
        location = response.headers.get("Location", "")
        if not location:
            raise AdapterError(
                "NetSuite answered without a Location header", permanent=False, http_status=204
            )
        return location.rstrip("/").rsplit("/", 1)[-1]

"""Salesforce (CRM; also Certinia PSA projects on pse__Proj__c), through simple-salesforce.

- Auth: OAuth client credentials at ``/services/oauth2/token``; the token is kept per
  process and renewed once on 401 ``INVALID_SESSION_ID``. simple-salesforce's own login
  helpers are hard-wired to *.salesforce.com, so we fetch the token ourselves.
- Upsert by the external ID field ``MDM_Id__c`` (the canonical ID): 201 created, 200
  updated; references go by the parent's external ID (``"Parent": {"MDM_Id__c": …}``).
- Errors: 403 ``REQUEST_LIMIT_EXCEEDED`` and 5xx are retryable; ``DUPLICATE_VALUE`` (two
  creates of one new external ID racing) is retried once at once, since the second
  upsert then updates. Deliveries are serialised per golden record and target by the
  outbox claim; a per-process lock per external ID covers the rest.
- Batches: sObject Collections upsert, ``PATCH /composite/sobjects/<SObject>/MDM_Id__c``
  with up to 200 records and ``allOrNone=false`` (API v46.0+), one API request however
  many records. The answer holds one result per record, in order; each record's errors
  are classified as a single upsert's would be (a record that races a create with
  ``DUPLICATE_VALUE`` is sent once more, at once), while an error of the whole call
  (403 limit, 5xx, network, a second 401) applies to every record in it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from connectors.adapters.base import (
    Adapter,
    AdapterError,
    Delivery,
    UpsertResult,
    json_or_text,
    network_error,
)
from connectors.adapters.mappings import mapped_fields, reference_ids
from golden.entities import EntityType

T = TypeVar("T")
EXTERNAL_ID_FIELD = "MDM_Id__c"
RETRYABLE_CODES = frozenset(
    {"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "UNKNOWN_EXCEPTION"}
)
ACTIVE_FLAGS = {EntityType.SERVICE_CODE: "IsActive", EntityType.PROJECT: "pse__Is_Active__c"}
COLLECTIONS_SINCE = 46.0
COLLECTION_LIMIT = 200
# A record's error inside a collections answer is recorded with the status a single
# upsert answers for the same error.
RECORD_ERROR_STATUS = 400


def describe_errors(content: Any) -> tuple[str, set[str]]:
    """Salesforce's error array → (message, error codes). Request errors carry
    ``errorCode``; a collections record's errors carry ``statusCode``."""
    if isinstance(content, list):
        items = [e for e in content if isinstance(e, dict)]
        codes = {str(e.get("errorCode") or e.get("statusCode") or "") for e in items}
        text = "; ".join(
            f"{e.get('errorCode') or e.get('statusCode')}: {e.get('message')}"
            + (f" ({', '.join(e['fields'])})" if e.get("fields") else "")
            for e in items
        )
        return text or str(content), codes
    return str(content)[:500], set()


class SalesforceAdapter(Adapter):
    kind = "salesforce"
    label = "Salesforce"

    def __init__(self, code: str, config: Mapping[str, Any]) -> None:
        super().__init__(code, config)
        self.url = str(self.config["url"]).rstrip("/")
        self.version = str(self.config.get("api_version", "59.0"))
        self.session = self.paced_session()
        self._client: Salesforce | None = None
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    @property
    def batch_limit(self) -> int:
        return COLLECTION_LIMIT if float(self.version) >= COLLECTIONS_SINCE else 1

    # -- the interface ---------------------------------------------------------------------
    def upsert(self, delivery: Delivery) -> UpsertResult:
        mapping = self.mapping(delivery.entity_type)
        body = self._body(delivery)
        response = self._upsert(mapping.object_type, delivery.canonical_id, body)
        record_id = self._record_id(response, mapping.object_type, delivery.canonical_id)
        return UpsertResult(
            record_id, mapping.object_type, response.status_code == 201, response.status_code
        )

    def upsert_batch(
        self, deliveries: Sequence[Delivery], *, heartbeat: Callable[[], None] | None = None
    ) -> list[UpsertResult | AdapterError]:
        if self.batch_limit == 1:
            return super().upsert_batch(deliveries, heartbeat=heartbeat)
        outcomes: list[UpsertResult | AdapterError | None] = [None] * len(deliveries)
        by_sobject: dict[str, list[int]] = {}
        for index, delivery in enumerate(deliveries):
            sobject = self.mapping(delivery.entity_type).object_type
            by_sobject.setdefault(sobject, []).append(index)
        for sobject, indexes in by_sobject.items():
            for start in range(0, len(indexes), COLLECTION_LIMIT):
                chunk = indexes[start : start + COLLECTION_LIMIT]
                records = {
                    i: {
                        "attributes": {"type": sobject},
                        **self._body(deliveries[i]),
                        EXTERNAL_ID_FIELD: deliveries[i].canonical_id,
                    }
                    for i in chunk
                }
                for i, outcome in self._collection_upsert(sobject, records).items():
                    outcomes[i] = outcome
                if heartbeat is not None:
                    heartbeat()
        return [o for o in outcomes if o is not None]

    def _body(self, delivery: Delivery) -> dict[str, Any]:
        mapping = self.mapping(delivery.entity_type)
        body = mapped_fields(mapping, delivery.attributes)
        for target_field, canonical in reference_ids(
            mapping, delivery.attributes, delivery.options
        ).items():
            body[target_field] = {EXTERNAL_ID_FIELD: canonical}
        flag = ACTIVE_FLAGS.get(delivery.entity_type)
        if flag:
            body[flag] = delivery.attributes.get("status") not in ("closed", "inactive")
        return body

    def retire(self, delivery: Delivery) -> UpsertResult | None:
        mapping = self.mapping(delivery.entity_type)
        flag = ACTIVE_FLAGS.get(delivery.entity_type)
        reason = (
            f"Merged into {delivery.merged_into} in MDM"
            if delivery.merged_into
            else "Retired in MDM"
        )
        body: dict[str, Any] = {flag: False} if flag else {"Description": reason}
        try:
            response = self._upsert(
                mapping.object_type, delivery.canonical_id, body, update_only=True
            )
        except AdapterError as exc:
            if exc.http_status == 404:
                return None  # never created there: nothing to retire
            raise
        record_id = self._record_id(response, mapping.object_type, delivery.canonical_id)
        return UpsertResult(record_id, mapping.object_type, False, response.status_code)

    def fetch_by_external_id(self, entity_type: str, canonical_id: str) -> dict[str, Any] | None:
        return self._fetch(self.mapping(entity_type).object_type, canonical_id)

    # -- calls -----------------------------------------------------------------------------
    def _collection_upsert(
        self, sobject: str, records: dict[int, dict[str, Any]]
    ) -> dict[int, UpsertResult | AdapterError]:
        """Upsert records (by their index in the batch) in one collections request; the
        ones that raced a create (DUPLICATE_VALUE) go once more, as a single upsert's
        retry does."""
        path = f"composite/sobjects/{sobject}/{EXTERNAL_ID_FIELD}"
        outcomes: dict[int, UpsertResult | AdapterError] = {}
        pending = dict(records)
        for attempt in (1, 2):
            indexes = list(pending)
            body = {"allOrNone": False, "records": [pending[i] for i in indexes]}
            try:
                results = self._call(
                    lambda sf, body=body: sf.restful(path, method="PATCH", json=body)
                )
            except AdapterError as exc:
                return {**outcomes, **{i: exc for i in indexes}}
            if not isinstance(results, list) or len(results) != len(indexes):
                error = AdapterError(
                    f"{self.label}: collections answer does not match the request",
                    permanent=False,
                )
                return {**outcomes, **{i: error for i in indexes}}
            raced = {}
            for index, result in zip(indexes, results, strict=True):
                if result.get("success"):
                    outcomes[index] = UpsertResult(
                        str(result["id"]), sobject, bool(result.get("created")), 200
                    )
                    continue
                message, codes = describe_errors(result.get("errors"))
                if "DUPLICATE_VALUE" in codes and attempt == 1:
                    raced[index] = pending[index]
                    continue
                retryable = bool(codes & (RETRYABLE_CODES | {"DUPLICATE_VALUE"}))
                outcomes[index] = AdapterError(
                    f"HTTP {RECORD_ERROR_STATUS}: {message}",
                    permanent=not retryable,
                    http_status=RECORD_ERROR_STATUS,
                )
            if not raced:
                break
            time.sleep(0.2)  # the racing create commits; our retry then updates
            pending = raced
        return outcomes

    def _upsert(
        self, sobject: str, canonical_id: str, body: dict[str, Any], *, update_only: bool = False
    ) -> requests.Response:
        path = f"{EXTERNAL_ID_FIELD}/{canonical_id}" + ("?updateOnly=true" if update_only else "")
        with self._key_lock(f"{sobject}/{canonical_id}"):
            return self._call(lambda sf: getattr(sf, sobject).upsert(path, body, raw_response=True))

    def _record_id(self, response: requests.Response, sobject: str, canonical_id: str) -> str:
        data = response.json() if response.content else {}
        if isinstance(data, dict) and data.get("id"):
            return str(data["id"])
        # API versions before 46.0 answer an update with 204 and no body.
        record = self._fetch(sobject, canonical_id)
        return str(record["Id"]) if record else ""

    def _fetch(self, sobject: str, canonical_id: str) -> dict[str, Any] | None:
        try:
            return self._call(
                lambda sf: getattr(sf, sobject).get_by_custom_id(EXTERNAL_ID_FIELD, canonical_id)
            )
        except AdapterError as exc:
            if exc.http_status == 404:
                return None
            raise

    def _call(self, fn: Callable[[Salesforce], T]) -> T:
        """One API call: a new token and one retry on INVALID_SESSION_ID, one retry on the
        DUPLICATE_VALUE create race; everything else classified."""
        for attempt in (1, 2):
            client = self._salesforce(refresh=False)
            try:
                return fn(client)
            except SalesforceExpiredSession as exc:
                if attempt == 1:
                    self._salesforce(refresh=True, stale=client)
                    continue
                raise self._error(exc, retryable=True) from exc
            except SalesforceMalformedRequest as exc:
                _, codes = describe_errors(exc.content)
                if "DUPLICATE_VALUE" in codes and attempt == 1:
                    time.sleep(0.2)  # the racing create commits; our retry then updates
                    continue
                raise self._error(exc, retryable="DUPLICATE_VALUE" in codes) from exc
            except SalesforceError as exc:
                raise self._error(exc) from exc
            except requests.RequestException as exc:
                raise network_error(exc, self.label) from exc
        raise AssertionError("unreachable")

    def _error(self, exc: SalesforceError, *, retryable: bool | None = None) -> AdapterError:
        message, codes = describe_errors(exc.content)
        status = int(exc.status)
        if retryable is None:
            retryable = status >= 500 or status == 429 or bool(codes & RETRYABLE_CODES)
        if isinstance(exc, SalesforceResourceNotFound):
            retryable = False
        return AdapterError(
            f"HTTP {status}: {message}", permanent=not retryable, http_status=status
        )

    # -- auth ------------------------------------------------------------------------------
    def _salesforce(self, *, refresh: bool, stale: Salesforce | None = None) -> Salesforce:
        with self._lock:
            # Another thread may have renewed the token while this one waited.
            if self._client is None or (refresh and self._client is stale):
                token = self._token()
                self._client = Salesforce(
                    instance_url=token["instance_url"],
                    session_id=token["access_token"],
                    session=self.session,
                    version=self.version,
                )
            return self._client

    def _token(self) -> dict[str, Any]:
        try:
            response = self.session.post(
                self.url + "/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.config.get("client_id", ""),
                    "client_secret": self.config.get("client_secret", ""),
                },
            )
        except requests.RequestException as exc:
            raise network_error(exc, f"{self.label} login") from exc
        if response.status_code != 200:
            body = json_or_text(response)
            if isinstance(body, dict) and "error" in body:
                detail = f"{body['error']}: {body.get('error_description', '')}"
            else:
                detail, _ = describe_errors(body)
            # Refused credentials do not heal by retrying (and Salesforce locks users out);
            # an outage (5xx, 429) does.
            status = response.status_code
            raise AdapterError(
                f"{self.label} login: HTTP {status}: {detail}",
                permanent=400 <= status < 500 and status not in (408, 429),
                http_status=status,
            )
        return response.json()

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

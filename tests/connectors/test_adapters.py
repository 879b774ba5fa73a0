"""Adapters against the sandboxes over real HTTP: success, validation errors (permanent),
rate limits (retryable), expired sessions (re-auth once), lost responses (a retry does
not duplicate). No database: adapters take plain ``Delivery`` values."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from connectors.adapters.base import AdapterError, Delivery, HttpClient, TargetSession
from connectors.adapters.kantata import KantataAdapter
from connectors.adapters.netsuite import NetSuiteAdapter
from connectors.adapters.salesforce import SalesforceAdapter
from connectors.sandbox import RunningSandbox
from connectors.testing import count_by_external_id, live_records


def delivery(entity_type: str, canonical_id: str, version: int = 1, **kw: Any) -> Delivery:
    attributes = kw.pop("attributes")
    return Delivery(
        message_id=1,
        target=kw.pop("target", "x"),
        entity_type=entity_type,
        canonical_id=canonical_id,
        version=version,
        operation=kw.pop("operation", "upsert"),
        attributes=attributes,
        **kw,
    )


ACME = {"name": "Acme Beratung GmbH", "country": "DE", "currency": "EUR", "city": "Berlin"}


@pytest.fixture
def sf(salesforce: RunningSandbox) -> SalesforceAdapter:
    return SalesforceAdapter(
        "crm",
        {
            "url": salesforce.url,
            "client_id": "mdm-sandbox",
            "client_secret": "sandbox-secret",
            "ca_bundle": str(salesforce.ca_bundle),
            "timeout": 5,
        },
    )


@pytest.fixture
def ns(netsuite: RunningSandbox) -> NetSuiteAdapter:
    return NetSuiteAdapter("erp", {"url": netsuite.url, "token": "netsuite-sandbox-token"})


@pytest.fixture
def kt(kantata: RunningSandbox) -> KantataAdapter:
    return KantataAdapter("psa", {"url": kantata.url, "token": "kantata-sandbox-token"})


# -- Salesforce ----------------------------------------------------------------------------
def test_salesforce_upsert_creates_then_updates_one_account(
    sf: SalesforceAdapter, salesforce: RunningSandbox
) -> None:
    created = sf.upsert(delivery("customer", "CUS-000001", attributes=ACME))
    updated = sf.upsert(
        delivery("customer", "CUS-000001", 2, attributes={**ACME, "name": "Acme Consulting"})
    )

    assert created.created is True and created.http_status == 201
    assert updated.created is False and updated.external_id == created.external_id
    [account] = live_records(salesforce, "Account")
    assert account["id"] == created.external_id
    assert account["fields"]["Name"] == "Acme Consulting"
    assert account["fields"]["MDM_Id__c"] == "CUS-000001"
    assert account["fields"]["BillingCountry"] == "DE"
    assert sf.fetch_by_external_id("customer", "CUS-000001")["Id"] == created.external_id


def test_salesforce_parent_goes_by_the_parents_external_id(
    sf: SalesforceAdapter, salesforce: RunningSandbox
) -> None:
    parent = sf.upsert(delivery("customer", "CUS-000001", attributes=ACME))
    sf.upsert(
        delivery(
            "customer",
            "CUS-000002",
            attributes={"name": "Acme Austria", "parent_customer": "CUS-000001"},
        )
    )
    child = next(r for r in live_records(salesforce, "Account") if r["external_id"] == "CUS-000002")
    assert child["fields"]["ParentId"] == parent.external_id


def test_salesforce_validation_error_is_permanent_with_its_message(sf: SalesforceAdapter) -> None:
    with pytest.raises(AdapterError) as caught:
        sf.upsert(delivery("customer", "CUS-000001", attributes={**ACME, "city": "B" * 60}))
    assert caught.value.permanent
    assert caught.value.http_status == 400
    assert "STRING_TOO_LONG" in caught.value.message


def test_salesforce_request_limit_exceeded_is_retryable(
    sf: SalesforceAdapter, salesforce: RunningSandbox
) -> None:
    salesforce.configure(api_limit=0)
    with pytest.raises(AdapterError) as caught:
        sf.upsert(delivery("customer", "CUS-000001", attributes=ACME))
    assert not caught.value.permanent
    assert "REQUEST_LIMIT_EXCEEDED" in caught.value.message


def test_salesforce_expired_session_gets_a_new_token_and_one_retry(
    sf: SalesforceAdapter, salesforce: RunningSandbox
) -> None:
    sf.upsert(delivery("customer", "CUS-000001", attributes=ACME))
    salesforce.set_fault("expire_session")  # answers 401 and revokes the issued tokens

    result = sf.upsert(delivery("customer", "CUS-000001", 2, attributes=ACME))

    assert result.http_status == 200
    assert count_by_external_id(salesforce, "Account") == {"CUS-000001": 1}


def test_salesforce_lost_response_then_retry_does_not_duplicate(
    sf: SalesforceAdapter, salesforce: RunningSandbox
) -> None:
    salesforce.set_fault("drop_after_commit")
    with pytest.raises(AdapterError) as caught:
        sf.upsert(delivery("customer", "CUS-000001", attributes=ACME))
    assert not caught.value.permanent

    sf.upsert(delivery("customer", "CUS-000001", attributes=ACME))

    assert count_by_external_id(salesforce, "Account") == {"CUS-000001": 1}


def test_salesforce_concurrent_creates_of_one_id_leave_one_account(
    salesforce: RunningSandbox, sf: SalesforceAdapter
) -> None:
    # Two processes (two adapters, no shared lock) create the same new external ID while
    # the sandbox holds the first create open: DUPLICATE_VALUE, retried as an update.
    other = SalesforceAdapter(sf.code, sf.config)
    salesforce.set_fault("duplicate_race", window=0.5)
    errors: list[AdapterError] = []

    def send(adapter: SalesforceAdapter) -> None:
        for _ in range(5):
            try:
                adapter.upsert(delivery("customer", "CUS-000001", attributes=ACME))
                return
            except AdapterError as exc:
                assert not exc.permanent, exc.message
                errors.append(exc)

    threads = [threading.Thread(target=send, args=(a,)) for a in (sf, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    salesforce.clear_faults()

    assert count_by_external_id(salesforce, "Account") == {"CUS-000001": 1}


def test_salesforce_retire_marks_the_merged_account_and_ignores_unknown_ones(
    sf: SalesforceAdapter, salesforce: RunningSandbox
) -> None:
    sf.upsert(delivery("customer", "CUS-000002", attributes=ACME))
    retired = sf.retire(
        delivery(
            "customer", "CUS-000002", 2, operation="retire", attributes={}, merged_into="CUS-1"
        )
    )
    assert retired is not None
    [account] = live_records(salesforce, "Account")
    assert account["fields"]["Description"] == "Merged into CUS-1 in MDM"
    assert sf.retire(delivery("customer", "CUS-404", operation="retire", attributes={})) is None


def test_salesforce_down_is_retryable(sf: SalesforceAdapter, salesforce: RunningSandbox) -> None:
    salesforce.set_fault("down", mode="503")
    with pytest.raises(AdapterError) as caught:
        sf.upsert(delivery("customer", "CUS-000001", attributes=ACME))
    assert not caught.value.permanent


# -- NetSuite ------------------------------------------------------------------------------
LEN = {"name": "Northwind GmbH", "country": "DE", "base_currency": "EUR"}


def test_netsuite_upsert_by_external_id_returns_the_internal_id(
    ns: NetSuiteAdapter, netsuite: RunningSandbox
) -> None:
    sub = ns.upsert(delivery("legal_entity", "LEN-000001", attributes=LEN))
    first = ns.upsert(
        delivery("customer", "CUS-000001", attributes=ACME, options={"subsidiary": "LEN-000001"})
    )
    again = ns.upsert(
        delivery(
            "customer",
            "CUS-000001",
            2,
            attributes={**ACME, "name": "Acme Consulting"},
            options={"subsidiary": "LEN-000001"},
        )
    )

    assert first.external_id == again.external_id
    [customer] = live_records(netsuite, "customer")
    assert customer["id"] == first.external_id
    assert customer["fields"]["companyName"] == "Acme Consulting"
    assert customer["fields"]["subsidiary"] == {"externalId": "LEN-000001"}
    assert sub.external_id == live_records(netsuite, "subsidiary")[0]["id"]


def test_netsuite_validation_error_is_permanent_with_the_error_details(
    ns: NetSuiteAdapter,
) -> None:
    # Straight to the adapter, past pre-send validation: NetSuite itself refuses.
    with pytest.raises(AdapterError) as caught:
        ns.upsert(delivery("customer", "CUS-000001", attributes=ACME))
    assert caught.value.permanent and caught.value.http_status == 400
    assert "Primary Subsidiary" in caught.value.message


def test_netsuite_concurrency_429_is_retryable_without_retry_after(
    ns: NetSuiteAdapter, netsuite: RunningSandbox
) -> None:
    netsuite.set_fault("concurrency_limit", limit=0)
    with pytest.raises(AdapterError) as caught:
        ns.upsert(delivery("legal_entity", "LEN-000001", attributes=LEN))
    assert not caught.value.permanent
    assert caught.value.http_status == 429 and caught.value.retry_after is None


def test_netsuite_expired_session_is_sent_once_more(
    ns: NetSuiteAdapter, netsuite: RunningSandbox
) -> None:
    netsuite.set_fault("expire_session")
    ns.upsert(delivery("legal_entity", "LEN-000001", attributes=LEN))
    assert count_by_external_id(netsuite, "subsidiary") == {"LEN-000001": 1}


def test_netsuite_lost_response_then_retry_does_not_duplicate(
    ns: NetSuiteAdapter, netsuite: RunningSandbox
) -> None:
    netsuite.set_fault("drop_after_commit")
    with pytest.raises(AdapterError):
        ns.upsert(delivery("legal_entity", "LEN-000001", attributes=LEN))
    ns.upsert(delivery("legal_entity", "LEN-000001", attributes=LEN))
    assert count_by_external_id(netsuite, "subsidiary") == {"LEN-000001": 1}


def test_netsuite_retire_sets_inactive_and_ignores_unknown(
    ns: NetSuiteAdapter, netsuite: RunningSandbox
) -> None:
    ns.upsert(delivery("legal_entity", "LEN-000001", attributes=LEN))
    assert ns.retire(delivery("legal_entity", "LEN-000001", operation="retire", attributes={}))
    assert live_records(netsuite, "subsidiary")[0]["fields"]["isInactive"] is True
    assert ns.retire(delivery("legal_entity", "LEN-404", operation="retire", attributes={})) is None


# -- Kantata -------------------------------------------------------------------------------
PROJECT = {"name": "Rollout Acme", "currency": "EUR", "start_date": "2026-01-05", "code": "P-1"}


def test_kantata_creates_a_workspace_with_an_external_reference_then_updates_it(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    created = kt.upsert(delivery("project", "PRJ-000001", attributes=PROJECT))
    updated = kt.upsert(
        delivery("project", "PRJ-000001", 2, attributes={**PROJECT, "name": "Rollout Acme II"})
    )

    assert created.created and not updated.created
    assert created.external_id == updated.external_id
    [workspace] = live_records(kantata, "workspaces")
    assert workspace["fields"]["title"] == "Rollout Acme II"
    [reference] = live_records(kantata, "external_references")
    assert reference["fields"]["service_model_ref"] == "PRJ-000001"
    assert reference["fields"]["subject_id"] == created.external_id


def test_kantata_validation_error_is_permanent(kt: KantataAdapter) -> None:
    with pytest.raises(AdapterError) as caught:
        kt.upsert(delivery("project", "PRJ-000001", attributes={**PROJECT, "start_date": "soon"}))
    assert caught.value.permanent and caught.value.http_status == 422
    assert "Start date is invalid" in caught.value.message


def test_kantata_429_has_no_retry_after_and_is_retryable(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    kantata.set_fault("rate_limit", per_second=1)
    with pytest.raises(AdapterError) as caught:
        for n in range(5):
            kt.upsert(delivery("project", f"PRJ-00000{n}", attributes=PROJECT))
    assert not caught.value.permanent
    assert caught.value.http_status == 429 and caught.value.retry_after is None


def test_kantata_lost_create_response_is_adopted_not_duplicated(
    kt: KantataAdapter, kantata: RunningSandbox
) -> None:
    kantata.set_fault("drop_after_commit")  # the workspace POST commits, the answer is lost
    with pytest.raises(AdapterError):
        kt.upsert(delivery("project", "PRJ-000001", attributes=PROJECT))

    result = kt.upsert(delivery("project", "PRJ-000001", attributes=PROJECT))

    assert len(live_records(kantata, "workspaces")) == 1
    assert count_by_external_id(kantata, "external_references") == {"PRJ-000001": 1}
    assert result.external_id == live_records(kantata, "workspaces")[0]["id"]


def test_kantata_retire_archives_the_workspace(kt: KantataAdapter, kantata: RunningSandbox) -> None:
    kt.upsert(delivery("project", "PRJ-000001", attributes=PROJECT))
    assert kt.retire(delivery("project", "PRJ-000001", operation="retire", attributes={}))
    assert live_records(kantata, "workspaces")[0]["fields"]["archived"] is True
    assert kt.retire(delivery("project", "PRJ-404", operation="retire", attributes={})) is None


# -- the shared HTTP helper ----------------------------------------------------------------
class _Busy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(429)
        self.send_header("Retry-After", "7")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def busy_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_client_honours_retry_after_on_429(busy_server: str) -> None:
    client = HttpClient(
        busy_server,
        session=TargetSession(timeout=2),
        auth=lambda refresh: {},
        describe=lambda r: r.reason,
        label="busy",
    )
    with pytest.raises(AdapterError) as caught:
        client.request("GET", "/")
    assert not caught.value.permanent and caught.value.retry_after == 7.0


def test_http_client_timeout_is_retryable(busy_server: str, kantata: RunningSandbox) -> None:
    kantata.set_fault("slow", delay=2)
    client = HttpClient(
        kantata.url,
        session=TargetSession(timeout=0.3),
        auth=lambda refresh: {"Authorization": "Bearer kantata-sandbox-token"},
        describe=lambda r: r.text,
        label="Kantata",
    )
    with pytest.raises(AdapterError) as caught:
        client.request("GET", "/api/v1/workspaces.json")
    assert not caught.value.permanent and "timed out" in caught.value.message
    assert isinstance(caught.value.__cause__, requests.Timeout)

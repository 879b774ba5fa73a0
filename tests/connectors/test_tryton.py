"""The Tryton adapter against a real Tryton server over HTTP (JSON-RPC): a SQLite database
made once per test session (``connectors.tryton_server``), put back to its pristine copy
before each test. What Tryton holds is checked with a JSON-RPC client of its own.

Run: ``bash scripts/test.sh tests/connectors/test_tryton.py``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.utils import timezone

from connectors import outbox, services
from connectors.adapters import registry
from connectors.adapters.base import AdapterError, Delivery
from connectors.adapters.tryton import TrytonAdapter, TrytonRPC, tryton_error
from connectors.models import DeliveryAttempt, OutboundMessage, TargetBinding
from connectors.testing import customer, de_vat, golden, ingest, legal_entity, project
from connectors.tryton_server import TrytonServer, init_tryton
from golden.models import ExternalReference

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]
Status = OutboundMessage.Status
ALL = {"active_test": False}


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    server = init_tryton(tmp_path_factory.mktemp("tryton"))
    yield server
    server.stop()


@pytest.fixture
def tryton(tryton_server: TrytonServer) -> TrytonServer:
    return tryton_server.restore()


@pytest.fixture
def adapter(tryton: TrytonServer) -> TrytonAdapter:
    return TrytonAdapter("tryton", tryton.target_config(timeout=5))


@pytest.fixture
def rpc(tryton: TrytonServer) -> TrytonRPC:
    return tryton.client()


def upsert(entity_type: str, canonical_id: str, **attributes: Any) -> Delivery:
    return Delivery(0, "tryton", entity_type, canonical_id, 1, "upsert", attributes)


def retire(entity_type: str, canonical_id: str) -> Delivery:
    return Delivery(0, "tryton", entity_type, canonical_id, 2, "retire", {}, status="retired")


def parties(rpc: TrytonRPC, code: str) -> list[dict[str, Any]]:
    domain = [("code", "=", code)]
    return rpc.model("party.party", "search_read", domain, 0, None, None, ["name"], **ALL)


def works(rpc: TrytonRPC, canonical_id: str) -> list[dict[str, Any]]:
    domain = [("comment", "like", f"%[mdm:{canonical_id}]%")]
    fields = ["name", "number", "party", "company", "status.name"]
    return rpc.model("project.work", "search_read", domain, 0, None, None, fields)


ACME = {
    "name": "Aurora Basalt Beratung GmbH",
    "tax_id": de_vat(1),
    "country": "DE",
    "city": "Berlin",
    "postal_code": "10115",
    "address_line1": "Unter den Linden 1",
    "email": "billing@aurora.example",
    "phone": "+49 30 1234567",
}


# --------------------------------------------------------------------------------------
# Adapter against the server
# --------------------------------------------------------------------------------------
def test_a_customer_becomes_one_party_coded_with_its_canonical_id(
    adapter: TrytonAdapter, rpc: TrytonRPC
) -> None:
    result = adapter.upsert(upsert("customer", "CUS-000101", **ACME))

    assert (result.object_type, result.created) == ("party.party", True)
    [party] = parties(rpc, "CUS-000101")
    assert party["id"] == int(result.external_id) and party["name"] == ACME["name"]
    held = adapter.fetch_by_external_id("customer", "CUS-000101")
    assert held is not None and held["active"]
    [address] = held["addresses"]
    assert (address["street"], address["city"], address["country"]) == (
        "Unter den Linden 1",
        "Berlin",
        "DE",
    )
    assert {(c["type"], c["value"]) for c in held["contact_mechanisms"]} == {
        ("email", "billing@aurora.example"),
        ("phone", "+49 30 1234567"),
    }
    [identifier] = held["identifiers"]
    assert identifier["type"] == "eu_vat" and identifier["code"].replace(" ", "") == ACME["tax_id"]


def test_upserting_a_customer_again_updates_the_same_party(
    adapter: TrytonAdapter, rpc: TrytonRPC
) -> None:
    first = adapter.upsert(upsert("customer", "CUS-000102", **ACME))
    changed = {**ACME, "name": "Aurora Basalt AG", "city": "Hamburg", "email": None}
    changed["website"] = "https://aurora.example"

    again = adapter.upsert(upsert("customer", "CUS-000102", **changed))
    adapter.upsert(upsert("customer", "CUS-000102", **changed))  # a retry: no change

    assert (again.external_id, again.created) == (first.external_id, False)
    assert [p["name"] for p in parties(rpc, "CUS-000102")] == ["Aurora Basalt AG"]
    held = adapter.fetch_by_external_id("customer", "CUS-000102")
    assert [a["city"] for a in held["addresses"]] == ["Hamburg"]
    assert {(c["type"], c["value"]) for c in held["contact_mechanisms"]} == {
        ("phone", "+49 30 1234567"),
        ("website", "https://aurora.example"),
    }
    assert len(held["identifiers"]) == 1

    assert adapter.retire(retire("customer", "CUS-000102")).external_id == first.external_id
    assert not adapter.fetch_by_external_id("customer", "CUS-000102")["active"]
    back = adapter.upsert(upsert("customer", "CUS-000102", **changed))  # reactivated
    assert back.external_id == first.external_id and len(parties(rpc, "CUS-000102")) == 1
    assert adapter.fetch_by_external_id("customer", "CUS-000102")["active"]
    assert adapter.retire(retire("customer", "CUS-999999")) is None


def test_a_legal_entity_is_a_company_and_a_service_code_a_service_product(
    adapter: TrytonAdapter, rpc: TrytonRPC
) -> None:
    entity = {"name": "Northwind Services 1 GmbH", "country": "DE", "base_currency": "EUR"}
    company = adapter.upsert(upsert("legal_entity", "LEN-000101", **entity))
    again = adapter.upsert(upsert("legal_entity", "LEN-000101", **entity, city="Munich"))

    assert (company.object_type, company.created, again.created) == ("company.company", True, False)
    assert again.external_id == company.external_id
    held = adapter.fetch_by_external_id("legal_entity", "LEN-000101")
    assert held["currency"] == "EUR" and held["party"]["code"] == "LEN-000101"
    [user] = rpc.model(
        "res.user", "search_read", [("login", "=", "admin")], 0, 1, None, ["companies"]
    )
    assert int(company.external_id) in user["companies"]  # so it can write its projects

    service = {"code": "SVC-CONS", "name": "Consulting", "unit": "hour"}
    product = adapter.upsert(upsert("service_code", "SVC-000101", **service))
    renamed = adapter.upsert(upsert("service_code", "SVC-000101", **{**service, "unit": "day"}))

    assert (product.object_type, product.created, renamed.created) == (
        "product.product",
        True,
        False,
    )
    assert renamed.external_id == product.external_id
    held = adapter.fetch_by_external_id("service_code", "SVC-000101")
    assert (held["code"], held["type"], held["default_uom."]["symbol"]) == (
        "SVC-CONS",
        "service",
        "d",
    )
    assert adapter.retire(retire("service_code", "SVC-000101")) is not None
    assert not adapter.fetch_by_external_id("service_code", "SVC-000101")["active"]


def test_a_project_creates_a_work_and_a_second_upsert_updates_it(
    adapter: TrytonAdapter, rpc: TrytonRPC
) -> None:
    company = adapter.upsert(
        upsert("legal_entity", "LEN-000201", name="Northwind 2 GmbH", base_currency="EUR")
    )
    party = adapter.upsert(upsert("customer", "CUS-000201", name="Cobalt Dorado GmbH"))
    attrs = {
        "name": "Rollout Cobalt",
        "customer": "CUS-000201",
        "billing_legal_entity": "LEN-000201",
        "start_date": "2026-01-05",
        "status": "active",
    }

    created = adapter.upsert(upsert("project", "PRJ-000201", **attrs))
    # No crosswalk row here (no golden record): the work is found again by its marker,
    # as after a create whose answer was lost.
    updated = adapter.upsert(
        upsert("project", "PRJ-000201", **attrs | {"name": "Rollout Cobalt II"})
    )

    assert (created.object_type, created.created, updated.created) == ("project.work", True, False)
    assert updated.external_id == created.external_id
    [work] = works(rpc, "PRJ-000201")
    assert work["id"] == int(created.external_id) and work["name"] == "Rollout Cobalt II"
    assert work["number"] and work["number"] != "PRJ-000201"  # Tryton's own number
    assert (work["party"], work["company"]) == (int(party.external_id), int(company.external_id))
    held = adapter.fetch_by_external_id("project", "PRJ-000201")
    assert held["timesheet_available"] and held["timesheet_start_date"] == "2026-01-05"

    closed = adapter.upsert(upsert("project", "PRJ-000201", **attrs | {"status": "closed"}))
    assert closed.external_id == created.external_id
    assert works(rpc, "PRJ-000201")[0]["status."]["name"] == "Done"


def test_an_expired_session_logs_in_again_once(
    adapter: TrytonAdapter, tryton: TrytonServer, rpc: TrytonRPC
) -> None:
    adapter.upsert(upsert("customer", "CUS-000301", name="Ember Fjord GmbH"))
    assert adapter.rpc.logins == 1
    stale = adapter.rpc.session_header

    adapter.rpc.logout()  # the server forgets the session; the adapter still holds it
    answer = requests.post(
        adapter.rpc.endpoint,
        json={"id": 1, "method": "model.party.party.search", "params": [[], 0, 1, None, {}]},
        headers={"Authorization": stale},
        timeout=5,
    )
    assert answer.status_code == 401  # what an idle-expired session gets too

    again = adapter.upsert(upsert("customer", "CUS-000301", name="Ember Fjord AG"))

    assert again.created is False and adapter.rpc.logins == 2
    assert adapter.rpc.session_header != stale
    assert [p["name"] for p in parties(rpc, "CUS-000301")] == ["Ember Fjord AG"]


def test_every_call_to_tryton_is_paced_through_the_targets_bucket(
    tryton: TrytonServer,
) -> None:
    rate = 10.0
    adapter = TrytonAdapter("tryton", tryton.target_config(timeout=5, rate_limit=rate))
    assert adapter.pacer is not None
    before = adapter.pacer.stats()  # the bucket is shared: other runs may have used it
    answered: list[float] = []
    adapter.rpc.session.hooks["response"].append(
        lambda response, **kwargs: answered.append(time.monotonic())
    )
    started = time.monotonic()

    adapter.upsert(upsert("customer", "CUS-000001", **ACME))

    after = adapter.pacer.stats()
    calls = len(answered)  # the login and its preferences, the lookups, the create
    assert calls >= 4
    assert after["requests"] - before["requests"] == calls
    assert after["delayed"] - before["delayed"] >= calls - 2
    # At 10 calls/s, the last one left no sooner than (calls - 1) / 10 s after the first.
    assert answered[-1] - started >= (calls - 1) / rate - 0.05


def test_a_tryton_validation_error_is_permanent_with_its_message(
    adapter: TrytonAdapter, rpc: TrytonRPC
) -> None:
    with pytest.raises(AdapterError) as bad_vat:
        adapter.upsert(upsert("customer", "CUS-000401", name="Granite GmbH", tax_id="DE123"))
    assert bad_vat.value.permanent
    assert bad_vat.value.message == (
        'Tryton UserError: The European VAT Number "DE123" for party "Granite GmbH" is not valid.'
    )
    assert parties(rpc, "CUS-000401") == []  # Tryton rolled the create back

    with pytest.raises(AdapterError) as no_currency:
        adapter.upsert(upsert("legal_entity", "LEN-000401", name="X GmbH", base_currency="ZZZ"))
    assert no_currency.value.permanent
    assert "Tryton has no currency.currency with code 'ZZZ'" in no_currency.value.message


def test_network_failures_are_retryable(adapter: TrytonAdapter, tryton: TrytonServer) -> None:
    tryton.stop()
    with pytest.raises(AdapterError) as down:
        adapter.upsert(upsert("customer", "CUS-000501", name="Harbor Indigo GmbH"))
    assert not down.value.permanent and "Tryton: request failed" in down.value.message


@pytest.mark.parametrize(
    ("error", "permanent", "text"),
    [
        (["UserError", ["A value is required.", "", None]], True, "UserError: A value is"),
        (["UserWarning", ["w1", "Really?", ""]], True, "UserWarning: Really?"),
        (["ConcurrencyException", "Records were modified"], False, "ConcurrencyException"),
        (["database is locked", "Traceback ..."], False, "server error"),
    ],
)
def test_tryton_errors_are_classified(error: list, permanent: bool, text: str) -> None:
    classified = tryton_error(error, "model.party.party.write")
    assert classified.permanent is permanent and text in classified.message


# --------------------------------------------------------------------------------------
# Through the delivery service
# --------------------------------------------------------------------------------------
def due() -> list[int]:
    return list(
        OutboundMessage.objects.filter(
            target__code="tryton", status=Status.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)
    )


def deliver_each(ids: list[int]) -> Counter[str]:
    return Counter(services.deliver_outbound_message(pk) for pk in ids)


def drain(timeout: float = 40.0) -> Counter[str]:
    """Deliver due Tryton messages, one ``deliver_outbound_message`` each, until none is
    open."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    open_ = OutboundMessage.objects.filter(target__code="tryton", status__in=OutboundMessage.OPEN)
    while open_.exists():
        assert time.monotonic() < deadline, [
            (m.canonical_id, m.status, m.note, m.last_error) for m in open_
        ]
        seen.update(deliver_each(due()))
        time.sleep(0.05)
    return seen


def test_delivery_through_an_outage_ends_with_one_party_per_golden_customer(
    tryton: TrytonServer, rpc: TrytonRPC, settings, monkeypatch, steward
) -> None:
    settings.MDM_TARGETS = {**settings.MDM_TARGETS, "tryton": tryton.target_config(timeout=3)}
    settings.MDM_SYNC = {
        **settings.MDM_SYNC,
        "retry_base_seconds": 0.05,
        "retry_cap_seconds": 0.3,
        "wait_recheck_seconds": 0.2,
    }
    monkeypatch.setattr(registry, "_instances", {})  # adapters for this server only
    TargetBinding.objects.exclude(system__code="tryton").update(is_enabled=False)
    TargetBinding.objects.filter(system__code="tryton").update(is_enabled=True)

    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    svc_id = ingest(
        "service_code", "erp", {"source_id": "S-1", "code": "SVC-CONS", "name": "Consulting"}
    )[0].canonical_id
    for record in (len_id, svc_id):
        services.approve_golden_record(golden(record), actor=steward)
    customers = [ingest("customer", "erp", customer(n))[0].canonical_id for n in (1, 2, 3)]
    prj = ingest("project", "erp", project(1, "C-00001", "LE-1"))[0].canonical_id
    assert len(outbox.fan_out_changes()) == 6

    # Tryton is down: every call fails over the network and is scheduled again; the
    # project waits for its customer and billing entity.
    tryton.stop()
    outcomes = deliver_each(due())
    assert outcomes == {"retry": 5, "waiting": 1}
    first = OutboundMessage.objects.get(canonical_id=customers[0], target__code="tryton")
    assert first.status == Status.PENDING and first.attempts == 1
    assert "Tryton: request failed" in first.last_error
    assert first.delivery_attempts.get().status == DeliveryAttempt.Status.RETRY

    tryton.start()
    outcomes = drain()
    assert outcomes["delivered"] == 6 and set(outcomes) <= {"delivered", "waiting", "not_due"}

    delivered = OutboundMessage.objects.filter(target__code="tryton")
    assert set(delivered.values_list("status", flat=True)) == {Status.DELIVERED}
    for canonical_id in customers:
        [party] = parties(rpc, canonical_id)
        ref = ExternalReference.objects.get(
            golden__canonical_id=canonical_id, system__code="tryton"
        )
        assert (ref.external_id, ref.object_type) == (str(party["id"]), "party.party")
    [work] = works(rpc, prj)
    ref = ExternalReference.objects.get(golden__canonical_id=prj, system__code="tryton")
    assert (ref.external_id, ref.object_type) == (str(work["id"]), "project.work")
    assert work["party"] == parties(rpc, customers[0])[0]["id"]

    # Someone clears the work's comment in Tryton: the crosswalk still finds the work.
    rpc.model("project.work", "write", [work["id"]], {"comment": ""})
    ingest("customer", "erp", customer(1, name="Aurora Cobalt Renamed GmbH"))
    ingest("project", "erp", project(1, "C-00001", "LE-1", name="Rollout Renamed"))
    assert len(outbox.fan_out_changes()) == 2
    assert drain() == {"delivered": 2}

    assert [p["name"] for p in parties(rpc, customers[0])] == ["Aurora Cobalt Renamed GmbH"]
    [renamed] = rpc.model("project.work", "read", [work["id"]], ["name", "comment"])
    assert (renamed["name"], renamed["comment"]) == ("Rollout Renamed", f"[mdm:{prj}]")
    total_works = rpc.model("project.work", "search_count", [])
    all_customers = rpc.model("party.party", "search_count", [("code", "like", "CUS-%")], **ALL)
    assert (total_works, all_customers) == (1, len(customers))

"""Pacing made visible: the shared bucket's counters (requests paced, waits, 429s) in
``GET /metrics`` and ``manage.py sync_report``, and throttled attempts per route. A
paced ERP delivery against the NetSuite sandbox over real HTTP, judged against the
sandbox's traffic log."""

from __future__ import annotations

import json
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from connectors import outbox, services
from connectors.testing import Sandboxes, customer, delivered_erp_subsidiary, ingest
from golden.models import SourceSystem

pytestmark = pytest.mark.django_db
RATE = 20.0  # requests/s the ERP is paced at


@pytest.fixture
def target_options() -> dict[str, dict[str, Any]]:
    return {"erp": {"rate_limit": RATE}}


def scrape(client: Client) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in text_string_to_metric_families(response.content.decode())
    }


def deliver_paced_erp_customers(sandboxes: Sandboxes, count: int, throttled: int) -> float:
    """``count`` customers delivered to the paced ERP, the ``throttled``-th refused once
    with 429; returns the seconds the delivery call took."""
    erp = SourceSystem.objects.get(code="erp")
    delivered_erp_subsidiary(erp)
    ids = [
        r.canonical_id
        for r in ingest("customer", "crm", *[customer(n) for n in range(1, count + 1)])
    ]
    outbox.fan_out_changes()
    sandboxes.erp.set_fault("throttle", path=f"eid:{ids[throttled]}")
    started = time.monotonic()
    outcomes = services.deliver_ready_messages(erp.pk, "customer")
    assert outcomes == {"delivered": count - 1, "retry": 1}
    return time.monotonic() - started


def test_pacing_counters_and_throttled_attempts_show_in_metrics_and_report(
    client: Client, sandboxes: Sandboxes
) -> None:
    seconds = deliver_paced_erp_customers(sandboxes, count=12, throttled=3)
    traffic = sandboxes.erp.traffic()
    sent = len(traffic["admitted"]) + len(traffic["refused"])
    assert sent == 1 + 12  # the legal entity, then one request per customer

    metrics = scrape(client)

    erp = (("target", "erp"),)
    assert metrics["mdm_sync_pacing_requests"][erp] == sent
    assert metrics["mdm_sync_pacing_refused"][erp] == 1
    # 12 requests at 20/s take at least 0.55 s; nearly all of them waited for a slot
    # (several senders at once, so the waits add up to more than the time it took).
    assert seconds >= (12 - 1) / RATE - 0.05
    assert metrics["mdm_sync_pacing_delayed_requests"][erp] >= 10
    assert metrics["mdm_sync_pacing_wait_seconds"][erp] > 0.3
    assert ("target", "crm") not in {k[0] for k in metrics["mdm_sync_pacing_requests"]}
    throttled = metrics["mdm_sync_throttled_attempts"]
    assert throttled[(("entity_type", "customer"), ("target", "erp"))] == 1
    assert throttled[(("entity_type", "customer"), ("target", "crm"))] == 0

    out = StringIO()
    call_command("sync_report", "--json", stdout=out)
    report = json.loads(out.getvalue())
    [pacing] = report["pacing"]
    assert pacing["target"] == "erp" and pacing["rate_limit"] == pytest.approx(RATE)
    assert (pacing["requests"], pacing["refused"]) == (sent, 1)
    row = next(r for r in report["rows"] if (r["target"], r["entity_type"]) == ("erp", "customer"))
    assert row["throttled"] == 1
    text = StringIO()
    call_command("sync_report", stdout=text)
    assert "paced target" in text.getvalue() and "throttled 1h" in text.getvalue()

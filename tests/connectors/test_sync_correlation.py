"""One correlation ID from the ingest request to the delivery: on the change, on the
outbound message, on the delivery's log records and on the crosswalk's history, however
the delivery runs (a direct call, ``sync_outbox``'s in-process runner) and whatever
correlation ID that runner has itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import outbox, services
from connectors.models import OutboundMessage
from connectors.testing import (
    Sandboxes,
    WorkerProcess,
    customer,
    ingest,
    outbox_is_quiet,
    start_sandboxes,
    wait_until,
    worker_env,
)
from golden.models import ExternalReference, GoldenChange
from mdm.context import HEADER, CorrelationIdFilter, correlation_id, correlation_scope

pytestmark = pytest.mark.django_db
TRACE = "ingest-trace-4711"


@pytest.fixture
def delivery_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # The same filter settings.LOGGING puts on the console handler: it stamps each record
    # with the correlation ID active when the record is emitted.
    stamp = CorrelationIdFilter()
    caplog.handler.addFilter(stamp)
    caplog.set_level(logging.INFO, logger="connectors")
    yield caplog
    caplog.handler.removeFilter(stamp)


def ingest_over_http(api, record: dict) -> str:
    response = api.post(
        "/api/v1/ingest/customer/",
        {"system": "crm", "records": [record]},
        format="json",
        headers={HEADER: TRACE},
    )
    assert response.status_code == 200, response.json()
    assert response[HEADER] == TRACE
    return response.json()["results"][0]["canonical_id"]


def records_about(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_delivery_logs_carry_the_ingest_requests_correlation_id(
    crm_api, sandboxes: Sandboxes, delivery_logs: pytest.LogCaptureFixture
) -> None:
    cus = ingest_over_http(crm_api, customer(1))
    assert GoldenChange.objects.get(canonical_id=cus).correlation_id == TRACE
    with correlation_scope("sweeper-run"):
        outbox.fan_out_changes()
    message = OutboundMessage.objects.get(canonical_id=cus, target__code="crm")
    assert message.correlation_id == TRACE

    # The runner has an ID of its own (a task, a sync_outbox run): the delivery uses the
    # change's and gives the runner's back afterwards.
    with correlation_scope("worker-run"):
        assert services.deliver_outbound_message(message.pk) == "delivered"
        assert correlation_id.get() == "worker-run"

    [delivered] = records_about(delivery_logs, f"delivered {cus} v1 upsert to crm")
    assert delivered.correlation_id == TRACE
    reference = ExternalReference.objects.get(golden__canonical_id=cus, system__code="crm")
    assert reference.history.latest().correlation_id == TRACE


def test_in_process_runner_logs_each_message_under_its_own_correlation_id(
    crm_api, sandboxes: Sandboxes, delivery_logs: pytest.LogCaptureFixture
) -> None:
    cus = ingest_over_http(crm_api, customer(1))
    with correlation_scope("another-request"):
        other_cus = ingest("customer", "crm", customer(2))[0].canonical_id
    # What manage.py sync_outbox does, under the run's own correlation ID.
    with correlation_scope("sync-outbox-run"):
        services.sweep_outbox(enqueue=False)
        outcomes = services.deliver_due_now()
    # Both customers go to the CRM and the PSA; the ERP route names no subsidiary, so both
    # fail pre-send validation there, and say so in the log.
    assert outcomes == {"delivered": 4, "failed": 2}

    [first] = records_about(delivery_logs, f"delivered {cus} v1 upsert to crm")
    [second] = records_about(delivery_logs, f"delivered {other_cus} v1 upsert to crm")
    assert (first.correlation_id, second.correlation_id) == (TRACE, "another-request")
    failed = OutboundMessage.objects.get(canonical_id=cus, target__code="erp")
    [failure] = records_about(delivery_logs, f"message {failed.pk} failed")
    assert failure.correlation_id == TRACE


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_delivers_under_the_ingest_requests_correlation_id(
    crm_api, tmp_path: Path
) -> None:
    """Celery's own ``correlation_id`` (the task ID, a message property) shadows the header
    mdm.context sends, so the task starts under its task ID; the delivery must still run
    under the change's ID. The worker's crosswalk write is stamped with the ID active at
    that moment, the one its log records carry."""
    running = start_sandboxes(tmp_path / "sandboxes")
    worker = WorkerProcess(tmp_path / "worker.log", worker_env(running), concurrency=2)
    try:
        worker.start()
        cus = ingest_over_http(crm_api, customer(1))
        wait_until(outbox_is_quiet, 60, worker.log_tail)
    finally:
        worker.stop()
        running.stop()

    message = OutboundMessage.objects.get(canonical_id=cus, target__code="crm")
    assert (message.status, message.correlation_id) == (OutboundMessage.Status.DELIVERED, TRACE)
    reference = ExternalReference.objects.get(golden__canonical_id=cus, system__code="crm")
    assert reference.history.latest().correlation_id == TRACE

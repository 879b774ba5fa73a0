"""Outbound sync operations: fan out, deliver one message, sweep, approve, replay.

Tasks, the admin, the API and the commands call these. The one write to golden's
tables is ``record_external_id`` (the ID a target assigned, into the crosswalk).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from connectors import dispatch, outbox
from connectors.adapters import registry
from connectors.adapters.base import Adapter, AdapterError, Delivery, Dependency, UpsertResult
from connectors.models import (
    Approval,
    DeliveryAttempt,
    OutboundMessage,
    SyncState,
    TargetBinding,
)
from golden.exceptions import MdmError, NotFound
from golden.models import ExternalReference, GoldenRecord, SourceSystem
from mdm.context import correlation_scope, current_correlation_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

log = logging.getLogger(__name__)
Status = OutboundMessage.Status
Operation = OutboundMessage.Operation


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------------------
# The crosswalk write-back
# --------------------------------------------------------------------------------------
def record_external_id(
    golden: GoldenRecord, system: SourceSystem, external_id: str, object_type: str = ""
) -> ExternalReference:
    """Store the ID a target assigned to a golden record (what xref lookups return)."""
    existing = ExternalReference.objects.filter(golden=golden, system=system).first()
    if existing and existing.external_id == external_id and existing.object_type == object_type:
        return existing  # unchanged: no history row for a repeated delivery
    reference, _ = ExternalReference.objects.update_or_create(
        golden=golden,
        system=system,
        defaults={"external_id": external_id, "object_type": object_type},
    )
    return reference


# --------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------
def deliver_outbound_message(message_id: int, *, worker: str | None = None) -> str:
    """Claim one message and deliver it. Returns the outcome (``delivered``, ``retry``,
    ``failed``, ``dead``, ``waiting``, ``skipped``, or why it was not claimed)."""
    worker = worker or worker_id()
    claim = outbox.claim_message(message_id, worker=worker)
    if claim.message is None:
        if claim.outcome == "busy":
            dispatch.enqueue_deliveries([message_id], countdown=claim.retry_in or 1.0)
        return claim.outcome
    return deliver_claimed(claim.message, worker=worker)


def build_delivery(message: OutboundMessage) -> Delivery:
    payload = message.payload
    binding = TargetBinding.objects.filter(
        system_id=message.target_id, entity_type=message.entity_type
    ).first()
    return Delivery(
        message_id=message.pk,
        target=message.target.code,
        entity_type=message.entity_type,
        canonical_id=message.canonical_id,
        version=message.golden_version,
        operation=message.operation,
        attributes=payload.get("attributes", {}),
        status=payload.get("status", "active"),
        merged_into=payload.get("merged_into"),
        options=binding.options if binding else {},
    )


def deliver_claimed(message: OutboundMessage, *, worker: str) -> str:
    """Deliver a claimed message under the correlation ID of the change that made it (the
    ingest or steward request), so the delivery's log lines and the crosswalk's history
    carry that ID however the message got here: ``sync_outbox``, a direct call, or a task
    (whose header cannot carry it: a worker reads ``correlation_id`` from the message
    properties, where Celery puts the task ID)."""
    with correlation_scope(message.correlation_id or current_correlation_id()):
        return _deliver_claimed(message, worker=worker)


def _deliver_claimed(message: OutboundMessage, *, worker: str) -> str:
    try:
        adapter = registry.get_adapter(message.target)
    except AdapterError as exc:
        outbox.mark_failed(message, worker=worker, error=str(exc))
        return "failed"
    delivery = build_delivery(message)
    if message.operation == Operation.UPSERT:
        stop = _pre_send(adapter, delivery, message, worker)
        if stop:
            return stop
    return _call_target(adapter, delivery, message, worker)


def _pre_send(adapter: Adapter, delivery: Delivery, message: OutboundMessage, worker: str) -> str:
    """Pre-send validation (permanent) and dependencies (wait). '' means go ahead."""
    check = adapter.check(delivery)
    unrouted = [d for d in check.dependencies if not _routed(message.target, d.entity_type)]
    problems = check.problems + [
        f"needs {d.canonical_id} in {message.target.code}, but {d.entity_type.replace('_', ' ')}s "
        f"are not sent there"
        for d in unrouted
    ]
    if problems:
        error = "Pre-send validation: " + "; ".join(problems)
        outbox.mark_failed(message, worker=worker, error=error)
        log.warning("message %s failed: %s", message.pk, error)
        return "failed"
    missing = _missing_dependency(message.target, check.dependencies)
    if missing is not None:
        if missing.canonical_id is None:
            note = f"waiting for its {missing.field} reference to resolve in MDM"
        else:
            note = f"waiting for {missing.canonical_id} in {message.target.code}"
        outbox.mark_waiting(
            message, worker=worker, note=note, waiting_for=missing.canonical_id or ""
        )
        return "waiting"
    return ""


def _routed(target: SourceSystem, entity_type: str) -> bool:
    return TargetBinding.objects.filter(
        system=target, entity_type=entity_type, is_enabled=True
    ).exists() and registry.supports(target, entity_type)


def _missing_dependency(target: SourceSystem, dependencies: list[Dependency]) -> Dependency | None:
    for dependency in dependencies:
        if dependency.canonical_id is None:
            return dependency
        there = (
            SyncState.objects.filter(
                target=target, canonical_id=dependency.canonical_id, delivered_version__gt=0
            )
            .exclude(external_id="")
            .exists()
        )
        if not there:
            return dependency
    return None


def _call_target(
    adapter: Adapter, delivery: Delivery, message: OutboundMessage, worker: str
) -> str:
    attempt = outbox.start_attempt(message, worker=worker)
    started = time.monotonic()
    try:
        if message.operation == Operation.UPSERT:
            result: UpsertResult | None = adapter.upsert(delivery)
        else:
            result = adapter.retire(delivery)
    except AdapterError as exc:
        return _failed_attempt(message, attempt, exc, started, worker)
    except Exception as exc:  # an adapter bug: keep the message, retry with backoff
        log.exception("adapter %s failed on message %s", adapter.kind, message.pk)
        error = AdapterError(f"{exc.__class__.__name__}: {exc}", permanent=False)
        return _failed_attempt(message, attempt, error, started, worker)
    _finish(attempt, started, DeliveryAttempt.Status.DELIVERED, result=result)
    return _succeeded(message, result, worker)


def _finish(
    attempt: DeliveryAttempt,
    started: float,
    status: str,
    *,
    result: UpsertResult | None = None,
    error: AdapterError | None = None,
) -> None:
    attempt.status = status
    attempt.finished_at = timezone.now()
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    if result is not None:
        attempt.external_id = result.external_id
        attempt.http_status = result.http_status
    if error is not None:
        attempt.error = error.message
        attempt.http_status = error.http_status
        attempt.retry_after = error.retry_after
    attempt.save()


def _failed_attempt(
    message: OutboundMessage,
    attempt: DeliveryAttempt,
    error: AdapterError,
    started: float,
    worker: str,
) -> str:
    if error.permanent:
        _finish(attempt, started, DeliveryAttempt.Status.FAILED, error=error)
        outbox.mark_failed(
            message, worker=worker, error=error.message, http_status=error.http_status
        )
        log.warning("message %s failed permanently: %s", message.pk, error.message)
        return "failed"
    _finish(attempt, started, DeliveryAttempt.Status.RETRY, error=error)
    delay = outbox.schedule_retry(
        message,
        worker=worker,
        error=error.message,
        retry_after=error.retry_after,
        http_status=error.http_status,
    )
    if delay is None:
        log.warning("message %s is dead after %s attempts", message.pk, message.attempts)
        return "dead"
    dispatch.enqueue_deliveries([message.pk], countdown=delay)
    return "retry"


def _succeeded(message: OutboundMessage, result: UpsertResult | None, worker: str) -> str:
    if result is None:
        note = f"{message.target.code} had no record to retire"
        with transaction.atomic():
            outbox.mark_skipped(message, worker=worker, note=note)
            outbox.record_delivery(message, external_id="", retired=True)
        return "skipped"
    with transaction.atomic():
        if not outbox.mark_delivered(message, worker=worker, external_id=result.external_id):
            # Our lease ran out meanwhile; the effect happened all the same, so record it
            # (a redelivery is then skipped as stale).
            log.warning("message %s delivered after its lease expired", message.pk)
        outbox.record_delivery(
            message,
            external_id=result.external_id,
            retired=message.operation == Operation.RETIRE,
        )
        if message.operation == Operation.UPSERT and result.external_id:
            record_external_id(
                message.golden, message.target, result.external_id, result.object_type
            )
        waiters = outbox.release_waiters(message.target_id, message.canonical_id)
        transaction.on_commit(lambda: dispatch.enqueue_deliveries(waiters))
    log.info(
        "delivered %s v%s %s to %s as %s",
        message.canonical_id,
        message.golden_version,
        message.operation,
        message.target.code,
        result.external_id,
    )
    return "delivered"


# --------------------------------------------------------------------------------------
# Fan-out and the sweeper
# --------------------------------------------------------------------------------------
def run_fan_out() -> int:
    """Fan out new change-feed rows and send their delivery tasks."""
    made = outbox.fan_out_changes()
    dispatch.enqueue_deliveries(made)
    return len(made)


@dataclass
class SweepResult:
    fanned_out: int = 0
    requeued_stuck: int = 0
    released_held: int = 0
    enqueued: int = 0
    ids: list[int] = field(default_factory=list)


def sweep_outbox(*, limit: int = 1000, enqueue: bool = True) -> SweepResult:
    """What a lost kick or a lost task left behind: fan out, requeue stuck in-flight
    messages, release held ones whose approval came through, send due ones."""
    result = SweepResult()
    result.fanned_out = len(outbox.fan_out_changes())
    result.requeued_stuck = len(outbox.requeue_stuck())
    result.released_held = len(outbox.release_held(limit=limit))
    result.ids = outbox.due_message_ids(limit=limit)
    if enqueue:
        result.enqueued = dispatch.enqueue_deliveries(result.ids)
    return result


def deliver_due_now(*, limit: int = 200) -> dict[str, int]:
    """Deliver due messages in this process (no worker needed): the demo and
    ``manage.py sync_outbox``."""
    outcomes: dict[str, int] = {}
    worker = worker_id()
    for message in outbox.claim_due_messages(worker=worker, limit=limit):
        outcome = deliver_claimed(message, worker=worker)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


# --------------------------------------------------------------------------------------
# Steward actions
# --------------------------------------------------------------------------------------
class NotReplayable(MdmError):
    code = "not_replayable"
    status_code = 409


def approve_golden_record(
    golden: GoldenRecord, *, actor: AbstractBaseUser | None, note: str = ""
) -> Approval:
    """A steward approves the golden record's current version for outbound sync; its held
    messages are released."""
    with transaction.atomic():
        golden = GoldenRecord.objects.select_for_update().get(pk=golden.pk)
        if golden.status != GoldenRecord.Status.ACTIVE:
            raise MdmError(
                f"{golden.canonical_id} is {golden.status}; only active records are approved.",
                code="not_active",
            )
        approval, _ = Approval.objects.get_or_create(
            golden=golden, version=golden.version, defaults={"approved_by": actor, "note": note}
        )
        released = outbox.release_held(golden_ids=[golden.pk])
        transaction.on_commit(lambda: dispatch.enqueue_deliveries(released))
    return approval


def replay_messages(ids: list[int]) -> list[int]:
    """Replay failed or dead messages; returns the IDs that went back to pending."""
    with transaction.atomic():
        replayed = outbox.replay_messages(ids)
        transaction.on_commit(lambda: dispatch.enqueue_deliveries(replayed))
    return replayed


def replay_message(message_id: int) -> OutboundMessage:
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None:
        raise NotFound(f"No outbound message {message_id}.")
    if not replay_messages([message_id]):
        raise NotReplayable(
            f"Message {message_id} is {message.status}; only failed or dead messages replay."
        )
    message.refresh_from_db()
    return message

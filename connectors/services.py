"""Outbound sync operations: fan out, deliver one message, sweep, approve, replay.

Tasks, the admin, the API and the commands call these. The one write to golden's
tables is ``record_external_id`` (the ID a target assigned, into the crosswalk).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from connectors import dispatch, outbox
from connectors.adapters import registry
from connectors.adapters.base import Adapter, AdapterError, Check, Delivery, UpsertResult
from connectors.conf import sync_setting
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
Attempt = DeliveryAttempt.Status


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


def record_external_ids(
    system: SourceSystem, assigned: Sequence[tuple[OutboundMessage, str, str]]
) -> None:
    """``record_external_id`` for a batch of (message, external ID, object type): new and
    changed references with their history rows, each stamped with its message's
    correlation ID; unchanged ones untouched."""
    existing = {
        ref.golden_id: ref
        for ref in ExternalReference.objects.filter(
            system=system, golden_id__in=[m.golden_id for m, _, _ in assigned]
        )
    }
    new: dict[str, list[ExternalReference]] = defaultdict(list)
    changed: dict[str, list[ExternalReference]] = defaultdict(list)
    for message, external_id, object_type in assigned:
        correlation = message.correlation_id or current_correlation_id()
        ref = existing.get(message.golden_id)
        if ref is None:
            ref = existing[message.golden_id] = ExternalReference(
                golden_id=message.golden_id,
                system=system,
                external_id=external_id,
                object_type=object_type,
            )
            new[correlation].append(ref)
        elif (ref.external_id, ref.object_type) != (external_id, object_type):
            ref.external_id, ref.object_type = external_id, object_type
            changed[correlation].append(ref)
    try:
        with transaction.atomic():
            for correlation, refs in new.items():
                bulk_create_with_history(
                    refs, ExternalReference, custom_historical_attrs={"correlation_id": correlation}
                )
    except IntegrityError:
        # A delivery whose lease ran out wrote the same reference meanwhile.
        for refs in new.values():
            for ref in refs:
                record_external_id(ref.golden, system, ref.external_id, ref.object_type)
    for correlation, refs in changed.items():
        bulk_update_with_history(
            refs,
            ExternalReference,
            ["external_id", "object_type"],
            custom_historical_attrs={"correlation_id": correlation},
        )


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


def deliver_ready_messages(
    target_id: int, entity_type: str, *, worker: str | None = None
) -> dict[str, int]:
    """Claim a batch of due messages of one target and entity type and deliver it.
    Returns how many messages came to each outcome."""
    worker = worker or worker_id()
    limit = dispatch.batch_size(SourceSystem.objects.get(pk=target_id).code)
    claim = outbox.claim_batch(
        target_id=target_id, entity_type=entity_type, worker=worker, limit=limit
    )
    if claim.looked_at >= limit:
        # More may be due: the next batch goes to whichever worker is free, while this
        # one sends.
        dispatch.enqueue_batch(target_id, entity_type)
    if claim.busy:
        dispatch.enqueue_batch(target_id, entity_type, countdown=outbox.BUSY_RETRY_SECONDS)
    outcomes = Counter(claim.outcomes.values())
    outcomes.update(deliver_claimed_batch(claim.messages, worker=worker).values())
    return dict(outcomes)


def build_delivery(message: OutboundMessage, options: dict | None = None) -> Delivery:
    payload = message.payload
    if options is None:
        options = route_options(message.target_id, message.entity_type)
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
        options=options,
    )


def route_options(target_id: int, entity_type: str) -> dict:
    binding = TargetBinding.objects.filter(system_id=target_id, entity_type=entity_type).first()
    return binding.options if binding else {}


def deliver_claimed(message: OutboundMessage, *, worker: str) -> str:
    """Deliver one claimed message (see ``deliver_claimed_batch``)."""
    return deliver_claimed_batch([message], worker=worker)[message.pk]


def deliver_claimed_batch(messages: Sequence[OutboundMessage], *, worker: str) -> dict[int, str]:
    """Deliver claimed messages: per target and entity type, pre-send checks, attempt rows
    before the calls, the calls (several records per call where the target's API takes
    them), then every outcome recorded in one transaction. Log lines of each message carry
    the correlation ID of the change that made it (the ingest or steward request), however
    it got here: ``sync_outbox``, a direct call, or a task (whose header cannot carry it: a
    worker reads ``correlation_id`` from the message properties, where Celery puts the
    task ID). Returns the outcome per message."""
    groups: dict[tuple[int, str], list[OutboundMessage]] = defaultdict(list)
    for message in messages:
        groups[(message.target_id, message.entity_type)].append(message)
    outcomes: dict[int, str] = {}
    for group in groups.values():
        outcomes.update(_deliver_group(group, worker))
    return outcomes


def _deliver_group(messages: list[OutboundMessage], worker: str) -> dict[int, str]:
    target = messages[0].target
    try:
        adapter = registry.get_adapter(target)
    except AdapterError as exc:
        return _record(
            target, [outbox.Outcome(m, "failed", error=str(exc)) for m in messages], worker
        )
    options = route_options(target.pk, messages[0].entity_type)
    deliveries = {m.pk: build_delivery(m, options) for m in messages}
    refused, waiting = _pre_send(adapter, target, messages, deliveries)
    outcomes: dict[int, str] = {}
    for message in messages:
        if message.pk in waiting:
            note, waiting_for = waiting[message.pk]
            outbox.mark_waiting(message, worker=worker, note=note, waiting_for=waiting_for)
            outcomes[message.pk] = "waiting"
    stopped = {o.message.pk for o in refused} | set(waiting)
    sendable = [m for m in messages if m.pk not in stopped]
    attempts = outbox.start_attempts(sendable, worker=worker) if sendable else {}
    answers = _send(adapter, sendable, deliveries, worker)
    return {**outcomes, **_record(target, refused, worker, sendable, attempts, answers)}


def _pre_send(
    adapter: Adapter,
    target: SourceSystem,
    messages: list[OutboundMessage],
    deliveries: dict[int, Delivery],
) -> tuple[list[outbox.Outcome], dict[int, tuple[str, str]]]:
    """Pre-send validation (permanent failures) and dependencies (wait: note and the
    canonical ID waited for) of the upserts."""
    checks: dict[int, Check] = {}
    refused: list[outbox.Outcome] = []
    for message in messages:
        if message.operation != Operation.UPSERT:
            continue
        try:
            checks[message.pk] = adapter.check(deliveries[message.pk])
        except AdapterError as exc:
            refused.append(outbox.Outcome(message, "failed", error=str(exc)))
    needed = {d.canonical_id for c in checks.values() for d in c.dependencies if d.canonical_id}
    present = set(
        SyncState.objects.filter(target=target, canonical_id__in=needed, delivered_version__gt=0)
        .exclude(external_id="")
        .values_list("canonical_id", flat=True)
    )
    routed: dict[str, bool] = {}
    waiting: dict[int, tuple[str, str]] = {}
    for message in messages:
        check = checks.get(message.pk)
        if check is None:
            continue
        for dependency in check.dependencies:
            if dependency.entity_type not in routed:
                routed[dependency.entity_type] = _routed(target, dependency.entity_type)
        problems = check.problems + [
            f"needs {d.canonical_id} in {target.code}, but {d.entity_type.replace('_', ' ')}s "
            f"are not sent there"
            for d in check.dependencies
            if not routed[d.entity_type]
        ]
        if problems:
            error = "Pre-send validation: " + "; ".join(problems)
            refused.append(outbox.Outcome(message, "failed", error=error))
            continue
        missing = next((d for d in check.dependencies if d.canonical_id not in present), None)
        if missing is None:
            continue
        if missing.canonical_id is None:
            note = f"waiting for its {missing.field} reference to resolve in MDM"
        else:
            note = f"waiting for {missing.canonical_id} in {target.code}"
        waiting[message.pk] = (note, missing.canonical_id or "")
    return refused, waiting


def _routed(target: SourceSystem, entity_type: str) -> bool:
    return TargetBinding.objects.filter(
        system=target, entity_type=entity_type, is_enabled=True
    ).exists() and registry.supports(target, entity_type)


Answer = UpsertResult | AdapterError | None


def _send(
    adapter: Adapter,
    messages: list[OutboundMessage],
    deliveries: dict[int, Delivery],
    worker: str,
) -> dict[int, tuple[Answer, int]]:
    """The target calls: upserts in chunks of the adapter's batch limit (one request to a
    batch API, or one request per record, several at once), retires one by one. Each
    answer comes with the duration (ms) of the call that carried it. The claim is renewed
    between calls, and while a call's concurrent requests are under way, once a third of
    the lease has passed (a long batch, or a long wait for the target's pacing)."""
    upserts = [m for m in messages if m.operation == Operation.UPSERT]
    size = max(1, adapter.batch_limit)
    calls = [upserts[i : i + size] for i in range(0, len(upserts), size)]
    calls += [[m] for m in messages if m.operation == Operation.RETIRE]
    lease = sync_setting("lease_seconds")
    renewed = time.monotonic()
    answers: dict[int, tuple[Answer, int]] = {}

    def renew_if_due() -> None:
        nonlocal renewed
        if time.monotonic() - renewed > lease / 3:
            outbox.renew_lease([m.pk for m in messages if m.pk not in answers], worker=worker)
            renewed = time.monotonic()

    for call in calls:
        renew_if_due()
        started = time.monotonic()
        results = _call(adapter, call, deliveries, renew_if_due)
        duration = int((time.monotonic() - started) * 1000)
        answers.update({m.pk: (r, duration) for m, r in zip(call, results, strict=True)})
    return answers


def _call(
    adapter: Adapter,
    call: list[OutboundMessage],
    deliveries: dict[int, Delivery],
    heartbeat: Callable[[], None],
) -> list[Answer]:
    """One call: an error of the whole call is every record's answer."""
    first = deliveries[call[0].pk]
    try:
        if first.operation == Operation.RETIRE:
            return [adapter.retire(first)]
        if len(call) == 1:
            return [adapter.upsert(first)]
        batch = [deliveries[m.pk] for m in call]
        results: list[Answer] = list(adapter.upsert_batch(batch, heartbeat=heartbeat))
        if len(results) != len(call):
            raise RuntimeError(f"{len(results)} answers for {len(call)} records")
        return results
    except AdapterError as exc:
        return [exc] * len(call)
    except Exception as exc:  # an adapter bug: keep the messages, retry with backoff
        log.exception("adapter %s failed on messages %s", adapter.kind, [m.pk for m in call])
        return [AdapterError(f"{exc.__class__.__name__}: {exc}", permanent=False)] * len(call)


def _record(
    target: SourceSystem,
    refused: list[outbox.Outcome],
    worker: str,
    sent: Sequence[OutboundMessage] = (),
    attempts: dict[int, DeliveryAttempt] | None = None,
    answers: dict[int, tuple[Answer, int]] | None = None,
) -> dict[int, str]:
    """Every outcome of a batch in one transaction: attempts completed, messages
    delivered / skipped / failed / retrying, what the target holds, the crosswalk, and
    the waiters released; retries and waiters are sent after the commit."""
    attempts, answers = attempts or {}, answers or {}
    outcomes = list(refused)
    delivered: list[tuple[OutboundMessage, str, bool]] = []
    references: list[tuple[OutboundMessage, str, str]] = []
    finished_at = timezone.now()
    for message in sent:
        answer, duration = answers[message.pk]
        attempt = attempts[message.pk]
        attempt.finished_at, attempt.duration_ms = finished_at, duration
        if isinstance(answer, AdapterError):
            attempt.status = Attempt.FAILED if answer.permanent else Attempt.RETRY
            attempt.error, attempt.http_status = answer.message, answer.http_status
            attempt.retry_after = answer.retry_after
            outcomes.append(
                outbox.Outcome(
                    message,
                    "failed" if answer.permanent else "retry",
                    error=answer.message,
                    http_status=answer.http_status,
                    retry_after=answer.retry_after,
                )
            )
            continue
        attempt.status = Attempt.DELIVERED
        if answer is None:
            note = f"{target.code} had no record to retire"
            outcomes.append(outbox.Outcome(message, "skipped", note=note))
            delivered.append((message, "", True))
            continue
        attempt.external_id, attempt.http_status = answer.external_id, answer.http_status
        outcomes.append(outbox.Outcome(message, "delivered", external_id=answer.external_id))
        delivered.append((message, answer.external_id, message.operation == Operation.RETIRE))
        if message.operation == Operation.UPSERT and answer.external_id:
            references.append((message, answer.external_id, answer.object_type))
    with transaction.atomic():
        outbox.update_rows(
            list(attempts.values()),
            [
                "status",
                "finished_at",
                "duration_ms",
                "http_status",
                "error",
                "retry_after",
                "external_id",
            ],
        )
        settled = outbox.settle_batch(outcomes, worker=worker)
        outbox.record_deliveries(delivered)
        record_external_ids(target, references)
        released = [m.canonical_id for m, external_id, _ in delivered if external_id]
        waiters = outbox.release_waiters(target.pk, *released) if released else []
        transaction.on_commit(lambda: _enqueue_after(waiters, settled.delays))
    return {o.message.pk: _report(o, settled.outcomes[o.message.pk], target) for o in outcomes}


def _enqueue_after(waiters: list[int], delays: dict[int, float]) -> None:
    """Released waiters now; retries once due (one task per half-second of delay)."""
    dispatch.enqueue_deliveries(waiters)
    by_delay: dict[float, list[int]] = defaultdict(list)
    for pk, delay in delays.items():
        by_delay[math.ceil(delay * 2) / 2].append(pk)
    for countdown, ids in by_delay.items():
        dispatch.enqueue_deliveries(ids, countdown=countdown)


def _report(outcome: outbox.Outcome, settled: str, target: SourceSystem) -> str:
    """Log one message's outcome under its change's correlation ID; returns it."""
    message = outcome.message
    with correlation_scope(message.correlation_id or current_correlation_id()):
        if outcome.status == "delivered":
            if settled == "lost":
                # Our lease ran out meanwhile; the effect happened all the same and is
                # recorded (a redelivery is then skipped as stale).
                log.warning("message %s delivered after its lease expired", message.pk)
            log.info(
                "delivered %s v%s %s to %s as %s",
                message.canonical_id,
                message.golden_version,
                message.operation,
                target.code,
                outcome.external_id,
            )
            return "delivered"
        if outcome.status == "skipped":
            return "skipped"
        if settled == "lost":
            return "gone"
        if settled == "dead":
            log.warning("message %s is dead after %s attempts", message.pk, message.attempts)
        elif settled == "failed":
            log.warning("message %s failed: %s", message.pk, outcome.error)
        return settled


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
    worker = worker_id()
    claimed = outbox.claim_due_messages(worker=worker, limit=limit)
    return dict(Counter(deliver_claimed_batch(claimed, worker=worker).values()))


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

"""The outbox: fan-out from golden's change feed, claims, retries, ordering.

Exactly once in effect:
- fan-out makes at most one message per (change, target): the idempotency key
  ``<change id>:<target>`` is unique and inserts ignore conflicts, so two sweeps or a kick
  racing a sweep cannot duplicate;
- a claim is a row lock plus a conditional update (``status=pending`` → ``in_flight``,
  checked by row count), under a lock on the (golden record, target) ``SyncState`` row, so
  one worker at a time sends one golden record to one target, and older versions never
  overtake newer ones (an older version is skipped once a newer one is queued, in flight
  or delivered; a version at or below what the target holds is skipped as stale);
- every target call is an upsert keyed by the canonical ID, so a retry after a lost
  response overwrites instead of duplicating.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from connectors import approval
from connectors.adapters import registry
from connectors.conf import sync_setting
from connectors.models import (
    DeliveryAttempt,
    FannedOutChange,
    FanOutCursor,
    OutboundMessage,
    SyncState,
    TargetBinding,
)
from golden.models import GoldenChange, SourceSystem

Status = OutboundMessage.Status
Operation = OutboundMessage.Operation

# A change ID below a committed one may still be in an open transaction; after this long
# it either committed or never will, and the watermark may pass the gap.
WATERMARK_GRACE = timedelta(minutes=15)
BUSY_RETRY_SECONDS = 1.0
_UNDECIDED = approval.Decision(True)  # build without deciding (the probe for the decision)
UPSERT_KINDS = (
    GoldenChange.Kind.CREATED,
    GoldenChange.Kind.UPDATED,
    GoldenChange.Kind.UNMERGED,
)


# --------------------------------------------------------------------------------------
# Fan-out
# --------------------------------------------------------------------------------------
def routes_for(entity_type: str) -> list[SourceSystem]:
    """Targets that should see this entity type: an enabled binding, an active system, and
    an adapter that can map it."""
    bindings = TargetBinding.objects.filter(
        entity_type=entity_type, is_enabled=True, system__is_active=True
    ).select_related("system")
    return [b.system for b in bindings if registry.supports(b.system, entity_type)]


def operation_for(change: GoldenChange) -> str:
    status = change.snapshot.get("status", "active")
    if change.kind in UPSERT_KINDS and status == "active":
        return Operation.UPSERT
    return Operation.RETIRE


def payload_for(change: GoldenChange) -> dict:
    snapshot = change.snapshot or {}
    return {
        "canonical_id": change.canonical_id,
        "entity_type": change.entity_type,
        "version": change.version,
        "kind": change.kind,
        "status": snapshot.get("status", "active"),
        "merged_into": snapshot.get("merged_into"),
        "attributes": snapshot.get("attributes", {}),
    }


def build_message(
    change: GoldenChange,
    target: SourceSystem,
    now: datetime,
    decision: approval.Decision | None = None,
) -> OutboundMessage:
    message = OutboundMessage(
        target=target,
        entity_type=change.entity_type,
        canonical_id=change.canonical_id,
        golden_id=change.golden_id,
        golden_version=change.version,
        change=change,
        operation=operation_for(change),
        payload=payload_for(change),
        idempotency_key=f"{change.pk}:{target.code}",
        next_attempt_at=now,
        correlation_id=change.correlation_id,
    )
    decision = decision or approval.decide(message)
    if not decision.approved:
        message.status = Status.HELD
        message.note = decision.reason[:255]
    return message


def fan_out_changes(*, batch_size: int = 500, max_batches: int = 20) -> list[int]:
    """Turn change-feed rows not yet fanned out into outbound messages. Returns the IDs of
    the pending messages made. Safe to run twice or concurrently."""
    made: list[int] = []
    for _ in range(max_batches):
        ids, seen = _fan_out_batch(batch_size)
        made += ids
        if seen < batch_size:
            break
    advance_watermark()
    return made


def _fan_out_batch(batch_size: int) -> tuple[list[int], int]:
    watermark = _cursor().watermark
    with transaction.atomic():
        # skip_locked: a concurrent fan-out takes other rows instead of waiting for these.
        changes = list(
            GoldenChange.objects.filter(pk__gt=watermark)
            .exclude(Exists(FannedOutChange.objects.filter(change_id=OuterRef("pk"))))
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))[:batch_size]
        )
        if not changes:
            return [], 0
        now = timezone.now()
        routes: dict[str, list[SourceSystem]] = {}
        messages = []
        for change in changes:
            targets = routes.setdefault(change.entity_type, routes_for(change.entity_type))
            if not targets:
                continue
            # Approval does not depend on the target: decide once per change.
            decision = approval.decide(build_message(change, targets[0], now, _UNDECIDED))
            messages += [build_message(change, t, now, decision) for t in targets]
        existing = set(
            OutboundMessage.objects.filter(
                idempotency_key__in=[m.idempotency_key for m in messages]
            ).values_list("idempotency_key", flat=True)
        )
        messages = [m for m in messages if m.idempotency_key not in existing]
        # ignore_conflicts: a concurrent fan-out may insert the same keys meanwhile.
        OutboundMessage.objects.bulk_create(messages, ignore_conflicts=True)
        SyncState.objects.bulk_create(
            [
                SyncState(
                    golden_id=m.golden_id,
                    target=m.target,
                    entity_type=m.entity_type,
                    canonical_id=m.canonical_id,
                )
                for m in messages
            ],
            ignore_conflicts=True,
        )
        FannedOutChange.objects.bulk_create(
            [FannedOutChange(change=c) for c in changes], ignore_conflicts=True
        )
        keys = [m.idempotency_key for m in messages if m.status == Status.PENDING]
        made = list(
            OutboundMessage.objects.filter(idempotency_key__in=keys, status=Status.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return made, len(changes)


def _cursor() -> FanOutCursor:
    cursor, _ = FanOutCursor.objects.get_or_create(pk=1)
    return cursor


def advance_watermark(*, now: datetime | None = None, scan: int = 5000) -> int:
    """Move the watermark over changes that are fanned out, and over ID gaps old enough
    that no open transaction can still fill them; prune the markers below it."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor = FanOutCursor.objects.select_for_update().get(pk=_cursor().pk)
        rows = (
            GoldenChange.objects.filter(pk__gt=cursor.watermark)
            .annotate(done=Exists(FannedOutChange.objects.filter(change_id=OuterRef("pk"))))
            .order_by("pk")
            .values_list("id", "created_at", "done")[:scan]
        )
        watermark = cursor.watermark
        for pk, created_at, done in rows:
            if not done:
                break
            if pk != watermark + 1 and created_at > now - WATERMARK_GRACE:
                break  # a gap below a recent change: an earlier transaction may still commit
            watermark = pk
        if watermark != cursor.watermark:
            cursor.watermark = watermark
            cursor.save(update_fields=["watermark", "updated_at"])
            FannedOutChange.objects.filter(change_id__lte=watermark).delete()
        return watermark


# --------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """The outcome of trying to claim one message."""

    outcome: str  # claimed | gone | not_due | busy | skipped | held
    message: OutboundMessage | None = None
    retry_in: float | None = None


def claim_message(message_id: int, *, worker: str, now: datetime | None = None) -> Claim:
    """Claim one due pending message for ``worker``, or say why not."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock the message row only: locking the joined target and golden rows too would
        # make every other claim for the same target skip, and drop, its message.
        message = (
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=message_id, status=Status.PENDING)
            .select_related("target", "golden")
            .first()
        )
        if message is None:
            return Claim("gone")
        if message.next_attempt_at > now + timedelta(seconds=1):
            return Claim("not_due")
        state = _lock_pair(message)
        blocked = _ordering_block(message, state, now)
        if blocked is not None:
            return blocked
        decision = approval.decide(message)
        if not decision.approved:
            _set(message, Status.PENDING, status=Status.HELD, note=decision.reason[:255])
            return Claim("held")
        lease = timedelta(seconds=sync_setting("lease_seconds"))
        claimed = OutboundMessage.objects.filter(pk=message.pk, status=Status.PENDING).update(
            status=Status.IN_FLIGHT,
            locked_by=worker,
            locked_until=now + lease,
            queued_at=None,
            updated_at=now,
        )
        if claimed != 1:
            return Claim("gone")
        message.refresh_from_db()
        return Claim("claimed", message)


def _lock_pair(message: OutboundMessage) -> SyncState:
    """Serialise claims per (golden record, target)."""
    state, _ = SyncState.objects.get_or_create(
        golden_id=message.golden_id,
        target_id=message.target_id,
        defaults={"entity_type": message.entity_type, "canonical_id": message.canonical_id},
    )
    return SyncState.objects.select_for_update().get(pk=state.pk)


def _ordering_block(message: OutboundMessage, state: SyncState, now: datetime) -> Claim | None:
    """Skip a superseded or stale version; wait while another version of the same record
    is in flight to the same target."""
    pair = OutboundMessage.objects.filter(golden_id=message.golden_id, target_id=message.target_id)
    newer = (
        pair.filter(
            Q(golden_version__gt=message.golden_version)
            | Q(golden_version=message.golden_version, pk__gt=message.pk),
            status__in=[Status.PENDING, Status.IN_FLIGHT, Status.DELIVERED, Status.SKIPPED],
        )
        .order_by("-golden_version")
        .values_list("golden_version", flat=True)
        .first()
    )
    if newer is not None:
        _set(message, Status.PENDING, status=Status.SKIPPED, note=f"superseded by v{newer}")
        return Claim("skipped")
    if state.delivered_version >= message.golden_version:
        note = f"stale: {message.target.code} already has v{state.delivered_version}"
        _set(message, Status.PENDING, status=Status.SKIPPED, note=note)
        return Claim("skipped")
    if pair.filter(status=Status.IN_FLIGHT).exclude(pk=message.pk).exists():
        retry = now + timedelta(seconds=BUSY_RETRY_SECONDS)
        _set(message, Status.PENDING, next_attempt_at=retry)
        return Claim("busy", retry_in=BUSY_RETRY_SECONDS)
    return None


def claim_due_messages(
    *, worker: str, limit: int = 50, now: datetime | None = None
) -> list[OutboundMessage]:
    """Claim up to ``limit`` due messages (a synchronous runner's batch)."""
    now = now or timezone.now()
    ids = list(
        OutboundMessage.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[: limit * 2]
    )
    claimed = []
    for pk in ids:
        claim = claim_message(pk, worker=worker, now=now)
        if claim.message is not None:
            claimed.append(claim.message)
            if len(claimed) >= limit:
                break
    return claimed


def due_message_ids(*, limit: int = 1000, now: datetime | None = None) -> list[int]:
    """Due pending messages with no delivery task sent recently (the sweeper sends one)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=sync_setting("requeue_after_seconds"))
    ids = list(
        OutboundMessage.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=cutoff))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    OutboundMessage.objects.filter(pk__in=ids).update(queued_at=now)
    return ids


def requeue_stuck(*, now: datetime | None = None) -> list[int]:
    """In-flight messages whose lease ran out (a worker died): back to pending."""
    now = now or timezone.now()
    stuck = OutboundMessage.objects.filter(status=Status.IN_FLIGHT, locked_until__lt=now)
    ids = list(stuck.values_list("pk", flat=True))
    if not ids:
        return []
    DeliveryAttempt.objects.filter(
        message_id__in=ids, status=DeliveryAttempt.Status.SENDING
    ).update(
        status=DeliveryAttempt.Status.ABANDONED,
        finished_at=now,
        error="worker lost or lease expired",
    )
    stuck.filter(pk__in=ids).update(
        status=Status.PENDING,
        locked_by="",
        locked_until=None,
        next_attempt_at=now,
        queued_at=None,
        note="lease expired; requeued",
        updated_at=now,
    )
    return ids


# --------------------------------------------------------------------------------------
# Outcomes (conditional on the claim: status in_flight and our worker)
# --------------------------------------------------------------------------------------
def _owned(message: OutboundMessage, worker: str) -> QuerySet[OutboundMessage]:
    return OutboundMessage.objects.filter(pk=message.pk, status=Status.IN_FLIGHT, locked_by=worker)


def _set(message: OutboundMessage, expected: str, **values: object) -> bool:
    updated = OutboundMessage.objects.filter(pk=message.pk, status=expected).update(
        updated_at=timezone.now(), **values
    )
    return updated == 1


def start_attempt(message: OutboundMessage, *, worker: str) -> DeliveryAttempt:
    """The attempt row exists before the call; the message counts it."""
    _owned(message, worker).update(attempts=F("attempts") + 1)
    message.refresh_from_db(fields=["attempts"])
    return DeliveryAttempt.objects.create(message=message, number=message.attempts, worker=worker)


def mark_delivered(message: OutboundMessage, *, worker: str, external_id: str) -> bool:
    now = timezone.now()
    updated = _owned(message, worker).update(
        status=Status.DELIVERED,
        external_id=external_id,
        delivered_at=now,
        locked_by="",
        locked_until=None,
        note="",
        waiting_for="",
        last_error="",
        last_http_status=None,
        updated_at=now,
    )
    return updated == 1


def mark_skipped(message: OutboundMessage, *, worker: str, note: str) -> bool:
    return (
        _owned(message, worker).update(
            status=Status.SKIPPED,
            note=note[:255],
            locked_by="",
            locked_until=None,
            updated_at=timezone.now(),
        )
        == 1
    )


def mark_failed(
    message: OutboundMessage, *, worker: str, error: str, http_status: int | None = None
) -> bool:
    """A permanent failure: to the exception queue with the target's message."""
    return (
        _owned(message, worker).update(
            status=Status.FAILED,
            last_error=error,
            last_http_status=http_status,
            note="",
            locked_by="",
            locked_until=None,
            updated_at=timezone.now(),
        )
        == 1
    )


def mark_waiting(
    message: OutboundMessage, *, worker: str, note: str, waiting_for: str = ""
) -> bool:
    """Back to pending until a dependency exists in the target (or a recheck); failed
    once it has waited longer than ``max_wait_seconds``."""
    now = timezone.now()
    if message.created_at < now - timedelta(seconds=sync_setting("max_wait_seconds")):
        return mark_failed(message, worker=worker, error=f"gave up {note}")
    return (
        _owned(message, worker).update(
            status=Status.PENDING,
            note=note[:255],
            waiting_for=waiting_for,
            next_attempt_at=now + timedelta(seconds=sync_setting("wait_recheck_seconds")),
            locked_by="",
            locked_until=None,
            updated_at=now,
        )
        == 1
    )


def backoff_delay(
    attempts: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before the next attempt: exponential (base × 2^(attempts-1), capped) with
    equal jitter, and never earlier than the target's Retry-After."""
    base = sync_setting("retry_base_seconds")
    cap = sync_setting("retry_cap_seconds")
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    delay = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def schedule_retry(
    message: OutboundMessage,
    *,
    worker: str,
    error: str,
    retry_after: float | None = None,
    http_status: int | None = None,
) -> float | None:
    """Back to pending after a backoff; ``dead`` once attempts are used up. Returns the
    delay, or None when the message went dead (or was no longer ours)."""
    now = timezone.now()
    owned = _owned(message, worker)
    common = {
        "last_error": error,
        "last_http_status": http_status,
        "locked_by": "",
        "locked_until": None,
        "updated_at": now,
    }
    if message.attempts >= sync_setting("max_attempts"):
        owned.update(
            status=Status.DEAD, note=f"gave up after {message.attempts} attempts", **common
        )
        return None
    delay = backoff_delay(message.attempts, retry_after=retry_after)
    updated = owned.update(
        status=Status.PENDING,
        next_attempt_at=now + timedelta(seconds=delay),
        note=f"retry {message.attempts + 1} in {delay:.1f}s",
        **common,
    )
    return delay if updated == 1 else None


def record_delivery(
    message: OutboundMessage, *, external_id: str, retired: bool, now: datetime | None = None
) -> None:
    """What the target now holds (only ever moves forward)."""
    now = now or timezone.now()
    SyncState.objects.filter(
        golden_id=message.golden_id,
        target_id=message.target_id,
        delivered_version__lt=message.golden_version,
    ).update(
        delivered_version=message.golden_version,
        external_id=external_id,
        retired=retired,
        delivered_at=now,
        updated_at=now,
    )


# --------------------------------------------------------------------------------------
# Releasing held and waiting messages, replay
# --------------------------------------------------------------------------------------
def release_waiters(target_id: int, canonical_id: str) -> list[int]:
    """Messages waiting for ``canonical_id`` in this target are due now."""
    waiting = OutboundMessage.objects.filter(
        target_id=target_id, waiting_for=canonical_id, status=Status.PENDING
    )
    ids = list(waiting.values_list("pk", flat=True))
    now = timezone.now()
    waiting.filter(pk__in=ids).update(next_attempt_at=now, waiting_for="", updated_at=now)
    return ids


def release_held(*, golden_ids: Iterable[int] | None = None, limit: int = 1000) -> list[int]:
    """Held messages whose approval came through (a steward approved, a review candidate
    was decided) become pending."""
    held = OutboundMessage.objects.filter(status=Status.HELD).select_related("target")
    if golden_ids is not None:
        held = held.filter(golden_id__in=list(golden_ids))
    released = []
    now = timezone.now()
    for message in held.order_by("pk")[:limit]:
        decision = approval.decide(message)
        if decision.approved and _set(
            message, Status.HELD, status=Status.PENDING, note="", next_attempt_at=now
        ):
            released.append(message.pk)
        elif not decision.approved and decision.reason[:255] != message.note:
            _set(message, Status.HELD, note=decision.reason[:255])
    return released


def replay_messages(ids: Iterable[int]) -> list[int]:
    """Failed or dead messages go back to pending with a fresh attempt budget."""
    replayable = OutboundMessage.objects.filter(
        pk__in=list(ids), status__in=OutboundMessage.REPLAYABLE
    )
    chosen = list(replayable.values_list("pk", flat=True))
    replayable.filter(pk__in=chosen).update(
        status=Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        note="replayed",
        queued_at=None,
        updated_at=timezone.now(),
    )
    return chosen

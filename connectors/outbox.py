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
- a batch claim (``claim_batch``) takes the due messages of one target and entity type
  in one query, locking the message rows only (skip locked), then applies the same
  checks in bulk, with the ``SyncState`` rows locked in primary-key order; a batch holds
  at most one version per golden record (older ones in it are skipped as superseded);
- a claim is a lease (``locked_until``): the sweeper returns messages of a lost worker to
  pending once it runs out, and a long batch renews it (``renew_lease``);
- every target call is an upsert keyed by the canonical ID, so a retry after a lost
  response overwrites instead of duplicating.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from connectors import approval
from connectors.adapters import registry
from connectors.conf import sync_setting
from connectors.models import (
    Approval,
    ApprovalPolicy,
    DeliveryAttempt,
    FannedOutChange,
    FanOutCursor,
    OutboundMessage,
    SyncState,
    TargetBinding,
)
from golden.models import GoldenChange, GoldenRecord, MatchCandidate, SourceSystem

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


@dataclass
class BatchClaim:
    """The outcome of claiming a batch: the claimed messages (in flight, ours), what
    happened to the others it looked at, and how many due messages it looked at."""

    messages: list[OutboundMessage] = field(default_factory=list)
    outcomes: dict[int, str] = field(default_factory=dict)  # pk -> skipped | held | busy
    looked_at: int = 0

    @property
    def busy(self) -> list[int]:
        return [pk for pk, outcome in self.outcomes.items() if outcome == "busy"]


def claim_batch(
    *,
    target_id: int,
    entity_type: str,
    worker: str,
    limit: int,
    now: datetime | None = None,
) -> BatchClaim:
    """Claim up to ``limit`` due pending messages of one target and entity type for
    ``worker``, with the checks ``claim_message`` makes for one, in bulk."""
    now = now or timezone.now()
    result = BatchClaim()
    with transaction.atomic():
        # Lock the message rows only (of=self): locking joined rows made concurrent
        # claims for the same target skip, and drop, their messages.
        candidates = list(
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                target_id=target_id,
                entity_type=entity_type,
                status=Status.PENDING,
                next_attempt_at__lte=now + timedelta(seconds=1),
            )
            .select_related("target")
            .order_by("next_attempt_at", "pk")[:limit]
        )
        result.looked_at = len(candidates)
        if not candidates:
            return result
        skipped: dict[int, str] = {}
        versions: dict[int, list[OutboundMessage]] = {}
        for message in sorted(candidates, key=lambda m: (m.golden_version, m.pk)):
            versions.setdefault(message.golden_id, []).append(message)
        newest = {golden_id: found[-1] for golden_id, found in versions.items()}
        for golden_id, found in versions.items():
            for older in found[:-1]:
                skipped[older.pk] = f"superseded by v{newest[golden_id].golden_version}"
        states = _lock_pairs(target_id, list(newest.values()))
        others = _other_versions(target_id, newest, exclude=[m.pk for m in candidates])
        busy: list[int] = []
        checked: list[OutboundMessage] = []
        for golden_id, message in newest.items():
            rows = others.get(golden_id, [])
            newer = [v for v, pk, status in rows if (v, pk) > (message.golden_version, message.pk)]
            state = states[golden_id]
            if newer:
                skipped[message.pk] = f"superseded by v{max(newer)}"
            elif state.delivered_version >= message.golden_version:
                target = message.target.code
                skipped[message.pk] = f"stale: {target} already has v{state.delivered_version}"
            elif any(status == Status.IN_FLIGHT for _, _, status in rows):
                busy.append(message.pk)
            else:
                checked.append(message)
        decisions = decide_many(checked)
        held = [m for m in checked if not decisions[m.pk].approved]
        claimable = [m for m in checked if decisions[m.pk].approved]

        by_pk = {m.pk: m for m in candidates}
        for pk, note in skipped.items():
            by_pk[pk].status, by_pk[pk].note, by_pk[pk].updated_at = Status.SKIPPED, note, now
            result.outcomes[pk] = "skipped"
        for message in held:
            message.status, message.updated_at = Status.HELD, now
            message.note = decisions[message.pk].reason[:255]
            result.outcomes[message.pk] = "held"
        changed = [by_pk[pk] for pk in skipped] + held
        update_rows(changed, ["status", "note", "updated_at"])
        if busy:
            OutboundMessage.objects.filter(pk__in=busy).update(
                next_attempt_at=now + timedelta(seconds=BUSY_RETRY_SECONDS), updated_at=now
            )
            result.outcomes.update(dict.fromkeys(busy, "busy"))
        if claimable:
            locked_until = now + timedelta(seconds=sync_setting("lease_seconds"))
            OutboundMessage.objects.filter(
                pk__in=[m.pk for m in claimable], status=Status.PENDING
            ).update(
                status=Status.IN_FLIGHT,
                locked_by=worker,
                locked_until=locked_until,
                queued_at=None,
                updated_at=now,
            )
            for message in claimable:
                message.status, message.locked_by = Status.IN_FLIGHT, worker
                message.locked_until, message.queued_at = locked_until, None
            result.messages = claimable
    return result


def _lock_pairs(target_id: int, messages: Sequence[OutboundMessage]) -> dict[int, SyncState]:
    """Lock the (golden record, target) rows of a batch, in primary-key order so two
    batch claims cannot deadlock; rows fan-out did not make are made first."""
    SyncState.objects.bulk_create(
        [
            SyncState(
                golden_id=m.golden_id,
                target_id=target_id,
                entity_type=m.entity_type,
                canonical_id=m.canonical_id,
            )
            for m in messages
        ],
        ignore_conflicts=True,
    )
    rows = (
        SyncState.objects.select_for_update()
        .filter(target_id=target_id, golden_id__in=[m.golden_id for m in messages])
        .order_by("pk")
    )
    return {state.golden_id: state for state in rows}


def _other_versions(
    target_id: int, newest: dict[int, OutboundMessage], *, exclude: list[int]
) -> dict[int, list[tuple[int, int, str]]]:
    """Per golden record: (version, pk, status) of its other messages to this target that
    count for ordering (pending, in flight, delivered or skipped)."""
    rows = (
        OutboundMessage.objects.filter(
            target_id=target_id,
            golden_id__in=list(newest),
            status__in=[Status.PENDING, Status.IN_FLIGHT, Status.DELIVERED, Status.SKIPPED],
        )
        .exclude(pk__in=exclude)
        .values_list("golden_id", "golden_version", "pk", "status")
    )
    found: dict[int, list[tuple[int, int, str]]] = {}
    for golden_id, version, pk, status in rows:
        found.setdefault(golden_id, []).append((version, pk, status))
    return found


def decide_many(messages: Sequence[OutboundMessage]) -> dict[int, approval.Decision]:
    """``approval.decide`` for many messages with a few queries: the same rules and the
    same reasons."""
    decisions: dict[int, approval.Decision] = {}
    upserts = [m for m in messages if m.operation != Operation.RETIRE]
    for message in messages:
        if message.operation == Operation.RETIRE:
            decisions[message.pk] = approval.Decision(True, "retire follows a merge or retirement")
    modes = {t: approval.policy_mode(t) for t in {m.entity_type for m in upserts}}
    steward = [m for m in upserts if modes[m.entity_type] == ApprovalPolicy.Mode.STEWARD]
    auto = [m for m in upserts if modes[m.entity_type] != ApprovalPolicy.Mode.STEWARD]
    approved_up_to: dict[int, int] = {}
    for golden_id, version in Approval.objects.filter(
        golden_id__in=[m.golden_id for m in steward]
    ).values_list("golden_id", "version"):
        approved_up_to[golden_id] = max(version, approved_up_to.get(golden_id, 0))
    for m in steward:
        if approved_up_to.get(m.golden_id, 0) >= m.golden_version:
            decisions[m.pk] = approval.Decision(True, "approved by a steward")
        else:
            reason = f"awaiting a steward's approval of v{m.golden_version}"
            decisions[m.pk] = approval.Decision(False, reason)
    candidates = _undecided_candidates([m.golden_id for m in auto])
    for m in auto:
        problems = approval.validation_problems(m.entity_type, m.payload.get("attributes", {}))
        if problems:
            reason = "does not pass validation: " + "; ".join(problems)
            decisions[m.pk] = approval.Decision(False, reason)
        elif candidates.get(m.golden_id):
            reason = "open review candidate with " + ", ".join(candidates[m.golden_id][:3])
            decisions[m.pk] = approval.Decision(False, reason)
        else:
            decisions[m.pk] = approval.Decision(True, "approved automatically")
    return decisions


def _undecided_candidates(golden_ids: list[int]) -> dict[int, list[str]]:
    """Per golden record: the sorted canonical IDs an undecided review candidate pairs it
    with (``approval.open_candidates`` for many)."""
    if not golden_ids:
        return {}
    wanted = set(golden_ids)
    pairs = MatchCandidate.objects.filter(
        Q(golden_a_id__in=wanted) | Q(golden_b_id__in=wanted), status__in=approval.UNDECIDED
    ).values_list("golden_a_id", "golden_b_id")
    others: dict[int, set[int]] = {}
    for a, b in pairs:
        if a in wanted:
            others.setdefault(a, set()).add(b)
        if b in wanted:
            others.setdefault(b, set()).add(a)
    if not others:
        return {}
    names = dict(
        GoldenRecord.objects.filter(pk__in=set().union(*others.values())).values_list(
            "pk", "canonical_id"
        )
    )
    return {g: sorted(names[o] for o in ids if o in names) for g, ids in others.items()}


def renew_lease(ids: Sequence[int], *, worker: str, now: datetime | None = None) -> int:
    """Extend the claim on messages still in flight for ``worker`` (a long batch, or a
    long wait for the target's pacing); returns how many are still ours."""
    now = now or timezone.now()
    return OutboundMessage.objects.filter(
        pk__in=list(ids), status=Status.IN_FLIGHT, locked_by=worker
    ).update(locked_until=now + timedelta(seconds=sync_setting("lease_seconds")))


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


def next_retry_due() -> datetime | None:
    """When the earliest pending message not waiting for a dependency is due (a retry
    after a rate limit or an outage); None when there is none."""
    return (
        OutboundMessage.objects.filter(status=Status.PENDING, waiting_for="")
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


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
    return start_attempts([message], worker=worker)[message.pk]


def mark_delivered(message: OutboundMessage, *, worker: str, external_id: str) -> bool:
    return _settle_one(Outcome(message, "delivered", external_id=external_id), worker)


def mark_skipped(message: OutboundMessage, *, worker: str, note: str) -> bool:
    return _settle_one(Outcome(message, "skipped", note=note), worker)


def mark_failed(
    message: OutboundMessage, *, worker: str, error: str, http_status: int | None = None
) -> bool:
    """A permanent failure: to the exception queue with the target's message."""
    return _settle_one(Outcome(message, "failed", error=error, http_status=http_status), worker)


def _settle_one(outcome: Outcome, worker: str) -> bool:
    with transaction.atomic():
        return settle_batch([outcome], worker=worker).outcomes[outcome.message.pk] != "lost"


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
    outcome = Outcome(
        message, "retry", error=error, http_status=http_status, retry_after=retry_after
    )
    with transaction.atomic():
        return settle_batch([outcome], worker=worker).delays.get(message.pk)


def record_delivery(
    message: OutboundMessage, *, external_id: str, retired: bool, now: datetime | None = None
) -> None:
    """What the target now holds (only ever moves forward)."""
    with transaction.atomic():
        record_deliveries([(message, external_id, retired)], now=now)


@dataclass
class Outcome:
    """What one delivery call of a batch came to, for ``settle_batch``."""

    message: OutboundMessage
    status: str  # delivered | skipped | failed | retry
    external_id: str = ""
    note: str = ""
    error: str = ""
    http_status: int | None = None
    retry_after: float | None = None


@dataclass
class Settled:
    """What ``settle_batch`` did: per message its final outcome (``delivered``,
    ``skipped``, ``failed``, ``retry``, ``dead``, or ``lost`` when the claim was no
    longer ours), and the delay of each retry."""

    outcomes: dict[int, str] = field(default_factory=dict)
    delays: dict[int, float] = field(default_factory=dict)


def start_attempts(
    messages: Sequence[OutboundMessage], *, worker: str
) -> dict[int, DeliveryAttempt]:
    """``start_attempt`` for a batch: two statements, committed before the calls."""
    with transaction.atomic():
        owned = OutboundMessage.objects.filter(
            pk__in=[m.pk for m in messages], status=Status.IN_FLIGHT, locked_by=worker
        )
        owned.update(attempts=F("attempts") + 1)
        counts = dict(owned.values_list("pk", "attempts"))
        attempts = []
        for message in messages:
            message.attempts = counts.get(message.pk, message.attempts + 1)
            attempts.append(
                DeliveryAttempt(message=message, number=message.attempts, worker=worker)
            )
        DeliveryAttempt.objects.bulk_create(attempts)
    return {a.message_id: a for a in attempts}


def settle_batch(outcomes: Sequence[Outcome], *, worker: str) -> Settled:
    """Record a batch's outcomes on the messages we still hold, in bulk: delivered,
    skipped (nothing to retire), failed (exception queue), retry after a backoff, or dead
    once attempts are used up. Call inside the transaction that records the deliveries."""
    settled = Settled()
    now = timezone.now()
    owned = set(
        OutboundMessage.objects.select_for_update()
        .filter(pk__in=[o.message.pk for o in outcomes], status=Status.IN_FLIGHT, locked_by=worker)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    max_attempts = sync_setting("max_attempts")
    changed: list[OutboundMessage] = []
    for outcome in outcomes:
        message = outcome.message
        if message.pk not in owned:
            settled.outcomes[message.pk] = "lost"
            continue
        message.locked_by, message.locked_until, message.updated_at = "", None, now
        if outcome.status == "delivered":
            message.status, message.external_id, message.delivered_at = (
                Status.DELIVERED,
                outcome.external_id,
                now,
            )
            message.note = message.waiting_for = message.last_error = ""
            message.last_http_status = None
        elif outcome.status == "skipped":
            message.status, message.note = Status.SKIPPED, outcome.note[:255]
        elif outcome.status == "failed":
            message.status, message.note = Status.FAILED, ""
            message.last_error, message.last_http_status = outcome.error, outcome.http_status
        else:
            message.last_error, message.last_http_status = outcome.error, outcome.http_status
            if message.attempts >= max_attempts:
                message.status = Status.DEAD
                message.note = f"gave up after {message.attempts} attempts"
                settled.outcomes[message.pk] = "dead"
                changed.append(message)
                continue
            delay = backoff_delay(message.attempts, retry_after=outcome.retry_after)
            message.status = Status.PENDING
            message.next_attempt_at = now + timedelta(seconds=delay)
            message.note = f"retry {message.attempts + 1} in {delay:.1f}s"
            settled.delays[message.pk] = delay
        settled.outcomes[message.pk] = outcome.status
        changed.append(message)
    update_rows(
        changed,
        [
            "status",
            "external_id",
            "delivered_at",
            "note",
            "waiting_for",
            "last_error",
            "last_http_status",
            "next_attempt_at",
            "locked_by",
            "locked_until",
            "updated_at",
        ],
    )
    return settled


def record_deliveries(
    delivered: Sequence[tuple[OutboundMessage, str, bool]], *, now: datetime | None = None
) -> None:
    """``record_delivery`` for a batch of (message, external ID, retired): the rows are
    locked in primary-key order (as claims lock them) and only ever move forward."""
    if not delivered:
        return
    now = now or timezone.now()
    target_ids = {m.target_id for m, _, _ in delivered}
    states = {
        (s.golden_id, s.target_id): s
        for s in SyncState.objects.select_for_update()
        .filter(target_id__in=target_ids, golden_id__in=[m.golden_id for m, _, _ in delivered])
        .order_by("pk")
    }
    changed = []
    for message, external_id, retired in delivered:
        state = states.get((message.golden_id, message.target_id))
        if state is None or state.delivered_version >= message.golden_version:
            continue
        state.delivered_version, state.external_id = message.golden_version, external_id
        state.retired, state.delivered_at, state.updated_at = retired, now, now
        changed.append(state)
    update_rows(
        changed, ["delivered_version", "external_id", "retired", "delivered_at", "updated_at"]
    )


def update_rows(rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """``bulk_update`` as one ``UPDATE … FROM (VALUES …)`` per 1,000 rows on PostgreSQL:
    Django's ``bulk_update`` builds a CASE per field and row, whose compilation cost more
    than the batch's target calls."""
    if not rows:
        return
    model = type(rows[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields)
        return
    meta = model._meta
    pk = meta.pk
    columns = [pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}" for c in columns[1:])
    casts = "(" + ", ".join(f"CAST(%s AS {c.db_type(connection)})" for c in columns) + ")"
    names = ", ".join(quote(c.column) for c in columns)
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        params = [
            c.get_db_prep_save(getattr(row, c.attname), connection)
            for row in chunk
            for c in columns
        ]
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
            f"FROM (VALUES {', '.join([casts] * len(chunk))}) AS v({names}) "
            f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


# --------------------------------------------------------------------------------------
# Releasing held and waiting messages, replay
# --------------------------------------------------------------------------------------
def release_waiters(target_id: int, *canonical_ids: str) -> list[int]:
    """Messages waiting for any of ``canonical_ids`` in this target are due now."""
    waiting = OutboundMessage.objects.filter(
        target_id=target_id, waiting_for__in=canonical_ids, status=Status.PENDING
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

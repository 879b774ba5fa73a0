"""Reads for the report, the API and the admin: counts per target and entity type,
a golden record's sync state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, Min, Q
from django.utils import timezone

from connectors.approval import approval_status
from connectors.models import DeliveryAttempt, OutboundMessage, SyncState
from connectors.pacing import pacer_for
from golden.models import GoldenRecord

STATUSES = [s.value for s in OutboundMessage.Status]


def sync_report(*, latency_window: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
    """One row per (target, entity type): counts per status, the oldest pending message's
    age in seconds, the mean change-to-delivery latency over the last hour, and the
    attempts the target refused for its rate or concurrency limit in that hour
    (``throttled``: HTTP 429, or Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``)."""
    now = timezone.now()
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(target: str, entity_type: str) -> dict[str, Any]:
        key = (target, entity_type)
        if key not in rows:
            rows[key] = {
                "target": target,
                "entity_type": entity_type,
                **dict.fromkeys(STATUSES, 0),
                "oldest_pending_age_seconds": None,
                "delivery_latency_seconds": None,
                "throttled": 0,
            }
        return rows[key]

    counts = OutboundMessage.objects.values("target__code", "entity_type", "status").annotate(
        n=Count("pk")
    )
    for c in counts:
        row(c["target__code"], c["entity_type"])[c["status"]] = c["n"]
    oldest = (
        OutboundMessage.objects.filter(status__in=[OutboundMessage.Status.PENDING])
        .values("target__code", "entity_type")
        .annotate(oldest=Min("created_at"))
    )
    for o in oldest:
        age = (now - o["oldest"]).total_seconds()
        row(o["target__code"], o["entity_type"])["oldest_pending_age_seconds"] = round(age, 1)
    latency = (
        OutboundMessage.objects.filter(
            status=OutboundMessage.Status.DELIVERED, delivered_at__gte=now - latency_window
        )
        .values("target__code", "entity_type")
        .annotate(latency=Avg(F("delivered_at") - F("created_at")))
    )
    for lat in latency:
        if lat["latency"] is not None:
            seconds = round(lat["latency"].total_seconds(), 3)
            row(lat["target__code"], lat["entity_type"])["delivery_latency_seconds"] = seconds
    throttled = (
        DeliveryAttempt.objects.filter(
            Q(http_status=429) | Q(http_status=403, error__contains="REQUEST_LIMIT_EXCEEDED"),
            status=DeliveryAttempt.Status.RETRY,
            started_at__gte=now - latency_window,
        )
        .values("message__target__code", "message__entity_type")
        .annotate(n=Count("pk"))
    )
    for t in throttled:
        row(t["message__target__code"], t["message__entity_type"])["throttled"] = t["n"]
    return [rows[key] for key in sorted(rows)]


def pacing_report() -> list[dict[str, Any]]:
    """Per paced target (``rate_limit`` set): its rate and the shared bucket's counters
    since Redis started keeping them: requests paced, how many waited for their slot,
    seconds waited in all, 429 answers. Without Redis the counters are this process's."""
    rows = []
    for code, config in sorted(getattr(settings, "MDM_TARGETS", {}).items()):
        pacer = pacer_for(code, config)
        if pacer is not None:
            rows.append({"target": code, "rate_limit": 1 / pacer.interval, **pacer.stats()})
    return rows


def record_sync_status(golden: GoldenRecord) -> dict[str, Any]:
    """Approval and, per target, what it holds and the latest message."""
    states = {
        s.target_id: s for s in SyncState.objects.filter(golden=golden).select_related("target")
    }
    latest: dict[int, OutboundMessage] = {}
    for message in OutboundMessage.objects.filter(golden=golden).order_by("pk"):
        latest[message.target_id] = message
    targets = []
    for target_id in sorted(set(states) | set(latest)):
        state = states.get(target_id)
        message = latest.get(target_id)
        targets.append(
            {
                "target": (state.target.code if state else message.target.code),  # type: ignore[union-attr]
                "delivered_version": state.delivered_version if state else 0,
                "external_id": state.external_id if state else "",
                "retired": state.retired if state else False,
                "delivered_at": state.delivered_at if state else None,
                "latest_message": {
                    "id": message.pk,
                    "version": message.golden_version,
                    "operation": message.operation,
                    "status": message.status,
                    "note": message.note,
                    "last_error": message.last_error,
                }
                if message
                else None,
            }
        )
    return {
        "canonical_id": golden.canonical_id,
        "entity_type": golden.entity_type,
        "version": golden.version,
        "status": golden.status,
        "approval": approval_status(golden),
        "targets": targets,
    }

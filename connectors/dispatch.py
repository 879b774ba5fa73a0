"""Sending delivery and fan-out tasks. Services call this after their transaction
commits; nothing is sent for work that might still roll back.

With ``CELERY_TASK_ALWAYS_EAGER`` (the embedded demo default, no Redis) tasks would run
inside the caller, so a web request would wait on three remote APIs and a countdown could
not be honoured. There the fan-out still runs at once (it only writes rows), and delivery
is left to ``manage.py sync_outbox --loop N``, which does what worker and beat do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from celery import current_app
from django.utils import timezone

from connectors.models import OutboundMessage
from mdm.context import correlation_scope


def _eager() -> bool:
    return bool(current_app.conf.task_always_eager)


def enqueue_deliveries(ids: Iterable[int], *, countdown: float = 0.0) -> int:
    from connectors import tasks

    ids = list(ids)
    if not ids or _eager():
        return 0
    # The sweeper re-sends a task only once this has passed (plus its requeue delay).
    OutboundMessage.objects.filter(pk__in=ids).update(
        queued_at=timezone.now() + timedelta(seconds=countdown)
    )
    # Each task carries its change's correlation ID, so the worker's log lines for a
    # delivery share the ID of the request that made the change.
    correlation = dict(
        OutboundMessage.objects.filter(pk__in=ids).values_list("pk", "correlation_id")
    )
    for pk in ids:
        with correlation_scope(correlation.get(pk) or None):
            tasks.deliver_outbound_message_task.apply_async(args=[pk], countdown=countdown or None)
    return len(ids)


def kick_fan_out() -> None:
    from connectors import tasks

    tasks.fan_out_changes_task.apply_async()

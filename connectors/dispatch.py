"""Sending delivery and fan-out tasks. Services call this after their transaction
commits; nothing is sent for work that might still roll back.

A delivery task names a target and an entity type, not a message: it claims whatever
is due there, up to the target's batch size (``MDM_TARGETS[code]["batch_size"]``), so
messages made together leave together. Sending messages means sending enough tasks to
cover them; a task that finds nothing due does nothing.

With ``CELERY_TASK_ALWAYS_EAGER`` (the embedded demo default, no Redis) tasks would run
inside the caller, so a web request would wait on three remote APIs and a countdown could
not be honoured. There the fan-out still runs at once (it only writes rows), and delivery
is left to ``manage.py sync_outbox --loop N``, which does what worker and beat do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

from celery import current_app
from django.db.models import Count
from django.utils import timezone

from connectors.conf import target_config
from connectors.models import OutboundMessage

DEFAULT_BATCH_SIZE = 50


def _eager() -> bool:
    return bool(current_app.conf.task_always_eager)


def batch_size(target_code: str) -> int:
    """Messages one delivery task claims for this target."""
    return max(1, int(target_config(target_code).get("batch_size") or DEFAULT_BATCH_SIZE))


def enqueue_deliveries(ids: Iterable[int], *, countdown: float = 0.0) -> int:
    """Send delivery tasks covering these messages (one per batch of their target and
    entity type); returns how many messages they cover."""
    ids = list(ids)
    if not ids or _eager():
        return 0
    messages = OutboundMessage.objects.filter(pk__in=ids)
    # The sweeper re-sends a task only once this has passed (plus its requeue delay).
    messages.update(queued_at=timezone.now() + timedelta(seconds=countdown))
    groups = (
        messages.values_list("target_id", "target__code", "entity_type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for target_id, code, entity_type, n in groups:
        for _ in range(math.ceil(n / batch_size(code))):
            enqueue_batch(target_id, entity_type, countdown=countdown)
    return len(ids)


def enqueue_batch(target_id: int, entity_type: str, *, countdown: float = 0.0) -> None:
    from connectors import tasks

    if _eager():
        return
    tasks.deliver_ready_messages_task.apply_async(
        args=[target_id, entity_type], countdown=countdown or None
    )


def kick_fan_out() -> None:
    from connectors import tasks

    tasks.fan_out_changes_task.apply_async()

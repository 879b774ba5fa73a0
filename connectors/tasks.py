"""Celery tasks: thin. Arguments are primary keys; each task calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from connectors import services


@shared_task(name="connectors.tasks.fan_out_changes_task", ignore_result=True)
def fan_out_changes_task() -> int:
    return services.run_fan_out()


@shared_task(name="connectors.tasks.deliver_ready_messages_task", ignore_result=True)
def deliver_ready_messages_task(target_id: int, entity_type: str) -> dict[str, int]:
    # Retries are rows (next_attempt_at) plus a countdown task or the sweeper, not Celery
    # retries: the schedule survives a lost task and is visible in the admin.
    return services.deliver_ready_messages(target_id, entity_type)


@shared_task(name="connectors.tasks.deliver_outbound_message_task", ignore_result=True)
def deliver_outbound_message_task(message_id: int) -> str:
    # One message: tasks sent before delivery went by batch still find their message.
    return services.deliver_outbound_message(message_id)


@shared_task(name="connectors.tasks.sweep_outbox_task", ignore_result=True)
def sweep_outbox_task() -> dict[str, Any]:
    result = services.sweep_outbox()
    return {
        "fanned_out": result.fanned_out,
        "requeued_stuck": result.requeued_stuck,
        "released_held": result.released_held,
        "enqueued": result.enqueued,
    }

"""Celery tasks: thin. Each calls one service."""

from __future__ import annotations

from celery import shared_task

from golden.services.batch_partitions import score_partition


@shared_task(name="golden.tasks.score_partition_task", ignore_result=True)
def score_partition_task(entity_type: str, run_id: str, part: int) -> int:
    return score_partition(entity_type, run_id, part)

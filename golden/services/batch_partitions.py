"""Batch scoring split into Celery tasks, so more workers mean more speed.

The coordinator blocks (numpy, seconds for a million records) and splits the pairs that
may reach the review band into partitions. Each partition's record IDs and pairs go to
Redis; one task per partition loads those records, scores its pairs with the same
comparators, weights and thresholds, and writes the scored rows back. The coordinator then
clusters them all: clustering needs the whole graph, and it is the cheap step. A task run
twice (``acks_late`` after a lost worker) overwrites its own result, so nothing doubles.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import numpy as np
import redis
from django.conf import settings

from golden.matching import model_for, record_features
from golden.matching.batch import pairs_to_compare, score_pairs
from golden.matching.features import Features
from golden.matching.frequency import annotate_from_store
from golden.matching.scoring import MatchModel
from golden.models import SourceRecord

SCORED = np.dtype([("i", "<i4"), ("j", "<i4"), ("weight", "<f8"), ("kind", "i1")])
# Partition data lives in Redis only while a run needs it.
KEY_TTL_SECONDS = 3600


class PartitionError(RuntimeError):
    """A partition failed or did not finish in time."""


def _redis() -> redis.Redis:
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        raise PartitionError(
            "Scoring in Celery partitions needs REDIS_URL and running Celery workers."
        )
    return redis.Redis.from_url(settings.REDIS_URL)


def _key(run_id: str, part: int | str, what: str) -> str:
    return f"mdm:batch:{run_id}:{part}:{what}"


def score_in_partitions(
    entity_type: str,
    record_ids: Sequence[int],
    features: Sequence[Features],
    model: MatchModel,
    parts: int,
    *,
    timeout: float = 3600.0,
) -> tuple[int, int, list[tuple[int, int, float, int]]]:
    """(candidate pairs, compared pairs, scored rows) with the scoring done by ``parts``
    Celery tasks. ``record_ids[k]`` is the source record behind ``features[k]``."""
    from golden.tasks import score_partition_task

    client = _redis()
    n_pairs, left, right = pairs_to_compare(features, model)
    run_id = uuid.uuid4().hex
    ids = np.asarray(record_ids, dtype=np.int64)
    positions = [chunk for chunk in np.array_split(np.arange(len(left)), parts) if len(chunk)]
    members = []
    for part, chunk in enumerate(positions):
        # A partition's records: those its pairs touch, sorted; pairs become local indices.
        records = np.unique(np.concatenate([left[chunk], right[chunk]]))
        local = np.stack(
            [np.searchsorted(records, left[chunk]), np.searchsorted(records, right[chunk])]
        ).astype(np.int32)
        members.append(records)
        pipe = client.pipeline()
        pipe.set(_key(run_id, part, "records"), ids[records].tobytes(), ex=KEY_TTL_SECONDS)
        pipe.set(_key(run_id, part, "pairs"), local.tobytes(), ex=KEY_TTL_SECONDS)
        pipe.execute()
    for part in range(len(positions)):
        score_partition_task.delay(entity_type, run_id, part)
    try:
        _wait_for(client, run_id, len(positions), timeout)
        scored: list[tuple[int, int, float, int]] = []
        for part, records in enumerate(members):
            rows = np.frombuffer(client.get(_key(run_id, part, "scored")) or b"", dtype=SCORED)
            scored += zip(
                records[rows["i"]].tolist(),
                records[rows["j"]].tolist(),
                rows["weight"].tolist(),
                rows["kind"].tolist(),
                strict=True,
            )
    finally:
        client.delete(
            _key(run_id, "all", "done"),
            *(_key(run_id, p, what) for p in range(len(positions)) for what in PARTS),
        )
    return n_pairs, len(left), scored


PARTS = ("records", "pairs", "scored")


def _wait_for(client: redis.Redis, run_id: str, parts: int, timeout: float) -> None:
    """Block until every partition reported done; a task run twice reports twice."""
    deadline = time.monotonic() + timeout
    finished: set[int] = set()
    while len(finished) < parts:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = sorted(set(range(parts)) - finished)
            raise PartitionError(
                f"Partitions {missing} did not finish within {timeout:.0f} s; "
                "are Celery workers running? See their logs."
            )
        answer = client.blpop([_key(run_id, "all", "done")], timeout=min(remaining, 5.0))
        if answer is None:
            continue
        report = answer[1].decode()
        part, _, error = report.partition(":error:")
        if error:
            raise PartitionError(f"Partition {part} failed: {error}")
        finished.add(int(part))


def score_partition(entity_type: str, run_id: str, part: int) -> int:
    """The work of one partition task: load its records, score its pairs, store the rows."""
    client = _redis()
    done = _key(run_id, "all", "done")
    try:
        ids = np.frombuffer(client.get(_key(run_id, part, "records")) or b"", dtype=np.int64)
        pairs = np.frombuffer(client.get(_key(run_id, part, "pairs")) or b"", dtype=np.int32)
        left, right = pairs.reshape(2, -1) if len(pairs) else (pairs, pairs)
        by_id = SourceRecord.objects.select_related("golden").in_bulk(ids.tolist())
        features = annotate_from_store([record_features(by_id[i]) for i in ids.tolist()])
        rows = score_pairs(
            features, model_for(entity_type), zip(left.tolist(), right.tolist(), strict=True)
        )
        client.set(
            _key(run_id, part, "scored"),
            np.array(rows, dtype=SCORED).tobytes(),
            ex=KEY_TTL_SECONDS,
        )
    except Exception as exc:
        client.rpush(done, f"{part}:error:{type(exc).__name__}: {exc}")
        client.expire(done, KEY_TTL_SECONDS)
        raise
    client.rpush(done, str(part))
    client.expire(done, KEY_TTL_SECONDS)
    return len(rows)

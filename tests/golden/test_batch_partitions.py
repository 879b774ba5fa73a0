"""Batch matching split into Celery tasks: a real worker scores the partitions, and the
outcome is the one a single local run gives."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from connectors.testing import WorkerProcess, database_url
from golden import synthetic
from golden.matching import forget_match_settings
from golden.models import GoldenRecord, MatchSettings
from golden.services import ingest_by_system
from golden.services.batch import run_batch_matching
from golden.services.batch_partitions import PartitionError, _key, _wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="module")
def worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mdm.settings",
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path_factory.mktemp("batch-partitions") / "worker.log"
    # Only the matching queue and no beat: nothing else touches the database meanwhile.
    process = WorkerProcess(log, env, concurrency=2, queues="matching", beat=False).start()
    yield process
    process.stop()


def ingest_generated(companies: int) -> None:
    """Each system's records arrive in one batch, as from three integrations, while
    ingestion links only on near-certain evidence: batch matching has work left."""
    MatchSettings.objects.create(entity_type="customer", auto_link=0.99999, sole_candidate=1.01)
    forget_match_settings()
    ingest_by_system(
        synthetic.generate_customers(companies, seed=9),
        systems=("crm", "erp", "psa"),
        batch_size=companies * 4,
    )
    MatchSettings.objects.all().delete()
    forget_match_settings()


def test_partitioned_scoring_gives_the_local_result(worker: WorkerProcess) -> None:
    ingest_generated(150)
    local = run_batch_matching("customer", actor=None, dry_run=True)
    split = run_batch_matching("customer", actor=None, dry_run=True, partitions=3)
    assert local.merges, "the generated data leaves something for batch matching to merge"
    assert split.merges == local.merges
    assert split.review_candidates == local.review_candidates
    assert split.candidate_pairs == local.candidate_pairs
    assert worker.log_path.read_text().count("golden.tasks.score_partition_task") >= 3

    applied = run_batch_matching("customer", actor=None, partitions=3)
    assert applied.merges == local.merges
    merged = GoldenRecord.objects.filter(status=GoldenRecord.Status.MERGED).count()
    assert merged == sum(len(group) - 1 for group in local.merges)
    assert run_batch_matching("customer", actor=None, dry_run=True).merges == []


def test_a_failed_partition_is_reported_with_its_error() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(_key("run-failed", "all", "done"), "0", "1:error:KeyError: 42")
    with pytest.raises(PartitionError, match="Partition 1 failed: KeyError: 42"):
        _wait_for(client, "run-failed", 2, timeout=5)


def test_a_partition_that_never_reports_times_out() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(_key("run-slow", "all", "done"), "0", "0")
    with pytest.raises(PartitionError, match=r"Partitions \[1\] did not finish"):
        _wait_for(client, "run-slow", 2, timeout=1)

"""Re-cluster one entity type with the batch matcher (see golden.services.batch)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from golden.entities import ENTITIES
from golden.services.batch import run_batch_matching
from golden.services.batch_partitions import PartitionError
from mdm.context import correlation_scope


class Command(BaseCommand):
    help = "Batch-match every active record of an entity type: merge auto-links, queue reviews."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity", required=True, choices=sorted(ENTITIES))
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Also propose unmerges for records the batch places outside their golden record",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing"
        )
        parser.add_argument("--workers", type=int, default=2, help="Local scoring processes")
        parser.add_argument(
            "--partitions",
            type=int,
            default=0,
            help="Score in this many Celery tasks instead (needs Redis and running workers)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        with correlation_scope() as correlation, tqdm(total=4, unit="step", disable=None) as bar:

            def progress(message: str) -> None:
                bar.set_description(message)
                bar.update(1)

            try:
                report = run_batch_matching(
                    opts["entity"],
                    actor=None,
                    rebuild=opts["rebuild"],
                    dry_run=opts["dry_run"],
                    workers=opts["workers"],
                    partitions=opts["partitions"],
                    progress=progress,
                )
            except PartitionError as exc:
                raise CommandError(str(exc)) from exc
        verb = "would" if opts["dry_run"] else "did"
        self.stdout.write(
            f"{report.records:,} records, {report.candidate_pairs:,} candidate pairs "
            f"({', '.join(f'{k} {v:.1f}s' for k, v in report.seconds.items())})\n"
            f"{verb} merge {len(report.merges)} groups of golden records, open "
            f"{report.review_candidates} review candidates, propose {report.split_proposals} unmerges; "
            f"{report.blocked_by_decisions} merges held back by steward decisions; "
            f"{report.links_changed} links changed (correlation ID {correlation})"
        )
        for group in report.merges[:10]:
            self.stdout.write(f"  {' + '.join(group)}")

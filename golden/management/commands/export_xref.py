"""Write the crosswalk as CSV ``golden_id,system,source_id``: one row per source record."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from golden.entities import ENTITIES, entity_spec
from golden.management.csv_output import write_csv
from golden.models import SourceRecord


class Command(BaseCommand):
    help = "Export the crosswalk (golden ID, system, source ID) of one entity type as CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Output path, or - for standard output")
        parser.add_argument("--entity", required=True, choices=sorted(ENTITIES))

    def handle(self, *args: Any, **opts: Any) -> None:
        rows = (
            SourceRecord.objects.filter(entity_type=entity_spec(opts["entity"]).entity_type)
            .order_by("golden__canonical_id", "system__code", "source_id")
            .values_list("golden__canonical_id", "system__code", "source_id")
        )
        count = write_csv(
            opts["file"], ["golden_id", "system", "source_id"], rows.iterator(chunk_size=5000)
        )
        if opts["file"] != "-":
            self.stdout.write(f"{count} crosswalk rows written to {opts['file']}")

"""Write the crosswalk as CSV ``golden_id,system,source_id``: one row per source record."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from golden.entities import ENTITIES, entity_spec
from golden.models import SourceRecord


class Command(BaseCommand):
    help = "Export the crosswalk (golden ID, system, source ID) of one entity type as CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Output path, or - for standard output")
        parser.add_argument("--entity", required=True, choices=sorted(ENTITIES))

    def handle(self, *args: Any, **opts: Any) -> None:
        spec = entity_spec(opts["entity"])
        rows = (
            SourceRecord.objects.filter(entity_type=spec.entity_type)
            .order_by("golden__canonical_id", "system__code", "source_id")
            .values_list("golden__canonical_id", "system__code", "source_id")
        )
        out = (
            sys.stdout
            if opts["file"] == "-"
            else Path(opts["file"]).open("w", newline="", encoding="utf-8")
        )
        try:
            writer = csv.writer(out)
            writer.writerow(["golden_id", "system", "source_id"])
            count = 0
            for row in rows.iterator(chunk_size=5000):
                writer.writerow(row)
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
        if opts["file"] != "-":
            self.stdout.write(f"{count} crosswalk rows written to {opts['file']}")

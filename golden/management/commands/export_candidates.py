"""Write the open review candidates as CSV ``golden_id_a,golden_id_b,score``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from golden.entities import ENTITIES, entity_spec
from golden.management.csv_output import write_csv
from golden.models import MatchCandidate


class Command(BaseCommand):
    help = "Export open review candidates of one entity type as CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Output path, or - for standard output")
        parser.add_argument("--entity", required=True, choices=sorted(ENTITIES))

    def handle(self, *args: Any, **opts: Any) -> None:
        rows = (
            MatchCandidate.objects.filter(
                entity_type=entity_spec(opts["entity"]).entity_type,
                status=MatchCandidate.Status.OPEN,
            )
            .order_by("-score", "id")
            .values_list("golden_a__canonical_id", "golden_b__canonical_id", "score")
        )
        formatted = ((a, b, f"{score:.6f}") for a, b, score in rows.iterator(chunk_size=5000))
        count = write_csv(opts["file"], ["golden_id_a", "golden_id_b", "score"], formatted)
        if opts["file"] != "-":
            self.stdout.write(f"{count} open candidates written to {opts['file']}")

"""Outbound sync counts per target and entity type.

manage.py sync_report [--json]
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connectors.selectors import STATUSES, sync_report

COLUMNS = ["held", "pending", "in_flight", "delivered", "failed", "dead", "skipped"]


class Command(BaseCommand):
    help = "Outbound sync: messages per target and entity type, by status; oldest pending age."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = sync_report()
        if options["json"]:
            self.stdout.write(json.dumps({"rows": rows}, indent=2, default=str))
            return
        assert set(COLUMNS) == set(STATUSES)
        header = ["target", "entity", *COLUMNS, "oldest pending", "latency"]
        table = [header]
        for row in rows:
            age = row["oldest_pending_age_seconds"]
            latency = row["delivery_latency_seconds"]
            table.append(
                [
                    row["target"],
                    row["entity_type"],
                    *(str(row[c]) for c in COLUMNS),
                    "-" if age is None else f"{age:.0f}s",
                    "-" if latency is None else f"{latency:.2f}s",
                ]
            )
        if len(table) == 1:
            self.stdout.write("No outbound messages yet.")
            return
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for r in table:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))

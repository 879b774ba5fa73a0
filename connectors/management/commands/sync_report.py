"""Outbound sync counts per target and entity type.

manage.py sync_report [--json]
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connectors.selectors import STATUSES, pacing_report, sync_report

COLUMNS = ["held", "pending", "in_flight", "delivered", "failed", "dead", "skipped"]


class Command(BaseCommand):
    help = "Outbound sync: messages per target and entity type, by status; oldest pending age."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = sync_report()
        pacing = pacing_report()
        if options["json"]:
            self.stdout.write(json.dumps({"rows": rows, "pacing": pacing}, indent=2, default=str))
            return
        assert set(COLUMNS) == set(STATUSES)
        header = ["target", "entity", *COLUMNS, "oldest pending", "latency", "throttled 1h"]
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
                    str(row["throttled"]),
                ]
            )
        if len(table) == 1:
            self.stdout.write("No outbound messages yet.")
        else:
            self._print(table)
        if pacing:
            self.stdout.write("")
            self._print(
                [
                    ["paced target", "rate/s", "requests", "waited", "seconds waited", "429s"],
                    *(
                        [
                            p["target"],
                            f"{p['rate_limit']:g}",
                            f"{p['requests']:.0f}",
                            f"{p['delayed']:.0f}",
                            f"{p['wait_seconds']:.1f}",
                            f"{p['refused']:.0f}",
                        ]
                        for p in pacing
                    ),
                ]
            )

    def _print(self, table: list[list[str]]) -> None:
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for r in table:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))

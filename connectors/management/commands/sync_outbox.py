"""Run the outbox in this process, without a Celery worker (the embedded demo, or a
one-off catch-up): fan out, then deliver what is due.

    manage.py sync_outbox [--loop SECONDS]
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connectors import services


class Command(BaseCommand):
    help = "Fan out golden changes and deliver due outbound messages in this process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop", type=float, default=0, help="keep going, sleeping this many seconds"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            sweep = services.sweep_outbox(enqueue=False)
            outcomes = services.deliver_due_now()
            total = sum(outcomes.values())
            self.stdout.write(
                f"fanned out {sweep.fanned_out}, delivered/handled {total}: "
                + (", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "nothing due")
            )
            if not options["loop"]:
                return
            if not total:
                time.sleep(options["loop"])

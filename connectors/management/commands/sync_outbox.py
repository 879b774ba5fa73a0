"""Run the outbox in this process, without a Celery worker (the embedded demo, or a
one-off catch-up): fan out, then deliver what is due.

    manage.py sync_outbox [--loop SECONDS | --settle SECONDS]

``--settle`` keeps going while retries (after a rate limit or an outage) fall due within
that many seconds, so a catch-up ends with what can be delivered delivered; messages
waiting for a dependency (a customer in review, say) do not keep it going.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from connectors import outbox, services

# However many retries keep falling due, --settle ends after this long.
MAX_SETTLE_SECONDS = 120


class Command(BaseCommand):
    help = "Fan out golden changes and deliver due outbound messages in this process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop", type=float, default=0, help="keep going, sleeping this many seconds"
        )
        parser.add_argument(
            "--settle",
            type=float,
            default=0,
            help="keep going while a retry falls due within this many seconds",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deadline = time.monotonic() + MAX_SETTLE_SECONDS
        while True:
            sweep = services.sweep_outbox(enqueue=False)
            outcomes = services.deliver_due_now()
            total = sum(outcomes.values())
            self.stdout.write(
                f"fanned out {sweep.fanned_out}, delivered/handled {total}: "
                + (", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "nothing due")
            )
            if options["loop"]:
                if not total:
                    time.sleep(options["loop"])
                continue
            if not options["settle"] or time.monotonic() > deadline:
                return
            # Messages that only wait for a dependency come round again without progress.
            if total - outcomes.get("waiting", 0):
                continue
            due = outbox.next_retry_due()
            if due is None or (wait := (due - timezone.now()).total_seconds()) > options["settle"]:
                return
            time.sleep(max(wait, 0.1))

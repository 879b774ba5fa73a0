"""`manage.py run_sandbox crm|psa|erp`: one target-API sandbox in the foreground.

Prints the base URL first (a parent process can read it from the first line), then the CA
bundle for HTTPS sandboxes and the default credentials, and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.sandbox import SANDBOXES, start_sandbox

_RATE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?:/\s*(?P<unit>s|sec|second|m|min|minute))?\Z")


def parse_rate(text: str) -> float:
    """`10/s`, `10` (per second) or `600/m` → requests per second."""
    m = _RATE.match(text.strip())
    if m is None:
        raise CommandError(f"--rate-limit must look like 10/s or 600/m, not {text!r}")
    per = 60.0 if (m.group("unit") or "s").startswith("m") else 1.0
    return float(m.group("n")) / per


class Command(BaseCommand):
    help = "Run a local sandbox of a target API: crm (Salesforce), psa (Kantata), erp (NetSuite)."
    # The sandboxes use neither the project's models nor its URLs: skip the system checks,
    # which would double the start-up time of every sandbox process.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(SANDBOXES))
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
        parser.add_argument(
            "--state", help="SQLite state file (default var/sandbox/<kind>.sqlite3)"
        )
        parser.add_argument("--rate-limit", help="requests per second, e.g. 10/s")
        parser.add_argument("--tls-dir", help="test CA folder (default: tls/ beside the state)")
        tls = parser.add_mutually_exclusive_group()
        tls.add_argument("--tls", dest="tls", action="store_true", default=None)
        tls.add_argument("--no-tls", dest="tls", action="store_false")
        parser.add_argument("--quiet", action="store_true", help="no request log")

    def handle(self, *args: Any, **options: Any) -> None:
        kind = options["kind"]
        state = Path(options["state"] or Path(settings.VAR_DIR) / "sandbox" / f"{kind}.sqlite3")
        sandbox = start_sandbox(
            kind,
            port=options["port"],
            state_path=state,
            rate_limit=parse_rate(options["rate_limit"]) if options["rate_limit"] else None,
            tls_dir=options["tls_dir"],
            tls=options["tls"],
            log_requests=not options["quiet"],
        )
        self._announce(sandbox)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()

    def _announce(self, sandbox: Any) -> None:
        app = sandbox.app
        self.stdout.write(sandbox.url)
        self.stdout.write(f"{app.label} sandbox ({sandbox.kind}) listening on {sandbox.url}")
        self.stdout.write(f"state: {sandbox.state_path}")
        if sandbox.ca_bundle:
            self.stdout.write(f"CA bundle: {sandbox.ca_bundle}  (export REQUESTS_CA_BUNDLE=…)")
        self.stdout.write(f"settings: {json.dumps(app.config)}")
        self.stdout.write(f"records: {sandbox.url}/_sandbox/records.html")
        self.stdout.flush()

"""Helpers for outbound-sync tests and demos: golden data through the real services,
sandboxes, and a real Celery worker process.

Not imported by the application; tests import it (``tests/connectors/test_*.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from stdnum.iso7064 import mod_11_10

from connectors import outbox, services
from connectors.models import OutboundMessage, TargetBinding
from connectors.sandbox import RunningSandbox, start_sandbox
from golden.models import GoldenRecord, SourceSystem
from golden.services import IngestResult, ingest_records

ROOT = Path(settings.BASE_DIR)
NAME_WORDS = (
    "Aurora Basalt Cobalt Dorado Ember Fjord Granite Harbor Indigo Juniper Krypton Lumen "
    "Meridian Nimbus Onyx Pinnacle Quartz Rowan Sierra Tundra Umber Vertex Willow Xenon "
    "Yarrow Zenith Alder Birch Cedar Delta"
).split()


# --------------------------------------------------------------------------------------
# Golden data through the real services
# --------------------------------------------------------------------------------------
def ingest(entity_type: str, system: str, *records: Mapping[str, Any]) -> list[IngestResult]:
    results = ingest_records(
        entity_type=entity_type,
        system=SourceSystem.objects.get(code=system),
        records=[dict(r) for r in records],
        actor=None,
    )
    rejected = [r for r in results if r.action == "rejected"]
    assert not rejected, [r.as_dict() for r in rejected]
    return results


def golden(canonical_id: str) -> GoldenRecord:
    return GoldenRecord.objects.get(canonical_id=canonical_id)


def de_vat(n: int) -> str:
    """A valid German VAT number, distinct per n."""
    base = f"{10_000_000 + n * 7919:08d}"[-8:]
    if base[0] == "0":
        base = "1" + base[1:]
    return "DE" + base + mod_11_10.calc_check_digit(base)


def company_name(n: int) -> str:
    """Distinct, dissimilar names, so records do not land in review together."""
    a = NAME_WORDS[n % len(NAME_WORDS)]
    b = NAME_WORDS[(n * 7 + 3) % len(NAME_WORDS)]
    return f"{a} {b} Beratung {n:03d} GmbH"


def customer(n: int, **extra: Any) -> dict[str, Any]:
    """An ERP-ready German customer."""
    return {
        "source_id": f"C-{n:05d}",
        "name": company_name(n),
        "country": "DE",
        "currency": "EUR",
        "tax_id": de_vat(n),
        "city": "Berlin",
        **extra,
    }


def legal_entity(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "source_id": f"LE-{n}",
        "name": f"Northwind Services {n} GmbH",
        "country": "DE",
        "base_currency": "EUR",
        "tax_id": de_vat(9000 + n),
        **extra,
    }


def project(n: int, customer_source_id: str, legal_entity_source_id: str, **extra: Any) -> dict:
    return {
        "source_id": f"P-{n:05d}",
        "code": f"PRJ-CODE-{n}",
        "name": f"Rollout {company_name(n)}",
        "customer_source_id": customer_source_id,
        "billing_legal_entity_source_id": legal_entity_source_id,
        "billing_method": "tm",
        "currency": "EUR",
        "start_date": "2026-01-05",
        **extra,
    }


def approved_legal_entity(steward: Any) -> str:
    """The ERP's legal entity, bound as its customers' subsidiary, then approved by
    ``steward``; returns its canonical ID."""
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    TargetBinding.objects.filter(system__code="erp", entity_type="customer").update(
        options={"subsidiary": len_id}
    )
    services.approve_golden_record(golden(len_id), actor=steward)
    return len_id


def delivered_erp_subsidiary(erp: SourceSystem) -> str:
    """A legal entity approved and delivered to the ERP in this process, then bound as
    the subsidiary of the ERP's customers; returns its canonical ID."""
    len_id = ingest("legal_entity", "erp", legal_entity(1))[0].canonical_id
    services.approve_golden_record(golden(len_id), actor=None)
    outbox.fan_out_changes()
    assert services.deliver_ready_messages(erp.pk, "legal_entity") == {"delivered": 1}
    TargetBinding.objects.filter(system=erp, entity_type="customer").update(
        options={"subsidiary": len_id}
    )
    return len_id


# --------------------------------------------------------------------------------------
# Sandboxes
# --------------------------------------------------------------------------------------
@dataclass
class Sandboxes:
    crm: RunningSandbox
    psa: RunningSandbox
    erp: RunningSandbox

    def all(self) -> dict[str, RunningSandbox]:
        return {"crm": self.crm, "psa": self.psa, "erp": self.erp}

    def targets(self) -> dict[str, dict[str, Any]]:
        """MDM_TARGETS pointing here."""
        return {
            "crm": {
                "adapter": "salesforce",
                "url": self.crm.url,
                "client_id": "mdm-sandbox",
                "client_secret": "sandbox-secret",
                "api_version": "59.0",
                "ca_bundle": str(self.crm.ca_bundle),
            },
            "psa": {
                "adapter": "kantata",
                "url": self.psa.url,
                "token": "kantata-sandbox-token",
                "max_concurrency": default_concurrency("psa"),
            },
            "erp": {
                "adapter": "netsuite",
                "url": self.erp.url,
                "token": "netsuite-sandbox-token",
                "max_concurrency": default_concurrency("erp"),
            },
        }

    def reset(self) -> None:
        for sandbox in self.all().values():
            sandbox.reset()

    def stop(self) -> None:
        for sandbox in self.all().values():
            sandbox.stop()


def default_concurrency(code: str) -> int:
    """The target's ``max_concurrency`` from the settings (as production runs it)."""
    return int(getattr(settings, "MDM_TARGETS", {}).get(code, {}).get("max_concurrency") or 1)


def start_sandboxes(state_dir: Path, tls_dir: Path | None = None) -> Sandboxes:
    def one(kind: str) -> RunningSandbox:
        return start_sandbox(
            kind, state_path=state_dir / f"{kind}.sqlite3", tls_dir=tls_dir or state_dir / "tls"
        )

    return Sandboxes(crm=one("crm"), psa=one("psa"), erp=one("erp"))


def live_records(sandbox: RunningSandbox, object_type: str | None = None) -> list[dict]:
    return [r for r in sandbox.records(object_type) if not r["deleted"]]


def count_by_external_id(sandbox: RunningSandbox, object_type: str) -> Counter[str]:
    """How many live records hold each external ID (1 each means no duplicates)."""
    return Counter(r["external_id"] for r in live_records(sandbox, object_type))


# --------------------------------------------------------------------------------------
# A real Celery worker process
# --------------------------------------------------------------------------------------
FAST_SYNC_ENV = {
    "MDM_SYNC_RETRY_BASE_SECONDS": "0.2",
    "MDM_SYNC_RETRY_CAP_SECONDS": "2",
    "MDM_SYNC_MAX_ATTEMPTS": "60",
    "MDM_SYNC_LEASE_SECONDS": "8",
    "MDM_SYNC_HTTP_TIMEOUT_SECONDS": "2",
    "MDM_SYNC_WAIT_RECHECK_SECONDS": "0.5",
    "MDM_SYNC_REQUEUE_AFTER_SECONDS": "3",
    "MDM_SYNC_SWEEP_SECONDS": "0.5",
}


def database_url() -> str:
    """The URL of the database this process uses now (pytest-django's test_<name>)."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@dataclass
class WorkerProcess:
    """``celery -A mdm worker -B`` (beat embedded, so the sweeper runs) as a subprocess."""

    log_path: Path
    env: dict[str, str]
    concurrency: int = 2
    # The queues it consumes, and whether beat runs inside it (the outbox sweeper).
    queues: str = "celery,matching"
    beat: bool = True
    process: subprocess.Popen | None = None
    _log: Any = field(default=None, repr=False)

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        celery = str(Path(sys.executable).with_name("celery"))
        ready_before = self._ready_count()
        self._log = open(self.log_path, "a")  # noqa: SIM115 - kept open for the process
        self.process = subprocess.Popen(
            [
                celery,
                "-A",
                "mdm",
                "worker",
                *(
                    ["-B", "--schedule", str(self.log_path.with_suffix(".beat"))]
                    if self.beat
                    else []
                ),
                "-Q",
                self.queues,
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"e2e-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: self._ready_count() > ready_before, timeout, self.log_tail)
        return self

    def _ready_count(self) -> int:
        return self.log_path.read_text().count("ready.") if self.log_path.exists() else 0

    def kill(self) -> None:
        """SIGKILL the worker and its children: a crash, nothing acknowledged or cleaned."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None
            self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=5)
        finally:
            self.process = None
            if self._log:
                self._log.close()


def worker_env(sandboxes: Sandboxes, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    targets = sandboxes.targets()
    env = {
        **os.environ,
        **FAST_SYNC_ENV,
        "DJANGO_SETTINGS_MODULE": "mdm.settings",
        "DATABASE_URL": database_url(),
        "MDM_CRM_URL": targets["crm"]["url"],
        "MDM_CRM_CA_BUNDLE": targets["crm"]["ca_bundle"],
        "REQUESTS_CA_BUNDLE": targets["crm"]["ca_bundle"],
        "MDM_PSA_URL": targets["psa"]["url"],
        "MDM_ERP_URL": targets["erp"]["url"],
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }
    return env


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    describe: Callable[[], str] | None = None,
    interval: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s" + (f"\n{describe()}" if describe else ""))


def first(items: Iterable[Any]) -> Any:
    return next(iter(items))


def outbox_is_quiet() -> bool:
    """Every change fanned out and no message held, pending or in flight."""
    from django.db.models import Exists, OuterRef

    from connectors.models import FannedOutChange, FanOutCursor, OutboundMessage
    from golden.models import GoldenChange

    watermark = FanOutCursor.objects.values_list("watermark", flat=True).first() or 0
    unfanned = (
        GoldenChange.objects.filter(pk__gt=watermark)
        .exclude(Exists(FannedOutChange.objects.filter(change_id=OuterRef("pk"))))
        .exists()
    )
    return (
        not unfanned
        and not OutboundMessage.objects.filter(status__in=OutboundMessage.OPEN).exists()
    )


def settle(worker: WorkerProcess, timeout: float = 60.0) -> None:
    """Wait until the worker has left the outbox quiet; on timeout, show what is still
    open and the worker's log."""

    def describe() -> str:
        open_ = OutboundMessage.objects.filter(status__in=OutboundMessage.OPEN)
        rows = [f"{m} {m.status} {m.note} {m.last_error}" for m in open_[:10]]
        return "\n".join(["still open:", *rows, "worker log:", worker.log_tail()])

    wait_until(outbox_is_quiet, timeout, describe, interval=0.2)

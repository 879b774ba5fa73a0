"""A throwaway Tryton server (the real ERP, from PyPI) for tests and demos.

``init_tryton(workdir)`` creates a SQLite database with the party, company, currency,
country, product and project modules (``trytond-admin --all -u … --activate-dependencies``,
about 7 s), loads currencies and countries from pycountry (a new Tryton database has none;
an ERP's administrator would import them), and keeps a pristine copy of the file.
``TrytonServer.start()`` runs ``trytond -c <conf> -d <db>`` on 127.0.0.1 (``-d`` is
required: without it the first login fails with ``KeyError: 'res.user'``) and waits until
a login works; ``stop()`` ends it; ``restore()`` puts the pristine database back.

Not imported by the application; tests import it (``tests/connectors/test_tryton.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.adapters.base import AdapterError
from connectors.adapters.tryton import TrytonRPC

MODULES = ("party", "company", "currency", "country", "product", "project")
ADMIN_PASSWORD = "tryton-admin-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tryton_command(name: str) -> str:
    """A Tryton script from this virtualenv (or PATH); a clear error when not installed."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(
            f"{name} is not installed: install the dev extra (pip install -e '.[dev]'), "
            "which pins trytond and its modules"
        )
    return found


@dataclass
class TrytonServer:
    workdir: Path
    port: int
    database: str = "mdm"
    user: str = "admin"
    password: str = ADMIN_PASSWORD
    process: subprocess.Popen | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "trytond.conf"

    @property
    def db_path(self) -> Path:
        return self.workdir / "db" / f"{self.database}.sqlite"

    @property
    def pristine_path(self) -> Path:
        return self.workdir / f"{self.database}.pristine.sqlite"

    @property
    def log_path(self) -> Path:
        return self.workdir / "trytond.log"

    def target_config(self, **extra: Any) -> dict[str, Any]:
        """An ``MDM_TARGETS`` entry pointing here."""
        return {
            "adapter": "tryton",
            "url": self.url,
            "database": self.database,
            "user": self.user,
            "password": self.password,
            **extra,
        }

    def client(self, timeout: float = 10.0) -> TrytonRPC:
        """A JSON-RPC client of its own (tests use it to check what Tryton holds)."""
        return TrytonRPC(self.url, self.database, self.user, self.password, timeout=timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> TrytonServer:
        if self.running:
            return self
        self._log = open(self.log_path, "a")  # noqa: SIM115 - kept open for the process
        self.process = subprocess.Popen(
            [tryton_command("trytond"), "-c", str(self.config_path), "-d", self.database],
            cwd=self.workdir,
            env=server_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self._close_log()
                raise RuntimeError(f"trytond exited at start:\n{self.log_tail()}")
            try:
                self.client(timeout=2.0).call("model.res.user.get_preferences", True)
                return self
            except AdapterError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"trytond not answering after {timeout}s\n{self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        finally:
            self.process = None
            self._close_log()

    def restore(self) -> TrytonServer:
        """Back to the database as ``init_tryton`` left it, and (re)start the server."""
        self.stop()
        for suffix in ("-wal", "-shm"):  # Tryton runs SQLite in WAL mode
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.pristine_path, self.db_path)
        return self.start()

    def snapshot(self) -> None:
        """Keep the database as it is now (server stopped) as the pristine copy: the
        backup API folds the write-ahead log in."""
        with closing(sqlite3.connect(self.db_path)) as source:
            with closing(sqlite3.connect(self.pristine_path)) as target:
                source.backup(target)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def write_config(server: TrytonServer) -> None:
    (server.workdir / "db").mkdir(parents=True, exist_ok=True)
    server.config_path.write_text(
        "[database]\n"
        "uri = sqlite://\n"
        f"path = {server.workdir / 'db'}\n"
        "[web]\n"
        f"listen = 127.0.0.1:{server.port}\n"
        # Queued tasks wait for a worker, and none runs: Tryton queues a VIES check
        # (HTTPS to the EU's service) for every new EU VAT number, which a test server
        # must not make.
        "[queue]\n"
        "worker = True\n"
    )


def server_env() -> dict[str, str]:
    """The server's environment: any outbound HTTP(S) it still tried would go to a
    closed port on loopback, never out of the machine."""
    dead_end = "http://127.0.0.1:9"
    return {
        **os.environ,
        "HTTP_PROXY": dead_end,
        "HTTPS_PROXY": dead_end,
        "http_proxy": dead_end,
        "https_proxy": dead_end,
        "NO_PROXY": "",
        "no_proxy": "",
    }


def init_tryton(
    workdir: Path,
    *,
    database: str = "mdm",
    port: int | None = None,
    modules: tuple[str, ...] = MODULES,
    timeout: float = 300.0,
) -> TrytonServer:
    """A new database with ``modules`` and reference data; the server is left stopped."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = TrytonServer(workdir=workdir, port=port or free_port(), database=database)
    write_config(server)
    passfile = workdir / "admin-password"
    passfile.write_text(server.password + "\n")
    server.db_path.touch()  # SQLite: trytond-admin needs the file to exist
    command = [
        tryton_command("trytond-admin"),
        "-c",
        str(server.config_path),
        "-d",
        database,
        "--all",
        "-u",
        *modules,
        "--activate-dependencies",
        "--email",
        "admin@example.com",
    ]
    done = subprocess.run(
        command,
        cwd=workdir,
        env={**server_env(), "TRYTONPASSFILE": str(passfile)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"trytond-admin failed ({done.returncode}):\n{done.stderr[-3000:]}")
    server.start()
    try:
        seed_reference_data(server.client())
    finally:
        server.stop()
    server.snapshot()
    return server


def seed_reference_data(rpc: TrytonRPC) -> None:
    """Currencies and countries from pycountry (what ``trytond_import_currencies`` and
    ``trytond_import_countries`` do, without proteus or subdivisions)."""
    import pycountry

    currencies = [
        {
            "code": c.alpha_3,
            "name": c.name,
            "numeric_code": getattr(c, "numeric", None),
            "digits": 2,
            "rounding": Decimal("0.01"),
        }
        for c in pycountry.currencies
    ]
    countries = [
        {
            "code": c.alpha_2,
            "code3": c.alpha_3,
            "code_numeric": getattr(c, "numeric", None),
            "name": c.name,
        }
        for c in pycountry.countries
    ]
    rpc.model("currency.currency", "create", currencies)
    rpc.model("country.country", "create", countries)

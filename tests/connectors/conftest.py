"""Sandboxes started in-process, each with its own state file, reached over real HTTP.

No database: nothing here is marked django_db (only ``worker`` sets the test database
up, for its process). The test CA is made once per session and shared, so TLS costs one
key generation for the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from connectors.sandbox import RunningSandbox, start_sandbox
from connectors.testing import Sandboxes, WorkerProcess, start_sandboxes, worker_env

SF_VERSION = "59.0"


@pytest.fixture(autouse=True)
def _loopback_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy in the environment must never see loopback test traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox-tls")


def _running(kind: str, tmp_path: Path, tls_dir: Path, **kwargs: Any) -> RunningSandbox:
    return start_sandbox(kind, state_path=tmp_path / f"{kind}.sqlite3", tls_dir=tls_dir, **kwargs)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def salesforce(
    tmp_path: Path, tls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningSandbox]:
    sandbox = _running("crm", tmp_path, tls_dir)
    # This machine exports REQUESTS_CA_BUNDLE, which beats Session.verify in requests:
    # trusting the test CA means setting the variable.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_bundle))
    yield sandbox
    sandbox.stop()


@pytest.fixture
def netsuite(tmp_path: Path, tls_dir: Path) -> Iterator[RunningSandbox]:
    sandbox = _running("erp", tmp_path, tls_dir)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def kantata(tmp_path: Path, tls_dir: Path) -> Iterator[RunningSandbox]:
    sandbox = _running("psa", tmp_path, tls_dir)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def target_options() -> dict[str, dict[str, Any]]:
    """Settings laid over each target of ``sandboxes`` in MDM_TARGETS (a module overrides
    this to pace or widen a target)."""
    return {}


@pytest.fixture
def sandboxes(
    tmp_path: Path,
    tls_dir: Path,
    settings,
    monkeypatch: pytest.MonkeyPatch,
    target_options: dict[str, dict[str, Any]],
) -> Iterator[Sandboxes]:
    """The three sandboxes for one test, as MDM_TARGETS, their CA trusted."""
    running = start_sandboxes(tmp_path, tls_dir)
    targets = running.targets()
    for code, options in target_options.items():
        targets[code].update(options)
    settings.MDM_TARGETS = targets
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running.crm.ca_bundle))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def e2e_sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    """The three sandboxes one module's end-to-end tests share with its ``worker``."""
    running = start_sandboxes(tmp_path_factory.mktemp("e2e-sandboxes"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, e2e_sandboxes: Sandboxes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real Celery worker process (with beat) on the test database and ``e2e_sandboxes``."""
    log = tmp_path_factory.mktemp("e2e-worker") / "worker.log"
    process = WorkerProcess(log, worker_env(e2e_sandboxes), concurrency=2).start()
    yield process
    process.stop()


def sf_token(sandbox: RunningSandbox, session: requests.Session) -> dict[str, Any]:
    response = session.post(
        sandbox.url + "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "mdm-sandbox",
            "client_secret": "sandbox-secret",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def sf_auth(salesforce: RunningSandbox, http: requests.Session) -> dict[str, str]:
    token = sf_token(salesforce, http)["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def sf_api(salesforce: RunningSandbox, http: requests.Session) -> Iterator[Salesforce]:
    token = sf_token(salesforce, http)
    with requests.Session() as session:
        yield Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            session=session,
            version=SF_VERSION,
        )

"""Sandboxes started in-process, each with its own state file, reached over real HTTP.

No database: nothing here is marked django_db. The test CA is made once per session and
shared, so TLS costs one key generation for the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from connectors.sandbox import RunningSandbox, start_sandbox

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

"""The NetSuite sandbox over real HTTP, plus the `run_sandbox` command as its own process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.sandbox import RunningSandbox, start_sandbox
from connectors.sandbox.jwt_assertion import sign_jwt

RECORD = "/services/rest/record/v1"
TOKEN = {"Authorization": "Bearer netsuite-sandbox-token"}
MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"


def _put(sandbox: RunningSandbox, path: str, body: dict[str, Any], **kw: Any) -> requests.Response:
    return requests.put(
        sandbox.url + RECORD + path, json=body, headers=kw.pop("headers", TOKEN), **kw
    )


def _subsidiary(sandbox: RunningSandbox, ext: str = "LEN-000001") -> requests.Response:
    return _put(sandbox, f"/subsidiary/eid:{ext}", {"name": "Contoso Consulting GmbH"})


def _detail(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["type"]
    return body["o:errorDetails"][0]


# -- auth ---------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_bad_token_answers_invalid_login(netsuite: RunningSandbox, headers: dict) -> None:
    response = requests.get(netsuite.url + RECORD + "/customer/1", headers=headers)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/vnd.oracle.resource+json")
    detail = _detail(response)
    assert detail["o:errorCode"] == "INVALID_LOGIN"
    assert detail["detail"].startswith("Invalid login attempt.")


def test_client_credentials_m2m_token(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with start_sandbox(
        "erp", state_path=tmp_path / "ns.db", config={"public_key_pem": public.decode()}
    ) as sandbox:
        token_url = sandbox.url + "/services/rest/auth/oauth2/v1/token"

        def assertion(**overrides: Any) -> dict[str, str]:
            claims = {
                "iss": "mdm-netsuite-client",
                "scope": ["rest_webservices"],
                "aud": token_url,
                "iat": int(time.time()),
                "exp": int(time.time()) + 300,
            }
            kid = overrides.pop("kid", "mdm-sandbox-cert")
            jwt = sign_jwt({**claims, **overrides}, private, "ES256", kid=kid)
            return {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": jwt,
            }

        issued = requests.post(token_url, data=assertion())
        assert issued.status_code == 200, issued.text
        assert issued.json()["token_type"] == "bearer" and issued.json()["expires_in"] == "3600"
        headers = {"Authorization": "Bearer " + issued.json()["access_token"]}
        assert _subsidiary(sandbox).status_code == 204
        assert (
            requests.get(sandbox.url + RECORD + "/subsidiary/1", headers=headers).status_code == 200
        )
        assert requests.post(token_url, data=assertion(kid="other")).json() == {
            "error": "invalid_client"
        }
        assert requests.post(token_url, data=assertion(iss="x")).json() == {
            "error": "invalid_client"
        }
        wrong_scope = requests.post(token_url, data=assertion(scope=["restlets"]))
        assert wrong_scope.json() == {"error": "invalid_scope"}


# -- upsert by external ID ----------------------------------------------------------------
def test_upsert_creates_then_updates_with_location(netsuite: RunningSandbox) -> None:
    assert _subsidiary(netsuite).status_code == 204
    body = {"companyName": "Acme Consulting", "subsidiary": {"externalId": "LEN-000001"}}
    first = _put(netsuite, "/customer/eid:CUS-000001", body)
    assert first.status_code == 204 and first.content == b""
    assert first.headers["Location"] == f"{netsuite.url}{RECORD}/customer/1"
    second = _put(netsuite, "/customer/eid:CUS-000001", {"email": "ap@acme.example"})
    assert second.headers["Location"] == first.headers["Location"]

    (customer,) = netsuite.records("customer")
    assert (customer["id"], customer["external_id"], customer["writes"]) == ("1", "CUS-000001", 2)
    fetched = requests.get(netsuite.url + RECORD + "/customer/eid:CUS-000001", headers=TOKEN).json()
    assert fetched["id"] == "1" and fetched["externalId"] == "CUS-000001"
    assert fetched["companyName"] == "Acme Consulting" and fetched["email"] == "ap@acme.example"
    assert fetched["subsidiary"]["id"] == "1"
    assert fetched["subsidiary"]["refName"] == "Contoso Consulting GmbH"
    assert fetched["links"][0]["href"] == first.headers["Location"]


def test_projects_and_service_items(netsuite: RunningSandbox) -> None:
    _subsidiary(netsuite)
    _put(netsuite, "/customer/eid:CUS-1", {"companyName": "Acme", "subsidiary": {"id": "1"}})
    job = _put(
        netsuite,
        "/job/eid:PRJ-1",
        {
            "companyName": "ERP rollout",
            "parent": {"externalId": "CUS-1"},
            "startDate": "2026-02-01",
        },
    )
    assert job.status_code == 204, job.text
    item = _put(
        netsuite,
        "/serviceSaleItem/eid:SVC-1",
        {"itemId": "CONS-SR", "subsidiary": {"items": [{"id": "1"}]}},
    )
    assert item.status_code == 204, item.text
    listed = requests.get(netsuite.url + RECORD + "/servicesaleitem", headers=TOKEN).json()
    assert listed["totalResults"] == 1 and listed["items"][0]["id"] == "1"


@pytest.mark.parametrize(
    ("path", "body", "code", "where"),
    [
        ("/customer/eid:C-1", {"subsidiary": {"id": "1"}}, "USER_ERROR", "companyName"),
        ("/customer/eid:C-1", {"companyName": "A"}, "USER_ERROR", "subsidiary"),
        (
            "/customer/eid:C-1",
            {"companyName": "A", "subsidiary": {"id": "99"}},
            "USER_ERROR",
            "subsidiary",
        ),
        (
            "/customer/eid:C-1",
            {"companyName": "A", "subsidiary": {"id": "1"}, "colour": "red"},
            "INVALID_CONTENT",
            "colour",
        ),
        (
            "/job/eid:P-1",
            {"companyName": "Rollout", "parent": {"externalId": "nobody"}},
            "USER_ERROR",
            "parent",
        ),
        (
            "/customer/eid:C-1",
            {"companyName": "A", "subsidiary": {"id": "1"}, "isInactive": "no"},
            "USER_ERROR",
            "isInactive",
        ),
    ],
)
def test_validation_errors(
    netsuite: RunningSandbox, path: str, body: dict, code: str, where: str
) -> None:
    _subsidiary(netsuite)
    response = _put(netsuite, path, body)
    assert response.status_code == 400
    detail = _detail(response)
    assert (detail["o:errorCode"], detail["o:errorPath"]) == (code, where)
    assert netsuite.records("customer") == [] and netsuite.records("job") == []


def test_missing_value_message(netsuite: RunningSandbox) -> None:
    _subsidiary(netsuite)
    detail = _detail(_put(netsuite, "/customer/eid:C-1", {"subsidiary": {"id": "1"}}))
    assert (
        detail["detail"]
        == "Error while accessing a resource. Please enter value(s) for: Company Name."
    )
    bad_ref = _detail(
        _put(netsuite, "/customer/eid:C-1", {"companyName": "A", "subsidiary": {"id": "99"}})
    )
    assert "Invalid subsidiary reference key 99" in bad_ref["detail"]


def test_upsert_needs_a_valid_external_id(netsuite: RunningSandbox) -> None:
    assert _put(netsuite, "/subsidiary/5", {"name": "X"}).status_code == 400
    bad = _put(netsuite, "/subsidiary/eid:LEN|1", {"name": "X"})
    assert bad.status_code == 400 and _detail(bad)["o:urlPath"] == "eid:LEN|1"
    assert (
        requests.post(
            netsuite.url + RECORD + "/subsidiary/eid:LEN-1", json={}, headers=TOKEN
        ).status_code
        == 405
    )


def test_create_get_patch_delete(netsuite: RunningSandbox) -> None:
    created = requests.post(
        netsuite.url + RECORD + "/subsidiary",
        json={"name": "Parent Co", "externalId": "LEN-9"},
        headers=TOKEN,
    )
    assert created.status_code == 204
    location = created.headers["Location"]
    assert (
        requests.patch(location, json={"legalName": "Parent Co Ltd"}, headers=TOKEN).status_code
        == 204
    )
    assert requests.get(location, headers=TOKEN).json()["legalName"] == "Parent Co Ltd"
    assert requests.delete(location, headers=TOKEN).status_code == 204
    missing = requests.get(location, headers=TOKEN)
    assert missing.status_code == 404 and _detail(missing)["o:errorCode"] == "NONEXISTENT_ID"
    unknown_type = requests.get(netsuite.url + RECORD + "/salesorder/1", headers=TOKEN)
    assert unknown_type.status_code == 404


# -- limits and faults --------------------------------------------------------------------
def test_concurrency_limit_answers_429(netsuite: RunningSandbox) -> None:
    netsuite.configure(concurrency_limit=1)
    netsuite.set_fault("slow", delay=0.3, count=1)
    slow: dict[str, requests.Response] = {}
    worker = threading.Thread(target=lambda: slow.update(r=_subsidiary(netsuite, "LEN-A")))
    worker.start()
    deadline = time.monotonic() + 2
    while netsuite.app.gate.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    blocked = _subsidiary(netsuite, "LEN-B")
    worker.join(2)
    assert slow["r"].status_code == 204
    assert blocked.status_code == 429
    assert _detail(blocked)["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert "Retry-After" not in blocked.headers
    assert [r["external_id"] for r in netsuite.records()] == ["LEN-A"]


def test_rate_limit_answers_429(netsuite: RunningSandbox) -> None:
    netsuite.set_fault("rate_limit", per_second=1)
    assert _subsidiary(netsuite).status_code == 204
    limited = _subsidiary(netsuite)
    assert limited.status_code == 429 and limited.json()["title"] == "Too Many Requests"


def test_down_answers_503_until_cleared(netsuite: RunningSandbox) -> None:
    netsuite.set_fault("down")
    down = _subsidiary(netsuite)
    assert down.status_code == 503 and _detail(down)["o:errorCode"] == "SERVICE_UNAVAILABLE"
    netsuite.clear_faults("down")
    assert _subsidiary(netsuite).status_code == 204


def test_drop_after_commit_then_retry_is_idempotent(netsuite: RunningSandbox) -> None:
    netsuite.set_fault("drop_after_commit", count=1)
    with pytest.raises(requests.ConnectionError):
        _subsidiary(netsuite)
    (stored,) = netsuite.records()
    assert (stored["external_id"], stored["writes"]) == ("LEN-000001", 1)
    retry = _subsidiary(netsuite)
    assert retry.status_code == 204 and retry.headers["Location"].endswith("/subsidiary/1")
    assert [r["writes"] for r in netsuite.records()] == [2]


def test_expire_session_answers_401_once_for_a_static_token(netsuite: RunningSandbox) -> None:
    netsuite.set_fault("expire_session")
    assert _subsidiary(netsuite).status_code == 401
    assert _subsidiary(netsuite).status_code == 204


def test_restart_keeps_records_and_never_reuses_ids(tmp_path: Path) -> None:
    state = tmp_path / "erp.sqlite3"
    with start_sandbox("erp", state_path=state) as first:
        _subsidiary(first, "LEN-1")
        _subsidiary(first, "LEN-2")
        requests.delete(first.url + RECORD + "/subsidiary/2", headers=TOKEN)
    with start_sandbox("erp", state_path=state) as second:
        assert [r["external_id"] for r in second.records()] == ["LEN-1"]
        assert _subsidiary(second, "LEN-3").headers["Location"].endswith("/subsidiary/3")


# -- as a separate process ----------------------------------------------------------------
@pytest.mark.e2e
def test_run_sandbox_command_in_its_own_process(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            str(MANAGE_PY),
            "run_sandbox",
            "erp",
            "--port",
            "0",
            "--state",
            str(tmp_path / "erp.sqlite3"),
            "--rate-limit",
            "100/s",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        faults = requests.post(url + "/_sandbox/faults", json={"error_500": {"count": 1}}).json()
        assert faults["error_500"]["remaining"] == 1
        failed = requests.put(
            url + RECORD + "/subsidiary/eid:LEN-1", json={"name": "X"}, headers=TOKEN
        )
        assert (
            failed.status_code == 500
            and failed.json()["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
        )
        ok = requests.put(url + RECORD + "/subsidiary/eid:LEN-1", json={"name": "X"}, headers=TOKEN)
        assert ok.status_code == 204
        assert [r["external_id"] for r in requests.get(url + "/_sandbox/records").json()] == [
            "LEN-1"
        ]
        assert (
            requests.get(url + "/_sandbox/info").json()["faults"]["rate_limit"]["per_second"] == 100
        )
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0

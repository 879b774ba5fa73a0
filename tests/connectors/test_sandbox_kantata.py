"""The Kantata OX sandbox over real HTTP, and the `/_sandbox` control endpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandbox import RunningSandbox, start_sandbox

API = "/api/v1"
TOKEN = {"Authorization": "Bearer kantata-sandbox-token"}


def _post(sandbox: RunningSandbox, path: str, body: dict[str, Any], **kw: Any) -> requests.Response:
    return requests.post(
        sandbox.url + API + path, json=body, headers=kw.pop("headers", TOKEN), **kw
    )


def _workspace(sandbox: RunningSandbox, title: str = "ERP rollout") -> dict[str, Any]:
    response = _post(
        sandbox, "/workspaces.json", {"workspace": {"title": title, "creator_role": "maven"}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return body["workspaces"][body["results"][0]["id"]]


def _reference(
    sandbox: RunningSandbox, workspace_id: str, ref: str, **extra: Any
) -> requests.Response:
    payload = {
        "subject_type": "Workspace",
        "subject_id": int(workspace_id),
        "service_name": "mdm",
        "service_model": "project",
        "service_model_ref": ref,
        **extra,
    }
    return _post(sandbox, "/external_references/create_or_update", {"external_reference": payload})


# -- auth ---------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer stolen"}])
def test_bad_token_answers_oauth_error(kantata: RunningSandbox, headers: dict) -> None:
    response = requests.get(kantata.url + API + "/workspaces.json", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"type": "oauth", "message": "Invalid OAuth 2 Request"}]}


# -- workspaces ---------------------------------------------------------------------------
def test_create_then_update_workspace(kantata: RunningSandbox) -> None:
    created = _post(
        kantata, "/workspaces", {"workspace": {"title": "Rollout", "creator_role": "maven"}}
    ).json()
    assert created["count"] == 1
    assert created["results"] == [{"key": "workspaces", "id": "1"}]
    assert created["workspaces"]["1"]["title"] == "Rollout"
    updated = requests.put(
        kantata.url + API + "/workspaces/1.json",
        json={"workspace": {"due_date": "2026-06-30"}},
        headers=TOKEN,
    )
    assert updated.status_code == 200
    assert updated.json()["workspaces"]["1"]["due_date"] == "2026-06-30"
    (record,) = kantata.records("workspaces")
    assert (record["id"], record["writes"]) == ("1", 2)
    fetched = requests.get(kantata.url + API + "/workspaces/1", headers=TOKEN).json()
    assert fetched["workspaces"]["1"]["title"] == "Rollout"


def test_validation_errors_name_the_fields(kantata: RunningSandbox) -> None:
    response = _post(kantata, "/workspaces.json", {"workspace": {"description": "no title"}})
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {"type": "validation", "message": "Please give your project a title", "field": "title"},
            {
                "type": "validation",
                "message": "Please select a role for this project",
                "field": "creator_role",
            },
        ]
    }
    bad_date = _post(
        kantata,
        "/workspaces",
        {"workspace": {"title": "T", "creator_role": "buyer", "start_date": "soon"}},
    )
    assert bad_date.status_code == 422 and bad_date.json()["errors"][0]["field"] == "start_date"
    assert kantata.records() == []


def test_update_of_unknown_workspace_is_404(kantata: RunningSandbox) -> None:
    response = requests.put(
        kantata.url + API + "/workspaces/42.json", json={"workspace": {"title": "X"}}, headers=TOKEN
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["type"] == "system"


def test_rails_form_encoding_is_accepted(kantata: RunningSandbox) -> None:
    response = requests.post(
        kantata.url + API + "/workspaces.json",
        headers=TOKEN,
        data={"workspace[title]": "Form made", "workspace[creator_role]": "maven"},
    )
    assert (
        response.status_code == 200 and response.json()["workspaces"]["1"]["title"] == "Form made"
    )


# -- external references: the upsert key ---------------------------------------------------
def test_external_reference_create_or_update(kantata: RunningSandbox) -> None:
    workspace = _workspace(kantata)
    first = _reference(kantata, workspace["id"], "PRJ-000001", status="successful")
    assert first.status_code == 200
    (ref_id,) = first.json()["external_references"]
    ref = first.json()["external_references"][ref_id]
    assert (ref["subject_type"], ref["subject_id"], ref["service_model_ref"]) == (
        "Workspace",
        "1",
        "PRJ-000001",
    )
    again = _reference(
        kantata, workspace["id"], "PRJ-000001", status="failed", external_message="retry"
    )
    assert list(again.json()["external_references"]) == [ref_id]
    assert again.json()["external_references"][ref_id]["status"] == "failed"

    found = requests.get(
        kantata.url + API + "/external_references",
        params={"subject_type": "Workspace", "service_model_ref": "PRJ-000001"},
        headers=TOKEN,
    ).json()
    assert found["count"] == 1 and found["results"] == [
        {"key": "external_references", "id": ref_id}
    ]
    by_ref = requests.get(
        kantata.url + API + "/workspaces.json",
        params={"external_reference_service_model_ref": "PRJ-000001"},
        headers=TOKEN,
    ).json()
    assert by_ref["results"] == [{"key": "workspaces", "id": workspace["id"]}]
    none = requests.get(
        kantata.url + API + "/workspaces.json",
        params={"external_reference_service_model_ref": "PRJ-404"},
        headers=TOKEN,
    ).json()
    assert none["count"] == 0 and none["workspaces"] == {}
    listed = {r["object_type"]: r for r in kantata.records()}
    assert listed["workspaces"]["external_id"] == "PRJ-000001"
    assert listed["external_references"]["writes"] == 2


def test_external_reference_validation(kantata: RunningSandbox) -> None:
    missing_subject = _reference(kantata, "77", "PRJ-1")
    assert missing_subject.status_code == 422
    assert missing_subject.json()["errors"][0] == {
        "type": "validation",
        "message": "Subject must exist",
        "field": "subject",
    }
    blank = _post(
        kantata,
        "/external_references/create_or_update",
        {"external_reference": {"subject_type": "Workspace"}},
    )
    assert {e["field"] for e in blank.json()["errors"]} == {
        "subject_id",
        "service_name",
        "service_model",
        "service_model_ref",
    }
    no_type = requests.get(kantata.url + API + "/external_references", headers=TOKEN)
    assert no_type.status_code == 422


# -- limits and faults --------------------------------------------------------------------
def test_rate_limit_answers_429_without_retry_after(kantata: RunningSandbox) -> None:
    kantata.set_fault("rate_limit", per_second=1)
    assert requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN).status_code == 200
    limited = requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN)
    assert limited.status_code == 429
    assert limited.json()["errors"][0]["type"] == "system"
    assert not {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"} & set(limited.headers)


def test_slow_delays_the_answer(kantata: RunningSandbox) -> None:
    kantata.set_fault("slow", delay=0.2, count=1)
    started = time.monotonic()
    assert requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN).status_code == 200
    assert time.monotonic() - started >= 0.2
    assert kantata.faults() == {}  # count=1: only that request waited


def test_down_refuse_closes_the_port_then_comes_back(kantata: RunningSandbox) -> None:
    with requests.Session() as session:
        assert session.get(kantata.url + API + "/workspaces.json", headers=TOKEN).status_code == 200
        kantata.set_fault("down", mode="refuse")
        with pytest.raises(requests.ConnectionError):  # the pooled keep-alive connection is cut
            session.get(kantata.url + API + "/workspaces.json", headers=TOKEN)
        with pytest.raises(requests.ConnectionError, match="refused"):
            requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN)
        kantata.clear_faults("down")
        assert session.get(kantata.url + API + "/workspaces.json", headers=TOKEN).status_code == 200


def test_down_refuse_over_http_needs_a_duration_and_ends_by_itself(kantata: RunningSandbox) -> None:
    faults = kantata.url + "/_sandbox/faults"
    assert requests.post(faults, json={"down": {"mode": "refuse"}}).status_code == 400
    assert (
        requests.post(faults, json={"down": {"mode": "refuse", "duration": 0.3}}).status_code == 200
    )
    with pytest.raises(requests.ConnectionError):
        requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN)
    deadline, status = time.monotonic() + 3, None
    while status is None and time.monotonic() < deadline:
        try:
            status = requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN).status_code
        except requests.ConnectionError:
            time.sleep(0.05)
    assert status == 200


def test_error_500_and_drop_after_commit(kantata: RunningSandbox) -> None:
    kantata.set_fault("error_500", count=1)
    failed = requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN)
    assert failed.status_code == 500 and failed.json()["errors"][0]["type"] == "system"
    kantata.set_fault("drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        _workspace(kantata, "Dropped but saved")
    assert [r["fields"]["title"] for r in kantata.records()] == ["Dropped but saved"]


def test_expire_session(kantata: RunningSandbox) -> None:
    kantata.set_fault("expire_session", count=2)
    statuses = [
        requests.get(kantata.url + API + "/workspaces.json", headers=TOKEN).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 200]


# -- control endpoints --------------------------------------------------------------------
def test_faults_over_http(kantata: RunningSandbox) -> None:
    faults = kantata.url + "/_sandbox/faults"
    assert (
        requests.post(faults, json={"error_500": {"count": 2}, "slow": {"delay": 0.01}}).status_code
        == 200
    )
    assert set(requests.get(faults).json()) == {"error_500", "slow"}
    assert requests.post(faults, json={"slow": None}).json().keys() == {"error_500"}
    assert requests.post(faults, json={"meltdown": {}}).status_code == 400
    assert requests.post(faults, json={"error_500": {"colour": 1}}).status_code == 400
    assert (
        requests.post(faults, json={"down": {"mode": "sideways", "duration": 1}}).status_code == 400
    )
    assert requests.delete(faults).json() == {}
    assert kantata.faults() == {}


def test_records_json_html_and_reset(kantata: RunningSandbox) -> None:
    _workspace(kantata, "<script>alert(1)</script> & Co")
    records = requests.get(kantata.url + "/_sandbox/records").json()
    assert [(r["object_type"], r["id"], r["writes"]) for r in records] == [("workspaces", "1", 1)]
    assert set(records[0]) >= {"object_type", "external_id", "id", "fields", "writes"}
    page = requests.get(kantata.url + "/_sandbox/records.html")
    assert page.headers["Content-Type"].startswith("text/html")
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page.text
        and "<script>" not in page.text
    )
    negotiated = requests.get(kantata.url + "/_sandbox/records", headers={"Accept": "text/html"})
    assert negotiated.headers["Content-Type"].startswith("text/html")
    assert requests.post(kantata.url + "/_sandbox/reset").json() == {"reset": True}
    assert requests.get(kantata.url + "/_sandbox/records").json() == []
    assert _workspace(kantata)["id"] == "1"  # a reset sandbox starts its sequences again


def test_restart_with_same_state_keeps_records(tmp_path: Path) -> None:
    state = tmp_path / "psa.sqlite3"
    with start_sandbox("psa", state_path=state) as first:
        workspace = _workspace(first)
        _reference(first, workspace["id"], "PRJ-7")
    with start_sandbox("psa", state_path=state) as second:
        assert {r["object_type"] for r in second.records()} == {"workspaces", "external_references"}
        assert _reference(second, workspace["id"], "PRJ-7").json()["count"] == 1
        assert len(second.records("external_references")) == 1

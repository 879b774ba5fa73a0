"""The Salesforce sandbox over real HTTPS, with requests and with simple-salesforce."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from datetime import datetime
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.sandbox import RunningSandbox, start_sandbox
from connectors.sandbox.jwt_assertion import sign_jwt

from .conftest import SF_VERSION, sf_token

DATA = f"/services/data/v{SF_VERSION}"
ACCOUNT = DATA + "/sobjects/Account/MDM_Id__c/"


def _token_request(sandbox: RunningSandbox, **data: str) -> requests.Response:
    return requests.post(sandbox.url + "/services/oauth2/token", data=data)


# -- auth ---------------------------------------------------------------------------------
def test_client_credentials_token_has_salesforce_shape(salesforce: RunningSandbox) -> None:
    body = _token_request(
        salesforce,
        grant_type="client_credentials",
        client_id="mdm-sandbox",
        client_secret="sandbox-secret",
    ).json()
    assert body["instance_url"] == salesforce.url
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("00D")
    expected = hmac.new(
        b"sandbox-secret", (body["id"] + body["issued_at"]).encode(), hashlib.sha256
    )
    assert body["signature"] == base64.b64encode(expected.digest()).decode()


def test_password_flow(salesforce: RunningSandbox) -> None:
    common = {
        "grant_type": "password",
        "client_id": "mdm-sandbox",
        "client_secret": "sandbox-secret",
    }
    ok = _token_request(
        salesforce, **common, username="integration@mdm.sandbox", password="sandbox-password"
    )
    assert ok.status_code == 200 and ok.json()["access_token"]
    bad = _token_request(salesforce, **common, username="integration@mdm.sandbox", password="nope")
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("client_id", "secret", "grant", "error"),
    [
        ("someone-else", "sandbox-secret", "client_credentials", "invalid_client_id"),
        ("mdm-sandbox", "wrong", "client_credentials", "invalid_client"),
        ("mdm-sandbox", "sandbox-secret", "authorization_code", "unsupported_grant_type"),
    ],
)
def test_bad_credentials_answer_oauth_errors(
    salesforce: RunningSandbox, client_id: str, secret: str, grant: str, error: str
) -> None:
    response = _token_request(
        salesforce, grant_type=grant, client_id=client_id, client_secret=secret
    )
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_jwt_bearer_grant(tmp_path: Any, tls_dir: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mdm connected app")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2024, 1, 1))
        .not_valid_after(datetime(2099, 1, 1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with start_sandbox(
        "crm", state_path=tmp_path / "s.db", tls_dir=tls_dir, config={"jwt_certificate_pem": pem}
    ) as sandbox:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_bundle))
        claims = {
            "iss": "mdm-sandbox",
            "sub": "integration@mdm.sandbox",
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 180,
        }
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ok = _token_request(sandbox, grant_type=grant, assertion=sign_jwt(claims, private, "RS256"))
        assert ok.status_code == 200, ok.text
        forged = sign_jwt({**claims, "sub": "admin@mdm"}, private, "RS256")
        bad = _token_request(sandbox, grant_type=grant, assertion=forged)
        assert bad.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_data_api_needs_a_valid_bearer_token(
    salesforce: RunningSandbox, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(salesforce.url + ACCOUNT + "CUS-1", headers=headers)
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_versions_list_needs_no_auth(salesforce: RunningSandbox) -> None:
    versions = requests.get(salesforce.url + "/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions


def test_session_expires_after_inactivity(
    salesforce: RunningSandbox, http: requests.Session, sf_auth: dict
) -> None:
    assert http.get(salesforce.url + DATA + "/limits").status_code == 200
    salesforce.configure(session_timeout=0.05)
    time.sleep(0.1)
    assert http.get(salesforce.url + DATA + "/limits").status_code == 401


# -- upsert by external ID ----------------------------------------------------------------
def test_upsert_creates_then_updates_same_record(
    salesforce: RunningSandbox, sf_api: Salesforce
) -> None:
    created = sf_api.Account.upsert("MDM_Id__c/CUS-000001", {"Name": "Acme"}, raw_response=True)
    assert created.status_code == 201
    body = created.json()
    assert body["success"] and body["created"] and body["errors"] == []
    assert len(body["id"]) == 18 and body["id"].startswith("001")

    updated = sf_api.Account.upsert(
        "MDM_Id__c/CUS-000001", {"Website": "acme.example"}, raw_response=True
    )
    assert updated.status_code == 200
    assert updated.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    assert updated.headers["Sforce-Limit-Info"] == "api-usage=2/100000"

    (record,) = salesforce.records("Account")
    assert (record["id"], record["external_id"], record["writes"]) == (body["id"], "CUS-000001", 2)
    assert record["fields"] == {
        "Name": "Acme",
        "Website": "acme.example",
        "MDM_Id__c": "CUS-000001",
    }
    fetched = sf_api.Account.get_by_custom_id("MDM_Id__c", "CUS-000001")
    assert fetched["Id"] == body["id"] and fetched["Name"] == "Acme"
    assert sf_api.Account.get(body["id"])["Website"] == "acme.example"


def test_update_answers_204_before_api_v46(
    salesforce: RunningSandbox, http: requests.Session, sf_auth: dict
) -> None:
    url = salesforce.url + "/services/data/v45.0/sobjects/Account/MDM_Id__c/CUS-9"
    first = http.patch(url, json={"Name": "Old API"})
    assert first.status_code == 201 and "created" not in first.json()
    second = http.patch(url, json={"Name": "Old API 2"})
    assert second.status_code == 204 and second.content == b""


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Website": "x.example"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ({"Name": "A", "Colour__c": "red"}, "INVALID_FIELD", []),
        ({"Name": "A" * 256}, "STRING_TOO_LONG", ["Name"]),
        (
            {"Name": "A", "ParentId": "01t5g0000000001AAA"},
            "FIELD_INTEGRITY_EXCEPTION",
            ["ParentId"],
        ),
        ({"Name": "A", "ParentId": "garbage"}, "MALFORMED_ID", ["ParentId"]),
        (
            {"Name": "A", "ParentId": "0015g000000009zAAA"},
            "INVALID_CROSS_REFERENCE_KEY",
            ["ParentId"],
        ),
        ({"Name": "A", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR", []),
        (
            {"Name": "A", "CreatedDate": "2020-01-01"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
        ),
    ],
)
def test_validation_errors(
    salesforce: RunningSandbox, sf_api: Salesforce, body: dict, code: str, fields: list
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-BAD", body)
    (error,) = raised.value.content
    assert (error["errorCode"], error["fields"]) == (code, fields)
    assert error["message"]
    assert salesforce.records() == []


def test_messages_match_salesforce(sf_api: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A" * 300})
    assert raised.value.content[0]["message"].startswith("Account Name: data value too large: AAA")
    assert raised.value.content[0]["message"].endswith("(max length=255)")
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A", "Colour__c": 1})
    assert (
        raised.value.content[0]["message"]
        == "No such column 'Colour__c' on sobject of type Account"
    )


def test_relationship_by_external_id(salesforce: RunningSandbox, sf_api: Salesforce) -> None:
    parent = sf_api.Account.upsert("MDM_Id__c/CUS-P", {"Name": "Parent"}, raw_response=True).json()
    sf_api.Account.upsert("MDM_Id__c/CUS-C", {"Name": "Child", "Parent": {"MDM_Id__c": "CUS-P"}})
    assert sf_api.Account.get_by_custom_id("MDM_Id__c", "CUS-C")["ParentId"] == parent["id"]
    project = {
        "Name": "Rollout",
        "pse__Account__r": {"MDM_Id__c": "CUS-C"},
        "pse__Start_Date__c": "2026-01-05",
    }
    assert sf_api.pse__Proj__c.upsert("MDM_Id__c/PRJ-1", project) == 201
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-D", {"Name": "D", "Parent": {"MDM_Id__c": "CUS-404"}})
    assert raised.value.content[0]["message"] == (
        "Foreign key external ID: CUS-404 not found for field MDM_Id__c in entity Account"
    )


def test_several_matches_answer_300_and_write_nothing(
    salesforce: RunningSandbox, sf_api: Salesforce, http: requests.Session
) -> None:
    seeded = http.post(
        salesforce.url + "/_sandbox/seed",
        json={
            "object_type": "Account",
            "external_id": "CUS-DUP",
            "fields": {"Name": "Twin"},
            "count": 2,
        },
    ).json()
    with pytest.raises(SalesforceMoreThanOneRecord) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-DUP", {"Name": "Which one?"})
    assert raised.value.status == 300
    assert raised.value.content == [f"{DATA}/sobjects/Account/{r['id']}" for r in seeded]
    assert [r["writes"] for r in salesforce.records()] == [1, 1]
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf_api.Account.get_by_custom_id("MDM_Id__c", "CUS-DUP")


def test_seeding_an_unknown_object_answers_not_found(salesforce: RunningSandbox) -> None:
    response = requests.post(
        salesforce.url + "/_sandbox/seed", json={"object_type": "Opportunity", "external_id": "X"}
    )
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"


def test_update_only_and_unknown_external_id_field(
    salesforce: RunningSandbox, http: requests.Session, sf_auth: dict
) -> None:
    only = http.patch(salesforce.url + ACCOUNT + "CUS-NEW?updateOnly=true", json={"Name": "X"})
    assert only.status_code == 404 and only.json()[0]["errorCode"] == "NOT_FOUND"
    wrong = http.patch(salesforce.url + DATA + "/sobjects/Account/Name/Acme", json={"Name": "X"})
    assert wrong.status_code == 404
    assert wrong.json()[0]["message"].startswith("Provided external ID field does not exist")
    assert http.get(salesforce.url + DATA + "/sobjects/Opportunity/MDM_Id__c/X").status_code == 404
    assert salesforce.records() == []


def test_delete_by_external_id(salesforce: RunningSandbox, sf_api: Salesforce) -> None:
    first = sf_api.Product2.upsert(
        "MDM_Id__c/SVC-1", {"Name": "Advisory", "IsActive": True}, raw_response=True
    )
    assert sf_api.Product2.delete("MDM_Id__c/SVC-1") == 204
    with pytest.raises(SalesforceResourceNotFound) as raised:
        sf_api.Product2.get(first.json()["id"])
    assert raised.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    again = sf_api.Product2.upsert("MDM_Id__c/SVC-1", {"Name": "Advisory"}, raw_response=True)
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]


def test_create_rejects_duplicate_unique_external_id(sf_api: Salesforce) -> None:
    assert sf_api.Account.create({"Name": "A", "MDM_Id__c": "CUS-U"})["success"]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf_api.Account.create({"Name": "B", "MDM_Id__c": "CUS-U"})
    assert raised.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_concurrent_create_of_one_external_id_fails_with_duplicate_value(
    salesforce: RunningSandbox, sf_api: Salesforce
) -> None:
    """The documented race: the adapter must serialise per external ID (or retry)."""
    salesforce.set_fault("duplicate_race", window=0.4)
    first: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: first.update(
            status=sf_api.Account.upsert("MDM_Id__c/CUS-RACE", {"Name": "One"})
        )
    )
    worker.start()
    deadline = time.monotonic() + 2
    while not salesforce.app._creating and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-RACE", {"Name": "Two"})
    worker.join(2)
    (error,) = raised.value.content
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert "MDM_Id__c duplicates value on record with id: 001" in error["message"]
    assert first["status"] == 201
    assert sf_api.Account.upsert("MDM_Id__c/CUS-RACE", {"Name": "Two"}) == 200  # the retry updates


# -- sObject Collections ------------------------------------------------------------------
def _collection(
    http: requests.Session, sandbox: RunningSandbox, records: list, all_or_none: bool
) -> requests.Response:
    url = sandbox.url + DATA + "/composite/sobjects/Account/MDM_Id__c"
    return http.patch(url, json={"allOrNone": all_or_none, "records": records})


def _rec(ext: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, "MDM_Id__c": ext, **fields}


def test_collections_upsert_answers_per_record(
    salesforce: RunningSandbox, http: requests.Session, sf_auth: dict, sf_api: Salesforce
) -> None:
    existing = sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "One"}, raw_response=True).json()[
        "id"
    ]
    records = [
        _rec("CUS-1", Name="One b"),
        _rec("CUS-2", Name="Two"),
        _rec("CUS-3", Website="w.example"),
    ]
    response = _collection(http, salesforce, records, all_or_none=False)
    assert response.status_code == 200
    updated, created, failed = response.json()
    assert updated == {"id": existing, "success": True, "errors": [], "created": False}
    assert created["success"] and created["created"] and created["id"].startswith("001")
    assert failed["success"] is False
    assert failed["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Name]",
            "fields": ["Name"],
        }
    ]
    assert {r["external_id"]: r["writes"] for r in salesforce.records()} == {"CUS-1": 2, "CUS-2": 1}


def test_collections_all_or_none_rolls_back(
    salesforce: RunningSandbox, http: requests.Session, sf_auth: dict
) -> None:
    records = [_rec("CUS-1", Name="One"), _rec("CUS-2", Name="B" * 300)]
    ok, bad = _collection(http, salesforce, records, all_or_none=True).json()
    assert ok["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert bad["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert salesforce.records() == []


def test_collections_refuse_more_than_200_and_repeated_ids(
    salesforce: RunningSandbox, http: requests.Session, sf_auth: dict
) -> None:
    too_many = _collection(http, salesforce, [_rec(f"C-{i}", Name="x") for i in range(201)], False)
    assert too_many.status_code == 400
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    twice = _collection(
        http, salesforce, [_rec("C-1", Name="x"), _rec("C-1", Name="y")], False
    ).json()
    assert [r["errors"][0]["statusCode"] for r in twice] == ["DUPLICATE_EXTERNAL_ID"] * 2


# -- query and describe -------------------------------------------------------------------
def test_query_by_external_ids(sf_api: Salesforce) -> None:
    for ext, name in [("CUS-1", "Alpha"), ("CUS-2", "Beta"), ("CUS-3", "Gamma")]:
        sf_api.Account.upsert(f"MDM_Id__c/{ext}", {"Name": name})
    result = sf_api.query(
        "SELECT Id, Name FROM Account WHERE MDM_Id__c IN ('CUS-1', 'CUS-3') ORDER BY Name DESC"
    )
    assert result["totalSize"] == 2
    assert [r["Name"] for r in result["records"]] == ["Gamma", "Alpha"]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf_api.query("SELECT Id FROM Account WHERE Name LIKE 'A%'")
    assert raised.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_describe_shows_the_external_id_field(sf_api: Salesforce) -> None:
    fields = {f["name"]: f for f in sf_api.Account.describe()["fields"]}
    assert fields["MDM_Id__c"]["externalId"] and fields["MDM_Id__c"]["unique"]
    assert fields["Name"]["length"] == 255 and not fields["Name"]["nillable"]


# -- limits and faults --------------------------------------------------------------------
def test_rate_limit_answers_request_limit_exceeded(
    salesforce: RunningSandbox, http: requests.Session, sf_auth: dict
) -> None:
    salesforce.set_fault("rate_limit", per_second=2)
    statuses = [http.get(salesforce.url + DATA + "/limits") for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 403]
    assert statuses[2].json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert "Retry-After" not in statuses[2].headers


def test_daily_api_allocation(salesforce: RunningSandbox, sf_api: Salesforce) -> None:
    salesforce.configure(api_limit=2)
    sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A"})
    second = sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "B"}, raw_response=True)
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/2"
    with pytest.raises(SalesforceRefusedRequest) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "C"})
    assert raised.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_error_500_then_recovers(salesforce: RunningSandbox, sf_api: Salesforce) -> None:
    salesforce.set_fault("error_500", count=1)
    with pytest.raises(SalesforceGeneralError) as raised:
        sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A"})
    assert raised.value.status == 500
    assert raised.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A"}) == 201


def test_expire_session_revokes_tokens_until_reauth(
    salesforce: RunningSandbox, sf_api: Salesforce, http: requests.Session
) -> None:
    salesforce.set_fault("expire_session")
    with pytest.raises(SalesforceExpiredSession):
        sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A"})
    with pytest.raises(SalesforceExpiredSession):  # the old token stays dead
        sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A"})
    sf_api.session_id = sf_token(salesforce, http)["access_token"]
    sf_api.headers["Authorization"] = "Bearer " + sf_api.session_id
    assert sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "A"}) == 201


def test_drop_after_commit_stores_the_write(salesforce: RunningSandbox, sf_api: Salesforce) -> None:
    salesforce.set_fault("drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "Committed"})
    (record,) = salesforce.records()
    assert (record["external_id"], record["writes"]) == ("CUS-1", 1)
    # Retrying the same upsert is safe: it updates the record the lost answer created.
    assert sf_api.Account.upsert("MDM_Id__c/CUS-1", {"Name": "Committed"}) == 200
    assert salesforce.records()[0]["writes"] == 2


def test_restart_with_same_state_keeps_records_and_tokens(
    tmp_path: Any, tls_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "crm.sqlite3"
    with start_sandbox("crm", state_path=state, tls_dir=tls_dir) as first:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(first.ca_bundle))
        token = sf_token(first, requests.Session())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = requests.patch(
            first.url + ACCOUNT + "CUS-1", json={"Name": "Kept"}, headers=headers
        )
    with start_sandbox("crm", state_path=state, tls_dir=tls_dir) as second:
        assert [r["id"] for r in second.records()] == [created.json()["id"]]
        again = requests.patch(
            second.url + ACCOUNT + "CUS-2", json={"Name": "New"}, headers=headers
        )
        assert again.status_code == 201  # the token survived; the new ID is not a reused one
        assert again.json()["id"] != created.json()["id"]

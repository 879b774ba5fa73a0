"""POST /api/v1/ingest/<entity>/"""

from __future__ import annotations

import pytest

from golden.models import GoldenRecord, SourceRecord

URL = "/api/v1/ingest/customer/"
RECORD = {
    "source_id": "001A",
    "name": "Globex Advisory Ltd",
    "country": "GB",
    "website": "globex.co.uk",
}


@pytest.mark.django_db
def test_ingest_one_record_answers_with_canonical_id_and_action(crm_api):
    response = crm_api.post(URL, {"system": "crm", "records": [RECORD]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["summary"]["created"] == 1
    [result] = body["results"]
    assert result["source_id"] == "001A"
    assert result["action"] == "created"
    assert (
        GoldenRecord.objects.get(canonical_id=result["canonical_id"]).name == "Globex Advisory Ltd"
    )
    assert response["X-Correlation-ID"]


@pytest.mark.django_db
def test_a_single_object_is_accepted_as_records(crm_api):
    response = crm_api.post(
        "/api/v1/ingest/customers/", {"system": "crm", "records": RECORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["action"] == "created"


@pytest.mark.django_db
def test_resending_is_unchanged(crm_api):
    crm_api.post(URL, {"system": "crm", "records": [RECORD]}, format="json")
    response = crm_api.post(URL, {"system": "crm", "records": [RECORD]}, format="json")
    assert response.json()["results"][0]["action"] == "unchanged"
    assert SourceRecord.objects.count() == 1


@pytest.mark.django_db
def test_partial_batch_answers_207_with_per_record_errors(crm_api):
    records = [RECORD, {"source_id": "001B", "name": "Bad", "country": "Narnia"}, {"name": "no id"}]
    response = crm_api.post(URL, {"system": "crm", "records": records}, format="json")
    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["action"] for r in results] == ["created", "rejected", "rejected"]
    assert "country" in results[1]["errors"]
    assert results[2]["errors"]["source_id"] == ["This field is required."]
    assert SourceRecord.objects.count() == 1


@pytest.mark.django_db
def test_all_rejected_answers_422(crm_api):
    response = crm_api.post(URL, {"system": "crm", "records": [{"name": "x"}]}, format="json")
    assert response.status_code == 422
    assert GoldenRecord.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"records": [RECORD]}, "system"),
        ({"system": "crm"}, "records"),
        ({"system": "nope", "records": [RECORD]}, "system"),
        ({"system": "crm", "records": []}, "records"),
        ({"system": "crm", "records": [RECORD] * 1001}, "records"),
    ],
)
def test_malformed_body_is_400_with_field_messages(crm_api, body, field):
    response = crm_api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert SourceRecord.objects.count() == 0


@pytest.mark.django_db
def test_invalid_json_is_400(crm_api):
    response = crm_api.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


@pytest.mark.django_db
def test_unknown_entity_is_404(crm_api):
    response = crm_api.post(
        "/api/v1/ingest/planet/", {"system": "crm", "records": [RECORD]}, format="json"
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_idempotency_key_replays_the_stored_response(crm_api):
    first = crm_api.post(
        URL, {"system": "crm", "records": [RECORD]}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    replay = crm_api.post(
        URL, {"system": "crm", "records": [RECORD]}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert replay.status_code == first.status_code
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["results"][0]["action"] == "created"


@pytest.mark.django_db
def test_idempotency_key_with_another_body_is_refused(crm_api):
    crm_api.post(
        URL, {"system": "crm", "records": [RECORD]}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    other = {**RECORD, "name": "Something else"}
    response = crm_api.post(
        URL, {"system": "crm", "records": [other]}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert GoldenRecord.objects.get().name == "Globex Advisory Ltd"


@pytest.mark.django_db
def test_incoming_correlation_id_is_kept_in_history(crm_api):
    crm_api.post(
        URL, {"system": "crm", "records": [RECORD]}, format="json", HTTP_X_CORRELATION_ID="trace-42"
    )
    assert SourceRecord.objects.get().correlation_id == "trace-42"
    assert GoldenRecord.objects.get().history.latest().correlation_id == "trace-42"

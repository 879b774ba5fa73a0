"""xref lookups, list/detail endpoints, merged-ID resolution, filters."""

from __future__ import annotations

import pytest

from golden.models import ExternalReference, GoldenRecord
from golden.services import ingest_records, merge_golden_records

ERP = {
    "source_id": "C-1187",
    "name": "Umbrella Advisory GmbH",
    "tax_id": "DE136695976",
    "country": "DE",
    "website": "https://umbrella-advisory.de",
    "updated_at": "2026-01-01T00:00:00Z",
}
CRM = {
    "source_id": "001A0000042",
    "name": "Umbrella Advisory",
    "tax_id": "DE 136695976",
    "country": "Germany",
}
PSA = {
    "source_id": "5531",
    "name": "UMBRELLA ADVISORY G.m.b.H.",
    "country": "de",
    "email": "ap@umbrella-advisory.de",
}


@pytest.fixture
def umbrella(systems):
    for system, record in [("erp", ERP), ("crm", CRM), ("psa", PSA)]:
        ingest_records(entity_type="customer", system=systems[system], records=[record], actor=None)
    return GoldenRecord.objects.get(source_records__source_id="C-1187")


@pytest.mark.django_db
def test_xref_answers_canonical_id_and_every_systems_id(viewer_api, umbrella, systems):
    response = viewer_api.get(
        "/api/v1/xref/", {"system": "crm", "entity": "customer", "source_id": "001A0000042"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["canonical_id"] == umbrella.canonical_id
    assert body["redirected"] is False
    assert {"system": "erp", "id": "C-1187", "role": "source"} in body["system_ids"]
    assert {"system": "crm", "id": "001A0000042", "role": "source"} in body["system_ids"]


@pytest.mark.django_db
def test_xref_finds_ids_assigned_by_targets(viewer_api, umbrella, systems):
    ExternalReference.objects.create(golden=umbrella, system=systems["psa"], external_id="9001")
    response = viewer_api.get(
        "/api/v1/xref/", {"system": "psa", "entity": "customer", "source_id": "9001"}
    )
    assert response.status_code == 200
    assert {"system": "psa", "id": "9001", "role": "target"} in response.json()["system_ids"]


@pytest.mark.django_db
def test_xref_unknown_id_is_404(viewer_api, umbrella):
    response = viewer_api.get(
        "/api/v1/xref/", {"system": "crm", "entity": "customer", "source_id": "nope"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_xref_missing_parameters_are_400_with_fields(viewer_api):
    response = viewer_api.get("/api/v1/xref/", {"entity": "planet"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"system", "entity", "source_id"}


@pytest.mark.django_db
def test_reverse_xref_of_canonical_id(viewer_api, umbrella):
    response = viewer_api.get(f"/api/v1/customers/{umbrella.canonical_id}/xref/")
    assert response.status_code == 200
    assert len(response.json()["system_ids"]) == 3


@pytest.mark.django_db
def test_merged_id_redirects_explicitly_to_survivor(viewer_api, umbrella, systems, steward):
    [other] = ingest_records(
        entity_type="customer",
        system=systems["crm"],
        records=[{"source_id": "001B", "name": "Umbrella Adv.", "country": "DE"}],
        actor=None,
    )
    loser = GoldenRecord.objects.get(canonical_id=other.canonical_id)
    merge_golden_records(survivor=umbrella, merged=[loser], actor=steward)

    response = viewer_api.get(f"/api/v1/customers/{loser.canonical_id}/")
    assert response.status_code == 301
    assert response["Location"].endswith(f"/api/v1/customers/{umbrella.canonical_id}/")
    assert response.json()["canonical_id"] == umbrella.canonical_id
    followed = viewer_api.get(response["Location"])
    assert followed.json()["canonical_id"] == umbrella.canonical_id
    assert loser.canonical_id in followed.json()["merged_ids"]

    xref = viewer_api.get(
        "/api/v1/xref/", {"system": "crm", "entity": "customer", "source_id": "001B"}
    ).json()
    assert xref["canonical_id"] == umbrella.canonical_id
    assert xref["merged_ids"] == [loser.canonical_id]
    assert viewer_api.get(f"/api/v1/customers/{loser.canonical_id}/xref/").status_code == 301


@pytest.mark.django_db
def test_detail_shows_attributes_and_lineage(viewer_api, umbrella):
    body = viewer_api.get(f"/api/v1/customers/{umbrella.canonical_id}/").json()
    assert body["attributes"]["name"] == "Umbrella Advisory GmbH"
    assert body["lineage"]["name"]["system"] == "erp"
    assert body["status"] == "active"


@pytest.mark.django_db
def test_unknown_canonical_id_is_404(viewer_api):
    assert viewer_api.get("/api/v1/customers/CUS-999999/").status_code == 404


@pytest.mark.django_db
def test_list_filters(viewer_api, umbrella, systems):
    ingest_records(
        entity_type="customer",
        system=systems["crm"],
        records=[{"source_id": "F1", "name": "Fabrikam SAS", "country": "FR"}],
        actor=None,
    )

    def ids(**params):
        response = viewer_api.get("/api/v1/customers/", params)
        assert response.status_code == 200, response.json()
        return [r["canonical_id"] for r in response.json()["results"]]

    fabrikam = GoldenRecord.objects.get(name="Fabrikam SAS").canonical_id
    assert ids() == [umbrella.canonical_id, fabrikam]
    assert ids(q="fabri") == [fabrikam]
    assert ids(country="France") == [fabrikam]
    assert ids(country="DE") == [umbrella.canonical_id]
    assert ids(tax_id="DE 136-695-976") == [umbrella.canonical_id]
    assert ids(system="psa", source_id="5531") == [umbrella.canonical_id]
    assert ids(system="crm", source_id="5531") == []
    assert ids(updated_since="2999-01-01T00:00:00Z") == []


@pytest.mark.django_db
def test_list_uses_cursor_pagination(viewer_api, systems):
    records = [{"source_id": str(i), "name": f"Company {i}", "country": "NL"} for i in range(5)]
    ingest_records(entity_type="customer", system=systems["crm"], records=records, actor=None)
    first = viewer_api.get("/api/v1/customers/", {"page_size": 2}).json()
    assert len(first["results"]) == 2
    second = viewer_api.get(first["next"]).json()
    assert {r["canonical_id"] for r in first["results"]}.isdisjoint(
        {r["canonical_id"] for r in second["results"]}
    )


@pytest.mark.django_db
def test_list_query_count_does_not_grow_with_rows(
    viewer_api, systems, django_assert_max_num_queries
):
    records = [{"source_id": str(i), "name": f"Company {i}", "country": "NL"} for i in range(20)]
    ingest_records(entity_type="customer", system=systems["crm"], records=records, actor=None)
    with django_assert_max_num_queries(8):
        assert len(viewer_api.get("/api/v1/customers/").json()["results"]) == 20


@pytest.mark.django_db
def test_other_entity_lists_exist(viewer_api):
    for path in ["legal-entities", "projects", "service-codes"]:
        assert viewer_api.get(f"/api/v1/{path}/").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served_without_cdn(viewer_api, client, admin_user):
    schema = viewer_api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/ingest/{entity}/" in paths
    assert "/api/v1/xref/" in paths
    assert "/api/v1/customers/{canonical_id}/xref/" in paths
    client.force_login(admin_user)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html

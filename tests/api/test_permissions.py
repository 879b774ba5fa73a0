"""Roles: anonymous 401, wrong role 403, integrations bound to their system."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.conftest import client_for, make_user

URL = "/api/v1/ingest/customer/"
RECORD = {"source_id": "001A", "name": "Initech Services Inc", "country": "US"}
READ_URLS = [
    "/api/v1/customers/",
    "/api/v1/xref/?system=crm&entity=customer&source_id=x",
    "/api/v1/projects/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", READ_URLS)
def test_anonymous_requests_get_401(url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response


@pytest.mark.django_db
def test_anonymous_ingest_gets_401():
    assert (
        APIClient().post(URL, {"system": "crm", "records": [RECORD]}, format="json").status_code
        == 401
    )


@pytest.mark.django_db
def test_bad_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/customers/").status_code == 401


@pytest.mark.django_db
def test_bearer_token_is_accepted(crm_integration):
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {Token.objects.create(user=crm_integration).key}"
    )
    assert client.get("/api/v1/customers/").status_code == 200


@pytest.mark.django_db
def test_crm_token_cannot_ingest_as_erp(crm_api):
    response = crm_api.post(URL, {"system": "erp", "records": [RECORD]}, format="json")
    assert response.status_code == 403
    assert "erp" in response.json()["message"]


@pytest.mark.django_db
def test_viewer_cannot_ingest(viewer_api):
    assert (
        viewer_api.post(URL, {"system": "crm", "records": [RECORD]}, format="json").status_code
        == 403
    )


@pytest.mark.django_db
def test_steward_cannot_ingest(steward_api):
    assert (
        steward_api.post(URL, {"system": "crm", "records": [RECORD]}, format="json").status_code
        == 403
    )


@pytest.mark.django_db
def test_integration_without_binding_cannot_ingest():
    client = client_for(make_user("loose", "integration"))
    assert (
        client.post(URL, {"system": "crm", "records": [RECORD]}, format="json").status_code == 403
    )


@pytest.mark.django_db
def test_admin_may_ingest_as_any_system(admin_user):
    response = client_for(admin_user).post(
        URL, {"system": "erp", "records": [RECORD]}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url", READ_URLS)
def test_every_role_can_read(viewer_api, steward_api, crm_api, url):
    for client in (viewer_api, steward_api, crm_api):
        assert client.get(url).status_code in (200, 404)


@pytest.mark.django_db
def test_user_without_role_gets_403():
    client = client_for(make_user("nobody"))
    assert client.get("/api/v1/customers/").status_code == 403

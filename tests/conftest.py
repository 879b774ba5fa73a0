"""The shared cast: a steward, a viewer, an admin and one integration per system,
with API clients authenticated as each."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from golden import roles
from golden.models import IntegrationBinding, SourceSystem


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_match_settings():
    # Match settings are cached per process; a rolled-back test must not leak its own.
    from golden.matching import forget_match_settings

    forget_match_settings()
    yield
    forget_match_settings()


def make_user(
    username: str, role: str | None = None, *, system: str | None = None, superuser: bool = False
) -> User:
    user = User.objects.create_user(
        username, password="pw-" + username, is_superuser=superuser, is_staff=superuser
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    if system:
        IntegrationBinding.objects.create(user=user, system=SourceSystem.objects.get(code=system))
    return user


def client_for(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def systems(db) -> dict[str, SourceSystem]:
    return {s.code: s for s in SourceSystem.objects.all()}


@pytest.fixture
def steward(db) -> User:
    return make_user("stella", roles.STEWARD)


@pytest.fixture
def viewer(db) -> User:
    return make_user("victor", roles.VIEWER)


@pytest.fixture
def admin_user(db) -> User:
    return make_user("ada", superuser=True)


@pytest.fixture
def crm_integration(db) -> User:
    return make_user("crm-sync", roles.INTEGRATION, system="crm")


@pytest.fixture
def erp_integration(db) -> User:
    return make_user("erp-sync", roles.INTEGRATION, system="erp")


@pytest.fixture
def psa_integration(db) -> User:
    return make_user("psa-sync", roles.INTEGRATION, system="psa")


@pytest.fixture
def crm_api(crm_integration) -> APIClient:
    return client_for(crm_integration)


@pytest.fixture
def erp_api(erp_integration) -> APIClient:
    return client_for(erp_integration)


@pytest.fixture
def psa_api(psa_integration) -> APIClient:
    return client_for(psa_integration)


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    return client_for(viewer)


@pytest.fixture
def steward_api(steward) -> APIClient:
    return client_for(steward)

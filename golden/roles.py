"""Roles are Django groups. ``integration`` users are bound to one source system."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from golden.models import SourceSystem

VIEWER = "viewer"
INTEGRATION = "integration"
STEWARD = "steward"
ROLES = (VIEWER, INTEGRATION, STEWARD)


def _groups(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_mdm_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))  # type: ignore[union-attr]
        user._mdm_roles = cached  # type: ignore[union-attr]
    return cached


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_superuser)  # type: ignore[union-attr]


def can_read(user: AbstractBaseUser | AnonymousUser) -> bool:
    return is_admin(user) or bool(_groups(user) & set(ROLES))


def can_steward(user: AbstractBaseUser | AnonymousUser) -> bool:
    return is_admin(user) or STEWARD in _groups(user)


def can_ingest_as(user: AbstractBaseUser | AnonymousUser, system: SourceSystem) -> bool:
    """Admins may load data for any system; an integration only for its own."""
    if is_admin(user):
        return True
    if INTEGRATION not in _groups(user):
        return False
    binding = getattr(user, "integration_binding", None)
    return binding is not None and binding.system_id == system.pk

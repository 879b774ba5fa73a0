"""API permissions by role (see golden.roles)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from golden import roles


class CanRead(BasePermission):
    message = "Your role does not allow reading master data."

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.can_read(request.user)


class CanIngest(BasePermission):
    """Only integrations (bound to a system; checked per request body) and admins."""

    message = "Only integration accounts may ingest records."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return roles.is_admin(user) or (
            roles.can_read(user) and roles.INTEGRATION in roles._groups(user)
        )

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from golden import roles


class CanSteward(BasePermission):
    """Stewards and admins: the outbox holds payloads and target errors."""

    message = "Only stewards and admins may see or act on outbound sync."

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.can_steward(request.user)

"""Token authentication that accepts both ``Authorization: Token …`` and ``Bearer …``."""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication


class BearerOrTokenAuthentication(TokenAuthentication):
    """Integrations send their API token as ``Token <key>`` or ``Bearer <key>``."""

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.lower().startswith("bearer "):
            return self.authenticate_credentials(header.split(" ", 1)[1].strip())
        return super().authenticate(request)

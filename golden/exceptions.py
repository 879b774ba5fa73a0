"""The service layer's errors; the API and the steward UI translate them at the edge."""

from __future__ import annotations

from typing import Any


class MdmError(Exception):
    """A business rule said no. ``code`` is stable for clients; ``fields`` maps field errors."""

    code = "mdm_error"
    status_code = 400

    def __init__(
        self, message: str, *, code: str | None = None, fields: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.fields = fields or {}


class NotFound(MdmError):
    code = "not_found"
    status_code = 404


class MergeConflict(MdmError):
    code = "merge_conflict"
    status_code = 409


class AlreadyDecided(MdmError):
    """Another steward decided this item first."""

    code = "already_decided"
    status_code = 409


class AlreadyClaimed(MdmError):
    """Another steward is working this item: take it over explicitly, or leave it."""

    code = "already_claimed"
    status_code = 409


class IdempotencyConflict(MdmError):
    code = "idempotency_key_reused"
    status_code = 422

"""The after-commit kick: a golden change starts the fan-out once its transaction commits.

``golden`` knows nothing of this; connectors listens to ``post_save`` of golden's own
change-feed model. If the kick is lost (broker down, process killed after commit), the
beat sweeper fans out what it left behind.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from connectors import dispatch


def _kick() -> None:
    dispatch.kick_fan_out()


def _already_scheduled(using: str) -> bool:
    # One kick per transaction, however many changes it writes. run_on_commit is
    # Django's list of (savepoint IDs, callback, robust) waiting for this commit.
    pending = getattr(connections[using], "run_on_commit", [])
    return any(entry[1] is _kick for entry in pending)


def golden_change_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if not created:
        return
    using = kwargs.get("using") or DEFAULT_DB_ALIAS
    if not _already_scheduled(using):
        # robust: a broker outage must not break the caller; the sweeper covers it.
        transaction.on_commit(_kick, using=using, robust=True)

"""Shared by the service modules: who did it, and saving with history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Model

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Actor = AbstractBaseUser | None
else:
    Actor = object


def save_with_history(instance: Model, actor: Actor, reason: str) -> None:
    """Save a history-tracked row with who and why (simple-history reads these)."""
    instance._history_user = actor  # type: ignore[attr-defined]
    instance._change_reason = reason  # type: ignore[attr-defined]
    instance.save()


def actor_label(actor: Actor) -> str:
    return actor.get_username() if actor is not None else "system"

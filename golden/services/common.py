"""Shared by the service modules: who did it, and saving with history."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from golden.sql import insert_values

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


def reserve_primary_keys(model: type[Model], count: int) -> list[int]:
    """``count`` primary keys for rows about to be bulk-inserted, in increasing order, so
    rows can point at each other (and survivorship can cite them) before they exist.
    PostgreSQL takes them from the table's sequence; SQLite, a single writer, from the
    AUTOINCREMENT high mark, which the insert then advances."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, model._meta.pk.column, count],
            )
            return sorted(int(row[0]) for row in cursor.fetchall())
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
    last = int(row[0]) if row else 0
    return list(range(last + 1, last + count + 1))


def insert_rows(model: type[Model], rows: Sequence[Model]) -> None:
    """Insert model instances in one statement, as ``bulk_create`` would store them
    (field defaults, ``auto_now``, keys of related instances that got theirs after
    assignment), without returning keys: set them beforehand with
    ``reserve_primary_keys`` where they matter."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows, batch_size=500)
        return
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and getattr(rows[0], f.attname) is None)
    ]
    readers = [_reader(f) for f in fields]
    insert_values(
        model, [f.attname for f in fields], ([read(row) for read in readers] for row in rows)
    )


def _reader(field: Any) -> Callable[[Model], Any]:
    """How insert_rows reads a field's value off an instance."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda row: field.pre_save(row, True)
    if field.is_relation:
        # The related instance's key, if it got one after it was assigned.
        def related(row: Model) -> Any:
            target = field.get_cached_value(row, None)
            return getattr(row, field.attname) if target is None else target.pk

        return related
    return operator.attrgetter(field.attname)


def insert_history(
    model: type[Model],
    instances: Sequence[Model],
    *,
    history_type: str,
    actor: Actor,
    reason: str,
    correlation_id: str,
) -> None:
    """Write the rows django-simple-history writes when ``save_with_history`` saves each
    instance (who, why, when and the request's correlation ID), in one statement."""
    historical: Any = model.history.model  # type: ignore[attr-defined]
    # The request's ID, also on models that track a correlation_id of their own.
    tracked = [f for f in historical.tracked_fields if f.attname != "correlation_id"]
    readers = [_reader(f) for f in tracked]
    now = timezone.now()
    common = [
        correlation_id,
        now,
        actor.pk if actor is not None else None,
        reason,
        history_type,
    ]
    insert_values(
        historical,
        [
            *(f.attname for f in tracked),
            "correlation_id",
            "history_date",
            "history_user_id",
            "history_change_reason",
            "history_type",
        ],
        ([*(read(instance) for read in readers), *common] for instance in instances),
    )


def update_rows(model: type[Model], rows: Sequence[Model], fields: Sequence[str]) -> None:
    """Write these fields of stored instances: on PostgreSQL one UPDATE per row, sent
    together in a pipeline (``bulk_update``'s CASE expressions cost more to build than
    the updates themselves)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(rows, fields, batch_size=500)
        return
    columns = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    pk = model._meta.pk
    statement = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            statement,
            [
                [f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns]
                + [row.pk]
                for row in rows
            ],
        )

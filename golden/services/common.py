"""Shared by the service modules: who did it, and saving with history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

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
    (field defaults, ``auto_now``), without returning keys: set them beforehand with
    ``reserve_primary_keys`` where they matter. On PostgreSQL this is a COPY, whose
    rows psycopg encodes in C; a bulk INSERT would quote every JSON value in Python."""
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
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(statement) as copy:
            for row in rows:
                # Takes the keys of related instances that got theirs after assignment.
                row._prepare_related_fields_for_save(operation_name="insert_rows")
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
                )


def history_rows(
    model: type[Model],
    instances: Sequence[Model],
    *,
    history_type: str,
    actor: Actor,
    reason: str,
    correlation_id: str,
) -> list[Model]:
    """The rows django-simple-history writes when ``save_with_history`` saves each
    instance: who, why, when and the request's correlation ID."""
    historical: Any = model.history.model  # type: ignore[attr-defined]
    rows = []
    for instance in instances:
        values = {f.attname: getattr(instance, f.attname) for f in historical.tracked_fields}
        # The request's ID, also on models that track a correlation_id of their own.
        values["correlation_id"] = correlation_id
        rows.append(
            historical(
                history_date=timezone.now(),
                history_user=actor,
                history_change_reason=reason,
                history_type=history_type,
                **values,
            )
        )
    return rows


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

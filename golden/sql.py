"""Raw SQL where the ORM would bind thousands of values one by one, or build a model
instance per row only to write it.

On PostgreSQL the hot reads of matching pass such values as one array parameter
(``= ANY(%s)``, ``unnest(%s)``); on SQLite (the embedded default) they fall back to the
ORM in chunks that stay under its limit on bound variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import JSONField, Model

_T = TypeVar("_T")

# Values per query on SQLite's fallback path.
CHUNK = 500


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def in_chunks(values: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_values(
    model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert rows given as plain values of these fields (attribute names: ``golden_id``)
    in one statement, with no model instance built. Values go to the database as they
    are (aware datetimes, keys, strings), JSON fields' as Python objects. On PostgreSQL
    this is a COPY, whose rows psycopg encodes in C; a bulk INSERT would quote every
    JSON value in Python."""
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_attname[column] for column in columns]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=500
        )
        return
    json_columns = [k for k, f in enumerate(fields) if isinstance(f, JSONField)]
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(statement) as copy:
            for row in rows:
                if json_columns:
                    row = list(row)
                    for k in json_columns:
                        if row[k] is not None:
                            row[k] = connection.ops.adapt_json_value(row[k], fields[k].encoder)
                copy.write_row(row)

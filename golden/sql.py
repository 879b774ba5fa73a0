"""Raw SQL where the ORM would bind thousands of values one by one.

On PostgreSQL the hot reads of matching pass such values as one array parameter
(``= ANY(%s)``, ``unnest(%s)``); on SQLite (the embedded default) they fall back to the
ORM in chunks that stay under its limit on bound variables.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from django.db import connection

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

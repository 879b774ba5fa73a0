"""Durable sandbox state: one SQLite file per sandbox.

Every vendor keeps its objects in the same `records` table (object type, external ID, the
sandbox's own ID, fields as JSON, write count, timestamps), so a restart with the same file
loses nothing and `/_sandbox/records` can list any vendor the same way. Issued access tokens
and counters (ID sequences, API usage) live beside them, because a real system keeps those
across its own restarts too.

One connection guarded by one re-entrant lock: a sandbox handles a few requests at a time,
and serialising writes is what makes upsert-by-external-ID atomic (as the real systems'
unique indexes do).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    object_type TEXT NOT NULL,
    external_id TEXT,
    sandbox_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    writes INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (object_type, sandbox_id)
);
CREATE INDEX IF NOT EXISTS records_by_external_id ON records (object_type, external_id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    issued_at REAL NOT NULL,
    last_used REAL NOT NULL,
    ttl REAL
);
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoredRecord:
    pk: int
    object_type: str
    external_id: str | None
    sandbox_id: str
    fields: dict[str, Any]
    writes: int
    created_at: datetime
    updated_at: datetime
    deleted: bool

    def as_json(self) -> dict[str, Any]:
        """The shape `/_sandbox/records` lists."""
        return {
            "object_type": self.object_type,
            "external_id": self.external_id,
            "id": self.sandbox_id,
            "fields": self.fields,
            "writes": self.writes,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deleted": self.deleted,
        }


def _row_to_record(row: sqlite3.Row) -> StoredRecord:
    return StoredRecord(
        pk=row["pk"],
        object_type=row["object_type"],
        external_id=row["external_id"],
        sandbox_id=row["sandbox_id"],
        fields=json.loads(row["fields"]),
        writes=row["writes"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        deleted=bool(row["deleted"]),
    )


class Tx:
    """Operations inside one SQLite transaction (see `SandboxStore.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.rollback_only = False

    # -- records -------------------------------------------------------------------------
    def find(self, object_type: str, external_id: str) -> list[StoredRecord]:
        """Live records of a type with an external ID (several when duplicates were seeded)."""
        rows = self._conn.execute(
            "SELECT * FROM records WHERE object_type = ? AND external_id = ? AND deleted = 0 "
            "ORDER BY pk",
            (object_type, external_id),
        ).fetchall()
        return [_row_to_record(r) for r in rows]

    def get(self, object_type: str, sandbox_id: str) -> StoredRecord | None:
        row = self._conn.execute(
            "SELECT * FROM records WHERE object_type = ? AND sandbox_id = ?",
            (object_type, sandbox_id),
        ).fetchone()
        return _row_to_record(row) if row else None

    def by_sandbox_id(self, sandbox_id: str) -> StoredRecord | None:
        """Any type: Salesforce IDs are unique across objects (the prefix names the type)."""
        row = self._conn.execute(
            "SELECT * FROM records WHERE sandbox_id = ? ORDER BY pk LIMIT 1", (sandbox_id,)
        ).fetchone()
        return _row_to_record(row) if row else None

    def list(self, object_type: str | None = None, *, deleted: bool = False) -> list[StoredRecord]:
        sql, args = "SELECT * FROM records", []
        clauses = [] if deleted else ["deleted = 0"]
        if object_type is not None:
            clauses.append("object_type = ?")
            args.append(object_type)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = self._conn.execute(sql + " ORDER BY pk", args).fetchall()
        return [_row_to_record(r) for r in rows]

    def insert(
        self, object_type: str, external_id: str | None, sandbox_id: str, fields: dict[str, Any]
    ) -> StoredRecord:
        now = utc_now().isoformat()
        self._conn.execute(
            "INSERT INTO records (object_type, external_id, sandbox_id, fields, writes, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
            (object_type, external_id, sandbox_id, json.dumps(fields), now, now),
        )
        record = self.get(object_type, sandbox_id)
        assert record is not None
        return record

    def update(
        self, record: StoredRecord, fields: dict[str, Any], *, count_write: bool = True
    ) -> StoredRecord:
        """Replace the stored fields; a write bumps the count and `updated_at`."""
        bump = 1 if count_write else 0
        self._conn.execute(
            "UPDATE records SET fields = ?, writes = writes + ?, updated_at = ? WHERE pk = ?",
            (json.dumps(fields), bump, utc_now().isoformat(), record.pk),
        )
        return self._reload(record)

    def set_external_id(self, record: StoredRecord, external_id: str | None) -> StoredRecord:
        """Index-only change (Kantata links a workspace to its reference), not a write."""
        self._conn.execute(
            "UPDATE records SET external_id = ? WHERE pk = ?", (external_id, record.pk)
        )
        return self._reload(record)

    def soft_delete(self, record: StoredRecord) -> StoredRecord:
        """Salesforce keeps deleted rows in the recycle bin: gone from lookups, still known."""
        self._conn.execute(
            "UPDATE records SET deleted = 1, writes = writes + 1, updated_at = ? WHERE pk = ?",
            (utc_now().isoformat(), record.pk),
        )
        return self._reload(record)

    def hard_delete(self, record: StoredRecord) -> None:
        self._conn.execute("DELETE FROM records WHERE pk = ?", (record.pk,))

    def _reload(self, record: StoredRecord) -> StoredRecord:
        row = self._conn.execute("SELECT * FROM records WHERE pk = ?", (record.pk,)).fetchone()
        return _row_to_record(row)

    def clear_all(self) -> None:
        for table in ("records", "counters", "tokens"):
            self._conn.execute(f"DELETE FROM {table}")  # fixed table names, no user input

    # -- counters ------------------------------------------------------------------------
    def next_value(self, name: str) -> int:
        """Monotonic sequence that survives restarts, so IDs are never reused."""
        self._conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )
        return self.counter(name)

    def counter(self, name: str) -> int:
        row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row["value"]) if row else 0


class SandboxStore:
    """The SQLite file behind one sandbox."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """All-or-nothing: an exception or `tx.rollback_only` undoes every write in the block."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            tx = Tx(self._conn)
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("ROLLBACK" if tx.rollback_only else "COMMIT")

    # -- convenience reads for tests and the listing -------------------------------------
    def records(self, object_type: str | None = None) -> list[StoredRecord]:
        with self.transaction() as tx:
            return tx.list(object_type, deleted=True)

    def find(self, object_type: str, external_id: str) -> list[StoredRecord]:
        with self.transaction() as tx:
            return tx.find(object_type, external_id)

    # -- tokens --------------------------------------------------------------------------
    def issue_token(self, token: str, subject: str, ttl: float | None) -> None:
        now = time.time()
        with self._lock:
            self._conn.execute(
                "INSERT INTO tokens (token, subject, issued_at, last_used, ttl) "
                "VALUES (?, ?, ?, ?, ?)",
                (token, subject, now, now, ttl),
            )

    def use_token(self, token: str, *, sliding: bool, ttl: float | None = None) -> bool:
        """True if the token is live.

        `sliding` renews it on use (an inactivity timeout); `ttl` overrides the lifetime
        stored at issue time (Salesforce applies its current session setting).
        """
        now = time.time()
        with self._lock:
            row = self._conn.execute(
                "SELECT issued_at, last_used, ttl FROM tokens WHERE token = ?", (token,)
            ).fetchone()
            if row is None:
                return False
            start = row["last_used"] if sliding else row["issued_at"]
            lifetime = row["ttl"] if ttl is None else ttl
            if lifetime is not None and now - start > lifetime:
                self._conn.execute("DELETE FROM tokens WHERE token = ?", (token,))
                return False
            if sliding:
                self._conn.execute("UPDATE tokens SET last_used = ? WHERE token = ?", (now, token))
            return True

    def revoke_tokens(self) -> int:
        with self._lock:
            return self._conn.execute("DELETE FROM tokens").rowcount

    # -- lifecycle -----------------------------------------------------------------------
    def reset(self) -> None:
        with self.transaction() as tx:
            tx.clear_all()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

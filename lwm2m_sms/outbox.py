"""The store of accepted, unsent SMS (Kannel's store, in SQLite from the standard library).

A bearer puts every message it accepts here before it answers ``send``, and removes it only
once the network took it or it was reported failed; after a crash or restart the bearer
sends what is left. With no path the store lives in memory (bounded all the same).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from .errors import BearerError
from .sms.udh import Ports

__all__ = ["OutboxEntry", "Outbox", "OutboxFull"]


class OutboxFull(BearerError):
    """The store holds ``max_entries`` messages already: the send is refused, not dropped."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    message_id: str
    recipient: str
    payload: bytes
    ports: Ports | None
    report: bool
    created: float
    attempts: int = 0


class Outbox:
    def __init__(self, path: str | None = None, *, max_entries: int = 10_000) -> None:
        self.path = path or ":memory:"
        self.max_entries = max_entries
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " message_id TEXT NOT NULL, recipient TEXT NOT NULL, payload BLOB NOT NULL,"
            " ports TEXT, report INTEGER NOT NULL, created REAL NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0)"
        )
        (self._count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()

    def add(
        self,
        message_id: str,
        recipient: str,
        payload: bytes,
        *,
        ports: Ports | None = None,
        report: bool = False,
    ) -> OutboxEntry:
        if self._count >= self.max_entries:
            raise OutboxFull(f"outbox holds {self._count} messages (max {self.max_entries})")
        created = time.time()
        ports_json = json.dumps([ports.destination, ports.source, ports.wide]) if ports else None
        cur = self._db.execute(
            "INSERT INTO outbox (message_id, recipient, payload, ports, report, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (message_id, recipient, bytes(payload), ports_json, int(report), created),
        )
        self._count += 1
        assert cur.lastrowid is not None  # an INSERT always sets it
        return OutboxEntry(cur.lastrowid, message_id, recipient, bytes(payload), ports, report, created)

    def pending(self, limit: int | None = None) -> list[OutboxEntry]:
        """Oldest first."""
        sql = "SELECT id, message_id, recipient, payload, ports, report, created, attempts FROM outbox ORDER BY id"
        rows = self._db.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [
            OutboxEntry(
                r[0], r[1], r[2], bytes(r[3]),
                Ports(*json.loads(r[4])) if r[4] else None, bool(r[5]), r[6], r[7],
            )
            for r in rows
        ]

    def attempted(self, entry_id: int) -> None:
        self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (entry_id,))

    def remove(self, entry_id: int) -> None:
        cur = self._db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,))
        self._count -= cur.rowcount

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._db.close()

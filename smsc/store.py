"""The simulated SMSC's message store: SQLite (stdlib), so accepted messages survive a kill.

A message is written (committed) before its submit_sm_resp goes out and deleted once a
deliver_sm_resp acknowledged it (or it expired / was failed). In WAL mode with
``synchronous=NORMAL`` a committed row survives the process being killed (SIGKILL), though
not a power cut; that is the guarantee the kill/restart fault test relies on. With no path
the store is a no-op and messages live only in memory.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["StoredRow", "MessageStore"]


@dataclass(frozen=True, slots=True)
class StoredRow:
    message_id: str
    body: bytes  # deliver_sm body (no header)
    dest: str  # digits to route by; "" for receipts
    to_system_id: str  # receipts: the account to deliver to
    origin: str  # system_id of the submitter
    dlr: int  # registered_delivery bits 0-1: 1 = receipt always, 2 = on failure only
    submitted: float
    expires: float
    command_id: int = 0x00000005  # deliver_sm, or data_sm for a message submitted as one

    @property
    def size(self) -> int:
        return len(self.body) + 64  # the row's own fields, roughly


class MessageStore:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        if path:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS messages (message_id TEXT PRIMARY KEY, body BLOB NOT NULL,"
                " dest TEXT NOT NULL, to_system_id TEXT NOT NULL, origin TEXT NOT NULL,"
                " dlr INTEGER NOT NULL, submitted REAL NOT NULL, expires REAL NOT NULL,"
                " command_id INTEGER NOT NULL DEFAULT 5)"
            )
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(messages)")}
            if "command_id" not in cols:  # a store written before data_sm was routed
                self._db.execute("ALTER TABLE messages ADD COLUMN command_id INTEGER NOT NULL DEFAULT 5")

    @property
    def persistent(self) -> bool:
        return self._db is not None

    def add(self, row: StoredRow) -> None:
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.message_id, row.body, row.dest, row.to_system_id, row.origin,
                 row.dlr, row.submitted, row.expires, row.command_id),
            )

    def remove(self, message_id: str) -> None:
        if self._db is not None:
            self._db.execute("DELETE FROM messages WHERE message_id = ?", (message_id,))

    def load(self) -> list[StoredRow]:
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT message_id, body, dest, to_system_id, origin, dlr, submitted, expires, command_id"
            " FROM messages ORDER BY rowid"
        ).fetchall()
        return [StoredRow(r[0], bytes(r[1]), r[2], r[3], r[4], int(r[5]), r[6], r[7], int(r[8])) for r in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

"""The base of the project's small SQLite stores (held parts, dead letters): one connection in
autocommit mode, WAL journal for a file (MEMORY for ``:memory:``), a chosen ``synchronous``.

:meth:`SqliteStore.close` releases the connection and the next use opens it again, so a
bearer that is closed and started again keeps working with the same store object; a store in
``:memory:`` starts empty again after that (it only ever serves tests).
"""

from __future__ import annotations

import sqlite3

__all__ = ["SqliteStore"]

SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


class SqliteStore:
    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous.upper()
        self._conn: sqlite3.Connection | None = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
                db.execute(f"PRAGMA synchronous={self.synchronous}")
                self._create(db)
            except BaseException:
                db.close()
                raise
            self._conn = db
        return self._conn

    def _create(self, db: sqlite3.Connection) -> None:
        """Create (or bring up to date) the store's tables."""

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

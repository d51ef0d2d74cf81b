"""The SQLite backend (stdlib ``sqlite3``): the embedded default, one file per server.

One connection in autocommit mode, WAL journal, transactions opened with ``BEGIN
IMMEDIATE`` so that the writer lock is taken before a request is picked: two processes on
one file take queued work one after the other (single writer), never the same request.
``busy_timeout`` makes the second wait for the first instead of failing.

Migrations 1 and 2 keep files written by earlier versions (``lwm2m/store.py``,
``routing/queue.py``, ``outbox.py``, which created the same tables without a
``schema_version``) usable: step 1 creates only what is missing, step 2 adds the columns.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from .database import Database, Migration, Result
from .records import StoreError

__all__ = ["SqliteDatabase", "MIGRATIONS"]

MIGRATIONS = (
    Migration(1, "registrations, queued requests, outbox", (
        "CREATE TABLE IF NOT EXISTS registrations (endpoint TEXT PRIMARY KEY,"
        " location TEXT NOT NULL UNIQUE, lifetime INTEGER NOT NULL, version TEXT NOT NULL,"
        " binding TEXT NOT NULL, sms TEXT, objects TEXT NOT NULL, root_path TEXT NOT NULL,"
        " remote_uri TEXT NOT NULL, registered_at REAL NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS queued_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " endpoint TEXT NOT NULL, transport TEXT NOT NULL, code INTEGER NOT NULL,"
        " path TEXT NOT NULL, query TEXT NOT NULL, payload BLOB NOT NULL,"
        " content_format INTEGER, accept INTEGER, observe INTEGER, created REAL NOT NULL,"
        " deadline REAL NOT NULL, state TEXT NOT NULL, response_code INTEGER,"
        " detail TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX IF NOT EXISTS queued_by_endpoint ON queued_requests (endpoint, state, id)",
        "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " message_id TEXT NOT NULL, recipient TEXT NOT NULL, payload BLOB NOT NULL,"
        " ports TEXT, report INTEGER NOT NULL, created REAL NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0)",
    )),
    Migration(2, "leases on queued requests; outbox rows per bearer", (
        "ALTER TABLE queued_requests ADD COLUMN owner TEXT",
        "ALTER TABLE queued_requests ADD COLUMN lease_until REAL",
        "CREATE INDEX IF NOT EXISTS queued_by_state ON queued_requests (state, id)",
        "ALTER TABLE outbox ADD COLUMN bearer TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX IF NOT EXISTS outbox_by_bearer ON outbox (bearer, id)",
    )),
    Migration(3, "outbox rows keep TP-PID and TP-DCS (secured packets: SIM data download, class 2)", (
        "ALTER TABLE outbox ADD COLUMN pid INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE outbox ADD COLUMN dcs INTEGER NOT NULL DEFAULT 4",
    )),
    # One node per SQLite file: the tables exist for a schema that means the same on both
    # engines; nothing writes them (store/exchanges.py).
    Migration(4, "exchange ownership and gateway nodes (several nodes on one database)", (
        "CREATE TABLE exchanges (owner TEXT NOT NULL, peer TEXT NOT NULL,"
        " mid INTEGER NOT NULL, token BLOB NOT NULL, request_id INTEGER,"
        " expires REAL NOT NULL, PRIMARY KEY (owner, peer, mid))",
        "CREATE INDEX exchanges_by_mid ON exchanges (peer, mid)",
        "CREATE INDEX exchanges_by_token ON exchanges (peer, token)",
        "CREATE INDEX exchanges_by_expiry ON exchanges (expires)",
        "CREATE TABLE nodes (name TEXT PRIMARY KEY, joined REAL NOT NULL)",
    )),
    Migration(5, "queued requests name the node whose caller waits and keep the answer", (
        "ALTER TABLE queued_requests ADD COLUMN origin TEXT",
        "ALTER TABLE queued_requests ADD COLUMN response_payload BLOB NOT NULL DEFAULT X''",
        "ALTER TABLE queued_requests ADD COLUMN response_format INTEGER",
    )),    # Counters and sequence numbers run to 2**40 - 1 (five octets): BIGINT on PostgreSQL.
    Migration(6, "SMS security state shared by the nodes: secured-packet counters, OSCORE sequence numbers", (
        "CREATE TABLE packet_counters (peer TEXT PRIMARY KEY, sent INTEGER NOT NULL DEFAULT 0,"
        " received INTEGER)",
        "CREATE TABLE oscore_contexts (context TEXT PRIMARY KEY, next_to_send INTEGER NOT NULL,"
        " high INTEGER)",
        "CREATE TABLE oscore_seen (context TEXT NOT NULL, seqno INTEGER NOT NULL,"
        " PRIMARY KEY (context, seqno))",
    )),
)


class SqliteDatabase(Database):
    backend = "sqlite"
    migrations = MIGRATIONS
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: str, *, busy_timeout: float = 10.0) -> None:
        self.name = path
        try:
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            if path != ":memory:":
                self._set_wal(busy_timeout)
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints
        except sqlite3.Error as exc:
            raise StoreError(path, str(exc)) from exc
        self._in_transaction = False

    def _set_wal(self, busy_timeout: float) -> None:
        # Switching a new file to WAL takes an exclusive lock, and SQLite answers "database
        # is locked" at once (without its busy handler) while another node opening the same
        # file at the same moment holds it: wait for that node, within the busy timeout.
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cur = self._db.execute(sql, tuple(params))
        return Result(cur.fetchall(), cur.rowcount)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_transaction:  # a table method called inside another's transaction
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_transaction = False

    def close(self) -> None:
        self._db.close()

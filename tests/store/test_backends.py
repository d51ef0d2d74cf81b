"""What only one backend has: row locks skipped on PostgreSQL, files of earlier versions
on SQLite, and how URLs pick a backend."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from lwm2m_sms.store import RequestState, open_store

GET = 1


def test_postgresql_take_skips_locked_rows(pg_url: str) -> None:
    """A request another transaction holds locked (a taker in the middle of its take) is
    skipped at once, not waited for, and neither is the next one of its endpoint."""
    import psycopg

    store = open_store(pg_url)
    try:
        a1 = store.requests.add("a", "sms", GET, "/3/0")
        store.requests.add("a", "sms", GET, "/3/0/1")
        b1 = store.requests.add("b", "sms", GET, "/3/0")
        with psycopg.connect(pg_url) as other:  # a transaction stays open until the end
            other.execute("SELECT id FROM queued_requests WHERE id = %s FOR UPDATE", (a1.id,))
            result: list = []
            taker = threading.Thread(
                target=lambda: result.append(store.requests.take("n2", lease=30, limit=10))
            )
            taker.start()
            taker.join(timeout=20)
            assert not taker.is_alive(), "take() waited for a locked row"
            other.rollback()
        assert [r.id for r in result[0]] == [b1.id]
        assert store.requests.get(a1.id).state is RequestState.QUEUED  # type: ignore[union-attr]
    finally:
        store.close()


def test_sqlite_file_of_an_earlier_version_is_migrated(tmp_path: Path) -> None:
    """A --db file written before the store had schema versions (the same tables, without
    leases or bearers) opens with its registrations, queue and outbox intact."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE registrations (endpoint TEXT PRIMARY KEY, location TEXT NOT NULL UNIQUE,
            lifetime INTEGER NOT NULL, version TEXT NOT NULL, binding TEXT NOT NULL, sms TEXT,
            objects TEXT NOT NULL, root_path TEXT NOT NULL, remote_uri TEXT NOT NULL,
            registered_at REAL NOT NULL, updated_at REAL NOT NULL);
        INSERT INTO registrations VALUES ('dev', 'abc', 300, '1.0', 'SQ', '15550001',
            '</3/0>', '/', 'coap+sms://+15550001', 1.0, 2.0);
        CREATE TABLE queued_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint TEXT NOT NULL, transport TEXT NOT NULL, code INTEGER NOT NULL,
            path TEXT NOT NULL, query TEXT NOT NULL, payload BLOB NOT NULL,
            content_format INTEGER, accept INTEGER, observe INTEGER, created REAL NOT NULL,
            deadline REAL NOT NULL, state TEXT NOT NULL, response_code INTEGER,
            detail TEXT NOT NULL DEFAULT '');
        INSERT INTO queued_requests VALUES (7, 'dev', 'sms', 1, '/3/0', '[]', x'', NULL, NULL,
            NULL, 1.0, 1e300, 'queued', NULL, '');
        INSERT INTO queued_requests VALUES (8, 'dev', 'sms', 2, '/3/0/4', '[]', x'', NULL, NULL,
            NULL, 1.0, 1e300, 'sent', NULL, '');
        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL,
            recipient TEXT NOT NULL, payload BLOB NOT NULL, ports TEXT, report INTEGER NOT NULL,
            created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
        INSERT INTO outbox VALUES (3, 'm1', '+15550001', x'40', NULL, 0, 1.0, 2);
    """)
    db.close()
    store = open_store(str(path))
    try:
        assert store.schema_version == store.db.migrations[-1].version  # every step applied
        assert store.registrations.get("dev").location == "abc"  # type: ignore[union-attr]
        assert [r.id for r in store.requests.pending("dev")] == [7]
        # What the old version had on the wire: no owner; recovered as before.
        assert [(r.id, r.state) for r in store.requests.recover("local")] == [
            (8, RequestState.FAILED)
        ]
        assert [(e.id, e.attempts, e.pid, e.dcs) for e in store.outbox().pending()] == [(3, 2, 0, 0x04)]
    finally:
        store.close()


@pytest.mark.parametrize("url, backend, name", [
    ("store.db", "sqlite", "store.db"),
    ("sqlite:///store.db", "sqlite", "store.db"),
    (":memory:", "sqlite", ":memory:"),
])
def test_sqlite_addresses(url: str, backend: str, name: str, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(url)
    try:
        assert (store.backend, store.name) == (backend, name)
    finally:
        store.close()


def test_postgresql_connection_lost_and_found(pg_url: str) -> None:
    """The database server drops the store's connection (a restart, a failover): the call
    that saw it fails, the next one connects again."""
    import psycopg

    store = open_store(pg_url)
    try:
        store.requests.add("ep", "sms", GET, "/3/0")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(psycopg.OperationalError):
            store.requests.counts()
        assert store.requests.counts() == {"queued": 1}
        assert [r.endpoint for r in store.requests.take("n1", lease=30)] == ["ep"]
    finally:
        store.close()

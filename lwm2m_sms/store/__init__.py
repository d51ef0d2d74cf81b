"""The gateway's persistent state: registrations, the request queue and the SMS outbox, in
SQLite (embedded, the default) or PostgreSQL (several nodes on one database).

``open_store(url)`` picks the backend: a file path, ``:memory:`` or ``sqlite:///PATH`` is
SQLite; ``postgresql://...`` (or ``postgres://``) is PostgreSQL through psycopg 3. Opening
runs the schema migrations (:mod:`.migrations`); the tables (:mod:`.tables`) are written
once in the SQL both engines share, and each backend (:mod:`.sqlite`, :mod:`.postgres`)
supplies the connection, its transactions, its row-lock clause and its migration steps.

Layering: the store sits below the LwM2M layer and the router, and imports neither. It
keeps plain records (:mod:`.records`: str, int, float, bytes); the LwM2M layer converts
its ``Registration`` to and from a :class:`RegistrationRecord`, the router its
``QueuedRequest`` to and from a :class:`QueuedRecord`. (Taking the callers' dataclasses
here would make ``lwm2m`` import ``store`` and ``store`` import ``lwm2m``.)

Several nodes on one PostgreSQL: who owns which CoAP exchange and which nodes share the
database (:mod:`.exchanges`), liveness and messages between nodes (:mod:`.bus`); the
hand-off and takeover built on them is :mod:`lwm2m_sms.cluster` (docs/cluster.md), and
the fleet that every node sees alike (registrations, presence, callers of queued requests)
is :mod:`lwm2m_sms.routing.fleet` (docs/store.md).

Known limits: calls are synchronous, one round trip each, made from the event loop;
dead letters are not kept here yet. Of the SMS security state, the secured-packet counters
(:mod:`.counters`) and OSCORE's sequence numbers and replay windows (:mod:`.oscore`) are;
keys stay in each node's files.
"""

from __future__ import annotations

import re
import time
from typing import Callable

from .database import Database
from .migrations import migrate
from .records import (
    LocationTaken, OutboxFull, OutboxRecord, QueuedRecord, RegistrationRecord, RequestState, StoreError,
)
from .counters import PacketCounterTable
from .exchanges import ExchangeRecord, ExchangeTable, NodeTable
from .oscore import OscoreStateTable
from .tables import OutboxTable, RegistrationTable, RequestTable

__all__ = [
    "Store", "open_store", "is_store_url", "StoreError", "OutboxFull", "LocationTaken", "RegistrationRecord",
    "QueuedRecord", "RequestState", "OutboxRecord", "RegistrationTable", "RequestTable",
    "OutboxTable", "ExchangeRecord", "ExchangeTable", "NodeTable", "PacketCounterTable",
    "OscoreStateTable",
]

_POSTGRES = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_OTHER_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)


class Store:
    """One database's tables. ``clock`` gives "now" (seconds since the epoch) where a
    method is not told."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._closed = False
        try:
            self.schema_version = migrate(db)
        except BaseException:
            db.close()
            raise
        self.registrations = RegistrationTable(db)
        self.requests = RequestTable(db, clock)
        #: several nodes on one database (PostgreSQL): :mod:`.exchanges`
        self.exchanges = ExchangeTable(db)
        self.nodes = NodeTable(db, self.requests, self.exchanges)
        #: secured-packet counters per peer, shared by the nodes: :mod:`.counters`
        self.packet_counters = PacketCounterTable(db)
        #: OSCORE sequence numbers and replay windows, shared by the nodes: :mod:`.oscore`
        self.oscore = OscoreStateTable(db)

    @property
    def name(self) -> str:
        return self.db.name

    @property
    def backend(self) -> str:
        return self.db.backend

    def outbox(self, bearer: str = "", *, max_entries: int = 10_000) -> OutboxTable:
        """The outbox rows of one bearer (an SMPP link's or modem's name)."""
        return OutboxTable(self.db, bearer, max_entries=max_entries, clock=self.clock)

    def close(self) -> None:
        """Idempotent: the registrations and the queue may share one store and both close it."""
        if not self._closed:
            self._closed = True
            self.db.close()

    def __repr__(self) -> str:
        return f"<Store {self.backend} {self.name} schema {self.schema_version}>"


def is_store_url(value: str) -> bool:
    """Whether ``value`` names a database server rather than an SQLite file."""
    return bool(_POSTGRES.match(value))


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """Open (and migrate) the store that ``url`` names; :class:`StoreError` says why not."""
    if _POSTGRES.match(url):
        from .postgres import PostgresDatabase

        return Store(PostgresDatabase(url), clock=clock)
    path = url
    if url.lower().startswith("sqlite://"):
        # SQLAlchemy's form: sqlite:///relative/path, sqlite:////absolute/path
        rest = url[len("sqlite://"):]
        if not rest.startswith("/"):
            raise StoreError(url, "write sqlite:///relative or sqlite:////absolute/path")
        path = rest[1:]
    else:
        other = _OTHER_SCHEME.match(url)
        if other:
            raise StoreError(
                url, f"unknown database {other.group(1)!r} (a file path for SQLite, or postgresql://...)"
            )
    if not path:
        raise StoreError("", "empty path (a file path for SQLite, or postgresql://...)")
    from .sqlite import SqliteDatabase

    return Store(SqliteDatabase(path), clock=clock)

"""Where the server keeps its registrations: in memory, or in SQLite so that they survive
a restart.

Both stores keep every registration in a dict (the server reads them on each request);
:class:`SqliteRegistrationStore` also writes each change through to an SQLite file (stdlib
``sqlite3``, WAL journal, one row per endpoint). After a restart a registration has no
in-memory aiocoap remote; its ``remote_uri`` (``coap://host:port`` or
``coap+sms://+N``) is what the sender uses until the client's next Update.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Iterator, Optional

from ..sms.address import parse_msisdn
from . import linkformat
from .registration import Registration

__all__ = ["RegistrationStore", "MemoryRegistrationStore", "SqliteRegistrationStore"]

log = logging.getLogger(__name__)


class RegistrationStore:
    """Registrations by endpoint name and by location."""

    def __init__(self) -> None:
        self._by_ep: dict[str, Registration] = {}
        self._by_location: dict[str, Registration] = {}

    def get(self, endpoint: str) -> Optional[Registration]:
        return self._by_ep.get(endpoint)

    def by_location(self, location: str) -> Optional[Registration]:
        return self._by_location.get(location)

    def __iter__(self) -> Iterator[Registration]:
        return iter(list(self._by_ep.values()))

    def __len__(self) -> int:
        return len(self._by_ep)

    def put(self, registration: Registration) -> None:
        """Add or replace (by endpoint name; an old location of the same endpoint goes)."""
        old = self._by_ep.get(registration.endpoint)
        if old is not None:
            self._by_location.pop(old.location, None)
        self._by_ep[registration.endpoint] = registration
        self._by_location[registration.location] = registration

    def remove(self, endpoint: str) -> Optional[Registration]:
        old = self._by_ep.pop(endpoint, None)
        if old is not None:
            self._by_location.pop(old.location, None)
        return old

    def close(self) -> None:
        pass


class MemoryRegistrationStore(RegistrationStore):
    """Nothing survives the process (tests, throw-away servers)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    endpoint TEXT PRIMARY KEY,
    location TEXT NOT NULL UNIQUE,
    lifetime INTEGER NOT NULL,
    version TEXT NOT NULL,
    binding TEXT NOT NULL,
    sms TEXT,
    objects TEXT NOT NULL,
    root_path TEXT NOT NULL,
    remote_uri TEXT NOT NULL,
    registered_at REAL NOT NULL,
    updated_at REAL NOT NULL
)
"""


class SqliteRegistrationStore(RegistrationStore):
    """Registrations in an SQLite file; loaded at construction, written through on change."""

    def __init__(self, path: "str | Path") -> None:
        super().__init__()
        self.path = str(path)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()
        for row in self._db.execute(
            "SELECT endpoint, location, lifetime, version, binding, sms, objects, root_path,"
            " remote_uri, registered_at, updated_at FROM registrations"
        ):
            ep, loc, lt, ver, b, sms, objects, root, uri, reg_at, upd_at = row
            try:
                reg = Registration(
                    endpoint=ep, location=loc, lifetime=lt, version=ver, binding=b,
                    sms=parse_msisdn(sms) if sms else None,
                    objects=tuple(linkformat.parse(objects)), remote_uri=uri,
                    registered_at=reg_at, updated_at=upd_at, root_path=root,
                )
            except ValueError as exc:  # DecodeError/AddressError: a row we cannot use
                log.warning("registration store %s: skipping ep=%s: %s", self.path, ep, exc)
                continue
            super().put(reg)

    def put(self, registration: Registration) -> None:
        super().put(registration)
        r = registration
        self._db.execute(
            "INSERT OR REPLACE INTO registrations VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (r.endpoint, r.location, r.lifetime, r.version, r.binding,
             r.sms.lwm2m_digits if r.sms else None, linkformat.serialize(list(r.objects)).decode(),
             r.root_path, r.remote_uri, r.registered_at, r.updated_at),
        )
        self._db.commit()

    def remove(self, endpoint: str) -> Optional[Registration]:
        old = super().remove(endpoint)
        self._db.execute("DELETE FROM registrations WHERE endpoint = ?", (endpoint,))
        self._db.commit()
        return old

    def close(self) -> None:
        self._db.close()

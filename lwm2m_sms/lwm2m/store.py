"""Where the server keeps its registrations: in memory, or in the gateway's store (an
SQLite file or PostgreSQL, :mod:`lwm2m_sms.store`) so that they survive a restart.

Both keep every registration in a dict (the server reads them on each request);
:class:`StoredRegistrationStore` also writes each change through to the store's
``registrations`` table (one row per endpoint) and loads the table at construction. This
module is the codec between a :class:`Registration` and the store's plain record. After a
restart a registration has no in-memory aiocoap remote; its ``remote_uri``
(``coap://host:port`` or ``coap+sms://+N``) is what the sender uses until the client's
next Update.

Known limit: the dict is this process's; with several nodes on one PostgreSQL database, a
registration made through another node is seen here after a restart (reading through to the
table on a miss comes with the multi-node work).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, Optional

from ..sms.address import parse_msisdn
from ..store import RegistrationRecord, Store, open_store
from . import linkformat
from .registration import Registration

__all__ = [
    "RegistrationStore", "MemoryRegistrationStore", "StoredRegistrationStore",
    "SqliteRegistrationStore", "to_record", "from_record",
]

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


def to_record(reg: Registration) -> RegistrationRecord:
    return RegistrationRecord(
        reg.endpoint, reg.location, reg.lifetime, reg.version, reg.binding,
        reg.sms.lwm2m_digits if reg.sms else None,
        linkformat.serialize(list(reg.objects)).decode(), reg.root_path, reg.remote_uri,
        reg.registered_at, reg.updated_at,
    )


def from_record(r: RegistrationRecord) -> Registration:
    """Raises ``ValueError`` (DecodeError, AddressError) for a row this code cannot use."""
    return Registration(
        endpoint=r.endpoint, location=r.location, lifetime=r.lifetime, version=r.version,
        binding=r.binding, sms=parse_msisdn(r.sms) if r.sms else None,
        objects=tuple(linkformat.parse(r.objects)), remote_uri=r.remote_uri,
        registered_at=r.registered_at, updated_at=r.updated_at, root_path=r.root_path,
    )


class StoredRegistrationStore(RegistrationStore):
    """Registrations in a :class:`~lwm2m_sms.store.Store`: loaded at construction, written
    through on change. :meth:`close` closes the store (shared with the request queue, whose
    close is the same idempotent call)."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self._table = store.registrations
        for record in self._table.all():
            try:
                reg = from_record(record)
            except ValueError as exc:  # DecodeError/AddressError: a row we cannot use
                log.warning("registration store %s: skipping ep=%s: %s", store.name,
                            record.endpoint, exc)
                continue
            super().put(reg)

    def put(self, registration: Registration) -> None:
        super().put(registration)
        self._table.put(to_record(registration))

    def remove(self, endpoint: str) -> Optional[Registration]:
        old = super().remove(endpoint)
        self._table.remove(endpoint)
        return old

    def close(self) -> None:
        self.store.close()


class SqliteRegistrationStore(StoredRegistrationStore):
    """Registrations in an SQLite file (the store at ``path``)."""

    def __init__(self, path: "str | Path") -> None:
        self.path = str(path)
        super().__init__(open_store(self.path))

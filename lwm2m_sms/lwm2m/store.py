"""Where the server keeps its registrations: in memory, or in the gateway's store (an
SQLite file or PostgreSQL, :mod:`lwm2m_sms.store`) so that they survive a restart and are
shared by several nodes.

Both keep every registration in a dict (the server reads them on each request);
:class:`StoredRegistrationStore` also writes each change through to the store's
``registrations`` table (one row per endpoint; the table first, so a write the database
refuses leaves memory as it was) and loads the table at construction. This module is the
codec between a :class:`Registration` and the store's plain record. After a restart, or
when another node made it, a registration has no in-memory aiocoap remote; its
``remote_uri`` (``coap://host:port`` or ``coap+sms://+N``) is what the sender uses until
the client's next message here.

Several nodes on one database: the table is the truth and each node's dict a copy that
the server core keeps current (:meth:`~lwm2m_sms.lwm2m.server.Lwm2mServer.refresh`, on the
other nodes' hints). For that the store reads rows without taking them into memory
(:meth:`RegistrationStore.load`, ``load_location``, ``load_many``), takes a row into memory
without writing it back (``adopt``) or forgets one (``drop``), and deletes a row only while
it is unchanged (``remove_unchanged``: an expiry here must not delete what another node has
just updated). Locations are unique in the table (and in each dict): a ``put`` whose
location another endpoint holds raises :class:`~lwm2m_sms.store.LocationTaken`, and the
server picks another. The memory store has nothing beyond its dict: its ``load`` finds
nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Iterator, Optional

from ..sms.address import parse_msisdn
from ..store import LocationTaken, RegistrationRecord, Store, open_store
from . import linkformat
from .linkformat import Link
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
        """Add or replace (by endpoint name; an old location of the same endpoint goes).
        Raises :class:`~lwm2m_sms.store.LocationTaken` if another endpoint has the location."""
        holder = self._by_location.get(registration.location)
        if holder is not None and holder.endpoint != registration.endpoint:
            raise LocationTaken(registration.location)
        self.adopt(registration)

    def update(self, registration: Registration) -> bool:
        """Replace the endpoint's registration with ``registration`` (an Update: same
        location) if it is still the one at that location; False otherwise (unchanged)."""
        current = self._by_ep.get(registration.endpoint)
        if current is None or current.location != registration.location:
            return False
        self.adopt(registration)
        return True

    def remove(self, endpoint: str, location: Optional[str] = None) -> Optional[Registration]:
        """Remove and return the endpoint's registration; with ``location``, only if it is
        that registration (None otherwise, and nothing changes)."""
        current = self._by_ep.get(endpoint)
        if location is not None and current is not None and current.location != location:
            return None
        return self.drop(endpoint)

    def remove_unchanged(self, registration: Registration) -> bool:
        """Remove ``registration`` if it is still the one held (its store row unchanged);
        returns whether it was removed."""
        current = self._by_ep.get(registration.endpoint)
        if current is None or _stamp(current) != _stamp(registration):
            return False
        self.drop(registration.endpoint)
        return True

    # -- the copy in memory of a store that other nodes write too -------------------------

    def load(self, endpoint: str) -> Optional[Registration]:
        """The stored registration of ``endpoint``, read from the store (memory is not
        changed). The memory store has nothing beyond memory: None."""
        return None

    def load_location(self, location: str) -> Optional[Registration]:
        """The stored registration at ``location`` (memory is not changed)."""
        return None

    def load_many(self, endpoints: Iterable[str]) -> dict[str, Registration]:
        """The stored registrations of those of ``endpoints`` that have one (one read)."""
        return {}

    def load_stamps(self) -> Optional[dict[str, tuple[str, int, float]]]:
        """(location, lifetime, updated_at) of every stored registration, by endpoint (one
        read); None for the memory store (memory is all there is)."""
        return None

    def stamp(self, endpoint: str) -> Optional[tuple[str, int, float]]:
        """The held registration's (location, lifetime, updated_at), None if none is held."""
        reg = self._by_ep.get(endpoint)
        return _stamp(reg) if reg is not None else None

    def adopt(self, registration: Registration) -> None:
        """Hold ``registration`` in memory without writing it (it comes from the store)."""
        old = self._by_ep.get(registration.endpoint)
        if old is not None and self._by_location.get(old.location) is old:
            del self._by_location[old.location]
        self._by_ep[registration.endpoint] = registration
        self._by_location[registration.location] = registration

    def drop(self, endpoint: str) -> Optional[Registration]:
        """Forget ``endpoint`` in memory (not in the store)."""
        old = self._by_ep.pop(endpoint, None)
        if old is not None and self._by_location.get(old.location) is old:
            del self._by_location[old.location]
        return old

    def close(self) -> None:
        pass


def _stamp(reg: Registration) -> tuple[str, int, float]:
    # What changes with every Register, Update or Write of the lifetime, here or elsewhere.
    return reg.location, reg.lifetime, reg.updated_at


class MemoryRegistrationStore(RegistrationStore):
    """Nothing survives the process (tests, throw-away servers)."""


def to_record(reg: Registration) -> RegistrationRecord:
    return RegistrationRecord(
        reg.endpoint, reg.location, reg.lifetime, reg.version, reg.binding,
        reg.sms.lwm2m_digits if reg.sms else None,
        linkformat.serialize(list(reg.objects)).decode(), reg.root_path, reg.remote_uri,
        reg.registered_at, reg.updated_at,
    )


#: Object lists read back from the store, shared by every registration with the same text
#: (a fleet has a handful of distinct ones): the memory a registration Register made costs.
#: Bounded like the Register path's cache (lwm2m.registration._objects).
_OBJECTS: dict[str, tuple[Link, ...]] = {}
_OBJECTS_SIZE = 256
_OBJECTS_OCTETS = 512


def _objects(text: str) -> tuple[Link, ...]:
    cached = _OBJECTS.get(text)
    if cached is None:
        cached = tuple(linkformat.parse(text))
        if len(text) <= _OBJECTS_OCTETS:
            if len(_OBJECTS) >= _OBJECTS_SIZE:
                _OBJECTS.clear()
            _OBJECTS[text] = cached
    return cached


def from_record(r: RegistrationRecord) -> Registration:
    """Raises ``ValueError`` (DecodeError, AddressError) for a row this code cannot use."""
    return Registration(
        endpoint=r.endpoint, location=r.location, lifetime=r.lifetime, version=r.version,
        binding=r.binding, sms=parse_msisdn(r.sms) if r.sms else None,
        objects=_objects(r.objects), remote_uri=r.remote_uri,
        registered_at=r.registered_at, updated_at=r.updated_at, root_path=r.root_path,
    )


class StoredRegistrationStore(RegistrationStore):
    """Registrations in a :class:`~lwm2m_sms.store.Store`: loaded at construction, written
    through on change, read on a miss (:meth:`load`). :meth:`close` closes the store
    (shared with the request queue, whose close is the same idempotent call)."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self._table = store.registrations
        for record in self._table.all():
            reg = self._decode(record)
            if reg is not None:
                super().adopt(reg)

    def _decode(self, record: RegistrationRecord) -> Optional[Registration]:
        try:
            return from_record(record)
        except ValueError as exc:  # DecodeError/AddressError: a row we cannot use
            log.warning("registration store %s: skipping ep=%s: %s", self.store.name,
                        record.endpoint, exc)
            return None

    def put(self, registration: Registration) -> None:
        holder = self._by_location.get(registration.location)
        if holder is not None and holder.endpoint != registration.endpoint:
            raise LocationTaken(registration.location)
        self._table.put(to_record(registration))  # raises LocationTaken for another node's
        super().adopt(registration)

    def update(self, registration: Registration) -> bool:
        if not self._table.update(to_record(registration)):
            return False  # the row is gone or a newer registration: this copy is stale
        super().adopt(registration)
        return True

    def remove(self, endpoint: str, location: Optional[str] = None) -> Optional[Registration]:
        if not self._table.remove(endpoint, location) and location is not None \
                and self._table.get(endpoint) is not None:
            return None  # the row is a newer registration (another node's): this copy is stale
        return super().remove(endpoint, location)

    def remove_unchanged(self, registration: Registration) -> bool:
        if not self._table.remove_unchanged(to_record(registration)):
            return False
        current = self._by_ep.get(registration.endpoint)
        if current is not None and _stamp(current) == _stamp(registration):
            super().drop(registration.endpoint)
        return True

    def load(self, endpoint: str) -> Optional[Registration]:
        record = self._table.get(endpoint)
        return self._decode(record) if record is not None else None

    def load_location(self, location: str) -> Optional[Registration]:
        record = self._table.by_location(location)
        return self._decode(record) if record is not None else None

    def load_stamps(self) -> Optional[dict[str, tuple[str, int, float]]]:
        return self._table.stamps()

    def load_many(self, endpoints: Iterable[str]) -> dict[str, Registration]:
        found = {}
        for endpoint, record in self._table.get_many(endpoints).items():
            reg = self._decode(record)
            if reg is not None:
                found[endpoint] = reg
        return found

    def close(self) -> None:
        self.store.close()


class SqliteRegistrationStore(StoredRegistrationStore):
    """Registrations in an SQLite file (the store at ``path``)."""

    def __init__(self, path: "str | Path") -> None:
        self.path = str(path)
        super().__init__(open_store(self.path))

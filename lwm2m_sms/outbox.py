"""The store of accepted, unsent SMS (Kannel's store), kept in the gateway's store
(:mod:`lwm2m_sms.store`: the ``outbox`` table of an SQLite file or PostgreSQL).

A bearer puts every message it accepts here before it answers ``send``, and removes it only
once the network took it or it was reported failed; after a crash or restart the bearer
sends what is left. With no path the store lives in memory (bounded all the same). Rows
carry the bearer's name (``bearer``), so that several bearers can share one store and each
resends only its own.
"""

from __future__ import annotations

from .sms.udh import Ports
from .store import OutboxFull, OutboxRecord, Store, open_store

__all__ = ["OutboxEntry", "Outbox", "OutboxFull"]

OutboxEntry = OutboxRecord


class Outbox:
    """``path``: an SQLite file, ``postgresql://...``, or an open :class:`Store` (None:
    SQLite in memory)."""

    def __init__(
        self,
        path: "str | Store | None" = None,
        *,
        max_entries: int = 10_000,
        bearer: str = "",
    ) -> None:
        self.store = path if isinstance(path, Store) else open_store(path or ":memory:")
        self.path = self.store.name
        self._table = self.store.outbox(bearer, max_entries=max_entries)
        self.max_entries = max_entries

    def add(
        self,
        message_id: str,
        recipient: str,
        payload: bytes,
        *,
        ports: Ports | None = None,
        report: bool = False,
        pid: int = 0,
        dcs: int = 0x04,
    ) -> OutboxEntry:
        """Raises :class:`OutboxFull` when the outbox holds ``max_entries`` messages. ``pid``
        and ``dcs`` are kept so a message resent after a restart goes as it was accepted."""
        return self._table.add(message_id, recipient, payload, ports=ports, report=report,
                               pid=pid, dcs=dcs)

    def pending(self, limit: int | None = None) -> list[OutboxEntry]:
        """Oldest first."""
        return self._table.pending(limit)

    def attempted(self, entry_id: int) -> None:
        self._table.attempted(entry_id)

    def remove(self, entry_id: int) -> None:
        self._table.remove(entry_id)

    def __len__(self) -> int:
        return len(self._table)

    def close(self) -> None:
        self.store.close()

"""Where secured-packet counters live (SMS security mode 2), per peer MSISDN.

A channel asks its peer's :class:`CounterLedger` for each counter it sends and lets it
decide on each counter it receives; the ledger records the change before the packet is
used, so that no counter is ever sent twice nor an old one accepted, across restarts and
(with the store) across nodes:

* :class:`CounterStore`: one small JSON file per peer in a directory (one node). Written to
  a temporary file and renamed: a crash leaves the old or the new value, never half of one.
* :class:`SharedCounters`: the ``packet_counters`` table of the gateway's store
  (:mod:`lwm2m_sms.store.counters`), which several nodes on one PostgreSQL share: each
  counter is taken and each received one checked in one atomic statement. Peers it has no
  row for yet start from the files of a :class:`CounterStore` when one is given (a node
  that moves from files to the store keeps counting where it was), and a row another node
  made first is raised to them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Protocol

from .secured_packet import MAX_COUNTER, CounterPolicy, ResponseStatus, SecuredPacketError, check_counter

if TYPE_CHECKING:
    from ..store.counters import PacketCounterTable

__all__ = ["CounterLedger", "Counters", "CounterStore", "SharedCounters"]


class CounterLedger(Protocol):
    """The counters of one peer."""

    def take_sent(self) -> int:
        """The next counter to send, already recorded. Raises :class:`SecuredPacketError`
        (CNTR_BLOCKED) when the counter is exhausted."""

    def accept(self, policy: CounterPolicy, counter: int) -> Optional[ResponseStatus]:
        """None: ``counter`` may be processed under ``policy`` and is recorded as the last
        received; else the PoR status that refuses it (nothing recorded)."""


class Counters(Protocol):
    """What a :class:`~.bearer.SecureBearer` keeps its counters in."""

    def ledger(self, peer: str) -> CounterLedger: ...


def _exhausted(peer: str) -> SecuredPacketError:
    return SecuredPacketError(f"{peer}: counter exhausted; new keys needed", ResponseStatus.CNTR_BLOCKED)


class MemoryLedger:
    """Counters kept in memory (and, with ``save``, written on each change)."""

    def __init__(self, peer: str, sent: int = 0, received: Optional[int] = None,
                 save: "Optional[CounterStore]" = None) -> None:
        self.peer = peer
        self.sent = sent
        self.received = received
        self._save = save

    def take_sent(self) -> int:
        if self.sent >= MAX_COUNTER:
            raise _exhausted(self.peer)
        self.sent += 1
        self._write()
        return self.sent

    def accept(self, policy: CounterPolicy, counter: int) -> Optional[ResponseStatus]:
        verdict = check_counter(policy, counter, self.received)
        if verdict is None and policy != CounterPolicy.NONE:
            self.received = counter
            self._write()
        return verdict

    def _write(self) -> None:
        if self._save is not None:
            self._save.save(self.peer, self.sent, self.received)


class CounterStore:
    def __init__(self, directory: "str | Path") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, peer: str) -> Path:
        return self.directory / f"{peer.lstrip('+')}.counters.json"

    def load(self, peer: str) -> tuple[int, int | None]:
        try:
            data = json.loads(self._path(peer).read_text())
            return int(data["sent"]), (None if data["received"] is None else int(data["received"]))
        except FileNotFoundError:
            return 0, None

    def save(self, peer: str, sent: int, received: int | None) -> None:
        path = self._path(peer)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"sent": sent, "received": received}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def ledger(self, peer: str) -> MemoryLedger:
        """``peer``'s counters as the files hold them; one ledger per peer at a time (it
        keeps them in memory and writes each change)."""
        sent, received = self.load(peer)
        return MemoryLedger(peer, sent, received, save=self)


class SharedCounters:
    def __init__(self, table: "PacketCounterTable", seed: Optional[CounterStore] = None) -> None:
        self.table = table
        self.seed = seed

    def ledger(self, peer: str) -> "StoreLedger":
        return StoreLedger(self.table, peer, self.seed)


class StoreLedger:
    """One peer's row of the store's ``packet_counters``."""

    def __init__(self, table: "PacketCounterTable", peer: str, seed: Optional[CounterStore]) -> None:
        self.table = table
        self.peer = peer
        self._seed_from = seed
        self._seed: Optional[tuple[int, Optional[int]]] = None

    def seed(self) -> tuple[int, Optional[int]]:
        # Read once: the files are not written once the store is used. Brought into a row
        # another node may have made first (only ever raising it).
        if self._seed is None:
            seed = self._seed_from.load(self.peer) if self._seed_from is not None else (0, None)
            if seed != (0, None):
                self.table.raise_to(self.peer, seed)  # if the store fails, the next use tries again
            self._seed = seed
        return self._seed

    def take_sent(self) -> int:
        counter = self.table.take_sent(self.peer, limit=MAX_COUNTER, seed=self.seed())
        if counter is None:
            raise _exhausted(self.peer)
        return counter

    def accept(self, policy: CounterPolicy, counter: int) -> Optional[ResponseStatus]:
        if policy == CounterPolicy.NONE:
            return None
        if policy == CounterPolicy.AVAILABLE:
            self.table.set_received(self.peer, counter, seed=self.seed())
            return None
        if self.table.accept(self.peer, counter, exactly_next=policy == CounterPolicy.ONE_HIGHER, seed=self.seed()):
            return None
        # Refused: which status, from the row as it is now (another node may have moved it
        # since; then "too low" is what the refusal meant).
        row = self.table.get(self.peer)
        return check_counter(policy, counter, row[1] if row else None) or ResponseStatus.CNTR_LOW

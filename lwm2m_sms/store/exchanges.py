"""Who owns which CoAP exchange, and which gateway nodes share the database (schema step 4).

Several nodes on one PostgreSQL each send CoAP requests by SMS over their own SMPP bind,
and the SMSC hands the device's answer to any bind of the account. The node that sent a
request **owns its exchange**: before the SMS leaves it writes one row of
``exchanges`` (:meth:`ExchangeTable.record`): the peer's number, the message ID, the
token, the owner's name, the queued request's id when the router sent it from the queue,
and an expiry. A node that receives an answer its own CoAP layer does not know looks the
owner up by (peer, message ID) for an ACK or Reset, by (peer, token) for a response of its
own type (:meth:`~ExchangeTable.by_mid`, :meth:`~ExchangeTable.by_token`) and hands it over
(:mod:`lwm2m_sms.cluster`).

What a row is worth: a **hint** that lives as long as its owner. The exchange itself (the
waiting caller, the retransmission state) is in the owner's memory and dies with it, so the
table is ``UNLOGGED`` on PostgreSQL (no WAL: about 110 us per send on this machine instead
of 280; a crash of the database server empties it, and then an answer that arrives at a
node other than its sender is dropped, as before there were several nodes). What must
survive is state elsewhere: a queued request's outcome is in ``queued_requests``, written
with the owner's name (see :mod:`.tables`).

Rows end: after EXCHANGE_LIFETIME (``expires``; :meth:`~ExchangeTable.purge` deletes past
rows through the expiry index, called every minute or so, never per message); an
observation's row when its owner learns it has ended (:meth:`~ExchangeTable.release`);
every row of a node when it starts again (it knows none of them) or when another node
takes its work over (:meth:`NodeTable.take_over`).

Message IDs and tokens are chosen by each node's aiocoap independently, so two nodes can
hold rows with the same (peer, message ID) or (peer, token) at once: a lookup returns every
live row, and the caller treats more than one owner as unknown (the answer is dropped).

``nodes`` lists the nodes that have joined (:meth:`NodeTable.join`): the few names whose
liveness the others check, without scanning the queue or the exchanges for owners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .bus import HELD_LOCKS_SQL, LOCK_SPACE, lock_key
from .database import Database
from .records import NO_DEADLINE, QueuedRecord, StoreError
from .tables import RequestTable

__all__ = ["ExchangeRecord", "ExchangeTable", "NodeTable"]

_COLUMNS = "owner, peer, mid, token, request_id, expires"


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    """One exchange a node has on the wire: ``peer`` is ``+N``; ``request_id`` the queued
    request it carries (None: a request not from the queue); ``expires`` Unix seconds
    (an observation: :data:`~.records.NO_DEADLINE` until it ends)."""

    owner: str
    peer: str
    mid: int
    token: bytes
    request_id: Optional[int]
    expires: float


def _record(r: tuple[Any, ...]) -> ExchangeRecord:
    return ExchangeRecord(str(r[0]), str(r[1]), int(r[2]), bytes(r[3]),
                          None if r[4] is None else int(r[4]), float(r[5]))


class ExchangeTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, owner: str, peer: str, mid: int, token: bytes, *,
               request_id: Optional[int], expires: float) -> None:
        """``owner`` sends ``mid``/``token`` to ``peer`` now. One statement, in autocommit:
        on PostgreSQL it commits without a WAL flush (an unlogged table). A message ID the
        owner used before for that peer (its lifetime passed) is taken over by the new row."""
        self._db.execute(
            f"INSERT INTO exchanges ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (owner, peer, mid) DO UPDATE SET token = excluded.token,"
            " request_id = excluded.request_id, expires = excluded.expires",
            (owner, peer, mid, bytes(token), request_id, min(expires, NO_DEADLINE)),
        )

    def by_mid(self, peer: str, mid: int, now: float) -> list[ExchangeRecord]:
        """The live exchanges with message ID ``mid`` to ``peer`` (an ACK or Reset's)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM exchanges WHERE peer = ? AND mid = ? AND expires > ?",
            (peer, mid, now),
        ).rows
        return [_record(r) for r in rows]

    def by_token(self, peer: str, token: bytes, now: float) -> list[ExchangeRecord]:
        """The live exchanges with ``token`` to ``peer`` (a separate response's or a
        notification's)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM exchanges WHERE peer = ? AND token = ? AND expires > ?",
            (peer, bytes(token), now),
        ).rows
        return [_record(r) for r in rows]

    def release(self, owner: str, peer: str, token: bytes) -> int:
        """``owner``'s exchanges with ``token`` to ``peer`` are over (an observation it no
        longer has): rows deleted."""
        return self._db.execute(
            "DELETE FROM exchanges WHERE owner = ? AND peer = ? AND token = ?",
            (owner, peer, bytes(token)),
        ).rowcount

    def observations(self, owner: str) -> list[tuple[str, bytes]]:
        """``(peer, token)`` of ``owner``'s observation rows (those without an expiry)."""
        rows = self._db.execute(
            "SELECT peer, token FROM exchanges WHERE owner = ? AND expires >= ?", (owner, NO_DEADLINE),
        ).rows
        return [(str(r[0]), bytes(r[1])) for r in rows]

    def forget(self, owner: str) -> int:
        """Every row of ``owner`` (it starts afresh, or died)."""
        return self._db.execute("DELETE FROM exchanges WHERE owner = ?", (owner,)).rowcount

    def purge(self, now: float) -> int:
        """Delete the rows past their expiry (an index range, not a scan of the table)."""
        return self._db.execute("DELETE FROM exchanges WHERE expires <= ?", (now,)).rowcount

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM exchanges").rows[0][0])


class NodeTable:
    """The nodes on this database (PostgreSQL; SQLite serves one node)."""

    def __init__(self, db: Database, requests: RequestTable, exchanges: ExchangeTable) -> None:
        self._db = db
        self._requests = requests
        self._exchanges = exchanges

    def join(self, node: str, now: float) -> None:
        """``node`` runs (call it once it holds its name on the bus, before it takes any
        work): listed for the others' liveness checks, its old exchanges forgotten. Waits
        while another node is taking over this name's work (the row lock), so that nothing
        this node takes from now on is taken over as a dead node's."""
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO nodes (name, joined) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET joined = excluded.joined",
                (node, now),
            )
            self._exchanges.forget(node)

    def listed(self, node: str, now: float) -> bool:
        """List ``node`` again if it is not (another node took it over while its name's
        lock was briefly lost, and struck it off): its exchange rows stay, they are live.
        Returns whether it had to be listed again."""
        return self._db.execute(
            "INSERT INTO nodes (name, joined) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (node, now),
        ).rowcount > 0

    def names(self) -> list[str]:
        return [str(r[0]) for r in self._db.execute("SELECT name FROM nodes ORDER BY name").rows]

    def take_over(self, dead: str) -> Optional[list[QueuedRecord]]:
        """If ``dead`` is still listed and does not hold its name, do what its restart
        would: its queued requests on the wire are queued again (GET, PUT, DELETE) or
        failed, outcome unknown (POST: :meth:`RequestTable.recover`), its exchanges are
        forgotten and it is no longer listed. One transaction, under the lock of its
        ``nodes`` row: of two nodes that try at once one does it, the other gets None (as
        it does when ``dead`` turns out alive). Returns the changed requests."""
        if self._db.backend != "postgresql":
            raise StoreError(self._db.name, "several nodes need PostgreSQL")
        with self._db.transaction():
            listed = self._db.execute(
                "SELECT name FROM nodes WHERE name = ? FOR UPDATE", (dead,)
            ).rows
            if not listed:
                return None  # another node took it over, or it never joined
            if self._db.execute(HELD_LOCKS_SQL, (LOCK_SPACE, [lock_key(dead)])).rows:
                return None  # alive (again): it started since the caller looked
            changed = self._requests.recover(dead, why=f"its node {dead!r} died")
            self._exchanges.forget(dead)
            self._db.execute("DELETE FROM nodes WHERE name = ?", (dead,))
        return changed

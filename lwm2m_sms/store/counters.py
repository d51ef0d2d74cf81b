"""Secured-packet counters (SMS security mode 2, TS 102 225) per peer, in the store that
several gateway nodes share (schema step 6).

One row per peer MSISDN: ``sent``, the last counter any node put in a packet to it, and
``received``, the highest counter any node accepted from it (NULL: none yet). Each change
is one statement, atomic on both engines: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE
... RETURNING`` creates the row if it is missing and otherwise changes it under the row's
lock, the condition evaluated on the row as it is then. So two nodes never send the same
counter, and a packet one node accepted is a replay on every node.

``seed`` is what the row starts from when it does not exist yet: the counters a node kept
in files before it used the store (an UICC refuses a counter that starts again at 1);
:meth:`~PacketCounterTable.raise_to` brings them into a row another node made first.
Counters are plain ints here; the counter policies are the security layer's
(:mod:`lwm2m_sms.security.state`), which tells :meth:`~PacketCounterTable.accept` whether
the counter must be higher or exactly one higher.
"""

from __future__ import annotations

from typing import Optional

from .database import Database

__all__ = ["PacketCounterTable"]

Seed = tuple[int, Optional[int]]


class PacketCounterTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def take_sent(self, peer: str, *, limit: int, seed: Seed = (0, None)) -> Optional[int]:
        """The next counter to send to ``peer``, recorded before the caller uses it; None
        when the last one was ``limit`` (the counter is exhausted: new keys are needed)."""
        if seed[0] >= limit:
            return None
        rows = self._db.execute(
            "INSERT INTO packet_counters (peer, sent, received) VALUES (?, ?, ?)"
            " ON CONFLICT (peer) DO UPDATE SET sent = packet_counters.sent + 1"
            " WHERE packet_counters.sent < ? RETURNING sent",
            (peer, seed[0] + 1, seed[1], limit),
        ).rows
        return int(rows[0][0]) if rows else None

    def accept(self, peer: str, counter: int, *, exactly_next: bool, seed: Seed = (0, None)) -> bool:
        """Record ``counter`` as received from ``peer`` if it is higher than the stored
        one (``exactly_next``: one higher; nothing stored counts as 0). False: refused,
        nothing changed. One conditional UPDATE decides (PostgreSQL re-checks its condition
        on the row it waited for); the row is created first only when it is missing."""
        condition = "COALESCE(received, 0) = ?" if exactly_next else "COALESCE(received, 0) < ?"
        bound = counter - 1 if exactly_next else counter
        update = f"UPDATE packet_counters SET received = ? WHERE peer = ? AND {condition} RETURNING received"
        if self._db.execute(update, (counter, peer, bound)).rows:
            return True
        # Refused, or no row yet (then another node may be creating it now: decide again
        # on the row, whoever made it).
        self._db.execute(
            "INSERT INTO packet_counters (peer, sent, received) VALUES (?, ?, ?) ON CONFLICT (peer) DO NOTHING",
            (peer, seed[0], seed[1]),
        )
        return bool(self._db.execute(update, (counter, peer, bound)).rows)

    def set_received(self, peer: str, counter: int, *, seed: Seed = (0, None)) -> None:
        """Record ``counter`` as received whatever was stored (a counter the policy does
        not check: TS 102 225 "counter available, no replay checking")."""
        self._db.execute(
            "INSERT INTO packet_counters (peer, sent, received) VALUES (?, ?, ?)"
            " ON CONFLICT (peer) DO UPDATE SET received = excluded.received",
            (peer, seed[0], counter),
        )

    def raise_to(self, peer: str, seed: Seed) -> None:
        """Raise ``peer``'s counters to at least ``seed`` (creating the row if missing): a
        node's files count even when another node made the row first; a higher stored
        value stays (a lower one would send a counter again or accept a replay)."""
        self._db.execute(
            "INSERT INTO packet_counters (peer, sent, received) VALUES (?, ?, ?)"
            " ON CONFLICT (peer) DO UPDATE SET"
            " sent = CASE WHEN packet_counters.sent < excluded.sent THEN excluded.sent ELSE packet_counters.sent END,"
            " received = CASE WHEN excluded.received IS NOT NULL AND (packet_counters.received IS NULL"
            " OR packet_counters.received < excluded.received) THEN excluded.received"
            " ELSE packet_counters.received END",
            (peer, seed[0], seed[1]),
        )

    def get(self, peer: str) -> Optional[Seed]:
        """(sent, received) for ``peer``; None: no row yet."""
        rows = self._db.execute("SELECT sent, received FROM packet_counters WHERE peer = ?", (peer,)).rows
        return (int(rows[0][0]), None if rows[0][1] is None else int(rows[0][1])) if rows else None

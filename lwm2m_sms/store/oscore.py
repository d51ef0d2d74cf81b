"""OSCORE's mutable state (RFC 8613) in the store that several gateway nodes share (schema
step 6): the sender sequence numbers and the replay window of each security context. The
keys stay in each node's context directory (``secret.json``, provisioned alike); what
changes with every message lives here, so that two nodes with copies of one context never
use one sequence number twice (nonce reuse) and a request one node accepted is a replay on
every node.

``oscore_contexts``: per context (named by the security layer: the peer's number and a
digest of its keys) ``next_to_send``, the first sequence number no node has reserved, and
``high``, the highest sequence number any node accepted from the peer (NULL: unknown, the
context's last process did not stop cleanly: aiocoap's Echo recovery, RFC 8613 appendix
B.1.2, sets it). ``oscore_seen``: the accepted numbers within the replay window below
``high``; older rows are deleted as the window moves, so a context has at most a window's
worth.

Each reservation is one ``UPDATE ... RETURNING``; each acceptance one short transaction
that first updates the context's row (on PostgreSQL it holds that row's lock, so the
acceptances of one context are decided one after the other on every node), then inserts
the number (a duplicate is a replay) and deletes what fell out of the window.
"""

from __future__ import annotations

from typing import Iterable, Optional

from .database import Database

__all__ = ["OscoreStateTable"]


class OscoreStateTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def open(self, context: str, *, next_to_send: int, high: Optional[int], seen: Iterable[int]) -> None:
        """Create ``context``'s row from a node's files when the store has none; when it
        has one, only raise it to the files: ``next_to_send`` and ``high`` if the files'
        are higher, and the files' ``seen`` numbers added (a copy used alone before must
        not make the others reuse its numbers nor accept its requests again). A window the
        store does not know (``high`` NULL) stays unknown: Echo recovery sets it."""
        with self._db.transaction():
            created = self._db.execute(
                "INSERT INTO oscore_contexts (context, next_to_send, high) VALUES (?, ?, ?)"
                " ON CONFLICT (context) DO NOTHING", (context, next_to_send, high),
            ).rowcount
            if not created:
                self._db.execute(
                    "UPDATE oscore_contexts SET next_to_send = ? WHERE context = ? AND next_to_send < ?",
                    (next_to_send, context, next_to_send),
                )
                if high is not None:
                    self._db.execute(
                        "UPDATE oscore_contexts SET high = ? WHERE context = ? AND high < ?",
                        (high, context, high),
                    )
            for n in sorted(set(seen)):  # at most a window's worth; the next accept trims them
                self._db.execute(
                    "INSERT INTO oscore_seen (context, seqno) VALUES (?, ?) ON CONFLICT DO NOTHING", (context, n))

    def reserve(self, context: str, count: int, *, limit: int) -> Optional[int]:
        """The first of ``count`` sequence numbers reserved for the caller alone; None when
        they would not all be below ``limit`` (the context is exhausted) or it has no row."""
        rows = self._db.execute(
            "UPDATE oscore_contexts SET next_to_send = next_to_send + ? WHERE context = ?"
            " AND next_to_send + ? <= ? RETURNING next_to_send",
            (count, context, count, limit),
        ).rows
        return int(rows[0][0]) - count if rows else None

    def accept(self, context: str, seqno: int, *, window: int) -> Optional[int]:
        """Record ``seqno`` as received if no node has accepted it and it is within
        ``window`` of the highest accepted (or that is unknown). Returns the highest
        accepted after it, or None: refused (a replay), nothing changed."""
        with self._db.transaction():
            rows = self._db.execute(
                "UPDATE oscore_contexts SET high = CASE WHEN high IS NULL OR high < ? THEN ? ELSE high END"
                " WHERE context = ? RETURNING high", (seqno, seqno, context),
            ).rows
            if not rows:
                return None
            high = int(rows[0][0])
            if seqno <= high - window:
                return None  # below the window: too old to tell, refused as aiocoap does
            if not self._db.execute(
                "INSERT INTO oscore_seen (context, seqno) VALUES (?, ?) ON CONFLICT DO NOTHING", (context, seqno),
            ).rowcount:
                return None  # accepted before, here or on another node
            self._db.execute("DELETE FROM oscore_seen WHERE context = ? AND seqno <= ?", (context, high - window))
            return high

    def state(self, context: str) -> Optional[tuple[int, Optional[int], list[int]]]:
        """(next_to_send, high, the numbers kept as seen); None: no row."""
        rows = self._db.execute("SELECT next_to_send, high FROM oscore_contexts WHERE context = ?", (context,)).rows
        if not rows:
            return None
        seen = self._db.execute("SELECT seqno FROM oscore_seen WHERE context = ? ORDER BY seqno", (context,)).rows
        return int(rows[0][0]), None if rows[0][1] is None else int(rows[0][1]), [int(r[0]) for r in seen]

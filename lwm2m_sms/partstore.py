"""The durable store of a bearer's received parts and sent concatenation references (SQLite).

Why: a bearer acknowledges a part of a long message to the network (+CNMA, deliver_sm_resp)
long before the message is whole. If that part lived only in memory, a crash (kill -9, power
cut of the process) between the acknowledgement and the last part would lose it: the network
was told it arrived and never sends it again. So :class:`~lwm2m_sms.bearer.Bearer`, given a
``parts_db``, writes every part it holds here *before* it returns to the caller that then
acknowledges it, deletes the parts once their message was handed up, and loads what is left
at start. The store mirrors the :class:`~lwm2m_sms.sms.reassembly.Reassembler`'s contents, so
it is bounded by the same pools and expires with the same timeout.

The same file keeps the next concatenation reference per destination
(:class:`~lwm2m_sms.sms.segmentation.ReferenceStore`), so that a restarted sender never
reuses the reference of a message its peer still holds half of; it is taken in one
transaction per message, so every bearer on the file counts on the same row.

Bounds: the parts mirror the reassembler (its pools and timeout); one file may serve several
bearers, each in its own ``scope``; the reference table keeps the ``MAX_REFERENCE_ROWS`` most
recently used destinations.

Durability: WAL journal with ``synchronous=NORMAL`` by default, as the outbox: every
committed write survives the process being killed; an operating-system crash may lose the
last transactions. ``synchronous="FULL"`` (``lwm2m-sms server --durability full``, the
bearer's ``durability``) survives that too, at an fsync per part (docs/field.md has the cost).
Times in the file are wall-clock seconds (they must mean the same after a restart).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from .errors import BearerError, DecodeError
from .sms.reassembly import PartKey
from .sms.segmentation import UserData
from .sqlite_store import SqliteStore

__all__ = ["PartStore", "StoredPart"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredPart:
    key: PartKey
    user_data: UserData
    trusted: bool
    received: float  # wall clock


#: Rows of ``sms_references`` kept; past it the least recently used destinations go (a
#: forgotten destination starts at a random reference, as after a start without a store).
MAX_REFERENCE_ROWS = 100_000
_PRUNE_EVERY = 1024  # reference writes between two prunings (a prune sorts the table)
ORPHAN_AGE = 86_400.0  # parts of a scope nobody loads any more (a renamed bearer) go after a day


class PartStore(SqliteStore):
    """One bearer's held parts (rows of its ``scope``) and the shared reference table.

    Several bearers may share one file (``lwm2m-sms server --db`` gives it to the SMPP link
    and the modem): each reads, expires and deletes only the rows of its own ``scope``, so
    one bearer's eviction or expiry never deletes parts another still holds.

    :meth:`close` releases the connection; a later call opens it again (a bearer closed and
    started again keeps working).
    """

    def __init__(
        self,
        path: str,
        *,
        scope: str = "",
        synchronous: str = "NORMAL",
        wall_clock: Callable[[], float] = time.time,
        max_reference_rows: int = MAX_REFERENCE_ROWS,
    ) -> None:
        super().__init__(path, synchronous=synchronous)
        self.scope = scope
        self.max_reference_rows = max_reference_rows
        self._wall = wall_clock
        self._reference_writes = 0
        try:
            self._db  # open now: a bad path fails at construction, not at the first part
        except sqlite3.Error as exc:
            raise BearerError(f"part store {path}: {exc}") from None

    def _create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS sms_parts (scope TEXT NOT NULL DEFAULT '', sender TEXT NOT NULL,"
            " reference INTEGER NOT NULL, total INTEGER NOT NULL, seq INTEGER NOT NULL,"
            " user_data BLOB NOT NULL, trusted INTEGER NOT NULL, received REAL NOT NULL,"
            " PRIMARY KEY (scope, sender, reference, total, seq))"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS sms_references (destination TEXT PRIMARY KEY,"
            " next_reference INTEGER NOT NULL, used REAL NOT NULL DEFAULT 0)"
        )
        # files written before scopes and reference ages: add the columns (old part rows
        # get scope '' and expire as orphans; old reference rows count as least used)
        for table, column, decl in (("sms_parts", "scope", "TEXT NOT NULL DEFAULT ''"),
                                    ("sms_references", "used", "REAL NOT NULL DEFAULT 0")):
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        db.execute("CREATE INDEX IF NOT EXISTS sms_references_used ON sms_references (used)")

    # -- parts ------------------------------------------------------------------------------

    def add(self, key: PartKey, user_data: UserData, trusted: bool) -> None:
        """Keep one part; raises BearerError if it could not be written (then the caller must
        not acknowledge the part: the network keeps it and delivers it again)."""
        concat = user_data.concat
        assert concat is not None
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO sms_parts (scope, sender, reference, total, seq, user_data, trusted,"
                " received) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.scope, key[0], key[1], key[2], concat.seq, user_data.encode(), int(trusted), self._wall()),
            )
        except sqlite3.Error as exc:
            raise BearerError(f"part store {self.path}: part from {key[0]} not stored: {exc}") from None

    def delete(self, keys: Iterable[PartKey]) -> None:
        rows = [(self.scope, *k) for k in keys]
        try:
            self._db.executemany(
                "DELETE FROM sms_parts WHERE scope = ? AND sender = ? AND reference = ? AND total = ?", rows
            )
        except sqlite3.Error as exc:  # left behind: load() expires them
            log.warning("part store %s: parts of %s not deleted (expire at the next start): %s", self.path,
                        ", ".join(f"{r[1]} reference {r[2] & 0xFFFF}" for r in rows[:5]) + (" ..." if len(rows) > 5 else ""),
                        exc)

    def load(self, timeout: float) -> list[StoredPart]:
        """Every part of this scope younger than ``timeout`` seconds, oldest first; older
        ones are deleted (and any scope's parts older than ``ORPHAN_AGE``)."""
        now = self._wall()
        out: list[StoredPart] = []
        try:
            self._db.execute("DELETE FROM sms_parts WHERE (scope = ? AND received < ?) OR received < ?",
                             (self.scope, now - timeout, now - max(timeout, ORPHAN_AGE)))
            rows = self._db.execute(
                "SELECT sender, reference, total, user_data, trusted, received FROM sms_parts WHERE scope = ?"
                " ORDER BY received", (self.scope,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise BearerError(f"part store {self.path}: {exc}") from None
        for sender, reference, total, octets, trusted, received in rows:
            try:
                ud = UserData.decode(bytes(octets), True)
            except DecodeError as exc:  # not written by us: drop it rather than fail the start
                log.warning("part store %s: unreadable part from %s dropped: %s", self.path, sender, exc)
                continue
            out.append(StoredPart((sender, reference, total), ud, bool(trusted), received))
        return out

    def count(self) -> int:
        """Parts held in this scope."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM sms_parts WHERE scope = ?", (self.scope,)).fetchone()
        return int(n)

    def now(self) -> float:
        return self._wall()

    # -- references (lwm2m_sms.sms.segmentation.ReferenceStore) ---------------------------

    def load_reference(self, destination: str) -> int | None:
        try:
            row = self._db.execute(
                "SELECT next_reference FROM sms_references WHERE destination = ?", (destination,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise BearerError(f"part store {self.path}: reference for {destination} not read: {exc}") from None
        return int(row[0]) if row is not None else None

    def save_reference(self, destination: str, next_reference: int) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO sms_references (destination, next_reference, used) VALUES (?, ?, ?)",
                (destination, next_reference, self._wall()),
            )
            self._reference_writes += 1
            if self._reference_writes % _PRUNE_EVERY == 1:
                self.prune_references()
        except sqlite3.Error as exc:
            raise BearerError(f"part store {self.path}: reference for {destination} not stored: {exc}") from None

    def take_reference(self, destination: str, first: int, modulo: int) -> int:
        """The next reference for ``destination`` (``first`` if none is stored), its
        successor stored, in one transaction: every bearer on this file (and any process)
        counts on the same row, so two bearers to one device never hand out one reference
        twice (each used to keep its own copy and overwrite the row with it)."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT next_reference FROM sms_references WHERE destination = ?",
                                 (destination,)).fetchone()
                ref = (int(row[0]) if row is not None else first) % modulo
                db.execute(
                    "INSERT OR REPLACE INTO sms_references (destination, next_reference, used) VALUES (?, ?, ?)",
                    (destination, (ref + 1) % modulo, self._wall()),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._reference_writes += 1
            if self._reference_writes % _PRUNE_EVERY == 1:
                self.prune_references()
        except sqlite3.Error as exc:
            raise BearerError(f"part store {self.path}: reference for {destination} not taken: {exc}") from None
        return ref

    def prune_references(self) -> int:
        """Keep the ``max_reference_rows`` most recently used destinations; return how many
        rows went. Any number may be a destination (a reply goes to whoever wrote), so the
        table would otherwise grow for good."""
        cur = self._db.execute(
            "DELETE FROM sms_references WHERE destination IN (SELECT destination FROM sms_references"
            " ORDER BY used DESC LIMIT -1 OFFSET ?)", (self.max_reference_rows,)
        )
        if cur.rowcount > 0:
            log.info("part store %s: %d least recently used reference row(s) forgotten (at most %d kept)",
                     self.path, cur.rowcount, self.max_reference_rows)
        return max(cur.rowcount, 0)


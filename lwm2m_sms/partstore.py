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
reuses the reference of a message its peer still holds half of.

Durability: WAL journal with ``synchronous=NORMAL``, as the outbox: every committed write
survives the process being killed; an operating-system crash may lose the last
transactions (set ``synchronous="FULL"`` for that, at the cost of an fsync per part).
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

__all__ = ["PartStore", "StoredPart"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredPart:
    key: PartKey
    user_data: UserData
    trusted: bool
    received: float  # wall clock


class PartStore:
    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = path
        self._wall = wall_clock
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sms_parts (sender TEXT NOT NULL, reference INTEGER NOT NULL,"
                " total INTEGER NOT NULL, seq INTEGER NOT NULL, user_data BLOB NOT NULL,"
                " trusted INTEGER NOT NULL, received REAL NOT NULL,"
                " PRIMARY KEY (sender, reference, total, seq))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sms_references (destination TEXT PRIMARY KEY,"
                " next_reference INTEGER NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise BearerError(f"part store {path}: {exc}") from None

    # -- parts ------------------------------------------------------------------------------

    def add(self, key: PartKey, user_data: UserData, trusted: bool) -> None:
        """Keep one part; raises BearerError if it could not be written (then the caller must
        not acknowledge the part: the network keeps it and delivers it again)."""
        concat = user_data.concat
        assert concat is not None
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO sms_parts VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key[0], key[1], key[2], concat.seq, user_data.encode(), int(trusted), self._wall()),
            )
        except sqlite3.Error as exc:
            raise BearerError(f"part store {self.path}: part from {key[0]} not stored: {exc}") from None

    def delete(self, keys: Iterable[PartKey]) -> None:
        try:
            self._db.executemany(
                "DELETE FROM sms_parts WHERE sender = ? AND reference = ? AND total = ?", list(keys)
            )
        except sqlite3.Error as exc:  # left behind: load() expires them
            log.warning("part store %s: delete failed: %s", self.path, exc)

    def load(self, timeout: float) -> list[StoredPart]:
        """Every part younger than ``timeout`` seconds, oldest first; older ones are deleted."""
        cutoff = self._wall() - timeout
        self._db.execute("DELETE FROM sms_parts WHERE received < ?", (cutoff,))
        out: list[StoredPart] = []
        rows = self._db.execute(
            "SELECT sender, reference, total, user_data, trusted, received FROM sms_parts ORDER BY received"
        ).fetchall()
        for sender, reference, total, octets, trusted, received in rows:
            try:
                ud = UserData.decode(bytes(octets), True)
            except DecodeError as exc:  # not written by us: drop it rather than fail the start
                log.warning("part store %s: unreadable part from %s dropped: %s", self.path, sender, exc)
                continue
            out.append(StoredPart((sender, reference, total), ud, bool(trusted), received))
        return out

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM sms_parts").fetchone()
        return int(n)

    def now(self) -> float:
        return self._wall()

    # -- references (lwm2m_sms.sms.segmentation.ReferenceStore) ---------------------------

    def load_reference(self, destination: str) -> int | None:
        row = self._db.execute(
            "SELECT next_reference FROM sms_references WHERE destination = ?", (destination,)
        ).fetchone()
        return int(row[0]) if row is not None else None

    def save_reference(self, destination: str, next_reference: int) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO sms_references VALUES (?, ?)", (destination, next_reference)
            )
        except sqlite3.Error as exc:
            raise BearerError(f"part store {self.path}: reference not stored: {exc}") from None

    def close(self) -> None:
        self._db.close()

"""Dead letters: received SMS that could not be decoded, kept raw before they are deleted.

A modem stores what the network delivered; the driver deletes it from the SIM (or
acknowledges a +CMT) only once it was handed up or stored durably. An SMS whose PDU does not
decode can never be handed up, and leaving it on the SIM would fill the SIM for good. So it
goes here first, raw (the PDU in hex as the modem printed it, where it was: the bearer, the
SIM storage index, the time it was taken, why it was refused), and is deleted after. An
operator lists and exports the table with ``lwm2m-sms dead-letters --db FILE``.

SQLite (standard library), the same file as the registrations when the server has ``--db``;
bounded: past ``max_entries`` the oldest row goes (logged), so a hostile sender cannot fill
the disk.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, TypeVar

from .sqlite_store import SqliteStore

__all__ = ["DeadLetter", "DeadLetterStore", "PoisonCounter"]

log = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = 100_000

K = TypeVar("K", bound=Hashable)


class PoisonCounter(Generic[K]):
    """How often the receiver failed on one received SMS, for every bearer alike.

    A failing receiver leaves the SMS with the network (or on the SIM) for a retry, but not
    forever: a poison message would come back for as long as the network keeps it. After
    ``limit`` failures it goes to the dead letters. Bounded by ``max_entries`` (the oldest
    count is forgotten first), so a stream of distinct failing messages cannot grow it.
    """

    def __init__(self, limit: int = 3, max_entries: int = 1024) -> None:
        self.limit = limit
        self.max_entries = max_entries
        self._counts: dict[K, int] = {}

    def failed(self, key: K) -> int:
        """Count one more failure on ``key`` and return the total; a total that reaches
        ``limit`` is forgotten (the caller dead-letters the message)."""
        failures = self._counts.pop(key, 0) + 1
        if failures < self.limit:
            if len(self._counts) >= self.max_entries:
                self._counts.pop(next(iter(self._counts)))
            self._counts[key] = failures
        return failures

    def poisoned(self, failures: int) -> bool:
        return failures >= self.limit

    def forget(self, key: K) -> None:
        """The message was taken after all."""
        self._counts.pop(key, None)

    def __len__(self) -> int:
        return len(self._counts)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    received: float  # wall clock, seconds since the epoch
    bearer: str  # "modem /dev/ttyUSB0"
    where: str  # "+CMT", "SIM index 3"
    storage_index: int | None
    pdu_hex: str
    reason: str
    payload: bytes | None = None  # the reassembled payload, when the receiver failed on it

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "received": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.received)),
            "bearer": self.bearer,
            "where": self.where,
            "storage_index": self.storage_index,
            "pdu": self.pdu_hex,
            "reason": self.reason,
            "payload": self.payload.hex() if self.payload is not None else None,
        }


class DeadLetterStore(SqliteStore):
    def __init__(
        self,
        path: str | None = None,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        wall_clock: Callable[[], float] = time.time,
        synchronous: str = "FULL",
    ) -> None:
        # At least FULL: the SMS is deleted from the SIM right after this write, so the write
        # must survive a power cut too; dead letters are rare, the fsync costs nothing that
        # counts. (EXTRA is taken; NORMAL is raised to FULL.)
        super().__init__(path or ":memory:", synchronous="EXTRA" if synchronous.upper() == "EXTRA" else "FULL")
        self.max_entries = max_entries
        self._wall = wall_clock
        self._db  # open now: a bad path fails at construction

    def _create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " received REAL NOT NULL, bearer TEXT NOT NULL, place TEXT NOT NULL,"
            " storage_index INTEGER, pdu_hex TEXT NOT NULL, reason TEXT NOT NULL, payload BLOB)"
        )
        if "payload" not in {row[1] for row in db.execute("PRAGMA table_info(dead_letters)")}:
            db.execute("ALTER TABLE dead_letters ADD COLUMN payload BLOB")  # a file from before

    def add(self, bearer: str, where: str, pdu_hex: str, reason: str, storage_index: int | None = None,
            *, payload: bytes | None = None) -> int:
        """Keep one SMS that cannot be handed up; raises sqlite3.Error if it could not be
        written (the caller then leaves the SMS where it is)."""
        return self.add_message(bearer, [(where, pdu_hex, storage_index)], reason, payload=payload)[-1]

    def add_message(self, bearer: str, parts: list[tuple[str, str, int | None]], reason: str, *,
                    payload: bytes | None = None) -> list[int]:
        """Keep the SMS of one message, each ``(where, pdu_hex, storage_index)``, in one
        transaction (all or none), ``payload`` (the reassembled message) on the last row;
        raises sqlite3.Error if they could not be written."""
        db = self._db
        ids: list[int] = []
        db.execute("BEGIN")
        try:
            for i, (where, pdu_hex, storage_index) in enumerate(parts):
                cur = db.execute(
                    "INSERT INTO dead_letters (received, bearer, place, storage_index, pdu_hex, reason, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (self._wall(), bearer, where, storage_index, pdu_hex[:2000], reason[:500],
                     payload if i == len(parts) - 1 else None),
                )
                ids.append(int(cur.lastrowid or 0))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        row_id = ids[-1]
        # ids only grow (AUTOINCREMENT) and rows go only here: the newest max_entries have ids
        # above row_id - max_entries. A range delete on the key, not a COUNT(*) scan per SMS.
        dropped = self._db.execute("DELETE FROM dead_letters WHERE id <= ?", (row_id - self.max_entries,)).rowcount
        if dropped > 0:
            log.warning("dead letters: %d oldest dropped (at most %d kept)", dropped, self.max_entries)
        return ids

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        """Oldest first."""
        sql = ("SELECT id, received, bearer, place, storage_index, pdu_hex, reason, payload FROM dead_letters"
               " ORDER BY id")
        rows = self._db.execute(sql + " LIMIT ?", (limit,)).fetchall() if limit else self._db.execute(sql).fetchall()
        return [DeadLetter(*r) for r in rows]

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(n)

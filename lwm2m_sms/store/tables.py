"""The tables, written once for both backends (see :mod:`.database`).

Queue semantics (kept from the single-node ``RequestQueue`` and extended with leases):

* A request waits ``queued`` until its device can be reached. :meth:`RequestTable.take`
  hands a node (``owner``) the oldest queued request of each endpoint that has nothing in
  flight, marks it ``sent`` and leases it until ``now + lease``. An endpoint gets one
  request at a time, whichever node asks (LwM2M queue mode sends queued requests one at a
  time); on PostgreSQL the SELECT locks what it picks with ``FOR UPDATE SKIP LOCKED``, and
  a concurrent taker skips those rows. The older-request condition then keeps it from
  picking the next request of the same endpoint: it still sees the locked one as queued.
* The lease ends without an answer (the owner died or hung): a GET, PUT or DELETE is
  queued again and the next :meth:`~RequestTable.take` hands it out anew; a POST (Execute,
  Create, partial Write) may have run on the device and must not run twice, so
  :meth:`~RequestTable.expire` reports it failed with "outcome unknown".
* :meth:`~RequestTable.mark` with ``owner`` changes a request only while that owner holds
  it: a node whose request was taken over cannot overwrite the new owner's outcome, while
  a late answer to a request nobody has taken since still counts.
* :meth:`~RequestTable.recover` at start: what this owner had on the wire when it stopped
  (the same rules as a lease that ended).

Time is the caller's: every method that needs "now" takes it, or reads the store's clock.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Optional

from ..sms.udh import Ports
from .database import Database
from .records import (
    NO_DEADLINE, POST, LocationTaken, OutboxFull, OutboxRecord, QueuedRecord, RegistrationRecord,
    RequestState,
)

__all__ = ["RegistrationTable", "RequestTable", "OutboxTable"]

Clock = Callable[[], float]

_REG_COLUMNS = (
    "endpoint, location, lifetime, version, binding, sms, objects, root_path, remote_uri,"
    " registered_at, updated_at"
)


class RegistrationTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, record: RegistrationRecord) -> None:
        """Add or replace, by endpoint name. Raises :class:`LocationTaken` when another
        endpoint has this location (made by another node, or by chance)."""
        r = record
        try:
            self._put(r)
        except self._db.integrity_errors as exc:
            raise LocationTaken(r.location) from exc

    def _put(self, r: RegistrationRecord) -> None:
        self._db.execute(
            f"INSERT INTO registrations ({_REG_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (endpoint) DO UPDATE SET location = excluded.location,"
            " lifetime = excluded.lifetime, version = excluded.version,"
            " binding = excluded.binding, sms = excluded.sms, objects = excluded.objects,"
            " root_path = excluded.root_path, remote_uri = excluded.remote_uri,"
            " registered_at = excluded.registered_at, updated_at = excluded.updated_at",
            (r.endpoint, r.location, r.lifetime, r.version, r.binding, r.sms, r.objects,
             r.root_path, r.remote_uri, r.registered_at, r.updated_at),
        )

    def update(self, record: RegistrationRecord) -> bool:
        """Write an Update's new values into the endpoint's row while the row is still that
        registration (same location); False when it is gone or is a newer registration (a
        node with a stale copy must not bring the old one back)."""
        r = record
        return self._db.execute(
            "UPDATE registrations SET lifetime = ?, version = ?, binding = ?, sms = ?, objects = ?,"
            " root_path = ?, remote_uri = ?, updated_at = ? WHERE endpoint = ? AND location = ?",
            (r.lifetime, r.version, r.binding, r.sms, r.objects, r.root_path, r.remote_uri,
             r.updated_at, r.endpoint, r.location),
        ).rowcount > 0

    def get(self, endpoint: str) -> Optional[RegistrationRecord]:
        rows = self._db.execute(
            f"SELECT {_REG_COLUMNS} FROM registrations WHERE endpoint = ?", (endpoint,)
        ).rows
        return RegistrationRecord(*rows[0]) if rows else None

    def get_many(self, endpoints: Iterable[str]) -> dict[str, RegistrationRecord]:
        """The rows of those of ``endpoints`` that have one, by endpoint: one statement."""
        wanted = list(dict.fromkeys(endpoints))
        found: dict[str, RegistrationRecord] = {}
        for i in range(0, len(wanted), 500):  # SQLite allows 999 parameters per statement
            chunk = wanted[i:i + 500]
            rows = self._db.execute(
                f"SELECT {_REG_COLUMNS} FROM registrations WHERE endpoint IN"
                f" ({', '.join('?' * len(chunk))})", chunk,
            ).rows
            found.update((r[0], RegistrationRecord(*r)) for r in rows)
        return found

    def by_location(self, location: str) -> Optional[RegistrationRecord]:
        rows = self._db.execute(
            f"SELECT {_REG_COLUMNS} FROM registrations WHERE location = ?", (location,)
        ).rows
        return RegistrationRecord(*rows[0]) if rows else None

    def stamps(self) -> dict[str, tuple[str, int, float]]:
        """(location, lifetime, updated_at) of every row, by endpoint: what a node compares
        its copy with, without reading whole rows."""
        rows = self._db.execute("SELECT endpoint, location, lifetime, updated_at FROM registrations").rows
        return {r[0]: (r[1], int(r[2]), float(r[3])) for r in rows}

    def all(self) -> list[RegistrationRecord]:
        rows = self._db.execute(f"SELECT {_REG_COLUMNS} FROM registrations ORDER BY endpoint").rows
        return [RegistrationRecord(*r) for r in rows]

    def remove(self, endpoint: str, location: Optional[str] = None) -> bool:
        """Delete the endpoint's row; with ``location``, only while the row is that
        registration (a late De-register of an old one must not delete a newer one)."""
        if location is None:
            return self._db.execute(
                "DELETE FROM registrations WHERE endpoint = ?", (endpoint,)
            ).rowcount > 0
        return self._db.execute(
            "DELETE FROM registrations WHERE endpoint = ? AND location = ?", (endpoint, location)
        ).rowcount > 0

    def remove_unchanged(self, record: RegistrationRecord) -> bool:
        """Delete the row only while it is still ``record`` (same location, lifetime and
        ``updated_at``): an expiry must not delete what another node has just updated.
        Returns whether it was deleted."""
        return self._db.execute(
            "DELETE FROM registrations WHERE endpoint = ? AND location = ? AND lifetime = ?"
            " AND updated_at = ?",
            (record.endpoint, record.location, record.lifetime, record.updated_at),
        ).rowcount > 0

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM registrations").rows[0][0])


_Q_COLUMNS = (
    "id, endpoint, transport, code, path, query, payload, content_format, accept, observe,"
    " created, deadline, state, response_code, detail, owner, lease_until, origin,"
    " response_payload, response_format"
)
_Q_SELECT = f"SELECT {_Q_COLUMNS} FROM queued_requests"
_OUTCOME_UNKNOWN = "{why} while the request was on the wire; outcome unknown"


def _queued(r: tuple[Any, ...]) -> QueuedRecord:
    return QueuedRecord(
        id=int(r[0]), endpoint=r[1], transport=r[2], code=r[3], path=r[4],
        query=tuple(json.loads(r[5])), payload=bytes(r[6]), content_format=r[7], accept=r[8],
        observe=r[9], created=r[10], deadline=float("inf") if r[11] >= NO_DEADLINE else r[11],
        state=RequestState(r[12]), response_code=r[13], detail=r[14], owner=r[15],
        lease_until=r[16], origin=r[17], response_payload=bytes(r[18]), response_format=r[19],
    )


def _ids(records: Iterable[QueuedRecord]) -> str:
    # ids come from the database as integers: safe to inline, and the IN list stays one
    # statement on both backends.
    return ", ".join(str(int(r.id)) for r in records)


class RequestTable:
    def __init__(self, db: Database, clock: Clock = time.time) -> None:
        self._db = db
        self.clock = clock

    def add(
        self,
        endpoint: str,
        transport: str,
        code: int,
        path: str,
        *,
        query: tuple[str, ...] = (),
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | None = None,
        observe: int | None = None,
        ttl: float = float("inf"),
        now: float | None = None,
        origin: str | None = None,
    ) -> QueuedRecord:
        """Queue a request; ``origin`` names the node whose caller waits for its outcome."""
        created = self.clock() if now is None else now
        deadline = created + ttl
        rows = self._db.execute(
            "INSERT INTO queued_requests (endpoint, transport, code, path, query, payload,"
            " content_format, accept, observe, created, deadline, state, response_code, detail,"
            " origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', ?) RETURNING id",
            (endpoint, transport, code, path, json.dumps(list(query)), bytes(payload),
             content_format, accept, observe, created, min(deadline, NO_DEADLINE),
             RequestState.QUEUED.value, origin),
        ).rows
        return QueuedRecord(
            int(rows[0][0]), endpoint, transport, code, path, tuple(query), bytes(payload),
            content_format, accept, observe, created, deadline, origin=origin,
        )

    def get(self, request_id: int) -> QueuedRecord | None:
        rows = self._db.execute(f"{_Q_SELECT} WHERE id = ?", (request_id,)).rows
        return _queued(rows[0]) if rows else None

    def finished(self, ids: Iterable[int]) -> list[QueuedRecord]:
        """Those of the requests ``ids`` that have an outcome (answered, expired, failed)."""
        wanted = sorted({int(i) for i in ids})
        found: list[QueuedRecord] = []
        for i in range(0, len(wanted), 500):
            chunk = ", ".join(str(n) for n in wanted[i:i + 500])  # integers: safe to inline
            found += [_queued(r) for r in self._db.execute(
                f"{_Q_SELECT} WHERE id IN ({chunk}) AND state NOT IN ('queued', 'sent')").rows]
        return found

    def pending(self, endpoint: str | None = None) -> list[QueuedRecord]:
        """Queued requests, oldest first (for one endpoint, or all)."""
        if endpoint is None:
            rows = self._db.execute(f"{_Q_SELECT} WHERE state = 'queued' ORDER BY id").rows
        else:
            rows = self._db.execute(
                f"{_Q_SELECT} WHERE endpoint = ? AND state = 'queued' ORDER BY id", (endpoint,)
            ).rows
        return [_queued(r) for r in rows]

    def history(self, endpoint: str, limit: int = 100) -> list[QueuedRecord]:
        """The latest ``limit`` requests of one endpoint in every state, newest first."""
        rows = self._db.execute(
            f"{_Q_SELECT} WHERE endpoint = ? ORDER BY id DESC LIMIT ?", (endpoint, limit)
        ).rows
        return [_queued(r) for r in rows]

    def endpoints_waiting(self) -> set[str]:
        rows = self._db.execute(
            "SELECT DISTINCT endpoint FROM queued_requests WHERE state = 'queued'"
        ).rows
        return {r[0] for r in rows}

    def take(
        self,
        owner: str,
        *,
        lease: float,
        endpoint: str | None = None,
        limit: int = 1,
        now: float | None = None,
    ) -> list[QueuedRecord]:
        """Up to ``limit`` requests for ``owner`` to send, at most one per endpoint and none
        for an endpoint with a request in flight; each is ``sent`` and leased to ``owner``
        until ``now + lease``. Oldest first; past their deadline ones stay for
        :meth:`expire`."""
        now = self.clock() if now is None else now
        where = "q.state = 'queued' AND q.deadline > ?"
        params: list[Any] = [now]
        if endpoint is not None:
            where += " AND q.endpoint = ?"
            params.append(endpoint)
        with self._db.transaction():
            self._requeue_lapsed(now)
            rows = self._db.execute(
                f"SELECT {', '.join('q.' + c for c in _Q_COLUMNS.split(', '))}"
                f" FROM queued_requests q WHERE {where}"
                " AND NOT EXISTS (SELECT 1 FROM queued_requests o WHERE o.endpoint = q.endpoint"
                "  AND o.id <> q.id AND ((o.state = 'sent'"
                "   AND (o.lease_until IS NULL OR o.lease_until > ?))"
                "  OR (o.state = 'queued' AND o.id < q.id AND o.deadline > ?)))"
                f" ORDER BY q.id LIMIT ?{self._db.lock_clause}",
                (*params, now, now, limit),
            ).rows
            taken = [_queued(r) for r in rows]
            if taken:
                self._db.execute(
                    "UPDATE queued_requests SET state = 'sent', owner = ?, lease_until = ?"
                    f" WHERE id IN ({_ids(taken)})",
                    (owner, now + lease),
                )
        return [replace(r, state=RequestState.SENT, owner=owner, lease_until=now + lease)
                for r in taken]

    def renew(self, request_id: int, owner: str, *, lease: float, now: float | None = None) -> bool:
        """Extend ``owner``'s lease (a long wait for an answer); False if it is not theirs."""
        now = self.clock() if now is None else now
        return self._db.execute(
            "UPDATE queued_requests SET lease_until = ?"
            " WHERE id = ? AND owner = ? AND state = 'sent'",
            (now + lease, request_id, owner),
        ).rowcount > 0

    def mark(
        self,
        request_id: int,
        state: RequestState,
        *,
        response_code: int | None = None,
        detail: str = "",
        transport: str | None = None,
        owner: str | None = None,
        response_payload: bytes | None = None,
        response_format: int | None = None,
        if_queued: bool = False,
    ) -> bool:
        """Record a request's state (and the answer's code, payload and content format);
        with ``owner``, only while that owner holds it (it took it and nobody has taken it
        since, even if its lease ended meanwhile); with ``if_queued``, only while it still
        waits (a cancel must not overwrite a request another node has just taken and sent).
        Returns whether the row changed."""
        sql = (
            "UPDATE queued_requests SET state = ?, response_code = COALESCE(?, response_code),"
            " detail = ?, transport = COALESCE(?, transport),"
            " response_payload = COALESCE(?, response_payload),"
            " response_format = COALESCE(?, response_format) WHERE id = ?"
        )
        params: list[Any] = [
            state.value, response_code, detail, transport,
            bytes(response_payload) if response_payload is not None else None, response_format,
            request_id,
        ]
        if owner is not None:
            sql += " AND owner = ? AND state IN ('sent', 'queued')"
            params.append(owner)
        if if_queued:
            sql += " AND state = 'queued'"
        return self._db.execute(sql, params).rowcount > 0

    def expire(self, now: float | None = None) -> list[QueuedRecord]:
        """Queued requests past their deadline become ``expired``; POSTs whose lease ended
        become ``failed`` (outcome unknown); idempotent requests whose lease ended are
        queued again. Returns the expired and failed ones, with their new state."""
        now = self.clock() if now is None else now
        with self._db.transaction():
            expired = self._db.execute(
                "UPDATE queued_requests SET state = 'expired', detail = 'time limit passed'"
                f" WHERE state = 'queued' AND deadline <= ? RETURNING {_Q_COLUMNS}",
                (now,),
            ).rows
            failed = self._db.execute(
                "UPDATE queued_requests SET state = 'failed', detail = ?"
                " WHERE state = 'sent' AND lease_until <= ? AND code = ?"
                f" RETURNING {_Q_COLUMNS}",
                (_OUTCOME_UNKNOWN.format(why="the lease ended"), now, POST),
            ).rows
            self._requeue_lapsed(now)
        return sorted((_queued(r) for r in expired + failed), key=lambda r: r.id)

    def recover(self, owner: str, *, why: str = "the server stopped") -> list[QueuedRecord]:
        """At start: what ``owner`` (or a version without leases) had on the wire when it
        stopped (``why``, for the failed requests' detail; another node taking a dead
        node's work over says so). GET, PUT, DELETE are queued again; a POST is failed
        (outcome unknown). Returns the changed requests with their new state."""
        mine = "state = 'sent' AND (owner = ? OR owner IS NULL)"
        with self._db.transaction():
            failed = self._db.execute(
                f"UPDATE queued_requests SET state = 'failed', detail = ?"
                f" WHERE {mine} AND code = ? RETURNING {_Q_COLUMNS}",
                (_OUTCOME_UNKNOWN.format(why=why), owner, POST),
            ).rows
            requeued = self._db.execute(
                "UPDATE queued_requests SET state = 'queued', owner = NULL, lease_until = NULL"
                f" WHERE {mine} AND code <> ? RETURNING {_Q_COLUMNS}",
                (owner, POST),
            ).rows
        return sorted((_queued(r) for r in failed + requeued), key=lambda r: r.id)

    def _requeue_lapsed(self, now: float) -> None:
        # The owner stays on the row until someone takes it again: an answer that reaches
        # the owner late still counts (mark with owner) and the request is not sent twice.
        self._db.execute(
            "UPDATE queued_requests SET state = 'queued', lease_until = NULL"
            " WHERE state = 'sent' AND lease_until <= ? AND code <> ?",
            (now, POST),
        )

    def counts(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, COUNT(*) FROM queued_requests GROUP BY state"
        ).rows
        return {state: int(n) for state, n in rows}


class OutboxTable:
    """The accepted, unsent SMS of one bearer (Kannel's store): a bearer adds each message
    before it answers ``send`` and removes it once the network took it or it failed.
    Bounded: :class:`OutboxFull` refuses a send past ``max_entries``."""

    def __init__(
        self, db: Database, bearer: str = "", *, max_entries: int = 10_000, clock: Clock = time.time
    ) -> None:
        self._db = db
        self.bearer = bearer
        self.max_entries = max_entries
        self.clock = clock
        # One bearer writes its own rows: counting once and then by hand saves a COUNT(*)
        # per SMS.
        self._count = int(self._db.execute(
            "SELECT COUNT(*) FROM outbox WHERE bearer = ?", (bearer,)
        ).rows[0][0])

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
    ) -> OutboxRecord:
        if self._count >= self.max_entries:
            raise OutboxFull(f"outbox holds {self._count} messages (max {self.max_entries})")
        created = self.clock()
        ports_json = json.dumps([ports.destination, ports.source, ports.wide]) if ports else None
        rows = self._db.execute(
            "INSERT INTO outbox (bearer, message_id, recipient, payload, ports, report, created,"
            " pid, dcs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (self.bearer, message_id, recipient, bytes(payload), ports_json, int(report), created,
             pid, dcs),
        ).rows
        self._count += 1
        return OutboxRecord(int(rows[0][0]), message_id, recipient, bytes(payload), ports, report,
                            created, 0, self.bearer, pid, dcs)

    def pending(self, limit: int | None = None) -> list[OutboxRecord]:
        """Oldest first."""
        sql = (
            "SELECT id, message_id, recipient, payload, ports, report, created, attempts, pid, dcs"
            " FROM outbox WHERE bearer = ? ORDER BY id"
        )
        params: tuple[Any, ...] = (self.bearer,)
        if limit:
            sql += " LIMIT ?"
            params += (int(limit),)
        return [
            OutboxRecord(
                int(r[0]), r[1], r[2], bytes(r[3]),
                Ports(*json.loads(r[4])) if r[4] else None, bool(r[5]), r[6], r[7], self.bearer,
                int(r[8]), int(r[9]),
            )
            for r in self._db.execute(sql, params).rows
        ]

    def attempted(self, entry_id: int) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1 WHERE id = ? AND bearer = ?",
            (entry_id, self.bearer),
        )

    def remove(self, entry_id: int) -> None:
        n = self._db.execute(
            "DELETE FROM outbox WHERE id = ? AND bearer = ?", (entry_id, self.bearer)
        ).rowcount
        self._count -= max(n, 0)

    def __len__(self) -> int:
        return self._count

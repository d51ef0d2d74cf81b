"""Requests waiting for a queue-mode device, in SQLite (stdlib) so a restart keeps them.

Each request has a state: queued (waiting for the device), sent (on the wire), answered,
expired (its time limit passed before it could go), failed (the bearer or the device said
no). The caller's future lives in memory only; after a restart the queue is still delivered
when the device wakes and the outcome is recorded here and logged.

A request is stored as the parts needed to rebuild it (code, path, query, options that
matter to LwM2M, payload), not as an aiocoap Message, which has no stable serial form
without a remote.

The queue reads no clock: the caller passes the time in (``now``, Unix seconds from the
router's :meth:`~lwm2m_sms.clock.Clock.wall`, since deadlines are stored and must hold
across a restart).
"""

from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from .binding import Transport

__all__ = ["RequestState", "QueuedRequest", "RequestQueue"]


class RequestState(str, enum.Enum):
    QUEUED = "queued"
    SENT = "sent"
    ANSWERED = "answered"
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    id: int
    endpoint: str
    transport: Transport
    code: int
    path: str
    query: tuple[str, ...] = ()
    payload: bytes = b""
    content_format: int | None = None
    accept: int | None = None
    observe: int | None = None
    created: float = 0.0
    deadline: float = float("inf")
    state: RequestState = RequestState.QUEUED
    response_code: int | None = None
    detail: str = ""


_COLUMNS = (
    "id, endpoint, transport, code, path, query, payload, content_format, accept, observe,"
    " created, deadline, state, response_code, detail"
)


class RequestQueue:
    def __init__(self, path: str | None = None) -> None:
        self._db = sqlite3.connect(path or ":memory:", isolation_level=None, check_same_thread=False)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queued_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " endpoint TEXT NOT NULL, transport TEXT NOT NULL, code INTEGER NOT NULL,"
            " path TEXT NOT NULL, query TEXT NOT NULL, payload BLOB NOT NULL,"
            " content_format INTEGER, accept INTEGER, observe INTEGER, created REAL NOT NULL,"
            " deadline REAL NOT NULL, state TEXT NOT NULL, response_code INTEGER,"
            " detail TEXT NOT NULL DEFAULT '')"
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS queued_by_endpoint ON queued_requests (endpoint, state, id)"
        )
        # A crash while a request was on the wire: the device may or may not have run it.
        # Idempotent methods (GET, PUT, DELETE) go again when the device wakes; a POST
        # (Execute, Create, partial Write) must not run twice, so it is reported failed.
        self._db.execute(
            "UPDATE queued_requests SET state = 'queued' WHERE state = 'sent' AND code != 2"
        )
        self._db.execute(
            "UPDATE queued_requests SET state = 'failed',"
            " detail = 'server restarted while the request was on the wire; outcome unknown'"
            " WHERE state = 'sent' AND code = 2"
        )

    @staticmethod
    def _row(r: tuple[Any, ...]) -> QueuedRequest:
        return QueuedRequest(
            id=r[0], endpoint=r[1], transport=Transport(r[2]), code=r[3], path=r[4],
            query=tuple(json.loads(r[5])), payload=bytes(r[6]), content_format=r[7],
            accept=r[8], observe=r[9], created=r[10], deadline=r[11],
            state=RequestState(r[12]), response_code=r[13], detail=r[14],
        )

    def add(
        self,
        endpoint: str,
        transport: Transport,
        code: int,
        path: str,
        *,
        query: tuple[str, ...] = (),
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | None = None,
        observe: int | None = None,
        now: float,
        ttl: float = float("inf"),
    ) -> QueuedRequest:
        """Queue a request made at ``now`` (Unix seconds) that expires ``ttl`` seconds later."""
        created = now
        req = QueuedRequest(
            0, endpoint, transport, code, path, tuple(query), bytes(payload),
            content_format, accept, observe, created, created + ttl,
        )
        cur = self._db.execute(
            f"INSERT INTO queued_requests ({_COLUMNS.split(', ', 1)[1]})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                endpoint, transport.value, code, path, json.dumps(list(query)), req.payload,
                content_format, accept, observe, created,
                req.deadline if req.deadline != float("inf") else 1e300,
                req.state.value, None, "",
            ),
        )
        assert cur.lastrowid is not None  # set by every INSERT
        return replace(req, id=cur.lastrowid)

    def get(self, request_id: int) -> QueuedRequest | None:
        r = self._db.execute(
            f"SELECT {_COLUMNS} FROM queued_requests WHERE id = ?", (request_id,)
        ).fetchone()
        return self._row(r) if r else None

    def pending(self, endpoint: str | None = None) -> list[QueuedRequest]:
        """Queued requests, oldest first (for one endpoint, or all)."""
        if endpoint is None:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM queued_requests WHERE state = 'queued' ORDER BY id"
            )
        else:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM queued_requests WHERE endpoint = ? AND state = 'queued'"
                " ORDER BY id",
                (endpoint,),
            )
        return [self._row(r) for r in rows]

    def endpoints_waiting(self) -> set[str]:
        rows = self._db.execute("SELECT DISTINCT endpoint FROM queued_requests WHERE state = 'queued'")
        return {r[0] for r in rows}

    def mark(
        self,
        request_id: int,
        state: RequestState,
        *,
        response_code: int | None = None,
        detail: str = "",
        transport: Transport | None = None,
    ) -> None:
        self._db.execute(
            "UPDATE queued_requests SET state = ?, response_code = COALESCE(?, response_code),"
            " detail = ?, transport = COALESCE(?, transport) WHERE id = ?",
            (state.value, response_code, detail, transport.value if transport else None, request_id),
        )

    def expire(self, now: float) -> list[QueuedRequest]:
        """Mark queued requests past their deadline expired; return them."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM queued_requests WHERE state = 'queued' AND deadline <= ?",
            (now,),
        ).fetchall()
        if rows:
            self._db.execute(
                "UPDATE queued_requests SET state = 'expired', detail = 'time limit passed'"
                " WHERE state = 'queued' AND deadline <= ?",
                (now,),
            )
        return [replace(self._row(r), state=RequestState.EXPIRED) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM queued_requests GROUP BY state")
        return {state: n for state, n in rows}

    def close(self) -> None:
        self._db.close()

"""Requests waiting for a queue-mode device, in the gateway's store (:mod:`lwm2m_sms.store`:
an SQLite file, or PostgreSQL shared by several nodes) so that a restart keeps them.

Each request has a state: queued (waiting for the device), sent (taken by this node and on
the wire), answered, expired (its time limit passed before it could go), failed (the bearer
or the device said no). The caller's future lives in memory only, on the node that queued
the request (its ``origin``); whichever node sends it records the outcome here, the
answer's payload and content format included, and the origin reads it back
(:meth:`RequestQueue.finished`). After a restart the queue is still delivered when the
device wakes and the outcome is recorded here and logged.

A node takes a request with :meth:`RequestQueue.take` before it sends it: the store leases
it to this node (``owner``) for ``lease`` seconds and gives an endpoint one request at a
time, so two nodes never send the same one. The lease must outlast the longest wait for an
answer (default 660 s, EXCHANGE_LIFETIME with the SMS settings). A lease that ends without
an answer (the node died): GET, PUT and DELETE are taken again; a POST (Execute, Create,
partial Write) must not run twice and is reported failed (:meth:`expire`). A restart of the
same node does the same at once for what it had on the wire.

A request is stored as the parts needed to rebuild it (code, path, query, options that
matter to LwM2M, payload), not as an aiocoap Message, which has no stable serial form
without a remote. This module is the codec between that and the store's plain record.

The queue reads no clock: the caller passes the time in (``now``, Unix seconds from the
router's :meth:`~lwm2m_sms.clock.Clock.wall`, since deadlines and leases are stored and
must hold across a restart and between nodes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from ..store import QueuedRecord, RequestState, Store, open_store
from .binding import Transport

__all__ = ["RequestState", "QueuedRequest", "RequestQueue", "DEFAULT_LEASE"]

log = logging.getLogger(__name__)

DEFAULT_LEASE = 660.0


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
    origin: str | None = None  #: the node whose caller waits (None: made before schema 5)
    response_payload: bytes = b""
    response_format: int | None = None


def _request(r: QueuedRecord) -> QueuedRequest:
    return QueuedRequest(
        r.id, r.endpoint, Transport(r.transport), r.code, r.path, r.query, r.payload,
        r.content_format, r.accept, r.observe, r.created, r.deadline, r.state,
        r.response_code, r.detail, r.origin, r.response_payload, r.response_format,
    )


class RequestQueue:
    """``store``: a :class:`~lwm2m_sms.store.Store`, or its address (a file path or
    ``postgresql://...``; None: SQLite in memory). ``owner`` names this node in the store
    (the same name across its restarts).

    ``listeners``: callables given each request as it is added and at each change of state
    (the operator interface follows the queue through them); called synchronously, so they
    must be quick; one that raises is logged and does not stop the queue."""

    def __init__(
        self,
        store: "Store | str | None" = None,
        *,
        owner: str = "local",
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.listeners: list[Callable[[QueuedRequest], None]] = []
        self.store = store if isinstance(store, Store) else open_store(store or ":memory:")
        self.owner = owner
        self.lease = lease
        self._table = self.store.requests
        for r in self._table.recover(owner):
            if r.state is RequestState.FAILED:
                log.warning("ep=%s: queued #%d %s was on the wire when the server stopped;"
                            " reported failed (outcome unknown)", r.endpoint, r.id, r.path)

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
        added = _request(self._table.add(
            endpoint, transport.value, code, path, query=query, payload=payload,
            content_format=content_format, accept=accept, observe=observe, ttl=ttl, now=now,
            origin=self.owner,
        ))
        self._notify(added)
        return added

    def _notify(self, entry: QueuedRequest) -> None:
        for listener in self.listeners:
            try:
                listener(entry)
            except Exception:  # an observer must not break the queue
                log.exception("queue listener failed on #%d", entry.id)

    def get(self, request_id: int) -> QueuedRequest | None:
        r = self._table.get(request_id)
        return _request(r) if r else None

    def finished(self, ids: "list[int] | set[int]") -> list[QueuedRequest]:
        """Those of the requests ``ids`` that have an outcome (one read)."""
        return [_request(r) for r in self._table.finished(ids)] if ids else []

    def pending(self, endpoint: str | None = None) -> list[QueuedRequest]:
        """Queued requests, oldest first (for one endpoint, or all)."""
        return [_request(r) for r in self._table.pending(endpoint)]

    def history(self, endpoint: str, limit: int = 100) -> list[QueuedRequest]:
        """The latest ``limit`` requests of one endpoint in every state, newest first."""
        return [_request(r) for r in self._table.history(endpoint, limit)]

    def endpoints_waiting(self) -> set[str]:
        return self._table.endpoints_waiting()

    def take(self, endpoint: str, now: float) -> QueuedRequest | None:
        """The endpoint's next request, leased to this node from ``now``; None when it has
        nothing queued before its deadline or a request in flight (here or on another node)."""
        taken = self._table.take(self.owner, lease=self.lease, endpoint=endpoint, now=now)
        return _request(taken[0]) if taken else None

    def mark(
        self,
        request_id: int,
        state: RequestState,
        *,
        response_code: int | None = None,
        detail: str = "",
        transport: Transport | None = None,
        taken: bool = False,
        response_payload: bytes | None = None,
        response_format: int | None = None,
        if_queued: bool = False,
    ) -> bool:
        """Record a request's state (with the answer's code, payload and content format).
        ``taken``: a request this node took, changed only while no other node has taken it
        over; ``if_queued``: only while it still waits (a cancel). Returns whether it changed."""
        changed = self._table.mark(
            request_id, state, response_code=response_code, detail=detail,
            transport=transport.value if transport else None,
            owner=self.owner if taken else None,
            response_payload=response_payload, response_format=response_format,
            if_queued=if_queued,
        )
        if changed and self.listeners:
            entry = self.get(request_id)
            if entry is not None:
                self._notify(entry)
        return changed

    def expire(self, now: float) -> list[QueuedRequest]:
        """Mark queued requests past their deadline expired, and POSTs whose lease ended
        failed; return them (with their new state)."""
        expired = [_request(r) for r in self._table.expire(now)]
        for entry in expired:
            self._notify(entry)
        return expired

    def take_over(self, dead: str) -> list[QueuedRequest] | None:
        """Do what node ``dead``'s restart would for what it had on the wire, if it is
        still dead and no other node has done it (:meth:`lwm2m_sms.store.NodeTable.take_over`;
        PostgreSQL). Returns the changed requests, or None if there was nothing to do."""
        changed = self.store.nodes.take_over(dead)
        if changed is None:
            return None
        requests = [_request(r) for r in changed]
        for entry in requests:
            self._notify(entry)
        return requests

    def counts(self) -> dict[str, int]:
        return self._table.counts()

    def close(self) -> None:
        self.store.close()

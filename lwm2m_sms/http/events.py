"""The event stream of the operator interface: what happens to registrations, queued
requests and observations, fanned out to Server-Sent Events subscribers.

:class:`EventHub` is a :class:`~lwm2m_sms.lwm2m.server.ServerHooks` (register, update,
de-register, expiry, and the last time each device was heard from) and listens to the
request queue (every change of state) and the router's SMS wake-ups; the API adds
notifications of the observations it started. Each event gets a sequence number, which is
the SSE ``id``: a client that reconnects with ``Last-Event-ID`` gets what it missed, as far
as the replay buffer (``replay`` events) reaches.

Each subscriber has a bounded buffer; one that does not keep up is cut off (it reconnects
and resumes from its last id) rather than holding memory for it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..lwm2m.registration import Registration
from ..lwm2m.server import ServerHooks
from ..routing.queue import QueuedRequest
from ..sms.address import Address

__all__ = ["Event", "EventHub", "Subscriber", "queued_json"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    endpoint: Optional[str]
    data: dict[str, Any]
    time: float

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "endpoint": self.endpoint, "time": self.time, **self.data}

    def sse(self) -> bytes:
        return f"id: {self.id}\nevent: {self.type}\ndata: {json.dumps(self.json())}\n\n".encode()


@dataclass(eq=False)
class Subscriber:
    endpoint: Optional[str]  # only this device's events, or all
    backlog: int
    queue: "asyncio.Queue[Optional[Event]]" = field(init=False)
    overflowed: bool = False

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.backlog)

    def offer(self, event: Event) -> None:
        if self.endpoint is not None and event.endpoint != self.endpoint:
            return
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the stream ends; the client resumes from its last id
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)

    def close(self) -> None:
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.overflowed = True


def queued_json(entry: QueuedRequest) -> dict[str, Any]:
    return {
        "id": entry.id, "endpoint": entry.endpoint, "transport": entry.transport.value,
        "method": _METHODS.get(entry.code, str(entry.code)), "path": entry.path,
        "query": list(entry.query), "state": entry.state.value,
        "response_code": _code_text(entry.response_code), "detail": entry.detail,
        "created": entry.created, "deadline": entry.deadline if entry.deadline < 1e299 else None,
    }


_METHODS = {1: "GET", 2: "POST", 3: "PUT", 4: "DELETE"}


def _code_text(code: Optional[int]) -> Optional[str]:
    return None if code is None else f"{code >> 5}.{code & 0x1F:02d}"


class EventHub(ServerHooks):
    def __init__(self, *, replay: int = 256, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.subscribers: set[Subscriber] = set()
        self.last_seen: dict[str, float] = {}
        self._seq = 0
        self._replay: "collections.deque[Event]" = collections.deque(maxlen=replay)
        self.listeners: list[Callable[[Event], None]] = []

    @property
    def last_id(self) -> int:
        return self._seq

    def publish(self, type_: str, endpoint: Optional[str], **data: Any) -> Event:
        self._seq += 1
        event = Event(self._seq, type_, endpoint, data, self.clock())
        self._replay.append(event)
        for sub in list(self.subscribers):
            sub.offer(event)
        for listener in self.listeners:
            listener(event)
        return event

    def subscribe(self, endpoint: Optional[str], backlog: int, last_id: Optional[int] = None) -> Subscriber:
        sub = Subscriber(endpoint, backlog)
        if last_id is not None:
            for event in self._replay:
                if event.id > last_id:
                    sub.offer(event)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def close(self) -> None:
        for sub in list(self.subscribers):
            sub.close()

    # --- sources ----------------------------------------------------------------------

    def _registration(self, type_: str, reg: Registration) -> None:
        self.publish(type_, reg.endpoint, binding=reg.binding, lifetime=reg.lifetime,
                     msisdn=str(reg.sms) if reg.sms else None, remote=reg.remote_uri,
                     location=reg.location)

    def on_registered(self, registration: Registration) -> None:
        self._registration("register", registration)

    def on_updated(self, registration: Registration) -> None:
        self._registration("update", registration)

    def on_deregistered(self, registration: Registration) -> None:
        self.last_seen.pop(registration.endpoint, None)
        self._registration("deregister", registration)

    def on_expired(self, registration: Registration) -> None:
        self.last_seen.pop(registration.endpoint, None)
        self._registration("expire", registration)

    def on_changed_elsewhere(self, registration: Registration) -> None:
        # Another node on the shared store took its Register or Update: whether it was a
        # Register this node cannot tell, so the event says what it knows.
        self._registration("changed", registration)

    def on_removed_elsewhere(self, registration: Registration) -> None:
        self.last_seen.pop(registration.endpoint, None)
        self._registration("removed", registration)

    def on_message_from(self, registration: Registration) -> None:
        self.last_seen[registration.endpoint] = self.clock()

    def on_queue(self, entry: QueuedRequest) -> None:
        self.publish("queue", entry.endpoint, request=queued_json(entry))

    def on_wake_up(self, endpoint: str, msisdn: Address, attempt: int) -> None:
        self.publish("wake-up", endpoint, msisdn=str(msisdn), attempt=attempt)

"""One fleet seen alike from every gateway node on a shared PostgreSQL database: what a node
tells the others over the node bus (:class:`~lwm2m_sms.store.bus.NodeBus`), and what it
does with what they tell it.

The store is the truth; a bus message is a hint that the truth changed, so that a node
need not poll for it. Four kinds, each carrying as little as names the change:

=========  =======================  ===================================================
event      posted when              the others
=========  =======================  ===================================================
``r EP``   a Register, Update,      read EP's row (one read for every ``r`` of a
           De-register or expiry    message) and bring their copy in memory up to it
           here                     (:meth:`Lwm2mServer.refresh`: new, changed or gone;
                                    its expiry deadline moves with it)
``a EP T   a queue-mode device's    hold it awake on bearer T until that wall time,
UNTIL``    message here opened or   so a request made there goes at once instead of
           stretched its window     waiting in the queue
``w EP``   a request for EP was     if EP is awake for them, flush its queue: the take
           queued here while EP     in the store hands each request to one node
           sleeps (for this node)
``d ID``   a request queued on      (only that node) read the row and give the waiting
           another node (its        caller its outcome: the answer (code, payload,
           ``origin``) got its      content format), an expiry or a failure
           outcome here
=========  =======================  ===================================================

Events are text lines (endpoint names are printable, with no tab or newline) gathered per
destination and posted in bus messages of at most about 6,000 octets; the next batch is
posted once the bus has sent the previous one, so batches grow with the database's NOTIFY
latency: a fleet registering at once costs a NOTIFY per batch, not per device.
A receiving node gathers what arrives in one turn of its loop too, and reads the rows of
all its ``r`` events in one statement. An ``a`` is posted when the device wakes or when
half of the window the others know has passed, not for every message.

What a lost hint costs (NOTIFY is not stored: a node that was reconnecting misses what
was posted meanwhile): ``r``: the node reads the row when it needs it (a miss in memory
reads the store; expiry re-reads a row before deleting it), but an Update it missed may
keep an old binding in its copy until the device's next one or the next catch-up
(:meth:`FleetSync.catch_up`: at start, after the bus listened again, every
:data:`CATCH_UP_EVERY` seconds); ``a``: a request there waits
in the queue, and ``w`` makes the awake node send it; ``w`` and ``d``: the router's periodic
round (``PolicySettings.expiry_interval``) re-reads the rows its callers wait for and
flushes the queue of a device it knows to be awake. So a lost hint costs a delay, never
a request sent twice or a caller left waiting.

Known limits: a node's copy is current within the bus's delay (milliseconds on a LAN): an
SMS from a device that registered on another node a moment ago is dropped by this node's
trust gate if its ``r`` has not arrived yet (the device's retransmission or next message
gets through). Every node holds every registration in memory (any node serves any
device; its trust gate needs the numbers).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Optional

from ..lwm2m.registration import Registration
from ..lwm2m.server import ServerHooks
from ..store.bus import BusMessage, NodeBus
from .binding import Transport

if TYPE_CHECKING:
    from .router import Router

__all__ = ["FleetSync", "TOPIC"]

log = logging.getLogger(__name__)

TOPIC = "fleet"
#: Seconds between two comparisons of the whole copy with the store, whatever the bus said:
#: bounds how long a hint lost at its sender (the bus's queue full, a NOTIFY that failed)
#: leaves a copy stale. One read of (endpoint, location, lifetime, updated_at) per row.
CATCH_UP_EVERY = 600.0
#: Octets of events per bus message, escaped as the bus's JSON envelope escapes them
#: (the bus refuses 7,900 with the envelope).
_BATCH_OCTETS = 6_000
#: Events gathered while the bus has not sent the previous batch (the database is slow or
#: gone) beyond which new ones are dropped: a bound on memory; the catch-up repairs.
_MAX_GATHERED = 100_000


class FleetSync(ServerHooks):
    """A node's side of the shared fleet view: see the module docstring. Made by the
    :class:`~lwm2m_sms.routing.router.Router` when it is given a bus."""

    def __init__(self, router: "Router", bus: NodeBus) -> None:
        self.router = router
        self.server = router.server
        self.bus = bus
        self._out: dict[Optional[str], list[str]] = {}
        self._gathered = 0
        self._pending = asyncio.Event()
        self._poster: Optional["asyncio.Task[None]"] = None
        #: "EP T" -> the awake-until (wall seconds) last told the others; entries go when
        #: the device de-registers or the window has passed (prune)
        self._told: dict[str, float] = {}
        #: counters: events out and in per kind, ``messages`` posted, ``ignored`` (lines
        #: this code cannot read), ``dropped`` (events not gathered: the bus is stuck)
        self.stats = {"r_out": 0, "a_out": 0, "w_out": 0, "d_out": 0, "r_in": 0, "a_in": 0,
                      "w_in": 0, "d_in": 0, "messages": 0, "ignored": 0, "dropped": 0}
        #: events received and not yet acted on: registrations changed, awake, work, done
        self._in: tuple[list[str], list[tuple[str, Transport, float]], list[str], list[int]] = ([], [], [], [])
        self._applying = False
        self._caught_up_at = -1  # the bus's reconnect count at the last catch_up
        self._next_catch_up = float("-inf")
        bus.subscribe(TOPIC, self._received)
        self.server.add_hooks(self)

    def catch_up(self, now: float) -> None:
        """Compare this node's copy of the fleet with the store when hints may have been
        missed: at start (between loading the registrations and listening), after the
        bus's listening connection came back, and every :data:`CATCH_UP_EVERY` seconds
        (a hint another node could not post). Called from the router's start and its
        periodic round with its clock's ``now``; one light read of the table each time."""
        reconnects = self.bus.stats["reconnects"]
        if reconnects == self._caught_up_at and now < self._next_catch_up:
            return
        self.server.resync()  # a database error: tried again at the next round
        self.router.refresh_work_known()
        self._caught_up_at = reconnects
        self._next_catch_up = now + CATCH_UP_EVERY

    # -- out ------------------------------------------------------------------------------

    def registration_changed(self, endpoint: str) -> None:
        self._add("r", f"r\t{endpoint}")

    def awake(self, endpoint: str, transport: Transport, until: float, window: float) -> None:
        """``endpoint`` is awake on ``transport`` until ``until`` (wall seconds) after a
        ``window`` of seconds: told when the others' copy has less than half of it left."""
        key = f"{endpoint} {transport.value}"
        if until - self._told.get(key, float("-inf")) < window / 2:
            return
        self._told[key] = until
        self._add("a", f"a\t{endpoint}\t{transport.value}\t{until:.3f}")

    def work(self, endpoint: str) -> None:
        self._add("w", f"w\t{endpoint}")

    def done(self, request_id: int, origin: Optional[str]) -> None:
        """Tell ``origin`` (None: every node, for a row made before origins were kept) that
        request ``request_id`` has its outcome in the store."""
        if origin != self.bus.node:
            self._add("d", f"d\t{int(request_id)}", origin)

    def forget(self, endpoint: str) -> None:
        for transport in Transport:
            self._told.pop(f"{endpoint} {transport.value}", None)

    def prune(self, now: float) -> None:
        """Drop the awake windows told that have passed (wall seconds ``now``)."""
        for key in [k for k, until in self._told.items() if until <= now]:
            del self._told[key]

    def _add(self, kind: str, line: str, to: Optional[str] = None) -> None:
        if self._gathered >= _MAX_GATHERED:
            self.stats["dropped"] += 1  # the bus is stuck: the catch-up repairs what this loses
            return
        self.stats[f"{kind}_out"] += 1
        self._out.setdefault(to, []).append(line)
        self._gathered += 1
        self._pending.set()
        if self._poster is None:
            self._poster = asyncio.get_running_loop().create_task(self._post_loop(), name=f"fleet {self.bus.node}")

    async def _post_loop(self) -> None:
        # Posts what was gathered, then waits until the bus has sent it before posting
        # again: batches grow with the database's NOTIFY latency instead of the bus's queue.
        while True:
            await self._pending.wait()
            self._pending.clear()
            self.flush()
            await self.bus.flushed()

    async def close(self) -> None:
        """Stop posting (what is gathered and not posted is dropped)."""
        if self._poster is not None:
            self._poster.cancel()
            try:
                await self._poster
            except asyncio.CancelledError:
                pass
            self._poster = None

    def flush(self) -> None:
        """Post what has been gathered (the posting task does it by itself)."""
        self._gathered = 0
        out, self._out = self._out, {}
        for to, lines in out.items():
            batch: list[str] = []
            size = 0
            for line in lines:
                octets = len(json.dumps(line)) + 2  # as escaped in the bus envelope, with "\n"
                if batch and size + octets > _BATCH_OCTETS:
                    self._post(batch, to)
                    batch, size = [], 0
                batch.append(line)
                size += octets
            if batch:
                self._post(batch, to)

    def _post(self, lines: list[str], to: Optional[str]) -> None:
        if self.bus.post(TOPIC, "\n".join(lines), to=to):
            self.stats["messages"] += 1
        # else: the bus logged and counted it; what it carried costs a delay (see above)

    # -- registration events of this node ---------------------------------------------------

    def on_registered(self, registration: Registration) -> None:
        self.registration_changed(registration.endpoint)

    def on_updated(self, registration: Registration) -> None:
        self.registration_changed(registration.endpoint)

    def on_deregistered(self, registration: Registration) -> None:
        self.forget(registration.endpoint)
        self.registration_changed(registration.endpoint)

    def on_expired(self, registration: Registration) -> None:
        self.forget(registration.endpoint)
        self.registration_changed(registration.endpoint)

    def on_removed_elsewhere(self, registration: Registration) -> None:
        self.forget(registration.endpoint)

    # -- in -------------------------------------------------------------------------------

    def _received(self, message: BusMessage) -> None:
        changed, awake, work, done = self._in
        for line in message.data.split("\n"):
            fields = line.split("\t")
            try:
                kind = fields[0]
                if kind == "r" and len(fields) == 2:
                    changed.append(fields[1])
                elif kind == "a" and len(fields) == 4:
                    awake.append((fields[1], Transport(fields[2]), float(fields[3])))
                elif kind == "w" and len(fields) == 2:
                    work.append(fields[1])
                elif kind == "d" and len(fields) == 2:
                    done.append(int(fields[1]))
                else:
                    raise ValueError(kind)
            except ValueError:
                self.stats["ignored"] += 1
                log.warning("node %s: fleet event %r from %s ignored", self.bus.node, line[:80], message.sender)
                continue
            self.stats[f"{kind}_in"] += 1
        if not self._applying:
            self._applying = True
            asyncio.get_running_loop().call_soon(self.apply)

    def apply(self) -> None:
        """Act on the events received since the last call (the event loop's next turn
        after a message does it by itself): the messages that came in one turn share one
        read of the store."""
        self._applying = False
        changed, awake, work, done = self._in
        self._in = ([], [], [], [])
        # Registrations first: the other events may be about a device registered just now.
        if changed:
            try:
                self.server.refresh(dict.fromkeys(changed))
            except Exception as exc:  # the store is away: the next round compares everything
                self._next_catch_up = float("-inf")
                log.warning("node %s: %d registrations changed elsewhere not read (%s); read at"
                            " the next catch-up", self.bus.node, len(changed), " ".join(str(exc).split()))
        for endpoint, transport, until in awake:
            self.router.awake_elsewhere(endpoint, transport, until)
        for endpoint in dict.fromkeys(work):
            self.router.work_elsewhere(endpoint)
        if done:
            try:
                self.router.done_elsewhere(done)
            except Exception as exc:  # the router's periodic round reads the outcomes again
                log.warning("node %s: %d outcomes recorded elsewhere not read (%s)", self.bus.node,
                            len(done), " ".join(str(exc).split()))

"""A :class:`~.lean.LeanFleet` on one SMS link for all its numbers: the asyncio adapter.

One :class:`~lwm2m_sms.bearer.SegmentLink` (an SMPP bind whose address range covers the
fleet, a loopback network...) carries every device's SMS: each goes out with the device's
number as the sender (:meth:`~lwm2m_sms.bearer.SegmentLink.send_segment`), and every SMS
that comes in is handed to the fleet by its recipient. A CoAP message longer than one SMS
is split into concatenated SMS and reassembled on the way in (keyed by sender and
recipient, so two devices' long messages never mix), as a bearer does. One timer (a
``loop.call_at`` for the soonest deadline) drives the fleet's retransmissions and
timeouts; no task per device, a future only while a device's request is in flight.

The receive handler never waits on the network: it feeds the fleet and queues the
answers on the link, so the link acknowledges each SMS at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Callable, Optional

from ...bearer import DeliveryOutcome, DeliveryState, SegmentLink, SmsSegment
from ...coap.settings import SmsSettings
from ...errors import Lwm2mSmsError
from ...sms.address import Address, parse_msisdn
from ...sms.reassembly import Reassembler
from ...sms.segmentation import ReferenceAllocator, split
from .lean import Completed, LeanFleet, Reply

__all__ = ["LeanSimulator", "LeanRequestFailed"]

log = logging.getLogger(__name__)


class LeanRequestFailed(Lwm2mSmsError):
    """A lean device's Register or Update did not succeed; the message says why."""


class LeanSimulator:
    """Devices of a :class:`LeanFleet` on ``link``, registering with the server at
    ``server_msisdn``. ``add`` them, then ``await register(i)`` (and ``update(i)``); the
    server's Reads are answered as they come. :meth:`close` fails whatever is in flight
    and detaches from the link (the caller closes the link)."""

    def __init__(
        self, link: SegmentLink, server_msisdn: "str | Address", *, lifetime: int = 86400,
        settings: Optional[SmsSettings] = None, clock: Callable[[], float] = time.time,
    ) -> None:
        server = parse_msisdn(server_msisdn) if isinstance(server_msisdn, str) else server_msisdn
        self.link = link
        self.fleet = LeanFleet(server, lifetime=lifetime, settings=settings, clock=clock)
        self.server = server
        self._waiting: dict[int, asyncio.Future[Completed]] = {}
        self._reassembler = Reassembler()
        self._refs = ReferenceAllocator()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at: Optional[float] = None
        self.send_failures = 0
        self._sending: set[asyncio.Task[None]] = set()  # retransmissions being handed to the link
        link.set_segment_receiver(self._on_segment)

    def add(self, endpoint: str, msisdn: "str | Address") -> int:
        """A device of the fleet (not yet registered); its index."""
        return self.fleet.add(endpoint, parse_msisdn(msisdn) if isinstance(msisdn, str) else msisdn)

    async def register(self, index: int) -> None:
        """Register device ``index``; raises :class:`LeanRequestFailed` if it does not succeed."""
        await self._run(index, self.fleet.register)

    async def update(self, index: int) -> None:
        """Send an Update of registered device ``index`` (a 4.04 makes it register again)."""
        await self._run(index, self.fleet.update)

    async def deregister(self, index: int) -> None:
        """De-register registered device ``index``."""
        await self._run(index, self.fleet.deregister)

    def registered(self, index: int) -> bool:
        return self.fleet.devices[index].location is not None

    async def _run(self, index: int, build: Callable[[int, float], bytes]) -> None:
        loop = asyncio.get_running_loop()
        octets = build(index, loop.time())
        fut: asyncio.Future[Completed] = loop.create_future()
        self._waiting[index] = fut
        try:
            await self._send(index, octets)
            self._arm()
            done = await fut
        finally:
            self._waiting.pop(index, None)
        if not done.ok:
            raise LeanRequestFailed(f"ep={self.fleet.devices[index].endpoint}: {done.kind} failed: {done.detail}")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._sending):
            task.cancel()
        self.link.set_segment_receiver(None)
        for index, fut in list(self._waiting.items()):
            if not fut.done():
                fut.set_result(Completed(index, "request", False, "simulator closed"))

    # -- the link -------------------------------------------------------------------------

    async def _send(self, index: int, octets: bytes) -> None:
        dev = self.fleet.devices[index]
        parts = split(octets, 0)
        if len(parts) > 1:
            parts = split(octets, self._refs.next(f"{dev.msisdn}>{self.server}"))
        mid = int.from_bytes(octets[2:4], "big")
        for ud in parts:
            try:
                sub = await self.link.send_segment(SmsSegment(dev.msisdn, self.server, ud))
            except Lwm2mSmsError as exc:
                self._failed(index, mid, f"not sent: {exc}")
                return
            sub.outcome.add_done_callback(functools.partial(self._outcome, index=index, mid=mid))

    def _outcome(self, fut: "asyncio.Future[DeliveryOutcome]", index: int, mid: int) -> None:
        if fut.cancelled():
            self._failed(index, mid, "send cancelled")
        elif fut.result().state is DeliveryState.FAILED:
            self._failed(index, mid, f"SMS failed: {fut.result().detail}")

    def _failed(self, index: int, mid: int, detail: str) -> None:
        self.send_failures += 1
        done = self.fleet.fail(index, mid, detail)
        if done is not None:
            self._finish(done)

    async def _on_segment(self, segment: SmsSegment) -> None:
        payload = segment.user_data.data
        if segment.user_data.concat is not None:
            loop = asyncio.get_running_loop()
            whole = self._reassembler.feed(f"{segment.sender}>{segment.recipient}", segment.user_data, loop.time())
            if whole is None:
                return
            payload = whole.payload
        reply = self.fleet.receive(segment.recipient, segment.sender, payload, asyncio.get_running_loop().time())
        await self._apply(reply)

    async def _apply(self, reply: Reply) -> None:
        for done in reply.done:
            self._finish(done)
        for index, octets in reply.send:
            await self._send(index, octets)
        if reply.send:
            self._arm()

    def _finish(self, done: Completed) -> None:
        fut = self._waiting.get(done.index)
        if fut is not None and not fut.done():
            fut.set_result(done)
        elif not done.ok:
            log.info("ep=%s: %s failed: %s", self.fleet.devices[done.index].endpoint, done.kind, done.detail)

    # -- time -----------------------------------------------------------------------------

    def _arm(self) -> None:
        """Have the timer fire at the fleet's soonest deadline."""
        at = self.fleet.next_deadline()
        if at is None or (self._timer_at is not None and self._timer_at <= at):
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer_at = at
        self._timer = loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        reply = self.fleet.due(asyncio.get_running_loop().time())
        if reply.send:
            task = asyncio.get_running_loop().create_task(self._apply(reply))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        else:
            for done in reply.done:
                self._finish(done)
            self._arm()

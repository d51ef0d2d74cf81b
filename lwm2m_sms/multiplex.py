"""Many local numbers on one network attachment: a bearer per MSISDN over one SegmentLink.

An operator gives a device farm, or a test rig, one SMPP bind whose address range covers
thousands of MSISDNs. :class:`SegmentMux` sits on that bind (any
:class:`~lwm2m_sms.bearer.SegmentLink`) and hands out a :class:`MuxBearer` per local number:
each segments and reassembles on its own, sends with its own number as the sender, and
receives only what is addressed to it. Segments for a number with no channel are dropped
and counted.

Known limit: a MuxBearer sends through ``SegmentLink.send_segment``, which does not pass
through the link's persistent outbox; an SMS accepted while the link is down waits in the
link's memory queue only. Use the link's own :meth:`~lwm2m_sms.bearer.Bearer.send` where
a message must survive a restart of this process.
"""

from __future__ import annotations

import asyncio
import logging

from .bearer import DCS_8BIT, Bearer, DeliveryState, SegmentLink, SmsSegment, Submission
from .errors import BearerClosed
from .sms.address import Address, parse_address, parse_msisdn
from .sms.udh import Ports

__all__ = ["SegmentMux", "MuxBearer"]

log = logging.getLogger(__name__)


class SegmentMux:
    def __init__(self, link: SegmentLink) -> None:
        self.link = link
        self.channels: dict[Address, "MuxBearer"] = {}
        self.unrouted = 0
        link.set_segment_receiver(self._dispatch)

    def channel(self, msisdn: "Address | str", **kwargs) -> "MuxBearer":
        """A bearer for ``msisdn`` (not yet started)."""
        return MuxBearer(self, parse_msisdn(msisdn) if isinstance(msisdn, str) else msisdn, **kwargs)

    async def _dispatch(self, segment: SmsSegment) -> None:
        channel = self.channels.get(segment.recipient)
        if channel is None:
            self.unrouted += 1
            log.info("mux: SMS from %s to %s, which has no channel; dropped", segment.sender, segment.recipient)
            return
        await channel.receive_segment(segment)


def _combine(sub: Submission, parts: list[Submission]) -> None:
    """Resolve ``sub`` once every part's outcome is in: FAILED if any failed, DELIVERED if
    all were delivered, else SUBMITTED."""

    def done(_fut: asyncio.Future) -> None:
        if not all(p.outcome.done() for p in parts):
            return
        outcomes = [p.outcome.result() for p in parts if not p.outcome.cancelled()]
        failed = [o for o in outcomes if o.state is DeliveryState.FAILED]
        if failed or len(outcomes) < len(parts):
            sub.resolve(DeliveryState.FAILED, failed[0].detail if failed else "cancelled")
        elif all(o.state is DeliveryState.DELIVERED for o in outcomes):
            sub.resolve(DeliveryState.DELIVERED)
        else:
            sub.resolve(DeliveryState.SUBMITTED)

    for p in parts:
        p.outcome.add_done_callback(done)


class MuxBearer(Bearer):
    kind = "mux"

    def __init__(self, mux: SegmentMux, msisdn: Address, **kwargs) -> None:
        super().__init__(msisdn, **kwargs)
        self.mux = mux
        self._started = False

    async def start(self) -> None:
        assert self.local_address is not None
        self.mux.channels[self.local_address] = self
        self._started = True

    async def receive_segment(self, segment: SmsSegment) -> None:
        """One SMS the mux routed to this channel's number (reassembled and handed up
        here; returns once the handler returned, so the link may acknowledge it)."""
        await self._receive_part(segment.sender, segment.user_data, segment.recipient, segment.dcs,
                                 segment.pid)

    async def close(self) -> None:
        if self.local_address is not None and self.mux.channels.get(self.local_address) is self:
            del self.mux.channels[self.local_address]
        self._started = False

    async def send(
        self,
        recipient: "Address | str",
        payload: bytes,
        *,
        ports: Ports | None = None,
        report: bool = False,
        pid: int = 0,
        dcs: int = DCS_8BIT,
    ) -> Submission:
        if not self._started:
            raise BearerClosed(f"mux channel {self.local_address} is not started")
        if pid or dcs != DCS_8BIT:
            self._check_coding(pid, dcs)
        assert self.local_address is not None
        to = parse_address(recipient)
        parts = self._split(to, payload, ports)
        subs = [
            await self.mux.link.send_segment(SmsSegment(self.local_address, to, ud, dcs, pid), report=report)
            for ud in parts
        ]
        sub = Submission(self._new_message_id(), to, len(parts), asyncio.get_running_loop().create_future())
        _combine(sub, subs)
        self._count_sent(to, payload, len(parts))
        return sub

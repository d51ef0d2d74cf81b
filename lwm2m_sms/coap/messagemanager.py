"""aiocoap's MessageManager with a compact deduplication memory, for any transport.

aiocoap's MessageManager remembers each incoming request for EXCHANGE_LIFETIME in
``_recent_messages``: the remote, a timer handle and then the whole response Message
(options, the request behind it): about 2.7 KiB per request. Two of its methods fill and
read that memory, ``_deduplicate_message`` and ``_store_response_for_duplicates``;
:class:`CompactMessageManager` overrides just those two to use a
:class:`~.dedup.RecentMessages` (a key and the response's octets) on an injectable clock,
so ``_recent_messages`` stays empty. CON/ACK, piggybacking, backlogs and retransmission
remain aiocoap's. The SMS transport's :class:`~.transport.SmsMessageManager` derives from
it; :func:`lwm2m_sms.lwm2m.udp.udp_context` uses it for UDP.

The two methods are aiocoap internals (aiocoap 0.4.x); ``tests/coap/test_dedup.py`` checks
that aiocoap's memory stays empty and that a retry is still answered, so an aiocoap upgrade
that renames them fails there instead of silently doubling the memory.
"""

from __future__ import annotations

from typing import Any, Hashable, Optional

from aiocoap import Message
from aiocoap.message import Direction
from aiocoap.messagemanager import MessageManager
from aiocoap.numbers import TransportTuning
from aiocoap.numbers.types import ACK, CON, RST

from ..clock import SYSTEM_CLOCK, Clock
from .dedup import DEFAULT_MAX_ENTRIES, RecentMessages

__all__ = ["CompactMessageManager"]


class CompactMessageManager(MessageManager):
    """``lifetime`` defaults to aiocoap's EXCHANGE_LIFETIME for UDP (247 s)."""

    def __init__(
        self, token_manager: Any, *, lifetime: Optional[float] = None,
        max_entries: int = DEFAULT_MAX_ENTRIES, clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(token_manager)
        self.clock = clock
        self.recent = RecentMessages(
            TransportTuning().EXCHANGE_LIFETIME if lifetime is None else lifetime, max_entries)

    def dedup_key(self, remote: Any, mid: int) -> Hashable:
        """The memory's key for a message from ``remote`` with ``mid`` (a transport with a
        cheaper identity of its peers overrides it)."""
        return (remote, mid)

    def _deduplicate_message(self, message: Message) -> bool:
        stored = self.recent.receive(self.dedup_key(message.remote, message.mid), self.clock.now())
        if stored is None:
            return False
        self.on_duplicate(message, stored)
        return True

    def on_duplicate(self, message: Message, response: bytes) -> None:
        """A duplicate arrived; ``response`` is what answered the first copy (``b""``: not
        answered yet). A CON gets it again, as aiocoap does; a NON, ACK or RST nothing."""
        if message.mtype is CON and response:
            self.log.info("Duplicate CON received, sending old response again")
            again = Message.decode(response, message.remote)
            again.direction = Direction.OUTGOING  # decode() makes an incoming message
            self._send_via_transport(again)
        else:
            self.log.info("Duplicate message received, not processed again")

    def _store_response_for_duplicates(self, message: Message) -> None:
        # Only an ACK or RST carries the MID of a message the peer sent us.
        if message.mtype is ACK or message.mtype is RST:
            self.recent.respond(self.dedup_key(message.remote, message.mid), message.encode())

"""One end of a secured-packet channel (SMS security mode 2): the server's side towards one
device, or the simulated UICC in a device. Sans-IO: payloads in, payloads and verdicts out.

Both directions carry command packets to the LwM2M TAR (B2 02 03): the server's requests go
to the UICC, the device's messages come back the same way, each sender with its own
counter. The receiving entity keeps the last counter it accepted from its peer and applies
the policy the packet's SPI names, never weaker than its own configured SPI (a packet that
asks for less, e.g. no counter or no ciphering where we require them, is refused as
"insufficient security level").

What is answered (TS 102 225 section 5.1.1, PoR bits of the SPI):

* Nothing for a packet that cannot be authenticated: another TAR, a KIc/KID we do not hold,
  a checksum that fails. LwM2M 1.0.2 section 7.2 wants those discarded silently.
* A PoR for an authenticated packet the counter check refuses (replay), when the SPI asks
  for PoR always or on error; and for an accepted packet when it asks for PoR always.

The counters are kept by a :class:`~.state.CounterLedger` (files, or the store that
several nodes share: :mod:`.state`); without one, in memory from ``sent_counter`` and
``received_counter``. The attributes of those names show the last counter this endpoint
sent and accepted. The ledger is called synchronously (a file write, or one statement on
the store): the decision and its record are one step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .secured_packet import (
    LWM2M_TAR,
    CounterPolicy,
    Keyset,
    PorRequest,
    Response,
    ResponseStatus,
    SecuredPacketError,
    Spi,
    build_command,
    build_response,
    is_command,
    is_response,
    open_command,
    open_response,
    parse_command_header,
)
from .state import CounterLedger, MemoryLedger

__all__ = ["PacketEndpoint", "Received"]

log = logging.getLogger(__name__)

_STRICT = (CounterPolicy.HIGHER, CounterPolicy.ONE_HIGHER)


@dataclass(frozen=True, slots=True)
class Received:
    """What one inbound payload gave: ``data`` to hand up (None: nothing), ``reply`` a PoR
    to send back (None: send nothing), ``refused`` why it was not handed up, ``por`` a PoR
    that arrived (for the sender's logs and counters)."""

    data: bytes | None = None
    reply: bytes | None = None
    refused: str = ""
    status: ResponseStatus | None = None
    por: Response | None = None


class PacketEndpoint:
    def __init__(
        self,
        keys: Keyset,
        spi: Spi = Spi(),
        tar: bytes = LWM2M_TAR,
        *,
        sent_counter: int = 0,
        received_counter: int | None = None,
        peer: str = "",
        counters: "CounterLedger | None" = None,
    ) -> None:
        self.keys = keys
        self.spi = spi
        self.tar = tar
        self.sent_counter = sent_counter
        self.received_counter = received_counter
        self.peer = peer  # for logs only
        self.counters: CounterLedger = counters if counters is not None else MemoryLedger(
            peer, sent_counter, received_counter)

    def protect(self, data: bytes) -> bytes:
        """A command packet carrying ``data``, with the next counter."""
        self.sent_counter = self.counters.take_sent()
        return build_command(self.keys, self.spi, self.tar, self.sent_counter, data)

    def receive(self, payload: bytes) -> Received:
        if is_response(payload):
            try:
                por = open_response(payload, self.keys, self.spi)
            except SecuredPacketError as exc:
                return Received(refused=f"PoR refused: {exc}")
            return Received(por=por)
        if not is_command(payload):
            return Received(refused="not a secured packet")
        try:
            header = parse_command_header(payload)
        except SecuredPacketError as exc:
            return Received(refused=str(exc))
        if header.tar != self.tar:
            return Received(refused=f"TAR {header.tar.hex()} unknown", status=ResponseStatus.TAR_UNKNOWN)
        try:
            opened = open_command(header, self.keys)
        except SecuredPacketError as exc:
            return Received(refused=str(exc), status=exc.status)
        spi = header.spi
        if (self.spi.ciphering and not spi.ciphering) or (self.spi.counter in _STRICT and spi.counter not in _STRICT):
            return self._refuse(header.spi, opened.counter, ResponseStatus.INSUFFICIENT_SECURITY_LEVEL,
                                f"SPI {spi.to_bytes().hex()} below ours {self.spi.to_bytes().hex()}")
        verdict = self.counters.accept(spi.counter, opened.counter)
        if verdict is not None:
            return self._refuse(spi, opened.counter, verdict,
                                f"counter {opened.counter} refused: {verdict.name}")
        if spi.counter != CounterPolicy.NONE:
            self.received_counter = opened.counter
        reply = None
        if spi.por == PorRequest.ALWAYS:
            reply = build_response(self.keys, spi, self.tar, opened.counter, ResponseStatus.POR_OK)
        return Received(data=opened.data, reply=reply)

    def _refuse(self, spi: Spi, counter: int, status: ResponseStatus, why: str) -> Received:
        # Authenticated, so a PoR tells the honest sender what went wrong (per its SPI).
        reply = None
        if spi.por in (PorRequest.ALWAYS, PorRequest.ON_ERROR):
            reply = build_response(self.keys, spi, self.tar, counter, status)
        return Received(reply=reply, refused=why, status=status)

"""The security layer as a bearer: wraps any :class:`~lwm2m_sms.bearer.Bearer` and protects
each payload for its peer as the :class:`~.policy.SecurityPolicy` says.

Placed at the bearer boundary, so that the CoAP transport, the router and LwM2M run
unchanged on top: they send and receive plain CoAP messages; what crosses the network is
a secured packet, DTLS records, or OSCORE-protected CoAP, per peer MSISDN.

Receive side (LwM2M 1.0.2 section 7.2): an SMS that is not protected as its sender's
configuration says is dropped silently: logged with the MSISDN, counted in
``security_stats.dropped`` by reason, no reply. NoSec passes only for peers configured NoSec
or named in the policy's ``allow_nosec``.

Send side: a peer with a secured mode gets only protected payloads; for DTLS the first
send waits for the handshake. Each channel (one per peer and mode) keeps its state (keys,
counters, DTLS session) for the life of this bearer; secured-packet counters can be kept
across restarts with a :class:`~.state.CounterStore` (files, one node) or across nodes
with :class:`~.state.SharedCounters` (the gateway's store).
"""

from __future__ import annotations

import abc
import collections
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from ..bearer import DCS_8BIT, DCS_8BIT_CLASS2, PID_SIM_DATA_DOWNLOAD, Bearer, InboundSms, SenderTrust, Submission
from ..errors import BearerError
from ..sms.address import Address, parse_address
from ..sms.reassembly import ReassemblyStats
from ..sms.udh import Ports
from .packet_endpoint import PacketEndpoint
from .coap_peek import peek
from .oscore_check import is_oscore_or_empty, oscore_kid, oscore_option
from .policy import OscoreKeys, PacketKeys, PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode
from .secured_packet import COMMAND_UDH, SecuredPacketError
from .state import Counters

__all__ = ["SecureBearer", "SecurityStats", "Channel", "Transmit", "NotConfigured"]

log = logging.getLogger(__name__)

Transmit = Callable[[bytes], Awaitable[object]]


class NotConfigured(BearerError):
    """A peer the security policy has no entry for (and no default)."""


@dataclass
class SecurityStats:
    sealed: int = 0
    opened: int = 0
    nosec_passed: int = 0
    protocol_messages: int = 0  # DTLS handshake records, PoRs: dealt with here, not handed up
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class Channel(abc.ABC):
    """The protection towards one peer."""

    mode: SmsSecurityMode

    @abc.abstractmethod
    async def seal(self, payload: bytes) -> bytes:
        """The wire payload for ``payload`` (may first run a handshake)."""

    @abc.abstractmethod
    async def open(self, wire: bytes) -> "bytes | None":
        """The plain payload, or None when there is nothing to hand up (refused, or a
        protocol message such as a PoR or a handshake record, already dealt with)."""

    async def close(self) -> None:
        return None

    #: why the last ``open`` returned None ("" = not a drop): ``reason`` is one of a fixed
    #: few words (the drop counters' keys, bounded whatever peers send), ``refused`` the
    #: detail for the log line
    reason: str = ""
    refused: str = ""

    def _refuse(self, reason: str, detail: str = "") -> None:
        self.reason, self.refused = reason, detail or reason

    def _accept(self) -> None:
        self.reason = self.refused = ""


class PacketChannel(Channel):
    mode = SmsSecurityMode.PACKET

    def __init__(self, peer: Address, keys: PacketKeys, transmit: Transmit, counters: Counters | None) -> None:
        self.endpoint = PacketEndpoint(keys.keyset, keys.spi, keys.tar, peer=str(peer),
                                       counters=counters.ledger(str(peer)) if counters is not None else None)
        self.peer = peer
        self._transmit = transmit
        self.por_received = 0

    async def seal(self, payload: bytes) -> bytes:
        try:
            wire = self.endpoint.protect(payload)
        except SecuredPacketError as exc:
            raise BearerError(f"to {self.peer}: {exc}") from None
        return wire  # its counter is recorded: never used twice, even after a crash

    async def open(self, wire: bytes) -> "bytes | None":
        got = self.endpoint.receive(wire)
        if got.refused:
            reason = got.status.name.lower().replace("_", " ") if got.status is not None else (
                "not a secured packet" if got.refused == "not a secured packet" else "malformed secured packet")
            self._refuse(reason, got.refused)
        else:
            self._accept()
        if got.por is not None:
            self.por_received += 1
            self._accept()
            level = logging.DEBUG if got.por.status == 0 else logging.WARNING
            log.log(level, "from %s: PoR counter %d status %s", self.peer, got.por.counter, got.por.status.name)
        if got.reply is not None:
            await self._transmit(got.reply)
        return got.data


class OscoreChannel(Channel):
    """OSCORE is done by aiocoap above the transport; here only the check that what
    arrives is OSCORE-protected CoAP (RFC 8613: the OSCORE option, number 9) or an empty
    message (ACK/RST carry no OSCORE), and that a request's kid is this peer's sender ID:
    a context is bound to its MSISDN, as aiocoap alone finds contexts by kid only."""

    mode = SmsSecurityMode.OSCORE

    def __init__(self, keys: OscoreKeys) -> None:
        self.keys = keys

    async def seal(self, payload: bytes) -> bytes:
        return payload

    async def open(self, wire: bytes) -> "bytes | None":
        if is_oscore_or_empty(wire):
            value = oscore_option(wire)
            if value is not None and value and value[0] & 0x08 and oscore_kid(value) != self.keys.recipient_id:
                self._refuse("OSCORE kid of another peer")
                return None
            self._accept()
            return wire
        self._refuse("not OSCORE-protected")
        return None


ChannelFactory = Callable[[Address, PeerSecurity, Transmit], Channel]


class SecureBearer(Bearer):
    kind = "secure"

    def __init__(
        self,
        inner: Bearer,
        policy: SecurityPolicy,
        *,
        counters: Counters | None = None,
        handshake_timeout: float = 120.0,
        factories: "dict[SmsSecurityMode, ChannelFactory] | None" = None,
    ) -> None:
        super().__init__(inner.local_address)
        self.inner = inner
        self.kind = f"{inner.kind}+secure"
        self.stats = inner.stats  # SMS counters are the inner bearer's
        self.security_stats = SecurityStats()
        self.policy = policy
        self._counters = counters
        self.handshake_timeout = handshake_timeout
        self._factories: dict[SmsSecurityMode, ChannelFactory] = dict(factories or {})
        self._channels: dict[Address, tuple[PeerSecurity, Channel]] = {}
        # Tokens of registration update triggers in flight per trigger-only peer (sent by us:
        # their answer may come back; received: we may answer). A few each: bounded.
        self._triggers: dict[Address, collections.deque[bytes]] = {}
        self._retired: list[Channel] = []
        inner.set_receiver(self._on_inbound)

    @property
    def counters(self) -> "Counters | None":
        return self._counters

    @counters.setter
    def counters(self, counters: "Counters | None") -> None:
        """Where channels made from now on keep their secured-packet counters (the gateway
        gives its store's before the first SMS)."""
        self._counters = counters

    @property
    def reassembly_stats(self) -> ReassemblyStats:
        return self.inner.reassembly_stats

    def set_sender_trust(self, trust: "SenderTrust | None") -> None:
        # Reassembly happens in the inner bearer: that is where the trust pools matter.
        self.inner.set_sender_trust(trust)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        for _, ch in list(self._channels.values()):
            await ch.close()
        for ch in self._retired:
            await ch.close()
        self._retired.clear()
        await self.inner.close()

    def channel(self, peer: Address) -> Channel | None:
        """The channel for ``peer`` under its configured mode; None for NoSec. Raises
        NotConfigured for a peer the policy refuses."""
        sec = self.policy.for_peer(peer)
        if sec is None:
            raise NotConfigured(f"no SMS security configured for {peer}")
        if sec.mode is SmsSecurityMode.NOSEC:
            return None
        known = self._channels.get(peer)
        if known is not None and known[0] == sec:
            return known[1]
        # New, or the configuration changed (a bootstrap wrote new keys): a new channel.
        ch = self._make(peer, sec)
        self._channels[peer] = (sec, ch)
        if known is not None:
            self._retired.append(known[1])
        return ch

    def _make(self, peer: Address, sec: PeerSecurity) -> Channel:
        async def transmit(wire: bytes) -> object:
            if sec.mode is SmsSecurityMode.PACKET:  # a PoR: SIM data download as the packets
                return await self.inner.send(peer, wire, pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
            return await self.inner.send(peer, wire)

        factory = self._factories.get(sec.mode)
        if factory is not None:
            return factory(peer, sec, transmit)
        if sec.mode is SmsSecurityMode.PACKET:
            assert isinstance(sec.keys, PacketKeys)
            return PacketChannel(peer, sec.keys, transmit, self._counters)
        if sec.mode is SmsSecurityMode.OSCORE:
            assert isinstance(sec.keys, OscoreKeys)
            return OscoreChannel(sec.keys)
        if sec.mode is SmsSecurityMode.DTLS:
            from .dtls import DtlsChannel

            assert isinstance(sec.keys, PskKeys)
            return DtlsChannel(peer, sec.keys, transmit, handshake_timeout=self.handshake_timeout)
        raise BearerError(f"to/from {peer}: SMS security mode {sec.mode.name} has no channel here")

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
        to = parse_address(recipient)
        ch = self.channel(to)
        if ch is None and to in self.policy.trigger_only and not self._trigger_traffic(to, payload):
            raise BearerError(f"to {to}: NoSec SMS are limited to the registration update trigger and its answer")
        if ch is not None:
            payload = await ch.seal(payload)
            self.security_stats.sealed += 1
            if ch.mode is SmsSecurityMode.PACKET:
                # TS 31.115 / 31.111: class 2 with TP-PID 0x7F makes the ME hand it to the UICC
                pid, dcs = PID_SIM_DATA_DOWNLOAD, DCS_8BIT_CLASS2
        if pid or dcs != DCS_8BIT:
            return await self.inner.send(to, payload, ports=ports, report=report, pid=pid, dcs=dcs)
        return await self.inner.send(to, payload, ports=ports, report=report)

    async def _on_inbound(self, sms: InboundSms) -> None:
        if self._handler is None:
            raise BearerError(f"{self.kind}: no receiver; SMS from {sms.sender} left with the network")
        sender = sms.sender
        try:
            ch = self.channel(sender)
        except NotConfigured:
            self.security_stats.drop("peer not configured")
            log.info("from %s: SMS dropped silently: no SMS security configured for it", sender)
            return
        if ch is None:
            if sender in self.policy.trigger_only and not self._trigger_traffic(sender, sms.payload):
                self.security_stats.drop("NoSec beyond the trigger")
                log.info("from %s: SMS dropped silently: NoSec from it is limited to the registration update "
                         "trigger and its answer", sender)
                return
            self.security_stats.nosec_passed += 1
            await self._handler(sms)
            return
        if ch.mode is SmsSecurityMode.PACKET and sms.payload.startswith(COMMAND_UDH) and not _sim_download(sms):
            # A command packet outside a class 2 / PID 0x7F SMS would not reach a UICC: not
            # what a real peer sends, so a forgery or a misconfigured SMSC; never opened.
            self.security_stats.drop("not SIM data download")
            log.info("from %s: SMS dropped silently (PACKET mode): command packet with TP-PID %#04x, "
                     "TP-DCS %#04x, not SIM data download (PID 0x7f, class 2)", sender, sms.pid, sms.dcs)
            return
        data = await ch.open(sms.payload)
        if data is None:
            if ch.reason:
                if self.policy.nosec_allowed(sender) and _looks_like_coap(sms.payload):
                    self.security_stats.nosec_passed += 1
                    log.info("from %s: NoSec SMS allowed by policy (%d octets)", sender, len(sms.payload))
                    await self._handler(sms)
                    return
                self.security_stats.drop(ch.reason)
                log.info("from %s: SMS dropped silently (%s mode): %s", sender, ch.mode.name, ch.refused)
            else:
                self.security_stats.protocol_messages += 1
            return
        self.security_stats.opened += 1
        await self._handler(InboundSms(sender, data, sms.recipient, sms.ports, sms.segments, sms.pid, sms.dcs))


    def _trigger_traffic(self, peer: Address, payload: bytes) -> bool:
        """A trigger (POST /1/x/8), the answer to one in flight with ``peer`` (same token),
        or an empty message."""
        p = peek(payload)
        if p is None:
            return False
        tokens = self._triggers.setdefault(peer, collections.deque(maxlen=4))
        if p.is_registration_trigger:
            tokens.append(p.token)
            return True
        if p.is_response and p.token in tokens:
            tokens.remove(p.token)
            return True
        return p.is_empty


def _sim_download(sms: InboundSms) -> bool:
    return sms.pid == PID_SIM_DATA_DOWNLOAD and sms.message_class == 2


def _looks_like_coap(payload: bytes) -> bool:
    return len(payload) >= 4 and payload[0] >> 6 == 1

"""The one bearer interface: send a payload to an MSISDN, receive whole payloads.

Everything above the bearers (the CoAP transport, the router, LwM2M) sees only this module.
A bearer segments on send and reassembles on receive, so its users deal in whole payloads
(one CoAP message each). Three implementations: the GSM modem (``modems``), the SMPP link
(``smsc``) and :class:`LoopbackBearer` here, an in-memory network for tests that segments and
counts SMS exactly as a real bearer does.

Contract of :meth:`Bearer.send`:

* It returns once the bearer has *accepted* the message (taken it into its queue or store)
  and gives a :class:`Submission`; it raises :class:`~lwm2m_sms.errors.BearerError` (or
  PayloadTooLarge / AddressError) if it cannot accept it.
* An accepted message is never silently lost: ``Submission.outcome`` resolves to SUBMITTED
  (the network took it and no report was asked), DELIVERED (status report) or FAILED; or
  to ACCEPTED when the bearer closes with the message still in its persistent store, to be
  sent on the next start (not FAILED: a caller would send it again).

Contract of the receive side: the handler set with :meth:`Bearer.set_receiver` is awaited
with each whole payload; the bearer acknowledges or deletes the SMS only after the handler
returned, so a crash in between means redelivery, not loss. A part of a long message is
acknowledged before its message is whole; with ``parts_db`` (an SQLite file, see
:mod:`lwm2m_sms.partstore`) it is written there first, so a crash after the acknowledgement
loses nothing: the next start loads the held parts and the remaining ones complete them.
Without ``parts_db`` held parts live in memory only (tests, the loopback network).

Reassembly is bounded by pools (:mod:`lwm2m_sms.sms.reassembly`): with
:meth:`Bearer.set_sender_trust` the server says which numbers are registered, and parts from
any other number can then never evict a registered device's parts. Concatenation references
follow :class:`~lwm2m_sms.sms.segmentation.ReferenceAllocator`'s rule; with ``parts_db`` they
are persisted per destination and survive restarts.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Self

from .errors import BearerClosed, BearerError, DecodeError, EncodeError
from .sms.address import Address, parse_address, parse_msisdn
from .partstore import PartStore
from .sms.reassembly import PartKey, Reassembled, Reassembler, ReassemblyStats
from .sms.segmentation import MAX_PARTS, ReferenceAllocator, UserData, segment_count, split
from .sms.tpdu import DCS_8BIT, Alphabet, alphabet_of, message_class, text_of
from .sms.udh import Ports

__all__ = [
    "DeliveryState",
    "DeliveryOutcome",
    "InboundSms",
    "Submission",
    "BearerStats",
    "Bearer",
    "ReceiveHandler",
    "LoopbackNetwork",
    "LoopbackBearer",
    "SmsSegment",
    "SegmentLink",
    "DCS_8BIT",
    "DCS_8BIT_CLASS2",
    "PID_SIM_DATA_DOWNLOAD",
    "loopback_pair",
]

log = logging.getLogger(__name__)

#: TP-DCS general data coding, 1111 0110: 8-bit data, message class 2 (SIM-specific), the
#: coding TS 31.115 asks for a secured packet to the UICC (23.038 section 4).
DCS_8BIT_CLASS2 = 0xF6
#: TP-PID 0x7F: (U)SIM data download (23.040 9.2.3.9); with class 2 the ME hands the SMS
#: to the UICC (TS 31.111 7.1.1) instead of storing it.
PID_SIM_DATA_DOWNLOAD = 0x7F


class DeliveryState(str, enum.Enum):
    ACCEPTED = "accepted"  # in the bearer's queue or store
    SUBMITTED = "submitted"  # taken by the network (SMSC / modem); no report asked
    DELIVERED = "delivered"  # status report: delivered to the handset
    FAILED = "failed"  # given up: the detail says why


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    message_id: str
    recipient: Address
    state: DeliveryState
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state is not DeliveryState.FAILED


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A whole received payload (all parts reassembled). ``pid`` and ``dcs`` are the
    TP-PID and TP-DCS (SMPP protocol_id, data_coding) of its last part."""

    sender: Address
    payload: bytes
    recipient: Address | None = None
    ports: Ports | None = None
    segments: int = 1
    pid: int = 0
    dcs: int = DCS_8BIT

    @property
    def message_class(self) -> int | None:
        return message_class(self.dcs)


@dataclass(eq=False)
class Submission:
    """What :meth:`Bearer.send` gives back for an accepted message."""

    message_id: str
    recipient: Address
    segments: int
    outcome: asyncio.Future[DeliveryOutcome]

    def resolve(self, state: DeliveryState, detail: str = "") -> None:
        if not self.outcome.done():
            self.outcome.set_result(DeliveryOutcome(self.message_id, self.recipient, state, detail))


MAX_PEERS = 100_000  # per-peer counters kept; further senders count under "(others)"


@dataclass
class BearerStats:
    """Counters of one bearer. ``sms_*`` count SMS segments, ``messages_*`` whole payloads."""

    sms_sent: int = 0
    sms_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    delivered: int = 0
    failed: int = 0
    text_dropped: int = 0  # text SMS (not 8-bit data) taken and logged, not handed up
    per_peer: dict[str, dict[str, int]] = field(default_factory=dict)

    def count_peer(self, peer: str, key: str, n: int = 1) -> None:
        if peer not in self.per_peer and len(self.per_peer) >= MAX_PEERS:
            peer = "(others)"  # any number can send to us: the map must stay bounded
        d = self.per_peer.setdefault(peer, {})
        d[key] = d.get(key, 0) + n

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items()}



@dataclass(frozen=True, slots=True)
class SmsSegment:
    """One SMS as a network carries it, below segmentation: what a modem emulator or an SMPP
    bind exchanges with the network. ``user_data.data`` is 8-bit data for DCS 0x04, one GSM
    septet per octet (unpacked, as SMPP data_coding 0 carries it) for the GSM 7-bit default
    alphabet, and UTF-16BE for UCS2."""

    sender: Address
    recipient: Address
    user_data: UserData
    dcs: int = DCS_8BIT
    pid: int = 0


SegmentHandler = Callable[[SmsSegment], Awaitable[None]]


class SegmentLink(abc.ABC):
    """A network attachment that moves single SMS segments, not whole payloads (the modem
    emulator's network side: real modems store and announce every part on its own)."""

    @abc.abstractmethod
    async def send_segment(self, segment: SmsSegment, *, report: bool = False) -> "Submission":
        """Accept one segment; same outcome contract as :meth:`Bearer.send`."""

    @abc.abstractmethod
    def set_segment_receiver(self, handler: SegmentHandler | None) -> None:
        """Called with every segment that arrives; acknowledge after it returned."""


ReceiveHandler = Callable[[InboundSms], Awaitable[None]]
#: Is this sender trusted (named by a registration)? Called once per received part.
SenderTrust = Callable[[Address], bool]


class Bearer(abc.ABC):
    """Base of every bearer: segmentation, reassembly, the receive handler and counters.

    Subclasses implement :meth:`start`, :meth:`close` and :meth:`send`, and call
    :meth:`_split` on send and :meth:`_receive_part` for every SMS that comes in.
    """

    #: Short name for logs and tables ("smpp", "modem", "loopback").
    kind: str = "bearer"

    def __init__(
        self,
        local_address: Address | str | None = None,
        *,
        ref16: bool = False,
        max_parts: int = MAX_PARTS,
        reassembler: Reassembler | None = None,
        clock: Callable[[], float] = time.monotonic,
        parts_db: "str | PartStore | None" = None,
        durability: str = "normal",
    ) -> None:
        self.local_address = parse_address(local_address) if local_address is not None else None
        self.stats = BearerStats()
        self.max_parts = max_parts
        self._reassembler = reassembler or Reassembler()
        self._clock = clock
        self._handler: ReceiveHandler | None = None
        self._ids = itertools.count(1)
        self._trust: SenderTrust | None = None
        # A path: the bearer owns the store (closes it in close()); its rows are kept apart
        # from other bearers' in the same file by the bearer's kind.
        # ``durability`` is SQLite's synchronous for a store the bearer opens: "normal"
        # survives the process being killed, "full" a power cut too (an fsync per write).
        self._owns_part_store = isinstance(parts_db, str)
        self.durability = durability.upper()
        self.part_store: PartStore | None = (
            PartStore(parts_db, scope=self.kind, synchronous=self.durability) if isinstance(parts_db, str) else parts_db
        )
        if isinstance(parts_db, str):
            log.info("%s: held parts of long SMS in %s (synchronous=%s)", self.kind, parts_db, self.durability)
        self._refs = ReferenceAllocator(ref16=ref16, store=self.part_store)
        if self.part_store is not None:
            self._load_parts(self.part_store)

    @property
    def reassembly_stats(self) -> ReassemblyStats:
        return self._reassembler.stats

    def set_receiver(self, handler: ReceiveHandler | None) -> None:
        self._handler = handler

    def set_sender_trust(self, trust: SenderTrust | None) -> None:
        """Say which senders are trusted (a registration names them): their long messages
        are reassembled in a pool that parts from other numbers can never evict (see
        :mod:`lwm2m_sms.sms.reassembly`). None (the default): every sender is trusted."""
        self._trust = trust

    def _load_parts(self, store: PartStore) -> None:
        """Put the parts a previous run held (and acknowledged) back into the reassembler."""
        parts = store.load(self._reassembler.timeout)
        mono, wall = self._clock(), store.now()
        for part in parts:
            whole = self._reassembler.feed(part.key[0], part.user_data, mono - (wall - part.received),
                                           trusted=part.trusted)
            if whole is not None:  # cannot happen with parts we wrote; never hand up here
                log.warning("%s: stored parts from %s form a whole message at load; kept for "
                            "its last part to come again", self.kind, part.key[0])
                self._reassembler.restore(part.user_data, whole, mono)
        store.delete(self._reassembler.take_dropped())
        if parts:
            log.info("%s: %d held part(s) of %d message(s) loaded from %s", self.kind, len(parts),
                     len(self._reassembler), store.path)

    def _discard_message(self, key: PartKey) -> None:
        """Forget the held parts of message ``key`` in memory and in the part store (the
        subclass kept the message elsewhere: a dead letter)."""
        if self._reassembler.discard(key) and self.part_store is not None:
            self.part_store.delete(self._reassembler.take_dropped())

    def _close_part_store(self) -> None:
        """Release the part store's connection if the bearer opened it (subclasses call this
        from :meth:`close`; a later start opens it again on first use)."""
        if self._owns_part_store and self.part_store is not None:
            self.part_store.close()

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def send(
        self,
        recipient: Address | str,
        payload: bytes,
        *,
        ports: Ports | None = None,
        report: bool = False,
        pid: int = 0,
        dcs: int = DCS_8BIT,
    ) -> Submission:
        """Accept ``payload`` for ``recipient``; see the module docstring for the contract.

        ``pid`` and ``dcs`` are the TP-PID and TP-DCS of every part (SMPP protocol_id and
        data_coding): e.g. :data:`PID_SIM_DATA_DOWNLOAD` with :data:`DCS_8BIT_CLASS2` for a
        secured packet to a UICC. ``dcs`` must code 8-bit data (EncodeError otherwise)."""

    async def __aenter__(self) -> "Self":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- helpers for subclasses ---------------------------------------------------------

    def _new_message_id(self) -> str:
        return f"{self.kind}-{next(self._ids)}"

    @staticmethod
    def _check_coding(pid: int, dcs: int) -> None:
        """Refuse a TP-PID / TP-DCS a payload bearer cannot send (subclasses call it only
        when either differs from the default, which is always valid)."""
        if not 0 <= pid <= 0xFF:
            raise EncodeError(f"TP-PID {pid} is not an octet")
        if not 0 <= dcs <= 0xFF or alphabet_of(dcs) is not Alphabet.DATA8:
            raise EncodeError(f"TP-DCS {dcs:#x} does not code 8-bit data; a bearer sends binary payloads")

    def _split(self, recipient: Address, payload: bytes, ports: Ports | None) -> list[UserData]:
        """Segment a payload for ``recipient`` (raises PayloadTooLarge). Only a message of
        several parts takes a concatenation reference (see ReferenceAllocator for the rule)."""
        ref16 = self._refs.ref16
        many = segment_count(len(payload), ports=ports, ref16=ref16) > 1
        if many:
            # refuse an oversized payload before spending (and storing) a reference on it
            split(payload, 0, ports=ports, ref16=ref16, max_parts=self.max_parts)
        return split(
            payload,
            self._refs.next(str(recipient)) if many else 0,
            ports=ports,
            ref16=ref16,
            max_parts=self.max_parts,
        )

    def _count_sent(self, recipient: Address, payload: bytes, segments: int) -> None:
        peer = str(recipient)
        self.stats.sms_sent += segments
        self.stats.messages_sent += 1
        self.stats.bytes_sent += len(payload)
        self.stats.count_peer(peer, "sms_sent", segments)
        self.stats.count_peer(peer, "messages_sent")

    async def _receive_part(
        self, sender: Address, ud: UserData, recipient: Address | None = None, dcs: int = DCS_8BIT,
        pid: int = 0,
    ) -> bool:
        """Feed one received SMS; hand the payload up when whole. Returns once the handler
        (if called) returned, so the caller may then acknowledge or delete the SMS.

        With no receiver set it raises BearerError before taking the SMS, so the caller
        leaves it with the network (or on the SIM) to be delivered again, not lost.

        ``dcs`` is the SMS's TP-DCS: a text SMS (GSM 7-bit or UCS2: an operator notice, a
        person typing) carries no binary payload; it is logged with its text, counted in
        ``stats.text_dropped`` and taken (True), not handed up."""
        if self._handler is None:
            raise BearerError(f"{self.kind}: no receiver; SMS from {sender} left with the network")
        if alphabet_of(dcs) is not Alphabet.DATA8:
            self.stats.sms_received += 1
            self.stats.text_dropped += 1
            try:
                text = repr(text_of(ud, dcs)[:160])
            except DecodeError:
                text = f"{len(ud.data)} octets"
            log.info("%s: text SMS from %s (DCS %#04x), not a binary payload; not handed up: %s",
                     self.kind, sender, dcs, text)
            return True
        self.stats.sms_received += 1
        self.stats.count_peer(str(sender), "sms_received")
        trusted = self._trust(sender) if self._trust is not None and ud.concat is not None else True
        reassembler = self._reassembler
        whole: Reassembled | None = reassembler.feed(str(sender), ud, self._clock(), trusted=trusted)
        store = self.part_store
        if store is not None:
            dropped = reassembler.take_dropped()
            if dropped:
                store.delete(dropped)
            held = reassembler.held
            if held is not None:
                try:
                    # durable before the caller acknowledges the part to the network
                    store.add(held, ud, trusted)
                except BearerError:
                    reassembler.forget(held, ud)
                    raise
        if whole is None:
            return False
        self.stats.messages_received += 1
        self.stats.bytes_received += len(whole.payload)
        self.stats.count_peer(str(sender), "messages_received")
        sms = InboundSms(sender, whole.payload, recipient, whole.ports, whole.parts, pid, dcs)
        try:
            await self._handler(sms)
        except BaseException:
            # Not taken: the caller will not acknowledge this part, the network delivers it
            # again, and it must find the other parts still here (in the store too: they
            # are deleted only below).
            self._reassembler.restore(ud, whole, self._clock())
            raise
        if store is not None and whole.key is not None:
            store.delete([whole.key])
        return True


# -- loopback ---------------------------------------------------------------------------


Tap = Callable[[SmsSegment], Iterable[SmsSegment]]


class LoopbackNetwork:
    """An in-memory SMS network joining :class:`LoopbackBearer` instances by address.

    Delivery is asynchronous (the receiver runs in a task after ``latency`` seconds), as
    on a real network. ``tap`` sees every segment and returns the segments to deliver:
    return ``[]`` to lose one, ``[s, s]`` to duplicate it, hold it and :meth:`inject` it
    later to reorder. ``sms_carried`` counts segments handed to the network.
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.tap: Tap | None = None
        self.sms_carried = 0
        self.log: list[SmsSegment] = []
        self.keep_log = False
        self._bearers: dict[Address, "LoopbackBearer"] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, bearer: "LoopbackBearer") -> None:
        assert bearer.local_address is not None
        self._bearers[bearer.local_address] = bearer

    def detach(self, bearer: "LoopbackBearer") -> None:
        if bearer.local_address is not None:
            self._bearers.pop(bearer.local_address, None)

    def reachable(self, address: Address) -> bool:
        return address in self._bearers

    def carry(self, sms: SmsSegment) -> None:
        self.sms_carried += 1
        if self.keep_log:
            self.log.append(sms)
        for out in self.tap(sms) if self.tap is not None else (sms,):
            self.inject(out)

    def inject(self, sms: SmsSegment) -> None:
        """Deliver a segment (bypassing ``tap``)."""
        task = asyncio.get_running_loop().create_task(self._deliver(sms))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, sms: SmsSegment) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)
        target = self._bearers.get(sms.recipient)
        if target is None:
            log.info("loopback: %s detached; segment from %s lost", sms.recipient, sms.sender)
            return
        try:
            await target._receive_segment(sms)
        except Exception:  # a receiver's bug must not take the network down
            log.exception("loopback: receiver %s failed", sms.recipient)

    async def drain(self) -> None:
        """Wait until every segment in flight has been delivered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class LoopbackBearer(Bearer, SegmentLink):
    """A bearer on a :class:`LoopbackNetwork`: same segmentation, same counters as the real
    ones. Sending to an address nobody has attached fails the outcome at once ("no such
    subscriber"), as an SMSC's ESME_RINVDSTADR would.

    It is a :class:`SegmentLink` too: with a segment receiver set, arriving segments go to it
    unreassembled (a modem emulator's network side), else they are reassembled and handed to
    the payload receiver."""

    kind = "loopback"

    def __init__(self, network: LoopbackNetwork, msisdn: Address | str, **kwargs: Any) -> None:
        super().__init__(parse_msisdn(msisdn) if isinstance(msisdn, str) else msisdn, **kwargs)
        self.network = network
        self._started = False
        self._segment_handler: SegmentHandler | None = None

    def set_segment_receiver(self, handler: SegmentHandler | None) -> None:
        self._segment_handler = handler

    async def _receive_segment(self, segment: SmsSegment) -> None:
        if self._segment_handler is not None:
            self.stats.sms_received += 1
            await self._segment_handler(segment)
        else:
            await self._receive_part(segment.sender, segment.user_data, segment.recipient, segment.dcs,
                                     segment.pid)

    async def send_segment(self, segment: SmsSegment, *, report: bool = False) -> Submission:
        if not self._started:
            raise BearerClosed(f"loopback bearer {self.local_address} is not started")
        sub = Submission(
            self._new_message_id(), segment.recipient, 1, asyncio.get_running_loop().create_future()
        )
        if not self.network.reachable(segment.recipient):
            self.stats.failed += 1
            sub.resolve(DeliveryState.FAILED, "no such subscriber")
            return sub
        self.network.carry(segment)
        self.stats.sms_sent += 1
        sub.resolve(DeliveryState.DELIVERED if report else DeliveryState.SUBMITTED)
        return sub

    async def start(self) -> None:
        self.network.attach(self)
        self._started = True

    async def close(self) -> None:
        self.network.detach(self)
        self._started = False
        self._close_part_store()

    async def send(
        self,
        recipient: Address | str,
        payload: bytes,
        *,
        ports: Ports | None = None,
        report: bool = False,
        pid: int = 0,
        dcs: int = DCS_8BIT,
    ) -> Submission:
        if not self._started:
            raise BearerClosed(f"loopback bearer {self.local_address} is not started")
        if pid or dcs != DCS_8BIT:
            self._check_coding(pid, dcs)
        to = parse_address(recipient)
        parts = self._split(to, payload, ports)
        sub = Submission(
            self._new_message_id(), to, len(parts), asyncio.get_running_loop().create_future()
        )
        if not self.network.reachable(to):
            self.stats.failed += 1
            log.info("loopback %s: to %s id %s: no such subscriber", self.local_address, to, sub.message_id)
            sub.resolve(DeliveryState.FAILED, "no such subscriber")
            return sub
        assert self.local_address is not None
        for ud in parts:
            self.network.carry(SmsSegment(self.local_address, to, ud, dcs, pid))
        self._count_sent(to, payload, len(parts))
        if report:
            self.stats.delivered += 1
            sub.resolve(DeliveryState.DELIVERED)
        else:
            sub.resolve(DeliveryState.SUBMITTED)
        return sub


def loopback_pair(
    a: str = "+15550000001", b: str = "+15550000002", *, latency: float = 0.0
) -> tuple[LoopbackBearer, LoopbackBearer, LoopbackNetwork]:
    """Two loopback bearers on one fresh network (not yet started)."""
    net = LoopbackNetwork(latency)
    return LoopbackBearer(net, a), LoopbackBearer(net, b), net


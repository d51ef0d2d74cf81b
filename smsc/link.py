"""The SMPP 3.4 ESME link: a :class:`~lwm2m_sms.bearer.Bearer` (whole payloads) and a
:class:`~lwm2m_sms.bearer.SegmentLink` (single SMS) over one SMSC connection.

Why asyncio and not smpplib's blocking client in a thread: the link must keep a window of
unacknowledged submit_sm (smpplib's client sends and then blocks in ``read_once`` per PDU, or
leaves windowing to the caller with no way to match resps to requests), run keep-alives,
timeouts and reconnects next to it, and hand received SMS to asyncio code (the CoAP
transport) without a thread hop per message. The protocol decisions are sans-IO: framing in
:class:`~smsc.session.SmppSession`, the send window, back-off, retries, drops and receipts in
:class:`~smsc.submit_window.SubmitWindow` (tested with a fake clock). This module is the
asyncio adapter: connections, binds, reconnects, keep-alives and the receive worker.

Sending. :meth:`SmppBearer.send` segments the payload (8-bit data, data_coding 4, UDH with
esm_class 0x40 by default; ``concat="sar"`` puts the concatenation into SAR TLVs,
``concat="payload"`` sends one submit_sm with the whole payload in message_payload), stores
the message in the :class:`~lwm2m_sms.outbox.Outbox` (bounded; an SQLite file when
``store`` is set, so it survives a restart) and returns. A sender task submits parts while
the window (``window``, default 64 unacknowledged PDUs, the common SMSC limit) has room and
at most ``throughput`` submit_sm per second. ESME_RTHROTTLED / ESME_RMSGQFUL pause sending
with doubling back-off and resubmit the part; other temporary errors (ESME_RSYSERR,
ESME_RX_T_APPN, ESME_RSUBMITFAIL) are retried up to ``max_attempts``; any other status fails
the message (outcome FAILED with the status name). A message leaves the outbox once every
part was acknowledged. When the connection drops, unacknowledged parts are resubmitted after
reconnecting (exponential back-off from ``reconnect_min`` to ``reconnect_max``): at least
once, so a part the SMSC took just before the drop may arrive twice (dedup above SMPP).

Receiving. A deliver_sm is either a delivery receipt (esm_class type 0x04; matched by the
receipted_message_id TLV or the ``id:`` of the receipt text to the submitted part; the
message is DELIVERED when every part's receipt says DELIVRD, FAILED on the first that does
not) or a mobile-originated SMS, handed up reassembled (UDH, SAR TLVs or message_payload) or,
with a segment receiver set, segment by segment. The deliver_sm_resp is written only after
the handler returned: a crash in between means the SMSC redelivers, never a loss; a handler
that raises, or no receiver set yet, is answered ESME_RX_T_APPN so the SMSC retries later.
A deliver_sm that cannot be decoded, or whose handler failed three times (per source and data
digest), is kept raw in the dead letters (``dead_letters``, a
:class:`~lwm2m_sms.deadletters.DeadLetterStore` or its SQLite file) and only then answered
ESME_ROK; if that write fails it is answered ESME_RX_T_APPN, so the SMSC keeps it. Received
SMS are handled one at a time in arrival order by one task, so a slow handler slows the
SMSC (through its window) rather than growing a queue here.

Closing: :meth:`SmppBearer.close` unbinds. Outcomes never hang: a message not yet
submitted resolves FAILED ("link closed before submission"; with a ``store`` it stays in the
outbox and the next start sends it), one waiting for its receipt resolves SUBMITTED.

Also: data_sm both ways (``submit_with="data_sm"``); deliver_sm notification types other
than receipts (SME acknowledgements 0x08/0x10, intermediate notifications 0x20) are logged
and counted, never handed up as data; a plain ``+number`` address_range is bound as digits
with TON 1 / NPI 1; a part that was the oldest unacknowledged one at ``max_attempts`` drops
in a row fails alone; messages past their validity fail instead of being sent.

Known limits: segments sent with :meth:`send_segment` are queued in memory only (the outbox
stores whole payloads); no outbind; query_sm, cancel_sm and replace_sm are not sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import sqlite3
import secrets
import time
from dataclasses import dataclass
from typing import Any

from lwm2m_sms.bearer import (
    DCS_8BIT,
    Bearer,
    DeliveryState,
    SegmentHandler,
    SegmentLink,
    SmsSegment,
    Submission,
)
from lwm2m_sms.deadletters import DeadLetterStore, PoisonCounter
from lwm2m_sms.errors import BearerClosed, BearerError, DecodeError, EncodeError
from lwm2m_sms.outbox import Outbox, OutboxEntry, OutboxFull
from lwm2m_sms.sms.address import Address, Npi, Ton, parse_address
from lwm2m_sms.sms.reassembly import part_key
from lwm2m_sms.sms.udh import Ports, Udh
from lwm2m_sms.tasks import cancel_and_wait

from . import pdu as P
from .receipt import parse_receipt
from .mo import decode_mo
from .session import BadPdu, FramingError, Role, SmppSession
from .smpp_time import parse_validity
from .submit_window import Outgoing, Part, SubmitWindow

__all__ = ["SmppLinkConfig", "SmppBearer", "BindRefused"]

log = logging.getLogger(__name__)

# A bind refused with these will be refused again: no point hammering the SMSC quickly.
_BIND_PERMANENT = {P.ESME_RINVPASWD, P.ESME_RINVSYSID, P.ESME_RINVSYSTYP}
# As the modem driver: tries before an SMS whose handler always fails goes to the dead
# letters, and how many failing SMS are remembered (one that never comes back is forgotten).


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def _why(exc: BaseException, timeout: float) -> str:
    """A failed connect or bind in a few words, for the one-line start-up status."""
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.errno:
        return f"connect failed: {os.strerror(exc.errno)}"
    return str(exc) or type(exc).__name__


def _data_of(sm: P.ShortMessage) -> bytes:
    """The user data of a deliver_sm: message_payload if present, else short_message."""
    payload = sm.tlv(P.TLV_MESSAGE_PAYLOAD) if sm.tlvs else None
    return payload if payload is not None else sm.short_message


def _failure_key(sm: P.ShortMessage) -> tuple[str, str]:
    return (sm.source_addr, hashlib.sha256(_data_of(sm)).hexdigest())


class BindRefused(BearerError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class SmppLinkConfig:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    address_range: str = ""
    addr_ton: int = 0
    addr_npi: int = 0
    bind: str = "transceiver"  # or "pair": a bind_transmitter and a bind_receiver
    window: int = 64
    throughput: float = 0.0  # submit_sm per second; 0 = no limit
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    reconnect_min: float = 0.2
    reconnect_max: float = 30.0
    backoff_min: float = 0.05  # first pause after ESME_RTHROTTLED / ESME_RMSGQFUL
    backoff_max: float = 5.0
    max_attempts: int = 5  # per part, for temporary errors
    concat: str = "udh"  # "udh" | "sar" | "payload"
    service_type: str = ""
    validity_period: str = ""  # SMPP time, e.g. "000001000000000R" (1 day); "" = SMSC default
    store: str | None = None  # outbox SQLite file; None = in memory
    outbox_max: int = 10_000
    outbox_max_bytes: int = 64 * 1024 * 1024  # payload octets held; past it send raises OutboxFull
    max_write_buffer: int = 1024 * 1024  # octets queued to the SMSC before reading from it stops
    receipt_timeout: float = 3600.0  # a report asked for and none came: outcome FAILED
    unknown_ton_international: bool = False  # MO numbers with TON 0 and 9-15 digits are E.164
    # A plain +number as address_range goes out as digits with TON 1 / NPI 1 (SMSCs read it
    # as a regular expression, where a leading + is invalid); True sends it as given.
    address_range_as_given: bool = False
    outbox_validity: float = 86400.0  # s a message may wait unsent when validity_period is ""
    submit_with: str = "submit_sm"  # or "data_sm" (message_payload in a data_sm)

    def __post_init__(self) -> None:
        if self.bind not in ("transceiver", "pair"):
            raise ValueError(f"bind must be 'transceiver' or 'pair', not {self.bind!r}")
        if self.concat not in ("udh", "sar", "payload"):
            raise ValueError(f"concat must be 'udh', 'sar' or 'payload', not {self.concat!r}")
        if self.window < 1:
            raise ValueError("window must be at least 1")
        if self.submit_with not in ("submit_sm", "data_sm"):
            raise ValueError(f"submit_with must be 'submit_sm' or 'data_sm', not {self.submit_with!r}")
        parse_validity(self.validity_period, 0.0, 0.0)  # ValueError now, not at the first send
        # SMPP 3.4 4.1: system_id 16, password 9, system_type 13, address_range 41 octets
        # with the NUL. Refuse here, not in a background task where start() would hang.
        P.Bind(system_id=self.system_id, password=self.password, system_type=self.system_type,
               address_range=self.address_range).body()


class _Conn(asyncio.Protocol):
    """One TCP connection to the SMSC (a transceiver, or one half of a pair)."""

    def __init__(self, link: "SmppBearer", label: str) -> None:
        self.link = link
        self.label = label
        self.session = SmppSession(Role.ESME)
        self.transport: asyncio.Transport | None = None
        self.requests: dict[int, asyncio.Future[P.Pdu]] = {}  # bind, enquire_link, unbind
        self.lost = asyncio.get_running_loop().create_future()
        self.last_rx = time.monotonic()
        # Reading stops for either reason: the receive worker is behind (hold_inbound), or the
        # SMSC does not read what we write (hold_output: enquire_link_resp and deliver_sm_resp
        # would pile up here without bound).
        self.hold_inbound = False
        self.hold_output = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        limit = self.link.config.max_write_buffer
        transport.set_write_buffer_limits(high=limit, low=limit // 4)

    def pause_writing(self) -> None:
        self.hold_output = True
        self.update_reading()

    def resume_writing(self) -> None:
        self.hold_output = False
        self.update_reading()
        self.process()  # PDUs read before the pause wait in the session buffer

    def update_reading(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.hold_inbound or self.hold_output:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    @property
    def buffered(self) -> int:
        """Octets written and not yet taken by the kernel."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        self.session.receive_data(data)
        self.process()

    def process(self) -> None:
        try:
            while not self.hold_output:
                event = self.session.next_event()
                if event is None:
                    break
                if isinstance(event, BadPdu):
                    log.warning("smpp %s %s: bad PDU from SMSC: %s", self.link.name, self.label, event.error)
                    if event.reply is not None:
                        self.write(event.reply)
                    continue
                self.link._on_pdu(self, event)
        except FramingError as exc:
            log.warning("smpp %s %s: %s; reconnecting", self.link.name, self.label, exc)
            self.write(P.Bare(P.GENERIC_NACK, 0, P.ESME_RINVCMDLEN))
            self.abort()
        except Exception:
            log.exception("smpp %s %s: error handling input; reconnecting", self.link.name, self.label)
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in self.requests.values():
            if not fut.done():
                fut.set_exception(BearerError("connection lost"))
        self.requests.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    def write(self, pdu: P.Pdu) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.session.send(pdu))

    def write_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    @property
    def alive(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and not self.lost.done()

    async def request(self, pdu: P.Pdu, timeout: float) -> P.Pdu:
        pdu.sequence = self.session.next_sequence()
        fut = asyncio.get_running_loop().create_future()
        self.requests[pdu.sequence] = fut
        self.write(pdu)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.requests.pop(pdu.sequence, None)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class SmppBearer(Bearer, SegmentLink):
    """The ESME side of an SMPP link, as a bearer. ``await start()`` binds (raises
    :class:`BindRefused` if the SMSC refuses the credentials; if the SMSC is unreachable it
    returns and keeps trying in the background); ``await wait_bound()`` waits for a bind."""

    kind = "smpp"

    def __init__(
        self,
        config: SmppLinkConfig,
        local_address: Address | str | None = None,
        *,
        dead_letters: DeadLetterStore | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(local_address, **kwargs)
        self.config = config
        self.name = config.system_id or "esme"
        # a path: ours to close (a store in memory is kept open: closing would empty it)
        self._owns_dead_letters = isinstance(dead_letters, str)
        self.dead_letters = (
            dead_letters if isinstance(dead_letters, DeadLetterStore)
            else DeadLetterStore(dead_letters, synchronous=self.durability)
        )
        self.dead_lettered = 0  # deliver_sm kept as dead letters
        self.deferred = 0  # deliver_sm answered ESME_RX_T_APPN (the SMSC retries)
        # (source, digest of the data): how often the handler failed on it
        self._handler_failures: PoisonCounter[tuple[str, str]] = PoisonCounter()
        self.outbox: Outbox | None = None
        self._sending = SubmitWindow(
            states=(DeliveryState.SUBMITTED, DeliveryState.DELIVERED, DeliveryState.FAILED),
            finished=self._finished, window=config.window, throughput=config.throughput,
            backoff_min=config.backoff_min, backoff_max=config.backoff_max, max_attempts=config.max_attempts,
            receipt_timeout=config.receipt_timeout, response_timeout=config.response_timeout,
            name=self.name, counters=self.stats,
        )
        self._segment_queue_max = config.outbox_max
        self._work = asyncio.Event()
        self._bound = asyncio.Event()
        self._tx: _Conn | None = None
        self._rx: _Conn | None = None
        self._inbound: asyncio.Queue[tuple[_Conn, P.ShortMessage]] = asyncio.Queue()
        self._paused: set[_Conn] = set()  # connections whose reading waits for the worker
        self._segment_handler: SegmentHandler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._started = False
        self.connects = 0
        self._held_bytes = 0  # payload octets of the messages in the outbox (outbox_max_bytes)
        self._entry_bytes: dict[int, int] = {}
        self.notifications = 0  # SME acks and intermediate notifications received
        self.status = "not started"  # why the link is not bound, for start-up messages
        # the start time in ms and 16 random bits: links started in the same millisecond
        # (two in one process, two nodes started together) still differ
        self._run = _base36(int(time.time() * 1000)) + secrets.token_hex(2)
        self._ids = itertools.count(1)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._closing = False
        self.outbox = Outbox(self.config.store, max_entries=self.config.outbox_max)
        for entry in self.outbox.pending():
            self._enqueue_stored(entry)
        if len(self.outbox):
            log.info("smpp %s: %d stored message(s) to resubmit", self.name, len(self.outbox))
        loop = asyncio.get_running_loop()
        first = loop.create_future()
        self._tasks = [
            loop.create_task(self._supervise(first), name=f"smpp-{self.name}-supervisor"),
            loop.create_task(self._receive_worker(), name=f"smpp-{self.name}-receiver"),
            loop.create_task(self._housekeeping(), name=f"smpp-{self.name}-housekeeping"),
        ]
        exc = await first
        if exc is not None:
            await self.close()
            raise exc

    async def wait_bound(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._bound.wait(), timeout)

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    @property
    def queued(self) -> int:
        """Parts waiting to be submitted (not counting those in the window)."""
        return len(self._sending.queue)

    @property
    def inflight(self) -> int:
        return len(self._sending.inflight)

    @property
    def max_inflight(self) -> int:
        return self._sending.max_inflight

    @property
    def throttled(self) -> int:
        """submit_sm refused with ESME_RTHROTTLED or ESME_RMSGQFUL so far."""
        return self._sending.throttled

    async def close(self) -> None:
        """Unbind (waiting briefly for unbind_resp) and stop. Messages not yet submitted stay
        in the outbox (sent on the next start if it is a file)."""
        if not self._started:
            return
        self._closing = True
        self._started = False
        for conn in {c for c in (self._tx, self._rx) if c is not None}:
            if conn.alive and conn.session.bound:
                try:
                    await conn.request(P.Bare(P.UNBIND), min(2.0, self.config.response_timeout))
                except (asyncio.TimeoutError, BearerError):
                    pass
            conn.abort()
        await cancel_and_wait(self._tasks)
        self._tasks = []
        self._bound.clear()
        # Nobody may wait forever on an outcome: what was not submitted fails in this run
        # (a persistent outbox still holds it and the next start sends it), what waits for
        # a receipt counts as submitted.
        for part in self._sending.pending():
            msg = part.msg
            if not msg.done:
                msg.done = True
                if self.config.store and msg.entry_id is not None:
                    # Still accepted: the persistent outbox sends it on the next start. FAILED
                    # here would make a caller retry and the message go twice.
                    msg.submission.resolve(
                        DeliveryState.ACCEPTED, f"link closed; kept in {self.config.store} for the next start"
                    )
                else:
                    msg.submission.resolve(DeliveryState.FAILED, "link closed before submission")
        self._sending.clear()
        for msg in self._sending.awaiting_receipt.values():
            msg.done = True
            msg.submission.resolve(DeliveryState.SUBMITTED, "link closed before the delivery receipt")
        self._sending.awaiting_receipt.clear()
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None
        self._held_bytes = 0
        self._entry_bytes.clear()
        self._close_part_store()
        if self._owns_dead_letters:
            self.dead_letters.close()  # reopened on first use by a later start

    # -- connecting -------------------------------------------------------------------------

    async def _connect(self, label: str) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Conn(self, label), self.config.host, self.config.port),
            self.config.response_timeout,
        )
        return conn

    async def _bind(self, conn: _Conn, command_id: int) -> None:
        c = self.config
        resp = await conn.request(
            P.Bind(command_id, 0, 0, c.system_id, c.password, c.system_type, P.INTERFACE_VERSION,
                   *self._bind_range()),
            c.response_timeout,
        )
        if resp.status != P.ESME_ROK:
            conn.abort()
            raise BindRefused(
                f"SMSC {c.host}:{c.port} refused {P.command_name(command_id)} as {c.system_id!r}: "
                f"{P.status_name(resp.status)}",
                resp.status,
            )

    def _bind_range(self) -> tuple[int, int, str]:
        """(addr_ton, addr_npi, address_range) for the bind."""
        c = self.config
        r = c.address_range
        if not c.address_range_as_given and r.startswith("+") and r[1:].isascii() and r[1:].isdigit():
            return (c.addr_ton or Ton.INTERNATIONAL, c.addr_npi or Npi.ISDN, r[1:])
        return (c.addr_ton, c.addr_npi, r)

    async def _open(self) -> None:
        c = self.config
        opened: list[_Conn] = []
        try:
            if c.bind == "transceiver":
                opened.append(await self._connect("trx"))
                await self._bind(opened[0], P.BIND_TRANSCEIVER)
                self._tx = self._rx = opened[0]
            else:
                opened.append(await self._connect("tx"))
                await self._bind(opened[0], P.BIND_TRANSMITTER)
                opened.append(await self._connect("rx"))
                await self._bind(opened[1], P.BIND_RECEIVER)
                self._tx, self._rx = opened
        except BaseException:
            for conn in opened:  # a half-open pair or an unanswered bind: start over
                conn.abort()
            raise

    async def _supervise(self, first: asyncio.Future[BaseException | None]) -> None:
        c = self.config
        delay = c.reconnect_min
        while not self._closing:
            try:
                await self._open()
            except (EncodeError, ValueError) as exc:  # a config the SMSC can never accept
                if not first.done():
                    first.set_result(BearerError(f"SMPP link {self.name}: {exc}"))
                log.error("smpp %s: cannot bind: %s", self.name, exc)
                return
            except (OSError, asyncio.TimeoutError, BearerError) as exc:
                self.status = _why(exc, c.response_timeout)
                permanent = isinstance(exc, BindRefused) and exc.status in _BIND_PERMANENT
                if not first.done():
                    first.set_result(exc if permanent else None)
                    if permanent:
                        return
                # one warning per outage; the retries after it are INFO (a down SMSC is one event)
                level = logging.WARNING if delay == c.reconnect_min or permanent else logging.INFO
                log.log(level, "smpp %s: connect to %s:%d failed: %s; retry in %.1f s", self.name, c.host, c.port, exc, delay)
                await asyncio.sleep(delay)
                delay = min(c.reconnect_max, delay * 2) if not permanent else c.reconnect_max
                continue
            delay = c.reconnect_min
            self.status = "bound"
            self.connects += 1
            self._bound.set()
            log.info("smpp %s: bound to %s:%d (%s), %d parts queued", self.name, c.host, c.port, c.bind, self.queued)
            if not first.done():
                first.set_result(None)
            sender = asyncio.get_running_loop().create_task(self._sender())
            conns = {c for c in (self._tx, self._rx) if c is not None}
            try:
                await asyncio.wait([conn.lost for conn in conns], return_when=asyncio.FIRST_COMPLETED)
            finally:
                sender.cancel()
                try:
                    await sender
                except (asyncio.CancelledError, Exception):
                    pass
                self._bound.clear()
                for conn in conns:
                    conn.abort()
                self._sending.connection_lost()
                self._work.set()
            if not self._closing:
                log.warning("smpp %s: connection to %s:%d lost; %d parts to resubmit", self.name, c.host, c.port, self.queued)
                await asyncio.sleep(c.reconnect_min)

    # -- sending ------------------------------------------------------------------------------

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
        if not self._started or self.outbox is None:
            raise BearerClosed(f"SMPP link {self.name} is not started")
        if pid or dcs != DCS_8BIT:
            self._check_coding(pid, dcs)
            if pid and self.config.submit_with == "data_sm":
                raise EncodeError(f"SMPP link {self.name}: data_sm has no protocol_id for TP-PID {pid:#04x}")
        to = parse_address(recipient)
        if self.config.concat == "payload" and len(payload) > 0xFFFF:
            raise EncodeError(f"payload of {len(payload)} octets exceeds message_payload's 65535")
        bodies = self._bodies(to, payload, ports, report, pid, dcs)  # raises PayloadTooLarge
        if self._held_bytes + len(payload) > self.config.outbox_max_bytes:
            raise OutboxFull(f"SMPP link {self.name}: outbox holds {self._held_bytes} octets "
                             f"(max {self.config.outbox_max_bytes})")
        mid = self._new_message_id()
        entry = self.outbox.add(mid, str(to), payload, ports=ports, report=report, pid=pid, dcs=dcs)  # OutboxFull
        sub = self._enqueue(entry, to, bodies)
        self._count_sent(to, payload, len(bodies))
        log.debug("smpp %s: to %s id %s: %d octets in %d part(s) accepted", self.name, to, mid, len(payload), len(bodies))
        return sub

    def _new_message_id(self) -> str:
        # unique across restarts and links: the run (start time and random bits) and a counter
        return f"{self._run}-{next(self._ids)}"

    def _expiry(self, created: float) -> float:
        c = self.config
        return parse_validity(c.validity_period, created, c.outbox_validity)

    def _enqueue(self, entry: OutboxEntry, to: Address, bodies: list[bytes]) -> Submission:
        loop = asyncio.get_running_loop()
        self._entry_bytes[entry.id] = len(entry.payload)
        self._held_bytes += len(entry.payload)
        sub = Submission(entry.message_id, to, len(bodies), loop.create_future())
        msg = Outgoing(sub, entry.id, len(bodies), entry.report, loop.time(), self._expiry(entry.created), str(to))
        cid = P.DATA_SM if self.config.submit_with == "data_sm" else P.SUBMIT_SM
        self._sending.add([Part(msg, b, cid) for b in bodies])
        self._work.set()
        return sub

    def _enqueue_stored(self, entry: OutboxEntry) -> None:
        """A message left in the outbox by an earlier run: submit it again, unless its
        validity ended while it waited."""
        if self._expiry(entry.created) <= time.time():
            log.warning("smpp %s: stored message %s to %s expired unsent (validity ended); dropped",
                        self.name, entry.message_id, entry.recipient)
            self.stats.failed += 1
            if self.outbox is not None:
                self.outbox.remove(entry.id)
            return
        try:
            to = parse_address(entry.recipient)
            self._enqueue(entry, to, self._bodies(to, entry.payload, entry.ports, entry.report,
                                                  entry.pid, entry.dcs))
        except (DecodeError, EncodeError) as exc:
            log.error("smpp %s: stored message %s to %s unusable, dropped: %s", self.name, entry.message_id, entry.recipient, exc)
            if self.outbox is not None:
                self.outbox.remove(entry.id)

    def _source(self) -> tuple[int, int, str]:
        a = self.local_address
        if a is None:
            return (0, 0, "")
        return (int(a.ton), int(a.npi), a.value)

    @staticmethod
    def _dest(to: Address) -> tuple[int, int, str]:
        return (int(to.ton), int(to.npi), to.value)

    def _bodies(self, to: Address, payload: bytes, ports: Ports | None, report: bool,
                pid: int = 0, dcs: int = DCS_8BIT) -> list[bytes]:
        c = self.config
        s_ton, s_npi, source = self._source()
        d_ton, d_npi, dest = self._dest(to)
        reg = 1 if report else 0

        def body(esm: int, sm: bytes, tlvs: list[tuple[int, bytes]]) -> bytes:
            if c.submit_with == "data_sm":  # data_sm has no short_message: the data goes in a TLV
                if sm:
                    tlvs = [(P.TLV_MESSAGE_PAYLOAD, sm), *tlvs]
                return P.DataSm(P.DATA_SM, 0, 0, c.service_type, s_ton, s_npi, source, d_ton, d_npi, dest,
                                esm, reg, dcs, tlvs).body()
            return P.ShortMessage(
                P.SUBMIT_SM, 0, 0, c.service_type, s_ton, s_npi, source, d_ton, d_npi, dest,
                esm, pid, 0, "", c.validity_period, reg, 0, dcs, 0, sm, tlvs,
            ).body()

        if c.concat == "payload":
            tlvs = [(P.TLV_MESSAGE_PAYLOAD, payload)]
            if ports is not None:
                tlvs += [P.tlv_u16(P.TLV_DESTINATION_PORT, ports.destination), P.tlv_u16(P.TLV_SOURCE_PORT, ports.source)]
            return [body(0, b"", tlvs)]
        parts = self._split(to, payload, ports)
        out = []
        for ud in parts:
            if c.concat == "sar" and ud.concat is not None:
                cc = ud.concat
                rest = Udh(tuple(ie for ie in ud.udh.elements if ie.iei not in (0x00, 0x08)))  # type: ignore[union-attr]
                sm = (rest.encode() + ud.data) if rest.elements else ud.data
                tlvs = [
                    P.tlv_u16(P.TLV_SAR_MSG_REF_NUM, cc.reference),
                    P.tlv_u8(P.TLV_SAR_TOTAL_SEGMENTS, cc.total),
                    P.tlv_u8(P.TLV_SAR_SEGMENT_SEQNUM, cc.seq),
                ]
                out.append(body(P.ESM_UDHI if rest.elements else 0, sm, tlvs))
            else:
                out.append(body(P.ESM_UDHI if ud.udhi else 0, ud.encode(), []))
        return out

    async def send_segment(self, segment: SmsSegment, *, report: bool = False) -> Submission:
        if not self._started:
            raise BearerClosed(f"SMPP link {self.name} is not started")
        if self.queued >= self._segment_queue_max:
            raise BearerError(f"SMPP link {self.name}: {self.queued} parts queued; refusing more")
        c = self.config
        s, d = segment.sender, segment.recipient
        body = P.ShortMessage(
            P.SUBMIT_SM, 0, 0, c.service_type, int(s.ton), int(s.npi), s.value,
            int(d.ton), int(d.npi), d.value, P.ESM_UDHI if segment.user_data.udhi else 0,
            segment.pid, 0, "", c.validity_period, 1 if report else 0, 0, segment.dcs, 0,
            segment.user_data.encode(), [],
        ).body()
        loop = asyncio.get_running_loop()
        sub = Submission(self._new_message_id(), d, 1, loop.create_future())
        msg = Outgoing(sub, None, 1, report, loop.time(), recipient=str(d))
        self._sending.add([Part(msg, body)])
        self._work.set()
        self.stats.sms_sent += 1
        return sub

    async def _sender(self) -> None:
        """Write what the window allows; sleep until a resp, new parts or the next due time."""
        loop = asyncio.get_running_loop()
        tx = self._tx
        assert tx is not None
        sending, work = self._sending, self._work
        while tx.alive:
            out = sending.take(loop.time(), tx.session.next_sequence)
            if out:
                tx.write_raw(b"".join(out))
            wake = sending.wake_at(loop.time())
            work.clear()
            if wake is None:
                await work.wait()
                continue
            delay = wake - loop.time()
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await work.wait()
                except TimeoutError:
                    pass

    def _on_submit_resp(self, conn: _Conn, pdu: P.MessageIdResp, nack: bool = False) -> None:
        if conn is not self._tx or not self._sending.on_resp(
            pdu.sequence, pdu.status, pdu.message_id, asyncio.get_running_loop().time(), nack=nack
        ):
            log.info("smpp %s: %s for unknown seq %d", self.name, pdu.name, pdu.sequence)
            return
        self._work.set()

    def _finished(self, msg: Outgoing) -> None:
        """A message left the window for good (all parts acknowledged, or failed)."""
        if msg.entry_id is not None:
            self._held_bytes -= self._entry_bytes.pop(msg.entry_id, 0)
            if self.outbox is not None:
                self.outbox.remove(msg.entry_id)

    # -- receiving ------------------------------------------------------------------------------

    def set_segment_receiver(self, handler: SegmentHandler | None) -> None:
        self._segment_handler = handler

    def _on_pdu(self, conn: _Conn, pdu: P.Pdu) -> None:
        cid = pdu.command_id
        if cid == P.SUBMIT_SM_RESP or cid == P.DATA_SM_RESP:
            self._on_submit_resp(conn, pdu)  # type: ignore[arg-type]
        elif cid == P.DELIVER_SM or cid == P.DATA_SM:
            if isinstance(pdu, P.DataSm):  # the same fields, the data in TLVs
                pdu = P.ShortMessage(
                    P.DATA_SM, pdu.sequence, 0, pdu.service_type, pdu.source_addr_ton, pdu.source_addr_npi,
                    pdu.source_addr, pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr,
                    pdu.esm_class, 0, 0, "", "", pdu.registered_delivery, 0, pdu.data_coding, 0, b"", pdu.tlvs,
                )
            self._inbound.put_nowait((conn, pdu))  # type: ignore[arg-type]
            if self._inbound.qsize() >= self.config.window:
                # An SMSC that ignores its window must not grow this queue without bound:
                # stop reading until the receive worker catches up (TCP pushes back).
                conn.hold_inbound = True
                conn.update_reading()
                self._paused.add(conn)
        elif cid == P.ENQUIRE_LINK:
            conn.write(P.Bare(P.ENQUIRE_LINK_RESP, pdu.sequence))
        elif cid == P.UNBIND:
            log.info("smpp %s: SMSC unbinds", self.name)
            conn.write(P.Bare(P.UNBIND_RESP, pdu.sequence))
            if conn.transport is not None:
                conn.transport.close()
        elif cid == P.GENERIC_NACK and conn is self._tx and pdu.sequence in self._sending.inflight:
            # Some SMSCs throttle with a generic_nack: the same back-off and retries as a
            # submit_sm_resp with that status; any other is a submit_sm the SMSC could not
            # parse, a permanent failure.
            self._on_submit_resp(conn, P.MessageIdResp(P.SUBMIT_SM_RESP, pdu.sequence, pdu.status or P.ESME_RUNKNOWNERR), nack=True)
        elif pdu.is_response:
            fut = conn.requests.get(pdu.sequence)
            if fut is not None and not fut.done():
                fut.set_result(pdu)
        else:
            conn.write(P.Bare(P.GENERIC_NACK, pdu.sequence, P.ESME_RINVCMDID))

    async def _receive_worker(self) -> None:
        while True:
            conn, sm = await self._inbound.get()
            if self._paused and self._inbound.qsize() < self.config.window // 2:
                for paused in self._paused:
                    paused.hold_inbound = False
                    paused.update_reading()
                self._paused.clear()
            if conn.transport is None or conn.transport.is_closing():
                continue  # its connection is gone: the SMSC delivers it again after a rebind
            status = P.ESME_ROK
            kind = sm.esm_class & P.ESM_TYPE_MASK
            try:
                if kind == P.ESM_DELIVERY_RECEIPT:
                    self._on_receipt(sm)
                elif kind:
                    self._on_notification(sm, kind)
                elif self._handler is None and self._segment_handler is None:
                    # Nobody to hand it to (yet): let the SMSC keep it and retry, rather than
                    # acknowledge and drop it as the base class would.
                    log.info("smpp %s: from %s: no receiver set; deliver_sm refused for a retry", self.name, sm.source_addr)
                    status = P.ESME_RX_T_APPN
                else:
                    status = await self._on_mo(sm)
            except asyncio.CancelledError:
                raise
            except BearerError as exc:
                # Expected pushback (a modem's SIM store full, no receiver): the SMSC keeps
                # the message and retries; one line, no traceback.
                log.info("smpp %s: from %s: not taken now (%s); the SMSC will retry", self.name, sm.source_addr, exc)
                status = P.ESME_RX_T_APPN
            except Exception:
                # A receipt or notification we failed on: ask the SMSC to retry later.
                log.exception("smpp %s: from %s: deliver_sm handling failed", self.name, sm.source_addr)
                status = P.ESME_RX_T_APPN
            if status != P.ESME_ROK:
                self.deferred += 1
            resp = P.DATA_SM_RESP if sm.command_id == P.DATA_SM else P.DELIVER_SM_RESP
            conn.write(P.MessageIdResp(resp, sm.sequence, status))

    async def _on_mo(self, sm: P.ShortMessage) -> int:
        """Hand up one mobile-originated SMS; the status to answer. BearerError (pushback)
        goes to the caller."""
        try:
            mo = decode_mo(sm, unknown_ton_international=self.config.unknown_ton_international)
        except (DecodeError, EncodeError) as exc:
            # A retry would fail the same way: keep it raw, then acknowledge it.
            return self._dead_letter(sm, f"undecodable: {exc}")
        pid = getattr(sm, "protocol_id", 0)  # data_sm has none
        try:
            if self._segment_handler is not None:
                self.stats.sms_received += 1
                await self._segment_handler(
                    SmsSegment(mo.sender, mo.recipient or self.local_address or mo.sender, mo.user_data, sm.data_coding,
                               pid))
            else:
                await self._receive_part(mo.sender, mo.user_data, mo.recipient, mo.dcs, pid)
        except BearerError:
            raise
        except Exception as exc:
            # Ask the SMSC to retry later rather than lose it, but not forever: a poison
            # message would come back for as long as the SMSC keeps it.
            key = _failure_key(sm)
            failures = self._handler_failures.failed(key)
            if not self._handler_failures.poisoned(failures):
                log.exception("smpp %s: from %s: receiver failed (%d of %d tries); the SMSC will retry",
                              self.name, sm.source_addr, failures, self._handler_failures.limit)
                return P.ESME_RX_T_APPN
            log.exception("smpp %s: from %s: receiver failed %d times", self.name, sm.source_addr, failures)
            reason = f"receiver failed {failures} times: {type(exc).__name__}: {exc}"
            # a long message_payload would not fit the row's hex column (1,000 octets): keep it whole
            payload = mo.user_data.data if len(mo.user_data.data) > 1000 else None
            pkey = part_key(str(mo.sender), mo.user_data) if self._segment_handler is None else None
            if pkey is not None:
                # the earlier parts were acknowledged: the reassembled payload keeps them
                concat = mo.user_data.concat
                assert concat is not None
                chunks = self._reassembler.held_parts(pkey)
                chunks[concat.seq] = mo.user_data.data
                payload = (b"".join(chunks[i] for i in range(1, concat.total + 1))
                           if len(chunks) == concat.total else None)
                reason = (f"receiver failed {failures} times (message of {concat.total} parts, reference "
                          f"{concat.reference}{', payload kept' if payload is not None else ''}): "
                          f"{type(exc).__name__}: {exc}")
            status = self._dead_letter(sm, reason, payload=payload)
            if status == P.ESME_ROK and pkey is not None:
                self._discard_message(pkey)
            return status
        if self._handler_failures:
            self._handler_failures.forget(_failure_key(sm))
        return P.ESME_ROK

    def _dead_letter(self, sm: P.ShortMessage, reason: str, *, payload: bytes | None = None) -> int:
        """Keep a deliver_sm that cannot be handed up, raw; ESME_ROK once kept, ESME_RX_T_APPN
        if the store refused it (the SMSC keeps it and retries)."""
        kind = "data_sm" if sm.command_id == P.DATA_SM else "deliver_sm"
        field = "message_payload" if sm.tlvs and sm.tlv(P.TLV_MESSAGE_PAYLOAD) is not None else "short_message"
        where = (f"{kind} from {sm.source_addr} seq {sm.sequence}: {field}, esm_class {sm.esm_class:#04x}, "
                 f"data_coding {sm.data_coding:#04x}, source TON {sm.source_addr_ton} NPI {sm.source_addr_npi}")
        data = _data_of(sm).hex()
        try:
            self.dead_letters.add(f"smpp {self.name}", where, data, reason[:500], payload=payload)
        except sqlite3.Error as exc:
            log.error("smpp %s: from %s: %s not stored as a dead letter (%s: %s); the SMSC will retry",
                      self.name, sm.source_addr, kind, reason, exc)
            return P.ESME_RX_T_APPN
        self.dead_lettered += 1
        log.warning("smpp %s: from %s: %s kept as a dead letter, acknowledged (%s): %s",
                    self.name, sm.source_addr, kind, reason, data[:400])
        return P.ESME_ROK

    _NOTIFICATIONS = {
        P.ESM_SME_ACK: "SME delivery acknowledgement",
        P.ESM_USER_ACK: "SME manual/user acknowledgement",
        P.ESM_INTERMEDIATE: "intermediate delivery notification",
    }

    def _on_notification(self, sm: P.ShortMessage, kind: int) -> None:
        """A deliver_sm that is neither data nor a delivery receipt (esm_class type 0x08,
        0x10, 0x20, ...): logged and counted as what it is, never handed up as data."""
        what = self._NOTIFICATIONS.get(kind, f"esm_class type {kind:#04x}")
        self.notifications += 1
        receipt = parse_receipt(sm)
        about = f" for id {receipt.message_id} ({receipt.stat})" if receipt is not None else ""
        log.info("smpp %s: from %s: %s%s", self.name, sm.source_addr, what, about)

    def _on_receipt(self, sm: P.ShortMessage) -> None:
        receipt = parse_receipt(sm)
        if receipt is None:
            log.info("smpp %s: receipt without a message id from %s dropped", self.name, sm.source_addr)
            return
        self._sending.on_receipt(receipt)

    # -- keep-alive, timeouts -------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        c = self.config
        loop = asyncio.get_running_loop()
        last_enquire = loop.time()
        while True:
            await asyncio.sleep(min(1.0, c.enquire_link_interval, c.response_timeout / 2))
            now = loop.time()
            stuck = self._sending.tick(now, time.time())
            for conn in {self._tx, self._rx}:
                if conn is None or not conn.alive or not conn.session.bound:
                    continue
                if stuck and conn is self._tx:
                    log.warning("smpp %s: no submit_sm_resp in %.0f s; reconnecting", self.name, c.response_timeout)
                    conn.abort()
                    continue
                if now - last_enquire >= c.enquire_link_interval:
                    loop.create_task(self._enquire(conn))
            if now - last_enquire >= c.enquire_link_interval:
                last_enquire = now

    async def _enquire(self, conn: _Conn) -> None:
        try:
            await conn.request(P.Bare(P.ENQUIRE_LINK), self.config.response_timeout)
        except (asyncio.TimeoutError, BearerError):
            log.warning("smpp %s: enquire_link unanswered; reconnecting", self.name)
            conn.abort()

"""The simulated SMSC: an asyncio SMPP 3.4 server that routes SMS between binds by MSISDN.

ESMEs bind (transmitter, receiver or transceiver) with a system_id and password checked
against :class:`~smsc.config.SmscConfig` (open access when no accounts are configured). A
bind's ``address_range`` says which MSISDNs it serves: a plain number (``+15550001`` or
``15550001``) is an exact match, anything else an SMPP regular expression (Python ``re``
syntax, matched at the start of the digits, with or without ``+``). If the bind gives none,
the account's ``address_range`` from the config is used. One bind may serve a whole farm.

Each accepted submit_sm gets a message id, is written to the store (if configured) and only
then acknowledged; it is delivered as a deliver_sm to a receiving bind whose range matches
the destination. With no route, or when the receiver does not acknowledge, the message waits
and is retried with doubling back-off until its validity period ends, then a failed receipt
(stat:EXPIRED) goes back if one was asked for; a delivered one gives stat:DELIVRD. Receipts
are messages too: they go to a receiving bind of the submitter's system_id, and wait if
there is none. Each submit_sm is one SMS to the SMSC: concatenated messages are routed part
by part, as real SMSCs do.

Impairments (:class:`~smsc.config.Impairments`, mutable at run time through
``server.impairments``) act on delivery: fixed latency plus jitter, loss, duplication,
reordering (a share held back), per-bind throttling (ESME_RTHROTTLED on submit_sm) and
forced disconnects (:meth:`SimulatedSmsc.disconnect` or every N seconds).

The protocol handler is an :class:`asyncio.Protocol` (no per-PDU coroutine: the hot path
decodes, routes and writes synchronously in ``data_received``) around the sans-IO
:class:`~smsc.session.SmppSession`. Any exception while handling a connection's bytes is
logged and closes that connection only.

Known limits: no submit_multi, data_sm, query_sm, replace_sm, cancel_sm (answered with
generic_nack ESME_RINVCMDID); schedule_delivery_time is ignored; no outbind.
"""

from __future__ import annotations

import asyncio
import calendar
import collections
import heapq
import itertools
import logging
import os
import random
import re
import time
from dataclasses import dataclass
from typing import Callable

from . import pdu as P
from .config import Impairments, SmscConfig
from .receipt import receipt_text, receipt_tlvs
from .session import BadPdu, FramingError, Role, SmppSession
from .store import MessageStore, StoredRow

__all__ = ["SimulatedSmsc", "SmscStats", "parse_validity"]

log = logging.getLogger(__name__)

_PASS_TLVS = {
    P.TLV_SAR_MSG_REF_NUM, P.TLV_SAR_TOTAL_SEGMENTS, P.TLV_SAR_SEGMENT_SEQNUM,
    P.TLV_MESSAGE_PAYLOAD, P.TLV_SOURCE_PORT, P.TLV_DESTINATION_PORT,
    P.TLV_USER_MESSAGE_REFERENCE,
}
# deliver_sm_resp statuses that a retry will not change: the message fails at once.
_PERMANENT_DELIVERY_ERRORS = {P.ESME_RX_P_APPN, P.ESME_RX_R_APPN, P.ESME_RINVDSTADR}
_PLAIN_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_VALIDITY = re.compile(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d)(\d\d)([+\-R])")


def parse_validity(text: str, now: float, default: float) -> float:
    """The expiry (epoch seconds) of an SMPP time (5.2.15): relative ``...R`` or absolute
    with a quarter-hour UTC offset. Empty gives ``now + default``. Raises ValueError."""
    if not text:
        return now + default
    m = _VALIDITY.fullmatch(text)
    if not m:
        raise ValueError(f"validity_period {text!r} is not an SMPP time")
    yy, mo, dd, hh, mi, ss, _t, nn, p = m.groups()
    if p == "R":
        secs = ((((int(yy) * 365 + int(mo) * 30 + int(dd)) * 24 + int(hh)) * 60 + int(mi)) * 60) + int(ss)
        return now + secs
    epoch = calendar.timegm((2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), 0, 0, 0))
    offset = int(nn) * 900
    return epoch - offset if p == "+" else epoch + offset


@dataclass
class SmscStats:
    submitted: int = 0
    delivered: int = 0
    receipts: int = 0
    expired: int = 0
    lost: int = 0
    duplicated: int = 0
    throttled: int = 0
    rejected: int = 0
    redelivered: int = 0
    bad_pdus: int = 0
    internal_errors: int = 0  # bugs: exceptions caught at a connection's boundary
    binds: int = 0
    queued: int = 0

    def line(self) -> str:
        return (
            f"binds {self.binds} submitted {self.submitted} delivered {self.delivered}"
            f" queued {self.queued} receipts {self.receipts} expired {self.expired}"
            f" throttled {self.throttled} lost {self.lost} duplicated {self.duplicated}"
        )


class _Message:
    """A message (or receipt) the SMSC holds until it is acknowledged or expires."""

    __slots__ = ("row", "attempts", "next_try", "copy")

    def __init__(self, row: StoredRow, copy: bool = False) -> None:
        self.row = row
        self.attempts = 0
        self.next_try = 0.0
        self.copy = copy  # a duplicate injected by the impairments: its ack changes nothing


class _Matcher:
    """An address_range: exact number or regular expression."""

    def __init__(self, address_range: str) -> None:
        self.text = address_range
        self.exact: str | None = None
        self.regex: re.Pattern[str] | None = None
        if not address_range:
            return
        if _PLAIN_NUMBER.fullmatch(address_range):
            self.exact = address_range.lstrip("+")
        else:
            self.regex = re.compile(address_range)  # re.error: the bind is refused

    def matches(self, digits: str) -> bool:
        if self.exact is not None:
            return self.exact == digits
        if self.regex is not None:
            return bool(self.regex.match(digits) or self.regex.match("+" + digits))
        return False


class _Bind(asyncio.Protocol):
    """One ESME connection."""

    def __init__(self, smsc: "SimulatedSmsc") -> None:
        self.smsc = smsc
        self.session = SmppSession(Role.SMSC)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.system_id = ""
        self.matcher = _Matcher("")
        self.outbound: collections.deque[_Message] = collections.deque()
        self.inflight: dict[int, tuple[_Message, float]] = {}
        self.window = smsc.config.deliver_window
        self.closed = False
        self.throttle = 0.0
        self._tokens = 0.0
        self._token_time = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.smsc._conns.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.session.receive_data(data)
            while not self.closed:
                event = self.session.next_event()
                if event is None:
                    break
                if isinstance(event, BadPdu):
                    self.smsc.stats.bad_pdus += 1
                    log.info("smsc %s %s: bad PDU: %s", self.peer, self.system_id, event.error)
                    if event.reply is not None:
                        self.write(event.reply)
                    continue
                self.handle(event)
        except FramingError as exc:
            self.smsc.stats.bad_pdus += 1
            log.warning("smsc %s %s: %s; closing", self.peer, self.system_id, exc)
            self.write(P.Bare(P.GENERIC_NACK, 0, P.ESME_RINVCMDLEN))
            self.close()
        except Exception:  # never let one connection's bytes take the server down
            self.smsc.stats.internal_errors += 1
            log.exception("smsc %s %s: error handling input; closing", self.peer, self.system_id)
            self.abort()

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.smsc._conns.discard(self)
        self.smsc._unbound(self)

    # -- I/O helpers ------------------------------------------------------------------------

    def write(self, pdu: P.Pdu) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.session.send(pdu))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- requests ---------------------------------------------------------------------------

    def handle(self, pdu: P.Pdu) -> None:
        cid = pdu.command_id
        if cid == P.SUBMIT_SM:
            self.write(self.smsc._submit(self, pdu))  # type: ignore[arg-type]
        elif cid == P.DELIVER_SM_RESP:
            entry = self.inflight.pop(pdu.sequence, None)
            if entry is not None:
                self.smsc._acked(self, entry[0], pdu.status)
                self.pump()
        elif cid == P.ENQUIRE_LINK:
            self.write(P.Bare(P.ENQUIRE_LINK_RESP, pdu.sequence))
        elif cid in P.BINDS:
            self.write(self.smsc._bind(self, pdu))  # type: ignore[arg-type]
        elif cid == P.UNBIND:
            self.write(P.Bare(P.UNBIND_RESP, pdu.sequence))
            log.info("smsc %s %s: unbind", self.peer, self.system_id)
            self.close()
        elif cid in (P.ENQUIRE_LINK_RESP, P.UNBIND_RESP, P.GENERIC_NACK):
            if cid == P.GENERIC_NACK:
                log.info("smsc %s %s: generic_nack seq %d status %s", self.peer, self.system_id, pdu.sequence, P.status_name(pdu.status))
        else:  # a response we never asked for, or a request we do not serve
            if not pdu.is_response:
                self.write(P.Bare(P.GENERIC_NACK, pdu.sequence, P.ESME_RINVCMDID))

    def take_token(self, now: float) -> bool:
        rate = self.throttle or self.smsc.impairments.throttle
        if not rate:
            return True
        # A bucket of 100 ms worth of messages: short bursts pass, sustained excess does not.
        if not self._token_time:
            self._tokens, self._token_time = max(1.0, rate * 0.1), now
        self._tokens = min(max(1.0, rate * 0.1), self._tokens + (now - self._token_time) * rate)
        self._token_time = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    # -- deliveries ---------------------------------------------------------------------------

    def pump(self) -> None:
        """Send queued deliver_sm while the window has room."""
        if self.closed or self.transport is None:
            return
        now = time.monotonic()
        write = self.transport.write
        session = self.session
        out = []
        while self.outbound and len(self.inflight) < self.window:
            msg = self.outbound.popleft()
            seq = session.next_sequence()
            body = msg.row.body
            out.append(P.HEADER.pack(16 + len(body), P.DELIVER_SM, 0, seq) + body)
            self.inflight[seq] = (msg, now)
        if out:
            write(b"".join(out))

    @property
    def load(self) -> int:
        return len(self.outbound) + len(self.inflight)


class SimulatedSmsc:
    """The SMSC. ``await start(host, port)``; ``port`` then holds the bound port."""

    def __init__(self, config: SmscConfig | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config or SmscConfig()
        self.impairments: Impairments = self.config.impairments
        self.stats = SmscStats()
        self.store = MessageStore(self.config.store)
        self.host = "127.0.0.1"
        self.port = 0
        self._clock = clock
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[_Bind] = set()
        self._receivers: set[_Bind] = set()
        self._regex_receivers: dict[_Bind, None] = {}  # an ordered set
        self._exact: dict[str, list[_Bind]] = {}
        self._by_system_id: dict[str, list[_Bind]] = {}
        self._waiting: dict[str, _Message] = {}  # no route / retry later, by message id
        # (next_try, tiebreak, message): a lazy heap; entries whose message moved on or got a
        # new next_try are skipped when popped, so a tick costs O(due log n), not O(waiting).
        self._due: list[tuple[float, int, _Message]] = []
        self._tiebreak = itertools.count()
        self._held = 0  # messages in delay timers, bind queues or windows
        self._ids = itertools.count(1)
        self._run = f"{int(time.time() * 1000) & 0xFFFFFFFFFF:x}{os.getpid() & 0xFFFF:04x}"
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._wake = asyncio.Event()
        self._rng = random.Random(self.impairments.seed)
        self._last_disconnect = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 2775) -> None:
        loop = asyncio.get_running_loop()
        for row in self.store.load():
            self._wait(_Message(row), 0.0)
        if self._waiting:
            log.info("smsc: %d stored messages loaded", len(self._waiting))
        self._server = await loop.create_server(lambda: _Bind(self), host, port)
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        self._tasks.append(loop.create_task(self._scheduler()))
        log.info("smsc listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        if self._server is not None:
            # Python 3.11's wait_closed may wait for a connection whose transport is being
            # torn down by the abort above; do not let a stop hang on it.
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                log.debug("smsc: wait_closed timed out")
            self._server = None
        self.store.close()

    async def __aenter__(self) -> "SimulatedSmsc":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def disconnect(self, system_id: str | None = None) -> int:
        """Drop the connections of ``system_id`` (all when None) without unbind: a forced
        disconnect. Returns how many were dropped."""
        n = 0
        for conn in list(self._conns):
            if system_id is None or conn.system_id == system_id:
                conn.abort()
                n += 1
        log.info("smsc: forced disconnect of %d connection(s)", n)
        return n

    @property
    def binds(self) -> list[tuple[str, str, str]]:
        """(system_id, bind state, address_range) of every bound connection."""
        return [(c.system_id, c.session.state.value, c.matcher.text) for c in self._conns if c.session.bound]

    @property
    def queued(self) -> int:
        return len(self._waiting) + self._held

    def refresh_stats(self) -> None:
        """Bring the gauges of :attr:`stats` (binds, queued) up to date; the retry loop does
        it each round, a caller that prints them now does it first."""
        self.stats.binds = sum(1 for c in self._conns if c.session.bound)
        self.stats.queued = self.queued

    # -- bind ---------------------------------------------------------------------------------

    def _bind(self, conn: _Bind, pdu: P.Bind) -> P.Pdu:
        resp_id = pdu.command_id | P.RESPONSE_BIT
        cfg = self.config
        account = cfg.account(pdu.system_id)
        if not cfg.open_access:
            if account is None:
                log.info("smsc %s: bind as %r refused: unknown system_id", conn.peer, pdu.system_id)
                return P.BindResp(resp_id, pdu.sequence, P.ESME_RINVSYSID)
            if account.password != pdu.password:
                log.info("smsc %s: bind as %r refused: wrong password", conn.peer, pdu.system_id)
                return P.BindResp(resp_id, pdu.sequence, P.ESME_RINVPASWD)
        address_range = pdu.address_range or (account.address_range if account else "")
        try:
            conn.matcher = _Matcher(address_range)
        except re.error as exc:
            log.info("smsc %s: bind as %r refused: address_range %r: %s", conn.peer, pdu.system_id, address_range, exc)
            return P.BindResp(resp_id, pdu.sequence, P.ESME_RBINDFAIL)
        conn.system_id = pdu.system_id
        conn.throttle = account.throttle if account else 0.0
        # 5.3.2.25: sc_interface_version only to ESMEs that speak 3.4 (TLVs are new in 3.4)
        tlvs = [P.tlv_u8(P.TLV_SC_INTERFACE_VERSION, P.INTERFACE_VERSION)] if pdu.interface_version >= 0x34 else []
        resp = P.BindResp(resp_id, pdu.sequence, P.ESME_ROK, cfg.system_id, tlvs)
        if pdu.command_id in (P.BIND_RECEIVER, P.BIND_TRANSCEIVER):
            self._receivers.add(conn)
            if conn.matcher.exact is not None:
                self._exact.setdefault(conn.matcher.exact, []).append(conn)
            elif conn.matcher.regex is not None:
                self._regex_receivers[conn] = None
            self._by_system_id.setdefault(conn.system_id, []).append(conn)
            # a new receiver: what waits for it goes now, not at its next retry
            for msg in self._waiting.values():
                row = msg.row
                if (row.to_system_id == conn.system_id) if row.to_system_id else conn.matcher.matches(row.dest):
                    msg.next_try = 0.0
                    heapq.heappush(self._due, (0.0, next(self._tiebreak), msg))
            self._wake.set()
        log.info("smsc %s: %s as %r range %r", conn.peer, P.command_name(pdu.command_id), pdu.system_id, address_range)
        return resp

    def _unbound(self, conn: _Bind) -> None:
        if conn in self._receivers:
            self._receivers.discard(conn)
            self._regex_receivers.pop(conn, None)
            if conn.matcher.exact is not None:
                lst = self._exact.get(conn.matcher.exact, [])
                if conn in lst:
                    lst.remove(conn)
                if not lst:
                    self._exact.pop(conn.matcher.exact, None)
            lst = self._by_system_id.get(conn.system_id, [])
            if conn in lst:
                lst.remove(conn)
        # Unacknowledged and queued deliveries go back to wait for a route.
        pending = [m for m, _ in conn.inflight.values()] + list(conn.outbound)
        conn.inflight.clear()
        conn.outbound.clear()
        for msg in pending:
            self._held -= 1
            if not msg.copy:
                self._wait(msg, 0.0)
        if conn.system_id:
            log.info("smsc %s %s: connection closed, %d deliveries requeued", conn.peer, conn.system_id, len(pending))

    # -- submit ---------------------------------------------------------------------------

    def _submit(self, conn: _Bind, sm: P.ShortMessage) -> P.Pdu:
        seq = sm.sequence
        dest = sm.destination_addr.lstrip("+")
        if not dest:
            return P.MessageIdResp(P.SUBMIT_SM_RESP, seq, P.ESME_RINVDSTADR)
        if len(sm.short_message) > self.config.max_short_message:
            self.stats.rejected += 1
            log.info("smsc %s: submit_sm to %s: short_message of %d octets refused", conn.system_id, sm.destination_addr, len(sm.short_message))
            return P.MessageIdResp(P.SUBMIT_SM_RESP, seq, P.ESME_RINVMSGLEN)
        if self.queued >= self.config.max_queue:
            self.stats.rejected += 1
            return P.MessageIdResp(P.SUBMIT_SM_RESP, seq, P.ESME_RMSGQFUL)
        mono = time.monotonic()
        if not conn.take_token(mono):
            self.stats.throttled += 1
            return P.MessageIdResp(P.SUBMIT_SM_RESP, seq, P.ESME_RTHROTTLED)
        now = self._clock()
        try:
            expires = parse_validity(sm.validity_period, now, self.config.validity)
        except ValueError:
            return P.MessageIdResp(P.SUBMIT_SM_RESP, seq, P.ESME_RINVEXPIRY)
        mid = f"{self._run}{next(self._ids):06x}"
        deliver = P.ShortMessage(
            P.DELIVER_SM, 0, 0, sm.service_type,
            sm.source_addr_ton, sm.source_addr_npi, sm.source_addr,
            sm.dest_addr_ton, sm.dest_addr_npi, sm.destination_addr,
            sm.esm_class & P.ESM_UDHI, sm.protocol_id, sm.priority_flag, "", "", 0, 0,
            sm.data_coding, 0, sm.short_message,
            [t for t in sm.tlvs if t[0] in _PASS_TLVS] if sm.tlvs else [],
        )
        row = StoredRow(mid, deliver.body(), dest, "", conn.system_id, sm.registered_delivery & 3, now, expires)
        self.store.add(row)  # committed before the resp: a kill after this loses nothing
        self.stats.submitted += 1
        log.debug("smsc %s: submit_sm %s -> %s id %s", conn.system_id, sm.source_addr, sm.destination_addr, mid)
        self._dispatch(_Message(row))
        return P.MessageIdResp(P.SUBMIT_SM_RESP, seq, P.ESME_ROK, mid)

    # -- routing and delivery ---------------------------------------------------------------

    def _route(self, row: StoredRow) -> _Bind | None:
        if row.to_system_id:
            cands = [c for c in self._by_system_id.get(row.to_system_id, ()) if not c.closed]
        else:
            cands = [c for c in self._exact.get(row.dest, ()) if not c.closed]
            if not cands:
                cands = [c for c in self._regex_receivers if not c.closed and c.matcher.matches(row.dest)]
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0]
        return min(cands, key=lambda c: c.load)

    def _dispatch(self, msg: _Message) -> None:
        """Send a message on its way, through the impairments."""
        imp = self.impairments
        self._held += 1
        if not msg.copy and not msg.row.to_system_id:
            if imp.loss and self._rng.random() * 100 < imp.loss:
                self._held -= 1
                self.stats.lost += 1
                self._forget(msg)
                log.info("smsc: message %s to %s lost (impairment)", msg.row.message_id, msg.row.dest)
                return
            if imp.duplicate and self._rng.random() * 100 < imp.duplicate:
                self.stats.duplicated += 1
                self._dispatch(_Message(msg.row, copy=True))
        delay = 0.0
        if imp.delays:
            delay = imp.latency + (self._rng.random() * imp.jitter if imp.jitter else 0.0)
            if imp.reorder and self._rng.random() * 100 < imp.reorder:
                delay += imp.reorder_delay
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._deliver, msg)
        else:
            self._deliver(msg)

    def _deliver(self, msg: _Message) -> None:
        conn = self._route(msg.row)
        if conn is None:
            self._held -= 1
            if msg.copy:
                return
            msg.attempts += 1
            self._wait(msg, self._backoff(msg))
            return
        conn.outbound.append(msg)
        conn.pump()

    def _backoff(self, msg: _Message) -> float:
        return min(self.config.retry_max, self.config.retry_min * (2 ** max(0, msg.attempts - 1)))

    def _wait(self, msg: _Message, delay: float) -> None:
        # wake up at expiry at the latest, so the failure receipt is not late by a back-off
        delay = max(0.0, min(delay, msg.row.expires - self._clock()))
        msg.next_try = time.monotonic() + delay
        self._waiting[msg.row.message_id] = msg
        heapq.heappush(self._due, (msg.next_try, next(self._tiebreak), msg))

    def _acked(self, conn: _Bind, msg: _Message, status: int) -> None:
        self._held -= 1
        row = msg.row
        if msg.copy:
            return
        if status in _PERMANENT_DELIVERY_ERRORS and not row.to_system_id:
            log.info("smsc %s: deliver_sm id %s to %s refused: %s", conn.system_id, row.message_id, row.dest, P.status_name(status))
            self._forget(msg)
            if row.dlr in (1, 2):
                self._receipt(row, "UNDELIV", status)
            return
        if status != P.ESME_ROK:
            msg.attempts += 1
            log.info("smsc %s: deliver_sm id %s to %s answered %s; retry", conn.system_id, row.message_id, row.dest or row.to_system_id, P.status_name(status))
            self._wait(msg, self._backoff(msg))
            return
        self._forget(msg)
        if row.to_system_id:
            self.stats.receipts += 1
            return
        self.stats.delivered += 1
        if msg.attempts:
            self.stats.redelivered += 1
        if row.dlr == 1:  # 2 asks for failure receipts only
            self._receipt(row, "DELIVRD")

    def _forget(self, msg: _Message) -> None:
        self.store.remove(msg.row.message_id)

    def _receipt(self, row: StoredRow, stat: str, error: int = 0) -> None:
        """Queue a delivery receipt for ``row`` to its submitter."""
        orig = P.decode(P.HEADER.pack(16 + len(row.body), P.DELIVER_SM, 0, 0) + row.body)
        assert isinstance(orig, P.ShortMessage)
        now = self._clock()
        sm = P.ShortMessage(
            P.DELIVER_SM, 0, 0, "",
            orig.dest_addr_ton, orig.dest_addr_npi, orig.destination_addr,
            orig.source_addr_ton, orig.source_addr_npi, orig.source_addr,
            P.ESM_DELIVERY_RECEIPT, 0, 0, "", "", 0, 0, 0, 0,
            receipt_text(row.message_id, stat, submitted=row.submitted, done=now, error=error),
            receipt_tlvs(row.message_id, stat),
        )
        rid = f"{row.message_id}r"
        rrow = StoredRow(rid, sm.body(), "", row.origin, row.origin, 0, now, now + self.config.validity)
        self.store.add(rrow)
        self._dispatch(_Message(rrow))

    # -- retries, expiry, forced disconnects -------------------------------------------------

    async def _scheduler(self) -> None:
        # Not asyncio.wait_for: on Python 3.11 it can swallow the cancellation that stops
        # this task when the event fires at the same moment (fixed in 3.12).
        while not self._closing:
            if not self._wake.is_set():
                try:
                    async with asyncio.timeout(0.1):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            try:
                self._tick()
            except Exception:
                log.exception("smsc: scheduler error")

    def _tick(self) -> None:
        mono = time.monotonic()
        now = self._clock()
        imp = self.impairments
        if imp.disconnect_every and mono - self._last_disconnect >= imp.disconnect_every:
            self._last_disconnect = mono
            self.disconnect()
        # deliver_sm without a resp in time: the receiver is stuck; retry elsewhere/later
        timeout = self.config.deliver_timeout
        for conn in list(self._conns):
            stale = [s for s, (_, t) in conn.inflight.items() if mono - t > timeout]
            for seq in stale:
                msg, _ = conn.inflight.pop(seq)
                self._held -= 1
                if not msg.copy:
                    msg.attempts += 1
                    log.info("smsc %s: no deliver_sm_resp for id %s in %.0f s", conn.system_id, msg.row.message_id, timeout)
                    self._wait(msg, self._backoff(msg))
            if stale:
                conn.pump()
        due = []
        heap = self._due
        while heap and heap[0][0] <= mono:
            t, _, msg = heapq.heappop(heap)
            if self._waiting.get(msg.row.message_id) is msg and msg.next_try == t:
                del self._waiting[msg.row.message_id]
                due.append(msg)
        for msg in due:
            row = msg.row
            if now >= row.expires:
                self.stats.expired += 1
                self._forget(msg)
                log.info("smsc: message %s to %s expired after %d attempts", row.message_id, row.dest or row.to_system_id, msg.attempts)
                if row.dlr in (1, 2) and not row.to_system_id:
                    self._receipt(row, "EXPIRED")
                continue
            self._held += 1
            self._deliver(msg)
        self.refresh_stats()

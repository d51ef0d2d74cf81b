"""One ESME connection to the simulated SMSC, sans-IO: bytes in, PDUs handled by the
:class:`~smsc.smsc_core.SmscCore`, bytes out through a :class:`Transport`, with the flow
control a hostile peer needs (a write-buffer limit, turn-taking while deliveries trail,
small frames before a bind, a token bucket for throttling)."""

from __future__ import annotations

import collections
import logging
from typing import TYPE_CHECKING, Callable, Protocol

from . import pdu as P
from .address_range import AddressRange
from .config import Account
from .session import BadPdu, FramingError, Role, SmppSession

if TYPE_CHECKING:
    from .smsc_core import Message, SmscCore

__all__ = ["Transport", "SmscConnection", "TokenBucket"]

log = logging.getLogger(__name__)

_SMS_PER_TURN = 2048  # SMS one connection may make before the others get a turn
_UNBOUND_MAX_PDU = 256  # the largest bind is 114 octets: no big frames before a bind


class Transport(Protocol):
    """What a connection needs from the I/O below it (asyncio's transport, or a test's fake)."""

    def write(self, data: bytes) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class TokenBucket:
    """submit_sm per second: a bucket of 100 ms worth of messages, so short bursts pass and
    sustained excess does not."""

    __slots__ = ("tokens", "time")

    def __init__(self) -> None:
        self.tokens = 0.0
        self.time = 0.0

    def take(self, rate: float, now: float) -> bool:
        if not rate:
            return True
        depth = max(1.0, rate * 0.1)
        if not self.time:
            self.tokens, self.time = depth, now
        self.tokens = min(depth, self.tokens + (now - self.time) * rate)
        self.time = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SmscConnection:
    """One ESME connection's protocol state, sans-IO: bytes in (:meth:`data_received`),
    bytes out through :class:`Transport` ``write``, time from the core's clock.

    Output is gathered per read and written once (one syscall for a whole batch of resps),
    and reading stops while the transport holds ``max_write_buffer`` octets or more: a peer
    that sends but never reads cannot grow our memory. ``buffered`` is that count; the PDUs
    not yet handled wait in the session's receive buffer (at most one read's worth). While
    deliveries trail, the connection hands its turn back after a window of PDUs: it pauses
    reading and asks ``later`` (the adapter's call_soon) to call :meth:`take_turn`."""

    def __init__(self, smsc: "SmscCore", transport: Transport | None = None,
                 later: Callable[[Callable[[], None]], object] | None = None, peer: str = "?") -> None:
        self.smsc = smsc
        self.session = SmppSession(Role.SMSC, max_pdu=_UNBOUND_MAX_PDU)
        self.transport: Transport | None = transport
        self.later = later or (lambda callback: callback())
        self.peer = peer
        self.system_id = ""
        self.account: Account | None = None
        self.matcher = AddressRange.parse("")
        self.outbound: collections.deque[Message] = collections.deque()
        self.inflight: dict[int, tuple[Message, float]] = {}
        self.window = smsc.config.deliver_window
        self.closed = False
        self.throttle = 0.0
        self._bucket = TokenBucket()
        self._out: list[bytes] | None = None  # gathering output while handling a read
        self._out_size = 0
        self.write_paused = False
        self.yielded = False
        self.opened = smsc.monotonic()
        self.last_rx = self.opened
        if len(smsc._conns) >= smsc.config.max_connections:
            # sockets held open (each may wait bind_timeout) must not take every descriptor
            smsc.stats.refused_connections += 1
            log.warning("smsc %s: %d connections open; refused", peer, len(smsc._conns))
            self.abort()
            return
        self.host = peer.rsplit(":", 1)[0]
        self.counted_unbound = False
        if not smsc.admit_unbound(self):
            smsc.stats.refused_connections += 1
            log.warning("smsc %s: %d connections from this host not bound yet; refused",
                        peer, smsc.config.host_max_unbound)
            self.abort()
            return
        smsc._conns.add(self)

    def data_received(self, data: bytes) -> None:
        self.session.receive_data(data)
        self.process()

    def process(self) -> None:
        """Handle buffered PDUs until the input runs out or the output is over its limit."""
        self._out, self._out_size = [], 0
        try:
            limit = self.smsc.config.max_write_buffer
            transport = self.transport
            budget = self.window
            made = self.smsc.stats.submitted
            while not self.closed:
                budget -= 1
                if self.smsc.stats.submitted - made >= _SMS_PER_TURN and self.session.buffered:
                    # one read of pipelined submit_multi can make tens of thousands of SMS:
                    # other connections get their turn in between
                    self.yield_turn()
                    break
                if budget < 0 and self.smsc.backlog > self.window and self.session.buffered:
                    # Deliveries trail acceptance: let the loop read the receivers' resps
                    # before taking more from this connection (no deadlock: nothing blocks,
                    # this reader only goes to the back of the line).
                    self.yield_turn()
                    break
                if transport is not None and transport.get_write_buffer_size() + self._out_size >= limit:
                    self.flush()
                    self._out, self._out_size = [], 0
                    if transport.get_write_buffer_size() >= limit:  # the kernel took too little
                        self.pause()
                        break
                event = self.session.next_event()
                if event is None:
                    break
                # a whole PDU, not any byte: a peer trickling a frame is idle all the same
                self.last_rx = self.smsc.monotonic()
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
            self.flush()
            self.close()
        except Exception:  # never let one connection's bytes take the server down
            self.smsc.stats.internal_errors += 1
            log.exception("smsc %s %s: error handling input; closing", self.peer, self.system_id)
            self._out = None
            self.abort()
        self.flush()

    def yield_turn(self) -> None:
        if self.transport is not None and not self.yielded:
            self.yielded = True
            self.transport.pause_reading()
            self.later(self.take_turn)

    def take_turn(self) -> None:
        self.yielded = False
        if self.closed or self.transport is None:
            return
        if not self.write_paused:
            self.transport.resume_reading()
            self.process()

    def pause(self) -> None:
        if not self.write_paused and self.transport is not None:
            self.write_paused = True
            self.smsc.stats.write_pauses += 1
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        """The transport's buffer passed its high-water mark."""
        self.pause()

    def resume_writing(self) -> None:
        """The transport's buffer drained to its low-water mark."""
        if self.write_paused and self.transport is not None and not self.closed:
            self.write_paused = False
            if self.yielded:
                return  # take_turn resumes reading
            self.transport.resume_reading()
            self.process()  # PDUs read before the pause wait in the session buffer
            if not self.write_paused:
                self.pump()

    def connection_lost(self) -> None:
        self.closed = True
        self._out = None
        self.smsc._conns.discard(self)
        self.smsc._unbound(self)
        self.smsc.release_unbound(self)

    # -- I/O helpers ------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Octets written to this connection and not yet taken by the kernel."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def write(self, pdu: P.Pdu) -> None:
        self.write_raw(self.session.send(pdu))

    def write_raw(self, data: bytes) -> None:
        if self._out is not None:
            self._out.append(data)
            self._out_size += len(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.smsc._note_buffered(self)

    def flush(self) -> None:
        out, self._out = self._out, None
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])
            self.smsc._note_buffered(self)

    def close(self) -> None:
        self.flush()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self._out = None
        if self.transport is not None:
            self.transport.abort()

    # -- requests ---------------------------------------------------------------------------

    def handle(self, pdu: P.Pdu) -> None:
        cid = pdu.command_id
        if cid == P.SUBMIT_SM:
            self.write(self.smsc._submit(self, pdu))  # type: ignore[arg-type]
        elif cid == P.DELIVER_SM_RESP or cid == P.DATA_SM_RESP:
            entry = self.inflight.pop(pdu.sequence, None)
            if entry is not None:
                self.smsc._acked(self, entry[0], pdu.status)
                self.pump()
        elif cid == P.ENQUIRE_LINK:
            self.write(P.Bare(P.ENQUIRE_LINK_RESP, pdu.sequence))
        elif cid in P.BINDS:
            self.write(self.smsc._bind(self, pdu))  # type: ignore[arg-type]
            if self.session.bound:
                self.session.max_pdu = self.smsc.max_pdu
            else:  # one try per connection: no password guessing at wire speed on one socket
                self.close()
        elif cid == P.UNBIND:
            self.write(P.Bare(P.UNBIND_RESP, pdu.sequence))
            log.info("smsc %s %s: unbind", self.peer, self.system_id)
            self.close()
        elif cid in (P.ENQUIRE_LINK_RESP, P.UNBIND_RESP, P.GENERIC_NACK):
            if cid == P.GENERIC_NACK:
                log.info("smsc %s %s: generic_nack seq %d status %s", self.peer, self.system_id, pdu.sequence, P.status_name(pdu.status))
                entry = self.inflight.pop(pdu.sequence, None)
                if entry is not None:  # a receiver that could not parse our deliver_sm
                    self.smsc._acked(self, entry[0], pdu.status or P.ESME_RSYSERR)
                    self.pump()
        else:
            reply = self.smsc._other(self, pdu)
            if reply is not None:
                self.write(reply)

    def take_token(self, now: float) -> bool:
        if self.throttle:  # the account's rate, shared by all its binds (a bucket in the core)
            bucket = self.smsc.account_buckets.setdefault(self.system_id, TokenBucket())
            return bucket.take(self.throttle, now)
        return self._bucket.take(self.smsc.impairments.throttle, now)  # per bind

    # -- deliveries ---------------------------------------------------------------------------

    def pump(self) -> None:
        """Send queued deliver_sm while the window has room and the output is not full."""
        if self.closed or self.transport is None or self.write_paused:
            return
        now = self.smsc.monotonic()
        session = self.session
        out = []
        while self.outbound and len(self.inflight) < self.window:
            msg = self.outbound.popleft()
            self.smsc.backlog -= 1
            seq = session.next_sequence()
            body = msg.row.body
            out.append(P.HEADER.pack(16 + len(body), msg.row.command_id, 0, seq) + body)
            self.inflight[seq] = (msg, now)
        if out:
            self.write_raw(b"".join(out))

    @property
    def load(self) -> int:
        return len(self.outbound) + len(self.inflight)

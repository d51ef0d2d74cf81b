"""The SMPP session, sans-IO (h11 style): feed bytes, take PDUs out; turn PDUs into bytes.

:class:`SmppSession` owns the receive buffer and PDU framing, sequence numbers, and the bind
state of one side of one connection (ESME or SMSC). It performs no I/O and keeps no timers:
the asyncio adapters (:mod:`smsc.link`, :mod:`smsc.server`) own the socket, windows and
keep-alives and call it.

Framing guarantees: the buffer is consumed with an offset and compacted only when the
consumed prefix is larger than the rest, so reading many small PDUs from one large read is
O(bytes) rather than O(bytes^2). A ``command_length`` below 16 or above ``max_pdu`` cannot be
skipped safely (a 4 GiB claim would have us buffer 4 GiB), so it is a :class:`FramingError`:
the adapter answers generic_nack ESME_RINVCMDLEN and closes. Any other bad PDU is a
:class:`BadPdu` event carrying the answer to send (generic_nack for an unknown command, the
request's own resp with the status otherwise) and the stream continues with the next PDU.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lwm2m_sms.errors import DecodeError

from . import pdu as P

__all__ = ["SessionState", "Role", "FramingError", "BadPdu", "SmppSession", "error_response"]

# The largest legal PDU: a submit_sm/deliver_sm with every mandatory field at its maximum
# (348 octets), a message_payload TLV of 65,535 octets and room for the other TLVs an SMSC
# may add (1 KiB). Anything bigger is not SMPP 3.4 and cannot be skipped safely.
DEFAULT_MAX_PDU = 16 + 348 + 4 + 0xFFFF + 1024


class Role(str, enum.Enum):
    ESME = "esme"
    SMSC = "smsc"


class SessionState(str, enum.Enum):
    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    CLOSED = "closed"


_BOUND_BY = {
    P.BIND_TRANSMITTER: SessionState.BOUND_TX,
    P.BIND_RECEIVER: SessionState.BOUND_RX,
    P.BIND_TRANSCEIVER: SessionState.BOUND_TRX,
    P.BIND_TRANSMITTER_RESP: SessionState.BOUND_TX,
    P.BIND_RECEIVER_RESP: SessionState.BOUND_RX,
    P.BIND_TRANSCEIVER_RESP: SessionState.BOUND_TRX,
}

# Requests an SMSC accepts in each state (SMPP 3.4 2.3); anything else gets ESME_RINVBNDSTS.
_TX_REQUESTS = {P.SUBMIT_SM, P.SUBMIT_MULTI, P.DATA_SM, P.QUERY_SM, P.CANCEL_SM, P.REPLACE_SM}
_SMSC_ALLOWED = {
    SessionState.OPEN: {P.BIND_TRANSMITTER, P.BIND_RECEIVER, P.BIND_TRANSCEIVER, P.ENQUIRE_LINK},
    SessionState.BOUND_TX: {*_TX_REQUESTS, P.ENQUIRE_LINK, P.UNBIND},
    SessionState.BOUND_RX: {P.ENQUIRE_LINK, P.UNBIND},
    SessionState.BOUND_TRX: {*_TX_REQUESTS, P.ENQUIRE_LINK, P.UNBIND},
}


class FramingError(DecodeError):
    """The byte stream cannot be framed any more (bad command_length): close the session."""


@dataclass(frozen=True, slots=True)
class BadPdu:
    """A PDU that was framed but did not decode, or is not allowed in this state.
    ``reply`` (may be None for a bad response) is what to send back."""

    error: P.PduError
    reply: P.Pdu | None


def error_response(command_id: int, sequence: int, status: int) -> P.Pdu:
    """The answer to a request that failed with ``status``: its own resp when we know the
    command, else generic_nack (SMPP 3.4 3.3: generic_nack for an unknown command_id)."""
    if command_id & P.RESPONSE_BIT or command_id not in P._NAMES or status == P.ESME_RINVCMDID:
        return P.Bare(P.GENERIC_NACK, sequence, status)
    resp_id = command_id | P.RESPONSE_BIT
    if command_id in P.BINDS:
        return P.BindResp(resp_id, sequence, status)
    if command_id in (P.SUBMIT_SM, P.DELIVER_SM, P.DATA_SM):
        return P.MessageIdResp(resp_id, sequence, status)
    if command_id in (P.ENQUIRE_LINK, P.UNBIND, P.QUERY_SM, P.CANCEL_SM, P.REPLACE_SM, P.SUBMIT_MULTI):
        return P.Bare(resp_id, sequence, status)  # on error the body is not returned
    return P.Bare(P.GENERIC_NACK, sequence, status)


class SmppSession:
    def __init__(self, role: Role | str = Role.ESME, *, max_pdu: int = DEFAULT_MAX_PDU) -> None:
        self.role = Role(role)
        self.max_pdu = max_pdu
        self.state = SessionState.OPEN
        self.bind_command: int | None = None  # the bind the session is bound (or binding) with
        self._buf = bytearray()
        self._pos = 0
        self._seq = 0

    # -- sequence numbers ---------------------------------------------------------------------

    def next_sequence(self) -> int:
        """1 .. 0x7FFFFFFF, then wraps (SMPP 3.4 5.1.4)."""
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    # -- receiving ----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self._pos and self._pos >= len(self._buf) - self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_frame(self) -> bytes | None:
        """The next whole PDU's octets, or None when more bytes are needed."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        length = int.from_bytes(buf[pos : pos + 4], "big")
        if length < 16 or length > self.max_pdu:
            self.state = SessionState.CLOSED
            raise FramingError(f"command_length {length} is outside 16..{self.max_pdu}")
        if len(buf) - pos < length:
            return None
        self._pos = pos + length
        return bytes(buf[pos : pos + length])

    def next_event(self) -> P.Pdu | BadPdu | None:
        """The next PDU (or BadPdu), or None when more bytes are needed. Raises
        FramingError when the stream cannot continue."""
        frame = self.next_frame()
        if frame is None:
            return None
        try:
            pdu = P.decode(frame)
        except P.PduError as exc:
            reply = None if exc.command_id & P.RESPONSE_BIT else error_response(
                exc.command_id, exc.sequence, exc.status
            )
            return BadPdu(exc, reply)
        if self.role is Role.SMSC and not pdu.is_response:
            allowed = _SMSC_ALLOWED.get(self.state, set())
            if pdu.command_id not in allowed:
                status = P.ESME_RALYBND if pdu.command_id in P.BINDS and self.state is not SessionState.OPEN else P.ESME_RINVBNDSTS
                err = P.PduError(
                    f"{pdu.name} not allowed in state {self.state.value}",
                    status=status, command_id=pdu.command_id, sequence=pdu.sequence,
                )
                return BadPdu(err, error_response(pdu.command_id, pdu.sequence, status))
            if pdu.command_id in P.BINDS:
                self.bind_command = pdu.command_id
        if self.role is Role.ESME and pdu.command_id in _BOUND_BY and pdu.is_response:
            if pdu.status == P.ESME_ROK:
                self.state = _BOUND_BY[pdu.command_id]
        if pdu.command_id == P.UNBIND_RESP:
            self.state = SessionState.CLOSED
        return pdu

    # -- sending ------------------------------------------------------------------------------

    def send(self, pdu: P.Pdu) -> bytes:
        """The octets of ``pdu``; a request with sequence 0 gets the next sequence number.
        Sending a successful bind resp (SMSC) or an unbind/unbind_resp updates the state."""
        if not pdu.sequence and not pdu.is_response:
            pdu.sequence = self.next_sequence()
        if self.role is Role.ESME and pdu.command_id in P.BINDS:
            self.bind_command = pdu.command_id
        if self.role is Role.SMSC and pdu.command_id in _BOUND_BY and pdu.is_response:
            if pdu.status == P.ESME_ROK:
                self.state = _BOUND_BY[pdu.command_id]
        if pdu.command_id == P.UNBIND_RESP:
            self.state = SessionState.CLOSED
        return pdu.encode()

    @property
    def bound(self) -> bool:
        return self.state in (SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX)

    @property
    def can_receive(self) -> bool:
        return self.state in (SessionState.BOUND_RX, SessionState.BOUND_TRX)

    @property
    def can_transmit(self) -> bool:
        return self.state in (SessionState.BOUND_TX, SessionState.BOUND_TRX)

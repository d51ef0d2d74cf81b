"""SMPP 3.4 PDUs as values, and their wire codec (sans-IO: bytes in, values out and back).

This is the hot path of both the ESME link and the simulated SMSC, so it is hand-written
rather than smpplib's ``command``/``pdu`` classes: measured on this machine, smpplib parses a
submit_sm in about 45 us and builds a deliver_sm in about 58 us, this codec does either in
about 4-6 us (``tests/smsc/test_pdu.py`` cross-checks every PDU kind against smpplib, in
both directions, so the two agree octet for octet). smpplib also raises whatever its
``struct`` calls raise on bad input; :func:`decode` raises only :class:`PduError` (a
:class:`~lwm2m_sms.errors.DecodeError`) which carries the command_status an SMSC or ESME
should answer with, so a reader can reply with the right error instead of dying.

The cold PDUs (binds, enquire_link, unbind) go through the same codec rather than smpplib's,
so that one reader has one error model (smpplib's parse of a bad bind raises IndexError,
struct.error or UnknownCommandError); they are cross-checked against smpplib all the same.

Covered: bind_transmitter/receiver/transceiver and their resps, submit_sm, deliver_sm,
data_sm and their resps, submit_multi, query_sm, cancel_sm, replace_sm and their resps,
enquire_link, unbind, generic_nack (and their resps). Other command ids (outbind,
alert_notification) decode as :class:`PduError` with ESME_RINVCMDID, which the session turns
into a generic_nack. TLVs are kept as raw (tag, value) pairs, in order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable

from lwm2m_sms.errors import DecodeError, EncodeError

__all__ = [
    "PduError",
    "Pdu",
    "Bare",
    "Bind",
    "BindResp",
    "ShortMessage",
    "MessageIdResp",
    "DataSm",
    "SubmitMulti",
    "SubmitMultiResp",
    "QuerySm",
    "QuerySmResp",
    "CancelSm",
    "ReplaceSm",
    "find_tlv",
    "decode",
    "decode_header",
    "command_name",
    "status_name",
    "HEADER",
]

# -- command ids (SMPP 3.4 5.1.2.1) ---------------------------------------------------------
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_RECEIVER_RESP = 0x80000001
BIND_TRANSMITTER = 0x00000002
BIND_TRANSMITTER_RESP = 0x80000002
QUERY_SM = 0x00000003
QUERY_SM_RESP = 0x80000003
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
REPLACE_SM = 0x00000007
REPLACE_SM_RESP = 0x80000007
CANCEL_SM = 0x00000008
CANCEL_SM_RESP = 0x80000008
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
SUBMIT_MULTI = 0x00000021
SUBMIT_MULTI_RESP = 0x80000021
ALERT_NOTIFICATION = 0x00000102
DATA_SM = 0x00000103
DATA_SM_RESP = 0x80000103
RESPONSE_BIT = 0x80000000

BINDS = (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER)

_NAMES = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_RECEIVER_RESP: "bind_receiver_resp",
    BIND_TRANSMITTER: "bind_transmitter",
    BIND_TRANSMITTER_RESP: "bind_transmitter_resp",
    QUERY_SM: "query_sm",
    QUERY_SM_RESP: "query_sm_resp",
    SUBMIT_SM: "submit_sm",
    SUBMIT_SM_RESP: "submit_sm_resp",
    DELIVER_SM: "deliver_sm",
    DELIVER_SM_RESP: "deliver_sm_resp",
    UNBIND: "unbind",
    UNBIND_RESP: "unbind_resp",
    REPLACE_SM: "replace_sm",
    REPLACE_SM_RESP: "replace_sm_resp",
    CANCEL_SM: "cancel_sm",
    CANCEL_SM_RESP: "cancel_sm_resp",
    BIND_TRANSCEIVER: "bind_transceiver",
    BIND_TRANSCEIVER_RESP: "bind_transceiver_resp",
    OUTBIND: "outbind",
    ENQUIRE_LINK: "enquire_link",
    ENQUIRE_LINK_RESP: "enquire_link_resp",
    SUBMIT_MULTI: "submit_multi",
    SUBMIT_MULTI_RESP: "submit_multi_resp",
    ALERT_NOTIFICATION: "alert_notification",
    DATA_SM: "data_sm",
    DATA_SM_RESP: "data_sm_resp",
}

# -- command_status (SMPP 3.4 5.1.3) ---------------------------------------------------------
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RCANCELFAIL = 0x11
ESME_RREPLACEFAIL = 0x13
ESME_RMSGQFUL = 0x14
ESME_RINVSERTYP = 0x15
ESME_RINVNUMDESTS = 0x33
ESME_RINVDESTFLAG = 0x40
ESME_RINVESMCLASS = 0x43
ESME_RSUBMITFAIL = 0x45
ESME_RINVSYSTYP = 0x53
ESME_RTHROTTLED = 0x58
ESME_RQUERYFAIL = 0x67
ESME_RINVSCHED = 0x61
ESME_RINVEXPIRY = 0x62
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RX_R_APPN = 0x66
ESME_RINVOPTPARSTREAM = 0xC0
ESME_RINVPARLEN = 0xC2
ESME_RUNKNOWNERR = 0xFF

_STATUS_NAMES = {v: k for k, v in globals().items() if k.startswith("ESME_R")}

# -- TLV tags (SMPP 3.4 5.3.2) ------------------------------------------------------------------
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_USER_MESSAGE_REFERENCE = 0x0204
TLV_SOURCE_PORT = 0x020A
TLV_DESTINATION_PORT = 0x020B
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_SC_INTERFACE_VERSION = 0x0210
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427

# esm_class bits (5.2.12)
ESM_UDHI = 0x40
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_SME_ACK = 0x08  # SME delivery acknowledgement
ESM_USER_ACK = 0x10  # SME manual/user acknowledgement
ESM_INTERMEDIATE = 0x20  # intermediate delivery notification

# message_state values (5.2.28)
STATE_ENROUTE = 1
STATE_DELIVERED = 2
STATE_EXPIRED = 3
STATE_DELETED = 4
STATE_UNDELIVERABLE = 5
STATE_ACCEPTED = 6
STATE_UNKNOWN = 7
STATE_REJECTED = 8

HEADER = struct.Struct(">LLLL")
_TLV_HEAD = struct.Struct(">HH")
INTERFACE_VERSION = 0x34


def command_name(command_id: int) -> str:
    return _NAMES.get(command_id, f"command_{command_id:#010x}")


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, f"status_{status:#x}")


class PduError(DecodeError):
    """A PDU that cannot be decoded. ``status`` is the command_status to answer with;
    ``command_id`` and ``sequence`` come from the header (0 when it was unreadable)."""

    def __init__(self, message: str, *, status: int, command_id: int = 0, sequence: int = 0):
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence = sequence


# -- values -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Pdu:
    command_id: int = GENERIC_NACK
    sequence: int = 0
    status: int = ESME_ROK

    @property
    def name(self) -> str:
        return command_name(self.command_id)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        body = self.body()
        return HEADER.pack(16 + len(body), self.command_id, self.status, self.sequence) + body


@dataclass(slots=True)
class Bare(Pdu):
    """A PDU with no body: enquire_link(_resp), unbind(_resp), generic_nack."""


@dataclass(slots=True)
class Bind(Pdu):
    command_id: int = BIND_TRANSCEIVER
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def body(self) -> bytes:
        return b"".join(
            (
                _cstr(self.system_id, 16, "system_id"),
                _cstr(self.password, 9, "password"),
                _cstr(self.system_type, 13, "system_type"),
                bytes((self.interface_version, self.addr_ton, self.addr_npi)),
                _cstr(self.address_range, 41, "address_range"),
            )
        )


@dataclass(slots=True)
class BindResp(Pdu):
    command_id: int = BIND_TRANSCEIVER_RESP
    system_id: str = ""
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)

    def body(self) -> bytes:
        if self.status != ESME_ROK and not self.system_id and not self.tlvs:
            return b""  # 4.1.2: the body is not returned on error
        return _cstr(self.system_id, 16, "system_id") + _tlvs(self.tlvs)


@dataclass(slots=True)
class ShortMessage(Pdu):
    """submit_sm or deliver_sm (same body, 4.4.1 and 4.6.1)."""

    command_id: int = SUBMIT_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)

    def body(self) -> bytes:
        sm = self.short_message
        if len(sm) > 254:
            raise EncodeError(f"short_message of {len(sm)} octets; at most 254 (use message_payload)")
        return b"".join(
            (
                _cstr(self.service_type, 6, "service_type"),
                bytes((self.source_addr_ton, self.source_addr_npi)),
                _cstr(self.source_addr, 21, "source_addr"),
                bytes((self.dest_addr_ton, self.dest_addr_npi)),
                _cstr(self.destination_addr, 21, "destination_addr"),
                bytes((self.esm_class, self.protocol_id, self.priority_flag)),
                _cstr(self.schedule_delivery_time, 17, "schedule_delivery_time"),
                _cstr(self.validity_period, 17, "validity_period"),
                bytes(
                    (
                        self.registered_delivery,
                        self.replace_if_present_flag,
                        self.data_coding,
                        self.sm_default_msg_id,
                        len(sm),
                    )
                ),
                sm,
                _tlvs(self.tlvs),
            )
        )

    def tlv(self, tag: int) -> bytes | None:
        return find_tlv(self.tlvs, tag)

    def tlv_int(self, tag: int) -> int | None:
        v = find_tlv(self.tlvs, tag)
        return int.from_bytes(v, "big") if v else None


def find_tlv(tlvs: list[tuple[int, bytes]], tag: int) -> bytes | None:
    """The value of the first TLV with ``tag``, or None."""
    for t, v in tlvs:
        if t == tag:
            return v
    return None


@dataclass(slots=True)
class DataSm(Pdu):
    """data_sm (4.7.1): a message whose data travels in TLVs (message_payload)."""

    command_id: int = DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)

    def body(self) -> bytes:
        return b"".join(
            (
                _cstr(self.service_type, 6, "service_type"),
                bytes((self.source_addr_ton, self.source_addr_npi)),
                _cstr(self.source_addr, 65, "source_addr"),
                bytes((self.dest_addr_ton, self.dest_addr_npi)),
                _cstr(self.destination_addr, 65, "destination_addr"),
                bytes((self.esm_class, self.registered_delivery, self.data_coding)),
                _tlvs(self.tlvs),
            )
        )


@dataclass(slots=True)
class SubmitMulti(Pdu):
    """submit_multi (4.5.1). ``destinations`` are (ton, npi, address) of SME addresses;
    ``dl_names`` are distribution list names (dest_flag 2)."""

    command_id: int = SUBMIT_MULTI
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    destinations: list[tuple[int, int, str]] = field(default_factory=list)
    dl_names: list[str] = field(default_factory=list)
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)

    def body(self) -> bytes:
        n = len(self.destinations) + len(self.dl_names)
        if n > 254:
            raise EncodeError(f"submit_multi with {n} destinations; at most 254")
        if len(self.short_message) > 254:
            raise EncodeError("short_message longer than 254 octets")
        dests = [
            bytes((1, ton, npi)) + _cstr(addr, 21, "destination_addr") for ton, npi, addr in self.destinations
        ] + [b"\x02" + _cstr(name, 21, "dl_name") for name in self.dl_names]
        return b"".join(
            (
                _cstr(self.service_type, 6, "service_type"),
                bytes((self.source_addr_ton, self.source_addr_npi)),
                _cstr(self.source_addr, 21, "source_addr"),
                bytes((n,)),
                *dests,
                bytes((self.esm_class, self.protocol_id, self.priority_flag)),
                _cstr(self.schedule_delivery_time, 17, "schedule_delivery_time"),
                _cstr(self.validity_period, 17, "validity_period"),
                bytes(
                    (
                        self.registered_delivery,
                        self.replace_if_present_flag,
                        self.data_coding,
                        self.sm_default_msg_id,
                        len(self.short_message),
                    )
                ),
                self.short_message,
                _tlvs(self.tlvs),
            )
        )


@dataclass(slots=True)
class SubmitMultiResp(Pdu):
    """submit_multi_resp (4.5.2): ``unsuccess`` lists (ton, npi, address, error status)."""

    command_id: int = SUBMIT_MULTI_RESP
    message_id: str = ""
    unsuccess: list[tuple[int, int, str, int]] = field(default_factory=list)

    def body(self) -> bytes:
        if self.status != ESME_ROK and not self.message_id and not self.unsuccess:
            return b""
        return b"".join(
            (
                _cstr(self.message_id, 65, "message_id"),
                bytes((len(self.unsuccess),)),
                *(
                    bytes((ton, npi)) + _cstr(addr, 21, "destination_addr") + err.to_bytes(4, "big")
                    for ton, npi, addr, err in self.unsuccess
                ),
            )
        )


@dataclass(slots=True)
class QuerySm(Pdu):
    """query_sm (4.8.1)."""

    command_id: int = QUERY_SM
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""

    def body(self) -> bytes:
        return (
            _cstr(self.message_id, 65, "message_id")
            + bytes((self.source_addr_ton, self.source_addr_npi))
            + _cstr(self.source_addr, 21, "source_addr")
        )


@dataclass(slots=True)
class QuerySmResp(Pdu):
    """query_sm_resp (4.8.2)."""

    command_id: int = QUERY_SM_RESP
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0

    def body(self) -> bytes:
        if self.status != ESME_ROK and not self.message_id:
            return b""
        return (
            _cstr(self.message_id, 65, "message_id")
            + _cstr(self.final_date, 17, "final_date")
            + bytes((self.message_state, self.error_code))
        )


@dataclass(slots=True)
class CancelSm(Pdu):
    """cancel_sm (4.9.1): ``message_id`` empty cancels every message from source to dest."""

    command_id: int = CANCEL_SM
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""

    def body(self) -> bytes:
        return b"".join(
            (
                _cstr(self.service_type, 6, "service_type"),
                _cstr(self.message_id, 65, "message_id"),
                bytes((self.source_addr_ton, self.source_addr_npi)),
                _cstr(self.source_addr, 21, "source_addr"),
                bytes((self.dest_addr_ton, self.dest_addr_npi)),
                _cstr(self.destination_addr, 21, "destination_addr"),
            )
        )


@dataclass(slots=True)
class ReplaceSm(Pdu):
    """replace_sm (4.10.1)."""

    command_id: int = REPLACE_SM
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    def body(self) -> bytes:
        if len(self.short_message) > 254:
            raise EncodeError("short_message longer than 254 octets")
        return b"".join(
            (
                _cstr(self.message_id, 65, "message_id"),
                bytes((self.source_addr_ton, self.source_addr_npi)),
                _cstr(self.source_addr, 21, "source_addr"),
                _cstr(self.schedule_delivery_time, 17, "schedule_delivery_time"),
                _cstr(self.validity_period, 17, "validity_period"),
                bytes((self.registered_delivery, self.sm_default_msg_id, len(self.short_message))),
                self.short_message,
            )
        )


@dataclass(slots=True)
class MessageIdResp(Pdu):
    """submit_sm_resp, deliver_sm_resp (message_id unused, sent empty), data_sm_resp."""

    command_id: int = SUBMIT_SM_RESP
    message_id: str = ""
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)

    def body(self) -> bytes:
        if self.status != ESME_ROK and self.command_id == SUBMIT_SM_RESP and not self.message_id:
            return b""  # 4.4.2: the body is not returned on error
        return _cstr(self.message_id, 65, "message_id") + _tlvs(self.tlvs)


def tlv_u8(tag: int, value: int) -> tuple[int, bytes]:
    return (tag, bytes((value,)))


def tlv_u16(tag: int, value: int) -> tuple[int, bytes]:
    return (tag, value.to_bytes(2, "big"))


def tlv_cstr(tag: int, value: str) -> tuple[int, bytes]:
    return (tag, value.encode("latin-1") + b"\0")


# -- encoding helpers ---------------------------------------------------------------------------


def _cstr(value: str, size: int, name: str) -> bytes:
    raw = value.encode("latin-1") if value else b""
    if len(raw) >= size:
        raise EncodeError(f"{name} {value!r} is longer than {size - 1} characters")
    return raw + b"\0"


def _tlvs(tlvs: list[tuple[int, bytes]]) -> bytes:
    if not tlvs:
        return b""
    return b"".join(_TLV_HEAD.pack(t, len(v)) + v for t, v in tlvs)


# -- decoding -------------------------------------------------------------------------------------


def decode_header(frame: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number) of a frame."""
    if len(frame) < 16:
        raise PduError(f"PDU of {len(frame)} octets is shorter than its header", status=ESME_RINVCMDLEN)
    return HEADER.unpack_from(frame)


class _Reader:
    """Cursor over a PDU body; every overrun becomes a PduError with the header's ids."""

    __slots__ = ("data", "pos", "end", "cid", "seq")

    def __init__(self, data: bytes, cid: int, seq: int) -> None:
        self.data = data
        self.pos = 16
        self.end = len(data)
        self.cid = cid
        self.seq = seq

    def fail(self, message: str, status: int) -> PduError:
        return PduError(
            f"{command_name(self.cid)} seq {self.seq}: {message}",
            status=status,
            command_id=self.cid,
            sequence=self.seq,
        )

    def cstr(self, size: int, name: str, status: int) -> str:
        nul = self.data.find(b"\0", self.pos, min(self.end, self.pos + size))
        if nul < 0:
            if self.pos + size > self.end:
                raise self.fail(f"body ends inside {name}", ESME_RINVCMDLEN)
            raise self.fail(f"{name} has no NUL within {size} octets", status)
        value = self.data[self.pos : nul].decode("latin-1")
        self.pos = nul + 1
        return value

    def octets(self, n: int, name: str) -> bytes:
        if self.pos + n > self.end:
            raise self.fail(f"body ends inside {name}", ESME_RINVCMDLEN)
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value

    def tlvs(self) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        data, pos, end = self.data, self.pos, self.end
        while pos < end:
            if pos + 4 > end:
                raise self.fail("TLV header truncated", ESME_RINVOPTPARSTREAM)
            tag, length = _TLV_HEAD.unpack_from(data, pos)
            pos += 4
            if pos + length > end:
                raise self.fail(f"TLV {tag:#06x} claims {length} octets, {end - pos} left", ESME_RINVOPTPARSTREAM)
            out.append((tag, data[pos : pos + length]))
            pos += length
        self.pos = pos
        return out


def decode(frame: bytes) -> Pdu:
    """Decode one whole PDU (``command_length`` octets). Raises only :class:`PduError`."""
    length, cid, status, seq = decode_header(frame)
    if length != len(frame):
        raise PduError(
            f"command_length {length} but {len(frame)} octets given",
            status=ESME_RINVCMDLEN, command_id=cid, sequence=seq,
        )
    if cid == SUBMIT_SM or cid == DELIVER_SM:
        return _decode_sm(frame, cid, status, seq)
    if cid in (SUBMIT_SM_RESP, DELIVER_SM_RESP, DATA_SM_RESP):
        if length == 16:
            return MessageIdResp(cid, seq, status)
        r = _Reader(frame, cid, seq)
        mid = r.cstr(65, "message_id", ESME_RINVMSGID)
        return MessageIdResp(cid, seq, status, mid, r.tlvs())
    if cid in _DECODERS:
        return _DECODERS[cid](_Reader(frame, cid, seq), status)
    if cid in (ENQUIRE_LINK, ENQUIRE_LINK_RESP, UNBIND, UNBIND_RESP, GENERIC_NACK, CANCEL_SM_RESP, REPLACE_SM_RESP):
        # A body here is a protocol error, but harmless: ignore it as most SMSCs do.
        return Bare(cid, seq, status)
    if cid in BINDS:
        r = _Reader(frame, cid, seq)
        system_id = r.cstr(16, "system_id", ESME_RINVSYSID)
        password = r.cstr(9, "password", ESME_RINVPASWD)
        system_type = r.cstr(13, "system_type", ESME_RINVSYSTYP)
        version, ton, npi = r.octets(3, "interface_version/addr_ton/addr_npi")
        address_range = r.cstr(41, "address_range", ESME_RINVPARLEN)
        return Bind(cid, seq, status, system_id, password, system_type, version, ton, npi, address_range)
    if cid in (BIND_RECEIVER_RESP, BIND_TRANSMITTER_RESP, BIND_TRANSCEIVER_RESP):
        if length == 16:
            return BindResp(cid, seq, status)
        r = _Reader(frame, cid, seq)
        system_id = r.cstr(16, "system_id", ESME_RINVSYSID)
        return BindResp(cid, seq, status, system_id, r.tlvs())
    raise PduError(
        f"{command_name(cid)} (seq {seq}) is not supported",
        status=ESME_RINVCMDID, command_id=cid, sequence=seq,
    )


def _decode_sm(frame: bytes, cid: int, status: int, seq: int) -> ShortMessage:
    r = _Reader(frame, cid, seq)
    service_type = r.cstr(6, "service_type", ESME_RINVSERTYP)
    s_ton, s_npi = r.octets(2, "source_addr_ton/npi")
    source = r.cstr(21, "source_addr", ESME_RINVSRCADR)
    d_ton, d_npi = r.octets(2, "dest_addr_ton/npi")
    dest = r.cstr(21, "destination_addr", ESME_RINVDSTADR)
    esm, pid, prio = r.octets(3, "esm_class/protocol_id/priority_flag")
    sched = r.cstr(17, "schedule_delivery_time", ESME_RINVSCHED)
    validity = r.cstr(17, "validity_period", ESME_RINVEXPIRY)
    reg, replace, dcs, default_id, sm_length = r.octets(5, "registered_delivery..sm_length")
    if r.pos + sm_length > r.end:
        raise r.fail(f"sm_length {sm_length} exceeds the {r.end - r.pos} octets left", ESME_RINVMSGLEN)
    sm = frame[r.pos : r.pos + sm_length]
    r.pos += sm_length
    tlvs = r.tlvs() if r.pos < r.end else []
    return ShortMessage(
        cid, seq, status, service_type, s_ton, s_npi, source, d_ton, d_npi, dest,
        esm, pid, prio, sched, validity, reg, replace, dcs, default_id, bytes(sm), tlvs,
    )


def _decode_data_sm(r: _Reader, status: int) -> DataSm:
    service_type = r.cstr(6, "service_type", ESME_RINVSERTYP)
    s_ton, s_npi = r.octets(2, "source_addr_ton/npi")
    source = r.cstr(65, "source_addr", ESME_RINVSRCADR)
    d_ton, d_npi = r.octets(2, "dest_addr_ton/npi")
    dest = r.cstr(65, "destination_addr", ESME_RINVDSTADR)
    esm, reg, dcs = r.octets(3, "esm_class/registered_delivery/data_coding")
    return DataSm(r.cid, r.seq, status, service_type, s_ton, s_npi, source, d_ton, d_npi, dest, esm, reg, dcs, r.tlvs())


def _decode_submit_multi(r: _Reader, status: int) -> SubmitMulti:
    service_type = r.cstr(6, "service_type", ESME_RINVSERTYP)
    s_ton, s_npi = r.octets(2, "source_addr_ton/npi")
    source = r.cstr(21, "source_addr", ESME_RINVSRCADR)
    (n,) = r.octets(1, "number_of_dests")
    if not 1 <= n <= 254:
        raise r.fail(f"number_of_dests {n}", ESME_RINVNUMDESTS)
    dests: list[tuple[int, int, str]] = []
    names: list[str] = []
    for _ in range(n):
        (flag,) = r.octets(1, "dest_flag")
        if flag == 1:
            ton, npi = r.octets(2, "dest_addr_ton/npi")
            dests.append((ton, npi, r.cstr(21, "destination_addr", ESME_RINVDSTADR)))
        elif flag == 2:
            names.append(r.cstr(21, "dl_name", ESME_RINVDSTADR))
        else:
            raise r.fail(f"dest_flag {flag}", ESME_RINVDESTFLAG)
    esm, pid, prio = r.octets(3, "esm_class/protocol_id/priority_flag")
    sched = r.cstr(17, "schedule_delivery_time", ESME_RINVSCHED)
    validity = r.cstr(17, "validity_period", ESME_RINVEXPIRY)
    reg, replace, dcs, default_id, sm_length = r.octets(5, "registered_delivery..sm_length")
    sm = r.octets(sm_length, "short_message")
    tlvs = r.tlvs() if r.pos < r.end else []
    return SubmitMulti(
        r.cid, r.seq, status, service_type, s_ton, s_npi, source, dests, names,
        esm, pid, prio, sched, validity, reg, replace, dcs, default_id, bytes(sm), tlvs,
    )


def _decode_submit_multi_resp(r: _Reader, status: int) -> SubmitMultiResp:
    if r.end == 16:
        return SubmitMultiResp(r.cid, r.seq, status)
    mid = r.cstr(65, "message_id", ESME_RINVMSGID)
    out: list[tuple[int, int, str, int]] = []
    if r.pos < r.end:
        (n,) = r.octets(1, "no_unsuccess")
        for _ in range(n):
            ton, npi = r.octets(2, "dest_addr_ton/npi")
            addr = r.cstr(21, "destination_addr", ESME_RINVDSTADR)
            err = int.from_bytes(r.octets(4, "error_status_code"), "big")
            out.append((ton, npi, addr, err))
    return SubmitMultiResp(r.cid, r.seq, status, mid, out)


def _decode_query_sm(r: _Reader, status: int) -> QuerySm:
    mid = r.cstr(65, "message_id", ESME_RINVMSGID)
    ton, npi = r.octets(2, "source_addr_ton/npi")
    return QuerySm(r.cid, r.seq, status, mid, ton, npi, r.cstr(21, "source_addr", ESME_RINVSRCADR))


def _decode_query_sm_resp(r: _Reader, status: int) -> QuerySmResp:
    if r.end == 16:
        return QuerySmResp(r.cid, r.seq, status)
    mid = r.cstr(65, "message_id", ESME_RINVMSGID)
    final = r.cstr(17, "final_date", ESME_RINVPARLEN)
    state, err = r.octets(2, "message_state/error_code")
    return QuerySmResp(r.cid, r.seq, status, mid, final, state, err)


def _decode_cancel_sm(r: _Reader, status: int) -> CancelSm:
    service_type = r.cstr(6, "service_type", ESME_RINVSERTYP)
    mid = r.cstr(65, "message_id", ESME_RINVMSGID)
    s_ton, s_npi = r.octets(2, "source_addr_ton/npi")
    source = r.cstr(21, "source_addr", ESME_RINVSRCADR)
    d_ton, d_npi = r.octets(2, "dest_addr_ton/npi")
    dest = r.cstr(21, "destination_addr", ESME_RINVDSTADR)
    return CancelSm(r.cid, r.seq, status, service_type, mid, s_ton, s_npi, source, d_ton, d_npi, dest)


def _decode_replace_sm(r: _Reader, status: int) -> ReplaceSm:
    mid = r.cstr(65, "message_id", ESME_RINVMSGID)
    ton, npi = r.octets(2, "source_addr_ton/npi")
    source = r.cstr(21, "source_addr", ESME_RINVSRCADR)
    sched = r.cstr(17, "schedule_delivery_time", ESME_RINVSCHED)
    validity = r.cstr(17, "validity_period", ESME_RINVEXPIRY)
    reg, default_id, sm_length = r.octets(3, "registered_delivery/sm_default_msg_id/sm_length")
    sm = r.octets(sm_length, "short_message")
    return ReplaceSm(r.cid, r.seq, status, mid, ton, npi, source, sched, validity, reg, default_id, bytes(sm))


_DECODERS: dict[int, Callable[[_Reader, int], Pdu]] = {
    DATA_SM: _decode_data_sm,
    SUBMIT_MULTI: _decode_submit_multi,
    SUBMIT_MULTI_RESP: _decode_submit_multi_resp,
    QUERY_SM: _decode_query_sm,
    QUERY_SM_RESP: _decode_query_sm_resp,
    CANCEL_SM: _decode_cancel_sm,
    REPLACE_SM: _decode_replace_sm,
}

"""3GPP TS 23.040 TPDUs: SMS-SUBMIT, SMS-DELIVER and SMS-STATUS-REPORT, as values and bytes.

What it implements (23.040 section in brackets):

* the address field (9.1.2.5): semi-octet digits with an ``F`` filler, the TON/NPI octet,
  alphanumeric addresses as packed GSM 7-bit with the length in semi-octets; and the SMSC
  address that AT+CMGS / +CMGR put in front of the TPDU (24.011 8.2.5.1, length in octets;
  a single 0x00 octet means "use the SMSC stored on the SIM");
* SMS-SUBMIT (9.2.2.2): TP-RD, TP-VPF/TP-VP (relative, absolute, enhanced), TP-SRR, TP-UDHI,
  TP-RP, TP-MR, TP-DA, TP-PID, TP-DCS, TP-UDL, TP-UD;
* SMS-DELIVER (9.2.2.1): TP-MMS, TP-SRI, TP-UDHI, TP-RP, TP-OA, TP-PID, TP-DCS, TP-SCTS;
* SMS-STATUS-REPORT (9.2.2.3): TP-MR, TP-RA, TP-SCTS, TP-DT, TP-ST (the optional TP-PI and
  the parameters after it are skipped on decode and not written on encode);
* TP-SCTS (9.2.3.11) with its time zone in quarter hours and sign bit; TP-DCS through
  :func:`alphabet_of` (23.038 4).

User data follows ``bearer.SmsSegment``'s convention: ``UserData.data`` holds 8-bit data for
an 8-bit DCS, *unpacked* septet values (one per octet) for the GSM 7-bit alphabet, and
UTF-16BE octets for UCS2; ``UserData.udh`` the UDH. The codec packs septets and inserts the
fill bits after a UDH (9.2.3.24) itself.

Decoding guarantees: :func:`decode_pdu` raises only :class:`DecodeError` (AddressError is one)
whatever the bytes, which the tests prove with hypothesis. It is strict about short lengths (a
TP-UDL that needs more octets than are present is an error, so a truncated binary message is
never handed up as whole) and tolerant of octets after the user data (real modems pad +CMGR /
+CMGL lines; gammu and python-gsmmodem accept it too): they are ignored and counted in
:attr:`Pdu.trailing`; and lenient where 23.040 asks receivers to be: a reserved TP-MTI is read as
SMS-DELIVER (MT) or SMS-SUBMIT (MO), reserved DCS codings as the GSM 7-bit alphabet (23.038 4),
a reserved TON as unknown and an NPI this project has no name for as unknown.

Known limits: SMS-SUBMIT-REPORT, SMS-DELIVER-REPORT and SMS-COMMAND are refused with a
DecodeError; compressed user data (23.042) is passed through as 8-bit data; two-digit years
map to 1969..2068 (the POSIX ``%y`` rule, as python-gsmmodem does); an enhanced validity
period decodes to a relative octet or a :class:`~datetime.timedelta`, dropping its single-shot
flag.

The hot path (8-bit single-part encode and decode) is kept lean: table lookups, one slice
per field, address fields cached by value on encode.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Union

from ..errors import DecodeError, EncodeError, PayloadTooLarge
from . import gsm7
from .address import Address, Npi, Ton, parse_address
from .segmentation import MAX_USER_DATA, UserData
from .udh import split_user_data

log = logging.getLogger(__name__)

__all__ = [
    "DCS_GSM7",
    "DCS_8BIT",
    "DCS_UCS2",
    "MAX_SEPTETS",
    "Alphabet",
    "alphabet_of",
    "text_of",
    "message_class",
    "Direction",
    "Tpdu",
    "SmsSubmit",
    "SmsDeliver",
    "SmsStatusReport",
    "Pdu",
    "encode_pdu",
    "decode_pdu",
    "tpdu_length",
    "encode_address_field",
    "decode_address_field",
    "encode_smsc_field",
    "decode_smsc_field",
    "encode_timestamp",
    "decode_timestamp",
    "relative_validity",
    "validity_period",
    "status_text",
]

DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08
MAX_SEPTETS = 160  # 140 octets of packed septets


class Alphabet(enum.Enum):
    """How TP-UD is coded (23.038 4)."""

    GSM7 = "gsm7"
    DATA8 = "8-bit"
    UCS2 = "ucs2"


def _alphabet(dcs: int) -> Alphabet:
    group = dcs >> 4
    if group < 0x8:  # 00xx general data coding, 01xx the same marked for automatic deletion
        if dcs & 0x20:
            # Compressed (23.042): octets on the wire whatever the alphabet; TP-UDL counts octets.
            return Alphabet.DATA8
        return (Alphabet.GSM7, Alphabet.DATA8, Alphabet.UCS2, Alphabet.GSM7)[(dcs >> 2) & 3]
    if group == 0xE:  # message waiting indication, store message, UCS2
        return Alphabet.UCS2
    if group == 0xF:  # data coding / message class
        return Alphabet.DATA8 if dcs & 0x04 else Alphabet.GSM7
    # 0xC/0xD message waiting (discard / store) in GSM 7-bit; 0x8..0xB reserved groups, which
    # 23.038 4 says a receiver shall assume to be the GSM 7-bit default alphabet.
    return Alphabet.GSM7


_ALPHABET_BY_DCS = tuple(_alphabet(i) for i in range(256))


def alphabet_of(dcs: int) -> Alphabet:
    """The alphabet of a TP-DCS octet (23.038 4 coding groups).

    General groups (00xx, 01xx) read bits 3..2 (the reserved value 11 as GSM 7-bit), with
    compressed text as 8-bit data; message-waiting groups 1100/1101 are GSM 7-bit, 1110 UCS2;
    group 1111 reads bit 2; the reserved groups 1000..1011 are GSM 7-bit as 23.038 asks.
    """
    if not 0 <= dcs <= 0xFF:
        raise DecodeError(f"TP-DCS {dcs} is not an octet")
    return _ALPHABET_BY_DCS[dcs]


def message_class(dcs: int) -> int | None:
    """The message class 0..3 a TP-DCS gives (0 = flash/immediate display), or None."""
    group = dcs >> 4
    if (group < 0x8 and dcs & 0x10) or group == 0xF:
        return dcs & 0x03
    return None


class Direction(enum.Enum):
    """Which way a TPDU travels: it decides how TP-MTI is read (23.040 9.2.3.1)."""

    MT = "mt"  # SC -> MS: SMS-DELIVER, SMS-STATUS-REPORT (what +CMT / +CMGR of received give)
    MO = "mo"  # MS -> SC: SMS-SUBMIT (what AT+CMGS sends)
    #: By TP-MTI alone, as a modem's message store holds both ways (27.005 +CMGL stat 0/1
    #: received, 2/3 stored to send): 00 SMS-DELIVER, 01 SMS-SUBMIT, 10 SMS-STATUS-REPORT,
    #: 11 (reserved) SMS-DELIVER.
    AUTO = "auto"


def text_of(user_data: UserData, dcs: int) -> str:
    """The text of user data in GSM 7-bit (unpacked septets) or UCS2; DecodeError for 8-bit."""
    alphabet = _ALPHABET_BY_DCS[dcs & 0xFF]
    if alphabet is Alphabet.GSM7:
        return gsm7.decode(user_data.data)
    if alphabet is Alphabet.UCS2:
        return gsm7.decode_ucs2(user_data.data)
    raise DecodeError(f"TP-DCS {dcs:#04x} is 8-bit data, not text")


def _text_user_data(text: str, kw: dict[str, Any]) -> tuple[UserData, int]:
    """Pick GSM 7-bit when ``text`` is encodable, else UCS2; one SMS only."""
    if gsm7.is_gsm7(text):
        septets = gsm7.encode(text)
        if len(septets) > MAX_SEPTETS:
            raise PayloadTooLarge(
                f"text of {len(septets)} septets does not fit one SMS ({MAX_SEPTETS}); "
                "use segmentation.split_text for concatenated SMS"
            )
        data, dcs = septets, DCS_GSM7
    else:
        data, dcs = gsm7.encode_ucs2(text), DCS_UCS2
        if len(data) > MAX_USER_DATA:
            raise PayloadTooLarge(
                f"text of {len(data)} UCS2 octets does not fit one SMS ({MAX_USER_DATA}); "
                "use segmentation.split_text for concatenated SMS"
            )
    want = kw.pop("dcs", None)
    if want is not None:
        if _ALPHABET_BY_DCS[want & 0xFF] is not _ALPHABET_BY_DCS[dcs]:
            raise EncodeError(f"TP-DCS {want:#04x} does not code {_ALPHABET_BY_DCS[dcs].value} text")
        dcs = want
    return UserData(data), dcs


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class SmsSubmit:
    """SMS-SUBMIT (MS -> SC). ``validity``: None (no TP-VP), an int (relative TP-VP octet,
    see :func:`relative_validity`), a tz-aware datetime (absolute) or a timedelta (enhanced
    format, seconds or hh:mm:ss)."""

    destination: Address
    user_data: UserData
    dcs: int = DCS_8BIT
    message_ref: int = 0
    status_report_request: bool = False
    validity: Union[None, int, datetime, timedelta] = None
    pid: int = 0
    reject_duplicates: bool = False
    reply_path: bool = False

    @property
    def text(self) -> str:
        """The text of a GSM 7-bit or UCS2 message; DecodeError for 8-bit data."""
        return text_of(self.user_data, self.dcs)

    @classmethod
    def from_text(cls, destination: Address | str, text: str, **kw: Any) -> "SmsSubmit":
        """One SMS-SUBMIT carrying ``text``: GSM 7-bit when encodable, else UCS2."""
        ud, dcs = _text_user_data(text, kw)
        return cls(parse_address(destination), ud, dcs, **kw)


@dataclass(frozen=True, slots=True)
class SmsDeliver:
    """SMS-DELIVER (SC -> MS). ``timestamp`` is the TP-SCTS (default: now, UTC, whole
    seconds); ``more_messages_to_send`` is the meaning of TP-MMS = 0."""

    originator: Address
    user_data: UserData
    dcs: int = DCS_8BIT
    timestamp: datetime = field(default_factory=_now)
    pid: int = 0
    more_messages_to_send: bool = False
    status_report_indication: bool = False
    reply_path: bool = False

    @property
    def text(self) -> str:
        """The text of a GSM 7-bit or UCS2 message; DecodeError for 8-bit data."""
        return text_of(self.user_data, self.dcs)

    @classmethod
    def from_text(cls, originator: Address | str, text: str, **kw: Any) -> "SmsDeliver":
        """One SMS-DELIVER carrying ``text``: GSM 7-bit when encodable, else UCS2."""
        ud, dcs = _text_user_data(text, kw)
        return cls(parse_address(originator), ud, dcs, **kw)


_STATUS_TEXT = {
    0x00: "received by the SME",
    0x01: "forwarded, delivery unconfirmed",
    0x02: "replaced by the SC",
    0x20: "congestion (SC still trying)",
    0x21: "SME busy (SC still trying)",
    0x22: "no response from SME (SC still trying)",
    0x23: "service rejected (SC still trying)",
    0x24: "quality of service not available (SC still trying)",
    0x25: "error in SME (SC still trying)",
    0x40: "remote procedure error",
    0x41: "incompatible destination",
    0x42: "connection rejected by SME",
    0x43: "not obtainable",
    0x44: "quality of service not available",
    0x45: "no interworking available",
    0x46: "validity period expired",
    0x47: "deleted by originating SME",
    0x48: "deleted by SC administration",
    0x49: "message does not exist",
    0x60: "congestion (SC gave up)",
    0x61: "SME busy (SC gave up)",
    0x62: "no response from SME (SC gave up)",
    0x63: "service rejected (SC gave up)",
    0x64: "quality of service not available (SC gave up)",
    0x65: "error in SME (SC gave up)",
}


def status_text(status: int) -> str:
    """A short description of a TP-ST value (23.040 9.2.3.15)."""
    known = _STATUS_TEXT.get(status)
    if known is not None:
        return known
    if status < 0x20:
        return "transaction completed (reserved or SC-specific value)"
    if status < 0x40:
        return "temporary error, SC still trying (reserved or SC-specific value)"
    if status < 0x80:
        return "error, SC gave up (reserved or SC-specific value)"
    return "reserved value (treated as a permanent failure)"


@dataclass(frozen=True, slots=True)
class SmsStatusReport:
    """SMS-STATUS-REPORT (SC -> MS) for the SMS-SUBMIT whose TP-MR was ``message_ref``."""

    message_ref: int
    recipient: Address
    timestamp: datetime
    discharge_time: datetime
    status: int

    @property
    def delivered(self) -> bool:
        """0x00..0x1F: short message transaction completed (delivered, or replaced)."""
        return 0 <= self.status <= 0x1F

    @property
    def temporary_failure(self) -> bool:
        """0x20..0x3F: temporary error, the SC is still trying (not a final outcome)."""
        return 0x20 <= self.status <= 0x3F

    @property
    def permanent_failure(self) -> bool:
        """Final failure: 0x40..0x5F permanent error, 0x60..0x7F temporary error after which
        the SC makes no more attempts, and reserved values (23.040 treats them as failures)."""
        return self.status >= 0x40

    @property
    def status_text(self) -> str:
        return status_text(self.status)


Tpdu = Union[SmsSubmit, SmsDeliver, SmsStatusReport]


@dataclass(frozen=True, slots=True)
class Pdu:
    """A decoded PDU: the SMSC address in front (None when absent or 0x00), the TPDU, and
    the TPDU's length in octets (what AT+CMGS=<length> and +CMGR's <length> count)."""

    smsc: Address | None
    tpdu: Tpdu
    tpdu_length: int
    #: Octets after the user data, ignored (some modems pad the PDU line; 0 normally).
    trailing: int = 0


# -- semi-octets and address fields ------------------------------------------------------

# Swap the two nibbles of every octet: semi-octet order on the wire is low nibble first.
_NIBBLE_SWAP = bytes(((i & 0x0F) << 4) | (i >> 4) for i in range(256))
# Dialled characters <-> hex nibbles (23.040 9.1.2.3: 1010 '*', 1011 '#', 1100..1110 a, b, c).
_DIGITS_TO_HEX = str.maketrans("*#abcABC", "abcdecde")
_HEX_TO_DIGITS = str.maketrans("abcde", "*#abc")
_TON_BY_VALUE = tuple(Ton(i) if i < 7 else Ton.UNKNOWN for i in range(8))
_NPI_BY_VALUE = tuple(Npi(i) if i in Npi._value2member_map_ else Npi.UNKNOWN for i in range(16))


def _semi_octets(digits: str) -> bytes:
    text = digits.translate(_DIGITS_TO_HEX)
    if len(text) & 1:
        text += "f"
    try:
        return bytes.fromhex(text).translate(_NIBBLE_SWAP)
    except ValueError:
        raise EncodeError(f"{digits!r} has characters that are not dialled digits") from None


def _digits(octets: bytes, count: int) -> str:
    """``count`` semi-octet digits from ``octets`` (low nibble first)."""
    text = octets.translate(_NIBBLE_SWAP).hex()[:count]
    if not text.isdigit():
        text = text.translate(_HEX_TO_DIGITS)
    return text


@lru_cache(maxsize=4096)
def encode_address_field(addr: Address) -> bytes:
    """TP-DA / TP-OA / TP-RA (23.040 9.1.2.5): length in semi-octets, TON/NPI, value."""
    toa = 0x80 | (int(addr.ton) << 4) | int(addr.npi)
    if addr.ton == Ton.ALPHANUMERIC:
        septets = gsm7.encode(addr.value)
        if len(septets) > 11:
            raise EncodeError(
                f"alphanumeric address {addr.value!r} takes {len(septets)} septets; at most 11 fit"
            )
        # Length = useful semi-octets: 7 bits per septet, rounded up to whole nibbles.
        return bytes(((len(septets) * 7 + 3) // 4, toa)) + gsm7.pack(septets)
    return bytes((len(addr.value), toa)) + _semi_octets(addr.value)


def decode_address_field(data: bytes, offset: int) -> tuple[Address, int]:
    """Decode the address field at ``offset``; return the address and the offset after it."""
    try:
        length = data[offset]
        toa = data[offset + 1]
    except IndexError:
        raise DecodeError(f"address field at octet {offset} is truncated") from None
    end = offset + 2 + (length + 1) // 2
    if end > len(data):
        raise DecodeError(
            f"address field at octet {offset} claims {length} semi-octets, "
            f"{max(0, len(data) - offset - 2)} octets left"
        )
    ton = _TON_BY_VALUE[(toa >> 4) & 0x07]
    npi = _NPI_BY_VALUE[toa & 0x0F]
    raw = data[offset + 2 : end]
    if ton is Ton.ALPHANUMERIC:
        value = gsm7.decode(gsm7.unpack(raw, length * 4 // 7))
    else:
        value = _digits(raw, length)
        if value.endswith("f"):  # some encoders count the F filler in the length
            value = value.rstrip("f")
    return Address(value, ton, npi), end


def encode_smsc_field(addr: Address | None) -> bytes:
    """The SMSC address before the TPDU (length in octets); None -> 0x00, "the SIM's SMSC"."""
    if addr is None:
        return b"\x00"
    if addr.ton == Ton.ALPHANUMERIC:
        raise EncodeError(f"an SMSC address must be a number, not {addr.value!r}")
    body = _semi_octets(addr.value)
    return bytes((1 + len(body), 0x80 | (int(addr.ton) << 4) | int(addr.npi))) + body


def decode_smsc_field(data: bytes, offset: int = 0) -> tuple[Address | None, int]:
    """Decode the SMSC address at ``offset``; return it (None for a 0x00 length or no digits)
    and the offset after it."""
    try:
        length = data[offset]
    except IndexError:
        raise DecodeError("PDU is empty: no SMSC length octet") from None
    end = offset + 1 + length
    if length == 0:
        return None, end
    if end > len(data):
        raise DecodeError(f"SMSC field claims {length} octets, {len(data) - offset - 1} present")
    toa = data[offset + 1]
    text = _digits(data[offset + 2 : end], 2 * (length - 1))
    if text.endswith("f"):
        text = text[:-1]
    if not text:
        return None, end
    return Address(text, _TON_BY_VALUE[(toa >> 4) & 0x07], _NPI_BY_VALUE[toa & 0x0F]), end


# -- timestamps and validity ---------------------------------------------------------------

_SWAPPED_BCD = bytes(((v % 10) << 4) | (v // 10) for v in range(100))
# Octet -> value of its two swapped BCD digits, or -1 for a nibble above 9.
_BCD_VALUE = tuple(
    (i & 0x0F) * 10 + (i >> 4) if (i & 0x0F) <= 9 and (i >> 4) <= 9 else -1 for i in range(256)
)
_TZ_CACHE: dict[int, timezone] = {}


def _tz(quarters: int) -> timezone:
    tz = _TZ_CACHE.get(quarters)
    if tz is None:
        tz = _TZ_CACHE[quarters] = timezone(timedelta(minutes=15 * quarters))
    return tz


def encode_timestamp(ts: datetime) -> bytes:
    """TP-SCTS / TP-DT / absolute TP-VP (23.040 9.2.3.11): 7 semi-octet octets, the last
    the offset from UTC in quarter hours (bit 3 of its first digit: negative)."""
    offset = ts.utcoffset()
    if offset is None:
        raise EncodeError(f"timestamp {ts.isoformat()} has no time zone")
    seconds = int(offset.total_seconds())
    quarters, rest = divmod(abs(seconds), 900)
    if rest or quarters > 79:
        raise EncodeError(f"time zone offset {offset} is not a whole number of quarter hours within 19:45")
    if not 1969 <= ts.year <= 2068:
        raise EncodeError(f"year {ts.year} is outside 1969..2068 (two-digit years)")
    tz = ((quarters // 10) | ((quarters % 10) << 4)) | (0x08 if seconds < 0 else 0)
    s = _SWAPPED_BCD
    return bytes(
        (s[ts.year % 100], s[ts.month], s[ts.day], s[ts.hour], s[ts.minute], s[ts.second], tz)
    )


def decode_timestamp(data: bytes, offset: int = 0) -> datetime:
    """Decode a 7-octet TP-SCTS at ``offset`` into a tz-aware datetime."""
    if len(data) < offset + 7:
        raise DecodeError(f"timestamp at octet {offset} is truncated")
    b = _BCD_VALUE
    yy, mo, dd, hh, mi, ss = (b[x] for x in data[offset : offset + 6])
    tz = data[offset + 6]
    units = tz >> 4
    if min(yy, mo, dd, hh, mi, ss) < 0 or units > 9:
        raise DecodeError(f"timestamp {data[offset:offset + 7].hex()} has a non-decimal digit")
    quarters = (tz & 0x07) * 10 + units
    if tz & 0x08:
        quarters = -quarters
    try:
        return datetime(yy + (1900 if yy >= 69 else 2000), mo, dd, hh, mi, ss, tzinfo=_tz(quarters))
    except ValueError as exc:
        raise DecodeError(f"timestamp {data[offset:offset + 7].hex()}: {exc}") from None


def validity_period(octet: int) -> timedelta:
    """The period a relative TP-VP octet stands for (23.040 9.2.3.12.1)."""
    if not 0 <= octet <= 255:
        raise EncodeError(f"relative TP-VP {octet} is not an octet")
    if octet <= 143:
        return timedelta(minutes=5 * (octet + 1))
    if octet <= 167:
        return timedelta(hours=12, minutes=30 * (octet - 143))
    if octet <= 196:
        return timedelta(days=octet - 166)
    return timedelta(weeks=octet - 192)


def relative_validity(period: timedelta) -> int:
    """The smallest relative TP-VP octet whose period is at least ``period`` (5 minutes to
    63 weeks); EncodeError beyond 63 weeks."""
    if period > timedelta(weeks=63):
        raise EncodeError(f"validity {period} is longer than the 63 weeks a relative TP-VP holds")
    lo, hi = 0, 255
    while lo < hi:
        mid = (lo + hi) // 2
        if validity_period(mid) >= period:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _encode_validity(validity: object) -> tuple[int, bytes]:
    """(TP-VPF bits for the first octet, TP-VP octets)."""
    if validity is None:
        return 0x00, b""
    if isinstance(validity, bool):
        raise EncodeError("validity must be None, an int, a datetime or a timedelta")
    if isinstance(validity, int):
        if not 0 <= validity <= 255:
            raise EncodeError(f"relative TP-VP {validity} is not an octet")
        return 0x10, bytes((validity,))
    if isinstance(validity, datetime):
        return 0x18, encode_timestamp(validity)
    if isinstance(validity, timedelta):
        seconds = validity.total_seconds()
        if seconds != int(seconds) or seconds < 0:
            raise EncodeError(f"enhanced validity {validity} must be whole, positive seconds")
        seconds = int(seconds)
        if seconds <= 255:
            return 0x08, bytes((0x02, seconds, 0, 0, 0, 0, 0))
        hours, rest = divmod(seconds, 3600)
        if hours > 99:
            raise EncodeError(f"enhanced validity {validity} exceeds 99:59:59")
        s = _SWAPPED_BCD
        return 0x08, bytes((0x03, s[hours], s[rest // 60], s[rest % 60], 0, 0, 0))
    raise EncodeError(f"validity must be None, an int, a datetime or a timedelta, not {type(validity).__name__}")


def _decode_enhanced_validity(data: bytes, pos: int) -> int | timedelta | None:
    """Enhanced TP-VP (23.040 9.2.3.12.3): 7 octets, a functionality indicator first."""
    if len(data) < pos + 7:
        raise DecodeError("enhanced TP-VP is truncated")
    fi = data[pos]
    if fi & 0x80:
        raise DecodeError("enhanced TP-VP with an extended functionality indicator is not supported")
    fmt = fi & 0x07
    if fmt == 1:
        return data[pos + 1]
    if fmt == 2:
        return timedelta(seconds=data[pos + 1])
    if fmt == 3:
        hh, mm, ss = (_BCD_VALUE[x] for x in data[pos + 1 : pos + 4])
        if min(hh, mm, ss) < 0:
            raise DecodeError(f"enhanced TP-VP {data[pos:pos + 7].hex()} has a non-decimal digit")
        return timedelta(hours=hh, minutes=mm, seconds=ss)
    return None  # 0: no validity period; 4..7 reserved


# -- user data -----------------------------------------------------------------------------


def _encode_user_data(ud: UserData, dcs: int) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD octets) for ``ud`` under ``dcs``."""
    if _ALPHABET_BY_DCS[dcs] is Alphabet.GSM7:
        data = ud.data
        if ud.udh is None:
            udl = len(data)
            octets = gsm7.pack(data)
        else:
            udh = ud.udh.encode()
            header_septets = (len(udh) * 8 + 6) // 7
            udl = header_septets + len(data)
            # Fill bits put the first character on a septet boundary (23.040 9.2.3.24).
            octets = udh + gsm7.pack(data, header_septets * 7 - len(udh) * 8)
        if udl > MAX_SEPTETS:
            raise PayloadTooLarge(f"GSM 7-bit user data of {udl} septets exceeds {MAX_SEPTETS}")
        return udl, octets
    octets = ud.data if ud.udh is None else ud.udh.encode() + ud.data
    if len(octets) > MAX_USER_DATA:
        raise PayloadTooLarge(f"user data of {len(octets)} octets exceeds {MAX_USER_DATA}")
    return len(octets), octets


def _decode_user_data(data: bytes, pos: int, udl: int, dcs: int, udhi: bool) -> tuple[UserData, int]:
    """The user data and the offset just past it; octets after it are the caller's to count."""
    rest = len(data) - pos
    if _ALPHABET_BY_DCS[dcs] is Alphabet.GSM7:
        if udl > MAX_SEPTETS:
            raise DecodeError(f"TP-UDL {udl} exceeds {MAX_SEPTETS} septets")
        size = (udl * 7 + 7) // 8
        _check_ud_size(size, rest, "septets", udl)
        end = pos + size
        if not udhi:
            return UserData(gsm7.unpack(data[pos:end], udl)), end
        if udl == 0:
            raise DecodeError("TP-UDHI is set but TP-UDL is 0")
        header_octets = data[pos] + 1
        header_septets = (header_octets * 8 + 6) // 7
        if header_septets > udl:
            raise DecodeError(f"UDH of {header_octets} octets exceeds TP-UDL {udl} septets")
        udh, _ = split_user_data(data[pos : pos + header_octets])
        fill = header_septets * 7 - header_octets * 8
        septets = gsm7.unpack(data[pos + header_octets : end], udl - header_septets, fill)
        return UserData(septets, udh), end
    if udl > MAX_USER_DATA:
        raise DecodeError(f"TP-UDL {udl} exceeds {MAX_USER_DATA} octets")
    _check_ud_size(udl, rest, "octets", udl)
    end = pos + udl
    if udhi:
        udh, body = split_user_data(data[pos:end])
        return UserData(body, udh), end
    return UserData(data[pos:end] if end < len(data) else data[pos:]), end


def _check_ud_size(size: int, rest: int, unit: str, udl: int) -> None:
    # Fewer octets than TP-UDL says is a truncated message and refused; more is what some
    # modems emit (a padded +CMGR/+CMGL line): the caller ignores and counts the excess.
    if rest < size:
        raise DecodeError(
            f"TP-UDL {udl} {unit} needs {size} octets of user data, {rest} present"
        )


# -- PDUs ------------------------------------------------------------------------------------


def encode_pdu(tpdu: Tpdu, *, smsc: Address | None = None, with_smsc: bool = True) -> bytes:
    """Encode a TPDU, with the SMSC address in front unless ``with_smsc`` is False
    (``smsc=None`` gives the single 0x00 octet: "use the SIM's SMSC", as AT+CMGS sends it)."""
    if isinstance(tpdu, SmsSubmit):
        body = _encode_submit(tpdu)
    elif isinstance(tpdu, SmsDeliver):
        body = _encode_deliver(tpdu)
    elif isinstance(tpdu, SmsStatusReport):
        body = _encode_status_report(tpdu)
    else:
        raise EncodeError(f"not a TPDU: {type(tpdu).__name__}")
    if not with_smsc:
        return body
    return (b"\x00" if smsc is None else encode_smsc_field(smsc)) + body


def _octet(value: int, name: str) -> int:
    if not 0 <= value <= 0xFF:
        raise EncodeError(f"{name} {value} is not an octet")
    return value


def _encode_submit(t: SmsSubmit) -> bytes:
    dcs = _octet(t.dcs, "TP-DCS")
    udl, ud = _encode_user_data(t.user_data, dcs)
    vpf, vp = _encode_validity(t.validity)
    first = 0x01 | vpf
    if t.reject_duplicates:
        first |= 0x04
    if t.status_report_request:
        first |= 0x20
    if t.user_data.udh is not None:
        first |= 0x40
    if t.reply_path:
        first |= 0x80
    return b"".join(
        (
            bytes((first, _octet(t.message_ref, "TP-MR"))),
            encode_address_field(t.destination),
            bytes((_octet(t.pid, "TP-PID"), dcs)),
            vp,
            bytes((udl,)),
            ud,
        )
    )


def _encode_deliver(t: SmsDeliver) -> bytes:
    dcs = _octet(t.dcs, "TP-DCS")
    udl, ud = _encode_user_data(t.user_data, dcs)
    first = 0x00
    if not t.more_messages_to_send:
        first |= 0x04  # TP-MMS is 1 for "no more messages are waiting"
    if t.status_report_indication:
        first |= 0x20
    if t.user_data.udh is not None:
        first |= 0x40
    if t.reply_path:
        first |= 0x80
    return b"".join(
        (
            bytes((first,)),
            encode_address_field(t.originator),
            bytes((_octet(t.pid, "TP-PID"), dcs)),
            encode_timestamp(t.timestamp),
            bytes((udl,)),
            ud,
        )
    )


def _encode_status_report(t: SmsStatusReport) -> bytes:
    return b"".join(
        (
            bytes((0x06, _octet(t.message_ref, "TP-MR"))),  # MTI 10, TP-MMS: no more messages
            encode_address_field(t.recipient),
            encode_timestamp(t.timestamp),
            encode_timestamp(t.discharge_time),
            bytes((_octet(t.status, "TP-ST"),)),
        )
    )


def tpdu_length(pdu: bytes, with_smsc: bool = True) -> int:
    """The TPDU's length in octets: what AT+CMGS=<length> wants (the SMSC field excluded)."""
    if not with_smsc:
        return len(pdu)
    if not pdu:
        raise DecodeError("PDU is empty: no SMSC length octet")
    return len(pdu) - 1 - pdu[0]


def decode_pdu(data: bytes | str, *, direction: Direction = Direction.MT, with_smsc: bool = True) -> Pdu:
    """Decode a PDU as a modem gives it (+CMT, +CMGR, +CMGL) or AT+CMGS takes it.

    ``direction`` says how TP-MTI is read: MT for received SMS (SMS-DELIVER, status reports),
    MO for what a phone sends (SMS-SUBMIT), AUTO by TP-MTI alone (a message store holds
    both). ``data`` may also be a hex string (whitespace and a pair of quotes around it are
    stripped). Octets after the user data are ignored, counted in :attr:`Pdu.trailing` and
    logged at debug level: some modems pad the line. Raises only DecodeError.
    """
    if isinstance(data, str):
        text = data.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1].strip()
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise DecodeError("PDU is not a hex string") from None
    elif type(data) is not bytes:
        data = bytes(data)
    try:
        if with_smsc:
            smsc, pos = decode_smsc_field(data, 0)
        else:
            smsc, pos = None, 0
        if pos >= len(data):
            raise DecodeError("PDU has no TPDU after the SMSC address")
        first = data[pos]
        mti = first & 0x03
        end = len(data)
        tpdu: Tpdu
        if direction is Direction.AUTO:
            if mti == 1:
                tpdu, end = _decode_submit(data, pos, first)
            elif mti == 2:
                tpdu = _decode_status_report(data, pos)
            else:
                tpdu, end = _decode_deliver(data, pos, first)
        elif direction is Direction.MT:
            if mti == 0 or mti == 3:  # 23.040 9.2.3.1: reserved MTI is read as SMS-DELIVER
                tpdu, end = _decode_deliver(data, pos, first)
            elif mti == 2:
                tpdu = _decode_status_report(data, pos)
            else:
                raise DecodeError(
                    "TP-MTI 01 on an MT PDU is SMS-SUBMIT-REPORT, which is not supported "
                    "(an SMS-SUBMIT is decoded with direction MO or AUTO)"
                )
        elif mti == 1 or mti == 3:
            tpdu, end = _decode_submit(data, pos, first)
        else:
            kind = "SMS-DELIVER-REPORT" if mti == 0 else "SMS-COMMAND"
            raise DecodeError(
                f"TP-MTI {mti:02b} on an MO PDU is {kind}, which is not supported "
                "(an SMS-DELIVER is decoded with direction MT or AUTO)"
            )
    except IndexError:
        raise DecodeError(f"PDU of {len(data)} octets is truncated") from None
    trailing = len(data) - end
    if trailing:
        log.debug("PDU: %d octet(s) after the user data ignored: %s", trailing, data[end:end + 16].hex())
    return Pdu(smsc, tpdu, end - (pos if with_smsc else 0), trailing)


def _decode_deliver(data: bytes, pos: int, first: int) -> tuple[SmsDeliver, int]:
    originator, pos = decode_address_field(data, pos + 1)
    pid = data[pos]
    dcs = data[pos + 1]
    timestamp = decode_timestamp(data, pos + 2)
    udl = data[pos + 9]
    ud, end = _decode_user_data(data, pos + 10, udl, dcs, bool(first & 0x40))
    return SmsDeliver(
        originator,
        ud,
        dcs,
        timestamp,
        pid,
        not first & 0x04,
        bool(first & 0x20),
        bool(first & 0x80),
    ), end


def _decode_submit(data: bytes, pos: int, first: int) -> tuple[SmsSubmit, int]:
    message_ref = data[pos + 1]
    destination, pos = decode_address_field(data, pos + 2)
    pid = data[pos]
    dcs = data[pos + 1]
    pos += 2
    vpf = first & 0x18
    validity: int | datetime | timedelta | None = None
    if vpf == 0x10:
        validity = data[pos]
        pos += 1
    elif vpf == 0x18:
        validity = decode_timestamp(data, pos)
        pos += 7
    elif vpf == 0x08:
        validity = _decode_enhanced_validity(data, pos)
        pos += 7
    udl = data[pos]
    ud, end = _decode_user_data(data, pos + 1, udl, dcs, bool(first & 0x40))
    return SmsSubmit(
        destination,
        ud,
        dcs,
        message_ref,
        bool(first & 0x20),
        validity,
        pid,
        bool(first & 0x04),
        bool(first & 0x80),
    ), end


def _decode_status_report(data: bytes, pos: int) -> SmsStatusReport:
    message_ref = data[pos + 1]
    recipient, pos = decode_address_field(data, pos + 2)
    timestamp = decode_timestamp(data, pos)
    discharge = decode_timestamp(data, pos + 7)
    status = data[pos + 14]
    # TP-PI and the optional TP-PID/TP-DCS/TP-UD after it are not needed here; skipped.
    return SmsStatusReport(message_ref, recipient, timestamp, discharge, status)

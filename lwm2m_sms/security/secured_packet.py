"""Secured packets for SMS-PP (SMS security mode 2): ETSI TS 102 225 as bound to SMS by
3GPP TS 31.115. Sans-IO: bytes, keys and counters in; bytes and values out.

A command packet, as the TP-UD of one SMS (TS 31.115 section 4.2)::

    UDHL=02 IEI=70 IEIDL=00 | CPL(2) | CHL(1) SPI(2) KIc(1) KID(1) TAR(3) |
        [ CNTR(5) PCNTR(1) RC/CC/DS(0|8) secured data, padding ]   <- ciphered when SPI says

A response packet (proof of receipt, PoR; TS 31.115 section 4.3)::

    UDHL=02 IEI=71 IEIDL=00 | RPL(2) | RHL(1) TAR(3) |
        [ CNTR(5) PCNTR(1) status(1) RC/CC/DS(0|8) additional data, padding ]

What is computed over what (checked against known answers from real UICCs, see the tests):

* Command CC: over CPL, CHL, SPI, KIc, KID, TAR, CNTR, PCNTR and the secured data with its
  cipher padding (not the UDH); then the part from CNTR on is ciphered with KIc, IV zero.
* Response CC: over the UDH (02 71 00), RPL, RHL, TAR, CNTR, PCNTR, status and the data with
  its padding; the part from CNTR on is ciphered when the command's SPI asks for it.
* Algorithms (TS 102 225 section 5.1.2, 5.1.3): AES-CBC for ciphering and AES-CMAC for the
  CC (its 8 most significant octets); triple DES outer-CBC with two or three keys for both,
  the CC being the last 8 octets of the 3DES-CBC result over the data zero-padded to 8.
  Single DES, redundancy checks (CRC) and digital signatures are refused: the first is
  broken and the others do not authenticate.
* PCNTR counts the padding octets added for ciphering; without ciphering it is 0.

Over our bearers the three UDH octets travel at the front of the 8-bit payload (the same
octets a UDHI SMS carries, with TP-UDHI clear); the leading octet 0x02 can never start a
CoAP message (version 1 puts 0x40..0x7F there), so secured and plain payloads cannot be
confused. The SMS is marked class 2 with TP-PID 0x7F (USIM data download) by
:class:`~lwm2m_sms.security.bearer.SecureBearer`, through the bearer's per-message PID/DCS.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import DecodeError, EncodeError

__all__ = [
    "COMMAND_UDH",
    "RESPONSE_UDH",
    "LWM2M_TAR",
    "MAX_COUNTER",
    "SecuredPacketError",
    "Integrity",
    "CounterPolicy",
    "PorRequest",
    "Spi",
    "CipherAlgorithm",
    "ChecksumAlgorithm",
    "Keyset",
    "CommandHeader",
    "OpenedCommand",
    "ResponseStatus",
    "Response",
    "build_command",
    "parse_command_header",
    "open_command",
    "build_response",
    "open_response",
    "is_command",
    "is_response",
    "check_counter",
]

COMMAND_UDH = b"\x02\x70\x00"  # UDHL 2, IEI 0x70 (command packet identifier), length 0
RESPONSE_UDH = b"\x02\x71\x00"  # IEI 0x71: response packet identifier
LWM2M_TAR = bytes.fromhex("B20203")  # LwM2M 1.0.2 section 7.2.2: the LwM2M client on the UICC
MAX_COUNTER = (1 << 40) - 1  # CNTR is five octets
CC_LENGTH = 8


class SecuredPacketError(DecodeError):
    """A secured packet that does not decode, or fails its check. ``status`` is the PoR
    response status TS 102 225 table 5 gives for it (None: answer nothing)."""

    def __init__(self, message: str, status: "ResponseStatus | None" = None) -> None:
        super().__init__(message)
        self.status = status


class Integrity(enum.IntEnum):
    """SPI first octet b1-b2 (and the PoR's, second octet b3-b4)."""

    NONE = 0
    RC = 1  # redundancy check (CRC): not an authentication; refused
    CC = 2  # cryptographic checksum
    DS = 3  # digital signature: not supported


class CounterPolicy(enum.IntEnum):
    """SPI first octet b4-b5 (TS 102 225 section 5.1.1)."""

    NONE = 0  # no counter
    AVAILABLE = 1  # counter present, no replay or sequence checking
    HIGHER = 2  # process only if higher than the one in the receiving entity
    ONE_HIGHER = 3  # process only if exactly one higher


class PorRequest(enum.IntEnum):
    """SPI second octet b1-b2."""

    NONE = 0
    ALWAYS = 1
    ON_ERROR = 2


@dataclass(frozen=True, slots=True)
class Spi:
    integrity: Integrity = Integrity.CC
    ciphering: bool = True
    counter: CounterPolicy = CounterPolicy.HIGHER
    por: PorRequest = PorRequest.ON_ERROR
    por_integrity: Integrity = Integrity.CC
    por_ciphered: bool = True
    por_in_submit: bool = True  # PoR by SMS-SUBMIT, not in the SMS-DELIVER-REPORT

    def to_bytes(self) -> bytes:
        first = self.integrity | (0x04 if self.ciphering else 0) | (self.counter << 3)
        second = (
            self.por
            | (self.por_integrity << 2)
            | (0x10 if self.por_ciphered else 0)
            | (0x20 if self.por_in_submit else 0)
        )
        return bytes((first, second))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Spi":
        if len(data) != 2:
            raise SecuredPacketError(f"SPI is two octets, got {len(data)}")
        first, second = data
        por = second & 0x03
        if por == 3:
            raise SecuredPacketError(f"SPI {data.hex()}: PoR request 11 is reserved")
        return cls(
            integrity=Integrity(first & 0x03),
            ciphering=bool(first & 0x04),
            counter=CounterPolicy((first >> 3) & 0x03),
            por=PorRequest(por),
            por_integrity=Integrity((second >> 2) & 0x03),
            por_ciphered=bool(second & 0x10),
            por_in_submit=bool(second & 0x20),
        )

    @classmethod
    def parse(cls, text: str) -> "Spi":
        """From four hex digits, as /0/x/7 and configuration files give it."""
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise SecuredPacketError(f"SPI {text!r} is not four hex digits") from None
        return cls.from_bytes(raw)


class CipherAlgorithm(enum.IntEnum):
    """KIc b1-b4 (TS 102 225 section 5.1.2)."""

    IMPLICIT = 0x0
    DES_CBC = 0x1  # refused
    AES_CBC = 0x2
    TDES_CBC_2KEY = 0x5
    TDES_CBC_3KEY = 0x9


class ChecksumAlgorithm(enum.IntEnum):
    """KID b1-b4 for a cryptographic checksum (TS 102 225 section 5.1.3.1)."""

    IMPLICIT = 0x0
    DES_CBC = 0x1  # refused
    AES_CMAC = 0x2
    TDES_CBC_2KEY = 0x5
    TDES_CBC_3KEY = 0x9


_TDES_KEY_LENGTH = {0x5: 16, 0x9: 24}
_AES_KEY_LENGTHS = (16, 24, 32)


def _check_key(kind: str, algo: int, key: bytes) -> None:
    if algo == 0x2:
        if len(key) not in _AES_KEY_LENGTHS:
            raise EncodeError(f"{kind}: an AES key is 16, 24 or 32 octets, got {len(key)}")
    elif algo in _TDES_KEY_LENGTH:
        want = _TDES_KEY_LENGTH[algo]
        if len(key) != want:
            raise EncodeError(f"{kind}: a 3DES key with {want // 8} keys is {want} octets, got {len(key)}")
    else:
        raise EncodeError(f"{kind}: algorithm {algo:#x} is not supported (AES 0x2, 3DES 0x5/0x9)")


@dataclass(frozen=True, slots=True)
class Keyset:
    """The keys one TAR uses: KIc for ciphering and KID for the checksum, each with its key
    index (the high nibble of the KIc/KID octet) and algorithm (the low nibble)."""

    kic: bytes
    kid: bytes
    kic_index: int = 1
    kid_index: int = 1
    kic_algorithm: CipherAlgorithm = CipherAlgorithm.AES_CBC
    kid_algorithm: ChecksumAlgorithm = ChecksumAlgorithm.AES_CMAC

    def __post_init__(self) -> None:
        for name, index in (("KIc", self.kic_index), ("KID", self.kid_index)):
            if not 0 <= index <= 15:
                raise EncodeError(f"{name} key index is 0..15, got {index}")
        _check_key("KIc", self.kic_algorithm, self.kic)
        _check_key("KID", self.kid_algorithm, self.kid)

    def __repr__(self) -> str:  # keys stay out of logs
        return (f"Keyset(kic={self.kic_octet:#04x}, kid={self.kid_octet:#04x})")

    @property
    def kic_octet(self) -> int:
        return (self.kic_index << 4) | self.kic_algorithm

    @property
    def kid_octet(self) -> int:
        return (self.kid_index << 4) | self.kid_algorithm

    # -- primitives ------------------------------------------------------------------------

    @property
    def block_size(self) -> int:
        return 16 if self.kic_algorithm == CipherAlgorithm.AES_CBC else 8

    def _cipher(self) -> Cipher[modes.CBC]:
        if self.kic_algorithm == CipherAlgorithm.AES_CBC:
            return Cipher(algorithms.AES(self.kic), modes.CBC(bytes(16)))
        return Cipher(TripleDES(_tdes_key(self.kic)), modes.CBC(bytes(8)))

    def encrypt(self, data: bytes) -> bytes:
        enc = self._cipher().encryptor()
        return enc.update(data) + enc.finalize()

    def decrypt(self, data: bytes) -> bytes:
        if len(data) % self.block_size:
            raise SecuredPacketError(
                f"ciphered part of {len(data)} octets is not a multiple of {self.block_size}",
                ResponseStatus.CIPHERING_ERROR,
            )
        dec = self._cipher().decryptor()
        return dec.update(data) + dec.finalize()

    def checksum(self, data: bytes) -> bytes:
        if self.kid_algorithm == ChecksumAlgorithm.AES_CMAC:
            mac = cmac.CMAC(algorithms.AES(self.kid))
            mac.update(data)
            return mac.finalize()[:CC_LENGTH]
        padded = data + bytes(-len(data) % 8)
        enc = Cipher(TripleDES(_tdes_key(self.kid)), modes.CBC(bytes(8))).encryptor()
        return (enc.update(padded) + enc.finalize())[-CC_LENGTH:]


def _tdes_key(key: bytes) -> bytes:
    # Two keys are K1, K2, K1 (TS 102 225 5.1.2); spelt out as three for `cryptography`.
    return key + key[:8] if len(key) == 16 else key


def _refuse_unsupported(spi: Spi, *, response: bool = False) -> None:
    integrity = spi.por_integrity if response else spi.integrity
    if integrity in (Integrity.RC, Integrity.DS):
        raise EncodeError(f"SPI {spi.to_bytes().hex()}: {integrity.name} is not supported (CC or none)")


# -- command packets ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandHeader:
    """The part of a command packet readable without keys: enough to pick the keys."""

    spi: Spi
    kic: int
    kid: int
    tar: bytes
    packet: bytes  # from CPL to the end (after the UDH)


@dataclass(frozen=True, slots=True)
class OpenedCommand:
    header: CommandHeader
    counter: int
    data: bytes


def is_command(payload: bytes) -> bool:
    return payload[:3] == COMMAND_UDH


def is_response(payload: bytes) -> bool:
    return payload[:3] == RESPONSE_UDH


def _pad_count(length: int, block: int) -> int:
    return -length % block


def build_command(keys: Keyset, spi: Spi, tar: bytes, counter: int, data: bytes, *, udh: bool = True) -> bytes:
    """A command packet carrying ``data``; with ``udh`` (default) the three UDH octets in
    front, as the SMS's TP-UD carries it."""
    _refuse_unsupported(spi)
    if len(tar) != 3:
        raise EncodeError(f"TAR is three octets, got {len(tar)}")
    if not 0 <= counter <= MAX_COUNTER:
        raise EncodeError(f"counter {counter} does not fit in five octets")
    cc_len = CC_LENGTH if spi.integrity == Integrity.CC else 0
    padding = _pad_count(6 + cc_len + len(data), keys.block_size) if spi.ciphering else 0
    chl = 13 + cc_len
    head = bytes((chl,)) + spi.to_bytes() + bytes((keys.kic_octet, keys.kid_octet)) + tar
    counters = counter.to_bytes(5, "big") + bytes((padding,))
    body = data + bytes(padding)
    cpl = len(head) + len(counters) + cc_len + len(body)
    if cpl > 0xFFFF:
        raise EncodeError(f"command packet of {cpl} octets is too long for CPL")
    cpl_octets = cpl.to_bytes(2, "big")
    cc = keys.checksum(cpl_octets + head + counters + body) if cc_len else b""
    secured = counters + cc + body
    if spi.ciphering:
        secured = keys.encrypt(secured)
    return (COMMAND_UDH if udh else b"") + cpl_octets + head + secured


def parse_command_header(payload: bytes) -> CommandHeader:
    """Read the clear header of a command packet (with or without its UDH)."""
    packet = payload[3:] if is_command(payload) else payload
    if len(packet) < 2 + 1 + 13:
        raise SecuredPacketError(f"command packet of {len(packet)} octets is shorter than its header")
    cpl = int.from_bytes(packet[:2], "big")
    if cpl != len(packet) - 2:
        raise SecuredPacketError(f"CPL says {cpl} octets, {len(packet) - 2} follow it")
    chl = packet[2]
    if chl not in (13, 13 + CC_LENGTH):
        raise SecuredPacketError(f"CHL {chl}: header of 13 or 21 octets expected")
    spi = Spi.from_bytes(packet[3:5])
    return CommandHeader(spi, packet[5], packet[6], bytes(packet[7:10]), bytes(packet))


def open_command(header: CommandHeader, keys: Keyset) -> OpenedCommand:
    """Decipher and check a command packet. Raises SecuredPacketError whose ``status`` is
    the PoR status to answer with (counter checking is :func:`check_counter`'s job)."""
    spi = header.spi
    if header.kic != keys.kic_octet or header.kid != keys.kid_octet:
        # Wrong key index or algorithm: nothing here can be authenticated.
        raise SecuredPacketError(f"KIc/KID {header.kic:#04x}/{header.kid:#04x} not ours", None)
    if spi.integrity != Integrity.CC:
        # LwM2M needs the sender authenticated; RC and DS are refused when building too.
        raise SecuredPacketError(
            f"SPI {spi.to_bytes().hex()}: no cryptographic checksum", ResponseStatus.INSUFFICIENT_SECURITY_LEVEL
        )
    packet = header.packet
    cc_len = CC_LENGTH
    if packet[2] != 13 + cc_len:
        raise SecuredPacketError(f"CHL {packet[2]} does not match the SPI", ResponseStatus.UNDEFINED_SECURITY_ERROR)
    clear_head = packet[:10]
    secured = packet[10:]
    if spi.ciphering:
        secured = keys.decrypt(secured)
    if len(secured) < 6 + cc_len:
        raise SecuredPacketError("secured part shorter than CNTR, PCNTR and CC", ResponseStatus.UNDEFINED_SECURITY_ERROR)
    counters, cc, body = secured[:6], secured[6 : 6 + cc_len], secured[6 + cc_len :]
    padding = counters[5]
    if padding > len(body) or (not spi.ciphering and padding):
        raise SecuredPacketError(f"PCNTR {padding} exceeds the data", ResponseStatus.CIPHERING_ERROR)
    expect = keys.checksum(clear_head + counters + body)
    if not hmac.compare_digest(cc, expect):
        raise SecuredPacketError("cryptographic checksum does not match", ResponseStatus.RC_CC_DS_FAILED)
    data = body[: len(body) - padding]
    return OpenedCommand(header, int.from_bytes(counters[:5], "big"), data)


# -- counters -------------------------------------------------------------------------------


def check_counter(policy: CounterPolicy, received: int, last: int | None) -> "ResponseStatus | None":
    """TS 102 225 section 5.1.1: None if ``received`` may be processed after ``last``
    (None: nothing received yet, taken as 0), else the PoR status that refuses it. The
    receiving entity keeps ``received`` as its new value only after a successful check."""
    current = 0 if last is None else last
    if policy in (CounterPolicy.NONE, CounterPolicy.AVAILABLE):
        return None
    if current >= MAX_COUNTER:
        return ResponseStatus.CNTR_BLOCKED
    if policy == CounterPolicy.HIGHER:
        return None if received > current else ResponseStatus.CNTR_LOW
    if received == current + 1:
        return None
    return ResponseStatus.CNTR_LOW if received <= current else ResponseStatus.CNTR_HIGH


# -- response packets (PoR) -----------------------------------------------------------------


class ResponseStatus(enum.IntEnum):
    """TS 102 225 table 5 (and TS 31.115 section 7)."""

    POR_OK = 0x00
    RC_CC_DS_FAILED = 0x01
    CNTR_LOW = 0x02
    CNTR_HIGH = 0x03
    CNTR_BLOCKED = 0x04
    CIPHERING_ERROR = 0x05
    UNDEFINED_SECURITY_ERROR = 0x06
    INSUFFICIENT_MEMORY = 0x07
    MORE_TIME = 0x08
    TAR_UNKNOWN = 0x09
    INSUFFICIENT_SECURITY_LEVEL = 0x0A
    RESPONSE_IN_SMS_SUBMIT = 0x0B
    RESPONSE_IN_USSD = 0x0C


@dataclass(frozen=True, slots=True)
class Response:
    tar: bytes
    counter: int
    status: ResponseStatus
    data: bytes


def build_response(
    keys: Keyset, spi: Spi, tar: bytes, counter: int, status: ResponseStatus, data: bytes = b""
) -> bytes:
    """A PoR (with its UDH) answering a command sent with ``spi``: integrity and ciphering
    as that SPI's PoR bits ask, CNTR the command's."""
    _refuse_unsupported(spi, response=True)
    cc_len = CC_LENGTH if spi.por_integrity == Integrity.CC else 0
    padding = _pad_count(7 + cc_len + len(data), keys.block_size) if spi.por_ciphered else 0
    rhl = 10 + cc_len
    counters = counter.to_bytes(5, "big") + bytes((padding, status))
    body = data + bytes(padding)
    rpl = 1 + 3 + len(counters) + cc_len + len(body)
    clear = rpl.to_bytes(2, "big") + bytes((rhl,)) + tar
    cc = keys.checksum(RESPONSE_UDH + clear + counters + body) if cc_len else b""
    secured = counters + cc + body
    if spi.por_ciphered:
        secured = keys.encrypt(secured)
    return RESPONSE_UDH + clear + secured


def open_response(payload: bytes, keys: Keyset, spi: Spi) -> Response:
    """Check and read a PoR answering a command sent with ``spi``."""
    if not is_response(payload):
        raise SecuredPacketError("not a response packet (UDH 02 71 00 expected)")
    packet = payload[3:]
    if len(packet) < 2 + 1 + 3 + 7:
        raise SecuredPacketError(f"response packet of {len(packet)} octets is shorter than its header")
    rpl = int.from_bytes(packet[:2], "big")
    if rpl != len(packet) - 2:
        raise SecuredPacketError(f"RPL says {rpl} octets, {len(packet) - 2} follow it")
    cc_len = CC_LENGTH if spi.por_integrity == Integrity.CC else 0
    if packet[2] != 10 + cc_len:
        raise SecuredPacketError(f"RHL {packet[2]} does not match the SPI's PoR integrity")
    clear, secured = packet[:6], packet[6:]
    if spi.por_ciphered:
        secured = keys.decrypt(secured)
    if len(secured) < 7 + cc_len:
        raise SecuredPacketError("response shorter than its counters and checksum")
    counters, cc, body = secured[:7], secured[7 : 7 + cc_len], secured[7 + cc_len :]
    if cc_len and not hmac.compare_digest(cc, keys.checksum(RESPONSE_UDH + clear + counters + body)):
        raise SecuredPacketError("PoR cryptographic checksum does not match")
    padding = counters[5]
    if padding > len(body):
        raise SecuredPacketError(f"PCNTR {padding} exceeds the data")
    try:
        status = ResponseStatus(counters[6])
    except ValueError:
        raise SecuredPacketError(f"unknown response status {counters[6]:#04x}") from None
    return Response(bytes(clear[3:6]), int.from_bytes(counters[:5], "big"), status, body[: len(body) - padding])

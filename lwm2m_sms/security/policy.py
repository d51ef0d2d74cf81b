"""Who speaks which SMS security mode: per peer MSISDN, the mode and its key material.

The server configures it per device (a JSON file, the bootstrap server's configuration, or
code); a device has one entry, for its server's number, taken from its Security object
(/0/x/6 mode, /0/x/7 key parameters, /0/x/8 secret keys, /0/x/9 the server's number).

Modes (LwM2M 1.0.2, resource /0/x/6): 1 DTLS, 2 secured packet, 3 NoSec; 204 (in the
proprietary range 204..255) is our OSCORE over coap+sms, which aiocoap's OSCORE layer does
above the transport; at the SMS layer it is checked only for being OSCORE-protected CoAP.

/0/x/7 and /0/x/8 are opaque in LwM2M 1.0.2; their layout here (the simplest a bootstrap
server can write, documented in docs/security.md):

* secured packet: /0/x/7 = SPI(2) KIc(1) KID(1) TAR(3); /0/x/8 = KIc key || KID key
  (equal lengths: 16/24/32 for AES, 16/24 for 3DES).
* DTLS: /0/x/7 = the PSK identity (UTF-8 octets); /0/x/8 = the PSK.
* OSCORE: /0/x/7 = len(S) S len(R) R, the device's Sender and Recipient IDs (each at most
  7 octets) with a length octet before each; /0/x/8 = the master secret (no salt).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import EncodeError
from ..sms.address import Address, parse_msisdn
from .secured_packet import LWM2M_TAR, CipherAlgorithm, ChecksumAlgorithm, Keyset, Spi

__all__ = [
    "SmsSecurityMode",
    "PacketKeys",
    "PskKeys",
    "OscoreKeys",
    "PeerSecurity",
    "SecurityPolicy",
    "SecurityConfigError",
    "peer_from_dict",
]


class SecurityConfigError(EncodeError):
    """A security configuration that cannot be used (unknown mode, bad keys)."""


class SmsSecurityMode(enum.IntEnum):
    DTLS = 1
    PACKET = 2
    NOSEC = 3
    OSCORE = 204

    @classmethod
    def parse(cls, value: "str | int") -> "SmsSecurityMode":
        if isinstance(value, str) and not (value.isascii() and value.isdigit()):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        try:
            return cls(int(value))
        except ValueError:
            raise SecurityConfigError(
                f"SMS security mode {value!r}: 1 (dtls), 2 (packet), 3 (nosec) or 204 (oscore)"
            ) from None


@dataclass(frozen=True)
class PacketKeys:
    keyset: Keyset
    spi: Spi = Spi()
    tar: bytes = LWM2M_TAR

    def key_parameters(self) -> bytes:
        """/0/x/7."""
        return self.spi.to_bytes() + bytes((self.keyset.kic_octet, self.keyset.kid_octet)) + self.tar

    def secret(self) -> bytes:
        """/0/x/8."""
        return self.keyset.kic + self.keyset.kid

    @classmethod
    def from_resources(cls, params: bytes, secret: bytes) -> "PacketKeys":
        if len(params) != 7 or len(secret) % 2:
            raise SecurityConfigError("secured packet: /0/x/7 is SPI KIc KID TAR (7 octets), /0/x/8 KIc||KID")
        half = len(secret) // 2
        try:
            keyset = Keyset(
                kic=secret[:half], kid=secret[half:], kic_index=params[2] >> 4, kid_index=params[3] >> 4,
                kic_algorithm=CipherAlgorithm(params[2] & 0x0F), kid_algorithm=ChecksumAlgorithm(params[3] & 0x0F),
            )
            return cls(keyset, Spi.from_bytes(params[:2]), bytes(params[4:7]))
        except ValueError as exc:
            raise SecurityConfigError(f"secured packet keys: {exc}") from None


@dataclass(frozen=True)
class PskKeys:
    identity: bytes
    key: bytes = field(repr=False)

    def key_parameters(self) -> bytes:
        return self.identity

    def secret(self) -> bytes:
        return self.key


@dataclass(frozen=True)
class OscoreKeys:
    sender_id: bytes
    recipient_id: bytes
    master_secret: bytes = field(repr=False)
    master_salt: bytes = b""

    def key_parameters(self) -> bytes:
        return bytes((len(self.sender_id),)) + self.sender_id + bytes((len(self.recipient_id),)) + self.recipient_id

    def secret(self) -> bytes:
        return self.master_secret

    @classmethod
    def from_resources(cls, params: bytes, secret: bytes) -> "OscoreKeys":
        if not params or params[0] + 2 > len(params) or params[0] + 2 + params[1 + params[0]] != len(params):
            raise SecurityConfigError("OSCORE: /0/x/7 is len(S) S len(R) R")
        s = params[1 : 1 + params[0]]
        r = params[2 + params[0] :]
        return cls(bytes(s), bytes(r), bytes(secret))

    def swapped(self) -> "OscoreKeys":
        """The other side's view (its sender is our recipient)."""
        return OscoreKeys(self.recipient_id, self.sender_id, self.master_secret, self.master_salt)


Keys = PacketKeys | PskKeys | OscoreKeys


@dataclass(frozen=True)
class PeerSecurity:
    mode: SmsSecurityMode
    keys: Keys | None = None

    def __post_init__(self) -> None:
        want = {SmsSecurityMode.PACKET: PacketKeys, SmsSecurityMode.DTLS: PskKeys,
                SmsSecurityMode.OSCORE: OscoreKeys}.get(self.mode)
        if want is not None and not isinstance(self.keys, want):
            raise SecurityConfigError(f"mode {self.mode.name} needs {want.__name__}")

    @classmethod
    def from_resources(cls, mode: int, params: bytes, secret: bytes) -> "PeerSecurity":
        """From /0/x/6, /0/x/7 and /0/x/8 as a bootstrap server wrote them."""
        m = SmsSecurityMode.parse(mode)
        if m is SmsSecurityMode.PACKET:
            return cls(m, PacketKeys.from_resources(params, secret))
        if m is SmsSecurityMode.DTLS:
            if not params or not secret:
                raise SecurityConfigError("DTLS: /0/x/7 is the PSK identity, /0/x/8 the PSK; both needed")
            return cls(m, PskKeys(bytes(params), bytes(secret)))
        if m is SmsSecurityMode.OSCORE:
            return cls(m, OscoreKeys.from_resources(params, secret))
        return cls(m)


NOSEC = PeerSecurity(SmsSecurityMode.NOSEC)


class SecurityPolicy:
    """Per peer MSISDN, its :class:`PeerSecurity`; peers not named get ``default`` (None:
    refused, nothing sent to them and everything from them dropped).

    ``allow_nosec`` names the peers that may still send NoSec SMS although configured for a
    secured mode (LwM2M 1.0.2 section 7.2: debugging). ``trigger_only`` names NoSec peers
    whose SMS are limited to the registration update trigger (POST /1/x/8) and its answer:
    the other case 7.2 allows, a trigger by SMS beside a secured UDP channel. Everything
    else not protected as configured is dropped."""

    def __init__(
        self,
        peers: "Mapping[str | Address, PeerSecurity] | None" = None,
        *,
        default: "PeerSecurity | None" = NOSEC,
        allow_nosec: "tuple[str | Address, ...] | list[str | Address]" = (),
        trigger_only: "tuple[str | Address, ...] | list[str | Address]" = (),
    ) -> None:
        self.default = default
        self._peers: dict[Address, PeerSecurity] = {}
        for k, v in (peers or {}).items():
            self.set(k, v)
        self.allow_nosec = {parse_msisdn(a) if isinstance(a, str) else a for a in allow_nosec}
        self.trigger_only = {parse_msisdn(a) if isinstance(a, str) else a for a in trigger_only}

    def set(self, peer: "str | Address", security: PeerSecurity) -> None:
        self._peers[parse_msisdn(peer) if isinstance(peer, str) else peer] = security

    def peers(self) -> dict[Address, PeerSecurity]:
        return dict(self._peers)

    def for_peer(self, peer: Address) -> "PeerSecurity | None":
        return self._peers.get(peer, self.default)

    def nosec_allowed(self, peer: Address) -> bool:
        sec = self.for_peer(peer)
        return (sec is not None and sec.mode is SmsSecurityMode.NOSEC) or peer in self.allow_nosec

    @classmethod
    def load(cls, path: "str | Path") -> "SecurityPolicy":
        """From a JSON file::

            {"default": "nosec", "allow_nosec": ["+1555..."], "trigger_only": ["+1555..."],
             "devices": {"+15550101": {"mode": "packet", "params": "<hex /0/x/7>", "secret": "<hex /0/x/8>"},
                         "+15550102": {"mode": "dtls", "identity": "dev-1", "psk": "<hex>"},
                         "+15550103": {"mode": "oscore", "sender_id": "01", "recipient_id": "", "secret": "<hex>"}}}
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SecurityConfigError(f"security configuration {path}: {exc}") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "security configuration") -> "SecurityPolicy":
        try:
            d = data.get("default", "nosec")
            default = None if d in (None, "none", "refuse") else PeerSecurity(SmsSecurityMode.parse(d))
            peers = {k: peer_from_dict(v) for k, v in dict(data.get("devices", {})).items()}
            return cls(peers, default=default, allow_nosec=list(data.get("allow_nosec", [])),
                       trigger_only=list(data.get("trigger_only", [])))
        except (KeyError, ValueError, TypeError) as exc:
            raise SecurityConfigError(f"{where}: {exc}") from None


def peer_from_dict(d: Mapping[str, Any]) -> PeerSecurity:
    """One peer's entry of the JSON configuration (see :meth:`SecurityPolicy.load`)."""
    mode = SmsSecurityMode.parse(d["mode"])
    if mode is SmsSecurityMode.PACKET:
        return PeerSecurity(mode, PacketKeys.from_resources(bytes.fromhex(d["params"]), bytes.fromhex(d["secret"])))
    if mode is SmsSecurityMode.DTLS:
        return PeerSecurity(mode, PskKeys(str(d["identity"]).encode(), bytes.fromhex(d["psk"])))
    if mode is SmsSecurityMode.OSCORE:
        return PeerSecurity(mode, OscoreKeys(bytes.fromhex(d["sender_id"]), bytes.fromhex(d["recipient_id"]),
                                             bytes.fromhex(d["secret"])))
    return PeerSecurity(mode)

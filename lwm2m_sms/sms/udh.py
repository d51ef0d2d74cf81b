"""User Data Header (3GPP TS 23.040 9.2.3.24): information elements, round-trip safe.

Concatenation (IEI 0x00, 8-bit reference; IEI 0x08, 16-bit reference) and application port
addressing (IEI 0x04, 8-bit ports; IEI 0x05, 16-bit ports) are understood; every other IE is
kept as it came so that a decode/encode round trip gives the same octets.

Per 23.040 a concatenation IE whose sequence number is 0 or above the total is ignored, not
an error: :attr:`Udh.concat` is then None and the IE stays in :attr:`Udh.elements`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..errors import DecodeError, EncodeError

__all__ = [
    "IEI_CONCAT_8",
    "IEI_CONCAT_16",
    "IEI_PORTS_8",
    "IEI_PORTS_16",
    "InformationElement",
    "Concat",
    "Ports",
    "Udh",
    "split_user_data",
]

IEI_CONCAT_8 = 0x00
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True, slots=True)
class InformationElement:
    iei: int
    data: bytes

    def encode(self) -> bytes:
        if not 0 <= self.iei <= 0xFF or len(self.data) > 0xFF:
            raise EncodeError(f"IE {self.iei:#x} with {len(self.data)} octets does not fit")
        return bytes((self.iei, len(self.data))) + self.data


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenated short message: this part's ``seq`` (1-based) of ``total``."""

    reference: int
    total: int
    seq: int
    ref16: bool = False

    def __post_init__(self) -> None:
        limit = 0xFFFF if self.ref16 else 0xFF
        if not 0 <= self.reference <= limit:
            raise EncodeError(f"concatenation reference {self.reference} out of range 0..{limit}")
        if not 1 <= self.total <= 255 or not 1 <= self.seq <= self.total:
            raise EncodeError(f"concatenation part {self.seq}/{self.total} out of range")

    def to_ie(self) -> InformationElement:
        if self.ref16:
            data = self.reference.to_bytes(2, "big") + bytes((self.total, self.seq))
            return InformationElement(IEI_CONCAT_16, data)
        return InformationElement(IEI_CONCAT_8, bytes((self.reference, self.total, self.seq)))


@dataclass(frozen=True, slots=True)
class Ports:
    """Application port addressing; ``wide`` selects the 16-bit IE (0x05)."""

    destination: int
    source: int
    wide: bool = True

    def __post_init__(self) -> None:
        limit = 0xFFFF if self.wide else 0xFF
        if not (0 <= self.destination <= limit and 0 <= self.source <= limit):
            raise EncodeError(f"ports {self.destination}/{self.source} out of range 0..{limit}")

    def swapped(self) -> "Ports":
        """The ports of a reply (23.040: the reply goes to the sender's source port)."""
        return Ports(self.source, self.destination, self.wide)

    def to_ie(self) -> InformationElement:
        if self.wide:
            data = self.destination.to_bytes(2, "big") + self.source.to_bytes(2, "big")
            return InformationElement(IEI_PORTS_16, data)
        return InformationElement(IEI_PORTS_8, bytes((self.destination, self.source)))


@dataclass(frozen=True, slots=True)
class Udh:
    elements: tuple[InformationElement, ...] = ()

    @classmethod
    def build(
        cls,
        concat: Concat | None = None,
        ports: Ports | None = None,
        extra: Iterable[InformationElement] = (),
    ) -> "Udh":
        ies: list[InformationElement] = []
        if concat is not None:
            ies.append(concat.to_ie())
        if ports is not None:
            ies.append(ports.to_ie())
        ies.extend(extra)
        return cls(tuple(ies))

    def _last(self, *ieis: int) -> InformationElement | None:
        # 23.040: when an IE is repeated, the last occurrence is used.
        for ie in reversed(self.elements):
            if ie.iei in ieis:
                return ie
        return None

    @property
    def concat(self) -> Concat | None:
        ie = self._last(IEI_CONCAT_8, IEI_CONCAT_16)
        if ie is None:
            return None
        if ie.iei == IEI_CONCAT_8 and len(ie.data) == 3:
            ref, total, seq = ie.data
            ref16 = False
        elif ie.iei == IEI_CONCAT_16 and len(ie.data) == 4:
            ref, total, seq = int.from_bytes(ie.data[:2], "big"), ie.data[2], ie.data[3]
            ref16 = True
        else:
            return None
        if total == 0 or seq == 0 or seq > total:
            return None
        return Concat(ref, total, seq, ref16)

    @property
    def ports(self) -> Ports | None:
        ie = self._last(IEI_PORTS_8, IEI_PORTS_16)
        if ie is None:
            return None
        if ie.iei == IEI_PORTS_16 and len(ie.data) == 4:
            return Ports(int.from_bytes(ie.data[:2], "big"), int.from_bytes(ie.data[2:], "big"))
        if ie.iei == IEI_PORTS_8 and len(ie.data) == 2:
            return Ports(ie.data[0], ie.data[1], wide=False)
        return None

    def encode(self) -> bytes:
        """UDHL followed by the IEs."""
        body = b"".join(ie.encode() for ie in self.elements)
        if len(body) > 0xFF:
            raise EncodeError(f"UDH of {len(body)} octets is longer than 255")
        return bytes((len(body),)) + body

    def __len__(self) -> int:
        """Octets on the wire, UDHL included."""
        return 1 + sum(2 + len(ie.data) for ie in self.elements)

    @classmethod
    def decode(cls, octets: bytes) -> "Udh":
        """Decode a UDH that is exactly ``octets`` (UDHL included)."""
        udh, rest = split_user_data(octets)
        if rest:
            raise DecodeError(f"{len(rest)} octets after the UDH")
        return udh


def split_user_data(user_data: bytes) -> tuple[Udh, bytes]:
    """Split 8-bit user data that starts with a UDH (TP-UDHI set) into the UDH and the rest."""
    if not user_data:
        raise DecodeError("TP-UDHI is set but the user data is empty")
    udhl = user_data[0]
    if 1 + udhl > len(user_data):
        raise DecodeError(f"UDHL {udhl} exceeds the {len(user_data) - 1} octets of user data")
    body = user_data[1 : 1 + udhl]
    ies: list[InformationElement] = []
    i = 0
    while i < len(body):
        if i + 2 > len(body):
            raise DecodeError(f"UDH truncated in an IE header at octet {i + 1}")
        iei, iedl = body[i], body[i + 1]
        if i + 2 + iedl > len(body):
            raise DecodeError(f"UDH IE {iei:#04x} claims {iedl} octets, {len(body) - i - 2} left")
        ies.append(InformationElement(iei, bytes(body[i + 2 : i + 2 + iedl])))
        i += 2 + iedl
    return Udh(tuple(ies)), bytes(user_data[1 + udhl :])

"""Split a binary payload into 8-bit SMS user data (3GPP TS 23.040 9.2.3.24.1).

One 8-bit SMS carries 140 octets of user data, UDH included. A payload that fits goes as
one SMS with no UDH (unless ports are asked for); a longer one is cut into parts of
``140 - len(UDH)`` octets, each with a concatenation IE, at most 255 parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PayloadTooLarge
from .udh import Concat, Ports, Udh, split_user_data

__all__ = [
    "MAX_USER_DATA",
    "MAX_PARTS",
    "UserData",
    "split",
    "segment_count",
    "max_payload",
    "ReferenceAllocator",
]

MAX_USER_DATA = 140
MAX_PARTS = 255


@dataclass(frozen=True, slots=True)
class UserData:
    """The TP-UD of one 8-bit SMS: an optional UDH and the data after it."""

    data: bytes
    udh: Udh | None = None

    @property
    def udhi(self) -> bool:
        return self.udh is not None

    @property
    def concat(self) -> Concat | None:
        return self.udh.concat if self.udh is not None else None

    @property
    def ports(self) -> Ports | None:
        return self.udh.ports if self.udh is not None else None

    def encode(self) -> bytes:
        """TP-UD octets: UDH (if any) then data."""
        return (self.udh.encode() if self.udh is not None else b"") + self.data

    @classmethod
    def decode(cls, octets: bytes, udhi: bool) -> "UserData":
        if not udhi:
            return cls(bytes(octets))
        udh, rest = split_user_data(octets)
        return cls(rest, udh)

    def __len__(self) -> int:
        return (len(self.udh) if self.udh is not None else 0) + len(self.data)


def _overhead(parts: int, ports: Ports | None, ref16: bool) -> int:
    ies = 0
    if parts > 1:
        ies += 6 if ref16 else 5
    if ports is not None:
        ies += 6 if ports.wide else 4
    return 1 + ies if ies else 0


def segment_count(length: int, *, ports: Ports | None = None, ref16: bool = False) -> int:
    """How many SMS a payload of ``length`` octets takes (may exceed MAX_PARTS)."""
    if length <= MAX_USER_DATA - _overhead(1, ports, ref16):
        return 1
    per_part = MAX_USER_DATA - _overhead(2, ports, ref16)
    return -(-length // per_part)


def max_payload(parts: int = MAX_PARTS, *, ports: Ports | None = None, ref16: bool = False) -> int:
    """The largest payload that fits in ``parts`` SMS."""
    if parts <= 1:
        return MAX_USER_DATA - _overhead(1, ports, ref16)
    return parts * (MAX_USER_DATA - _overhead(2, ports, ref16))


def split(
    payload: bytes,
    reference: int = 0,
    *,
    ports: Ports | None = None,
    ref16: bool = False,
    max_parts: int = MAX_PARTS,
) -> list[UserData]:
    """Cut ``payload`` into the user data of one or more 8-bit SMS.

    ``reference`` is the concatenation reference (0..255, or 0..65535 with ``ref16``); it is
    used only when more than one part is needed. Raises PayloadTooLarge past ``max_parts``.
    """
    max_parts = min(max_parts, MAX_PARTS)
    n = segment_count(len(payload), ports=ports, ref16=ref16)
    if n > max_parts:
        raise PayloadTooLarge(
            f"payload of {len(payload)} octets needs {n} SMS; at most {max_parts} allowed "
            f"({max_payload(max_parts, ports=ports, ref16=ref16)} octets)"
        )
    if n == 1:
        return [UserData(bytes(payload), Udh.build(ports=ports) if ports is not None else None)]
    per_part = MAX_USER_DATA - _overhead(2, ports, ref16)
    return [
        UserData(
            bytes(payload[i * per_part : (i + 1) * per_part]),
            Udh.build(concat=Concat(reference, n, i + 1, ref16), ports=ports),
        )
        for i in range(n)
    ]


@dataclass
class ReferenceAllocator:
    """Concatenation references per destination, so that two long messages in flight to one
    peer never share a reference (the receiver keys reassembly by sender and reference)."""

    ref16: bool = False
    _next: dict[str, int] = field(default_factory=dict)

    def next(self, destination: str) -> int:
        modulo = 0x10000 if self.ref16 else 0x100
        ref = self._next.get(destination, 0)
        self._next[destination] = (ref + 1) % modulo
        return ref


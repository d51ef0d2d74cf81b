"""Split a binary payload into 8-bit SMS user data (3GPP TS 23.040 9.2.3.24.1).

One 8-bit SMS carries 140 octets of user data, UDH included. A payload that fits goes as
one SMS with no UDH (unless ports are asked for); a longer one is cut into parts of
``140 - len(UDH)`` octets, each with a concatenation IE, at most 255 parts.

:func:`split_text` does the same for text: GSM 7-bit when every character is in the default
alphabet (160 septets, UDH and its fill bits included; an escape pair is never cut), else
UCS2 (140 octets; a surrogate pair is never cut). Its ``UserData.data`` follows
``bearer.SmsSegment``'s convention: unpacked septets for GSM 7-bit, UTF-16BE for UCS2.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from ..errors import PayloadTooLarge
from . import gsm7
from .udh import Concat, Ports, Udh, split_user_data

__all__ = [
    "MAX_USER_DATA",
    "MAX_PARTS",
    "UserData",
    "split",
    "segment_count",
    "max_payload",
    "split_text",
    "ReferenceAllocator",
    "ReferenceStore",
]

MAX_USER_DATA = 140
MAX_PARTS = 255


@dataclass(frozen=True, slots=True)
class UserData:
    """The TP-UD of one SMS: an optional UDH and the data after it.

    ``data`` is 8-bit data for an 8-bit DCS, unpacked septet values (one per octet) for the
    GSM 7-bit alphabet and UTF-16BE for UCS2 (``bearer.SmsSegment``'s convention); the TPDU
    codec packs septets. :meth:`encode` and :meth:`decode` are the 8-bit octet forms."""

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


MAX_SEPTETS = 160
_DCS_GSM7 = 0x00  # the same values as tpdu.DCS_GSM7 / DCS_UCS2 (tpdu imports this module)
_DCS_UCS2 = 0x08


def _text_budget(parts: int, ports: Ports | None, ref16: bool, gsm: bool) -> int:
    """Septets (GSM 7-bit) or UCS2 octets of text one part carries."""
    udh = _overhead(parts, ports, ref16)
    if gsm:
        return MAX_SEPTETS - (udh * 8 + 6) // 7  # the UDH plus its fill bits, in septets
    return (MAX_USER_DATA - udh) & ~1  # whole UTF-16 code units


def split_text(
    text: str,
    reference: int = 0,
    *,
    ports: Ports | None = None,
    ref16: bool = False,
    max_parts: int = MAX_PARTS,
) -> tuple[int, list[UserData]]:
    """Cut ``text`` into the user data of one or more SMS; return (TP-DCS, parts).

    GSM 7-bit (DCS 0x00) when every character is encodable, else UCS2 (DCS 0x08). Raises
    PayloadTooLarge past ``max_parts``.
    """
    max_parts = min(max_parts, MAX_PARTS)
    if gsm7.is_gsm7(text):
        dcs, units = _DCS_GSM7, [gsm7.encode(ch) for ch in text]
    else:
        dcs = _DCS_UCS2
        raw = gsm7.encode_ucs2(text)
        units = []
        i = 0
        while i < len(raw):  # keep a surrogate pair (D800..DBFF then DC00..DFFF) together
            step = 4 if 0xD8 <= raw[i] <= 0xDB and i + 4 <= len(raw) else 2
            units.append(raw[i : i + step])
            i += step
    gsm = dcs == _DCS_GSM7
    whole = b"".join(units)
    if len(whole) <= _text_budget(1, ports, ref16, gsm):
        return dcs, [UserData(whole, Udh.build(ports=ports) if ports is not None else None)]
    budget = _text_budget(2, ports, ref16, gsm)
    chunks: list[bytes] = []
    current = bytearray()
    for unit in units:
        if len(current) + len(unit) > budget:
            chunks.append(bytes(current))
            current = bytearray()
        current += unit
    chunks.append(bytes(current))
    if len(chunks) > max_parts:
        unit_name = "septets" if gsm else "UCS2 octets"
        raise PayloadTooLarge(
            f"text of {len(whole)} {unit_name} needs {len(chunks)} SMS; at most {max_parts} allowed"
        )
    n = len(chunks)
    return dcs, [
        UserData(chunk, Udh.build(concat=Concat(reference, n, i + 1, ref16), ports=ports))
        for i, chunk in enumerate(chunks)
    ]


class ReferenceStore(Protocol):
    """Where :class:`ReferenceAllocator` keeps the next reference per destination across
    restarts (the bearer's part store implements it on SQLite)."""

    def take_reference(self, destination: str, first: int, modulo: int) -> int:
        """The stored next reference for ``destination`` (``first`` when none is stored),
        with ``(reference + 1) % modulo`` stored in its place, as one atomic step."""
        ...


MAX_DESTINATIONS = 100_000  # references remembered in memory; older ones are forgotten


class ReferenceAllocator:
    """Concatenation references per destination.

    The rule: a reference names one long message to one peer for as long as that peer may
    hold parts of it (its reassembly timeout); the receiver keys reassembly by (sender,
    reference, total), so no two long messages in that time may share one.

    * References count up per destination (0..255, or 0..65535 with ``ref16``) and only a
      message of two or more parts takes one.
    * With a ``store`` the next reference is read and written there for every message (no
      copy in memory), before the message's parts are handed out: a restarted sender goes on
      after the last reference it used, and bearers sharing the store's file (SMPP and a
      modem to the same device) count on one row per destination, so neither hands out a
      reference the other used a moment ago.
    * Without a store each start begins every destination at a random reference (and so
      does a destination forgotten past ``MAX_DESTINATIONS``). A restart then reuses the
      reference of a message the peer still holds in part with a chance of 1/256 (1/65536
      with ``ref16``); our own :class:`~lwm2m_sms.sms.reassembly.Reassembler` also drops a
      held partial message when a part of the same number arrives with other data, so a
      restart can never mix two payloads into one at a receiver of ours.
    """

    def __init__(
        self,
        ref16: bool = False,
        *,
        store: ReferenceStore | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.ref16 = ref16
        self.store = store
        self._rng = rng or random.Random()
        self._next: OrderedDict[str, int] = OrderedDict()

    @property
    def modulo(self) -> int:
        return 0x10000 if self.ref16 else 0x100

    def next(self, destination: str) -> int:
        """The reference for a new long message to ``destination``."""
        if self.store is not None:
            return self.store.take_reference(destination, self._rng.randrange(self.modulo), self.modulo) % self.modulo
        ref = self._next.pop(destination, None)
        if ref is None:
            ref = self._rng.randrange(self.modulo)
        following = (ref + 1) % self.modulo
        self._next[destination] = following
        if len(self._next) > MAX_DESTINATIONS:
            self._next.popitem(last=False)
        return ref

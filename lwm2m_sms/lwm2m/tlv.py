"""OMA LwM2M TLV (content format 11542; 1542 before registration) as a sans-IO codec.

OMA-TS-LightweightM2M-V1_0_2 section 6.4.3 ("TLV"). Each entry is a type octet, an
identifier of 8 or 16 bits, an optional length field of 8, 16 or 24 bits, and the value:

    type octet: bits 7-6 kind (00 object instance, 01 resource instance, 10 multiple
    resource, 11 resource with value); bit 5 identifier length (0: 8 bits, 1: 16 bits);
    bits 4-3 length type (00: length in bits 2-0, 01/10/11: 8/16/24-bit length field).

This module handles only the structure (:class:`Tlv` trees); typing the value octets is
:mod:`lwm2m_sms.lwm2m.datatypes`, and mapping trees to resource values for a given path is
:mod:`lwm2m_sms.lwm2m.content`. The decoder checks nesting (an object instance holds
resources and multiple resources; a multiple resource holds resource instances only) and
raises only :class:`~lwm2m_sms.errors.DecodeError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

from ..errors import DecodeError, EncodeError

__all__ = ["TlvKind", "Tlv", "decode", "encode"]


class TlvKind(enum.IntEnum):
    OBJECT_INSTANCE = 0
    RESOURCE_INSTANCE = 1
    MULTIPLE_RESOURCE = 2
    RESOURCE = 3


_CONTAINERS = {
    TlvKind.OBJECT_INSTANCE: (TlvKind.RESOURCE, TlvKind.MULTIPLE_RESOURCE),
    TlvKind.MULTIPLE_RESOURCE: (TlvKind.RESOURCE_INSTANCE,),
}
MAX_LENGTH = (1 << 24) - 1


@dataclass(frozen=True, slots=True)
class Tlv:
    """One TLV entry. ``value`` is bytes for resources and resource instances, a tuple of
    children for object instances and multiple resources."""

    kind: TlvKind
    id: int
    value: Union[bytes, tuple["Tlv", ...]]

    @property
    def children(self) -> tuple["Tlv", ...]:
        if not isinstance(self.value, tuple):
            raise TypeError(f"{self.kind.name} {self.id} has a value, not children")
        return self.value


def encode(entries: "list[Tlv] | tuple[Tlv, ...]") -> bytes:
    """Encode a sequence of entries; EncodeError for ids or lengths out of range or wrong
    nesting."""
    out = bytearray()
    for entry in entries:
        out += _encode_one(entry)
    return bytes(out)


def _encode_one(entry: Tlv) -> bytes:
    kind = TlvKind(entry.kind)
    if not 0 <= entry.id <= 0xFFFF:
        raise EncodeError(f"TLV identifier {entry.id} out of range 0..65535")
    if kind in _CONTAINERS:
        if not isinstance(entry.value, tuple):
            raise EncodeError(f"{kind.name} {entry.id} needs children")
        for child in entry.value:
            if child.kind not in _CONTAINERS[kind]:
                raise EncodeError(f"{kind.name} {entry.id} cannot hold a {TlvKind(child.kind).name}")
        value = encode(entry.value)
    else:
        if not isinstance(entry.value, (bytes, bytearray)):
            raise EncodeError(f"{kind.name} {entry.id} needs a bytes value")
        value = bytes(entry.value)
    length = len(value)
    if length > MAX_LENGTH:
        raise EncodeError(f"TLV value of {length} octets exceeds the 24-bit length field")
    type_octet = kind << 6
    ident = entry.id.to_bytes(1, "big") if entry.id <= 0xFF else entry.id.to_bytes(2, "big")
    if entry.id > 0xFF:
        type_octet |= 0x20
    if length <= 7:
        type_octet |= length
        length_field = b""
    elif length <= 0xFF:
        type_octet |= 0x08
        length_field = length.to_bytes(1, "big")
    elif length <= 0xFFFF:
        type_octet |= 0x10
        length_field = length.to_bytes(2, "big")
    else:
        type_octet |= 0x18
        length_field = length.to_bytes(3, "big")
    return bytes([type_octet]) + ident + length_field + value


def decode(data: bytes) -> list[Tlv]:
    """Decode a TLV payload into a list of top-level entries."""
    return _decode(memoryview(bytes(data)), 0, None)


def _decode(data: memoryview, offset_base: int, parent: "TlvKind | None") -> list[Tlv]:
    entries: list[Tlv] = []
    pos = 0
    end = len(data)
    while pos < end:
        start = pos
        type_octet = data[pos]
        pos += 1
        kind = TlvKind(type_octet >> 6)
        if parent is not None and kind not in _CONTAINERS[parent]:
            raise DecodeError(
                f"TLV at offset {offset_base + start}: a {kind.name} inside a {parent.name}"
            )
        id_len = 2 if type_octet & 0x20 else 1
        length_type = (type_octet >> 3) & 0x03
        header_rest = id_len + length_type
        if pos + header_rest > end:
            raise DecodeError(f"TLV at offset {offset_base + start}: header truncated")
        ident = int.from_bytes(data[pos:pos + id_len], "big")
        pos += id_len
        if length_type == 0:
            length = type_octet & 0x07
        else:
            length = int.from_bytes(data[pos:pos + length_type], "big")
            pos += length_type
        if pos + length > end:
            raise DecodeError(
                f"TLV {kind.name} {ident} at offset {offset_base + start}: value of {length} "
                f"octets but only {end - pos} left"
            )
        raw = data[pos:pos + length]
        if kind in _CONTAINERS:
            value: Union[bytes, tuple[Tlv, ...]] = tuple(_decode(raw, offset_base + pos, kind))
        else:
            value = bytes(raw)
        pos += length
        entries.append(Tlv(kind, ident, value))
    return entries

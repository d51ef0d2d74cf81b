"""A look at a CoAP message's header and options without decoding it (RFC 7252 section 3),
for the security layer's checks below the transport: is it OSCORE-protected, is it the
registration update trigger (POST /1/x/8), which token does it carry.

Bounded by the message length, never raises: anything that does not parse is None.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CoapPeek", "peek", "OSCORE_OPTION", "URI_PATH_OPTION"]

OSCORE_OPTION = 9
URI_PATH_OPTION = 11
_MAX_PATH_SEGMENTS = 8  # more than LwM2M ever needs; a longer path is not a trigger anyway


@dataclass(frozen=True, slots=True)
class CoapPeek:
    mtype: int
    code: int
    token: bytes
    uri_path: tuple[bytes, ...]
    oscore: bytes | None  # the OSCORE option's value, None when absent

    @property
    def is_empty(self) -> bool:
        return self.code == 0

    @property
    def is_request(self) -> bool:
        return 1 <= self.code <= 31

    @property
    def is_response(self) -> bool:
        return self.code >= 64

    @property
    def is_registration_trigger(self) -> bool:
        """POST /1/x/8 (LwM2M 1.0.2: Registration Update Trigger)."""
        p = self.uri_path
        return self.code == 2 and len(p) == 3 and p[0] == b"1" and p[1].isdigit() and p[2] == b"8"


def _extended(data: bytes, pos: int, nibble: int) -> "tuple[int, int] | None":
    if nibble == 13:
        if pos >= len(data):
            return None
        return data[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 1 >= len(data):
            return None
        return int.from_bytes(data[pos:pos + 2], "big") + 269, pos + 2
    if nibble == 15:
        return None
    return nibble, pos


def peek(data: bytes) -> CoapPeek | None:
    if len(data) < 4 or data[0] >> 6 != 1:
        return None
    tkl = data[0] & 0x0F
    if tkl > 8 or 4 + tkl > len(data):
        return None
    mtype, code = (data[0] >> 4) & 0x03, data[1]
    token = bytes(data[4:4 + tkl])
    if code == 0:
        return CoapPeek(mtype, 0, token, (), None) if len(data) == 4 and tkl == 0 else None
    pos, number = 4 + tkl, 0
    path: list[bytes] = []
    oscore = None
    while pos < len(data) and data[pos] != 0xFF:
        head = data[pos]
        got = _extended(data, pos + 1, head >> 4)
        if got is None:
            return None
        delta, pos = got
        got = _extended(data, pos, head & 0x0F)
        if got is None:
            return None
        length, pos = got
        if pos + length > len(data):
            return None
        number += delta
        value = bytes(data[pos:pos + length])
        if number == OSCORE_OPTION:
            oscore = value
        elif number == URI_PATH_OPTION and len(path) < _MAX_PATH_SEGMENTS:
            path.append(value)
        pos += length
    return CoapPeek(mtype, code, token, tuple(path), oscore)

"""Is a CoAP message OSCORE-protected? (RFC 8613 section 2: the OSCORE option, number 9.)

Reads only the RFC 7252 header and option headers, bounded by the message length; used by
the security layer to drop what a peer configured for OSCORE sends unprotected."""

from __future__ import annotations

__all__ = ["is_oscore_or_empty", "OSCORE_OPTION"]

OSCORE_OPTION = 9


def is_oscore_or_empty(data: bytes) -> bool:
    """True for an empty message (code 0.00: ACK, RST, ping) or a message carrying the
    OSCORE option; False for anything else, including what does not parse."""
    if len(data) < 4 or data[0] >> 6 != 1:
        return False
    tkl = data[0] & 0x0F
    if data[1] == 0:
        return len(data) == 4 and tkl == 0
    if tkl > 8:
        return False
    pos = 4 + tkl
    number = 0
    while pos < len(data):
        head = data[pos]
        if head == 0xFF:
            return False
        pos += 1
        delta, length = head >> 4, head & 0x0F
        if delta == 15 or length == 15:
            return False
        if delta == 13:
            if pos >= len(data):
                return False
            delta = data[pos] + 13
            pos += 1
        elif delta == 14:
            if pos + 1 >= len(data):
                return False
            delta = int.from_bytes(data[pos:pos + 2], "big") + 269
            pos += 2
        if length == 13:
            if pos >= len(data):
                return False
            length = data[pos] + 13
            pos += 1
        elif length == 14:
            if pos + 1 >= len(data):
                return False
            length = int.from_bytes(data[pos:pos + 2], "big") + 269
            pos += 2
        number += delta
        if number == OSCORE_OPTION:
            return True
        if number > OSCORE_OPTION:
            return False
        pos += length
    return False

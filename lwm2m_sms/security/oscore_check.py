"""Is a CoAP message OSCORE-protected? (RFC 8613 section 2: the OSCORE option, number 9.)

Reads only the RFC 7252 header and option headers, bounded by the message length; used by
the security layer to drop what a peer configured for OSCORE sends unprotected."""

from __future__ import annotations

__all__ = ["is_oscore_or_empty", "oscore_option", "oscore_kid", "OSCORE_OPTION"]

OSCORE_OPTION = 9


def is_oscore_or_empty(data: bytes) -> bool:
    """True for an empty message (code 0.00: ACK, RST, ping) or a message carrying the
    OSCORE option; False for anything else, including what does not parse."""
    if len(data) == 4 and data[0] >> 6 == 1 and data[0] & 0x0F == 0 and data[1] == 0:
        return True
    return oscore_option(data) is not None


def oscore_kid(value: bytes) -> "bytes | None":
    """The kid in an OSCORE option value (RFC 8613 section 6.1), None when absent or
    malformed: flags (n = partial IV length, k = kid, h = kid context), partial IV,
    kid context (length-prefixed), then the kid to the end."""
    if not value:
        return None
    flags = value[0]
    n, k, h = flags & 0x07, flags & 0x08, flags & 0x10
    if not k or n > 5 or flags & 0xE0:
        return None
    pos = 1 + n
    if h:
        if pos >= len(value):
            return None
        pos += 1 + value[pos]
    if pos > len(value):
        return None
    return bytes(value[pos:])


def oscore_option(data: bytes) -> "bytes | None":
    """The OSCORE option's value in a CoAP message, None when it has none or does not
    parse."""
    if len(data) < 4 or data[0] >> 6 != 1 or data[1] == 0:
        return None
    tkl = data[0] & 0x0F
    if tkl > 8:
        return None
    pos = 4 + tkl
    number = 0
    while pos < len(data):
        head = data[pos]
        if head == 0xFF:
            return None
        pos += 1
        delta, length = head >> 4, head & 0x0F
        if delta == 15 or length == 15:
            return None
        if delta == 13:
            if pos >= len(data):
                return None
            delta = data[pos] + 13
            pos += 1
        elif delta == 14:
            if pos + 1 >= len(data):
                return None
            delta = int.from_bytes(data[pos:pos + 2], "big") + 269
            pos += 2
        if length == 13:
            if pos >= len(data):
                return None
            length = data[pos] + 13
            pos += 1
        elif length == 14:
            if pos + 1 >= len(data):
                return None
            length = int.from_bytes(data[pos:pos + 2], "big") + 269
            pos += 2
        number += delta
        if number == OSCORE_OPTION:
            return bytes(data[pos:pos + length]) if pos + length <= len(data) else None
        if number > OSCORE_OPTION:
            return None
        pos += length
    return None

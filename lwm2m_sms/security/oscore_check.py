"""Is a CoAP message OSCORE-protected, and by whom? (RFC 8613 sections 2 and 6.1.)

Used by the security layer to drop what a peer configured for OSCORE sends unprotected, or
protected under another peer's Sender ID. Never raises."""

from __future__ import annotations

from .coap_peek import OSCORE_OPTION, peek

__all__ = ["is_oscore_or_empty", "oscore_option", "oscore_kid", "OSCORE_OPTION"]


def is_oscore_or_empty(data: bytes) -> bool:
    """True for an empty message (code 0.00: ACK, RST, ping) or a message carrying the
    OSCORE option; False for anything else, including what does not parse."""
    p = peek(data)
    return p is not None and (p.is_empty or p.oscore is not None)


def oscore_option(data: bytes) -> "bytes | None":
    """The OSCORE option's value in a CoAP message, None when it has none or does not
    parse."""
    p = peek(data)
    return None if p is None else p.oscore


def oscore_kid(value: bytes) -> "bytes | None":
    """The kid in an OSCORE option value, None when absent or malformed: flags (n = partial
    IV length, k = kid, h = kid context), partial IV, kid context (length-prefixed), then
    the kid to the end."""
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

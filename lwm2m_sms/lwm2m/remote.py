"""What the LwM2M layer reads from an aiocoap remote, whatever transport made it.

A UDP remote has ``uri_base`` ``coap://host:port``; an SMS remote
(:class:`lwm2m_sms.coap.SmsAddress`) has ``uri_base`` ``coap+sms://+N`` and ``.msisdn``.
Nothing here imports a transport.
"""

from __future__ import annotations

from typing import Any, Optional

from ..errors import AddressError
from ..sms.address import Address, parse_msisdn

__all__ = ["remote_uri", "remote_msisdn"]


def remote_uri(remote: Any) -> str:
    """The serialisable form of an aiocoap remote: ``coap://127.0.0.1:5683``,
    ``coap+sms://+15550001``."""
    try:
        return remote.uri_base
    except (AttributeError, ValueError):
        return repr(remote)


def remote_msisdn(remote: Any) -> Optional[Address]:
    """The sender's MSISDN when a message came by SMS (the transport's address has
    ``.msisdn``), else None."""
    msisdn = getattr(remote, "msisdn", None)
    if msisdn is None:
        return None
    try:
        return parse_msisdn(msisdn)
    except AddressError:
        return None

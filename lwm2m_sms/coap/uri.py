"""The ``coap+sms`` URI scheme: registration with aiocoap, and SMS peers named in URIs.

``coap+sms://<msisdn>/path`` comes from draft-becker-core-coap-sms-gprs and was never
registered with IANA. aiocoap parses a request URI into Uri-* options only for schemes in
``aiocoap.message.coap_schemes``; any other scheme becomes a Proxy-Uri option. urllib needs
the scheme in ``uses_netloc`` / ``uses_relative`` to resolve relative references (e.g. a
Location-Path against the request URI) the way it does for ``coap://``. :func:`register_scheme`
does both, once; importing :mod:`lwm2m_sms.coap` calls it.

Peers are written ``+4915...``, ``%2B4915...`` (a ``+`` percent-encoded, as some URI
producers do) or as bare digits (3GPP TS 23.003, as LwM2M data carries them). Where a URI
names only an SMS *peer*, not a CoAP resource (an LwM2M ``sms=`` value, OMA's suggested
``tel:+N`` / ``sms:+N``), :func:`parse_sms_peer` accepts those forms too, and
:func:`sms_uri` turns any of them into the ``coap+sms://+N/path`` form we write ourselves.
"""

from __future__ import annotations

import urllib.parse

import aiocoap.message

from ..errors import AddressError
from ..sms.address import Address, parse_msisdn

__all__ = ["SCHEME", "register_scheme", "parse_sms_peer", "sms_uri"]

SCHEME = "coap+sms"


def register_scheme() -> None:
    """Make aiocoap and urllib treat ``coap+sms`` as a CoAP scheme (idempotent)."""
    for registry in (
        aiocoap.message.coap_schemes,
        urllib.parse.uses_netloc,
        urllib.parse.uses_relative,
    ):
        if SCHEME not in registry:
            registry.append(SCHEME)


def parse_sms_peer(text: str | Address) -> Address:
    """The MSISDN a URI or peer reference names.

    Accepts ``coap+sms://+N[/path]`` (hostinfo ``+N``, ``%2BN`` or bare digits),
    ``tel:+N``, ``sms:+N``, ``+N`` and bare digits. Raises
    :class:`~lwm2m_sms.errors.AddressError` for anything else.
    """
    if isinstance(text, Address):
        return parse_msisdn(text)
    if not isinstance(text, str):
        raise AddressError(f"SMS peer must be text, not {type(text).__name__}")
    if text[: len(SCHEME) + 1].lower() == SCHEME + ":":
        try:
            parsed = urllib.parse.urlsplit(text)
        except ValueError as exc:  # e.g. an unbalanced "[" (urllib's IPv6 literal check)
            raise AddressError(f"{text!r} is not a coap+sms URI: {exc}") from None
        if not parsed.netloc:
            raise AddressError(f"{text!r} names no MSISDN (expected coap+sms://+N/...)")
        if ":" in parsed.netloc or "@" in parsed.netloc:
            raise AddressError(f"{text!r}: a coap+sms authority is only an MSISDN")
        return parse_msisdn(urllib.parse.unquote(parsed.netloc))
    return parse_msisdn(text)


def sms_uri(peer: str | Address, path: str = "") -> str:
    """``coap+sms://+N`` plus ``path`` for a peer in any form :func:`parse_sms_peer` takes.

    >>> sms_uri("tel:+15550001", "/3/0/0")
    'coap+sms://+15550001/3/0/0'
    """
    msisdn = parse_sms_peer(peer)
    if path and not path.startswith("/"):
        path = "/" + path
    return f"{SCHEME}://{msisdn.e164}{path}"

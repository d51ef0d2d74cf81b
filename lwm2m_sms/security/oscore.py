"""OSCORE (RFC 8613) over coap+sms, with aiocoap's own OSCORE layer.

aiocoap protects and unprotects above the message layer, so its OSCORE runs over our SMS
transport unchanged once it knows which security context belongs to which MSISDN:

* requests we send: :func:`protect_requests_to` puts aiocoap's OSCORE request provider in
  front of the context's transports and maps ``coap+sms://<msisdn>/*`` to the context;
* requests we serve: :func:`oscore_site` wraps the site in aiocoap's ``OscoreSiteWrapper``
  with the contexts it may accept. That wrapper still serves unprotected requests to the
  inner site; what stops them for OSCORE peers is the SMS layer (:class:`SecureBearer`
  with mode OSCORE drops every CoAP message without the OSCORE option).

Contexts live one directory per peer (:class:`OscoreContexts`), in aiocoap's
``FilesystemSecurityContext`` format: ``secret.json`` (keys, mode 0600) and
``sequence.json`` (the next sequence number and the replay window), which aiocoap persists
in chunks ahead of use, so a restart never reuses a sequence number (RFC 8613 section 7.5,
appendix B.1). A directory is locked while a process uses it.

Overhead on the wire: the OSCORE option (partial IV and kid, about 3 to 5 octets) plus the
8-octet tag of AES-CCM-16-64-128 and the moved inner code: about 10 to 13 octets a message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..sms.address import Address, parse_msisdn
from .policy import OscoreKeys

if TYPE_CHECKING:
    from ..store.oscore import OscoreStateTable

__all__ = ["OscoreContexts", "write_context", "load_context", "protect_requests_to", "oscore_site"]


def write_context(directory: "str | Path", keys: OscoreKeys) -> None:
    """Create a context directory for ``keys`` (refused if one exists: a context must never
    be re-created with its sequence numbers reset)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    secret = d / "secret.json"
    data = {
        "sender-id_hex": keys.sender_id.hex(),
        "recipient-id_hex": keys.recipient_id.hex(),
        "secret_hex": keys.master_secret.hex(),
    }
    if keys.master_salt:
        data["salt_hex"] = keys.master_salt.hex()
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)


def load_context(directory: "str | Path") -> Any:
    from aiocoap.oscore import FilesystemSecurityContext

    return FilesystemSecurityContext(str(directory))


class OscoreContexts:
    """One context directory per peer MSISDN under ``base`` (``base/15550111/``). With
    ``shared`` (the store's :class:`~lwm2m_sms.store.oscore.OscoreStateTable`), the
    contexts keep their sequence numbers and replay windows there, shared by the nodes
    (:mod:`.oscore_shared`); their keys still come from the directories."""

    def __init__(self, base: "str | Path", shared: "OscoreStateTable | None" = None) -> None:
        self.base = Path(base)
        self.shared = shared
        self._loaded: dict[Address, Any] = {}

    def directory(self, peer: "str | Address") -> Path:
        return self.base / str(parse_msisdn(str(peer))).lstrip("+")

    def provision(self, peer: "str | Address", keys: OscoreKeys) -> None:
        """Create the context for ``peer`` unless it exists (keys unchanged then)."""
        if not (self.directory(peer) / "secret.json").exists():
            write_context(self.directory(peer), keys)

    def get(self, peer: "str | Address") -> Any:
        addr = parse_msisdn(str(peer))
        ctx = self._loaded.get(addr)
        if ctx is None:
            if self.shared is not None:
                from .oscore_shared import SharedSecurityContext

                ctx = SharedSecurityContext(str(self.directory(addr)), self.shared, str(addr))
            else:
                ctx = load_context(self.directory(addr))
            self._loaded[addr] = ctx
        return ctx

    def release(self) -> None:
        """Unlock every loaded context (persisting its sequence numbers first)."""
        for ctx in self._loaded.values():
            release_context(ctx)
        self._loaded.clear()


def release_context(ctx: Any) -> None:
    """Persist and unlock a FilesystemSecurityContext (what its __del__ would do)."""
    ctx._destroy()


def protect_requests_to(context: Any, peer: "str | Address", security_context: Any) -> None:
    """Send every request to ``coap+sms://<peer>/...`` from ``context`` OSCORE-protected."""
    from aiocoap.transports.oscore import TransportOSCORE

    if not any(isinstance(ri, TransportOSCORE) for ri in context.request_interfaces):
        # First, so it sees the request before the SMS transport takes it in the clear.
        context.request_interfaces.insert(0, TransportOSCORE(context, _WholeOuterMessages(context)))
    msisdn = parse_msisdn(str(peer))
    context.client_credentials[f"coap+sms://{msisdn}/*"] = security_context


class _WholeOuterMessages:
    """The wire side of aiocoap's OSCORE client without outer block-wise: the SMS transport
    would cut a protected request at its 64-octet blocks, and aiocoap's OSCORE server
    (OscoreSiteWrapper) does not reassemble outer blocks, so it could not decrypt them.
    Payloads are cut (inner block-wise, RFC 8613 section 4.1.3.4) before protection; the
    protected message goes whole, as concatenated SMS when it needs more than one."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.loop = context.loop

    def request(self, message: Any, handle_blockwise: bool = True) -> Any:
        return self._context.request(message, handle_blockwise=False)


def oscore_site(site: Any, contexts: Mapping[str, Any]) -> Any:
    """``site`` behind aiocoap's OSCORE server wrapper, accepting the given contexts
    (names are labels only; aiocoap finds the context by the request's kid)."""
    from aiocoap.credentials import CredentialsMap
    from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

    creds = CredentialsMap()
    for name, ctx in contexts.items():
        creds[f":{name}"] = ctx
    return OscoreSiteWrapper(site, creds)

"""DTLS 1.2 over SMS (SMS security mode 1), PSK, with tinydtls through DTLSSocket's
callback API (the engine aiocoap's ``tinydtls`` transport uses): no socket; records in and
out as bytes. tinydtls offers TLS_PSK_WITH_AES_128_CCM_8, the suite RFC 7925 mandates.

Binding to SMS (RFC 7925 appendix A as LwM2M 1.0.2 section 7.2.1 applies it):

* One DTLS context per peer MSISDN, holding only that peer's PSK identity and key: a
  handshake from number X can only succeed with X's credentials, so the session is bound
  to the MSISDN as well as to the PSK.
* Each flight is sent as one SMS payload: the records tinydtls writes during one step are
  concatenated into one datagram, which the bearer carries in one SMS or, when longer than
  140 octets, as concatenated SMS. The handshake (with tinydtls's cookie exchange) is six
  flights, about six SMS.
* No DTLS retransmission timers: like CoAP over SMS, a flight is sent once, and a
  handshake not finished within ``handshake_timeout`` fails the send (the next send starts
  a new one). Timers of seconds would only duplicate SMS that are still in transit.
* The session is kept for the life of the channel (the registration's lifetime in
  practice), so a request costs no handshake; application data is one record per CoAP
  message: 13 octets of header, 8 of explicit nonce and 8 of CCM-8 tag, leaving 111 of
  CoAP in one SMS.
* Whichever side sends first without a session starts the handshake (normally the device,
  with its Register); tinydtls answers a ClientHello in the same context.
* Records that do not authenticate, replays (tinydtls's replay window) and anything that is
  not DTLS give nothing to hand up: the security layer drops them silently.

Known limits: tinydtls runs its callbacks synchronously inside ``handleMessage``/``write``;
this channel collects what they write and sends it after the call returns.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..errors import BearerError
from ..sms.address import Address
from .bearer import Channel, Transmit
from .policy import PskKeys, SecurityConfigError, SmsSecurityMode

__all__ = ["DtlsChannel", "DtlsHandshakeFailed", "dtls_available", "looks_like_dtls"]

log = logging.getLogger(__name__)

_EVENT_CONNECT = 0x01DC
_EVENT_CONNECTED = 0x01DE
_LEVEL_FATAL = 2
# tinydtls keys sessions by address; each context has one peer, so a constant will do.
_PEER = ("::1", 5684)
MAX_PSK_LENGTH = 16  # tinydtls's DTLS_PSK_MAX_KEY_LEN: a longer key fails the handshake
MAX_IDENTITY_LENGTH = 32  # DTLS_PSK_MAX_CLIENT_IDENTITY_LEN


class DtlsHandshakeFailed(BearerError):
    """The DTLS handshake with a peer failed or timed out."""


def dtls_available() -> bool:
    try:
        from DTLSSocket import dtls  # noqa: F401
    except ImportError:
        return False
    return True


def looks_like_dtls(data: bytes) -> bool:
    """A DTLS 1.0/1.2 record header: content type 20..23, version fe ff or fe fd."""
    return len(data) >= 13 and 20 <= data[0] <= 23 and data[1] == 0xFE and data[2] in (0xFF, 0xFD)


class DtlsChannel(Channel):
    mode = SmsSecurityMode.DTLS

    def __init__(self, peer: "Address | str", keys: PskKeys, transmit: Transmit, *,
                 handshake_timeout: float = 120.0) -> None:
        try:
            from DTLSSocket import dtls
        except ImportError:  # pragma: no cover - depends on the installation
            raise BearerError("DTLS over SMS needs DTLSSocket (pip install DTLSSocket)") from None
        if len(keys.identity) > MAX_IDENTITY_LENGTH:
            raise SecurityConfigError(f"DTLS with {peer}: the PSK identity has {len(keys.identity)} octets; "
                                      f"tinydtls takes at most {MAX_IDENTITY_LENGTH}")
        if len(keys.key) > MAX_PSK_LENGTH:
            raise SecurityConfigError(f"DTLS with {peer}: the PSK has {len(keys.key)} octets; tinydtls takes at most {MAX_PSK_LENGTH}")
        self.peer = peer
        self.handshake_timeout = handshake_timeout
        self._transmit = transmit
        self._out: list[bytes] = []
        self._app: list[bytes] = []
        self._connected: asyncio.Future[None] | None = None
        self._session: Any = None
        self.established = False
        self.handshakes = 0
        self.records_in = 0
        self.fatal_alerts = 0
        self._dtls = dtls.DTLS(read=self._on_read, write=self._on_write, event=self._on_event,
                               pskId=keys.identity, pskStore={keys.identity: keys.key})

    # -- tinydtls callbacks (synchronous, inside our calls into it) ----------------------

    def _on_write(self, _addr: Any, data: bytes) -> int:
        self._out.append(bytes(data))
        return len(data)

    def _on_read(self, _addr: Any, data: bytes) -> int:
        self._app.append(bytes(data))
        return len(data)

    def _on_event(self, level: int, code: int) -> None:
        if level == 0 and code == _EVENT_CONNECTED:
            self.established = True
            self.handshakes += 1
            log.info("DTLS with %s: session established", self.peer)
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(None)
        elif level == 0 and code == _EVENT_CONNECT:
            return
        elif level == _LEVEL_FATAL:
            self.fatal_alerts += 1
            self.established = False
            log.warning("DTLS with %s: fatal alert %#x; session dropped", self.peer, code)
            if self._connected is not None and not self._connected.done():
                self._connected.set_exception(DtlsHandshakeFailed(f"DTLS with {self.peer}: fatal alert {code:#x}"))
        else:
            log.info("DTLS with %s: alert level %d code %#x", self.peer, level, code)

    def _take_output(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    async def _flush(self) -> None:
        flight = self._take_output()
        if flight:
            await self._transmit(flight)

    # -- Channel -------------------------------------------------------------------------

    async def _ensure_session(self) -> None:
        if self.established:
            return
        if self._connected is None or self._connected.done():
            self._connected = asyncio.get_running_loop().create_future()
            self._session = self._dtls.connect(*_PEER)
            if not self._session:
                raise DtlsHandshakeFailed(f"DTLS with {self.peer}: could not start a handshake")
            await self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self._connected), self.handshake_timeout)
        except asyncio.TimeoutError:
            self._reset()
            raise DtlsHandshakeFailed(f"DTLS handshake with {self.peer}: no answer in {self.handshake_timeout:g} s") from None

    def _reset(self) -> None:
        if self._session is not None:
            self._dtls.resetPeer(self._session)
            self._out.clear()
        self._session = None
        self.established = False
        if self._connected is not None and not self._connected.done():
            self._connected.cancel()

    async def seal(self, payload: bytes) -> bytes:
        await self._ensure_session()
        if self._session is None:
            # The peer started the handshake: tinydtls made the session on its side.
            from DTLSSocket import dtls

            self._session = dtls.Session(_PEER[0], _PEER[1], 0, 0)
        self._dtls.write(self._session, payload)
        record = self._take_output()
        if not record:
            raise BearerError(f"DTLS with {self.peer}: the engine wrote no record")
        return record

    async def open(self, wire: bytes) -> "bytes | None":
        if not looks_like_dtls(wire):
            self._refuse("not DTLS")
            return None
        self.records_in += 1
        self._app.clear()
        self._dtls.handleMessageAddr(_PEER[0], _PEER[1], wire)
        await self._flush()  # handshake answers, alerts
        app, self._app = self._app, []
        if not app:
            # A handshake record, or one that did not authenticate or was replayed.
            if wire[0] == 23:
                self._refuse("DTLS record refused", "DTLS application record refused (not authentic or replayed)")
            else:
                self._accept()  # handshake, change cipher spec, alert: dealt with
            return None
        self._accept()
        if len(app) > 1:
            log.warning("DTLS from %s: %d application records in one SMS; only the first is used", self.peer, len(app))
        return app[0]

    async def close(self) -> None:
        self._reset()

"""An aiocoap context on one UDP socket that is really its own.

aiocoap's ``create_server_context`` binds its udp6 socket with SO_REUSEPORT. On Linux two
sockets that both set SO_REUSEPORT may be given the *same* ephemeral port when they bind
to port 0, and the kernel then spreads incoming datagrams over them: with a few hundred
simulated devices in one process, responses land on the wrong device's socket (seen here
from about 70 contexts on). A fixed port with SO_REUSEPORT also lets a second server start
silently on a port that is taken. :func:`udp_context` therefore binds the socket itself,
without SO_REUSEPORT, and wires aiocoap's own udp6 transport onto it the way aiocoap does
(TokenManager -> MessageManager -> MessageInterfaceUDP6).

Relies on aiocoap 0.4's ``MessageInterfaceUDP6._create_transport_endpoint(sock, ...)`` and
``MessageInterfaceUDP6._local_port()`` (pinned by the project's ``aiocoap<0.5``); nothing
else in the project reaches into aiocoap's transports for the port: use :func:`local_port`.

Hostile datagrams: aiocoap 0.4.17 catches only its own UnparsableMessage around
``Message.decode``; a string option (Uri-Path, Uri-Query, ...) that is not UTF-8 raises
UnicodeDecodeError out of the datagram callback, and asyncio prints a 24-line traceback per
datagram. :class:`GuardedUDP6` catches any error of one datagram, counts it
(``undecodable``) and logs one line per sender at most once per ``log_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from typing import Any, Callable, Optional

import aiocoap
from aiocoap.tokenmanager import TokenManager
from aiocoap.transports.udp6 import MessageInterfaceUDP6

from ..coap.messagemanager import CompactMessageManager
from ..coap.observe import ResetUnknownNotifications

__all__ = ["udp_context", "local_port", "guard", "GuardedUDP6", "RateLimitedLog"]

log = logging.getLogger(__name__)


class RateLimitedLog:
    """At most one log line per key (a sender) per ``interval`` seconds; the rest counted.
    Bounded: at most ``max_keys`` senders remembered (the oldest forgotten first)."""

    def __init__(self, interval: float = 60.0, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # key -> (last logged, suppressed since)

    def should_log(self, key: str) -> tuple[bool, int]:
        """(log now?, how many were suppressed for this key since its last line)."""
        now = self.clock()
        last = self._last.pop(key, None)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return False, 0
        self._last[key] = (now, 0)
        while len(self._last) > self.max_keys:
            self._last.pop(next(iter(self._last)))
        return True, last[1] if last is not None else 0


class GuardedUDP6(MessageInterfaceUDP6):  # type: ignore[misc]  # aiocoap ships no type information
    """aiocoap's udp6 transport, with a datagram that fails to decode dropped as one rate-
    limited log line (see the module docstring). The count and the limiter are the
    socket's own: two servers in one process neither share nor suppress each other's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.undecodable = 0
        self.limiter = RateLimitedLog()

    def datagram_msg_received(self, data: bytes, ancdata: Any, flags: Any, address: Any) -> None:
        try:
            super().datagram_msg_received(data, ancdata, flags, address)
        except Exception as exc:  # one datagram's failure; aiocoap already logged dispatch errors
            self.undecodable += 1
            sender = str(address[0]) if isinstance(address, tuple) and address else str(address)
            ok, suppressed = self.limiter.should_log(sender)
            if ok:
                log.warning("UDP datagram of %d octets from %s dropped: %s: %s%s", len(data), sender,
                            type(exc).__name__, str(exc)[:120],
                            f" ({suppressed} more since the last line)" if suppressed else "")


class _UdpMessageManager(ResetUnknownNotifications, CompactMessageManager):
    """The compact message manager, plus a Reset for a NON notification nobody waits for."""


def _v6(host: str) -> str:
    addr = ipaddress.ip_address(host)
    return f"::ffff:{addr}" if addr.version == 4 else host


async def udp_context(
    bind: tuple[str, int] = ("127.0.0.1", 0), site: Any = None, *, loggername: str = "coap"
) -> aiocoap.Context:
    """A context serving ``site`` (may be set later as ``context.serversite``) and sending
    requests from one UDP socket bound to ``bind`` (port 0: the OS picks a free one)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((_v6(bind[0]), bind[1]))
    except OSError:
        sock.close()
        raise
    context = aiocoap.Context(loop=loop, serversite=site, loggername=loggername)
    tman = TokenManager(context)
    mman = _UdpMessageManager(tman)  # dedup memory: a key and the response's octets per request
    mman.message_interface = await GuardedUDP6._create_transport_endpoint(sock, mman, context.log, loop)
    tman.token_interface = mman
    context.request_interfaces.append(tman)
    return context


def _udp6(context: aiocoap.Context) -> Optional[MessageInterfaceUDP6]:
    for ri in context.request_interfaces:
        mi = getattr(getattr(ri, "token_interface", None), "message_interface", None)
        if isinstance(mi, MessageInterfaceUDP6):
            return mi
    return None


def local_port(context: aiocoap.Context) -> Optional[int]:
    """The UDP port of the first udp6 transport in ``context`` (None if there is none)."""
    mi = _udp6(context)
    port = mi._local_port() if mi is not None else None
    return int(port) if port is not None else None


def guard(context: aiocoap.Context) -> Optional[GuardedUDP6]:
    """The :class:`GuardedUDP6` of a context made by :func:`udp_context` (its counter)."""
    mi = _udp6(context)
    return mi if isinstance(mi, GuardedUDP6) else None

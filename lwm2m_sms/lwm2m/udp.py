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
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any, Optional

import aiocoap
from aiocoap.messagemanager import MessageManager
from aiocoap.tokenmanager import TokenManager
from aiocoap.transports.udp6 import MessageInterfaceUDP6

__all__ = ["udp_context", "local_port"]


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
    mman = MessageManager(tman)
    mman.message_interface = await MessageInterfaceUDP6._create_transport_endpoint(sock, mman, context.log, loop)
    tman.token_interface = mman
    context.request_interfaces.append(tman)
    return context


def local_port(context: aiocoap.Context) -> Optional[int]:
    """The UDP port of the first udp6 transport in ``context`` (None if there is none)."""
    for ri in context.request_interfaces:
        mi = getattr(getattr(ri, "token_interface", None), "message_interface", None)
        if isinstance(mi, MessageInterfaceUDP6):
            return mi._local_port()
    return None

"""A simulated SMSC on its own event loop in a thread, so plain blocking sockets and sync
(hypothesis) tests can talk to it, and reading one PDU from such a socket. One place for
the helpers of several test files."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from typing import Iterator

from smsc import pdu as P
from smsc.config import SmscConfig
from smsc.server import SimulatedSmsc


@contextlib.contextmanager
def smsc_in_thread(config: SmscConfig) -> Iterator[SimulatedSmsc]:
    loop = asyncio.new_event_loop()
    smsc = SimulatedSmsc(config)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(smsc.start("127.0.0.1", 0))
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10), "the SMSC thread did not start"
    try:
        yield smsc
    finally:
        asyncio.run_coroutine_threadsafe(smsc.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
        loop.close()


def read_pdu(sock: socket.socket) -> "P.Pdu | None":
    """One whole PDU from a blocking socket; None when the peer closed first."""
    head = b""
    while len(head) < 16:
        chunk = sock.recv(16 - len(head))
        if not chunk:
            return None
        head += chunk
    length = struct.unpack(">L", head[:4])[0]
    body = b""
    while len(body) < length - 16:
        body += sock.recv(length - 16 - len(body))
    return P.decode(head + body)

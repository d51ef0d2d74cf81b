"""The simulated SMSC: an asyncio SMPP 3.4 server that routes SMS between binds by MSISDN.

ESMEs bind (transmitter, receiver or transceiver) with a system_id and password checked
against :class:`~smsc.config.SmscConfig` (no accounts: every bind refused, unless in open
mode). An account owns the numbers of its ``address_range``: its binds ask for ranges
within it, its submissions come from them (else ESME_RINVSRCADR), and traffic to them goes
only to its binds. A bind's ``address_range`` says which MSISDNs it serves: a plain number
(``+15550001`` or ``15550001``) is an exact match, anything else a pattern of the
linear-time subset of :mod:`smsc.address_range`. If the bind gives none, the account's is
used. One bind may serve a whole farm.

Each accepted submit_sm gets a message id, is written to the store (if configured) and only
then acknowledged; it is delivered as a deliver_sm to a receiving bind whose range matches
the destination. With no route, or when the receiver does not acknowledge, the message waits
and is retried with doubling back-off until its validity period ends, then a failed receipt
(stat:EXPIRED) goes back if one was asked for; a delivered one gives stat:DELIVRD. Receipts
are messages too: they go to a receiving bind of the submitter's system_id, and wait if
there is none. Each submit_sm is one SMS to the SMSC: concatenated messages are routed part
by part, as real SMSCs do; a message_payload longer than 140 octets is split into
concatenated SMS, refused or passed whole (``long_payload``). Also served: data_sm,
submit_multi, query_sm, cancel_sm, replace_sm. Limits: queue count and bytes, a write buffer
per connection past which reading stops, bind and idle timeouts, small frames before a bind.

Impairments (:class:`~smsc.config.Impairments`, mutable at run time through
``server.impairments``) act on delivery: fixed latency plus jitter, loss, duplication,
reordering (a share held back), per-bind throttling (ESME_RTHROTTLED on submit_sm) and
forced disconnects (:meth:`SimulatedSmsc.disconnect` or every N seconds).

This module is the asyncio adapter: the listening socket, one :class:`asyncio.Protocol` per
connection handing bytes to a sans-IO :class:`~smsc.smsc_connection.SmscConnection`, and a timer
task calling :meth:`~smsc.smsc_core.SmscCore.tick`. All protocol state (accounts, routing,
windows, retries, receipts, limits) lives in :mod:`smsc.smsc_core` and
:mod:`smsc.smsc_connection`, tested with bytes and a
fake clock. No per-PDU coroutine: the hot path decodes, routes and writes synchronously in
``data_received``. Any exception while handling a connection's bytes is logged and closes
that connection only.

Known limits: schedule_delivery_time is ignored; no outbind; submit_multi knows no
distribution lists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from lwm2m_sms.tasks import cancel_and_wait

from .config import SmscConfig
from .smpp_time import parse_validity
from .smsc_connection import SmscConnection
from .smsc_core import SmscCore, SmscStats

__all__ = ["SimulatedSmsc", "SmscStats", "parse_validity"]

log = logging.getLogger(__name__)


class _Bind(asyncio.Protocol):
    """The asyncio side of one connection: forwards bytes and flow control to the core's
    :class:`SmscConnection`."""

    def __init__(self, smsc: SimulatedSmsc) -> None:
        self.smsc = smsc
        self.conn: SmscConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        limit = self.smsc.config.max_write_buffer
        transport.set_write_buffer_limits(high=limit, low=limit // 4)
        peer = transport.get_extra_info("peername")
        loop = asyncio.get_running_loop()
        self.conn = SmscConnection(self.smsc, transport, loop.call_soon,
                                   f"{peer[0]}:{peer[1]}" if peer else "?")

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.data_received(data)

    def pause_writing(self) -> None:
        assert self.conn is not None
        self.conn.pause_writing()

    def resume_writing(self) -> None:
        assert self.conn is not None
        self.conn.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.connection_lost()


class SimulatedSmsc(SmscCore):
    """The SMSC on asyncio. ``await start(host, port)``; ``port`` then holds the bound port."""

    def __init__(self, config: SmscConfig | None = None, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock=clock)
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._wake = asyncio.Event()
        self.wake = self._wake.set

    async def start(self, host: str = "127.0.0.1", port: int = 2775) -> None:
        loop = asyncio.get_running_loop()
        self.load()
        self._server = await loop.create_server(lambda: _Bind(self), host, port)
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        self._tasks.append(loop.create_task(self._scheduler()))
        log.info("smsc listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        if self._server is not None:
            # Python 3.11's wait_closed may wait for a connection whose transport is being
            # torn down by the abort above; do not let a stop hang on it.
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                log.debug("smsc: wait_closed timed out")
            self._server = None
        self.store.close()

    async def __aenter__(self) -> SimulatedSmsc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _scheduler(self) -> None:
        # Not asyncio.wait_for: on Python 3.11 it can swallow the cancellation that stops
        # this task when the event fires at the same moment (fixed in 3.12).
        while not self._closing:
            if not self._wake.is_set():
                deadline = self.next_deadline()
                wait = 0.1 if deadline is None else max(0.0, min(0.1, deadline - self.monotonic()))
                try:
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            try:
                self.tick()
            except Exception:
                log.exception("smsc: scheduler error")

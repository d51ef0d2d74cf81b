"""The AT command channel: one serial port, one command on the wire, URCs to a callback.

:class:`AtChannel` is the thin asyncio adapter around :class:`modems.at.AtParser`. It opens
the port with pyserial-asyncio-fast (``serial_asyncio_fast.create_serial_connection``; any
pyserial URL works, a pty path included), writes one command at a time under a lock, and
collects the information lines up to the final result code. Unsolicited result codes go to
``on_urc`` as they arrive (also in the middle of a response); the callback must not await a
command itself (the caller queues the work elsewhere), so a URC can never deadlock the line.

Timeouts are per command. A timed-out command leaves the channel usable: the parser forgets
the command, the next command waits until the line has been quiet for a moment, and a late
final result code is reported as a URC and ignored. (A late answer that comes after that
pause would still be taken for the next command's: AT has no command tags.) When the port
vanishes (USB unplug, pty closed) every waiting command fails with :class:`ConnectionLost`
and ``on_lost`` is called once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from lwm2m_sms.errors import BearerError, DecodeError

from .at import CTRL_Z, AtParser, Echo, Final, Info, Prompt, Urc

__all__ = ["AtChannel", "Response", "CommandError", "CommandTimeout", "ConnectionLost"]

log = logging.getLogger(__name__)

QUIET = 0.3  # s of silence that ends the wait for a late answer after a timeout
QUIET_MAX = 3.0


class ConnectionLost(BearerError):
    """The serial port went away while a command was waiting."""


class CommandTimeout(BearerError):
    """The modem gave no final result code in time."""


class CommandError(BearerError):
    """The modem answered ERROR, +CME ERROR or +CMS ERROR."""

    def __init__(self, command: str, final: Final) -> None:
        self.command = command
        self.final = final
        super().__init__(f"{command}: {final}")

    @property
    def cms(self) -> int | None:
        return self.final.code if self.final.kind == "+CMS ERROR" else None

    @property
    def cme(self) -> int | None:
        return self.final.code if self.final.kind == "+CME ERROR" else None


@dataclass
class Response:
    command: str
    lines: list[Info] = field(default_factory=list)
    final: Final | None = None

    def first(self, prefix: str) -> Info | None:
        for info in self.lines:
            if info.line.upper().startswith(prefix.upper()):
                return info
        return None

    def args(self, prefix: str) -> str | None:
        info = self.first(prefix)
        return info.args if info is not None else None

    @property
    def text_lines(self) -> list[str]:
        return [i.line for i in self.lines]


class _Protocol(asyncio.Protocol):
    def __init__(self, channel: "AtChannel") -> None:
        self.channel = channel

    def data_received(self, data: bytes) -> None:
        self.channel._data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.channel._lost(exc)


class AtChannel:
    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        on_urc: Callable[[Urc], None] | None = None,
        on_lost: Callable[[Exception | None], None] | None = None,
        default_timeout: float = 10.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.on_urc = on_urc
        self.on_lost = on_lost
        self.default_timeout = default_timeout
        self.parser = AtParser()
        self._transport: asyncio.Transport | None = None
        self._lock = asyncio.Lock()
        self._current: Response | None = None
        self._done: asyncio.Future[Final] | None = None
        self._prompt: asyncio.Future[None] | None = None
        self._closed = True
        self._gone: asyncio.Future[None] | None = None  # resolved once the port is closed
        self._resync = False
        self._last_rx = 0.0

    @property
    def is_open(self) -> bool:
        return not self._closed

    async def open(self) -> None:
        import serial
        import serial_asyncio_fast

        loop = asyncio.get_running_loop()
        self.parser = AtParser()
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: _Protocol(self), self.port, baudrate=self.baudrate
            )
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(f"cannot open {self.port}: {exc}") from exc
        self._transport = transport
        self._closed = False
        self._gone = loop.create_future()

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        was_open = not self._closed
        self._closed = True
        self._fail_waiters(ConnectionLost(f"{self.port} closed"))
        if transport is not None and was_open:
            # abort, not close: close() has the transport tcdrain() the port in an executor
            # thread, which can block for good on a pty whose other side goes away next.
            # Wait for the port to be really closed, so no thread outlives us.
            gone = self._gone
            transport.abort()
            if gone is not None:
                try:
                    async with asyncio.timeout(5.0):
                        await asyncio.shield(gone)
                except TimeoutError:
                    log.warning("%s: port did not close within 5 s", self.port)

    # -- commands ------------------------------------------------------------------

    async def command(
        self, command: str, *, timeout: float | None = None, check: bool = True, log_as: str | None = None
    ) -> Response:
        """Send one command line and return its response. ``check`` raises
        :class:`CommandError` on an error result; ``log_as`` replaces the command in logs and
        errors (for the PIN)."""
        async with self._lock:
            return await self._exchange(command, None, timeout, check, log_as)

    async def command_with_prompt(
        self, command: str, payload: str, *, timeout: float | None = None, prompt_timeout: float = 10.0
    ) -> Response:
        """+CMGS style: send the command, wait for ``> ``, send ``payload`` and Ctrl-Z."""
        async with self._lock:
            return await self._exchange(command, payload, timeout, True, None, prompt_timeout)

    async def _exchange(
        self, command: str, payload: str | None, timeout: float | None, check: bool,
        log_as: str | None, prompt_timeout: float = 10.0,
    ) -> Response:
        if self._closed or self._transport is None:
            raise ConnectionLost(f"{self.port} is not open")
        loop = asyncio.get_running_loop()
        if self._resync:
            await self._wait_quiet(loop)
        shown = log_as or command
        resp = Response(shown)
        self._current = resp
        self._done = loop.create_future()
        self._prompt = loop.create_future() if payload is not None else None
        self.parser.command_sent(command)
        log.debug("%s <- %s", self.port, shown)
        self._transport.write(command.encode("latin-1") + b"\r")
        try:
            if payload is not None:
                assert self._prompt is not None
                pending: set[asyncio.Future[Any]] = {self._prompt, self._done}
                waiter = asyncio.wait(pending, timeout=prompt_timeout, return_when=asyncio.FIRST_COMPLETED)
                await waiter
                if self._done.done():
                    final = self._done.result()
                    resp.final = final
                    raise CommandError(shown, final)
                if not self._prompt.done():
                    # 27.005: ESC aborts the prompt; the modem then answers OK (or nothing),
                    # which must not be taken for the next command's answer.
                    self._transport.write(b"\x1b")
                    self.parser.command_done()
                    self._resync = True
                    raise CommandTimeout(f"{self.port}: no '> ' prompt for {shown} within {prompt_timeout} s")
                self._prompt.result()
                self._transport.write(payload.encode("latin-1") + CTRL_Z)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the answer does, and a driver then cannot be closed.
            async with asyncio.timeout(timeout if timeout is not None else self.default_timeout):
                final = await asyncio.shield(self._done)
        except TimeoutError:
            self.parser.command_done()
            self._resync = True  # its answer may still come: let it pass before the next
            raise CommandTimeout(
                f"{self.port}: no answer to {shown} within {timeout or self.default_timeout} s"
            ) from None
        finally:
            self._current = None
            self._done = None
            self._prompt = None
        resp.final = final
        if check and not final.ok:
            raise CommandError(shown, final)
        return resp

    async def _wait_quiet(self, loop: asyncio.AbstractEventLoop) -> None:
        """After a timeout: wait until the modem has been silent for ``QUIET`` seconds (at
        most ``QUIET_MAX``), so a late answer to the timed-out command is seen with no
        command pending (and ignored) instead of being taken for the next one's answer."""
        start = loop.time()
        while loop.time() - self._last_rx < QUIET and loop.time() - start < QUIET_MAX:
            await asyncio.sleep(QUIET / 4)
        self._resync = False

    # -- protocol callbacks ----------------------------------------------------------

    def _data(self, data: bytes) -> None:
        self._last_rx = asyncio.get_running_loop().time()
        self.parser.receive_data(data)
        while True:
            try:
                ev = self.parser.next_event()
            except DecodeError as exc:
                log.warning("%s: %s", self.port, exc)
                continue
            if ev is None:
                return
            if isinstance(ev, Info):
                if self._current is not None:
                    self._current.lines.append(ev)
            elif isinstance(ev, Final):
                if self._done is not None and not self._done.done():
                    self._done.set_result(ev)
            elif isinstance(ev, Prompt):
                if self._prompt is not None and not self._prompt.done():
                    self._prompt.set_result(None)
            elif isinstance(ev, Urc):
                if ev.name in ("OK", "ERROR", "+CME ERROR", "+CMS ERROR"):
                    log.debug("%s: late final result %s ignored", self.port, ev.line)
                    continue
                log.debug("%s -> URC %s", self.port, ev.line)
                if self.on_urc is not None:
                    try:
                        self.on_urc(ev)
                    except Exception:  # a handler bug must not stop the reader
                        log.exception("%s: URC handler failed on %s", self.port, ev.line)
            elif isinstance(ev, Echo):
                pass

    def _fail_waiters(self, exc: Exception) -> None:
        for fut in (self._done, self._prompt):
            if fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: the waiter may be gone already

    def _lost(self, exc: Exception | None) -> None:
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        if self._closed:
            return
        self._closed = True
        self._transport = None
        log.warning("%s: port lost (%s)", self.port, exc or "closed")
        self._fail_waiters(ConnectionLost(f"{self.port} vanished: {exc or 'closed'}"))
        if self.on_lost is not None:
            self.on_lost(exc)

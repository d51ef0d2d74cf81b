"""The modem emulator on a pty: :class:`~modems.emulator_core.EmulatorCore` behind a
pseudo-terminal, with any :class:`~lwm2m_sms.bearer.SegmentLink` as its network side.

A program under test opens :attr:`ModemEmulator.path` as it would open /dev/ttyUSB0. The
path is a symlink (like udev's /dev/serial/by-id links) to the current pty slave, so that
:meth:`ModemEmulator.drop_line` can close the pty, as a USB unplug does, and open a new one
under the same name, as the re-plugged modem would appear.

The pty is put in raw mode (no echo, no line editing, no CR/LF translation by the kernel):
the emulator does the modem's echo itself. The emulator keeps the slave open too, so the
master never reads EIO while no program has the port open.

Network side: each +CMGS becomes ``send_segment`` on the link; the link's answer becomes
``+CMGS: <mr>`` (or +CMS ERROR when the network refuses), and with TP-SRR set the
submission's outcome becomes a +CDS status report. Segments arriving from the link are
stored or shown as the host asked (+CNMI); when the SIM store is full the handler raises
:class:`~modems.emulator_core.MemoryFull`, so the network keeps the SMS and retries.

Fault injection for tests: :meth:`drop_line`, :meth:`inject` (garbage bytes),
``core.fail_next_sends(n, code)``, :attr:`response_delay` (slow responses),
:meth:`set_registration` and :meth:`set_csq`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import tty
from typing import Any, Coroutine

from lwm2m_sms.bearer import DeliveryState, SegmentLink, SmsSegment
from lwm2m_sms.errors import BearerError

from .emulator_core import EmulatorCore, Settled, SubmitSegment

__all__ = ["ModemEmulator"]

log = logging.getLogger(__name__)


class ModemEmulator:
    def __init__(
        self,
        core: EmulatorCore,
        network: SegmentLink | None = None,
        *,
        link_path: str | None = None,
        registration_delay: float = 0.0,
        response_delay: float = 0.0,
        submit_timeout: float = 30.0,
    ) -> None:
        self.core = core
        self.network = network
        self.registration_delay = registration_delay
        self.response_delay = response_delay
        self.submit_timeout = submit_timeout
        self._link_path = link_path
        self._own_dir: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ""
        self._out = bytearray()
        self._writing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._search_since: float | None = None
        self._settling: dict[int, asyncio.Future[None]] = {}
        self.lines_dropped = 0

    @property
    def path(self) -> str:
        """The stable name of the port (a symlink to the current pty slave)."""
        assert self._link_path is not None
        return self._link_path

    @property
    def pty_name(self) -> str:
        return self._slave_name

    async def start(self) -> None:
        if self._link_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="modem-emulator-")
            self._link_path = os.path.join(self._own_dir, "ttyEMU0")
        self._open_pty()
        # Like a modem with DTR low: no URCs until a host talks to it (a host opening the
        # port flushes its input, so a URC written before would be lost on the way).
        self.core.online = False
        if self.network is not None:
            self.network.set_segment_receiver(self._from_network)
        if self.core.registration != 1 and self.registration_delay == 0 and self.core.pin_ok:
            self.core.registration = 1
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for fut in self._settling.values():
            if not fut.done():
                fut.set_exception(BearerError(f"modem emulator {self.core.msisdn} stopped"))
                fut.exception()
        self._settling.clear()
        for t in list(self._tasks):
            t.cancel()
        if self.network is not None:
            self.network.set_segment_receiver(None)
        self._close_pty()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        if self._link_path and os.path.islink(self._link_path):
            os.unlink(self._link_path)
        if self._own_dir:
            os.rmdir(self._own_dir)
            self._own_dir = None

    async def __aenter__(self) -> "ModemEmulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- test knobs -------------------------------------------------------------------

    async def drop_line(self, down_for: float = 0.2) -> None:
        """Close the pty (the program sees its port vanish), wait, open a new one under the
        same path. Unacknowledged +CMT messages are put in the SIM store meanwhile."""
        self.lines_dropped += 1
        self._close_pty()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        self.core.online = False
        self.core.line_reset()
        self._after_core()
        if self._link_path and os.path.islink(self._link_path):
            os.unlink(self._link_path)
        await asyncio.sleep(down_for)
        self._open_pty()  # online again once the host writes

    def inject(self, data: bytes) -> None:
        """Write raw bytes onto the line (garbage, stray URCs)."""
        self.core.write_raw(data)
        self._flush()

    def set_registration(self, stat: int) -> None:
        self.core.registration = stat
        self._flush()

    def set_csq(self, rssi: int, ber: int = 99) -> None:
        self.core.csq = (rssi, ber)

    # -- pty ------------------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._slave_name = os.ttyname(slave)
        assert self._link_path is not None
        tmp = self._link_path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self._slave_name, tmp)
        os.replace(tmp, self._link_path)
        asyncio.get_running_loop().add_reader(master, self._readable)
        log.info("modem emulator %s on %s (%s)", self.core.msisdn, self._link_path, self._slave_name)

    def _close_pty(self) -> None:
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        if self._writing:
            loop.remove_writer(self._master)
            self._writing = False
        os.close(self._master)
        self._master = None
        self._out.clear()

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)  # type: ignore[arg-type]
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return
        self.core.online = True
        self.core.receive_data(data)
        self._after_core()

    def _after_core(self) -> None:
        for eff in self.core.take_effects():
            if isinstance(eff, SubmitSegment):
                self._spawn(self._submit(eff))
            elif isinstance(eff, Settled):
                fut = self._settling.pop(eff.handle, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
        self._flush()

    def _flush(self) -> None:
        data = self.core.data_to_send()
        if not data:
            return
        if self.response_delay > 0:
            asyncio.get_running_loop().call_later(self.response_delay, self._write, data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        self._out += data
        self._drain_out()

    def _drain_out(self) -> None:
        if self._master is None:
            return
        while self._out:
            try:
                n = os.write(self._master, self._out)
            except BlockingIOError:
                break
            except OSError:
                self._out.clear()
                break
            del self._out[:n]
        loop = asyncio.get_running_loop()
        if self._out and not self._writing:
            loop.add_writer(self._master, self._drain_out)
            self._writing = True
        elif not self._out and self._writing:
            loop.remove_writer(self._master)
            self._writing = False

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            self.core.tick(now)
            self._after_core()
            if self.core.registration == 2 and self.core.pin_ok:
                if self._search_since is None:
                    self._search_since = now
                elif now - self._search_since >= self.registration_delay:
                    self.core.registration = 1
                    self._search_since = None
            self._flush()
            await asyncio.sleep(0.1 if self.registration_delay or self._settling else 0.5)

    # -- network ----------------------------------------------------------------------

    async def _submit(self, eff: SubmitSegment) -> None:
        seg = eff.segment
        if self.network is None:
            self.core.submit_result(eff.token, 331)
            self._after_core()
            return
        try:
            sub = await self.network.send_segment(seg, report=eff.report)
        except BearerError as exc:
            log.info("modem emulator %s: network refused SMS to %s: %s", seg.sender, seg.recipient, exc)
            self.core.submit_result(eff.token, 331)
            self._after_core()
            return
        if eff.report:
            self.core.submit_result(eff.token, None)
            self._after_core()
            outcome = await sub.outcome
            if outcome.state in (DeliveryState.DELIVERED, DeliveryState.FAILED):
                self.core.status_report(eff.message_ref, seg.recipient, outcome.state is DeliveryState.DELIVERED)
                self._flush()
            return
        try:
            async with asyncio.timeout(self.submit_timeout):
                outcome = await asyncio.shield(sub.outcome)
        except TimeoutError:
            self.core.submit_result(eff.token, 332)  # network timeout
            self._after_core()
            return
        if outcome.state is DeliveryState.FAILED:
            transient = any(w in outcome.detail.lower() for w in ("throttl", "busy", "timeout", "congest"))
            log.info("modem emulator %s: SMS to %s failed: %s", seg.sender, seg.recipient, outcome.detail)
            self.core.submit_result(eff.token, 42 if transient else 21)
        else:
            self.core.submit_result(eff.token, None)
        self._after_core()

    async def _from_network(self, segment: SmsSegment) -> None:
        """The network's delivery: returns (acknowledges) once the modem took the SMS for
        good; MemoryFull propagates, so the network keeps the SMS and retries."""
        handle = self.core.deliver(segment)
        if handle is not None:
            fut = asyncio.get_running_loop().create_future()
            self._settling[handle] = fut
        self._after_core()
        if handle is not None:
            await fut

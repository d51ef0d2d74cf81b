"""The GSM modem bearer: binary SMS through a modem's AT interface in PDU mode.

:class:`ModemDriver` implements :class:`lwm2m_sms.bearer.Bearer` on an :class:`AtChannel`
(pyserial-asyncio-fast under it; a USB modem's /dev/ttyUSBn, or a pty of the emulator).

Start-up (``start``): wait for the modem to answer ``AT``, echo off, numeric errors
(+CMEE=1), identify it (+CGMI, +CGMM, +CGMR) and pick a :mod:`profile <modems.profiles>`,
unlock the SIM with the configured PIN (never logged; a wrong PIN is not retried, to keep the
SIM away from its PUK), wait for network registration (+CREG / +CEREG, home or roaming) up to
``registration_timeout`` with a message that says what the modem reported, PDU mode
(+CMGF=0), storage (+CPMS), and new-message indications: +CNMI mt=2 with +CSMS=1 so each
+CMT is acknowledged by +CNMA after the payload was handed up, or (profile, or the modem
refuses mt=2) mt=1: +CMTI, then +CMGR and +CMGD after handing up; status reports as +CDS
(ds=1) or, on modems that only store them, in "SR" memory announced by +CDSI (ds=2), read
with +CMGR from there and matched like a +CDS. Then it drains what the SIM received while
nobody listened (+CMGL=0 and 1 only: messages stored to send, stat 2/3, are the SIM owner's
and stay; each received message deleted only after its payload was handed up) and resends
what the outbox still holds.

Every +CMT is answered: ``AT+CNMA`` once taken, RP-ERROR (``AT+CNMA=2,3`` with an
SMS-DELIVER-REPORT, TP-FCS FF) when not, so the network retries; a modem whose wait ran out
(27.005: it then sets +CNMI mt and ds to 0) answers ``+CMS ERROR: 340`` and gets +CNMI again,
then a drain of what it stored silently.

What is never lost: an SMS is deleted from the SIM or acknowledged (+CNMA) only once it was
handed up, or durably held (a part of a long message in the bearer's ``parts_db``, or left on
the SIM until its message is whole), or kept as a dead letter. PDUs are decoded by TP-MTI
(a stored SMS-SUBMIT, whatever its stat, is left on the SIM untouched), tolerate octets after
the user data (``counters["padded_pdus"]``) and quotes around the line. A PDU that does not
decode goes raw (hex, storage index, time, reason) into the dead-letter table
(:mod:`lwm2m_sms.deadletters`; ``lwm2m-sms dead-letters --db FILE``) and only then is deleted.

Sending: ``send`` segments the payload, stores it in the :class:`~lwm2m_sms.outbox.Outbox`
and returns; one sender task writes +CMGS per segment (one command on the wire at a time;
the channel serialises everything), records each TP-MR from ``+CMGS: <mr>`` and, with a
status report asked, matches +CDS reports to the message by TP-MR. +CMS ERROR 500, 512, 513
and other transient codes (:data:`RETRY_CMS`) are retried with back-off up to
``send_attempts``; any other code (304 invalid PDU, 305 invalid text ...) fails the message
at once with the code and its meaning.

The port vanishing (USB unplug, the emulator dropping its pty) is noticed by the channel; a
reconnect loop reopens the same path with exponential back-off, runs start-up again, drains
the SIM and resumes the send that was interrupted from its first unconfirmed segment (a
segment whose +CMGS answer was lost may go twice; the receiver's reassembly drops it).

Known limits: one modem per
driver; no multiplexing (CMUX) of data and AT on one port.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from lwm2m_sms.bearer import DCS_8BIT, Bearer, DeliveryState, ReceiveHandler, Submission
from lwm2m_sms.deadletters import DeadLetterStore, PoisonCounter
from lwm2m_sms.errors import BearerClosed, BearerError, DecodeError, EncodeError
from lwm2m_sms.outbox import Outbox
from lwm2m_sms.sms.address import Address, parse_address
from lwm2m_sms.sms.reassembly import part_key
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.tpdu import SmsStatusReport
from lwm2m_sms.sms.udh import Ports

from .at import FINAL_CMS, Urc, split_args
from .channel import AtChannel, CommandError, CommandTimeout, ConnectionLost, Response
from .profiles import ModemProfile, profile_by_name, profile_for

__all__ = ["ModemConfig", "ModemDriver", "ModemBearer", "ModemIdentity", "RETRY_CMS", "cms_text"]

log = logging.getLogger(__name__)

#: +CMS ERROR codes worth another attempt: the network or the ME was busy, not the message.
RETRY_CMS = frozenset({500, 512, 513, 331, 332, 314, 515, 38, 41, 42, 47})
_CMS_TEXT = {
    1: "unassigned number",
    21: "short message transfer rejected",
    38: "network out of order",
    41: "temporary failure",
    42: "congestion",
    47: "resources unavailable",
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    314: "SIM busy",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
    512: "network busy (vendor code)",
    513: "lower layer failure (vendor code)",
    515: "ME busy, try later",
}
_CREG_TEXT = {
    0: "not registered, not searching",
    1: "registered, home network",
    2: "not registered, searching",
    3: "registration denied",
    4: "unknown",
    5: "registered, roaming",
}


def cms_text(code: int | None) -> str:
    return _CMS_TEXT.get(code, "unknown +CMS ERROR code") if code is not None else "error"


_EARLY_REPORT_AGE = 30.0  # s a status report for an unknown TP-MR waits for its +CMGS
#: SMS-DELIVER-REPORT for RP-ERROR (23.040 9.2.2.1a): TP-MTI 00, TP-FCS FF (unspecified
#: error: the SMSC retries), TP-PI 00 (no optional fields)
_DELIVER_REPORT_ERROR = bytes((0x00, 0xFF, 0x00))


class PinRefused(BearerError):
    """The SIM refused the configured PIN: fatal, never retried (the SIM would lock)."""


@dataclass
class ModemConfig:
    """How to reach and drive one modem. ``pin`` is never logged or shown in repr."""

    port: str
    baudrate: int = 115200
    pin: str | None = field(default=None, repr=False)
    profile: str | None = None  # a name from modems.profiles; None: by +CGMI/+CGMM
    registration_timeout: float = 60.0
    poll_interval: float = 1.0
    command_timeout: float = 10.0
    send_timeout: float = 60.0  # +CMGS: the network round trip is in it
    send_attempts: int = 4
    retry_delay: float = 1.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    report_timeout: float = 3600.0
    smsc: str | None = None  # set +CSCA; None: keep the SIM's
    storage: str | None = None  # +CPMS memory; None: the profile's


@dataclass(frozen=True)
class ModemIdentity:
    manufacturer: str = ""
    model: str = ""
    revision: str = ""


@dataclass(eq=False)
class _Job:
    entry_id: int
    submission: Submission
    parts: list[UserData]
    report: bool
    payload: bytes
    next_part: int = 0
    attempts: int = 0
    mrs: list[int] = field(default_factory=list)
    reports: dict[int, bool] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    pdus: list[bytes] | None = None


def _first_line(resp: Response, prefix: str) -> str:
    for line in resp.text_lines:
        text = line.split(":", 1)[1].strip() if line.upper().startswith(prefix) else line.strip()
        if text:
            return text
    return ""


class ModemDriver(Bearer):
    kind = "modem"

    def __init__(
        self,
        config: ModemConfig,
        local_address: Address | str | None = None,
        *,
        outbox: Outbox | None = None,
        dead_letters: DeadLetterStore | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(local_address, **kwargs)
        self.config = config
        self.outbox = outbox if outbox is not None else Outbox()
        # a path: ours to close (a store in memory is kept open: closing would empty it)
        self._owns_dead_letters = isinstance(dead_letters, str)
        self.dead_letters = (
            dead_letters if isinstance(dead_letters, DeadLetterStore)
            else DeadLetterStore(dead_letters, synchronous=self.durability)
        )
        self.identity = ModemIdentity()
        self.profile: ModemProfile = profile_by_name(config.profile) if config.profile else profile_by_name("generic")
        self.use_cmt = False
        self.registration: int | None = None
        self.counters = {
            "cms_retries": 0, "reconnects": 0, "drained": 0, "reports": 0,
            "padded_pdus": 0, "dead_letters": 0, "left_on_sim": 0,
            "cnma": 0, "cnma_negative": 0, "cnmi_restored": 0,
        }
        self._cnmi_set: tuple[int, int] | None = None  # (mt, ds) the modem took
        self._nack_pdu = True  # AT+CNMA=2 with an SMS-DELIVER-REPORT, until the modem refuses it
        self._left_on_sim: set[int] = set()  # stored SMS that are not ours to take (SUBMITs)
        self._mem = "SM"
        self._ch: AtChannel | None = None
        self._online = asyncio.Event()
        self._closing = True
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._urcs: asyncio.Queue[Urc] = asyncio.Queue()
        self._by_mr: dict[int, _Job] = {}
        self._early_reports: dict[int, tuple[float, SmsStatusReport]] = {}
        self._handler_failures: PoisonCounter[str] = PoisonCounter()
        # stored parts fed to the reassembler, kept on the SIM until their message is whole
        # (first fed, {SIM index: PDU as printed}): the PDUs go to the dead letters with the
        # message should its receiver always fail on it
        self._held: dict[tuple[str, int, int], tuple[float, dict[int, str]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reconnect_task: asyncio.Task[None] | None = None
        self._reg_event = asyncio.Event()
        self._registered = asyncio.Event()
        self._active: set[_Job] = set()
        # One walk over the message memory at a time: the drain (start, reconnect, new
        # receiver), a +CMTI read and a +CDSI read each select memory, list, read and delete
        # by index. Interleaved, a +CMTI read handed up what the drain was handing up (twice)
        # and an SR read switched <mem1> under the drain, whose +CMGD then hit the wrong
        # memory (an SMS deleted unread).
        self._storage = asyncio.Lock()

    # -- Bearer API ------------------------------------------------------------------

    async def start(self) -> None:
        self._closing = False
        try:
            await self._connect()
        except BaseException:
            self._closing = True
            await self._close_channel()
            raise
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._send_loop(), name="modem-send"),
            loop.create_task(self._urc_loop(), name="modem-urc"),
        ]
        try:
            await self._drain()
        except BaseException:
            await self.close()
            raise
        for entry in self.outbox.pending():
            sub = Submission(entry.message_id, parse_address(entry.recipient), 0, loop.create_future())
            try:
                parts = self._split(sub.recipient, entry.payload, entry.ports)
                pdus = self._pdus(sub.recipient, parts, entry.report, entry.pid, entry.dcs)
            except (BearerError, EncodeError) as exc:
                log.warning("modem: outbox entry %s to %s unsendable: %s", entry.message_id, entry.recipient, exc)
                self.outbox.remove(entry.id)
                continue
            sub.segments = len(parts)
            log.info("modem: resending %s to %s from the outbox", entry.message_id, entry.recipient)
            self._enqueue(_Job(entry.id, sub, parts, entry.report, entry.payload, pdus=pdus))

    def set_receiver(self, handler: ReceiveHandler | None) -> None:
        had = self._handler is not None
        super().set_receiver(handler)
        if handler is not None and not had and not self._closing and self._ch is not None:
            # SMS left on the SIM because nobody was there to take them: take them now.
            self._spawn_drain()

    def _spawn_drain(self) -> None:
        task = asyncio.get_running_loop().create_task(self._drain_quietly())
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)

    async def _drain_quietly(self) -> None:
        try:
            await self._drain()
        except BearerError as exc:
            log.warning("modem: draining the SIM for the new receiver failed: %s", exc)

    async def close(self) -> None:
        self._closing = True
        for t in [*self._tasks, self._reconnect_task]:
            # cancel until done: a cancellation can be lost in a race inside asyncio (3.11)
            while t is not None and not t.done():
                t.cancel()
                await asyncio.wait({t}, timeout=0.5)
        self._tasks = []
        self._reconnect_task = None
        await self._close_channel()
        self._jobs = asyncio.Queue()  # what was queued is in the outbox: the next start sends it
        self._by_mr.clear()
        for job in list(self._active):
            if job.timer is not None:
                job.timer.cancel()
            if job.next_part < len(job.parts):
                detail = "modem bearer closed before it was sent; kept in the outbox for the next start"
            else:
                detail = "modem bearer closed while waiting for the status report"
            job.submission.resolve(DeliveryState.FAILED, detail)
        self._active.clear()
        self._close_part_store()
        if self._owns_dead_letters:
            self.dead_letters.close()

    async def send(
        self,
        recipient: Address | str,
        payload: bytes,
        *,
        ports: Ports | None = None,
        report: bool = False,
        pid: int = 0,
        dcs: int = DCS_8BIT,
    ) -> Submission:
        if self._closing:
            raise BearerClosed(f"modem on {self.config.port} is not started")
        if pid or dcs != DCS_8BIT:
            self._check_coding(pid, dcs)
        to = parse_address(recipient)
        parts = self._split(to, payload, ports)
        pdus = self._pdus(to, parts, report, pid, dcs)  # refuse what cannot be encoded now, not later
        mid = self._new_message_id()
        entry = self.outbox.add(mid, str(to), payload, ports=ports, report=report, pid=pid, dcs=dcs)
        sub = Submission(mid, to, len(parts), asyncio.get_running_loop().create_future())
        log.info("modem: accepted %s to %s: %d octets in %d SMS", mid, to, len(payload), len(parts))
        self._enqueue(_Job(entry.id, sub, parts, report, payload, pdus=pdus))
        return sub

    @staticmethod
    def _pdus(to: Address, parts: list[UserData], report: bool, pid: int = 0, dcs: int = DCS_8BIT) -> list[bytes]:
        """AT+CMGS PDUs (SMSC field 00: the SIM's SMSC) for the parts of one message."""
        from lwm2m_sms.sms.tpdu import SmsSubmit, encode_pdu

        return [encode_pdu(SmsSubmit(to, ud, dcs, status_report_request=report, pid=pid)) for ud in parts]

    def _enqueue(self, job: _Job) -> None:
        self._active.add(job)
        self._jobs.put_nowait(job)

    # -- connection, start-up, reconnect ---------------------------------------------

    async def _close_channel(self) -> None:
        self._online.clear()
        if self._ch is not None:
            ch, self._ch = self._ch, None
            await ch.close()

    async def _connect(self) -> None:
        cfg = self.config
        ch = AtChannel(
            cfg.port,
            baudrate=cfg.baudrate,
            on_urc=self._on_urc,
            on_lost=self._on_lost,
            default_timeout=cfg.command_timeout,
        )
        await ch.open()
        self._ch = ch
        await self._init(ch)
        self._online.set()

    def _on_lost(self, exc: Exception | None) -> None:
        self._online.clear()
        if self._closing or (self._reconnect_task is not None and not self._reconnect_task.done()):
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect(), name="modem-reconnect")

    async def _reconnect(self) -> None:
        delay = self.config.reconnect_initial
        while not self._closing:
            await asyncio.sleep(delay)
            if self._closing:
                return
            await self._close_channel()
            try:
                await self._connect()
                self.counters["reconnects"] += 1
                log.info("modem: %s back; state re-established", self.config.port)
                await self._drain()
                return
            except PinRefused as exc:
                # Trying again would spend the SIM's last PIN attempts and lock it to its PUK.
                log.error("modem: %s; giving up on %s until the PIN is fixed", exc, self.config.port)
                await self._close_channel()
                return
            except BearerError as exc:
                log.warning("modem: reconnect to %s failed (%s); next try in %.1f s", self.config.port, exc, delay)
                await self._close_channel()
                delay = min(delay * 2, self.config.reconnect_max)

    async def _init(self, ch: AtChannel) -> None:
        cfg = self.config
        for attempt in range(3):
            try:
                await ch.command("AT", timeout=2.0)
                break
            except (CommandTimeout, CommandError):
                if attempt == 2:
                    raise BearerError(f"modem on {cfg.port} does not answer AT (wrong port or baud rate?)") from None
        await ch.command("ATE0")
        await ch.command("AT+CMEE=1", check=False)
        man = _first_line(await ch.command("AT+CGMI", check=False), "+CGMI")
        model = _first_line(await ch.command("AT+CGMM", check=False), "+CGMM")
        rev = _first_line(await ch.command("AT+CGMR", check=False), "+CGMR")
        if rev.upper().startswith("REVISION:"):
            rev = rev.split(":", 1)[1].strip()
        self.identity = ModemIdentity(man, model, rev)
        self.profile = profile_by_name(cfg.profile) if cfg.profile else profile_for(man, model)
        log.info("modem: %s %s (%s) on %s, profile %s", man, model, rev, cfg.port, self.profile.name)
        await self._unlock_sim(ch)
        await self._wait_registered(ch)
        await ch.command("AT+CMGF=0")
        mem = cfg.storage or self.profile.storage
        self._mem = mem
        await self._retry_sim_busy(ch, f'AT+CPMS="{mem}","{mem}","{mem}"')
        if cfg.smsc:
            await ch.command(f'AT+CSCA="{cfg.smsc}",145')
        self.use_cmt = False
        self._cnmi_set = None
        if self.profile.use_cmt:
            try:
                await ch.command("AT+CSMS=1")
                await self._cnmi(ch, 2)
                self.use_cmt = True
            except CommandError as exc:
                log.info("modem: %s refuses +CMT routing (%s); using +CMTI and read/delete", cfg.port, exc)
                await ch.command("AT+CSMS=0", check=False)
        if not self.use_cmt:
            await self._cnmi(ch, 1)
        elif self.part_store is None:
            log.warning("modem: %s: no parts_db: a part of a long SMS is acknowledged (+CNMA) while held "
                        "in memory only, and lost if the process dies before its message is whole "
                        "(lwm2m-sms server: give --db)", cfg.port)

    async def _cnmi(self, ch: AtChannel, mt: int) -> None:
        """+CNMI with status reports as +CDS (ds=1), else stored in SR memory and announced
        by +CDSI (ds=2, modems that only do that), else none (ds=0)."""
        if self._cnmi_set is not None and self._cnmi_set[0] == mt:
            # set again (after the modem reset it): the ds this modem took the first time
            await ch.command(f"AT+CNMI=2,{mt},0,{self._cnmi_set[1]},0")
            return
        for ds in (1, 2, 0):
            try:
                await ch.command(f"AT+CNMI=2,{mt},0,{ds},0")
            except CommandError:
                if ds == 0:
                    raise
                continue
            self._cnmi_set = (mt, ds)
            return

    async def _retry_sim_busy(self, ch: AtChannel, command: str) -> None:
        for attempt in range(10):
            try:
                await ch.command(command)
                return
            except CommandError as exc:
                if exc.cms not in (310, 314, 515) or attempt == 9:
                    raise
                await asyncio.sleep(max(self.profile.sim_ready_delay, 0.5))

    async def _unlock_sim(self, ch: AtChannel) -> None:
        try:
            resp = await ch.command("AT+CPIN?", timeout=15.0)
        except CommandError as exc:
            if exc.cme == 10:
                raise BearerError(f"modem on {self.config.port}: no SIM card inserted (+CME ERROR: 10)") from None
            raise BearerError(f"modem on {self.config.port}: cannot read the SIM state ({exc.final})") from None
        state = (resp.args("+CPIN") or "").upper()
        if state == "READY":
            return
        if state != "SIM PIN":
            raise BearerError(
                f"modem on {self.config.port}: SIM needs {state or 'an unknown code'}; "
                "only a PIN can be given here (unlock a PUK with a phone)"
            )
        if not self.config.pin:
            raise BearerError(f"modem on {self.config.port}: SIM PIN required; configure the PIN (--pin)")
        try:
            await ch.command(f'AT+CPIN="{self.config.pin}"', timeout=15.0, log_as="AT+CPIN=<hidden>")
        except CommandError as exc:
            raise PinRefused(
                f"modem on {self.config.port}: the SIM refused the PIN ({exc.final}); not retried, "
                "so the SIM is not locked to its PUK"
            ) from None
        log.info("modem: SIM unlocked on %s", self.config.port)
        if self.profile.sim_ready_delay:
            await asyncio.sleep(self.profile.sim_ready_delay)
        for _ in range(20):
            resp = await ch.command("AT+CPIN?", timeout=15.0, check=False)
            if (resp.args("+CPIN") or "").upper() == "READY":
                return
            await asyncio.sleep(0.5)
        raise BearerError(f"modem on {self.config.port}: SIM not ready after the PIN")

    async def _wait_registered(self, ch: AtChannel) -> None:
        cfg = self.config
        await ch.command("AT+CREG=1", check=False)
        cereg = (await ch.command("AT+CEREG=1", check=False)).final
        has_cereg = cereg is not None and cereg.ok
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.registration_timeout
        stat: int | None = None
        while True:
            self._reg_event.clear()
            for cmd, prefix in (("AT+CREG?", "+CREG"), ("AT+CEREG?", "+CEREG")):
                if prefix == "+CEREG" and not has_cereg:
                    continue
                resp = await ch.command(cmd, check=False)
                args = split_args(resp.args(prefix) or "")
                if len(args) >= 2 and args[1].isascii() and args[1].isdigit():
                    s = int(args[1])
                    stat = s if stat is None or s in (1, 5) else stat
                    if s in (1, 5):
                        self.registration = s
                        self._registered.set()
                        log.info("modem: %s %s", cfg.port, _CREG_TEXT[s])
                        return
            left = deadline - loop.time()
            if left <= 0:
                raise BearerError(
                    f"modem on {cfg.port}: not registered to a network after {cfg.registration_timeout:g} s "
                    f"(+CREG stat {stat}: {_CREG_TEXT.get(stat, 'no answer') if stat is not None else 'no answer'}); check the antenna, "
                    "the SIM's subscription and coverage"
                )
            try:
                async with asyncio.timeout(min(cfg.poll_interval, left)):
                    await self._reg_event.wait()
            except TimeoutError:
                pass
            stat = None

    # -- receiving -------------------------------------------------------------------

    def _on_urc(self, urc: Urc) -> None:
        if urc.name in ("+CREG", "+CEREG", "+CGREG"):
            args = split_args(urc.args)
            if args and args[0].isascii() and args[0].isdigit():
                self.registration = int(args[0])
                if self.registration in (1, 5):
                    self._registered.set()
                else:
                    self._registered.clear()
                log.info("modem: %s %s: %s", self.config.port, urc.name, _CREG_TEXT.get(self.registration, "?"))
            self._reg_event.set()
            return
        if urc.name in ("+CMT", "+CMTI", "+CDS", "+CDSI"):
            self._urcs.put_nowait(urc)
            return
        log.debug("modem: %s URC %s", self.config.port, urc.line)

    async def _urc_loop(self) -> None:
        while True:
            urc = await self._urcs.get()
            try:
                if urc.name == "+CMT":
                    taken = (await self._handle_pdu(urc.body, "+CMT"))[0] is not None if urc.body else True
                    if self.use_cmt:
                        # not taken: a negative acknowledgement, so the network delivers it
                        # again later (no +CNMA at all would make the modem reset +CNMI)
                        await self._ack(taken)
                elif urc.name == "+CDS":
                    if urc.body:
                        await self._handle_pdu(urc.body, "+CDS")
                    if self.use_cmt:
                        await self._ack(True)
                elif urc.name == "+CMTI":
                    args = split_args(urc.args)
                    if len(args) >= 2 and args[1].isascii() and args[1].isdigit():
                        await self._read_stored(int(args[1]))
                elif urc.name == "+CDSI":
                    args = split_args(urc.args)
                    if len(args) >= 2 and args[1].isascii() and args[1].isdigit():
                        await self._read_status_report(args[0] or "SR", int(args[1]))
            except (ConnectionLost, CommandTimeout) as exc:
                # stored SMS stay on the SIM and an unacknowledged +CMT is stored by the
                # modem: the drain after the reconnect picks them up
                log.warning("modem: %s while handling %s; left for the drain", exc, urc.line)
            except Exception:
                log.exception("modem: handling %s failed", urc.line)

    async def _ack(self, taken: bool) -> None:
        """Acknowledge the +CMT / +CDS shown last: RP-ACK when it was taken, else RP-ERROR
        (27.005 3.4.4, PDU mode ``AT+CNMA=2,3`` with an SMS-DELIVER-REPORT whose TP-FCS is
        FF, unspecified: the SMSC keeps the SMS and retries; FF rather than D3 "memory
        capacity exceeded", which would hold it until the modem says memory is free). A
        modem that refuses the PDU form gets the bare ``AT+CNMA=2`` (27.005: TP-FCS FF too)
        from then on. ``+CMS ERROR: 340`` (no acknowledgement expected) means the modem's
        wait ran out: per 27.005 it then refused the SMS to the network and set +CNMI <mt>
        and <ds> to 0, so new SMS would be stored without a word. +CNMI is set again and
        the memory drained."""
        ch = self._ch
        if ch is None:
            return
        if taken:
            final = (await ch.command("AT+CNMA", check=False)).final
        elif self._nack_pdu:
            try:
                final = (await ch.command_with_prompt(f"AT+CNMA=2,{len(_DELIVER_REPORT_ERROR)}",
                                                      _DELIVER_REPORT_ERROR.hex().upper())).final
            except CommandError as exc:
                final = exc.final  # OK with no prompt: the modem took it as a bare +CNMA=2
                if not final.ok and exc.cms != 340:
                    log.info("modem: %s refuses +CNMA=2 with a PDU (%s); bare +CNMA=2 from now on",
                             self.config.port, exc.final)
                    self._nack_pdu = False
                    final = (await ch.command("AT+CNMA=2", check=False)).final
        else:
            final = (await ch.command("AT+CNMA=2", check=False)).final
        if final is None or final.ok:
            self.counters["cnma" if taken else "cnma_negative"] += 1
            return
        if final.kind == FINAL_CMS and final.code == 340:
            log.warning("modem: %s: +CNMA came too late (+CMS ERROR: 340): the modem has refused "
                        "that SMS to the network (it comes again) and stopped new-message "
                        "indications; +CNMI set again", self.config.port)
            await self._cnmi(ch, 2)
            self.counters["cnmi_restored"] += 1
            self._spawn_drain()  # what the modem stored silently in between
            return
        log.warning("modem: %s: AT+CNMA%s answered %s", self.config.port, "" if taken else "=2", final)

    async def _read_stored(self, index: int) -> None:
        async with self._storage:
            await self._read_stored_locked(index)

    async def _read_stored_locked(self, index: int) -> None:
        ch = self._ch
        if ch is None:
            return
        resp = await ch.command(f"AT+CMGR={index}", check=False)
        info = resp.first("+CMGR")
        if resp.final is not None and not resp.final.ok:
            log.debug("modem: +CMGR=%d: %s (already read)", index, resp.final)
            return
        await self._stored(ch, index, info.body if info is not None else None)

    async def _read_status_report(self, mem: str, index: int) -> None:
        """A status report the modem stored in ``mem`` (+CNMI ds=2: +CDSI: "SR",<index>):
        select that memory for reading, read, match it like a +CDS, delete it, and put the
        receive memory back."""
        async with self._storage:
            ch = self._ch
            if ch is None:
                return
            mem = mem.upper()
            await ch.command(f'AT+CPMS="{mem}"')
            try:
                resp = await ch.command(f"AT+CMGR={index}", check=False)
                info = resp.first("+CMGR")
                if resp.final is None or not resp.final.ok or info is None or not info.body:
                    log.info("modem: %s index %d unreadable (%s); left there", mem, index, resp.final)
                    return
                # index=None: an index in this memory is not a SIM index (left-on-SIM set)
                done, _ = await self._handle_pdu(info.body, f"{mem} index {index}", None)
                if done is None:  # not taken (not a report, dead-letter store refused it)
                    log.warning("modem: %s index %d not taken; left there", mem, index)
                    return
                await ch.command(f"AT+CMGD={index}", check=False)
            finally:
                await ch.command(f'AT+CPMS="{self._mem}","{self._mem}","{self._mem}"', check=False)

    async def _drain(self) -> None:
        """Hand up and delete every SMS the modem received and stored while nobody listened.
        Only received messages are listed (+CMGL=0 "REC UNREAD", 1 "REC READ"): messages
        stored to send (2 "STO UNSENT", 3 "STO SENT") are the SIM owner's and stay."""
        async with self._storage:
            await self._drain_locked()

    async def _drain_locked(self) -> None:
        ch = self._ch
        if ch is None:
            return
        seen: set[int] = set()
        for stat in (0, 1):
            resp = await ch.command(f"AT+CMGL={stat}", timeout=max(self.config.command_timeout, 30.0), check=False)
            if resp.final is None or not resp.final.ok:
                log.warning("modem: listing stored SMS (stat %d) failed: %s", stat, resp.final)
                continue
            for info in resp.lines:
                if not info.line.upper().startswith("+CMGL"):
                    continue
                args = split_args(info.args)
                if not args or not args[0].isascii() and args[0].isdigit():
                    continue
                index = int(args[0])
                if index in seen or index in self._left_on_sim:
                    continue
                seen.add(index)
                if any(index in held for _, held in self._held.values()):
                    continue  # a part already fed to the reassembler, waiting for the rest
                await self._stored(ch, index, info.body)
                self.counters["drained"] += 1

    async def _stored(self, ch: AtChannel, index: int, body: str | None) -> None:
        """Hand up one stored SMS and delete it from the SIM once that is safe: at once for a
        whole message, and for a part of a concatenated one only when the whole payload was
        handed up (a crash in between leaves the parts on the SIM for the next drain)."""
        if not body:
            # a header with no PDU line: nothing to hand up, and nothing we may delete blindly
            log.warning("modem: SIM index %d listed without a PDU; left on the SIM", index)
            self._left_on_sim.add(index)
            return
        done, key = await self._handle_pdu(body, f"SIM index {index}", index)
        if done is None:
            return  # not taken: stays on the SIM for the next drain
        now = asyncio.get_running_loop().time()
        delete = [index]
        if key is not None:
            since, held = self._held.setdefault(key, (now, {}))
            if done:
                delete += [i for i in held if i != index]
                del self._held[key]
            else:
                held[index] = body
                delete = []
        # Parts whose message never completed are dropped with the reassembler's timeout.
        for k, (since, held) in list(self._held.items()):
            if now - since > self._reassembler.timeout:
                log.info("modem: parts %s from %s never completed; deleting them", sorted(held), k[0])
                delete += held
                del self._held[k]
        for i in delete:
            await ch.command(f"AT+CMGD={i}", check=False)

    async def _handle_pdu(
        self, hex_pdu: str, where: str, index: int | None = None
    ) -> tuple[bool | None, tuple[str, int, int] | None]:
        """Decode and hand up one received PDU. Returns (done, key): done is False for a
        part of a concatenated message that waits for the rest, None when the SMS was not
        taken (no receiver, handler failed, not a received SMS: keep it on the SIM, do not
        acknowledge it); key names that message (sender, reference, total) for every
        concatenated part. An undecodable PDU goes to the dead letters first (done: True,
        so it is deleted / acknowledged only once it is kept there)."""
        from lwm2m_sms.sms.tpdu import Direction, SmsDeliver, SmsStatusReport, decode_pdu

        try:
            # by TP-MTI: the store holds what was sent as well as what was received
            pdu = decode_pdu(hex_pdu, direction=Direction.AUTO)
        except DecodeError as exc:
            return self._dead_letter(hex_pdu, where, index, str(exc)), None
        if pdu.trailing:
            self.counters["padded_pdus"] += 1
        tpdu = pdu.tpdu
        if isinstance(tpdu, SmsStatusReport):
            self._status_report(tpdu)
            return True, None
        if not isinstance(tpdu, SmsDeliver):
            # An SMS-SUBMIT in the store (saved to send, whatever its stat says) is the SIM
            # owner's, not a received SMS: never handed up, never deleted.
            if index is not None and index not in self._left_on_sim:
                self._left_on_sim.add(index)
                self.counters["left_on_sim"] += 1
                log.info("modem: %s holds an %s to %s; not a received SMS, left on the SIM",
                         where, type(tpdu).__name__, getattr(tpdu, "destination", "?"))
            return None, None
        concat = tpdu.user_data.concat
        key = (str(tpdu.originator), concat.reference, concat.total) if concat is not None else None
        log.debug("modem: SMS from %s (%s, %d octets)", tpdu.originator, where, len(tpdu.user_data))
        try:
            whole = await self._receive_part(tpdu.originator, tpdu.user_data, self.local_address, tpdu.dcs,
                                             tpdu.pid)
        except BearerError as exc:
            # No receiver yet (or it pushed back): leave the SMS on the SIM / unacknowledged;
            # a drain when a receiver is set, or the network's retry, brings it again.
            log.info("modem: SMS from %s (%s) not taken now: %s", tpdu.originator, where, exc)
            return None, key
        except Exception as exc:
            # The handler failed. Leave the SMS for a retry, but not forever: a poison
            # message would otherwise come back at every start. It is deleted (or
            # acknowledged) only once it is kept as a dead letter, like an undecodable one.
            failures = self._handler_failures.failed(hex_pdu)
            if not self._handler_failures.poisoned(failures):
                log.exception("modem: receiver failed on an SMS from %s (%s; %d of %d tries)",
                              tpdu.originator, where, failures, self._handler_failures.limit)
                return None, key
            log.exception("modem: receiver failed %d times on an SMS from %s (%s)",
                          failures, tpdu.originator, where)
            error = f"{type(exc).__name__}: {exc}"
            if concat is None:
                return self._dead_letter(hex_pdu, where, index, f"receiver failed {failures} times: {error}",
                                         sender=str(tpdu.originator)), key
            # A long message: every part's PDU still on the SIM and the reassembled payload
            # (which holds the parts acknowledged earlier by +CNMA, whose PDUs are gone)
            # are kept, then its held parts are forgotten, on the SIM and in the part store.
            assert key is not None
            held = self._held.get(key, (0.0, {}))[1]
            parts: list[tuple[str, str, int | None]] = [
                (f"SIM index {i}", h, i) for i, h in sorted(held.items()) if i != index]
            parts.append((where, hex_pdu, index))
            pkey = part_key(str(tpdu.originator), tpdu.user_data)
            chunks = self._reassembler.held_parts(pkey) if pkey is not None else {}
            chunks[concat.seq] = tpdu.user_data.data
            payload = (b"".join(chunks[i] for i in range(1, concat.total + 1))
                       if len(chunks) == concat.total else None)
            reason = (f"receiver failed {failures} times (message of {concat.total} parts, reference "
                      f"{concat.reference}: {len(parts)} PDU(s){' and the payload' if payload is not None else ''}"
                      f" kept): {error}")
            kept = self._dead_letter(hex_pdu, where, index, reason, sender=str(tpdu.originator),
                                     parts=parts, payload=payload)
            if kept and pkey is not None:
                self._discard_message(pkey)
            return kept, key
        self._handler_failures.forget(hex_pdu)
        return whole or key is None, key

    def _dead_letter(
        self, hex_pdu: str, where: str, index: int | None, reason: str, *, sender: str = "unknown sender",
        parts: list[tuple[str, str, int | None]] | None = None, payload: bytes | None = None,
    ) -> bool | None:
        """Keep an SMS that cannot be handed up (undecodable, or its receiver always fails)
        raw, or the ``parts`` of a long message with its ``payload`` (one transaction); True
        once kept (it may then be deleted), None if the store refused it (then it stays where
        it is)."""
        try:
            self.dead_letters.add_message(f"modem {self.config.port}", parts or [(where, hex_pdu, index)],
                                          reason[:500], payload=payload)
        except sqlite3.Error as exc:
            log.error("modem: SMS from %s (%s; %s) not stored as a dead letter (%s); left",
                      sender, where, reason, exc)
            return None
        self.counters["dead_letters"] += 1
        log.warning("modem: SMS from %s (%s) kept as a dead letter, then deleted (%s): %s",
                    sender, where, reason, hex_pdu[:400])
        return True

    # -- sending ---------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            job = await self._jobs.get()
            await self._run_job(job)

    async def _run_job(self, job: _Job) -> None:
        sub = job.submission
        cfg = self.config
        while job.next_part < len(job.parts):
            await self._online.wait()
            if not self._registered.is_set():
                # lost the network (+CREG URC): hold the send rather than burn its attempts
                # on +CMS ERROR 331; after registration_timeout try anyway
                log.info("modem: %s to %s waits for network registration", sub.message_id, sub.recipient)
                try:
                    async with asyncio.timeout(cfg.registration_timeout):
                        await self._registered.wait()
                except TimeoutError:
                    pass
            ch = self._ch
            if ch is None:
                await asyncio.sleep(0.05)
                continue
            if job.pdus is None:
                try:
                    job.pdus = self._pdus(sub.recipient, job.parts, job.report)
                except EncodeError as exc:  # only for outbox entries from an older run
                    self._fail_job(job, f"cannot encode: {exc}")
                    return
            pdu = job.pdus[job.next_part]
            try:
                resp = await ch.command_with_prompt(
                    f"AT+CMGS={len(pdu) - 1}", pdu.hex().upper(), timeout=cfg.send_timeout
                )
            except ConnectionLost:
                continue  # the reconnect loop brings the line back; same part again
            except (CommandError, CommandTimeout) as exc:
                code = exc.cms if isinstance(exc, CommandError) else None
                retry = isinstance(exc, CommandTimeout) or code in RETRY_CMS
                job.attempts += 1
                if retry and job.attempts < cfg.send_attempts:
                    self.counters["cms_retries"] += 1
                    delay = cfg.retry_delay * 2 ** (job.attempts - 1)
                    log.info(
                        "modem: %s to %s part %d/%d: %s; retry %d in %.1f s",
                        sub.message_id, sub.recipient, job.next_part + 1, len(job.parts),
                        self._describe(exc), job.attempts, delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                detail = f"part {job.next_part + 1}/{len(job.parts)}: {self._describe(exc)}"
                if retry:
                    detail += f" (gave up after {job.attempts} attempts)"
                self._fail_job(job, detail)
                return
            args = split_args(resp.args("+CMGS") or "")
            mr = int(args[0]) if args and args[0].isascii() and args[0].isdigit() else -1
            job.mrs.append(mr)
            if job.report:
                self._by_mr[mr] = job  # the report may come before the next part is sent
                early = self._early_reports.pop(mr, None)
                # it even overtook the +CMGS answer (a stale one, from before TP-MR wrapped
                # around, is too old to be for this part)
                if early is not None and asyncio.get_running_loop().time() - early[0] < _EARLY_REPORT_AGE:
                    self._status_report(early[1])
            job.next_part += 1
            job.attempts = 0
            log.debug("modem: %s to %s part %d/%d TP-MR %d", sub.message_id, sub.recipient, job.next_part, len(job.parts), mr)
        self.outbox.remove(job.entry_id)
        self._count_sent(sub.recipient, job.payload, len(job.parts))
        if job.report:
            if job.submission.outcome.done():
                return  # a report already failed it
            if len(job.reports) == len(job.parts):
                self._finish_report(job, DeliveryState.DELIVERED, "")
                return
            job.timer = asyncio.get_running_loop().call_later(cfg.report_timeout, self._report_timeout, job)
            log.info("modem: %s to %s submitted (TP-MR %s); waiting for status reports", sub.message_id, sub.recipient, job.mrs)
        else:
            self._active.discard(job)
            log.info("modem: %s to %s submitted (TP-MR %s)", sub.message_id, sub.recipient, job.mrs)
            sub.resolve(DeliveryState.SUBMITTED)

    def _fail_job(self, job: _Job, detail: str) -> None:
        sub = job.submission
        log.warning("modem: %s to %s failed: %s", sub.message_id, sub.recipient, detail)
        self.outbox.remove(job.entry_id)
        self.stats.failed += 1
        self._active.discard(job)
        sub.resolve(DeliveryState.FAILED, detail)

    @staticmethod
    def _describe(exc: Exception) -> str:
        if isinstance(exc, CommandError) and exc.cms is not None:
            return f"+CMS ERROR {exc.cms} ({cms_text(exc.cms)})"
        return str(exc)

    def _status_report(self, report: SmsStatusReport) -> None:
        job = self._by_mr.get(report.message_ref)
        if job is None or report.message_ref in job.reports:
            # A report can overtake the +CMGS answer (the URC worker runs first); keep a few.
            self._early_reports[report.message_ref] = (asyncio.get_running_loop().time(), report)
            while len(self._early_reports) > 64:
                self._early_reports.pop(next(iter(self._early_reports)))
            log.debug("modem: status report for unknown TP-MR %d (%s)", report.message_ref, report.status_text)
            return
        sub = job.submission
        if report.temporary_failure:
            log.info("modem: %s to %s: %s (SMSC still trying)", sub.message_id, sub.recipient, report.status_text)
            return
        self.counters["reports"] += 1
        job.reports[report.message_ref] = report.delivered
        del self._by_mr[report.message_ref]
        if not report.delivered:
            self._finish_report(job, DeliveryState.FAILED, report.status_text)
        elif len(job.reports) == len(job.parts) and job.next_part == len(job.parts):
            self._finish_report(job, DeliveryState.DELIVERED, "")

    def _finish_report(self, job: _Job, state: DeliveryState, detail: str) -> None:
        if job.timer is not None:
            job.timer.cancel()
        for mr in job.mrs:
            if self._by_mr.get(mr) is job:
                del self._by_mr[mr]
        self._active.discard(job)
        if state is DeliveryState.DELIVERED:
            self.stats.delivered += 1
        elif state is DeliveryState.FAILED:
            self.stats.failed += 1
        log.info("modem: %s to %s %s %s", job.submission.message_id, job.submission.recipient, state.value, detail)
        job.submission.resolve(state, detail)

    def _report_timeout(self, job: _Job) -> None:
        job.timer = None
        self._finish_report(job, DeliveryState.SUBMITTED, f"no status report within {self.config.report_timeout:g} s")


#: The name the issue and the bearer table use.
ModemBearer = ModemDriver

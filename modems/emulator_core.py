"""Sans-IO core of the AT modem emulator: the command interpreter of a GSM modem.

:class:`EmulatorCore` is fed the bytes a host writes to the modem (:meth:`receive_data`)
and produces the bytes the modem writes back (:meth:`data_to_send`) plus *effects* for the
network (:meth:`take_effects`: :class:`SubmitSegment`, one SMS to send). The adapter
(:mod:`modems.emulator`) moves bytes to and from a pty, performs the effects on a
:class:`~lwm2m_sms.bearer.SegmentLink` and reports back (:meth:`submit_result`,
:meth:`deliver`, :meth:`status_report`). No I/O, no clock: time comes in via :meth:`tick`.

It answers the AT command set of 3GPP TS 27.007 / 27.005 that SMS software uses (see
``_COMMANDS``): identity (ATI, +CGMI, +CGMM, +CGMR, +CGSN, +CIMI), echo (ATE0/1), error
verbosity (+CMEE 0/1/2), character set (+CSCS), SIM PIN (+CPIN), registration (+CREG,
+CEREG with URCs when enabled), signal (+CSQ), operator (+COPS), SMSC (+CSCA), message
format (+CMGF 0/1: PDU mode, and text mode for the GSM default alphabet), indications
(+CNMI, +CSMS, +CNMA), sending (+CMGS with the ``> `` prompt, Ctrl-Z to send, ESC to
cancel), the SIM store (+CPMS, +CMGR, +CMGL, +CMGD, +CMTI per stored message, +CMS ERROR:
322 when full) and status reports (+CDS). TPDUs are built and read with
:mod:`lwm2m_sms.sms.tpdu`, the project's one codec.

Faults for tests: :meth:`fail_next_sends` (+CMS ERROR on the next n +CMGS),
:attr:`registration` / :attr:`csq` (settable; +CREG URC on change), :class:`Quirks` (prompt
without the space, no +CMT/+CNMA support, PDU lines padded with octets after the user data
or wrapped in quotes, status reports only in "SR" memory with +CDSI, ``strict_cnma``: a +CMT
left without +CNMA is refused to the network and +CNMI mt/ds reset to 0, as 27.005 3.4.4
says), :meth:`store_pdu` (any
PDU on the SIM under any stat: saved SMS-SUBMITs, garbage). +CNMA takes 27.005's PDU-mode
forms (``=0``/``=1`` RP-ACK, ``=2`` RP-ERROR, ``=<n>,<length>`` with an SMS-DELIVER-REPORT
after the prompt); an SMS refused with RP-ERROR is delivered again by the network after
``network_retry`` seconds (the network's handle settles only once it is taken). Status reports follow +CNMI ds:
1 as +CDS, 2 stored in "SR" memory (read with +CPMS="SR" and +CMGR) and announced by +CDSI.

Known limits: one message store shared by "SM" and "ME"; no voice, USSD or GPRS commands
(answered ERROR); command chaining with ``;`` is not supported; text mode sends and shows
the GSM default alphabet only.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from lwm2m_sms.bearer import SmsSegment
from lwm2m_sms.errors import BearerError, DecodeError, EncodeError
from lwm2m_sms.sms.address import Address, parse_address

if TYPE_CHECKING:
    from lwm2m_sms.sms.tpdu import SmsDeliver, SmsSubmit

__all__ = ["EmulatorCore", "Identity", "Quirks", "SubmitSegment", "Settled", "MemoryFull", "StoredSms"]

log = logging.getLogger(__name__)

CR = 0x0D
CTRL_Z = 0x1A
ESC = 0x1B
MAX_COMMAND = 1024  # longer command lines are discarded (V.250 allows the DCE a limit)
MAX_PDU_INPUT = 2 * 200 + 16  # hex digits after the prompt: SMSC + 176-octet TPDU, with slack


class MemoryFull(BearerError):
    """The SIM store is full: the network must keep the SMS and retry (+CMS ERROR: 322)."""


@dataclass(frozen=True)
class Identity:
    manufacturer: str = "Quectel"
    model: str = "EC25"
    revision: str = "EC25EFAR06A06M4G"
    imei: str = "867962041234567"
    imsi: str = "001010123456789"
    operator: str = "LWM2M-SMS TEST"


@dataclass(frozen=True)
class Quirks:
    """Behaviours of real modems the driver must cope with."""

    prompt: bytes = b"> "  # some SIMCom firmware sends ">" with no space
    supports_cmt: bool = True  # no +CNMI mt=2 / +CNMA (many cheap modems)
    pdu_padding: bytes = b""  # octets after the user data on every PDU line shown (+CMT, +CMGR, +CMGL)
    quote_pdu: bool = False  # PDU lines in double quotes
    status_reports_stored: bool = False  # +CNMI ds=1 refused: reports go to "SR", +CDSI
    # 27.005 3.4.4 to the letter: a +CMT or +CDS not acknowledged by +CNMA in time is refused
    # to the network (RP-ERROR: it keeps the SMS and retries) and +CNMI <mt> and <ds> are set
    # to 0, so later SMS are stored without any indication. Off: the SMS is stored and
    # announced by +CMTI instead (what many modems do), +CNMI untouched.
    strict_cnma: bool = False
    cnma_pdu: bool = True  # False: +CNMA=<n>,<length> (a DELIVER-REPORT PDU) refused, 303


@dataclass(frozen=True)
class SubmitSegment:
    """Effect: send one SMS to the network; answer with :meth:`EmulatorCore.submit_result`."""

    token: int
    segment: SmsSegment
    report: bool
    message_ref: int


@dataclass(frozen=True)
class Settled:
    """Effect: the SMS :meth:`EmulatorCore.deliver` returned ``handle`` for is taken for good
    (acknowledged by +CNMA, or stored): the network may now be acknowledged."""

    handle: int


#: What :meth:`EmulatorCore.take_effects` hands the adapter.
Effect = Union[SubmitSegment, Settled]


@dataclass
class StoredSms:
    index: int
    stat: int  # 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT
    pdu: bytes  # with the SMSC field
    tpdu_length: int
    sender: str
    timestamp: _dt.datetime
    text: str


_STAT_TEXT = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT", 4: "ALL"}
_TEXT_STAT = {v: k for k, v in _STAT_TEXT.items()}

# +CME ERROR codes (27.007 9.2) and their verbose texts (+CMEE=2)
_CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    16: "incorrect password",
    30: "no network service",
    50: "incorrect parameters",
}
# +CMS ERROR codes (27.005 3.2.5)
_CMS_TEXT = {
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
    512: "network busy",
    513: "lower layer failure",
}


class _Reply:
    """Collects one command's response lines and its final code."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.final = "OK"

    def info(self, line: str) -> None:
        self.lines.append(line)


class EmulatorCore:
    def __init__(
        self,
        msisdn: Address | str,
        *,
        identity: Identity = Identity(),
        quirks: Quirks = Quirks(),
        pin: str | None = None,
        sim_capacity: int = 30,
        smsc_number: str = "+15550000000",
        registered: bool = True,
        ack_timeout: float = 15.0,
        network_retry: float = 30.0,
    ) -> None:
        self.msisdn = parse_address(msisdn)
        self.identity = identity
        self.quirks = quirks
        self.pin = pin
        self.pin_ok = pin is None
        self.sim_capacity = sim_capacity
        self.smsc_number = smsc_number
        #: +CREG stat: 0 not searching, 1 home, 2 searching, 3 denied, 5 roaming
        self._registration = 1 if registered and self.pin_ok else 0
        self._register_when_unlocked = registered
        self.csq = (20, 99)
        self.ack_timeout = ack_timeout
        #: seconds before the network delivers again an SMS the modem refused (RP-ERROR)
        self.network_retry = network_retry
        self.echo = True
        self.cmee = 0
        self.cscs = "GSM"
        self.cmgf = 0
        self.creg_n = 0
        self.cereg_n = 0
        self.cnmi = [0, 0, 0, 0, 0]
        self.csms = 0
        self.store: dict[int, StoredSms] = {}
        self.sr_store: dict[int, StoredSms] = {}  # status reports (+CNMI ds=2)
        self.read_memory = "SM"  # +CPMS <mem1>: what +CMGR/+CMGL/+CMGD work on
        self.stats = {"sent": 0, "received": 0, "stored": 0, "rejected_full": 0, "cms_injected": 0,
                      "reports_stored": 0, "rp_errors": 0, "network_retries": 0, "cnmi_resets": 0}
        self._in = bytearray()
        self._out = bytearray()
        self._effects: list[Effect] = []
        self._mr = 0
        self._tokens = 0
        self._fail_sends: list[int] = []
        self._prompt_for: tuple[str, int | Address] | None = None  # ("pdu", length) / ("text", addr)
        self._busy_token: int | None = None  # waiting for submit_result
        self._busy_mr = 0
        # +CMT (and +CDS) shown and waiting for +CNMA: (shown at, segment, time stamp, handle)
        self._unacked: list[tuple[float, SmsSegment | None, _dt.datetime, int | None]] = []
        # +CMT waiting for the line (a command in progress, or the previous +CMT unacked)
        self._backlog: list[tuple[SmsSegment, _dt.datetime, int]] = []
        # SMS refused to the network (RP-ERROR), which delivers them again at the time given:
        # (due, segment, TP-SCTS, handle); the handle settles only once the SMS is taken. The
        # time stamp is the SMSC's (when it took the SMS): the same on every retry.
        self._retries: list[tuple[float, SmsSegment, _dt.datetime, int | None]] = []
        self._handles = 0
        self._now = 0.0
        #: Slow SIM: the next n +CPMS answer +CMS ERROR: 314 (SIM busy).
        self.sim_busy = 0
        #: False while the line is down (pty closed): SMS are stored without URCs.
        self.online = True

    # -- adapter side --------------------------------------------------------------

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def take_effects(self) -> list["Effect"]:
        eff, self._effects = self._effects, []
        return eff

    def tick(self, now: float) -> None:
        """Advance time: a +CMT not acknowledged by +CNMA in time is put in the store (or,
        with ``strict_cnma``, refused to the network and +CNMI mt/ds reset to 0); an SMS the
        network was refused comes again once its retry is due."""
        self._now = now
        while self._unacked and now - self._unacked[0][0] >= self.ack_timeout:
            _, seg, ts, handle = self._unacked.pop(0)
            if self.quirks.strict_cnma:
                if seg is not None:
                    self._reject(seg, ts, handle, "no +CNMA in time")
                if self.cnmi[1] or self.cnmi[3]:
                    log.info("emulator %s: no +CNMA in time: +CNMI mt and ds set to 0", self.msisdn)
                    self.stats["cnmi_resets"] += 1
                    self.cnmi[1] = self.cnmi[3] = 0
                continue
            if seg is not None:
                log.info("emulator %s: +CMT from %s not acknowledged; stored", self.msisdn, seg.sender)
                self._store_deliver_quietly(seg, ts, announce=True)
            self._settle(handle)
        due = [r for r in self._retries if r[0] <= now]
        if due:
            self._retries = [r for r in self._retries if r[0] > now]
            for _, seg, ts, handle in due:
                self.stats["network_retries"] += 1
                self._arrive(seg, ts, handle)
        self._pump()

    def _reject(self, seg: SmsSegment, ts: _dt.datetime, handle: int | None, why: str) -> None:
        """RP-ERROR to the network: it keeps the SMS and delivers it again later."""
        self.stats["rp_errors"] += 1
        log.info("emulator %s: SMS from %s refused to the network (%s); retried in %g s",
                 self.msisdn, seg.sender, why, self.network_retry)
        self._retries.append((self._now + self.network_retry, seg, ts, handle))

    def line_reset(self) -> None:
        """The line was dropped (pty closed): partial input and unacked +CMT are handled as a
        real modem does on DTR drop: input discarded, unacknowledged SMS stored."""
        self._in.clear()
        self._out.clear()
        self._prompt_for = None
        self.echo = True  # DTR drop: many modems return to the stored profile (ATZ)
        held = [(seg, ts, h) for _, seg, ts, h in self._unacked] + self._backlog
        self._unacked.clear()
        self._backlog.clear()
        for seg, ts, handle in held:
            if seg is not None:
                self._store_deliver_quietly(seg, ts, announce=False)
            self._settle(handle)

    def fail_next_sends(self, n: int, code: int = 500) -> None:
        """Answer the next ``n`` +CMGS with +CMS ERROR: ``code``."""
        self._fail_sends.extend([code] * n)

    @property
    def registration(self) -> int:
        return self._registration

    @registration.setter
    def registration(self, stat: int) -> None:
        if stat == self._registration:
            return
        self._registration = stat
        if self.creg_n:
            self._urc(f"+CREG: {stat}")
        if self.cereg_n:
            self._urc(f"+CEREG: {stat}")

    def write_raw(self, data: bytes) -> None:
        """Fault injection: bytes straight onto the line (garbage, a stray URC)."""
        self._out += data

    def receive_data(self, data: bytes) -> None:
        self._in += data
        self._process()

    # -- network side --------------------------------------------------------------

    def submit_result(self, token: int, error: int | None = None) -> None:
        """The network took the SMS of :class:`SubmitSegment` ``token`` (or failed it with
        a +CMS ERROR code)."""
        if token != self._busy_token:
            return
        self._busy_token = None
        if error is None:
            self.stats["sent"] += 1
            self._respond([f"+CMGS: {self._busy_mr}"], "OK")
        else:
            self._respond([], self._cms(error))
        self._process()

    def deliver(self, segment: SmsSegment) -> int | None:
        """An SMS arrives from the network: +CMT, or stored and +CMTI, as +CNMI says.

        Returns None when the modem has taken the SMS for good (stored, or shown with no
        acknowledgement expected), else a handle: the adapter should hold the network's
        acknowledgement until :class:`Settled` with that handle comes out of
        :meth:`take_effects` (the host sent +CNMA, or the modem stored the SMS after the
        timeout or a line drop). That is how a real network paces a handset: one SMS at a
        time, the next after the RP-ACK. Raises :class:`MemoryFull` when the SMS must be
        stored and the store is full."""
        ts = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        self.stats["received"] += 1
        mt = self.cnmi[1] if self.online else 0
        if mt in (2, 3) and self.quirks.supports_cmt:
            self._handles += 1
            handle = self._handles
            # 27.005: with +CSMS=1 the next +CMT waits for the +CNMA of the current one, and
            # no URC goes out in the middle of a command's exchange
            self._backlog.append((segment, ts, handle))
            self._pump()
            return handle
        self._store_deliver(segment, ts, announce=mt in (1, 2, 3))
        return None

    def _arrive(self, segment: SmsSegment, ts: _dt.datetime, handle: int | None) -> None:
        """The network's retry of an SMS refused before: as :meth:`deliver`, under the
        handle the network still waits on (a full store: refused again, retried later)."""
        mt = self.cnmi[1] if self.online else 0
        if mt in (2, 3) and self.quirks.supports_cmt and handle is not None:
            self._backlog.append((segment, ts, handle))
            return
        try:
            self._store_deliver(segment, ts, announce=mt in (1, 2, 3))
        except MemoryFull:
            self._reject(segment, ts, handle, "store full")
            return
        self._settle(handle)

    def _settle(self, handle: int | None) -> None:
        if handle is not None:
            self._effects.append(Settled(handle))

    def _can_emit_cmt(self) -> bool:
        return (
            self._busy_token is None
            and self._prompt_for is None
            and not (self.csms == 1 and self._unacked)
        )

    def _emit_cmt(self, segment: SmsSegment, ts: _dt.datetime, handle: int) -> None:
        from lwm2m_sms.sms.tpdu import SmsDeliver, encode_pdu

        tpdu = SmsDeliver(segment.sender, segment.user_data, segment.dcs, ts, pid=segment.pid)
        if self.cmgf == 0:
            pdu = encode_pdu(tpdu, smsc=self._smsc_address())
            self._urc(f"+CMT: ,{len(pdu) - 1 - pdu[0]}", self._pdu_line(pdu))
        else:
            self._urc(f'+CMT: "{segment.sender}",,"{_ts_text(ts)}"', _text_or_hex(tpdu))
        if self.csms == 1:
            self._unacked.append((self._now, segment, ts, handle))
        else:
            self._settle(handle)  # phase 2 (+CSMS=0): the modem acknowledges by itself

    def _pump(self) -> None:
        """Emit held +CMT URCs as far as the line allows."""
        while self._backlog and self._can_emit_cmt():
            if not self.online or self.cnmi[1] not in (2, 3):
                held, self._backlog = self._backlog, []
                for seg, ts, handle in held:
                    # 27.005: mt=0 stores with no indication at all
                    self._store_deliver_quietly(seg, ts, announce=self.online and self.cnmi[1] in (1, 2, 3))
                    self._settle(handle)
                return
            seg, ts, handle = self._backlog.pop(0)
            self._emit_cmt(seg, ts, handle)

    def _store_deliver_quietly(self, seg: SmsSegment, ts: _dt.datetime, *, announce: bool) -> None:
        try:
            self._store_deliver(seg, ts, announce=announce)
        except MemoryFull:
            log.warning("emulator %s: store full; SMS from %s lost", self.msisdn, seg.sender)

    def status_report(self, message_ref: int, recipient: Address, delivered: bool) -> None:
        """A delivery outcome for a message sent with TP-SRR: +CDS if +CNMI ds=1."""
        from lwm2m_sms.sms.tpdu import SmsStatusReport, encode_pdu

        if self.cnmi[3] not in (1, 2):
            return
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        report = SmsStatusReport(message_ref, recipient, now, now, 0x00 if delivered else 0x41)
        pdu = encode_pdu(report, smsc=self._smsc_address())
        if self.cnmi[3] == 2:  # 27.005: stored in "SR" memory, announced by +CDSI
            idx = next(i for i in range(1, len(self.sr_store) + 2) if i not in self.sr_store)
            self.sr_store[idx] = StoredSms(idx, 0, pdu, len(pdu) - 1 - pdu[0], str(recipient), now, "")
            self.stats["reports_stored"] += 1
            self._urc(f'+CDSI: "SR",{idx}')
            return
        if self.csms == 1:
            self._unacked.append((self._now, None, now, None))  # 27.005: +CDS wants +CNMA too
        if self.cmgf == 0:
            self._urc(f"+CDS: {len(pdu) - 1 - pdu[0]}", self._pdu_line(pdu))
        else:
            st = 0 if delivered else 65
            self._urc(f'+CDS: 6,{message_ref},"{recipient}",145,"{_ts_text(now)}","{_ts_text(now)}",{st}')

    # -- internals -----------------------------------------------------------------

    def _smsc_address(self) -> Address | None:
        try:
            return parse_address(self.smsc_number) if self.smsc_number else None
        except DecodeError:
            return None

    def _store_deliver(self, segment: SmsSegment, ts: _dt.datetime, *, announce: bool) -> int:
        from lwm2m_sms.sms.tpdu import SmsDeliver, encode_pdu

        free = [i for i in range(1, self.sim_capacity + 1) if i not in self.store]
        if not free:
            self.stats["rejected_full"] += 1
            raise MemoryFull(f"SIM store of {self.msisdn} is full ({self.sim_capacity} messages)")
        idx = free[0]
        tpdu = SmsDeliver(segment.sender, segment.user_data, segment.dcs, ts, pid=segment.pid)
        pdu = encode_pdu(tpdu, smsc=self._smsc_address())
        text = _text_or_hex(tpdu)
        self.store[idx] = StoredSms(idx, 0, pdu, len(pdu) - 1 - pdu[0], str(segment.sender), ts, text)
        self.stats["stored"] += 1
        if announce:
            self._urc(f'+CMTI: "SM",{idx}')
        return idx

    def _pdu_line(self, pdu: bytes) -> str:
        """A PDU as this modem prints it (with the padding and quoting quirks)."""
        text = (pdu + self.quirks.pdu_padding).hex().upper()
        return f'"{text}"' if self.quirks.quote_pdu else text

    def store_pdu(self, stat: int, pdu: bytes, *, sender: str = "") -> int:
        """Test knob: put a raw PDU (with its SMSC field) in the SIM store under ``stat``
        (0 REC UNREAD .. 3 STO SENT): a saved outgoing SMS, or garbage. Returns the index."""
        free = [i for i in range(1, self.sim_capacity + 1) if i not in self.store]
        if not free:
            raise MemoryFull(f"SIM store of {self.msisdn} is full ({self.sim_capacity} messages)")
        idx = free[0]
        length = len(pdu) - 1 - pdu[0] if pdu and pdu[0] < len(pdu) else len(pdu)
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        self.store[idx] = StoredSms(idx, stat, bytes(pdu), length, sender, now, pdu.hex().upper())
        return idx

    def _urc(self, line: str, body: str | None = None) -> None:
        self._out += b"\r\n" + line.encode("latin-1") + b"\r\n"
        if body is not None:
            self._out += body.encode("latin-1") + b"\r\n"

    def _respond(self, lines: list[str], final: str) -> None:
        for line in lines:
            self._out += b"\r\n" + line.encode("latin-1") + b"\r\n"
        self._out += b"\r\n" + final.encode("latin-1") + b"\r\n"

    def _cme(self, code: int) -> str:
        if self.cmee == 0:
            return "ERROR"
        if self.cmee == 2:
            return f"+CME ERROR: {_CME_TEXT.get(code, 'unknown')}"
        return f"+CME ERROR: {code}"

    def _cms(self, code: int) -> str:
        if self.cmee == 2:
            return f"+CMS ERROR: {_CMS_TEXT.get(code, 'unknown error')}"
        return f"+CMS ERROR: {code}"

    def _process(self) -> None:
        self._process_input()
        self._pump()  # held +CMT go out between exchanges, never inside one

    def _process_input(self) -> None:
        while self._busy_token is None:
            if self._prompt_for is not None:
                if not self._take_prompt_input():
                    return
                continue
            i = self._in.find(b"\r")
            if i < 0:
                if len(self._in) > MAX_COMMAND:
                    self._in.clear()
                # a bare LF ends a line for hosts that send only LF
                j = self._in.find(b"\n")
                if j < 0:
                    return
                i = j
            raw = bytes(self._in[:i])
            del self._in[: i + 1]
            line = raw.decode("latin-1").strip("\n\r\x00 ")
            if not line:
                continue
            if self.echo:
                self._out += line.encode("latin-1") + b"\r"
            if not line[:2].upper() == "AT":
                continue  # V.250: a line that does not start with AT is ignored
            self._command(line)

    def _take_prompt_input(self) -> bool:
        buf = self._in
        for i, b in enumerate(buf):
            if b in (CTRL_Z, ESC):
                body = bytes(buf[:i]).decode("latin-1")
                del buf[: i + 1]
                if self.echo:
                    self._out += body.encode("latin-1") + bytes((b,))
                assert self._prompt_for is not None
                kind, arg = self._prompt_for
                self._prompt_for = None
                if b == ESC:
                    self._respond([], "OK")  # 27.005: ESC cancels the send
                else:
                    self._submit(kind, arg, body)
                return True
        if len(buf) > MAX_PDU_INPUT * 4:
            buf.clear()
            self._prompt_for = None
            self._respond([], self._cms(304))
            return True
        return False

    def _submit(self, kind: str, arg: int | Address, body: str) -> None:
        from lwm2m_sms.sms.tpdu import Direction, SmsSubmit, decode_pdu

        if kind.startswith("cnma") and isinstance(arg, int):
            self._cnma_report(int(kind[4:]), arg, body)
            return
        if self._fail_sends:
            code = self._fail_sends.pop(0)
            self.stats["cms_injected"] += 1
            self._respond([], self._cms(code))
            return
        if self._registration not in (1, 5):
            self._respond([], self._cms(331))
            return
        try:
            if kind == "pdu":
                data = bytes.fromhex(body.strip().replace("\r", "").replace("\n", ""))
                pdu = decode_pdu(data, direction=Direction.MO, with_smsc=True)
                if pdu.tpdu_length != arg:
                    raise DecodeError(f"TPDU is {pdu.tpdu_length} octets, +CMGS said {arg}")
                sub = pdu.tpdu
                if not isinstance(sub, SmsSubmit):
                    raise DecodeError("not an SMS-SUBMIT")
            else:
                if isinstance(arg, int):
                    raise EncodeError("text-mode +CMGS without a destination")
                sub = SmsSubmit.from_text(arg, body.replace("\r", "\n").strip("\n"))
        except (DecodeError, EncodeError, ValueError) as exc:
            log.info("emulator %s: bad +CMGS input: %s", self.msisdn, exc)
            self._respond([], self._cms(304 if kind == "pdu" else 305))
            return
        self._mr = (self._mr + 1) % 256
        self._tokens += 1
        self._busy_token = self._tokens
        self._busy_mr = self._mr
        seg = SmsSegment(self.msisdn, sub.destination, sub.user_data, sub.dcs, sub.pid)
        self._effects.append(SubmitSegment(self._tokens, seg, bool(sub.status_report_request), self._mr))

    # -- the command set -----------------------------------------------------------

    def _command(self, line: str) -> None:
        body = line[2:]
        up = body.upper()
        r = _Reply()
        try:
            self._dispatch(body, up, r)
        except _Fail as f:
            r.lines.clear()
            r.final = f.final
        if r.final == "PROMPT":
            self._out += b"\r\n" + self.quirks.prompt
            return
        self._respond(r.lines, r.final)

    def _need_sim(self, sms: bool = False) -> None:
        if not self.pin_ok:
            raise _Fail(self._cms(311) if sms else self._cme(11))

    def _dispatch(self, body: str, up: str, r: _Reply) -> None:
        ident = self.identity
        if up in ("", "Z", "&F", "&F0", "Z0"):
            if up.startswith(("Z", "&F")):
                self.echo, self.cmee, self.cmgf = True, 0, 0
            return
        if up in ("E0", "E1", "E"):
            self.echo = up == "E1"
            return
        if up in ("I", "I0"):
            r.info(ident.manufacturer)
            r.info(ident.model)
            r.info(f"Revision: {ident.revision}")
            return
        if up in ("V1", "Q0", "&C1", "&D2", "&W", "+CVHU=0", "+CLIP=1", "+CRC=1", "+COPS=3,0", "+COPS=0"):
            return
        m = re.fullmatch(r"([+^][A-Z]+)(\?|=\?|=(.*))?", body, re.IGNORECASE)
        if not m:
            raise _Fail(self._cme(4) if self.cmee else "ERROR")
        name, tail, value = m.group(1).upper(), m.group(2) or "", m.group(3)
        query, test = tail == "?", tail == "=?"
        handler = getattr(self, "_at_" + name[1:].lower(), None)
        if handler is None:
            raise _Fail("ERROR" if self.cmee == 0 else self._cme(4))
        handler(r, query, test, value)

    # identity
    def _at_cgmi(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        r.info(self.identity.manufacturer)

    def _at_cgmm(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        r.info(self.identity.model)

    def _at_cgmr(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        r.info(f"Revision: {self.identity.revision}")

    def _at_cgsn(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        r.info(self.identity.imei)

    _at_gsn = _at_cgsn

    def _at_cimi(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim()
        r.info(self.identity.imsi)

    def _at_cnum(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim()
        r.info(f'+CNUM: "","{self.msisdn}",145')

    def _at_cfun(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info("+CFUN: 1")

    def _at_cmee(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info(f"+CMEE: {self.cmee}")
        elif t:
            r.info("+CMEE: (0-2)")
        elif v is not None and v.strip() in ("0", "1", "2"):
            self.cmee = int(v)
        else:
            raise _Fail(self._cme(50))

    def _at_cscs(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info(f'+CSCS: "{self.cscs}"')
        elif t:
            r.info('+CSCS: ("GSM","IRA","UCS2")')
        elif v is not None and v.strip('"').upper() in ("GSM", "IRA", "UCS2"):
            self.cscs = v.strip('"').upper()
        else:
            raise _Fail(self._cme(50))

    def _at_cpin(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info("+CPIN: READY" if self.pin_ok else "+CPIN: SIM PIN")
            return
        if v is None:
            raise _Fail(self._cme(50))
        if self.pin_ok:
            raise _Fail(self._cme(3))
        if v.strip().strip('"') != self.pin:
            raise _Fail(self._cme(16))
        self.pin_ok = True
        if self._register_when_unlocked and self._registration == 0:
            self._registration = 2  # searching; the adapter (or a test) registers it

    def _at_creg(self, r: _Reply, q: bool, t: bool, v: str | None, name: str = "+CREG", attr: str = "creg_n") -> None:
        if q:
            r.info(f"{name}: {getattr(self, attr)},{self._registration}")
        elif t:
            r.info(f"{name}: (0-2)")
        elif v is not None and v.strip() in ("0", "1", "2"):
            setattr(self, attr, int(v))
        else:
            raise _Fail(self._cme(50))

    def _at_cereg(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._at_creg(r, q, t, v, "+CEREG", "cereg_n")

    def _at_cgreg(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._at_creg(r, q, t, v, "+CGREG", "creg_n")

    def _at_csq(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        r.info(f"+CSQ: {self.csq[0]},{self.csq[1]}")

    def _at_cops(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            if self._registration in (1, 5):
                r.info(f'+COPS: 0,0,"{self.identity.operator}",7')
            else:
                r.info("+COPS: 0")

    def _at_csca(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim()
        if q:
            r.info(f'+CSCA: "{self.smsc_number}",145')
        elif v is not None:
            self.smsc_number = v.split(",")[0].strip().strip('"')

    def _at_csmp(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info("+CSMP: 17,167,0,0")

    def _at_csms(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info(f"+CSMS: {self.csms},1,1,1")
        elif t:
            r.info("+CSMS: (0,1)")
        elif v is not None and v.strip() in ("0", "1"):
            self.csms = int(v)
            r.info("+CSMS: 1,1,1")
        else:
            raise _Fail(self._cms(302))

    def _at_cmgf(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info(f"+CMGF: {self.cmgf}")
        elif t:
            r.info("+CMGF: (0,1)")
        elif v is not None and v.strip() in ("0", "1"):
            self.cmgf = int(v)
        else:
            raise _Fail(self._cms(302))

    def _at_cnmi(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if q:
            r.info("+CNMI: " + ",".join(map(str, self.cnmi)))
            return
        if t:
            mts = "0-3" if self.quirks.supports_cmt else "0,1"
            r.info(f"+CNMI: (0-2),({mts}),(0,2),(0-2),(0,1)")
            return
        try:
            vals = [int(x) if x.strip() else 0 for x in (v or "").split(",")]
        except ValueError:
            raise _Fail(self._cms(302)) from None
        vals = (vals + [0] * 5)[:5]
        if vals[1] in (2, 3) and not self.quirks.supports_cmt:
            raise _Fail(self._cms(303))
        if vals[3] == 1 and self.quirks.status_reports_stored:
            raise _Fail(self._cms(303))
        self.cnmi = vals

    def _at_cnma(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        if t:
            r.info("+CNMA: (0-2)")
            return
        # 27.005 PDU mode: +CNMA[=<n>[,<length>[<CR>PDU<ctrl-Z/ESC>]]]; n 0 or 1: RP-ACK,
        # 2: RP-ERROR (without a PDU the TP-FCS is 'FF', unspecified); a <length> > 0 asks
        # for an SMS-DELIVER-REPORT TPDU after the prompt
        try:
            args = [int(x) for x in (v or "").split(",")] if v is not None and v.strip() else [0]
        except ValueError:
            raise _Fail(self._cms(304)) from None
        n, length = args[0], (args[1] if len(args) > 1 else 0)
        if n not in (0, 1, 2) or len(args) > 2 or not 0 <= length <= 176 or (length and self.cmgf == 1):
            raise _Fail(self._cms(304 if self.cmgf == 0 else 305))
        if length and not self.quirks.cnma_pdu:
            raise _Fail(self._cms(303))
        if not self._unacked:
            raise _Fail(self._cms(340))
        if length:
            self._prompt_for = (f"cnma{n}", length)
            r.final = "PROMPT"
            return
        self._acknowledge(negative=n == 2)  # the next held +CMT follows the OK (_process)

    def _acknowledge(self, *, negative: bool, fcs: int = 0xFF) -> None:
        _, seg, ts, handle = self._unacked.pop(0)
        if negative and seg is not None:
            self._reject(seg, ts, handle, f"+CNMA=2, TP-FCS {fcs:#04x}")
        else:
            self._settle(handle)

    def _cnma_report(self, n: int, length: int, body: str) -> None:
        """The SMS-DELIVER-REPORT TPDU after ``AT+CNMA=<n>,<length>``: no SMSC field; TP-MTI
        00; for RP-ERROR the TP-FCS in its second octet (23.040 9.2.2.1a)."""
        try:
            tpdu = bytes.fromhex(body.strip().replace("\r", "").replace("\n", ""))
        except ValueError:
            tpdu = b""
        if len(tpdu) != length or tpdu[0] & 0x03 != 0 or (n == 2 and len(tpdu) < 2):
            self._respond([], self._cms(304))
            return
        if not self._unacked:  # timed out while the host typed the PDU
            self._respond([], self._cms(340))
            return
        self._acknowledge(negative=n == 2, fcs=tpdu[1] if n == 2 else 0)
        self._respond([], "OK")

    def _at_cpms(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim(sms=True)
        if self.sim_busy > 0:  # a slow SIM: the SMS part is not ready yet
            self.sim_busy -= 1
            raise _Fail(self._cms(314))
        used, cap = len(self.store), self.sim_capacity
        if t:
            r.info('+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")')
        elif q:
            r.info(f'+CPMS: "SM",{used},{cap},"SM",{used},{cap},"SM",{used},{cap}')
        else:
            mems = [m.strip().strip('"').upper() for m in (v or "").split(",") if m.strip()]
            if not mems or any(m not in ("SM", "ME", "MT", "SR") for m in mems) or "SR" in mems[1:]:
                raise _Fail(self._cms(302))
            self.read_memory = mems[0]
            if mems[0] == "SR":
                used = len(self.sr_store)
            r.info("+CPMS: " + ",".join([f"{used},{cap}"] * 3))

    def _at_cmgs(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim(sms=True)
        if t or q or v is None:
            return
        if self.cmgf == 0:
            try:
                length = int(v.strip())
            except ValueError:
                raise _Fail(self._cms(304)) from None
            if not 7 <= length <= 176:
                raise _Fail(self._cms(304))
            self._prompt_for = ("pdu", length)
        else:
            try:
                to = parse_address(v.split(",")[0].strip().strip('"'))
            except DecodeError:
                raise _Fail(self._cms(305)) from None
            self._prompt_for = ("text", to)
        r.final = "PROMPT"

    def _parse_index(self, v: str | None) -> int:
        try:
            return int((v or "").split(",")[0])
        except ValueError:
            raise _Fail(self._cms(321)) from None

    def _at_cmgr(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim(sms=True)
        if t:
            return
        idx = self._parse_index(v)
        sms = self._read_store().get(idx)
        if sms is None:
            raise _Fail(self._cms(321))
        self._list_entry(r, sms, header="+CMGR: ", with_index=False)
        if sms.stat == 0:
            sms.stat = 1

    def _list_entry(self, r: _Reply, sms: StoredSms, header: str, with_index: bool) -> None:
        lead = f"{sms.index}," if with_index else ""
        if self.cmgf == 0:
            r.info(f"{header}{lead}{sms.stat},,{sms.tpdu_length}")
            r.info(self._pdu_line(sms.pdu))
        else:
            r.info(f'{header}{lead}"{_STAT_TEXT[sms.stat]}","{sms.sender}",,"{_ts_text(sms.timestamp)}"')
            r.info(sms.text)

    def _at_cmgl(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim(sms=True)
        if t:
            r.info("+CMGL: (0-4)" if self.cmgf == 0 else '+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")')
            return
        arg = (v or ("4" if self.cmgf == 0 else '"ALL"')).strip()
        if self.cmgf == 0:
            if arg not in ("0", "1", "2", "3", "4"):
                raise _Fail(self._cms(302))
            want = int(arg)
        else:
            want = _TEXT_STAT.get(arg.strip('"').upper(), -1)
            if want < 0:
                raise _Fail(self._cms(302))
        store = self._read_store()
        for idx in sorted(store):
            sms = store[idx]
            if want == 4 or sms.stat == want:
                self._list_entry(r, sms, header="+CMGL: ", with_index=True)
                if sms.stat == 0:
                    sms.stat = 1

    def _at_cmgd(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        self._need_sim(sms=True)
        if t:
            r.info(f"+CMGD: (1-{self.sim_capacity}),(0-4)")
            return
        parts = (v or "").split(",")
        try:
            idx = int(parts[0]) if parts[0].strip() else 0
            flag = int(parts[1]) if len(parts) > 1 and parts[1].strip() else 0
        except ValueError:
            raise _Fail(self._cms(321)) from None
        store = self._read_store()
        if flag == 0:
            if idx not in store and not 1 <= idx <= self.sim_capacity:
                raise _Fail(self._cms(321))
            store.pop(idx, None)
            return
        drop = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}.get(flag)
        if drop is None:
            raise _Fail(self._cms(302))
        for i in [i for i, s in store.items() if s.stat in drop]:
            del store[i]

    def _read_store(self) -> dict[int, StoredSms]:
        return self.sr_store if self.read_memory == "SR" else self.store

    def _at_clac(self, r: _Reply, q: bool, t: bool, v: str | None) -> None:
        raise _Fail("ERROR")


class _Fail(Exception):
    def __init__(self, final: str) -> None:
        self.final = final


def _text_or_hex(tpdu: "SmsDeliver | SmsSubmit") -> str:
    """Text mode shows GSM/UCS2 text as text and 8-bit data in hex (27.005 3.1, <data>)."""
    try:
        return tpdu.text
    except DecodeError:
        return tpdu.user_data.encode().hex().upper()


def _ts_text(ts: _dt.datetime) -> str:
    """27.005 text-mode time stamp: yy/MM/dd,hh:mm:ss+zz (quarter hours)."""
    off = ts.utcoffset() or _dt.timedelta(0)
    q = int(off.total_seconds() // 900)
    return ts.strftime("%y/%m/%d,%H:%M:%S") + f"{'+' if q >= 0 else '-'}{abs(q):02d}"

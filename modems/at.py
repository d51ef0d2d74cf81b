"""Sans-IO AT line protocol (3GPP TS 27.005 / 27.007, ITU-T V.250), modem side to host.

:class:`AtParser` is fed the bytes a modem writes (:meth:`AtParser.receive_data`) and hands
out events (:meth:`AtParser.next_event`): the final result code of a command (:class:`Final`:
OK, ERROR, +CME ERROR, +CMS ERROR, NO CARRIER...), information responses (:class:`Info`), the
``> `` prompt of +CMGS/+CMGW (:class:`Prompt`), the echo of what the host wrote
(:class:`Echo`) and unsolicited result codes (:class:`Urc`: +CMTI, +CMT, +CDS, +CREG, RING,
``^`` and vendor lines), which may arrive anywhere, also between the lines of a response.
It never touches a port or a clock: the driver owns I/O and timeouts (model: h11).

How lines are told apart. A modem gives no framing beyond line ends, so the parser needs to
know which command is on the wire: the host calls :meth:`AtParser.command_sent` with it.
While a command is pending, a line carrying that command's prefix (``+CMGL:`` for
``AT+CMGL=4``) or no ``+``/``^`` prefix at all is its response; a line with another prefix,
or one of the well-known URCs, is a URC. With no command pending every line is a URC.
+CMT, +CDS (PDU mode), +CMGR and +CMGL headers are followed by one body line (the PDU in
hex, or the text in text mode) which the parser attaches to the event; in PDU mode the
whitespace and a pair of quotes around that hex are stripped (some firmware quotes it).

Line ends: V.250 says ``<CR><LF>text<CR><LF>``; modems also send bare ``<LF>``, bare
``<CR>`` and ``<CR><CR><LF>``. Any run of CR/LF ends a line and empty lines are skipped.
The prompt comes without a line end (``> `` or ``>``); it is recognised at a line start.

Limits: the receive buffer holds at most ``max_line`` bytes of an unfinished line (a modem
spewing garbage with no line end cannot grow memory without bound); past that the bytes are
discarded and :meth:`next_event` raises :class:`~lwm2m_sms.errors.DecodeError` once, after
which parsing resumes at the next line end. Text is decoded as ISO 8859-1, so no byte
sequence is undecodable. That is the only exception the parser raises on modem input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lwm2m_sms.errors import DecodeError

__all__ = [
    "Final",
    "Info",
    "Prompt",
    "Echo",
    "Urc",
    "Event",
    "AtParser",
    "split_args",
    "command_prefix",
    "FINAL_OK",
    "FINAL_ERROR",
    "FINAL_CME",
    "FINAL_CMS",
    "CTRL_Z",
    "ESC",
]

CTRL_Z = b"\x1a"
ESC = b"\x1b"
MAX_LINE = 4096  # a PDU line is at most 2 * 176 hex digits; +CMGL text lines are short too

FINAL_OK = "OK"
FINAL_ERROR = "ERROR"
FINAL_CME = "+CME ERROR"
FINAL_CMS = "+CMS ERROR"
# V.250 final result codes of call commands; a data modem may answer ATD with them.
_OTHER_FINALS = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "COMMAND NOT SUPPORT"})

# URCs that are never an information response, whatever command is pending.
_ALWAYS_URC = frozenset(
    {"+CMTI", "+CMT", "+CDS", "+CDSI", "+CBM", "+CBMI", "RING", "+CRING", "+CLIP", "+CUSD", "+CIEV"}
)
# URC headers followed by one body line (PDU mode); +CMGR/+CMGL responses are too.
_HAS_BODY = frozenset({"+CMT", "+CDS", "+CBM", "+CMGR", "+CMGL"})


@dataclass(frozen=True, slots=True)
class Final:
    """A final result code: ``kind`` is OK, ERROR, +CME ERROR, +CMS ERROR or a V.250 code;
    ``code`` the numeric error (None for OK, plain ERROR or verbose +CMEE=2 text)."""

    kind: str
    code: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == FINAL_OK

    def __str__(self) -> str:
        if self.kind in (FINAL_CME, FINAL_CMS):
            return f"{self.kind}: {self.code if self.code is not None else self.text}"
        return self.kind


@dataclass(frozen=True, slots=True)
class Info:
    """One information response line of the pending command (``body``: the PDU or text
    line that follows a +CMGR/+CMGL header)."""

    line: str
    body: str | None = None

    @property
    def name(self) -> str:
        return _name_of(self.line)

    @property
    def args(self) -> str:
        return _args_of(self.line)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The ``> `` prompt: the modem waits for the PDU and Ctrl-Z."""


@dataclass(frozen=True, slots=True)
class Echo:
    """The modem echoing a line the host wrote (ATE1)."""

    line: str


@dataclass(frozen=True, slots=True)
class Urc:
    """An unsolicited result code: ``name`` (``+CMTI``, ``^RSSI``, ``RING``), ``args`` (after
    the colon) and, for +CMT/+CDS, the ``body`` line (PDU in hex, or text in text mode)."""

    name: str
    args: str
    line: str
    body: str | None = None


Event = Final | Info | Prompt | Echo | Urc


_PREFIXES = "+^#"  # 27.007 "+", Huawei "^", Telit "#"


def _name_of(line: str) -> str:
    if line[:1] in _PREFIXES and ":" in line:
        return line.split(":", 1)[0].strip().upper()
    return line.strip()


def _args_of(line: str) -> str:
    if line[:1] in _PREFIXES and ":" in line:
        return line.split(":", 1)[1].strip()
    return ""


def command_prefix(command: str) -> str | None:
    """The response prefix of a command line: ``AT+CMGL=4`` -> ``+CMGL``, ``AT^SYSINFO`` ->
    ``^SYSINFO``; None for basic commands (``ATI``, ``ATE0``)."""
    c = command.strip().upper()
    if c.startswith("AT"):
        c = c[2:]
    m = re.match(r"([+^%$#][A-Z0-9]+)", c)
    return m.group(1) if m else None


def split_args(args: str) -> list[str]:
    """Split a response's arguments at commas outside quotes; quotes are removed.
    ``'"SM",3'`` -> ``['SM', '3']``. Never raises."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in args:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def _unquote(line: str) -> str:
    """A PDU body line as some firmware writes it, ``"0791...00"``: quotes and whitespace
    around the hex are not part of the PDU."""
    if len(line) >= 2 and line[0] == line[-1] == '"':
        return line[1:-1].strip()
    return line


_ERROR_RE = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)$", re.IGNORECASE)


def _final(line: str) -> Final | None:
    up = line.strip().upper()
    if up == "OK":
        return Final(FINAL_OK)
    if up == "ERROR":
        return Final(FINAL_ERROR)
    m = _ERROR_RE.match(line.strip())
    if m:
        kind = FINAL_CME if m.group(1).upper() == "CME" else FINAL_CMS
        text = m.group(2).strip()
        code = int(text) if text.isascii() and text.isdigit() and len(text) < 6 else None
        return Final(kind, code, text)
    if up in _OTHER_FINALS:
        return Final(up)
    return None


class AtParser:
    """Bytes from a modem in, :data:`Event` values out. See the module docstring."""

    def __init__(self, *, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        #: In text mode (+CMGF=1) a +CDS URC has no body line; in PDU mode it has.
        self.text_mode = False
        self._buf = bytearray()
        self._command: str | None = None
        self._prefix: str | None = None
        self._expect_prompt = False
        self._pending_header: Info | Urc | None = None
        self._overflowed = 0

    # -- host side ------------------------------------------------------------------

    def command_sent(self, command: str) -> None:
        """Tell the parser which command line the host just wrote (without CR)."""
        self._command = command.strip()
        self._prefix = command_prefix(command)
        up = self._command.upper()
        self._expect_prompt = up.startswith(("AT+CMGS=", "AT+CMGW", "AT+CMGC=", "AT+CMSS="))
        self._expect_prompt = self._expect_prompt and not up.startswith("AT+CMSS")

    def command_done(self) -> None:
        """Forget the pending command (the driver timed it out)."""
        self._command = self._prefix = None
        self._expect_prompt = False

    @property
    def pending_command(self) -> str | None:
        return self._command

    def receive_data(self, data: bytes) -> None:
        self._buf += data
        # Bound memory: an unfinished line longer than max_line is discarded. Only the tail
        # after the last line end is checked, so the cost stays O(bytes received).
        if len(self._buf) > self.max_line:
            last_end = max(self._buf.rfind(b"\r"), self._buf.rfind(b"\n"))
            tail = len(self._buf) - last_end - 1
            if tail > self.max_line:
                self._overflowed += tail
                del self._buf[last_end + 1 :]

    # -- events ---------------------------------------------------------------------

    def events(self) -> list[Event]:
        """All events available now (raises DecodeError for discarded garbage only after
        the events before it were returned by an earlier call)."""
        out: list[Event] = []
        while True:
            try:
                ev = self.next_event()
            except DecodeError:
                if out:
                    return out
                raise
            if ev is None:
                return out
            out.append(ev)

    def next_event(self) -> Event | None:
        """The next event, or None when more bytes are needed."""
        while True:
            buf = self._buf
            # skip line ends left between lines
            i = 0
            while i < len(buf) and buf[i] in (0x0D, 0x0A):
                i += 1
            if i:
                del buf[:i]
            if not buf:
                self._raise_overflow()
                return None
            if buf[0] == 0x3E and self._pending_header is None:  # '>' at a line start
                if len(buf) == 1 or buf[1] in (0x20, 0x0D, 0x0A) or self._expect_prompt:
                    del buf[: 2 if len(buf) > 1 and buf[1] == 0x20 else 1]
                    self._expect_prompt = False
                    return Prompt()
            cr = buf.find(b"\r")
            lf = buf.find(b"\n")
            ends = [p for p in (cr, lf) if p >= 0]
            if not ends:
                if len(buf) > self.max_line:
                    self._overflowed += len(buf)
                    buf.clear()
                self._raise_overflow()
                return None
            end = min(ends)
            line = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 1]
            ev = self._line(line)
            if ev is not None:
                return ev

    def _raise_overflow(self) -> None:
        # Reported once the complete lines received before the garbage were handed out.
        if self._overflowed:
            n, self._overflowed = self._overflowed, 0
            self._pending_header = None
            raise DecodeError(f"discarded {n} bytes from the modem with no line end (max {self.max_line})")

    def _line(self, line: str) -> Event | None:
        stripped = line.strip()
        if not stripped:
            return None
        if self._pending_header is not None:
            name = _name_of(stripped)
            if name in _ALWAYS_URC and name not in _HAS_BODY and name != self._prefix:
                # A URC between a +CMGR/+CMGL header and its PDU line: hand it out, the
                # header still waits for its body.
                return Urc(name, _args_of(stripped), stripped)
            header, self._pending_header = self._pending_header, None
            if _final(stripped) is None:
                # the body line (PDU hex, or text); a final code means the body was empty
                body = stripped if self.text_mode else _unquote(stripped)
                if isinstance(header, Urc):
                    return Urc(header.name, header.args, header.line, body)
                return Info(header.line, body)
            return self._after_header(header, stripped)
        return self._classify(stripped)

    def _after_header(self, header: Info | Urc, line: str) -> Event | None:
        # A header whose body never came: hand the header out, keep the line for next time.
        self._buf[:0] = line.encode("latin-1") + b"\r\n"
        return header

    def _classify(self, line: str) -> Event | None:
        if CTRL_Z[0] in line.encode("latin-1") or ESC[0] in line.encode("latin-1"):
            return Echo(line)  # the PDU and Ctrl-Z echoed back (ATE1)
        if self._command is not None and line.upper() == self._command.upper():
            return Echo(line)
        final = _final(line)
        if final is not None:
            if self._command is not None:
                self.command_done()
                return final
            # A final code with no command on the wire (a late answer to a timed-out one)
            return Urc(final.kind, final.text, line)
        name = _name_of(line)
        prefixed = line[:1] in _PREFIXES and ":" in line
        is_response = (
            self._command is not None
            and name not in _ALWAYS_URC
            and (not prefixed or name == self._prefix)
        )
        if name in _ALWAYS_URC and name == self._prefix:
            is_response = True  # e.g. AT+CUSD answering with +CUSD
        if is_response:
            info = Info(line)
            if name in _HAS_BODY:
                self._pending_header = info
                return None
            return info
        urc = Urc(name, _args_of(line), line)
        if name in _HAS_BODY and not (name == "+CDS" and self.text_mode):
            self._pending_header = urc
            return None
        return urc

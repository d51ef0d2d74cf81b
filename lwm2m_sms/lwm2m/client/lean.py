"""A lean fleet of S-binding LwM2M devices: many devices, a few hundred octets each (sans-IO).

:class:`~.device.Lwm2mClient` is a whole device: an aiocoap context, its SMS transport, the
object tree, observations, a registration loop. That is 15 to 20 KiB and several tasks
per device, so a simulator of 100,000 devices would need gigabytes. A fleet bench needs
far less of each device: Register, answer a Read of /3/0, and now and then an Update.
:class:`LeanFleet` keeps one compact record per device (endpoint, MSISDN, location path,
its next message ID, the one request it has outstanding) and builds every message from
octets prepared once for the whole fleet. It is sans-IO: CoAP octets and the time in,
CoAP octets and :class:`Completed` events out; :mod:`.lean_link` runs it on one SMS link
for all the devices' numbers.

What it does on the wire, as an LwM2M 1.0.2 client with binding S (every message one CoAP
message in RFC 7252 binary form, the payload of one SMS):

* Register: ``CON POST /rd?ep=&lt=&lwm2m=1.0&b=S&sms=`` with the object list
  ``</1/0>,</3/0>`` (link-format); the answer must be 2.01 Created with a Location-Path,
  piggybacked on the ACK or separate (an empty ACK first, then a CON or NON response; a
  CON response is acknowledged, or rejected with a Reset when it answers nothing). Update: ``CON POST {location}``; 2.04 is done, 4.04 (the server
  forgot the device) makes it register again, as LwM2M asks. De-register: ``CON DELETE
  {location}``, 2.02.
* Requests from the server: only from the server's number (any other sender is dropped
  silently, the LwM2M SMS trust rule). ``GET /3/0`` is answered 2.05 with the Device
  object in TLV (11542; the pre-registration 1542 is accepted as Accept) and the same
  token, piggybacked on the ACK of a CON (same message ID) or as a NON to a NON. Any other
  path is 4.04 Not Found, any other method on /3/0 4.05; another Accept 4.06. A repeated
  CON or NON (the same message ID from the server within EXCHANGE_LIFETIME: an SMSC
  retry) is answered with the octets of the first answer and not processed again
  (:class:`~lwm2m_sms.coap.dedup.RecentMessages`). An empty CON (a ping) gets a Reset.
* Reliability: one CON outstanding per device (NSTART 1). With the SMS settings' default
  a CON is sent once and its ACK awaited ``ack_timeout`` times a random factor up to
  ``ack_random_factor``; ``max_retransmit`` > 0 retransmits the same octets with doubling
  timeouts, as RFC 7252 4.2. A Reset, a send the bearer reports failed
  (:meth:`LeanFleet.fail`) or the last timeout ends the request with an unsuccessful
  :class:`Completed`. After an empty ACK the separate response is awaited
  ``response_timeout`` seconds.

Known limits (it is a load generator, not a device): no observe, write, execute,
discover or bootstrap; /3/0 is the template of :func:`~.objecttree.default_device` with
the device's serial number, binding S and the current time; no periodic Update of its
own (the caller sends them, or registers with a lifetime longer than its run); incoming
messages are decoded with aiocoap's ``Message.decode``.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from dataclasses import dataclass
from typing import Callable, Optional

from aiocoap import Message
from aiocoap.error import Error as CoapError

from ...coap.dedup import RecentMessages
from ...coap.settings import SmsSettings
from ...sms.address import Address
from .. import linkformat
from ..content import ContentFormat, encode_payload
from ..linkformat import Link
from .objecttree import default_device

__all__ = ["LeanFleet", "LeanDevice", "Completed", "Reply", "REGISTER", "UPDATE", "DEREGISTER", "encode_coap"]

REGISTER = "register"
UPDATE = "update"
DEREGISTER = "deregister"

# RFC 7252 message types and the codes this module sends or checks
CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE = 1, 2, 3, 4
CREATED, DELETED, CHANGED, CONTENT = 0x41, 0x42, 0x44, 0x45
BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED, NOT_ACCEPTABLE = 0x80, 0x84, 0x85, 0x86
URI_PATH, CONTENT_FORMAT, URI_QUERY, ACCEPT = 11, 12, 15, 17
_TLV_FORMATS = (None, ContentFormat.TLV.value, 1542)
_DEVICE_OWN = (2, 13, 16)  # serial number, current time, binding: per device or per read


def _ext(n: int) -> tuple[int, bytes]:
    """An option delta or length as its nibble and extended octets (RFC 7252 3.1)."""
    if n < 13:
        return n, b""
    if n < 269:
        return 13, bytes([n - 13])
    return 14, (n - 269).to_bytes(2, "big")


def encode_options(options: "list[tuple[int, bytes]]", last: int = 0) -> bytes:
    """Options in ascending number order, encoded after option number ``last``."""
    out = bytearray()
    for number, value in options:
        dn, dx = _ext(number - last)
        ln, lx = _ext(len(value))
        out.append(dn << 4 | ln)
        out += dx + lx + value
        last = number
    return bytes(out)


def encode_coap(mtype: int, code: int, mid: int, token: bytes, options: bytes = b"", payload: bytes = b"") -> bytes:
    """A CoAP message from its parts; ``options`` already encoded (:func:`encode_options`)."""
    head = bytes((0x40 | mtype << 4 | len(token), code, mid >> 8, mid & 0xFF))
    return head + token + options + (b"\xff" + payload if payload else b"")


def _uint(value: int) -> bytes:
    """A CoAP uint option value: the shortest big-endian form, zero as no octets."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass(frozen=True, slots=True)
class Completed:
    """A request of device ``index`` ended: ``kind`` is :data:`REGISTER` or :data:`UPDATE`;
    ``ok`` False with ``detail`` saying why (a code, a timeout, a Reset, a failed send)."""

    index: int
    kind: str
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class Reply:
    """What :meth:`LeanFleet.receive` and :meth:`LeanFleet.due` give back: CoAP messages to
    send to the server, as (device index, octets), and requests that ended."""

    send: "list[tuple[int, bytes]]"
    done: "list[Completed]"


class _Exchange:
    """The one CON request a device has outstanding."""

    __slots__ = ("kind", "mid", "token", "octets", "tries", "timeout", "deadline", "acked")

    def __init__(self, kind: str, mid: int, token: bytes, octets: bytes, timeout: float, deadline: float) -> None:
        self.kind = kind
        self.mid = mid
        self.token = token
        self.octets = octets
        self.tries = 0
        self.timeout = timeout
        self.deadline = deadline
        self.acked = False


class LeanDevice:
    """One device's record: what differs between devices, nothing more."""

    __slots__ = ("endpoint", "msisdn", "location", "mid", "pending")

    def __init__(self, endpoint: str, msisdn: Address, mid: int) -> None:
        self.endpoint = endpoint
        self.msisdn = msisdn
        self.location: Optional[str] = None  # "/rd/5a3f" once registered
        self.mid = mid
        self.pending: Optional[_Exchange] = None


class LeanFleet:
    """Devices with binding S that register with the server at ``server`` (its MSISDN).

    ``settings`` are the SMS transport's (ACK timeout, retransmissions, EXCHANGE_LIFETIME
    for the duplicate memory); ``clock`` gives Unix seconds for /3/0/13. Every other time is
    passed in (``now``, monotonic seconds)."""

    def __init__(
        self, server: Address, *, lifetime: int = 86400, settings: Optional[SmsSettings] = None,
        response_timeout: Optional[float] = None, clock: Callable[[], float] = time.time,
        rng: Optional[random.Random] = None,
    ) -> None:
        self.server = server
        self.lifetime = lifetime
        self.settings = settings or SmsSettings()
        tuning = self.settings.tuning()
        self.response_timeout = response_timeout if response_timeout is not None else float(tuning.EXCHANGE_LIFETIME)
        self.clock = clock
        self._rng = rng or random.Random()
        self.devices: list[LeanDevice] = []
        self._by_msisdn: dict[Address, int] = {}
        self._timers: list[tuple[float, int, int]] = []  # (deadline, device, message ID)
        self._tokens = itertools.count(self._rng.randrange(1 << 32))
        self.recent = RecentMessages(float(tuning.EXCHANGE_LIFETIME), self.settings.dedup_entries)
        # counters
        self.untrusted = 0  # from a number other than the server's: dropped
        self.unrouted = 0  # to a number that is no device of the fleet: dropped
        self.malformed = 0  # not a CoAP message: dropped
        self.duplicates = 0  # a repeated request, answered from the duplicate memory
        self.unmatched = 0  # a response or ACK that answers nothing outstanding
        self.retransmissions = 0
        self.reads = 0
        # octets built once for the fleet
        self._register_head = encode_options([(URI_PATH, b"rd"), (CONTENT_FORMAT, _uint(ContentFormat.LINK_FORMAT.value))])
        self._register_tail = encode_options(
            [(URI_QUERY, f"lt={lifetime}".encode()), (URI_QUERY, b"lwm2m=1.0"), (URI_QUERY, b"b=S")], URI_QUERY)
        self._objects = linkformat.serialize([Link("/1/0"), Link("/3/0")])
        template = {rid: v for rid, v in default_device("x", "S").items() if rid not in _DEVICE_OWN and v is not None}
        _, self._device_shared = encode_payload((3, 0), template, ContentFormat.TLV.value)
        self._content_tlv = encode_options([(CONTENT_FORMAT, _uint(ContentFormat.TLV.value))])

    # -- the fleet ------------------------------------------------------------------------

    def add(self, endpoint: str, msisdn: Address) -> int:
        """A new device; its index."""
        if msisdn in self._by_msisdn:
            raise ValueError(f"{msisdn} is already a device of the fleet")
        index = len(self.devices)
        self.devices.append(LeanDevice(endpoint, msisdn, self._rng.randrange(0x10000)))
        self._by_msisdn[msisdn] = index
        return index

    def index_of(self, msisdn: Address) -> Optional[int]:
        return self._by_msisdn.get(msisdn)

    def __len__(self) -> int:
        return len(self.devices)

    def next_deadline(self) -> Optional[float]:
        """When :meth:`due` next has work (a retransmission or a timeout), if ever."""
        return self._timers[0][0] if self._timers else None

    # -- requests the devices send ----------------------------------------------------------

    def register(self, index: int, now: float) -> bytes:
        """The Register of device ``index`` (raises if it has a request outstanding)."""
        dev = self.devices[index]
        # Uri-Query options keep their order: ep= first, the fleet's fixed ones, sms= last
        options = (self._register_head
                   + encode_options([(URI_QUERY, f"ep={dev.endpoint}".encode())], CONTENT_FORMAT)
                   + self._register_tail
                   + encode_options([(URI_QUERY, f"sms={dev.msisdn.value}".encode())], URI_QUERY))
        return self._request(index, REGISTER, POST, options, self._objects, now)

    def update(self, index: int, now: float) -> bytes:
        """An Update without parameters of registered device ``index``."""
        dev = self.devices[index]
        if dev.location is None:
            raise ValueError(f"ep={dev.endpoint} is not registered")
        path = [(URI_PATH, seg.encode()) for seg in dev.location.split("/") if seg]
        return self._request(index, UPDATE, POST, encode_options(path), b"", now)

    def deregister(self, index: int, now: float) -> bytes:
        """The De-register (``DELETE {location}``) of registered device ``index``."""
        dev = self.devices[index]
        if dev.location is None:
            raise ValueError(f"ep={dev.endpoint} is not registered")
        path = [(URI_PATH, seg.encode()) for seg in dev.location.split("/") if seg]
        return self._request(index, DEREGISTER, DELETE, encode_options(path), b"", now)

    def _request(self, index: int, kind: str, code: int, options: bytes, payload: bytes, now: float) -> bytes:
        dev = self.devices[index]
        if dev.pending is not None:
            raise ValueError(f"ep={dev.endpoint} has a {dev.pending.kind} outstanding")
        mid = dev.mid
        dev.mid = (mid + 1) & 0xFFFF
        token = (next(self._tokens) & 0xFFFFFFFF).to_bytes(4, "big")
        octets = encode_coap(CON, code, mid, token, options, payload)
        s = self.settings
        timeout = s.ack_timeout * (1 + self._rng.random() * (s.ack_random_factor - 1))
        dev.pending = _Exchange(kind, mid, token, octets, timeout, now + timeout)
        heapq.heappush(self._timers, (now + timeout, index, mid))
        return octets

    def fail(self, index: int, mid: int, detail: str) -> Optional[Completed]:
        """The bearer could not send message ``mid`` of device ``index``: if it is the
        outstanding request, that request fails."""
        dev = self.devices[index]
        ex = dev.pending
        if ex is None or ex.mid != mid:
            return None
        dev.pending = None
        return Completed(index, ex.kind, False, detail)

    # -- time -------------------------------------------------------------------------------

    def due(self, now: float) -> Reply:
        """Retransmissions and timeouts due at ``now``."""
        out = Reply([], [])
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, index, mid = heapq.heappop(timers)
            dev = self.devices[index]
            ex = dev.pending
            if ex is None or ex.mid != mid or ex.deadline > now:
                continue  # answered, or re-armed (a stale heap entry)
            if not ex.acked and ex.tries < self.settings.max_retransmit:
                ex.tries += 1
                ex.timeout *= 2
                ex.deadline = now + ex.timeout
                heapq.heappush(timers, (ex.deadline, index, mid))
                self.retransmissions += 1
                out.send.append((index, ex.octets))
                continue
            dev.pending = None
            why = "no response after the ACK" if ex.acked else f"no ACK after {ex.tries + 1} transmission(s)"
            out.done.append(Completed(index, ex.kind, False, f"timeout: {why}"))
        return out

    # -- what the server sends ------------------------------------------------------------

    def receive(self, recipient: Address, sender: Address, payload: bytes, now: float) -> Reply:
        """One CoAP message from ``sender`` to the device whose number is ``recipient``."""
        out = Reply([], [])
        index = self._by_msisdn.get(recipient)
        if index is None:
            self.unrouted += 1
            return out
        if sender != self.server:
            self.untrusted += 1  # LwM2M SMS trust: silently
            return out
        try:
            msg = Message.decode(payload)
        except (CoapError, ValueError, IndexError):
            self.malformed += 1
            return out
        code = int(msg.code)
        mtype = int(msg.mtype)
        if (code == 0 and len(payload) > 4 and mtype != CON) or (mtype == RST and code != 0):
            # RFC 7252 4.1-4.3: an Empty message has nothing after its message ID, and a
            # Reset is Empty; a format error in an ACK or RST is ignored (a CON one is
            # rejected below)
            self.malformed += 1
            return out
        if code == 0:
            self._empty(index, mtype, msg.mid, out)
        elif code < 32:
            self._request_in(index, msg, mtype, code, now, out)
        elif code >= 64:
            self._response(index, msg, mtype, code, now, out)
        else:
            self.malformed += 1
        return out

    def _empty(self, index: int, mtype: int, mid: int, out: Reply) -> None:
        dev = self.devices[index]
        ex = dev.pending
        if mtype == CON:  # a CoAP ping
            out.send.append((index, encode_coap(RST, 0, mid, b"")))
            return
        if ex is None or ex.mid != mid or mtype not in (ACK, RST):
            self.unmatched += 1
            return
        if mtype == RST:
            dev.pending = None
            out.done.append(Completed(index, ex.kind, False, "Reset by the server"))
            return
        if not ex.acked:  # a separate response follows
            ex.acked = True
            ex.deadline += self.response_timeout
            heapq.heappush(self._timers, (ex.deadline, index, mid))

    def _response(self, index: int, msg: Message, mtype: int, code: int, now: float, out: Reply) -> None:
        dev = self.devices[index]
        ex = dev.pending
        key = index << 16 | msg.mid
        if mtype == CON:
            stored = self.recent.receive(key, now)
            if stored is not None:  # a retransmitted separate response: the same ACK again
                self.duplicates += 1
                if stored:
                    out.send.append((index, stored))
                return
        if mtype == ACK:
            matched = ex is not None and ex.mid == msg.mid and ex.token == msg.token
        else:
            matched = ex is not None and ex.token == msg.token
        if mtype == CON:
            # RFC 7252 4.2: a CON we can take is acknowledged, one we cannot is rejected
            reply = encode_coap(ACK if matched else RST, 0, msg.mid, b"")
            self.recent.respond(key, reply)
            out.send.append((index, reply))
        if not matched or ex is None:
            self.unmatched += 1  # late, duplicate, or never asked
            return
        dev.pending = None
        if ex.kind == REGISTER:
            segments = [s for part in msg.opt.location_path for s in part.split("/") if s]
            if code != CREATED or not segments:
                out.done.append(Completed(index, REGISTER, False, f"Register answered {_code(code)}"
                                          + ("" if segments else " without a Location-Path")))
                return
            dev.location = "/" + "/".join(segments)
            out.done.append(Completed(index, REGISTER, True))
            return
        if ex.kind == DEREGISTER:
            if code in (DELETED, NOT_FOUND):  # gone either way
                dev.location = None
            ok = code == DELETED
            out.done.append(Completed(index, DEREGISTER, ok, "" if ok else f"De-register answered {_code(code)}"))
            return
        if code == CHANGED:
            out.done.append(Completed(index, UPDATE, True))
        elif code == NOT_FOUND:  # the server forgot the device: register again
            dev.location = None
            out.send.append((index, self.register(index, now)))  # its Completed ends the Update
        else:
            out.done.append(Completed(index, UPDATE, False, f"Update answered {_code(code)}"))

    def _request_in(self, index: int, msg: Message, mtype: int, code: int, now: float, out: Reply) -> None:
        if mtype not in (CON, NON):
            self.malformed += 1  # a request can only be CON or NON
            return
        key = index << 16 | msg.mid
        stored = self.recent.receive(key, now)
        if stored is not None:
            self.duplicates += 1
            if stored:
                out.send.append((index, stored))
            return
        answer_code, options, body = self._answer(index, msg, code)
        if mtype == CON:
            octets = encode_coap(ACK, answer_code, msg.mid, msg.token, options, body)
        else:
            dev = self.devices[index]
            octets = encode_coap(NON, answer_code, dev.mid, msg.token, options, body)
            dev.mid = (dev.mid + 1) & 0xFFFF
        self.recent.respond(key, octets)
        out.send.append((index, octets))

    def _answer(self, index: int, msg: Message, code: int) -> tuple[int, bytes, bytes]:
        path = tuple(msg.opt.uri_path)
        if path != ("3", "0"):
            return NOT_FOUND, b"", b""
        if code != GET:
            return METHOD_NOT_ALLOWED, b"", b""
        if msg.opt.accept not in _TLV_FORMATS:
            return NOT_ACCEPTABLE, b"", b""
        self.reads += 1
        return CONTENT, self._content_tlv, self.device_tlv(index)

    def device_tlv(self, index: int) -> bytes:
        """/3/0 of device ``index`` in TLV: its own resources, then the fleet's template."""
        dev = self.devices[index]
        serial = "".join(ch for ch in dev.endpoint if ch.isalnum())[-12:] or "0"
        _, own = encode_payload((3, 0), {2: serial, 13: int(self.clock()), 16: "S"}, ContentFormat.TLV.value)
        return own + self._device_shared


def _code(code: int) -> str:
    return f"{code >> 5}.{code & 0x1F:02d}"


"""The simulated SMSC's protocol state, sans-IO: accounts and the numbers they own, routing
by MSISDN, the store, delivery windows, retries with back-off, expiry, receipts, query/
cancel/replace, impairments and limits. No asyncio: bytes come in through
:meth:`~smsc.smsc_connection.SmscConnection.data_received`, go out through a
:class:`~smsc.smsc_connection.Transport` (asyncio's, or a test's fake), and time comes from injectable clocks; :mod:`smsc.server` is the asyncio
adapter (listening socket, protocol objects, the timer task).

See :mod:`smsc.server` for the behaviour as seen from outside.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import hmac
import itertools
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from lwm2m_sms.errors import EncodeError
from lwm2m_sms.sms.segmentation import split
from lwm2m_sms.sms.udh import Ports

from . import pdu as P
from .address_range import AddressRange, RangeError
from .config import Account, Impairments, SmscConfig
from .receipt import receipt_text, receipt_tlvs
from .session import DEFAULT_MAX_PDU
from .smpp_time import parse_validity
from .store import MessageStore, StoredRow

if TYPE_CHECKING:
    from .smsc_connection import SmscConnection, TokenBucket

__all__ = ["SmscCore", "SmscStats", "Message", "parse_validity"]

log = logging.getLogger(__name__)

_PASS_TLVS = {
    P.TLV_SAR_MSG_REF_NUM, P.TLV_SAR_TOTAL_SEGMENTS, P.TLV_SAR_SEGMENT_SEQNUM,
    P.TLV_MESSAGE_PAYLOAD, P.TLV_SOURCE_PORT, P.TLV_DESTINATION_PORT,
    P.TLV_USER_MESSAGE_REFERENCE,
}
# deliver_sm_resp statuses that a retry will not change: the message fails at once.
_PERMANENT_DELIVERY_ERRORS = {P.ESME_RX_P_APPN, P.ESME_RX_R_APPN, P.ESME_RINVDSTADR}
_OWNER_CACHE = 100_000
_FREE_GUESSES = 3  # wrong passwords from one host before it has to wait
_RESCAN_EVERY = 1.0  # s between passes over the queue for new binds of one system_id
MAX_SMS_PER_PDU = 1024  # SMS one submit_multi may make (destinations x parts)
_SEPARATORS = re.compile(r"[\s\-.()/]")


def _canonical(number: str) -> str:
    """Digits as an international number: separators, ``+`` and a ``00`` prefix dropped."""
    n = _SEPARATORS.sub("", number).lstrip("+")
    return n[2:] if n.startswith("00") else n

@dataclass
class SmscStats:
    submitted: int = 0
    delivered: int = 0
    receipts: int = 0
    expired: int = 0
    lost: int = 0
    duplicated: int = 0
    throttled: int = 0
    rejected: int = 0
    redelivered: int = 0
    bad_pdus: int = 0
    internal_errors: int = 0  # bugs: exceptions caught at a connection's boundary
    binds: int = 0
    queued: int = 0
    stored_bytes: int = 0
    spoofs: int = 0  # binds or submissions refused for a number the account does not own
    timeouts: int = 0  # connections closed for no bind or idleness
    write_pauses: int = 0  # times reading stopped because a peer did not read its output
    max_buffered: int = 0  # the most octets ever buffered for writing to one connection
    refused_connections: int = 0  # closed at once: max_connections were open

    def line(self) -> str:
        return (
            f"binds {self.binds} submitted {self.submitted} delivered {self.delivered}"
            f" queued {self.queued} receipts {self.receipts} expired {self.expired}"
            f" throttled {self.throttled} lost {self.lost} duplicated {self.duplicated}"
            f" rejected {self.rejected} spoofs {self.spoofs} timeouts {self.timeouts}"
            f" write_pauses {self.write_pauses}"
        )


class Message:
    """A message (or receipt) the SMSC holds until it is acknowledged or expires."""

    __slots__ = ("row", "attempts", "next_try", "copy")

    def __init__(self, row: StoredRow, copy: bool = False) -> None:
        self.row = row
        self.attempts = 0
        self.next_try = 0.0
        self.copy = copy  # a duplicate injected by the impairments: its ack changes nothing


class SmscCore:
    """The SMSC's state, sans-IO: accounts, routing, the store, the windows, retries,
    expiry and receipts. Time comes from ``clock`` (wall, for validity and receipts) and
    ``monotonic`` (windows, back-off, timeouts), both injectable; :meth:`tick` does what is
    due (the adapter calls it at :meth:`next_deadline` or when ``wake`` was called)."""

    def __init__(self, config: SmscConfig | None = None, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config or SmscConfig()
        self.impairments: Impairments = self.config.impairments
        self.stats = SmscStats()
        self.store = MessageStore(self.config.store)
        self.max_pdu = DEFAULT_MAX_PDU
        self._clock = clock
        self.monotonic = monotonic
        self.wake: Callable[[], None] = lambda: None  # the adapter: tick soon
        self._conns: set[SmscConnection] = set()
        self._unbound_by_host: dict[str, int] = {}  # connections not bound yet, per host
        self._receivers: set[SmscConnection] = set()
        self._regex_receivers: dict[SmscConnection, None] = {}  # an ordered set
        self._exact: dict[str, list[SmscConnection]] = {}
        self._by_system_id: dict[str, list[SmscConnection]] = {}
        self._owners: dict[str, tuple[Account, ...]] = {}  # number -> accounts owning it (cache)
        self._restricted = [a for a in self.config.accounts if a.owns is not None]
        # round robin: per account (system_id; "" for open-mode binds), the position of the
        # next bind to try among those serving a destination. One entry per account, so
        # bounded by the config, not by the numbers seen.
        self._next_bind: dict[str, int] = {}
        self._waiting: dict[str, Message] = {}  # no route / retry later, by message id
        # (next_try, tiebreak, message): a lazy heap; entries whose message moved on or got a
        # new next_try are skipped when popped, so a tick costs O(due log n), not O(waiting).
        self._due: list[tuple[float, int, Message]] = []
        # deliveries held back by the latency/jitter/reorder impairments: (due, tiebreak, msg)
        self._delayed: list[tuple[float, int, Message]] = []
        self._tiebreak = itertools.count()
        self._held = 0  # messages in delay timers, bind queues or windows
        # deliver_sm routed to a bind but waiting for room in its window: while there are
        # more than a window's worth, readers yield after a window of PDUs (SmscConnection)
        self.backlog = 0
        self._bytes = 0  # octets of the messages held (max_store_bytes)
        # Message ids: decimal, below 2**63 (ESMEs such as Kannel may parse them as 64-bit
        # numbers), unique across restarts: the start time in ms above a 20-bit counter, so
        # a restart begins past every id the last run could have given out. Real time, not
        # the injectable clock: a test's fake clock must not make ids repeat across runs.
        self._next_id = int(time.time() * 1000) << 20
        self._live: dict[str, str] = {}  # id -> submitter of every message held (query_sm)
        # submitter -> ids of its messages held: its quota (account_max_queue), and what its
        # cancel_sm looks through (its own messages, not the whole queue)
        self._by_origin: dict[str, set[str]] = {}
        self._origin_bytes: collections.Counter[str] = collections.Counter()
        self._final: collections.OrderedDict[str, tuple[int, float, int, str]] = collections.OrderedDict()
        self._rng = random.Random(self.impairments.seed)
        self.account_buckets: dict[str, TokenBucket] = {}  # system_id -> its throttle's bucket
        self._bind_failures: dict[tuple[str, str], tuple[int, float]] = {}  # (host, system_id)
        self._rescanned: dict[str, float] = {}  # system_id -> when a bind last woke its queue
        self._last_disconnect = monotonic()
        self._last_timeouts = monotonic()

    def load(self) -> None:
        """Take up what the store holds (at start)."""
        for row in self.store.load():
            self._bytes += row.size
            self._hold(row)
            if row.message_id.isascii() and row.message_id.isdigit():
                self._next_id = max(self._next_id, int(row.message_id) + 1)
            self._wait(Message(row), 0.0)
        if self._waiting:
            log.info("smsc: %d stored messages loaded", len(self._waiting))
        if not self.config.accounts and not self.config.open:
            log.warning("smsc: no accounts configured and not open: every bind will be refused")
        if self.config.open:
            log.warning("smsc: OPEN mode: any system_id binds without a password and may act for any number (demos only)")

    def disconnect(self, system_id: str | None = None) -> int:
        """Drop the connections of ``system_id`` (all when None) without unbind: a forced
        disconnect. Returns how many were dropped."""
        n = 0
        for conn in list(self._conns):
            if system_id is None or conn.system_id == system_id:
                conn.abort()
                n += 1
        log.info("smsc: forced disconnect of %d connection(s)", n)
        return n

    @property
    def binds(self) -> list[tuple[str, str, str]]:
        """(system_id, bind state, address_range) of every bound connection."""
        return [(c.system_id, c.session.state.value, c.matcher.text) for c in self._conns if c.session.bound]

    def connections(self) -> list[tuple[str, str, int]]:
        """(peer, system_id, octets buffered for writing) of every connection."""
        return [(c.peer, c.system_id, c.buffered) for c in self._conns]

    @property
    def queued(self) -> int:
        return len(self._waiting) + self._held

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    def refresh_stats(self) -> SmscStats:
        self.stats.binds = sum(1 for c in self._conns if c.session.bound)
        self.stats.queued = self.queued
        self.stats.stored_bytes = self._bytes
        return self.stats

    _refresh_stats = refresh_stats

    def _note_buffered(self, conn: SmscConnection) -> None:
        n = conn.buffered
        if n > self.stats.max_buffered:
            self.stats.max_buffered = n

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def next_deadline(self) -> float | None:
        """The monotonic time of the next due retry or held-back delivery, if any."""
        times = [h[0][0] for h in (self._due, self._delayed) if h]
        return min(times) if times else None

    # -- accounts and numbers ------------------------------------------------------------------

    def owners(self, number: str) -> tuple[Account, ...]:
        """The accounts (with an address_range) that own ``number``, in any spelling an ESME
        or handset may read as theirs: ``+``, the ``00`` dialling prefix, separators. Else
        an unrestricted account sends as ``0015550000`` (or receives traffic so addressed)
        and a receiver that normalises (Kannel's unified-prefix) sees the owner's number."""
        digits = number.lstrip("+")
        found = self._owners.get(digits)
        if found is None:
            forms = {digits, _canonical(number)}
            found = tuple(a for a in self._restricted
                          if a.owns is not None and any(a.owns.matches(f) for f in forms))
            if len(self._owners) >= _OWNER_CACHE:
                self._owners.clear()
            self._owners[digits] = found
        return found

    def _may_send_as(self, conn: SmscConnection, source: str) -> bool:
        acc = conn.account
        # open mode's strangers are unrestricted accounts: configured owners keep their numbers
        if acc is not None and acc.owns is not None:
            digits = source.lstrip("+")
            return digits.isascii() and digits.isdigit() and acc.owns.matches(digits)
        owners = self.owners(source)
        return not owners or acc in owners

    # -- bind ---------------------------------------------------------------------------------

    def _bind(self, conn: SmscConnection, pdu: P.Bind) -> P.Pdu:
        resp_id = pdu.command_id | P.RESPONSE_BIT
        cfg = self.config
        account = cfg.account(pdu.system_id)
        if account is None and not cfg.open:
            why = "unknown system_id" if cfg.accounts else "no accounts configured (start with open mode for demos)"
            log.info("smsc %s: bind as %r refused: %s", conn.peer, pdu.system_id, why)
            return P.BindResp(resp_id, pdu.sequence, P.ESME_RINVSYSID)
        if account is not None:
            # Wrong passwords from one host for one system_id: after a few, that host waits
            # (doubling, up to a minute) before its next try is even compared. Keyed by host,
            # so a guesser locks out itself, not the account's own ESMEs elsewhere.
            key = (conn.peer.rsplit(":", 1)[0], pdu.system_id)
            mono = self.monotonic()
            fails, until = self._bind_failures.get(key, (0, 0.0))
            if mono < until:
                log.info("smsc %s: bind as %r refused: %d wrong passwords, locked out", conn.peer, pdu.system_id, fails)
                return P.BindResp(resp_id, pdu.sequence, P.ESME_RBINDFAIL)
            if not hmac.compare_digest(account.password.encode("latin-1"), pdu.password.encode("latin-1")):
                fails += 1
                if len(self._bind_failures) >= _OWNER_CACHE:
                    self._bind_failures.clear()
                wait = min(60.0, 2.0 ** (fails - _FREE_GUESSES)) if fails >= _FREE_GUESSES else 0.0
                self._bind_failures[key] = (fails, mono + wait)
                log.info("smsc %s: bind as %r refused: wrong password", conn.peer, pdu.system_id)
                return P.BindResp(resp_id, pdu.sequence, P.ESME_RINVPASWD)
            self._bind_failures.pop(key, None)
        address_range = pdu.address_range or (account.address_range if account else "")
        try:
            matcher = AddressRange.parse(address_range)
        except RangeError as exc:
            log.info("smsc %s: bind as %r refused: address_range %r: %s", conn.peer, pdu.system_id, address_range, exc)
            return P.BindResp(resp_id, pdu.sequence, P.ESME_RBINDFAIL)
        if account is not None and account.owns is not None and not matcher.within(account.owns):
            self.stats.spoofs += 1
            log.warning("smsc %s: bind as %r refused: address_range %r is not within the account's %r",
                        conn.peer, pdu.system_id, address_range, account.address_range)
            return P.BindResp(resp_id, pdu.sequence, P.ESME_RBINDFAIL)
        if (matcher.exact is not None and (account is None or account.owns is None)
                and self.owners(matcher.exact)):
            # an unrestricted account's range is what nobody owns: another's number is not in it
            self.stats.spoofs += 1
            log.warning("smsc %s: bind as %r refused: %s belongs to another account",
                        conn.peer, pdu.system_id, address_range)
            return P.BindResp(resp_id, pdu.sequence, P.ESME_RBINDFAIL)
        binds = sum(1 for c in self._conns if c.system_id == pdu.system_id and c.session.bound and not c.closed)
        if binds >= cfg.account_max_binds:
            log.warning("smsc %s: bind as %r refused: %d binds already (account_max_binds)",
                        conn.peer, pdu.system_id, binds)
            return P.BindResp(resp_id, pdu.sequence, P.ESME_RBINDFAIL)
        conn.matcher = matcher
        conn.account = account
        conn.system_id = pdu.system_id
        self.release_unbound(conn)  # from here account_max_binds bounds it
        conn.throttle = account.throttle if account else 0.0
        # 5.3.2.25: sc_interface_version only to ESMEs that speak 3.4 (TLVs are new in 3.4)
        tlvs = [P.tlv_u8(P.TLV_SC_INTERFACE_VERSION, P.INTERFACE_VERSION)] if pdu.interface_version >= 0x34 else []
        resp = P.BindResp(resp_id, pdu.sequence, P.ESME_ROK, cfg.system_id, tlvs)
        if pdu.command_id in (P.BIND_RECEIVER, P.BIND_TRANSCEIVER):
            self._receivers.add(conn)
            if matcher.exact is not None:
                self._exact.setdefault(matcher.exact, []).append(conn)
            elif not matcher.empty:
                self._regex_receivers[conn] = None
            self._by_system_id.setdefault(conn.system_id, []).append(conn)
            # a new receiver: what waits for it goes now, not at its next retry. A pass over
            # the whole queue, so at most once a second per system_id: an account that binds
            # and unbinds in a loop must not make the SMSC walk 100,000 messages each time
            # (what it misses goes at its retry, at most retry_max later).
            mono = self.monotonic()
            if mono - self._rescanned.get(conn.system_id, -_RESCAN_EVERY) < _RESCAN_EVERY:
                log.info("smsc %s: bind as %r: waiting messages go at their retries", conn.peer, conn.system_id)
            else:
                self._rescanned[conn.system_id] = mono
                self._wake_for(conn)
            self.wake()
        log.info("smsc %s: %s as %r range %r", conn.peer, P.command_name(pdu.command_id), pdu.system_id, address_range)
        return resp

    def _wake_for(self, conn: SmscConnection) -> None:
        """Make what waits for a new receiver due now."""
        if len(self._rescanned) > _OWNER_CACHE:
            self._rescanned.clear()
        for msg in self._waiting.values():
            row = msg.row
            if (row.to_system_id == conn.system_id) if row.to_system_id else self._serves(conn, row.dest):
                msg.next_try = 0.0
                heapq.heappush(self._due, (0.0, next(self._tiebreak), msg))

    def admit_unbound(self, conn: SmscConnection) -> bool:
        """Count a new connection against its host's ``host_max_unbound``; False: refuse it."""
        held = self._unbound_by_host.get(conn.host, 0)
        if held >= self.config.host_max_unbound:
            return False
        self._unbound_by_host[conn.host] = held + 1
        conn.counted_unbound = True
        return True

    def release_unbound(self, conn: SmscConnection) -> None:
        """The connection bound or closed: it no longer counts against its host."""
        if not conn.counted_unbound:
            return
        conn.counted_unbound = False
        held = self._unbound_by_host.get(conn.host, 0) - 1
        if held > 0:
            self._unbound_by_host[conn.host] = held
        else:
            self._unbound_by_host.pop(conn.host, None)

    def _unbound(self, conn: SmscConnection) -> None:
        if conn in self._receivers:
            self._receivers.discard(conn)
            self._regex_receivers.pop(conn, None)
            if conn.matcher.exact is not None:
                lst = self._exact.get(conn.matcher.exact, [])
                if conn in lst:
                    lst.remove(conn)
                if not lst:
                    self._exact.pop(conn.matcher.exact, None)
            lst = self._by_system_id.get(conn.system_id, [])
            if conn in lst:
                lst.remove(conn)
        # Unacknowledged and queued deliveries go back to wait for a route.
        pending = [m for m, _ in conn.inflight.values()] + list(conn.outbound)
        self.backlog -= len(conn.outbound)
        conn.inflight.clear()
        conn.outbound.clear()
        for msg in pending:
            self._held -= 1
            if not msg.copy:
                self._wait(msg, 0.0)
        if conn.system_id:
            log.info("smsc %s %s: connection closed, %d deliveries requeued", conn.peer, conn.system_id, len(pending))

    # -- submit ---------------------------------------------------------------------------

    def _submit(self, conn: SmscConnection, sm: P.ShortMessage) -> P.Pdu:
        status, mid = self._accept(conn, sm, sm.destination_addr, sm.dest_addr_ton, sm.dest_addr_npi)
        return P.MessageIdResp(P.SUBMIT_SM_RESP, sm.sequence, status, mid)

    def _accept(self, conn: SmscConnection, sm: "P.ShortMessage | P.DataSm | P.SubmitMulti",
                destination: str, d_ton: int, d_npi: int) -> tuple[int, str]:
        """Check, store and dispatch one message to one destination: (status, message id)."""
        dest = destination.lstrip("+")
        if not dest:
            return P.ESME_RINVDSTADR, ""
        if not self._may_send_as(conn, sm.source_addr):
            self.stats.spoofs += 1
            self.stats.rejected += 1
            log.warning("smsc %s %s: %s from %s refused: not a number of this account",
                        conn.peer, conn.system_id, sm.name, sm.source_addr)
            return P.ESME_RINVSRCADR, ""
        is_data_sm = isinstance(sm, P.DataSm)
        short = b"" if isinstance(sm, P.DataSm) else sm.short_message
        tlvs = sm.tlvs
        payload = P.find_tlv(tlvs, P.TLV_MESSAGE_PAYLOAD) if tlvs else None
        if payload is not None and short:
            self.stats.rejected += 1
            return P.ESME_RINVMSGLEN, ""  # 5.3.2.32: message_payload or short_message, not both
        limit = self.config.max_short_message
        parts: list[tuple[int, bytes, list[tuple[int, bytes]]]] | None = None  # esm, sm, tlvs
        if len(short) > limit:
            self.stats.rejected += 1
            log.info("smsc %s: %s to %s: short_message of %d octets refused", conn.system_id, sm.name, destination, len(short))
            return P.ESME_RINVMSGLEN, ""
        if payload is not None and len(payload) > limit:
            owners = self.owners(dest)
            policy = (owners[0].long_payload if owners else "") or self.config.long_payload
            if policy == "refuse" or (policy == "split" and sm.esm_class & P.ESM_UDHI):
                self.stats.rejected += 1
                log.info("smsc %s: %s to %s: message_payload of %d octets refused", conn.system_id, sm.name, destination, len(payload))
                return P.ESME_RINVMSGLEN, ""
            if policy == "split":
                parts = self._split(payload, tlvs, dest)
                if parts is None:
                    self.stats.rejected += 1
                    return P.ESME_RINVMSGLEN, ""
        count = len(parts) if parts else 1
        size = (len(payload) if payload is not None else len(short)) + 400 * count
        cfg = self.config
        if self.queued + count > cfg.max_queue or self._bytes + size > cfg.max_store_bytes:
            self.stats.rejected += 1
            return P.ESME_RMSGQFUL, ""
        mine = self._by_origin.get(conn.system_id, ())
        if (len(mine) + count > cfg.account_max_queue
                or self._origin_bytes[conn.system_id] + size > cfg.account_max_store_bytes):
            self.stats.rejected += 1
            log.info("smsc %s: %s to %s refused: the account holds %d messages (its quota)",
                     conn.system_id, sm.name, destination, len(mine))
            return P.ESME_RMSGQFUL, ""
        if not conn.take_token(self.monotonic()):
            self.stats.throttled += 1
            return P.ESME_RTHROTTLED, ""
        now = self._clock()
        try:
            expires = parse_validity(getattr(sm, "validity_period", ""), now, self.config.validity)
        except ValueError:
            return P.ESME_RINVEXPIRY, ""
        passed = [t for t in tlvs if t[0] in _PASS_TLVS] if tlvs else []
        dlr = sm.registered_delivery & 3
        bodies = parts if parts is not None else [(sm.esm_class & P.ESM_UDHI, short, passed)]
        mid = self._new_id()
        self._next_id += len(bodies) - 1  # the parts before the last take the ids after mid
        part_ids = iter(range(int(mid) + 1, int(mid) + len(bodies)))
        for i, (esm, data, part_tlvs) in enumerate(bodies):
            if is_data_sm:
                body = P.DataSm(P.DATA_SM, 0, 0, sm.service_type, sm.source_addr_ton, sm.source_addr_npi,
                                sm.source_addr, d_ton, d_npi, destination, esm, 0, sm.data_coding,
                                part_tlvs).body()
                command = P.DATA_SM
            else:
                assert not isinstance(sm, P.DataSm)
                body = P.ShortMessage(
                    P.DELIVER_SM, 0, 0, sm.service_type,
                    sm.source_addr_ton, sm.source_addr_npi, sm.source_addr,
                    d_ton, d_npi, destination,
                    esm, sm.protocol_id, sm.priority_flag, "", "", 0, 0,
                    sm.data_coding, 0, data, part_tlvs,
                ).body()
                command = P.DELIVER_SM
            # One id per SMS. The resp names the last part of a split message_payload, which
            # alone asks for the receipt: one receipt per message, as the ESME expects.
            last = i == len(bodies) - 1
            row_id = mid if last else str(next(part_ids))
            row = StoredRow(row_id, body, dest, "", conn.system_id, dlr if last else 0, now, expires, command)
            self.store.add(row)  # committed before the resp: a kill after this loses nothing
            self._bytes += row.size
            self.stats.submitted += 1
            log.debug("smsc %s: %s %s -> %s id %s", conn.system_id, sm.name, sm.source_addr, destination, row_id)
            self._hold(row)
            self._dispatch(Message(row))
        return P.ESME_ROK, mid

    def _split(self, payload: bytes, tlvs: list[tuple[int, bytes]], dest: str) -> list[tuple[int, bytes, list[tuple[int, bytes]]]] | None:
        """A long message_payload as concatenated SMS with a UDH (what a handset takes), or
        None if it needs more than 255."""
        dst, src = P.find_tlv(tlvs, P.TLV_DESTINATION_PORT), P.find_tlv(tlvs, P.TLV_SOURCE_PORT)
        ports = Ports(int.from_bytes(dst, "big"), int.from_bytes(src, "big")) if dst and src else None
        try:
            uds = split(payload, self._rng.randrange(256), ports=ports)
        except (EncodeError, ValueError):
            return None
        keep = [t for t in tlvs if t[0] in _PASS_TLVS and t[0] not in (
            P.TLV_MESSAGE_PAYLOAD, P.TLV_DESTINATION_PORT, P.TLV_SOURCE_PORT)]
        return [(P.ESM_UDHI if ud.udhi else 0, ud.encode(), keep) for ud in uds]

    def _data_sm(self, conn: SmscConnection, pdu: P.DataSm) -> P.Pdu:
        status, mid = self._accept(conn, pdu, pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi)
        return P.MessageIdResp(P.DATA_SM_RESP, pdu.sequence, status, mid)

    def _submit_multi(self, conn: SmscConnection, pdu: P.SubmitMulti) -> P.Pdu:
        # 254 destinations x 255 parts of a split message_payload: one 36 KB PDU made 50,000
        # SMS and held the loop for seconds. Bound what one PDU may make, counted up front.
        payload = P.find_tlv(pdu.tlvs, P.TLV_MESSAGE_PAYLOAD) if pdu.tlvs else None
        per_dest = 1
        if payload is not None and len(payload) > self.config.max_short_message:
            parts = self._split(payload, pdu.tlvs, "")
            per_dest = len(parts) if parts is not None else 255
        if per_dest * len(pdu.destinations) > MAX_SMS_PER_PDU:
            self.stats.rejected += 1
            log.info("smsc %s: submit_multi to %d destinations x %d parts refused (at most %d SMS)",
                     conn.system_id, len(pdu.destinations), per_dest, MAX_SMS_PER_PDU)
            return P.SubmitMultiResp(P.SUBMIT_MULTI_RESP, pdu.sequence, P.ESME_RINVNUMDESTS, "", [])
        first = ""
        unsuccess: list[tuple[int, int, str, int]] = []
        for ton, npi, addr in pdu.destinations:
            status, mid = self._accept(conn, pdu, addr, ton, npi)
            if status == P.ESME_ROK:
                first = first or mid
            else:
                unsuccess.append((ton, npi, addr, status))
        for name in pdu.dl_names:  # no distribution lists here
            unsuccess.append((0, 0, name, P.ESME_RINVDSTADR))
        if not first:
            status = unsuccess[0][3] if unsuccess else P.ESME_RINVNUMDESTS
            return P.SubmitMultiResp(P.SUBMIT_MULTI_RESP, pdu.sequence, status, "", unsuccess)
        return P.SubmitMultiResp(P.SUBMIT_MULTI_RESP, pdu.sequence, P.ESME_ROK, first, unsuccess)

    def _owned(self, conn: SmscConnection, message_id: str) -> Message | None:
        msg = self._waiting.get(message_id)
        if msg is None or msg.row.to_system_id or msg.row.origin != conn.system_id:
            return None
        return msg

    def _query(self, conn: SmscConnection, pdu: P.QuerySm) -> P.Pdu:
        resp = P.QuerySmResp(P.QUERY_SM_RESP, pdu.sequence, P.ESME_ROK, pdu.message_id)
        final = self._final.get(pdu.message_id)
        if final is not None and final[3] == conn.system_id:
            resp.message_state, resp.error_code = final[0], final[2]
            resp.final_date = time.strftime("%y%m%d%H%M%S", time.gmtime(final[1])) + "000+"
            return resp
        if self._live.get(pdu.message_id) == conn.system_id:
            resp.message_state = P.STATE_ENROUTE
            return resp
        return P.Bare(P.QUERY_SM_RESP, pdu.sequence, P.ESME_RQUERYFAIL)

    def _cancel(self, conn: SmscConnection, pdu: P.CancelSm) -> P.Pdu:
        if pdu.message_id:
            targets = [m for m in [self._owned(conn, pdu.message_id)] if m is not None]
        else:  # every waiting message from source_addr to destination_addr (4.9.1)
            src, dst = pdu.source_addr, pdu.destination_addr.lstrip("+")
            waiting = (self._waiting.get(i) for i in list(self._by_origin.get(conn.system_id, ())))
            targets = [m for m in waiting if m is not None and not m.row.to_system_id
                       and m.row.dest == dst and self._source_of(m.row) == src]
        if not targets:
            return P.Bare(P.CANCEL_SM_RESP, pdu.sequence, P.ESME_RCANCELFAIL)
        for msg in targets:
            del self._waiting[msg.row.message_id]
            self._finish(msg, P.STATE_DELETED)
            log.info("smsc %s: message %s to %s cancelled", conn.system_id, msg.row.message_id, msg.row.dest)
        return P.Bare(P.CANCEL_SM_RESP, pdu.sequence)

    def _replace(self, conn: SmscConnection, pdu: P.ReplaceSm) -> P.Pdu:
        msg = self._owned(conn, pdu.message_id)
        if msg is None or msg.row.command_id != P.DELIVER_SM:
            return P.Bare(P.REPLACE_SM_RESP, pdu.sequence, P.ESME_RREPLACEFAIL)
        if len(pdu.short_message) > self.config.max_short_message:
            return P.Bare(P.REPLACE_SM_RESP, pdu.sequence, P.ESME_RINVMSGLEN)
        row = msg.row
        try:
            expires = parse_validity(pdu.validity_period, self._clock(), 0.0) if pdu.validity_period else row.expires
        except ValueError:
            return P.Bare(P.REPLACE_SM_RESP, pdu.sequence, P.ESME_RINVEXPIRY)
        old = self._decode_row(row)
        assert isinstance(old, P.ShortMessage)
        old.short_message = pdu.short_message
        old.tlvs = [t for t in old.tlvs if t[0] != P.TLV_MESSAGE_PAYLOAD]
        new = dataclasses.replace(row, body=old.body(), expires=expires,
                                  dlr=pdu.registered_delivery & 3 if pdu.registered_delivery else row.dlr)
        self._bytes += new.size - row.size
        self._origin_bytes[row.origin] += new.size - row.size
        self.store.add(new)
        msg.row = new
        log.info("smsc %s: message %s to %s replaced", conn.system_id, row.message_id, row.dest)
        return P.Bare(P.REPLACE_SM_RESP, pdu.sequence)

    def _other(self, conn: SmscConnection, pdu: P.Pdu) -> P.Pdu | None:
        """The rarer requests; None for a response nobody waits for."""
        if isinstance(pdu, P.DataSm):
            return self._data_sm(conn, pdu)
        if isinstance(pdu, P.SubmitMulti):
            return self._submit_multi(conn, pdu)
        if isinstance(pdu, P.QuerySm):
            return self._query(conn, pdu)
        if isinstance(pdu, P.CancelSm):
            return self._cancel(conn, pdu)
        if isinstance(pdu, P.ReplaceSm):
            return self._replace(conn, pdu)
        if pdu.is_response:
            return None
        return P.Bare(P.GENERIC_NACK, pdu.sequence, P.ESME_RINVCMDID)

    # -- routing and delivery ---------------------------------------------------------------

    def _serves(self, conn: SmscConnection, dest: str) -> bool:
        """Whether ``conn`` may receive traffic for ``dest``: its range matches, and no
        other account owns the number."""
        if not conn.matcher.matches(dest):
            return False
        owners = self.owners(dest)
        return not owners or conn.account in owners

    def _route(self, row: StoredRow) -> SmscConnection | None:
        if row.to_system_id:
            cands = [c for c in self._by_system_id.get(row.to_system_id, ()) if not c.closed]
        else:
            cands = [c for c in self._exact.get(row.dest, ()) if not c.closed]
            if not cands:
                cands = [c for c in self._regex_receivers if not c.closed and c.matcher.matches(row.dest)]
            if cands and self._restricted:
                owners = self.owners(row.dest)
                if owners:
                    cands = [c for c in cands if c.account in owners]
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0]
        return self._choose(cands)

    def _choose(self, cands: list[SmscConnection]) -> SmscConnection:
        """One of several binds serving a destination, in bind order: by the account's
        ``mo_distribution``, round robin (as operators spread MO traffic over an account's
        binds) or the first; a bind whose window is full is passed over, and when all are
        full the least loaded takes it."""
        acc = cands[0].account
        n = len(cands)
        if acc is not None and acc.mo_distribution == "first":
            start = 0
        else:
            key = acc.system_id if acc is not None else ""
            start = self._next_bind.get(key, 0) % n
            self._next_bind[key] = (start + 1) % n
        for i in range(n):
            conn = cands[(start + i) % n]
            if conn.load < conn.window:
                return conn
        return min(cands, key=lambda c: c.load)

    def _dispatch(self, msg: Message) -> None:
        """Send a message on its way, through the impairments."""
        imp = self.impairments
        self._held += 1
        if not msg.copy and not msg.row.to_system_id:
            if imp.loss and self._rng.random() * 100 < imp.loss:
                self._held -= 1
                self.stats.lost += 1
                self._forget(msg)
                log.info("smsc: message %s to %s lost (impairment)", msg.row.message_id, msg.row.dest)
                return
            if imp.duplicate and self._rng.random() * 100 < imp.duplicate:
                self.stats.duplicated += 1
                self._dispatch(Message(msg.row, copy=True))
        delay = 0.0
        if imp.delays:
            delay = imp.latency + (self._rng.random() * imp.jitter if imp.jitter else 0.0)
            if imp.reorder and self._rng.random() * 100 < imp.reorder:
                delay += imp.reorder_delay
        if delay > 0:
            heapq.heappush(self._delayed, (self.monotonic() + delay, next(self._tiebreak), msg))
            self.wake()
        else:
            self._deliver(msg)

    def _deliver(self, msg: Message) -> None:
        conn = self._route(msg.row)
        if conn is None:
            self._held -= 1
            if msg.copy:
                return
            msg.attempts += 1
            self._wait(msg, self._backoff(msg))
            return
        conn.outbound.append(msg)
        self.backlog += 1
        conn.pump()

    def _backoff(self, msg: Message) -> float:
        return float(min(self.config.retry_max, self.config.retry_min * (2 ** max(0, msg.attempts - 1))))

    def _wait(self, msg: Message, delay: float) -> None:
        # wake up at expiry at the latest, so the failure receipt is not late by a back-off
        delay = max(0.0, min(delay, msg.row.expires - self._clock()))
        msg.next_try = self.monotonic() + delay
        self._waiting[msg.row.message_id] = msg
        heapq.heappush(self._due, (msg.next_try, next(self._tiebreak), msg))

    def _acked(self, conn: SmscConnection, msg: Message, status: int) -> None:
        self._held -= 1
        row = msg.row
        if msg.copy:
            return
        if status in _PERMANENT_DELIVERY_ERRORS and not row.to_system_id:
            log.info("smsc %s: deliver_sm id %s to %s refused: %s", conn.system_id, row.message_id, row.dest, P.status_name(status))
            self._finish(msg, P.STATE_UNDELIVERABLE, status)
            if row.dlr in (1, 2):
                self._receipt(row, "UNDELIV", status)
            return
        if status != P.ESME_ROK:
            msg.attempts += 1
            log.info("smsc %s: deliver_sm id %s to %s answered %s; retry", conn.system_id, row.message_id, row.dest or row.to_system_id, P.status_name(status))
            self._wait(msg, self._backoff(msg))
            return
        self._finish(msg, P.STATE_DELIVERED)
        if row.to_system_id:
            self.stats.receipts += 1
            return
        self.stats.delivered += 1
        if msg.attempts:
            self.stats.redelivered += 1
        if row.dlr == 1:  # 2 asks for failure receipts only
            self._receipt(row, "DELIVRD")

    def _finish(self, msg: Message, state: int, error: int = 0) -> None:
        """The message reached a final state: drop it from the store, remember the state
        for query_sm (a bounded record)."""
        row = msg.row
        self._forget(msg)
        if not row.to_system_id:
            self._final[row.message_id] = (state, self._clock(), error & 0xFF, row.origin)
            if len(self._final) > _OWNER_CACHE:
                self._final.popitem(last=False)

    def _hold(self, row: StoredRow) -> None:
        """Count a held message (or a receipt for its submitter) against its submitter's quota:
        receipts a submitter never binds to take would otherwise fill the SMSC."""
        if not row.to_system_id:
            self._live[row.message_id] = row.origin
        self._by_origin.setdefault(row.origin, set()).add(row.message_id)
        self._origin_bytes[row.origin] += row.size

    def _forget(self, msg: Message) -> None:
        row = msg.row
        self._live.pop(row.message_id, None)
        mine = self._by_origin.get(row.origin)
        if mine is not None and row.message_id in mine:
            mine.discard(row.message_id)
            if not mine:
                del self._by_origin[row.origin]
            self._origin_bytes[row.origin] -= row.size
            if self._origin_bytes[row.origin] <= 0:
                del self._origin_bytes[row.origin]
        self._bytes -= msg.row.size
        self.store.remove(msg.row.message_id)

    @staticmethod
    def _decode_row(row: StoredRow) -> P.Pdu:
        return P.decode(P.HEADER.pack(16 + len(row.body), row.command_id, 0, 0) + row.body)

    def _source_of(self, row: StoredRow) -> str:
        pdu = self._decode_row(row)
        return pdu.source_addr if isinstance(pdu, (P.ShortMessage, P.DataSm)) else ""

    def _receipt(self, row: StoredRow, stat: str, error: int = 0) -> None:
        """Queue a delivery receipt for ``row`` to its submitter."""
        orig = self._decode_row(row)
        assert isinstance(orig, (P.ShortMessage, P.DataSm))
        now = self._clock()
        sm = P.ShortMessage(
            P.DELIVER_SM, 0, 0, "",
            orig.dest_addr_ton, orig.dest_addr_npi, orig.destination_addr,
            orig.source_addr_ton, orig.source_addr_npi, orig.source_addr,
            P.ESM_DELIVERY_RECEIPT, 0, 0, "", "", 0, 0, 0, 0,
            receipt_text(row.message_id, stat, submitted=row.submitted, done=now, error=error),
            receipt_tlvs(row.message_id, stat),
        )
        rid = f"{row.message_id}r"
        rrow = StoredRow(rid, sm.body(), "", row.origin, row.origin, 0, now, now + self.config.validity)
        self.store.add(rrow)
        self._bytes += rrow.size
        self._hold(rrow)
        self._dispatch(Message(rrow))

    # -- retries, expiry, timeouts, forced disconnects ----------------------------------------

    def _timeouts(self, mono: float) -> None:
        """Close connections that did not bind in time, unbind idle ones."""
        cfg = self.config
        for conn in list(self._conns):
            if conn.closed:
                continue
            if not conn.session.bound:
                if cfg.bind_timeout and mono - conn.opened > cfg.bind_timeout:
                    self.stats.timeouts += 1
                    log.info("smsc %s: no bind within %.0f s; closing", conn.peer, cfg.bind_timeout)
                    conn.abort()
            elif cfg.idle_timeout and mono - conn.last_rx > cfg.idle_timeout:
                self.stats.timeouts += 1
                log.info("smsc %s %s: idle for %.0f s; unbinding", conn.peer, conn.system_id, cfg.idle_timeout)
                conn.write(P.Bare(P.UNBIND))
                conn.close()

    def tick(self) -> None:
        """Do what is due: held-back deliveries, retries, expiry, timeouts, disconnects."""
        mono = self.monotonic()
        now = self._clock()
        imp = self.impairments
        if imp.disconnect_every and mono - self._last_disconnect >= imp.disconnect_every:
            self._last_disconnect = mono
            self.disconnect()
        if mono - self._last_timeouts >= min(1.0, self.config.bind_timeout or 1.0):
            self._last_timeouts = mono
            self._timeouts(mono)
        # deliver_sm without a resp in time: the receiver is stuck; retry elsewhere/later
        timeout = self.config.deliver_timeout
        for conn in list(self._conns):
            stale = [s for s, (_, t) in conn.inflight.items() if mono - t > timeout]
            for seq in stale:
                msg, _ = conn.inflight.pop(seq)
                self._held -= 1
                if not msg.copy:
                    msg.attempts += 1
                    log.info("smsc %s: no deliver_sm_resp for id %s in %.0f s", conn.system_id, msg.row.message_id, timeout)
                    self._wait(msg, self._backoff(msg))
            if stale:
                conn.pump()
        while self._delayed and self._delayed[0][0] <= mono:
            self._deliver(heapq.heappop(self._delayed)[2])
        due = []
        heap = self._due
        while heap and heap[0][0] <= mono:
            t, _, msg = heapq.heappop(heap)
            if self._waiting.get(msg.row.message_id) is msg and msg.next_try == t:
                del self._waiting[msg.row.message_id]
                due.append(msg)
        for msg in due:
            row = msg.row
            if now >= row.expires:
                self.stats.expired += 1
                self._finish(msg, P.STATE_EXPIRED)
                log.info("smsc: message %s to %s expired after %d attempts", row.message_id, row.dest or row.to_system_id, msg.attempts)
                if row.dlr in (1, 2) and not row.to_system_id:
                    self._receipt(row, "EXPIRED")
                continue
            self._held += 1
            self._deliver(msg)
        self.refresh_stats()
